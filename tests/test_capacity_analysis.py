"""Tests of memgen.analysis.capacity (memorization capacity per Definition 3.1: the crossing of the seed-averaged
curve, its grid bracket and interval, censored seeds, the training budget) and memgen.analysis.table1."""

import numpy as np
import pandas as pd
import pytest

from memgen.analysis.capacity import capacity_across_seeds, crossing, grid_interval, memorization_capacity
from memgen.analysis.capacity_markdown import capacity_markdown
from memgen.analysis.table1 import table1
from memgen.errors import MemgenError


def curve(fractions, sizes=(8, 32, 128, 512), width=16, n=200, **extra):
    return pd.DataFrame({"width": width, "size": list(sizes), "replicate_fraction": list(fractions),
                         "n_samples": n, **extra})


def test_interpolation_in_log_size_hand_computed():
    out = memorization_capacity(curve([1.0, 0.5, 0.0, 0.0]), level=0.9)
    expected = np.exp(np.log(8) + (1.0 - 0.9) / (1.0 - 0.5) * (np.log(32) - np.log(8)))  # = 8 * 4**0.2
    row = out.iloc[0]
    assert row["capacity"] == pytest.approx(expected, rel=1e-12)
    assert (row["bracket_low"], row["bracket_high"]) == (8, 32)
    assert pd.isna(row["censored"]) and "between N = 8 and 32, no size measured between" in row["resolution"]
    assert (row["ci_low"], row["ci_high"]) == (8, 32)  # Wilson of 200 samples: 100% is above 90%, 50% below


def test_capacity_is_the_largest_size_at_or_above_the_level():
    # non-monotone: 0.95 at 128 counts, so the crossing is between 128 and 512
    cap, code = crossing(np.array([8, 32, 128, 512.0]), np.array([[1.0, 0.5, 0.95, 0.0]]), 0.9)
    assert code[0] == 0
    assert cap[0] == pytest.approx(np.exp(np.log(128) + 0.05 / 0.95 * np.log(4)))
    cap, code = crossing(np.array([8, 32.0]), np.array([[0.9, 0.0]]), 0.9)  # exactly at the level
    assert code[0] == 0 and cap[0] == pytest.approx(8.0)


def test_censoring_all_above_and_all_below():
    table = pd.concat([curve([1.0, 0.99, 0.95, 0.92], width=32), curve([0.5, 0.1, 0.0, 0.0], width=16)])
    out = memorization_capacity(table).set_index("width")
    assert out.loc[32, "censored"] == "all above" and out.loc[32, "capacity"] == 512
    assert out.loc[32, "bracket_low"] == 512 and np.isnan(out.loc[32, "bracket_high"])
    assert out.loc[16, "censored"] == "all below" and out.loc[16, "capacity"] == 8
    assert out.loc[32, "resolution"].startswith(">= 512") and out.loc[16, "resolution"].startswith("< 8")
    # above the level everywhere: no upper bound; 92% of 200 samples does not clear 90% with 95% confidence (Wilson
    # 87.5-94.9%), 95% does: the lower bound is 128
    assert out.loc[32, "ci_low"] == 128 and np.isnan(out.loc[32, "ci_high"])
    assert np.isnan(out.loc[16, "ci_low"]) and out.loc[16, "ci_high"] == 8


def test_sampling_interval_is_in_grid_sizes_and_contains_the_estimate():
    table = curve([1.0, 0.95, 0.6, 0.1, 0.0], sizes=(8, 16, 32, 64, 128), n=256)
    row = memorization_capacity(table).iloc[0]
    assert row["ci_low"] <= row["capacity"] <= row["ci_high"]
    # 95% of 256 has a Wilson interval above 90%, 60% one below: the level is crossed between 16 and 32
    assert (row["ci_low"], row["ci_high"]) == (16, 32)
    # 91% of 256 does not clear 90% with 95% confidence: the interval reaches down to the size below
    row = memorization_capacity(curve([1.0, 0.91, 0.6, 0.1, 0.0], sizes=(8, 16, 32, 64, 128), n=256)).iloc[0]
    assert (row["ci_low"], row["ci_high"]) == (8, 32) and 16 < row["capacity"] < 32


def test_groups_by_grid_columns_and_pools_seeds():
    seeds = pd.concat([curve([1.0, 0.6, 0.0, 0.0], seed=0, n_replicates=[200, 120, 0, 0]),
                       curve([1.0, 0.4, 0.0, 0.0], seed=1, n_replicates=[200, 80, 0, 0])])
    table = pd.concat([seeds.assign(dummy="none"), seeds.assign(dummy="gm")])
    out = memorization_capacity(table)
    assert out.columns[:2].tolist() == ["width", "dummy"] and len(out) == 2
    pooled = np.exp(np.log(8) + 0.1 / 0.5 * np.log(4))  # (120 + 80) / 400 = 0.5 at size 32
    np.testing.assert_allclose(out["capacity"], pooled)


