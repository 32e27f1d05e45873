"""Tests of memgen.score: exact nearest-two search and Yoon et al.'s ratio criterion (d1/d2 < 1/3)."""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from memgen.errors import MemgenError
from memgen.nearest import nearest_two
from memgen.score import ratio_criterion, score_samples

THRESHOLD = 1 / 3  # Yoon et al.'s ratio criterion (the schema's score.threshold)


def brute_force(samples, train):
    """Reference: full int64 distance matrix, stable argsort (ties -> lower index); squared L2 on [0, 1] scale."""
    a = samples.reshape(len(samples), -1).astype(np.int64)
    b = train.reshape(len(train), -1).astype(np.int64)
    d = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    order = np.argsort(d, axis=1, kind="stable")[:, :2]
    return order, np.take_along_axis(d, order, 1).astype(np.float64) / 255.0**2


def structured_images(rng, n, size=16):
    """Smooth images: random colour gradients plus a random rectangle (a stand-in for natural images)."""
    yy, xx = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        c0, cx, cy = rng.uniform(0, 255, (3, 3))
        img = c0 * 0.4 + cx * 0.3 * xx[..., None] + cy * 0.3 * yy[..., None]
        r0, c0_, h, w = rng.integers(0, size // 2, 4)
        img[r0 : r0 + h + 2, c0_ : c0_ + w + 2] = rng.uniform(0, 255, 3)
        out[i] = np.clip(img, 0, 255).astype(np.uint8)
    return out


def add_noise(rng, images, levels=2):
    noise = rng.integers(-levels, levels + 1, images.shape)
    return np.clip(images.astype(np.int64) + noise, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("high", [256, 3, 2])  # 3 and 2: tiny value range, many exact ties
def test_matches_brute_force_across_chunk_boundaries(high):
    rng = np.random.default_rng(high)
    samples = rng.integers(0, high, (53, 4, 4, 3), dtype=np.uint8)
    train = rng.integers(0, high, (41, 4, 4, 3), dtype=np.uint8)  # 41 = 8 chunks of 5 + 1
    ref_idx, ref_sq = brute_force(samples, train)
    for sample_chunk, train_chunk in [(7, 5), (1, 1), (53, 41), (1024, 8192)]:
        idx, sq = nearest_two(samples, train, device="cpu", sample_chunk=sample_chunk, train_chunk=train_chunk)
        assert idx.dtype == np.int64 and sq.dtype == np.float64 and idx.shape == sq.shape == (53, 2)
        np.testing.assert_array_equal(idx, ref_idx)
        np.testing.assert_array_equal(sq, ref_sq)


def test_large_images_random_data_exact():
    rng = np.random.default_rng(1)
    samples = rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8)
    train = rng.integers(0, 256, (70, 32, 32, 3), dtype=np.uint8)
    train[:5] = add_noise(rng, samples[:5], 3)  # a few near-copies among random images
    ref_idx, ref_sq = brute_force(samples, train)
    idx, sq = nearest_two(samples, train, sample_chunk=7, train_chunk=9)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(sq, ref_sq)


def test_near_tie_that_float32_cannot_resolve():
    """Two training images at squared distances S+1 (index 0) and S (index 1) with norms ~1e8: float32 (ulp 8 at
    that magnitude) cannot order them; the exact re-ranking must return index 1 first."""
    sample = np.full((1, 32, 32, 3), 250, dtype=np.uint8)
    flat = sample.reshape(-1).astype(np.int64)
    far, near = flat.copy(), flat.copy()
    near[:1000] -= 100  # S = 1000 * 100^2
    far[:1000] -= 100
    far[1000] -= 1  # S + 1
    rng = np.random.default_rng(0)
    others = rng.integers(0, 100, (20, 32 * 32 * 3))  # far away
    train = np.concatenate([far[None], near[None], others]).astype(np.uint8).reshape(-1, 32, 32, 3)
    # float32 really cannot tell them apart (the test has teeth): same approximate distance.
    a = torch.tensor(flat, dtype=torch.float32)
    approx = [float(a @ a + b @ b - 2 * (a @ b)) for b in torch.tensor(np.stack([far, near]), dtype=torch.float32)]
    assert abs(approx[0] - approx[1]) != 1.0
    idx, sq = nearest_two(sample, train, sample_chunk=1, train_chunk=3)
    assert idx[0].tolist() == [1, 0]
    np.testing.assert_array_equal(sq[0] * 255.0**2, [1000 * 100**2, 1000 * 100**2 + 1])


def test_many_identical_training_images_use_exact_fallback():
    """20 identical copies defeat the top-8 candidate certificate; the exact fallback keeps the lowest indices."""
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (1, 8, 8, 3), dtype=np.uint8)
    train = np.concatenate([rng.integers(0, 256, (7, 8, 8, 3), dtype=np.uint8), np.repeat(base, 20, 0)])
    samples = add_noise(rng, np.repeat(base, 3, 0))
    stats = {}
    idx, sq = nearest_two(samples, train, sample_chunk=2, train_chunk=6, stats=stats)
    assert stats["n_exact_fallback"] == 3
    np.testing.assert_array_equal(idx, np.tile([7, 8], (3, 1)))
    np.testing.assert_array_equal(sq, brute_force(samples, train)[1])


