"""Datasets: procedural generators (pure functions of ``(n, seed, image_size)`` to uint8 ``[N, S, S, 3]``) and
the materialization of training sets (``.npz`` + JSON card)."""

from memgen.data.materialize import build_training_set, dummy_seed, exact_duplicates, write_dataset
from memgen.data.synthetic import (
    GENERATORS,
    gaussian_mixture,
    get_generator,
    gm_components,
    gm_means,
    mondrian,
    mondrian_layout,
    random_ink,
)

__all__ = [
    "GENERATORS",
    "build_training_set",
    "dummy_seed",
    "exact_duplicates",
    "gaussian_mixture",
    "get_generator",
    "gm_components",
    "gm_means",
    "mondrian",
    "mondrian_layout",
    "random_ink",
    "write_dataset",
]
