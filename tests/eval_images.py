"""Images for the evaluation tests: hand-built Mondrians, corruptions and "real photograph"-like smooth fields.

All uint8 ``[N, S, S, 3]`` and seeded. No data set is downloaded: smooth random fields (Gaussian-filtered white
noise plus a colour gradient and fine texture) stand in for natural images.
"""

import numpy as np
from scipy.ndimage import gaussian_filter, uniform_filter

from memgen.data.synthetic import mondrian, mondrian_layout


def build_mondrian(rows, cols, colours, s, t, rng, *, h_thick=None, v_thick=None):
    """Mondrians with given band positions ``[n]``, quadrant colours ``[n, 4, 3]`` and band thicknesses
    (default t); the cross values are iid uniform from ``rng``."""
    n = len(rows)
    ht, vt = h_thick or t, v_thick or t
    y = np.arange(s)[None, :, None]
    x = np.arange(s)[None, None, :]
    r, c = np.asarray(rows)[:, None, None], np.asarray(cols)[:, None, None]
    quadrant = 2 * (y >= r + ht) + (x >= c + vt)
    img = np.take_along_axis(np.asarray(colours, np.uint8), quadrant.reshape(n, -1, 1), 1).reshape(n, s, s, 3)
    cross = ((y >= r) & (y < r + ht)) | ((x >= c) & (x < c + vt))
    noise = rng.integers(0, 256, (n, s, s, 3), dtype=np.uint8)
    return np.where(cross[..., None], noise, img)


def fresh_layout(n, seed, s):
    """Band positions and colours of a fresh generator draw (independent of ``mondrian(n, seed, s)``' noise)."""
    rows, cols, t = mondrian_layout(n, seed, s)
    colours = np.random.default_rng(seed + 7919).integers(0, 256, (n, 4, 3), dtype=np.uint8)
    return rows, cols, t, colours


def box_blur(images, size=3):
    """Box blur over the two spatial axes (edges reflected), rounded back to uint8."""
    out = uniform_filter(images.astype(np.float64), size=(0, size, size, 0), mode="reflect")
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def blend(a, b):
    """Pixel average of two image sets."""
    return ((a.astype(np.uint16) + b.astype(np.uint16)) // 2).astype(np.uint8)


def add_gaussian_noise(images, std, seed):
    noise = np.random.default_rng(seed).normal(0.0, std, images.shape)
    return np.clip(np.rint(images + noise), 0, 255).astype(np.uint8)


def smooth_fields(n, seed, s, corr=None, texture=6.0):
    """Photograph-like images: Gaussian-filtered white noise (correlation length ``corr``, default s/6) scaled
    to std ~45 levels, a random colour gradient and a fine texture of std ``texture`` levels."""
    rng = np.random.default_rng(seed)
    corr = s / 6 if corr is None else corr
    field = gaussian_filter(rng.normal(size=(n, s, s, 3)), sigma=(0, corr, corr, 0), mode="wrap")
    field /= field.std(axis=(1, 2, 3), keepdims=True)
    yy, xx = np.meshgrid(np.linspace(-1, 1, s), np.linspace(-1, 1, s), indexing="ij")
    grad = rng.normal(0, 30, (n, 1, 1, 3, 2))
    img = 128 + rng.normal(0, 30, (n, 1, 1, 3)) + 45 * field
    img += grad[..., 0] * yy[None, :, :, None] + grad[..., 1] * xx[None, :, :, None]
    img += rng.normal(0, texture, img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def mondrians(n, seed, s):
    """Fresh generator images (re-exported so the tests read in one vocabulary)."""
    return mondrian(n, seed, s)