def test_planted_replicates_flagged_fresh_images_not():
    rng = np.random.default_rng(7)
    for make in (lambda n: rng.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8),
                 lambda n: structured_images(rng, n)):
        train = make(300)
        copies = add_noise(rng, train[rng.choice(300, 40, replace=False)], levels=2)
        fresh = make(60)
        table = score_samples(np.concatenate([copies, fresh]), train, device="cpu", threshold=THRESHOLD)
        assert table["is_replicate"].iloc[:40].all()
        assert not table["is_replicate"].iloc[40:].any()
        assert (table["ratio"].iloc[:40] < 0.1).all()


def test_score_samples_columns_and_labels():
    rng = np.random.default_rng(11)
    train = rng.integers(0, 256, (12, 4, 4, 3), dtype=np.uint8)
    samples = np.concatenate([train[[5, 2]], rng.integers(0, 256, (3, 4, 4, 3), dtype=np.uint8)])
    train_labels = np.arange(12) % 3
    table = score_samples(samples, train, sample_labels=[1, 2, 0, 0, 1], train_labels=train_labels, threshold=THRESHOLD)
    assert list(table.columns) == ["sample_index", "label", "nn1_index", "nn1_dist", "nn2_index", "nn2_dist",
                                   "nn1_label", "ratio", "is_replicate"]
    for col in ("sample_index", "label", "nn1_index", "nn2_index", "nn1_label"):
        assert table[col].dtype == np.int64
    assert table["ratio"].dtype == np.float64 and table["is_replicate"].dtype == bool
    assert table["nn1_index"].iloc[:2].tolist() == [5, 2]
    assert table["nn1_dist"].iloc[:2].tolist() == [0.0, 0.0]
    assert table["is_replicate"].iloc[:2].all()
    np.testing.assert_array_equal(table["nn1_label"], train_labels[table["nn1_index"]])
    ref_idx, ref_sq = brute_force(samples, train)
    np.testing.assert_allclose(table[["nn1_dist", "nn2_dist"]].to_numpy(), np.sqrt(ref_sq), rtol=0, atol=0)
    default = score_samples(samples, train, threshold=THRESHOLD)
    assert (default["label"] == 0).all() and (default["nn1_label"] == 0).all()


