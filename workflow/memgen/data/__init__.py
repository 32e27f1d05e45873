"""Datasets: procedural generators (pure functions of ``(n, seed, image_size)`` to uint8 ``[N, S, S, 3]``),
real images (CIFAR-10 from a local copy, folders of PNG/JPEG), GM + car hybrids, and the materialization of
training and held-out sets (``.npz`` + JSON card)."""

from memgen.data.cifar import CIFAR10_CLASSES, cifar_class_index, cifar_class_pools, disjoint_pools, load_cifar10
from memgen.data.folder import load_image_folder
from memgen.data.hybrid import DEFAULT_CUTOFF, fourier_hybrid, hybrid_dummies, low_band_fraction, low_pass_mask
from memgen.data.materialize import (
    DUMMY_KINDS,
    build_heldout_set,
    build_training_set,
    dummy_seed,
    exact_duplicates,
    heldout_seed,
    synthetic_kinds,
    write_dataset,
)
from memgen.data.shapes import SHAPE_TYPES, shape_types  # the generator: memgen.data.shapes.shapes
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
    "CIFAR10_CLASSES",
    "DEFAULT_CUTOFF",
    "DUMMY_KINDS",
    "GENERATORS",
    "SHAPE_TYPES",
    "build_heldout_set",
    "build_training_set",
    "cifar_class_index",
    "cifar_class_pools",
    "disjoint_pools",
    "dummy_seed",
    "exact_duplicates",
    "fourier_hybrid",
    "gaussian_mixture",
    "get_generator",
    "gm_components",
    "gm_means",
    "heldout_seed",
    "hybrid_dummies",
    "load_cifar10",
    "load_image_folder",
    "low_band_fraction",
    "low_pass_mask",
    "mondrian",
    "mondrian_layout",
    "random_ink",
    "shape_types",
    "synthetic_kinds",
    "write_dataset",
]