def test_exposure_at_the_capacity_and_step_budgets_kept_apart():
    short = curve([1.0, 0.5, 0.0, 0.0], steps=1600, batch_size=64)
    long = curve([1.0, 1.0, 0.5, 0.0], steps=6400, batch_size=64)
    out = memorization_capacity(pd.concat([short, long])).set_index("steps")
    assert len(out) == 2  # one capacity per step budget, never pooled across budgets
    assert out.loc[1600, "capacity"] == pytest.approx(8 * 4 ** 0.2)
    assert out.loc[6400, "capacity"] == pytest.approx(32 * 4 ** 0.2)
    assert out.loc[1600, "base_image_presentations"] == 1600 * 64
    assert out.loc[6400, "epochs_per_image"] == pytest.approx(6400 * 64 / (32 * 4 ** 0.2))
    # without the step budget in the table the exposure is unknown, not invented
    assert "1,600 steps x batch 64 = 102,400 presentations" in out.loc[1600, "budget"]
    assert np.isnan(memorization_capacity(curve([1.0, 0.5, 0.0, 0.0]))["epochs_per_image"]).all()


def seeds_table(per_seed: dict, sizes, n=128, steps=800, batch_size=32):
    """One row per seed x size from per-seed replicate counts (out of n)."""
    rows = [dict(width=16, size=size, seed=seed, n_samples=n, n_replicates=k, replicate_fraction=k / n, steps=steps,
                 batch_size=batch_size) for seed, counts in per_seed.items() for size, k in zip(sizes, counts)]
    return pd.DataFrame(rows)


# The demo's width-16 capacity cells (benchmarks/results/demo-2026-12-04/capacity/across_seeds.md): 97.7/94.5/70.3%
# at N = 4, 85.9/75.0/73.4% at 16, 0% at 64, of 128 samples each.
DEMO_W16 = {0: [125, 110, 0], 1: [121, 96, 0], 2: [90, 94, 0]}


def test_no_upper_bound_above_a_size_where_every_seed_is_below():
    summary, per_seed = capacity_across_seeds(seeds_table(DEMO_W16, [4, 16, 64]))
    row = summary.iloc[0]
    # every seed is below 90% at N = 16, so the capacity is below 16 (it used to be bounded at 654)
    assert row.ci_high == 16 and np.isnan(row.ci_low)  # nothing at or above 90% with confidence: no lower bound
    # the seed mean is 87.5% at the smallest size already: the Definition-3.1 capacity is censored below 4
    assert row.censored == "all below" and row.capacity == 4 and row.resolution.startswith("< 4")
    assert row.mean_curve == "N=4: 87.5, N=16: 78.1, N=64: 0.0"


def test_a_seed_that_never_reaches_the_level_is_a_bound_not_a_crossing():
    # seeds 0 and 1 cross between 16 and 64; seed 2 is below 90% at every size
    table = seeds_table({0: [128, 128, 64, 0], 1: [128, 128, 96, 0], 2: [108, 108, 32, 0]}, [4, 16, 64, 256])
    summary, per_seed = capacity_across_seeds(table)
    row = summary.iloc[0]
    means = np.array([364, 364, 192, 0]) / 384  # the seed-averaged curve, Definition 3.1
    expected = np.exp(np.log(16) + (means[1] - 0.9) / (means[1] - means[2]) * np.log(4))
    assert row.capacity == pytest.approx(expected, rel=1e-12) and pd.isna(row.censored)
    assert (row.bracket_low, row.bracket_high) == (16, 64) and row.n_seeds_censored == 1
    censored = per_seed.set_index("seed").loc[2]
    assert np.isnan(censored.capacity) and censored.bound == 4 and censored.censored == "all below"
    assert per_seed.set_index("seed").loc[0, "capacity"] == pytest.approx(16 * 4 ** 0.2)
    assert row.per_seed == f"0: {16 * 4 ** 0.2:.3g}, 1: {16 * 4 ** (0.1 / 0.25):.3g}, 2: <4"
    assert row.ci_high == 64 and np.isnan(row.ci_low)  # no size where the mean is >= 90% with confidence


def test_no_lower_bound_below_a_size_where_every_seed_is_above():
    # 91-99% at N = 16 at every seed: the across-seed interval of the mean reaches below 90%, the data do not
    table = seeds_table({0: [128, 117, 10], 1: [128, 127, 0], 2: [128, 121, 5]}, [4, 16, 64])
    row = capacity_across_seeds(table)[0].iloc[0]
    assert row.ci_low == 16 and row.ci_high == 64 and 16 < row.capacity < 64


