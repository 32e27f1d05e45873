"""Tests of memgen.evaluation.partial: planted recombinations are found, novel images are not flagged.

Rates are printed (``pytest -s``) and copied into docs/evaluation.md.
"""

import numpy as np
import pytest

from eval_images import add_gaussian_noise, build_mondrian, fresh_layout, smooth_fields
from memgen.data.synthetic import mondrian, mondrian_layout
from memgen.errors import MemgenError
from memgen.evaluation.partial import cross_nearest_two, mondrian_partial_copies, tile_partial_copies
from memgen.evaluation.mondrian import fit_mondrian

THRESHOLD = 1 / 3  # Yoon et al.'s ratio criterion (the schema's score.threshold)

M = 500  # samples per case


def rate(name, flags, n_train, size):
    print(f"partial rate {name:34s} S={size} N={n_train}: {flags.mean():.4f} (n={flags.size})")
    return flags.mean()


def cross_masks(rows, cols, t, s):
    y, x = np.arange(s)[None, :, None], np.arange(s)[None, None, :]
    r, c = rows[:, None, None], cols[:, None, None]
    return ((y >= r) & (y < r + t)) | ((x >= c) & (x < c + t))


def planted(train, size, seed):
    """(cross of A + fresh colours, colours of A + fresh cross, cross of A + colours of B, A, B)."""
    n = len(train)
    rows, cols, t = mondrian_layout(n, 0, size)
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, n, M), rng.integers(0, n, M)
    fr, fc, _, fcol = fresh_layout(M, seed + 1, size)
    train_colours = np.rint(fit_mondrian(train).colours).astype(np.uint8)
    mask = cross_masks(rows[a], cols[a], t, size)[..., None]
    cross_a = np.where(mask, train[a], build_mondrian(rows[a], cols[a], fcol, size, t, rng))
    colours_a = build_mondrian(fr, fc, train_colours[a], size, t, rng)
    mixed = np.where(mask, train[a], build_mondrian(rows[a], cols[a], train_colours[b], size, t, rng))
    return cross_a, colours_a, mixed, a, b


@pytest.mark.parametrize("size", [16, 32])
@pytest.mark.parametrize("n_train", [16, 64, 256])
def test_mondrian_components(n_train, size):
    train = mondrian(n_train, 0, size)
    novel = mondrian_partial_copies(mondrian(M, 1, size), train, threshold=THRESHOLD)
    assert rate("novel flagged (false positive)", novel.is_partial.to_numpy(), n_train, size) == 0.0
    cross_a, colours_a, mixed, a, b = planted(train, size, seed=n_train)
    for name, images in (("cross of A + fresh colours", cross_a), ("same + N(0, 6^2)", add_gaussian_noise(cross_a, 6, 0))):
        df = mondrian_partial_copies(images, train, threshold=THRESHOLD)
        assert rate(name, df.is_cross_copy.to_numpy(), n_train, size) == 1.0
        np.testing.assert_array_equal(df.cross_nn_index, a)
    for name, images in (("colours of A + fresh cross", colours_a), ("same + N(0, 6^2)", add_gaussian_noise(colours_a, 6, 0))):
        df = mondrian_partial_copies(images, train, threshold=THRESHOLD)
        assert rate(name, df.is_colour_copy.to_numpy(), n_train, size) == 1.0
        assert not df.is_cross_copy.any()
        np.testing.assert_array_equal(df.colour_nn_index, a)
    df = mondrian_partial_copies(mixed, train, train_layout=mondrian_layout(n_train, 0, size)[:2], threshold=THRESHOLD)
    assert df.is_cross_copy.all() and df.is_colour_copy.all()
    np.testing.assert_array_equal(df.cross_nn_index, a)
    np.testing.assert_array_equal(df.colour_nn_index, b)


def test_whole_replicates_are_flagged_on_both_components():
    train = mondrian(32, 0, 16)
    df = mondrian_partial_copies(train[[3, 7]], train, threshold=THRESHOLD)
    assert df.is_partial.all() and df.is_cross_copy.all() and df.is_colour_copy.all()
    assert list(df.cross_nn_index) == [3, 7] and list(df.cross_ratio) == [0.0, 0.0]


