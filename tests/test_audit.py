"""The evaluation audit of issue 16 (item 6): each test failed before its fix.

- A Gaussian-mixture base draws every pool (side B of a split, the held-out set, held-out dummies) from the base's
  own mixture, so they are valid under the base's means.
- A real-image label whose samples all copy gets NaN, not 0, for novel-and-valid and generalizing.
- C_T: the number of k-means cells follows the number of samples, one feature space per image shape, and the
  summary says how many cells entered C_T and whether a cell's U sat at its bound.
- The tile partial-copy criterion's false-positive rate on real held-out images sits beside the partial copies.
"""

import numpy as np
import pandas as pd
import pytest

from cifar_fixture import archive_fixtures
from memgen import io
from memgen.cli import main
from memgen.data import materialize
from memgen.data.synthetic import gm_means
from memgen.evaluation.assess import assess, heldout_partial_rate, label_kinds, outcome_summary
from memgen.evaluation import datacopy
from memgen.evaluation.datacopy import copying_cells, copying_features
from memgen.evaluation.validity import validity
from memgen.score import score_samples

S = 8


# ------------------------------------------------------------------------------- GM base: one mixture for all pools
def _rows(a: np.ndarray, b: np.ndarray) -> set:
    return {r.tobytes() for r in a.reshape(len(a), -1)} & {r.tobytes() for r in b.reshape(len(b), -1)}


def test_gm_base_pools_come_from_the_base_mixture():
    seed = 4
    side_a, _, card_a = materialize.build_training_set("gm", 60, seed, S)
    side_b, _, card_b = materialize.build_training_set("split:gm", 60, seed, S)
    held, _, _ = materialize.build_heldout_set("gm", 60, seed, S)
    with_dummies, labels, card_h = materialize.build_training_set("gm", 60, seed, S, "heldout", 30)
    means = gm_means(seed, S)
    for name, images in (("side A", side_a), ("side B", side_b), ("held-out set", held),
                         ("heldout dummies", with_dummies[60:])):
        assert validity("gm", images, means=means).mean() >= 0.9, name  # fresh GM images: ~all valid
    for card in (card_a, card_b, card_h):  # the GM rule of the assessment reads the base's means from the card
        assert label_kinds(card)[0] == ("gm", seed)
    assert not _rows(side_a, side_b) and not _rows(side_a, held) and not _rows(side_b, held)
    np.testing.assert_array_equal(with_dummies[:60], side_a)  # the base part does not depend on the dummies


# ----------------------------------------------------------------------- no validity rule: no novel-and-valid share
@pytest.mark.parametrize("kind,rule", [("cifar:cat", False), ("folder:photos", False), ("mondrian", True)])
def test_a_label_that_only_copies_keeps_its_kinds_categories(kind, rule):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (12, S, S, 3), dtype=np.uint8)
    samples = train[:6].copy()  # every sample a replicate: no "novel" outcome occurs
    scores = score_samples(samples, train, np.zeros(6, np.int64), np.zeros(12, np.int64), threshold=1 / 3)
    assessed = assess(scores, samples, train, np.zeros(12, np.int64), {"class_names": {"0": kind}}, threshold=1 / 3)
    assert set(assessed["outcome"]) == {"replicate"}
    row = outcome_summary(assessed).iloc[0]
    assert row.frac_replicate == 1.0 and row.memorized_fraction == 1.0
    if rule:  # a kind with a rule: 0% novel-and-valid is a measurement
        assert row.frac_novel_valid == 0.0 and row.generalizing_fraction == 0.0 and np.isnan(row.frac_novel)
    else:  # no rule: novel-and-valid is undefined, so the dichotomy cannot call the cell "valid"
        assert np.isnan(row.frac_novel_valid) and np.isnan(row.generalizing_fraction)
        assert np.isnan(row.frac_invalid) and row.frac_novel == 0.0


