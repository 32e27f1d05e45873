"""Tests of memgen.analysis.galleries: pair galleries, the Appendix-D criterion figure and the threshold sweep."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from memgen.analysis.galleries import criterion_pairs, pairs_gallery, threshold_sweep, threshold_sweep_figure
from memgen.errors import MemgenError

THRESHOLD = 1 / 3  # Yoon et al.'s ratio criterion (the schema's score.threshold)


def assert_png(path, min_bytes=5000):
    assert path.stat().st_size > min_bytes
    with Image.open(path) as img:
        img.verify()
        assert img.format == "PNG"


@pytest.fixture
def cell():
    """12 training images, 20 samples with ratios 0.02 .. 0.97 (7 of them below 1/3), shuffled order."""
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (12, 16, 16, 3), dtype=np.uint8)
    samples = rng.integers(0, 256, (20, 16, 16, 3), dtype=np.uint8)
    ratio = rng.permutation(np.linspace(0.02, 0.97, 20))
    scores = pd.DataFrame({"sample_index": np.arange(20), "label": 0, "nn1_index": np.arange(20) % 12,
                           "ratio": ratio, "is_replicate": ratio < 1 / 3})
    return samples, train, scores


def test_pairs_gallery_default_and_selected(cell, tmp_path):
    samples, train, scores = cell
    shown = pairs_gallery(samples, train, scores, tmp_path / "g.png", n=6, title="toy", threshold=THRESHOLD)
    assert_png(tmp_path / "g.png")
    assert shown["sample_index"].tolist() == list(range(6))
    assert shown["is_replicate"].tolist() == scores["is_replicate"][:6].tolist()
    picked = pairs_gallery(samples, train, scores, tmp_path / "s.png", select=[7, 3], threshold=THRESHOLD)
    assert picked["sample_index"].tolist() == [7, 3] and picked["nn1_index"].tolist() == [7, 3]


def test_criterion_pairs_selects_both_sides_nearest_threshold(cell, tmp_path):
    samples, train, scores = cell
    shown = criterion_pairs(samples, train, scores, tmp_path / "c.png", n=4, threshold=THRESHOLD)
    assert_png(tmp_path / "c.png")
    top = shown[shown["block"] == "flagged"]
    bottom = shown[shown["block"] == "not flagged"]
    flagged = np.sort(scores["ratio"][scores["ratio"] < 1 / 3].to_numpy())[::-1]
    plain = np.sort(scores["ratio"][scores["ratio"] >= 1 / 3].to_numpy())
    np.testing.assert_array_equal(top["ratio"], flagged[:4])  # largest flagged ratios first
    np.testing.assert_array_equal(bottom["ratio"], plain[:4])  # smallest unflagged ratios first
    assert top["is_replicate"].all() and not bottom["is_replicate"].any()
    again = criterion_pairs(samples, train, scores, tmp_path / "c2.png", n=4, threshold=THRESHOLD)
    pd.testing.assert_frame_equal(shown, again)  # deterministic


def test_criterion_pairs_with_an_empty_block(cell, tmp_path):
    samples, train, scores = cell
    shown = criterion_pairs(samples, train, scores.assign(ratio=0.9), tmp_path / "e.png", n=3, threshold=THRESHOLD)
    assert (shown["block"] == "not flagged").all() and len(shown) == 3
    assert_png(tmp_path / "e.png")


@pytest.mark.parametrize(
    "mutate, message",
    [(lambda s, t, sc: (s.astype(np.float32), t, sc), "samples must be uint8"),
     (lambda s, t, sc: (s, t[:, :8], sc), "must share"),
     (lambda s, t, sc: (s, t, sc.drop(columns="nn1_index")), "lacks column"),
     (lambda s, t, sc: (s, t[:5], sc), "nn1_index outside")],
)
def test_gallery_rejects_bad_input(cell, tmp_path, mutate, message):
    samples, train, scores = mutate(*cell)
    with pytest.raises(MemgenError, match=message):
        pairs_gallery(samples, train, scores, tmp_path / "x.png", threshold=THRESHOLD)
    assert not (tmp_path / "x.png").exists()


def test_gallery_rejects_unknown_selection_and_threshold(cell, tmp_path):
    samples, train, scores = cell
    with pytest.raises(MemgenError, match="select"):
        pairs_gallery(samples, train, scores, tmp_path / "x.png", select=[99], threshold=THRESHOLD)
    with pytest.raises(MemgenError, match="threshold"):
        criterion_pairs(samples, train, scores, tmp_path / "x.png", threshold=1.5)


def test_threshold_sweep_counts_directly_and_is_monotone():
    rng = np.random.default_rng(1)
    ratio = rng.uniform(0, 1, 200)
    ratio[:5] = 1 / 3  # exactly at the threshold: not a replicate (strict <)
    thresholds = np.linspace(0.05, 1.0, 20).tolist() + [1 / 3]
    table = threshold_sweep(pd.DataFrame({"ratio": ratio}), thresholds)
    assert table.columns.tolist() == ["threshold", "n_samples", "n_replicates", "replicate_fraction", "ci_low",
                                      "ci_high"]
    expected = [(ratio < t).sum() for t in thresholds]
    assert table["n_replicates"].tolist() == expected
    assert np.all(np.diff(table["n_replicates"].to_numpy()[:20]) >= 0)
    assert np.all((table["ci_low"] <= table["replicate_fraction"]) & (table["replicate_fraction"] <= table["ci_high"]))



def test_threshold_sweep_per_group_and_figure(tmp_path):
    scores = pd.DataFrame({"ratio": [0.1, 0.2, 0.5, 0.05, 0.9, 0.95], "group": ["a", "a", "a", "b", "b", "b"]})
    table = threshold_sweep(scores, [0.15, 1 / 3])
    assert table[table["group"] == "a"]["n_replicates"].tolist() == [1, 2]
    assert table[table["group"] == "b"]["n_replicates"].tolist() == [1, 1]
    threshold_sweep_figure(table, tmp_path / "sweep.png", threshold=THRESHOLD)
    assert_png(tmp_path / "sweep.png")
    with pytest.raises(MemgenError, match="thresholds"):
        threshold_sweep(scores, [0.0, 0.5])
    with pytest.raises(MemgenError, match="lacks column"):
        threshold_sweep_figure(table.drop(columns="ci_low"), tmp_path / "bad.png", threshold=THRESHOLD)
