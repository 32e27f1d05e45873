"""Tests of memgen.analysis: Wilson intervals, per-label replicate summaries and the figures."""

import numpy as np
import pandas as pd
import pytest

from memgen.analysis.aggregate import SUMMARY_COLUMNS, summarize_scores
from memgen.stats import wilson_interval
from memgen.analysis.figures import capacity_figure
from memgen.errors import MemgenError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "k, n, expected",
    [(0, 10, (0.0, 0.2775)), (5, 10, (0.2366, 0.7634)), (10, 10, (0.7225, 1.0)), (1, 1, (0.2065, 1.0))],
)
def test_wilson_hand_computed(k, n, expected):
    lo, hi = wilson_interval(k, n)
    assert isinstance(lo, float) and isinstance(hi, float)
    assert (round(lo, 4), round(hi, 4)) == expected


def test_wilson_vectorized_symmetric_and_empty():
    k = np.array([0, 3, 17, 0])
    n = np.array([10, 20, 20, 0])
    lo, hi = wilson_interval(k, n)
    assert lo.shape == hi.shape == (4,)
    assert np.isnan(lo[3]) and np.isnan(hi[3])
    np.testing.assert_allclose(lo[1], 1.0 - hi[2])  # lo(k, n) = 1 - hi(n - k, n)
    assert np.all((lo[:3] <= k[:3] / n[:3]) & (k[:3] / n[:3] <= hi[:3]))
    wide = wilson_interval(5, 10, z=3.0)
    assert wide[0] < 0.2366 and wide[1] > 0.7634


def test_wilson_rejects_bad_counts():
    with pytest.raises(MemgenError):
        wilson_interval(11, 10)
    with pytest.raises(MemgenError):
        wilson_interval(-1, 10)


def hand_built():
    """7 samples of labels 0/1 over 6 training images (labels 0,0,0,1,1,2)."""
    scores = pd.DataFrame({
        "sample_index": np.arange(7),
        "label": [0, 0, 0, 0, 1, 1, 1],
        "nn1_index": [0, 0, 1, 3, 3, 4, 1],
        "ratio": [0.1, 0.2, 0.5, 0.1, 0.05, 0.9, 0.6],
        "is_replicate": [True, True, False, True, True, False, False],
    })
    return scores, np.array([0, 0, 0, 1, 1, 2])


def test_summarize_by_label():
    scores, train_labels = hand_built()
    table = summarize_scores(scores, train_labels)
    assert list(table.columns) == SUMMARY_COLUMNS
    assert table["label"].tolist() == [0, 1]  # no samples of label 2 -> no row
    row0, row1 = table.iloc[0], table.iloc[1]
    assert (row0.n_samples, row0.n_replicates, row0.n_train, row0.n_train_replicated) == (4, 3, 3, 1)
    assert (row1.n_samples, row1.n_replicates, row1.n_train, row1.n_train_replicated) == (3, 1, 2, 1)
    assert row0.replicate_fraction == 0.75 and row1.replicate_fraction == pytest.approx(1 / 3)
    assert row0.frac_train_replicated == pytest.approx(1 / 3) and row1.frac_train_replicated == 0.5
    assert row0.median_ratio == pytest.approx(0.15) and row1.median_ratio == pytest.approx(0.6)
    lo, hi = wilson_interval(3, 4)
    assert (row0.ci_low, row0.ci_high) == (lo, hi)
    assert table["n_train_replicated"].dtype == np.int64 and table["ci_low"].dtype == np.float64


def test_summarize_overall_counts_distinct_replicated_images():
    scores, train_labels = hand_built()
    table = summarize_scores(scores, train_labels, by_label=False)
    assert len(table) == 1
    row = table.iloc[0]
    assert row.label == -1 and row.n_samples == 7 and row.n_replicates == 4
    # train 0 (hit twice) and train 3 (hit twice) only; train 1 and 4 are nn1 of non-replicates.
    assert row.n_train == 6 and row.n_train_replicated == 2
    assert row.frac_train_replicated == pytest.approx(1 / 3)
    assert row.median_ratio == pytest.approx(0.2)


def test_summarize_rejects_bad_input():
    scores, train_labels = hand_built()
    with pytest.raises(MemgenError, match="is_replicate"):
        summarize_scores(scores.drop(columns="is_replicate"), train_labels)
    with pytest.raises(MemgenError, match="nn1_index"):
        summarize_scores(scores, train_labels[:3])


def capacity_table(seeds=(0,)):
    rows = []
    for width in (64, 128):
        for size in (500, 1000, 2000, 4000):
            for seed in seeds:
                k = max(0, int(1000 * min(1.0, width / size)) - 10 * seed)
                lo, hi = wilson_interval(k, 1000)
                rows.append(dict(width=width, size=size, seed=seed, replicate_fraction=k / 1000,
                                 n_samples=1000, ci_low=lo, ci_high=hi))
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seeds", [(0,), (0, 1, 2)])
def test_capacity_figure_writes_png(tmp_path, seeds):
    out = tmp_path / "figs" / "capacity.png"
    capacity_figure(capacity_table(seeds), out)
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000
    assert [p.name for p in out.parent.iterdir()] == ["capacity.png"]  # no temp file left behind


def test_capacity_figure_rejects_bad_table(tmp_path):
    with pytest.raises(MemgenError, match="ci_low"):
        capacity_figure(capacity_table().drop(columns="ci_low"), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_wilson_endpoints_are_exact_at_zero_and_all():
    lo, hi = wilson_interval(np.array([0, 7]), np.array([24, 7]))
    assert lo[0] == 0.0 and hi[1] == 1.0