# ----------------------------------------------------------------------------------------- C_T: cells and space
def test_cell_count_follows_the_number_of_samples():
    assert copying_cells(256, 1000, 5000) == 5  # the pipeline's 256 samples per model: 5 cells, as before
    assert copying_cells(32, 1000, 5000) == 1  # 32 samples: one cell, which qualifies (> 20 samples)
    assert copying_cells(10_000, 1000, 50_000) == 20  # held-out images bound it too
    assert copying_cells(10_000, 10_000, 8) == 8 and copying_cells(5, 5, 5) == 1


def test_one_feature_space_whatever_the_training_set_size(monkeypatch):
    """The old rule scored a training set of more than 50M values (16,300 CIFAR images) in PCA space and smaller
    ones in pixel space: C_T along a sweep of sizes mixed two spaces."""
    import memgen.evaluation.assess as assess_module
    import memgen.evaluation.datacopy as datacopy_module

    seen = []

    def spy(train, heldout, samples, n_cells=5, tau=None, seed=0, n_components=None):
        seen.append((np.asarray(train).reshape(len(train), -1).shape[1], n_components))
        return -1.0, pd.DataFrame({"included": [True], "saturated": [False]})

    monkeypatch.setattr(datacopy_module, "data_copying_test", spy)
    monkeypatch.setattr(assess_module, "data_copying_test", spy, raising=False)
    card = {"class_names": {"0": "cifar:all"}}
    rng = np.random.default_rng(0)
    samples = rng.integers(0, 256, (30, 32, 32, 3), dtype=np.uint8)
    assessed = pd.DataFrame({"label": np.zeros(30, np.int64)})
    for n_train in (40, 16_400):  # 16,400 x 32 x 32 x 3 = 50.4M values
        train = np.broadcast_to(samples[:1], (n_train, 32, 32, 3))
        assess_module.copying_statistic(assessed, samples, train, np.zeros(n_train, np.int64), samples, card)
    assert len(seen) == 2 and seen[0] == seen[1], seen


def test_large_images_share_one_fixed_projection():
    rng = np.random.default_rng(1)
    big = rng.integers(0, 256, (6, 64, 64, 3), dtype=np.uint8)
    f1, space = copying_features(big)
    assert space == "projection 256" and f1.shape == (6, 256) and f1.dtype == np.float32
    d_pixels = np.linalg.norm(big[0].astype(float) / 255 - big[1].astype(float) / 255)
    assert np.linalg.norm(f1[0] - f1[1]) == pytest.approx(d_pixels, rel=0.3)  # Johnson-Lindenstrauss: ~9% SD
    small = big[:, :8, :8]  # 192 values: compared as pixels
    assert copying_features(small)[1] == "pixels" and copying_features(small)[0] is small


def _exact_reference(images: np.ndarray) -> np.ndarray:
    """copying_features of uint8 images in int64 arithmetic, no BLAS: numpy's integer matmul sums exactly."""
    flat = images.reshape(len(images), -1).astype(np.int64)
    blocks = range(0, flat.shape[1], datacopy.PROJECTION_BLOCK)
    r = np.concatenate([datacopy.projection_block(b, min(flat.shape[1], start + datacopy.PROJECTION_BLOCK) - start)
                        for b, start in enumerate(blocks)]).astype(np.int64)
    return ((flat @ r) / (255.0 * datacopy.PROJECTION_SCALE * 16.0)).astype(np.float32)