def test_grid_interval_rules_and_a_curve_that_rises_again():
    sizes = np.array([4.0, 16, 64, 256])
    assert grid_interval(sizes, np.array([1, 1, 0, 0], bool), np.array([0, 0, 0, 1], bool))[:2] == (16, 256)
    lo, hi, note = grid_interval(sizes, np.array([0, 0, 0, 0], bool), np.array([0, 0, 0, 0], bool))
    assert np.isnan(lo) and np.isnan(hi) and note == ""
    lo, hi, note = grid_interval(sizes, np.array([1, 0, 1, 0], bool), np.array([0, 1, 0, 1], bool))
    assert np.isnan(lo) and np.isnan(hi) and "non-monotone" in note and "N = 16" in note
    table = seeds_table({0: [128, 10, 128, 0], 1: [128, 0, 128, 0]}, [4, 16, 64, 256])
    row = capacity_across_seeds(table)[0].iloc[0]
    assert (row.bracket_low, row.bracket_high) == (64, 256) and np.isnan(row.ci_low) and "non-monotone" in row.note


def test_one_seed_has_no_across_seed_interval():
    row = capacity_across_seeds(seeds_table({0: [128, 64, 0]}, [4, 16, 64]))[0].iloc[0]
    assert row.n_seeds == 1 and np.isnan(row.ci_low) and np.isnan(row.ci_high) and "one seed" in row.note
    assert (row.bracket_low, row.bracket_high) == (4, 16)


def test_budget_beside_every_capacity_in_the_table_and_markdown():
    table = pd.concat([seeds_table(DEMO_W16, [4, 16, 64]),
                       seeds_table({0: [128, 128, 0], 1: [127, 128, 0], 2: [128, 127, 0]}, [4, 16, 64])
                       .assign(width=32)])
    summary = capacity_across_seeds(table)[0]
    assert (summary.base_image_presentations == 800 * 32).all()
    w32 = summary.set_index("width").loc[32]
    assert w32.epochs_per_image == pytest.approx(800 * 32 / w32.capacity)
    md = capacity_markdown(summary)
    lines = [line for line in md.splitlines() if line.startswith("| mondrian") or line.startswith("| 16")
             or line.startswith("| 32")]
    assert len(lines) == 2 and all("800 steps x batch 32 = 25,600 presentations" in line for line in lines)
    assert "between N = 16 and 64, no size measured between" in md and "[16, 64)" in md
    assert "| < 4 |" in md and "[below the grid, 16)" in md and "at N = 4 (the bound)" in md
    pooled_md = capacity_markdown(memorization_capacity(table))
    assert pooled_md.count("800 steps x batch 32") == 2


@pytest.mark.parametrize(
    "table, kwargs, message",
    [(curve([1.0, 0.5, 0, 0]).drop(columns="n_samples"), {}, "lacks column"),
     (curve([1.0, 0.5, 0, 0]), {"level": 1.0}, "level"),
     (curve([1.5, 0.5, 0, 0]), {}, "replicate_fraction in"),
     (curve([], sizes=()), {}, "no rows")],
)
def test_capacity_rejects_bad_input(table, kwargs, message):
    with pytest.raises(MemgenError, match=message):
        memorization_capacity(table, **kwargs)


def paper_row(width, params, **over):
    row = {"model": f"UNet-{width}", "num_channels": width, "num_res_blocks": 3, "learn_sigma": True,
           "dropout": 0.3, "diffusion_steps": 4000, "noise_scheduler": "cosine", "optimizer": "Adam", "lr": 1e-4,
           "batch_size": 128, "train_steps": 500_000, "ema_rate": 0.9999, "parameters": params}
    return row | over


def test_table1_layout_and_separators():
    frame, md = table1([paper_row(64, 13_161_926), paper_row(128, 52_546_438)])
    assert frame.columns.tolist() == ["setting", "UNet-64", "UNet-128"]
    assert frame["setting"].tolist()[0] == "num_channels" and frame["setting"].tolist()[-1] == "parameters (measured)"
    assert "| parameters (measured) | 13,161,926 | 52,546,438 |" in md
    assert "| lr | 0.0001 | 0.0001 |" in md and "| train steps | 500,000 | 500,000 |" in md
    assert "| num_channels | 64 | 128 |" in md and "| dropout | 0.3 | 0.3 |" in md


def test_table1_accepts_aliases_and_rejects_bad_rows():
    row = paper_row(32, 1_140_000)
    row["steps"] = row.pop("train_steps")
    frame, _ = table1([row])
    assert frame.set_index("setting").loc["train steps", "UNet-32"] == "500,000"
    with pytest.raises(MemgenError, match="unknown key"):
        table1([paper_row(32, 1, widht=3)])
    with pytest.raises(MemgenError, match="lacks"):
        table1([{k: v for k, v in paper_row(32, 1).items() if k != "lr"}])
    with pytest.raises(MemgenError, match="distinct"):
        table1([paper_row(32, 1), paper_row(32, 2)])
    with pytest.raises(MemgenError, match="non-empty"):
        table1([])