def test_cross_search_matches_brute_force():
    """Masked distances against a brute-force reference, with groups of one and several training images."""
    s, t = 16, 2
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (9, s, s, 3), dtype=np.uint8)
    rows = np.array([4, 4, 4, 5, 6, 6, 10, 4, 7])
    cols = np.array([4, 4, 9, 5, 6, 6, 10, 4, 8])
    samples = rng.integers(0, 256, (13, s, s, 3), dtype=np.uint8)
    samples[0] = train[5]
    idx, sq = cross_nearest_two(samples, train, rows, cols, t, device="cpu")
    mask = cross_masks(rows, cols, t, s)[None, ..., None]  # [1, N, S, S, 1]
    diff = (samples[:, None].astype(np.int64) - train[None].astype(np.int64)) ** 2 * mask
    ref = diff.sum((2, 3, 4)) / 255.0**2
    order = np.argsort(ref, axis=1, kind="stable")[:, :2]
    np.testing.assert_array_equal(idx, order)
    np.testing.assert_allclose(sq, np.take_along_axis(ref, order, 1), rtol=1e-12)
    assert idx[0, 0] == 5 and sq[0, 0] == 0.0


def paste_quadrant(images, train, seed):
    """Each image gets one tile-aligned quadrant (2 x 2 tiles of the 4 x 4 grid) of a random training image."""
    rng = np.random.default_rng(seed)
    out, h = images.copy(), images.shape[1] // 2
    src, quad = rng.integers(0, len(train), len(images)), rng.integers(0, 4, len(images))
    for i, (j, q) in enumerate(zip(src, quad)):
        a, b = divmod(int(q), 2)
        out[i, a * h : (a + 1) * h, b * h : (b + 1) * h] = train[j, a * h : (a + 1) * h, b * h : (b + 1) * h]
    return out, src


@pytest.mark.parametrize("size", [16, 32])
@pytest.mark.parametrize("n_train", [16, 64, 256])
def test_tiles(n_train, size):
    train = smooth_fields(n_train, 0, size)
    unrelated = tile_partial_copies(smooth_fields(M, 1, size), train, threshold=THRESHOLD)
    assert rate("unrelated smooth fields flagged", unrelated.is_partial.to_numpy(), n_train, size) == 0.0
    grads = tile_partial_copies(smooth_fields(M, 2, size, corr=size, texture=4.0),
                                smooth_fields(n_train, 3, size, corr=size, texture=4.0), threshold=THRESHOLD)
    assert rate("unrelated gradients flagged", grads.is_partial.to_numpy(), n_train, size) <= 0.03
    pasted, src = paste_quadrant(smooth_fields(M, 7, size), train, seed=n_train)
    for name, images in (("pasted quadrant", pasted), ("pasted + N(0, 4^2)", add_gaussian_noise(pasted, 4, 1))):
        df = tile_partial_copies(images, train, threshold=THRESHOLD)
        assert rate(name, df.is_partial.to_numpy(), n_train, size) == 1.0
        np.testing.assert_array_equal(df.tile_nn_index, src)
        assert (df.n_tiles_copied >= 4).mean() >= 0.99



def test_flat_tiles_are_not_tested():
    """A quadrant of one flat colour, present in a single training image, is no evidence of copying."""
    train = smooth_fields(16, 0, 16)
    train[5, :8, :8] = 77
    samples = smooth_fields(20, 1, 16)
    samples[:, :8, :8] = 77
    assert not tile_partial_copies(samples, train, threshold=THRESHOLD).is_partial.any()
    assert tile_partial_copies(samples, train, min_tile_std=0.0, threshold=THRESHOLD).is_partial.all()


def test_bad_input():
    imgs = smooth_fields(4, 0, 16)
    with pytest.raises(MemgenError, match="divisible"):
        tile_partial_copies(imgs, imgs, grid=3, threshold=THRESHOLD)
    with pytest.raises(MemgenError, match="grid"):
        tile_partial_copies(imgs, imgs, grid=0, threshold=THRESHOLD)
    with pytest.raises(MemgenError, match="train needs >= 2"):
        tile_partial_copies(imgs, imgs[:1], threshold=THRESHOLD)
    with pytest.raises(MemgenError, match="uint8"):
        mondrian_partial_copies(imgs.astype(float), imgs, threshold=THRESHOLD)
    with pytest.raises(MemgenError, match="shape"):
        cross_nearest_two(imgs, imgs, [4, 4], [4, 4], 2)