def test_ratio_criterion_values():
    ratio, flag = ratio_criterion(np.array([0.0, 1.0, 1.0, 0.0, 2.0]), np.array([0.0, 3.0, 3.5, 5.0, 2.0]),
                                  threshold=THRESHOLD)
    np.testing.assert_allclose(ratio, [1.0, 1 / 3, 1 / 3.5, 0.0, 1.0])
    assert flag.tolist() == [False, False, True, True, False]  # 0/0 -> 1.0: duplicates make it blind
    assert ratio_criterion(1.0, 2.0, threshold=1.0)[1]
    assert not ratio_criterion(1.0, 2.0, threshold=0.5)[1]


def test_duplicate_training_pair_is_not_flagged():
    rng = np.random.default_rng(5)
    train = rng.integers(0, 256, (6, 4, 4, 3), dtype=np.uint8)
    train[4] = train[1]
    table = score_samples(train[[1]], train, threshold=THRESHOLD)
    assert table.loc[0, ["nn1_index", "nn2_index"]].tolist() == [1, 4]
    assert table.loc[0, "ratio"] == 1.0 and not table.loc[0, "is_replicate"]


@pytest.mark.parametrize("threshold", [0.0, -0.1, 1.5, float("nan"), "1/3", True])
def test_threshold_validation(threshold):
    with pytest.raises(MemgenError, match="threshold"):
        ratio_criterion(1.0, 2.0, threshold=threshold)


def test_ratio_criterion_rejects_bad_distances():
    with pytest.raises(MemgenError):
        ratio_criterion([2.0], [1.0], threshold=THRESHOLD)
    with pytest.raises(MemgenError):
        ratio_criterion([1.0, 2.0], [3.0], threshold=THRESHOLD)


def test_bad_inputs_raise_one_line_errors():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (3, 4, 4, 3), dtype=np.uint8)
    cases = [
        (img, img[:1], "train"),  # N < 2
        (img, rng.integers(0, 256, (3, 5, 4, 3), dtype=np.uint8), "(3, 5, 4, 3)"),  # shape mismatch
        (img.astype(np.float32), img, "samples"),
        (img, img[..., :2], "train"),
    ]
    for samples, train, culprit in cases:
        with pytest.raises(MemgenError) as info:
            nearest_two(samples, train)
        assert culprit in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(MemgenError, match="train_chunk"):
        nearest_two(img, img, train_chunk=0)
    with pytest.raises(MemgenError, match="sample_labels"):
        score_samples(img, img, sample_labels=[0, 1], threshold=THRESHOLD)
    with pytest.raises(MemgenError, match="device"):
        nearest_two(img, img, device="tpu")
    nearest_two(img, img, device="auto")  # the CLI's spelling of "CUDA when available"


def test_empty_samples():
    train = np.zeros((2, 4, 4, 3), dtype=np.uint8)
    idx, sq = nearest_two(np.zeros((0, 4, 4, 3), dtype=np.uint8), train)
    assert idx.shape == sq.shape == (0, 2)
    assert isinstance(score_samples(np.zeros((0, 4, 4, 3), dtype=np.uint8), train, threshold=THRESHOLD), pd.DataFrame)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    rng = np.random.default_rng(2)
    samples = rng.integers(0, 4, (200, 8, 8, 3), dtype=np.uint8)
    train = rng.integers(0, 4, (500, 8, 8, 3), dtype=np.uint8)
    cpu = nearest_two(samples, train, device="cpu", sample_chunk=64, train_chunk=128)
    gpu = nearest_two(samples, train, device="cuda", sample_chunk=64, train_chunk=128)
    np.testing.assert_array_equal(cpu[0], gpu[0])
    np.testing.assert_array_equal(cpu[1], gpu[1])


def test_read_only_inputs_are_accepted_without_warnings():
    rng = np.random.default_rng(4)
    train = rng.integers(0, 256, (9, 4, 4, 3), dtype=np.uint8)
    samples = train[[3, 1]].copy()
    train.setflags(write=False)
    samples.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        idx, sq = nearest_two(samples, train, device="cpu")
    assert idx[:, 0].tolist() == [3, 1] and (sq[:, 0] == 0).all()
