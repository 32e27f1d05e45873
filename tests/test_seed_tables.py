"""Tests of the across-seed tables: memgen.analysis.seeds (across_seeds, Comparison / compare), the capacity with
seed uncertainty (memgen.analysis.capacity.capacity_across_seeds) and the per-seed loss gap at its peak
(memgen.analysis.gap_peak)."""

import numpy as np
import pandas as pd
import pytest

from memgen.analysis.capacity import capacity_across_seeds, memorization_capacity
from memgen.analysis.gap_peak import gap_at_peak
from memgen.analysis.seeds import (COMPARISON_COLUMNS, Comparison, across_seeds, across_seeds_markdown, compare,
                                   comparisons_markdown)
from memgen.errors import MemgenError
from memgen.stats import seed_interval, wilson_interval


def _row(width, size, seed, rep, label=0, n=256, rule=True, **extra):
    """One replicates-table row (cell x label x seed) with the four-way outcome: rep replicates, 10 partial
    copies, the rest split between novel-valid and invalid (rule) or all novel (no rule)."""
    part = 10
    rest = n - rep - part
    row = dict(study="capacity", dataset="mondrian", width=width, size=size, dummy="none", ndummy=0,
               conditional=False, steps=1600, seed=seed, label=label, batch_size=64, n_samples=n, n_replicates=rep,
               replicate_fraction=rep / n, frac_replicate=rep / n, frac_partial_copy=part / n)
    lo, hi = wilson_interval(rep, n)
    row.update(ci_low=lo, ci_high=hi)
    if rule:
        row.update(frac_novel_valid=(rest // 2) / n, frac_invalid=(rest - rest // 2) / n, frac_novel=np.nan)
    else:
        row.update(frac_novel_valid=np.nan, frac_invalid=np.nan, frac_novel=rest / n)
    return row | extra


@pytest.fixture
def replicates():
    rows = [_row(16, 64, s, r) for s, r in zip((1, 0, 2), (125, 154, 220))]  # 49 / 60 / 86%
    rows += [_row(16, 256, s, r) for s, r in zip((0, 1, 2), (3, 0, 8))]
    rows += [_row(32, 64, 0, 200, rule=False)]  # one seed
    return pd.DataFrame(rows)


def test_across_seeds_one_row_per_cell(replicates):
    out = across_seeds(replicates)
    assert len(out) == 3 and "seed" not in out.columns
    first = out[(out.width == 16) & (out["size"] == 64)].iloc[0]
    assert first.n_seeds == 3 and first.seeds == "0,1,2" and first.n_samples == 768
    assert first.per_seed_replicate == "60.2/48.8/85.9"  # in seed order
    k = np.array([154, 125, 220])
    mean, lo, hi = seed_interval(k / 256, k, np.full(3, 256))
    assert (first.mean_replicate, first.ci_low_replicate, first.ci_high_replicate) == pytest.approx((mean, lo, hi))
    assert first.min_replicate == pytest.approx(125 / 256) and first.max_replicate == pytest.approx(220 / 256)
    assert first.mean_partial_copy == pytest.approx(10 / 256) and np.isnan(first.mean_novel)
    single = out[out.width == 32].iloc[0]
    assert single.n_seeds == 1 and np.isnan(single.ci_low_replicate) and np.isnan(single.mean_novel_valid)
    assert single.mean_novel == pytest.approx(46 / 256)
    text = across_seeds_markdown(out)
    assert "65.0% (" in text and "[48.8-85.9]" in text and "*" in text and text.count("\n") == 5
    dup = pd.concat([replicates, replicates.iloc[:1]])
    with pytest.raises(MemgenError, match="seed 1 appears in 2 rows"):
        across_seeds(dup)


def test_compare_paired_welch_one_sample_and_not_run(replicates):
    comparisons = [
        Comparison("replicates fall with N (width 16)", {"width": 16, "size": 64}, {"width": 16, "size": 256},
                   expected=-1, paired=True),
        Comparison("same, unpaired", {"width": 16, "size": 64}, {"width": 16, "size": 256}, expected=-1),
        Comparison("rise with width at N = 64", {"width": 16, "size": 64}, {"width": 32, "size": 64}),
        Comparison("switched-off cell", {"width": 16, "size": 64}, {"width": 64, "size": 64}),
        Comparison("replicates above 30%", {"width": 16, "size": 64}, 0.3),
        Comparison("replicates above 10%", {"width": 16, "size": 64}, 0.1),
        Comparison("novel-valid at a no-rule cell", {"width": 32}, {"width": 16, "size": 64},
                   measure="frac_novel_valid"),
    ]
    out = compare(replicates, comparisons).set_index("name")
    assert list(out.reset_index().columns) == COMPARISON_COLUMNS
    r = out.loc["replicates fall with N (width 16)"]
    assert r.test == "paired t" and r.verdict == "supported" and r['diff'] < 0 and r.ci_high < 0
    assert (r.n_seeds_a, r.n_seeds_b) == (3, 3) and r.a == "width=16, size=64"
    assert out.loc["same, unpaired", "test"] == "Welch t"
    assert out.loc["rise with width at N = 64", "verdict"] == "unresolved at 1 seeds"
    off = out.loc["switched-off cell"]
    assert off.verdict == "not run" and "no row matches width=64, size=64" in off.note
    one = out.loc["replicates above 30%"]  # 49 / 60 / 86%: at 3 seeds the interval runs from ~17% to ~99%
    assert one.test == "one-sample t" and one.mean_b == 0.3 and one.verdict == "unresolved at 3 seeds"
    assert out.loc["replicates above 10%", "verdict"] == "supported"
    assert out.loc["novel-valid at a no-rule cell", "verdict"] == "not run"
    ran = out["p_value"].notna()
    assert (out.loc[ran, "p_holm"] >= out.loc[ran, "p_value"]).all() and out.loc[~ran, "p_holm"].isna().all()
    text = comparisons_markdown(out.reset_index())
    assert "pp (" in text and "supported" in text and "not run (b: no row matches" in text


def test_compare_any_tidy_table_and_ambiguous_filters():
    # an agreement-like table: width, size, seed, median_similarity (no trials column: plain t on the values)
    rng = np.random.default_rng(0)
    rows = [dict(width=w, size=n, seed=s, median_similarity=sim + 0.02 * rng.normal())
            for w in (16, 32) for n, sim in ((64, 0.1), (4096, 0.8)) for s in range(3)]
    table = pd.DataFrame(rows)
    out = compare(table, [Comparison("agreement rises with N", {"width": 16, "size": 64}, {"width": 16, "size": 4096},
                                     measure="median_similarity", paired=True)])
    assert out.iloc[0].verdict == "supported" and out.iloc[0]['diff'] == pytest.approx(0.7, abs=0.1)
    with pytest.raises(MemgenError, match="pin the columns that differ among them \\(width"):
        compare(table, [Comparison("ambiguous", {"size": 64}, {"size": 4096}, measure="median_similarity")])
    with pytest.raises(MemgenError, match="expected"):
        Comparison("bad", {"size": 64}, expected=0)
    missing = compare(table, [Comparison("no such measure", {"size": 64}, measure="frac_same")])
    assert missing.iloc[0].verdict == "not run"


def test_compare_paired_keeps_the_common_seeds():
    table = pd.DataFrame([dict(cell=c, seed=s, value=v) for c, s, v in
                          [("a", 0, 1.0), ("a", 1, 2.0), ("a", 2, 3.0), ("b", 0, 1.5), ("b", 1, 2.6), ("b", 3, 9.0)]])
    r = compare(table, [Comparison("x", {"cell": "a"}, {"cell": "b"}, measure="value", paired=True)]).iloc[0]
    assert r.test == "paired t" and r.n_seeds_a == r.n_seeds_b == 2 and "2 common seeds" in r.note
    assert r['diff'] == pytest.approx(0.55)


# ------------------------------------------------------------------------------------------- capacity with seeds
def _capacity_table(rng, capacity, tau, slope, n_seeds, sizes, n=256):
    """Replicate counts of simulated seeds: seed s replicates with probability sigmoid(logit(0.9) - slope *
    (log N - log C_s)), log C_s ~ Normal(log capacity, tau), so seed s crosses 90% at C_s."""
    rows = []
    for s in range(n_seeds):
        log_c = np.log(capacity) + tau * rng.normal()
        for size in sizes:
            p = 1 / (1 + np.exp(-(np.log(9) - slope * (np.log(size) - log_c))))
            k = rng.binomial(n, p)
            rows.append(dict(width=16, size=size, seed=s, replicate_fraction=k / n, n_samples=n, n_replicates=k))
    return pd.DataFrame(rows)


def _definition_capacity(capacity, tau, slope):
    """Definition 3.1's capacity of that simulation: where the seed-averaged curve E_s[p_s(N)] crosses 0.9
    (Gauss-Hermite quadrature over log C_s, bisection in log N)."""
    x, w = np.polynomial.hermite_e.hermegauss(64)
    mean = lambda log_n: (w / np.sqrt(2 * np.pi) * (1 / (1 + np.exp(-(np.log(9) - slope * (  # noqa: E731
        log_n - np.log(capacity) - tau * x)))))).sum()
    lo, hi = np.log(1.0), np.log(1e6)
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if mean(mid) >= 0.9 else (lo, mid)
    return float(np.exp(lo))


@pytest.mark.parametrize("tau,n_seeds", [(0.3, 3), (0.05, 5)])
def test_capacity_interval_covers_a_known_capacity(tau, n_seeds):
    # A factor-2 grid of sizes around a capacity of 100; tau = 0.05: seeds nearly alike, where an interval from the
    # seeds' interpolated crossings alone misses (the interpolation is biased inside the bracket).
    rng = np.random.default_rng([3, n_seeds])
    sizes = [8 * 2**i for i in range(9)]
    target = _definition_capacity(100, tau, 3.0)
    trials, hits = 150, 0
    for i in range(trials):
        summary, per_seed = capacity_across_seeds(_capacity_table(rng, 100, tau, 3.0, n_seeds, sizes))
        row = summary.iloc[0]
        hits += row.ci_low <= target < row.ci_high
        assert row.ci_low <= row.capacity <= row.ci_high and len(per_seed) == n_seeds
    # Nominal 95%, conservative by construction (bounds at grid sizes); tolerance >= 0.93 over 150 studies.
    assert hits / trials >= 0.93, hits / trials


def test_capacity_per_seed_and_floors():
    rng = np.random.default_rng(5)
    table = _capacity_table(rng, 100, 0.0, 20.0, 3, [16, 32, 64, 128, 256])  # a cliff: every seed alike
    summary, per_seed = capacity_across_seeds(table)
    row = summary.iloc[0]
    assert list(per_seed["seed"]) == [0, 1, 2] and per_seed["censored"].isna().all()
    assert row.n_seeds == 3 and row.seeds == "0,1,2" and row.censored is None
    pooled = memorization_capacity(table.drop(columns="seed")).iloc[0]
    assert row.ci_low <= pooled.ci_low and row.ci_high >= pooled.ci_high  # never narrower than the pooled samples
    assert row.ci_low <= 64 and row.ci_high >= 128  # never narrower than the grid's bracket
    above = table.assign(replicate_fraction=np.where(table.seed == 0, 1.0, table.replicate_fraction),
                         n_replicates=np.where(table.seed == 0, 256, table.n_replicates))
    summary, per_seed = capacity_across_seeds(above)
    # seed 0 copies at every size: a bound (>= 256) for that seed, no upper bound for the seed mean
    assert summary.iloc[0].n_seeds_censored == 1 and np.isnan(summary.iloc[0].ci_high)
    assert per_seed.loc[per_seed.seed == 0, "censored"].iloc[0] == "all above"
    one, _ = capacity_across_seeds(table[table.seed == 0])
    assert np.isnan(one.iloc[0].ci_low) and one.iloc[0].n_seeds == 1
    with pytest.raises(MemgenError, match="seed"):
        capacity_across_seeds(table.drop(columns="seed"))


# --------------------------------------------------------------------------------------------- loss gap at peak
def _loss_table(gaps_by_seed: dict[int, list[float]], steps=(1000, 2000), images=4):
    """Per-image losses: held-out image i is above train image i by the seed's gap at each level (x step / 1000)."""
    rows = []
    for seed, gaps in gaps_by_seed.items():
        for step in steps:
            for t, gap in enumerate(gaps):
                base = 0.1 + 0.01 * t
                for i in range(images):
                    for split, loss in (("train", base), ("heldout", base + gap * step / 1000)):
                        rows.append(dict(step=step, batch_size=64, t=t * 100, alpha_bar=1 - 0.1 * (t + 1),
                                         log_snr=float(-t), split=split, index=i, loss=loss, seed=seed))
    return pd.DataFrame(rows)


def test_gap_at_peak_reads_every_seed_at_the_mean_peak():
    # the mean gap peaks at level 2 (t = 200); seed 1 alone would peak at level 1
    table = _loss_table({0: [0.0, 0.01, 0.05, 0.01], 1: [0.0, 0.04, 0.03, 0.0], 2: [0.0, 0.01, 0.04, 0.02]})
    out = gap_at_peak(table)
    assert len(out) == 6 and set(out["t"]) == {200} and list(out.columns[:2]) == ["step", "batch_size"]
    s1 = out[(out.step == 1000) & (out.seed == 1)].iloc[0]
    assert s1.gap == pytest.approx(0.03) and s1.n_images == 2  # the odd-indexed images (the level is chosen on even)
    assert out[out.step == 2000].gap.to_numpy() == pytest.approx([0.10, 0.06, 0.08])
    claims = [Comparison(f"gap > 0 at step {s}", {"step": s}, None, measure="gap") for s in (1000, 2000)]
    verdicts = compare(out, claims)
    assert (verdicts["test"] == "one-sample t").all() and (verdicts["verdict"] == "supported").all()
    with pytest.raises(MemgenError, match="seed"):
        gap_at_peak(table.drop(columns="seed"))
