"""Tests of memgen.evaluation.agreement on planted pairs (identical, independent, memorizing, generalizing, two
untrained models, shuffled pairs), memgen.analysis.agreement_regime and the disjoint-split claim."""

import numpy as np
import pandas as pd
import pytest

from eval_images import add_gaussian_noise, smooth_fields
from memgen.errors import MemgenError
from memgen.stats import median_interval
from memgen.analysis.agreement_regime import agreement_regime, agreement_regime_markdown
from memgen.evaluation.agreement import (SUMMARY_COLUMNS, agreement_summary, pair_agreement, pair_similarity,
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


# ------------------------------------------------------------ the claim's measure, its controls and the regime
def test_untrained_models_share_the_noise_and_draw_the_same_image(split):
    """Why the median similarity is no claim: two untrained UNets of different initial weights (zero-initialized
    output layers, improved-diffusion's zero_module) turn the same noise into the very same images, so their pairs
    are 'the same' with similarity 1; those samples are invalid, so the claim's measure stays at 0."""
    torch = pytest.importorskip("torch")
    from memgen.diffusion import GaussianDiffusion, LossType, cosine_betas
    from memgen.model import UNet, UNetConfig
    from memgen.sample import draw

    diffusion = GaussianDiffusion(cosine_betas(100), learn_sigma=True, loss_type=LossType.HYBRID).respaced("10")
    images = []
    for init in (0, 1):
        torch.manual_seed(init)
        net = UNet(UNetConfig(image_size=S, width=16, channel_mult=[1, 2], num_res_blocks=1, norm_groups=8,
                              attention_resolutions=[8])).eval()
        with torch.no_grad():
            images.append(draw(net, diffusion, np.zeros(6, np.int64), conditional=False, seed=7, batch_size=6,
                               shape_chw=(3, S, S), device=torch.device("cpu")))
    train_a, train_b, _ = split
    pairs = pair_agreement(images[0], images[1], train_a, train_b, threshold=THRESHOLD)
    assert np.array_equal(images[0], images[1]) and pairs.is_same.all()
    np.testing.assert_allclose(pairs.similarity, 1.0)
    summary = agreement_summary(pairs.assign(outcome_a="invalid", outcome_b="invalid", outcome_b_shuffled="invalid"))
    row = summary.iloc[0]
    assert row.median_similarity == pytest.approx(1.0) and row.frac_same_novel == 0.0
    assert row.n_novel_pairs == 0 and np.isnan(row.median_similarity_novel)


def test_shuffled_pairs_share_no_noise(split):
    """The shuffled baseline pairs sample i of A with sample i + 1 of B: same-noise agreement vanishes there."""
    train_a, train_b, novel = split
    pairs = pair_agreement(add_gaussian_noise(novel, 3, 0), add_gaussian_noise(novel, 3, 1), train_a, train_b,
                           threshold=THRESHOLD)
    assert (pairs.similarity > 0.95).all() and abs(pairs.similarity_shuffled.median()) < 0.05
    pairs = pairs.assign(outcome_a="novel_valid", outcome_b=["novel_valid", "invalid"] * (M // 2))
    pairs["outcome_b_shuffled"] = np.roll(pairs["outcome_b"].to_numpy(), -1)
    row = agreement_summary(pairs).iloc[0]
    assert row.n_novel_pairs == M // 2 and row.n_novel_shuffled == M // 2 and row.n_same_novel == M // 2
    assert row.median_similarity_novel > 0.95 and abs(row.median_similarity_novel_shuffled) < 0.05
    assert row.frac_same_novel == 0.5 and abs(row.median_similarity_shuffled) < 0.05


def _regime_rows(size, per_seed, n=128):
    return [dict(dataset="mondrian", width=16, size=size, dummy="none", ndummy=0, label=0, seed=s, n_pairs=n,
                 frac_same_novel=k / n) for s, k in enumerate(per_seed)]


def test_regime_reached_not_reached_and_unresolved():
    table = pd.DataFrame(_regime_rows(4, [0, 0, 0]) + _regime_rows(16, [30, 70, 110])
                         + _regime_rows(64, [120, 125, 118]) + _regime_rows(256, [60]))
    out = agreement_regime(table).set_index("size")
    assert out.loc[4, "reached"] == "not reached" and out.loc[4, "n_same_novel"] == 0 and out.loc[4, "n_pairs"] == 384
    assert out.loc[4, "ci_high"] < 0.02  # no pair of 384: the pooled Wilson bound
    assert out.loc[16, "reached"].startswith("unresolved") and out.loc[16, "ci_low"] < 0.5 < out.loc[16, "ci_high"]
    assert out.loc[64, "reached"] == "reached" and out.loc[64, "per_seed"] == "93.8/97.7/92.2"
    assert out.loc[256, "n_seeds"] == 1 and "one seed" in out.loc[256, "note"]  # 60 of 128: Wilson around 47%
    md = agreement_regime_markdown(agreement_regime(table))
    assert "| 0 of 384 | 0.0% (0.0-1.0) | not reached |" in md
    with pytest.raises(MemgenError, match="frac_same_novel"):
        agreement_regime(table.drop(columns="frac_same_novel"))


def test_the_claim_is_the_measure_fixed_before_the_run(repo_root):
    """Kadkhodaie et al.'s claim on the pre-registered measure (same novel and valid image), a generalization claim
    with the paper's sentence; the median similarity (chosen after the demo's values were seen) is not a claim."""
    from memgen.config import load_config
    from memgen.studies import REGISTRY, Grid
    from memgen.studies.catalog.disjoint_split import claims

    grid = Grid(load_config(repo_root / "config.yaml"))
    specs = claims(grid, "disjoint_split")
    assert len(specs) == 2 and {s["measure"] for s in specs} == {"frac_same_novel"}  # sizes 4 -> 16 -> 64
    assert all(s["claim"] == "measure" and "nearly identical samples" in s["quote"] and s["expected"] == 1
               for s in specs)
    planned = REGISTRY["disjoint_split"].comparisons(grid, "disjoint_split")
    assert [s["measure"] for s in planned] == ["frac_same_novel"] * 2
    assert "agreement_regime" in [t.name for t in REGISTRY["disjoint_split"].tables]