def test_an_images_features_do_not_depend_on_its_batch():
    """The promise: an image's features are a function of the image alone, bit for bit (a copy of a training image
    sits at distance exactly 0 from it). The float32 GEMM this replaced gave the first 3 of 6 images other features
    than the 3 alone on an AVX2-only AMD EPYC (its kernel depends on the row count); the uint8 path is now exact, so
    it equals an int64 computation without BLAS, alone, in any batch and at any BLAS thread count."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(1)
    big = rng.integers(0, 256, (1100, 16, 16, 3), dtype=np.uint8)  # 768 values; 1100 rows: two row chunks
    wide = rng.integers(0, 256, (5, 48, 48, 3), dtype=np.uint8)  # 6912 values: two blocks
    for images in (big, wide):
        full = copying_features(images)[0]
        assert np.array_equal(full, _exact_reference(images))
        assert np.array_equal(full[:3], copying_features(images[:3])[0])
        assert all(np.array_equal(full[i : i + 1], copying_features(images[i : i + 1])[0]) for i in (0, 4))
        with threadpool_limits(limits=1):
            assert np.array_equal(full, copying_features(images)[0])
    floats = wide.astype(np.float32) / 255  # other dtypes: one image per product
    assert np.array_equal(copying_features(floats)[0][:3], copying_features(floats[:3])[0])
    np.testing.assert_allclose(copying_features(floats)[0], copying_features(wide)[0], rtol=0, atol=1e-5)


# ------------------------------------------------------------------- the score CLI on a real-format CIFAR archive
archive, root = archive_fixtures(60, 10)  # cat: 70 images, random values (every image distinct)


def _score(tmp_path, name, samples, paths) -> pd.Series:
    io.save_images_npz(tmp_path / f"{name}.npz", samples, np.zeros(len(samples), np.int64))
    argv = ["score", "--train", str(paths["train"]), "--samples", str(tmp_path / f"{name}.npz"), "--card",
            str(paths["card"]), "--heldout", str(paths["heldout"]), "--out", str(tmp_path / f"{name}_scores.parquet"),
            "--summary", str(tmp_path / f"{name}_summary.parquet")]
    assert main(argv) == 0
    return pd.read_parquet(tmp_path / f"{name}_summary.parquet").iloc[0]


def test_score_says_how_many_cells_entered_c_t_and_whether_they_saturated(root, tmp_path):
    train, labels, card = materialize.build_training_set("cifar:cat", 20, 0, 32, cifar_root=root)
    held, _, _ = materialize.build_heldout_set("cifar:cat", 40, 0, 32, cifar_root=root)
    paths = {"train": tmp_path / "train.npz", "card": tmp_path / "card.json", "heldout": tmp_path / "held.npz"}
    materialize.write_dataset(paths["train"], paths["card"], train, labels, card)
    io.save_images_npz(paths["heldout"], held, np.zeros(len(held), np.int64))
    rng = np.random.default_rng(0)
    rows = []
    for name in ("model_a", "model_b"):  # two different models, 32 samples each, both copying training images
        picks = rng.integers(0, 20, 32)
        noise = rng.integers(-2, 3, (32, 32, 32, 3))
        rows.append(_score(tmp_path, name, np.clip(train[picks] + noise, 0, 255).astype(np.uint8), paths))
    for row in rows:
        assert row.c_t_partition == 1 and row.c_t_cells == 1 and row.c_t_saturated == 1
        assert row.c_t_space == "projection 256"
        assert row.c_t < -5 and row.frac_replicate == 1.0
        assert row.n_heldout == 32 and row.heldout_partial_fraction == 0.0 and row.heldout_partial_ci_high > 0
    assert rows[0].c_t == rows[1].c_t  # one saturated cell: Z depends on the counts only, which the table now says


def test_heldout_partial_rate_counts_flagged_heldout_images():
    rng = np.random.default_rng(2)
    train = rng.integers(0, 256, (12, 16, 16, 3), dtype=np.uint8)
    held = rng.integers(0, 256, (10, 16, 16, 3), dtype=np.uint8)
    held[:4, :8, :8] = train[:4, :8, :8]  # 4 of the 4 x 4 px tiles of training image i pasted into held-out i
    card = {"class_names": {"0": "cifar:cat"}}
    out = heldout_partial_rate(held, train, np.zeros(12, np.int64), card, threshold=1 / 3)
    assert out["n_heldout"] == 10 and out["heldout_partial_fraction"] == pytest.approx(0.4)
    assert out["heldout_partial_ci_low"] < 0.4 < out["heldout_partial_ci_high"]
    first = heldout_partial_rate(held, train, np.zeros(12, np.int64), card, threshold=1 / 3, n_max=5)
    assert first["n_heldout"] == 5 and first["heldout_partial_fraction"] == pytest.approx(0.8)
    procedural = heldout_partial_rate(held, train, np.zeros(12, np.int64), {"class_names": {"0": "mondrian"}},
                                      threshold=1 / 3)
    assert np.isnan(procedural["heldout_partial_fraction"])
