"""Procedural image distributions of Yoon et al. 2023, each a pure function ``(n, seed, image_size)`` to
uint8 ``[n, S, S, 3]``.

- ``mondrian`` (MO, Section 3.2): a cross whose pixels are iid uniform RGB, and four quadrants each filled with
  one uniform random colour. The paper gives no geometry; ours: the cross is one horizontal and one vertical band,
  each ``t = max(1, S // 8)`` pixels thick. The top row ``r`` of the horizontal band and the left column ``c``
  of the vertical band are independent uniform integers in ``[q, S - q - t]`` with ``q = S // 4``, so each of
  the four quadrants is at least ``q`` pixels high and wide. Rows ``[0, r)`` are the upper quadrants, rows
  ``[r + t, S)`` the lower ones (columns likewise). All colours are uniform over 0..255 per channel.
- ``gaussian_mixture`` (GM, Appendix B): 100 fixed mean images with iid uniform [0, 1] values; each sample picks
  one mean uniformly, adds iid N(0, 0.5^2) noise to every value, clips to [0, 1], and is quantized to uint8 as
  ``round(255 x)``.
- ``random_ink`` (RI, Section 3.3): every RGB value an independent Bernoulli(1/2) of 0 or 255.

Randomness: every draw comes from ``numpy.random.Generator(PCG64)`` seeded by
``SeedSequence(seed, spawn_key=(kind_tag, part))``, one stream per kind and per part (layout, colours, noise,
...), so kinds with the same seed are independent. Each part is drawn in one C-order block of per-image
draws, so the first k images do not depend on n: ``f(n, s, S)[:k] == f(k, s, S)``.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from memgen.errors import MemgenError
from memgen.runtime import STREAM, check_int, spawn_rng

_GM_CHUNK = 1024  # images per float64 block in gaussian_mixture; the stream does not depend on it


def check_args(n: int, seed: int, image_size: int) -> tuple[int, int, int]:
    return check_int("n", n, 1), check_int("seed", seed, 0), check_int("image_size", image_size, 4)


# ------------------------------------------------------------------------------------------------------ Mondrian
def mondrian_layout(n: int, seed: int, image_size: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The cross positions of ``mondrian(n, seed, image_size)``.

    Returns ``(rows int64 [n], cols int64 [n], t)``: the top row of each horizontal band, the left column of
    each vertical band, and the band thickness ``t = max(1, S // 8)``.
    """
    n, seed, s = check_args(n, seed, image_size)
    t, q = max(1, s // 8), s // 4
    pos = spawn_rng(seed, STREAM.MONDRIAN, 0).integers(q, s - q - t, size=(n, 2), endpoint=True, dtype=np.int64)
    return pos[:, 0], pos[:, 1], t


def mondrian(n: int, seed: int, image_size: int) -> np.ndarray:
    """Mondrian (MO) images, uint8 ``[n, S, S, 3]``: four flat random-colour quadrants split by a cross of iid
    uniform random pixels (geometry in the module docstring and ``mondrian_layout``)."""
    rows, cols, t = mondrian_layout(n, seed, image_size)
    s = image_size
    colours = spawn_rng(seed, STREAM.MONDRIAN, 1).integers(0, 256, size=(n, 4, 3), dtype=np.uint8)
    r = rows[:, None, None]
    c = cols[:, None, None]
    y = np.arange(s)[None, :, None]
    x = np.arange(s)[None, None, :]
    # Quadrant index 0 upper-left, 1 upper-right, 2 lower-left, 3 lower-right; the cross overrides it below.
    quadrant = 2 * (y >= r + t) + (x >= c + t)  # [n, S, S]
    images = np.take_along_axis(colours, quadrant.reshape(n, s * s, 1), axis=1).reshape(n, s, s, 3)
    cross = ((y >= r) & (y < r + t)) | ((x >= c) & (x < c + t))  # [n, S, S]
    per_image = 2 * t * s - t * t  # every image's cross has the same pixel count
    noise = spawn_rng(seed, STREAM.MONDRIAN, 2).integers(0, 256, size=(n * per_image, 3), dtype=np.uint8)
    images[cross] = noise  # boolean indexing runs image by image in C order, so image i gets its own block
    return images


# ------------------------------------------------------------------------------------------- Gaussian mixture
def gm_means(seed: int, image_size: int, num_means: int = 100) -> np.ndarray:
    """The fixed GM mean images of ``seed``: float64 ``[num_means, S, S, 3]``, iid uniform in [0, 1)."""
    seed = check_int("seed", seed, 0)
    s = check_int("image_size", image_size, 4)
    num_means = check_int("num_means", num_means, 1)
    return spawn_rng(seed, STREAM.GM, 0).random((num_means, s, s, 3))


def gm_components(n: int, seed: int, num_means: int = 100) -> np.ndarray:
    """The mixture component (index into ``gm_means``) of each image of ``gaussian_mixture``: int64 ``[n]``."""
    n = check_int("n", n, 1)
    seed = check_int("seed", seed, 0)
    num_means = check_int("num_means", num_means, 1)
    return spawn_rng(seed, STREAM.GM, 1).integers(0, num_means, size=n, dtype=np.int64)


def gaussian_mixture(
    n: int, seed: int, image_size: int, *, num_means: int = 100, sigma: float = 0.5, means_seed: int | None = None
) -> np.ndarray:
    """Gaussian-mixture (GM) dummy images, uint8 ``[n, S, S, 3]`` (Appendix B).

    Image i is ``round(255 * clip(mu_k + sigma * z, 0, 1))`` with ``mu = gm_means(means_seed, S, num_means)``,
    ``k = gm_components(n, seed, num_means)[i]`` and ``z`` iid standard normal per value. ``means_seed`` (default
    ``seed``) fixes the mixture; a different ``seed`` with the same ``means_seed`` draws fresh images of the SAME
    mixture (the pools of a GM base: side B of a split, held-out images).
    """
    n, seed, s = check_args(n, seed, image_size)
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not (math.isfinite(sigma) and sigma >= 0):
        raise MemgenError(f"sigma must be a finite number >= 0, got {sigma!r}")
    means = gm_means(seed if means_seed is None else means_seed, s, num_means)
    components = gm_components(n, seed, num_means)
    noise_rng = spawn_rng(seed, STREAM.GM, 2)
    images = np.empty((n, s, s, 3), dtype=np.uint8)
    for start in range(0, n, _GM_CHUNK):  # sequential blocks of one stream: same values as one big draw
        stop = min(n, start + _GM_CHUNK)
        x = means[components[start:stop]] + sigma * noise_rng.standard_normal((stop - start, s, s, 3))
        images[start:stop] = np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)
    return images


# ---------------------------------------------------------------------------------------------------- Random Ink
def random_ink(n: int, seed: int, image_size: int) -> np.ndarray:
    """Random Ink (RI) images, uint8 ``[n, S, S, 3]``: every value 0 or 255 with probability 1/2 each."""
    n, seed, s = check_args(n, seed, image_size)
    bits = spawn_rng(seed, STREAM.RANDOM_INK, 0).integers(0, 2, size=(n, s, s, 3), dtype=np.uint8)
    return bits * np.uint8(255)


# ------------------------------------------------------------------------------------------------------ registry
ImageGenerator = Callable[[int, int, int], np.ndarray]

GENERATORS: dict[str, ImageGenerator] = {
    "mondrian": mondrian,
    "gm": gaussian_mixture,
    "random_ink": random_ink,
}


def get_generator(name: str) -> ImageGenerator:
    """The generator registered as ``name``; an unknown name raises MemgenError listing the valid ones."""
    try:
        return GENERATORS[name]
    except (KeyError, TypeError):
        raise MemgenError(f"unknown dataset kind {name!r}; valid kinds: {', '.join(sorted(GENERATORS))}") from None
