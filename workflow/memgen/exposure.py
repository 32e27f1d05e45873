"""How much training a model saw, and the path-safe name of a data set: small helpers that the studies (cells),
the analysis (tables) and the evaluation (loss gap per snapshot) share. Here, outside `memgen.studies`, so that
reading them does not import the study registry (the analysis and evaluation packages never import the studies
package: tests/test_house.py)."""

from __future__ import annotations

import hashlib


def epochs_per_image(steps: int, batch_size: int, n_train: int) -> float:
    """Passes over each training image after ``steps`` steps (uniform sampling): steps * batch / images; NaN when
    the batch is not known (a model trained elsewhere, batch 0)."""
    return steps * batch_size / n_train if batch_size else float("nan")


def presentations(epochs: float, n_images: int) -> float:
    """Draws of ``n_images`` training images in a run with ``epochs`` passes per image."""
    return epochs * n_images


def dataset_token(dataset: str) -> str:
    """A path-safe name of a base dataset spec: ``cifar:automobile`` -> ``cifar-automobile``; an image folder
    becomes ``folder-<hash of its path>``."""
    if dataset.startswith("folder:"):
        return "folder-" + hashlib.sha256(dataset[7:].encode()).hexdigest()[:10]
    return dataset.replace(":", "-")
