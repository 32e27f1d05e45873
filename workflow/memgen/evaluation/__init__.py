"""Measures beyond the replicate fraction: validity of procedural samples, partial copies, the four-way outcome,
disjoint-split agreement (Kadkhodaie et al. 2024) and the data-copying test (Meehan et al. 2020)."""

from __future__ import annotations

import numpy as np

from memgen.errors import MemgenError


def check_images(images, name: str = "images") -> np.ndarray:
    """``images`` if it is a uint8 ``[N, H, W, 3]`` array, else a one-line MemgenError naming ``name``."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        desc = f"{images.dtype} {images.shape}" if isinstance(images, np.ndarray) else type(images).__name__
        raise MemgenError(f"{name} must be uint8 [N,H,W,3], got {desc}")
    return images
