"""Tests of memgen.evaluation.agreement on planted pairs: identical, independent, memorizing, generalizing."""

import numpy as np
import pandas as pd
import pytest

from eval_images import add_gaussian_noise, smooth_fields
from memgen.errors import MemgenError
from memgen.stats import median_interval
from memgen.evaluation.agreement import (SUMMARY_COLUMNS, pair_agreement, pair_similarity,
                                         summarize_agreement)

THRESHOLD = 1 / 3  # Yoon et al.'s ratio criterion (the schema's score.threshold)

S, M = 16, 300


@pytest.fixture(scope="module")
def split():
    """Disjoint training sets A and B, and novel images C (none of them in A or B)."""
    return smooth_fields(64, 0, S), smooth_fields(64, 1, S), smooth_fields(M, 2, S)


def test_identical_pairs(split):
    train_a, train_b, novel = split
    pairs = pair_agreement(novel, novel, train_a, train_b, threshold=THRESHOLD)
    np.testing.assert_allclose(pairs.similarity, 1.0)
    assert (pairs.pair_dist == 0).all() and pairs.is_same.all() and (pairs.train_dist_a > 0).all()
    summary = summarize_agreement(pairs)
    assert summary.loc[0, "frac_same"] == 1.0 and summary.loc[0, "same_ci_low"] > 0.98


def test_independent_samples(split):
    train_a, train_b, novel = split
    pairs = pair_agreement(novel, smooth_fields(M, 3, S), train_a, train_b, threshold=THRESHOLD)
    row = summarize_agreement(pairs).iloc[0]
    print(f"independent: median similarity {row.median_similarity:.3f} [{row.median_ci_low:.3f}, "
          f"{row.median_ci_high:.3f}], frac same {row.frac_same:.3f}")
    assert abs(row.median_similarity) < 0.05 and row.median_ci_low < 0 < row.median_ci_high
    assert row.frac_same == 0.0


def test_memorizing_models_disagree(split):
    """Each model outputs (a slightly noisy copy of) an image of its own training set."""
    train_a, train_b, _ = split
    rng = np.random.default_rng(4)
    a = add_gaussian_noise(train_a[rng.integers(0, 64, M)], 2, 0)
    b = add_gaussian_noise(train_b[rng.integers(0, 64, M)], 2, 1)
    pairs = pair_agreement(a, b, train_a, train_b, threshold=THRESHOLD)
    row = summarize_agreement(pairs).iloc[0]
    print(f"memorizing: median similarity {row.median_similarity:.3f}, frac same {row.frac_same:.3f}")
    assert row.frac_same == 0.0 and abs(row.median_similarity) < 0.1
    assert (pairs.train_dist_a < 0.1 * pairs.pair_dist).all()


def test_generalizing_models_agree(split):
    """Both models output the same novel image up to small independent noise."""
    train_a, train_b, novel = split
    pairs = pair_agreement(add_gaussian_noise(novel, 3, 0), add_gaussian_noise(novel, 3, 1), train_a, train_b,
                           threshold=THRESHOLD)
    row = summarize_agreement(pairs).iloc[0]
    assert row.frac_same == 1.0 and row.median_ci_low > 0.95


def test_summary_by_group(split):
    train_a, train_b, novel = split
    same = pair_agreement(novel[:100], novel[:100], train_a, train_b, threshold=THRESHOLD).assign(n=64)
    indep = pair_agreement(novel[:100], novel[100:200], train_a, train_b, threshold=THRESHOLD).assign(n=16)
    table = summarize_agreement(pd.concat([same, indep]), by="n")
    assert list(table.columns) == ["n", *SUMMARY_COLUMNS]
    assert list(table["n"]) == [16, 64] and list(table["frac_same"]) == [0.0, 1.0]
    assert list(table["n_pairs"]) == [100, 100]


def test_similarity_ignores_brightness_and_contrast():
    rng = np.random.default_rng(0)
    a = rng.integers(60, 190, (5, 8, 8, 3)).astype(np.uint8)
    b = (a.astype(np.int64) // 2 + 40).astype(np.uint8)  # affine: same after mean subtraction, up to rounding
    sim, dist = pair_similarity(a, b)
    assert (sim > 0.99).all() and (dist > 0).all()
    const = np.full((1, 8, 8, 3), 9, np.uint8)
    assert pair_similarity(const, a[:1])[0][0] == 0.0
    np.testing.assert_allclose(pair_similarity(a, 255 - a)[0], -1.0)


def test_median_interval_ranks_and_coverage():
    x = np.arange(1, 101, dtype=float)
    med, lo, hi = median_interval(x[::-1])
    assert (med, lo, hi) == (50.5, 40.0, 61.0)  # the textbook ranks for n = 100
    assert np.isnan(median_interval(np.arange(5.0))[1]) and median_interval(np.arange(6.0))[1:] == (0.0, 5.0)
    rng = np.random.default_rng(1)
    covered = [lo <= 0.0 <= hi for lo, hi in (median_interval(rng.standard_normal(30))[1:] for _ in range(2000))]
    assert np.mean(covered) >= 0.94


def test_bad_input(split):
    train_a, train_b, novel = split
    with pytest.raises(MemgenError, match="pair one to one"):
        pair_agreement(novel, novel[:5], train_a, train_b, threshold=THRESHOLD)
    with pytest.raises(MemgenError, match=">= 2 images"):
        pair_agreement(novel, novel, train_a[:1], train_b, threshold=THRESHOLD)
    with pytest.raises(MemgenError, match="uint8"):
        pair_agreement(novel.astype(float), novel, train_a, train_b, threshold=THRESHOLD)
    with pytest.raises(MemgenError, match="threshold"):
        pair_agreement(novel, novel, train_a, train_b, threshold="x")
    with pytest.raises(MemgenError, match="lacks columns"):
        summarize_agreement(pd.DataFrame({"similarity": [0.1]}))
