"""Tests of memgen.evaluation.validity: fresh generator images pass, corruptions and foreign images fail.

Rates are printed (``pytest -s``) and copied into docs/evaluation.md; the asserts hold them at >= 99%.
"""

import numpy as np
import pytest

from eval_images import (add_gaussian_noise, blend, box_blur, build_mondrian, fresh_layout, smooth_fields)
from memgen.data.synthetic import gaussian_mixture, gm_means, mondrian, mondrian_layout, random_ink
from memgen.errors import MemgenError
from memgen.evaluation.mondrian import fit_mondrian, mondrian_geometry, mondrian_valid, quadrant_colours
from memgen.evaluation.validity import clipped_sq_error_moments, gm_valid, has_rule, random_ink_valid, validity

N = 600  # images per case and size: a 99% rate with 600 draws has a Wilson lower bound of ~98%


def rate(name, valid, size):
    print(f"valid rate {name:30s} S={size}: {valid.mean():.4f} (n={valid.size})")
    return valid.mean()


# --------------------------------------------------------------------------------------------------- Mondrian
@pytest.mark.parametrize("size", [16, 32])
def test_fresh_mondrians_pass_and_cross_is_located(size):
    for seed in (0, 1, 2):
        images = mondrian(N, seed, size)
        rows, cols, t = mondrian_layout(N, seed, size)
        fit = fit_mondrian(images)
        assert rate(f"fresh seed {seed}", fit.valid, size) >= 0.99
        np.testing.assert_array_equal(fit.rows, rows)
        np.testing.assert_array_equal(fit.cols, cols)
        assert fit.thickness == t
        assert np.all(fit.quadrant_rms == 0)
        noisy = add_gaussian_noise(images, 6, seed)  # a model's imperfect flatness
        assert rate(f"fresh + N(0, 6^2) seed {seed}", mondrian_valid(noisy), size) >= 0.99
        np.testing.assert_array_equal(fit_mondrian(noisy).rows, rows)


def _moved_half(size, seed):
    """The horizontal band's right arm moved 2t rows away from the left arm's rows."""
    rows, cols, t, colours = fresh_layout(N, seed, size)
    rng = np.random.default_rng(seed)
    left = build_mondrian(rows, cols, colours, size, t, rng)
    moved = np.where(rows + 3 * t <= size, rows + 2 * t, rows - 2 * t)
    right = build_mondrian(moved, cols, colours, size, t, rng)
    x = np.arange(size)[None, None, :, None]
    return np.where(x >= cols[:, None, None, None] + t, right, left)


def _missing_arm(size, seed):
    """The horizontal band's right arm painted in the upper-right quadrant's colour."""
    rows, cols, t, colours = fresh_layout(N, seed, size)
    images = build_mondrian(rows, cols, colours, size, t, np.random.default_rng(seed))
    y, x = np.arange(size)[None, :, None], np.arange(size)[None, None, :]
    arm = (y >= rows[:, None, None]) & (y < rows[:, None, None] + t) & (x >= cols[:, None, None] + t)
    return np.where(arm[..., None], colours[:, 1, None, None, :], images)


def _thickness(size, seed, delta):
    rows, cols, t, colours = fresh_layout(N, seed, size)
    _, _, hi = mondrian_geometry(size)
    return build_mondrian(np.minimum(rows, hi - max(delta, 0)), cols, colours, size, t,
                          np.random.default_rng(seed), h_thick=t + delta)


def _out_of_range(size, seed):
    rows, cols, t, colours = fresh_layout(N, seed, size)
    t, lo, hi = mondrian_geometry(size)
    rng = np.random.default_rng(seed)
    outside = np.where(rng.random(N) < 0.5, rng.integers(0, lo, N), rng.integers(hi + 1, size - t + 1, N))
    return build_mondrian(outside, cols, colours, size, t, rng)


def _three_quadrants(size, seed):
    """A T: the vertical band stops at the horizontal band; one colour fills the whole lower half."""
    rows, cols, t, colours = fresh_layout(N, seed, size)
    colours = colours.copy()
    colours[:, 3] = colours[:, 2]
    images = build_mondrian(rows, cols, colours, size, t, np.random.default_rng(seed))
    y = np.arange(size)[None, :, None, None]
    return np.where(y >= rows[:, None, None, None] + t, colours[:, 2, None, None, :], images)


def _diagonal(size, seed, contrast=True):
    """Two colours split along the main diagonal, then the cross drawn on top. With ``contrast`` the second colour
    is the complement of the first; with random colours, splits between colours closer than the flatness
    tolerance are invisible to the rule by design (measured: 3% pass, docs/evaluation.md)."""
    rows, cols, t, colours = fresh_layout(N, seed, size)
    images = build_mondrian(rows, cols, colours, size, t, np.random.default_rng(seed))
    y, x = np.arange(size)[:, None], np.arange(size)[None, :]
    second = 255 - colours[:, 0] if contrast else colours[:, 3]
    flat = np.where((y > x)[None, ..., None], colours[:, 0, None, None, :], second[:, None, None, :])
    cross = np.zeros((N, size, size), bool)
    for i in range(N):
        cross[i, rows[i] : rows[i] + t] = True
        cross[i, :, cols[i] : cols[i] + t] = True
    return np.where(cross[..., None], images, flat)


def _two_crosses(size, seed):
    """A second horizontal band along the bottom edge (inside the lower quadrants)."""
    images = mondrian(N, seed, size).copy()
    t = mondrian_geometry(size)[0]
    images[:, size - t :] = np.random.default_rng(seed).integers(0, 256, (N, t, size, 3), dtype=np.uint8)
    return images


CORRUPTIONS = {
    "blurred (3x3 box)": lambda s, seed: box_blur(mondrian(N, seed, s)),
    "blended (mean of two)": lambda s, seed: blend(mondrian(N, seed, s), mondrian(N, seed + 50, s)),
    "blended, same cross": lambda s, seed: blend(mondrian(N, seed, s), build_mondrian(
        *mondrian_layout(N, seed, s)[:2], fresh_layout(N, seed + 9, s)[3], s, mondrian_geometry(s)[0],
        np.random.default_rng(seed))),
    "band moved in one half": _moved_half,
    "arm missing (flat)": _missing_arm,
    "band thickness t+1": lambda s, seed: _thickness(s, seed, 1),
    "band thickness t-1": lambda s, seed: _thickness(s, seed, -1),
    "band outside allowed range": _out_of_range,
    "pure noise": lambda s, seed: np.random.default_rng(seed).integers(0, 256, (N, s, s, 3), dtype=np.uint8),
    "3 quadrants (T)": _three_quadrants,
    "diagonal split": _diagonal,
    "two crosses": _two_crosses,
    "smooth random fields": lambda s, seed: smooth_fields(N, seed, s),
    "gradients + texture": lambda s, seed: smooth_fields(N, seed, s, corr=s, texture=4.0),
    "random ink": lambda s, seed: random_ink(N, seed, s),
    "gaussian mixture": lambda s, seed: gaussian_mixture(N, seed, s),
}


@pytest.mark.parametrize("size", [16, 32])
@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_corrupted_and_foreign_images_fail(name, size):
    images = CORRUPTIONS[name](size, 3)
    assert images.shape == (N, size, size, 3) and images.dtype == np.uint8
    assert rate(name, mondrian_valid(images), size) <= 0.01


def test_diagonal_split_between_random_colours_mostly_fails():
    for size in (16, 32):
        assert rate("diagonal split, random colours", mondrian_valid(_diagonal(size, 3, contrast=False)), size) <= 0.05


def test_thin_band_fails_even_with_model_noise():
    """Band t-1 with N(0, 8^2) noise: the flat line beside the band reads as noise level, below the contrast."""
    images = add_gaussian_noise(_thickness(16, 4, -1), 8, 0)
    assert rate("band t-1 + N(0, 8^2)", mondrian_valid(images), 16) <= 0.01


def test_quadrant_colours_of_a_given_layout():
    rows, cols, t, colours = fresh_layout(50, 8, 16)
    images = build_mondrian(rows, cols, colours, 16, t, np.random.default_rng(0))
    np.testing.assert_array_equal(quadrant_colours(images, rows, cols), colours.astype(float))
    np.testing.assert_array_equal(fit_mondrian(images).colours, colours.astype(float))
    with pytest.raises(MemgenError, match="rows/cols"):
        quadrant_colours(images, rows + 20, cols)


def test_mondrian_fit_bad_input():
    with pytest.raises(MemgenError, match="square"):
        fit_mondrian(np.zeros((2, 16, 20, 3), np.uint8))
    with pytest.raises(MemgenError, match="uint8"):
        fit_mondrian(np.zeros((2, 16, 16, 3), np.float32))
    assert fit_mondrian(np.zeros((0, 16, 16, 3), np.uint8)).valid.shape == (0,)


# ------------------------------------------------------------------------------------------------- Random Ink
@pytest.mark.parametrize("size", [16, 32])
def test_random_ink(size):
    for seed in (0, 1, 2):
        ink = random_ink(N, seed, size)
        assert rate(f"RI fresh seed {seed}", random_ink_valid(ink), size) == 1.0
        assert rate("RI + N(0, 10^2)", random_ink_valid(add_gaussian_noise(ink, 10, seed)), size) >= 0.99
    for name, images in {
        "RI blurred": box_blur(ink), "RI blended": blend(ink, random_ink(N, 9, size)),
        "GM as RI": gaussian_mixture(N, 0, size), "Mondrian as RI": mondrian(N, 0, size),
        "all black": np.zeros((4, size, size, 3), np.uint8), "all white": np.full((4, size, size, 3), 255, np.uint8),
    }.items():
        assert rate(name, random_ink_valid(images), size) <= 0.01


# ------------------------------------------------------------------------------------------- Gaussian mixture
def test_clipped_moments_match_monte_carlo():
    mu = np.array([0.0, 0.05, 0.3, 0.5, 0.9, 1.0])
    e, v = clipped_sq_error_moments(mu)
    z = np.random.default_rng(0).standard_normal((mu.size, 400_000))
    y = np.rint(np.clip(mu[:, None] + 0.5 * z, 0, 1) * 255) / 255
    d2 = (y - mu[:, None]) ** 2
    np.testing.assert_allclose(e, d2.mean(1), rtol=5e-3)
    np.testing.assert_allclose(v, d2.var(1), rtol=1e-2)


@pytest.mark.parametrize("size", [16, 32])
def test_gaussian_mixture(size):
    for seed in (0, 1, 2):
        images, means = gaussian_mixture(N * 2, seed, size), gm_means(seed, size)
        assert rate(f"GM fresh seed {seed}", gm_valid(images, means), size) >= 0.99
    fails = {
        "GM of other means": gaussian_mixture(N, seed + 1, size),
        "GM sigma 0.7": gaussian_mixture(N, seed, size, sigma=0.7),
        "GM sigma 0.35": gaussian_mixture(N, seed, size, sigma=0.35),
        "GM means themselves": np.rint(means * 255).astype(np.uint8),
        "GM blurred": box_blur(images[:N]), "GM blended": blend(images[:N], images[N:]),
        "uniform noise": np.random.default_rng(seed).integers(0, 256, (N, size, size, 3), dtype=np.uint8),
        "smooth fields vs GM": smooth_fields(N, seed, size), "Mondrian vs GM": mondrian(N, seed, size),
    }
    for name, images in fails.items():
        assert rate(name, gm_valid(images, means), size) <= 0.01


# ------------------------------------------------------------------------------------------------- dispatcher
def test_dispatcher():
    mo, ink, gm = mondrian(20, 0, 16), random_ink(20, 0, 16), gaussian_mixture(20, 5, 16)
    np.testing.assert_array_equal(validity("mondrian", mo), mondrian_valid(mo))
    assert validity("random_ink", ink).all() and not validity("random_ink", mo).any()
    assert validity("gm", gm, seed=5).all() and validity("gm", gm, means=gm_means(5, 16)).all()
    assert not validity("gm", gm, seed=6).any()
    for kind in ("shapes", "cifar:cat", "folder:x", "hybrid", "heldout"):
        assert validity(kind, mo) is None and not has_rule(kind)
    with pytest.raises(MemgenError, match="means"):
        validity("gm", gm)
    with pytest.raises(MemgenError, match="uint8"):
        validity("mondrian", mo.astype(np.float32))
