"""Tests of the across-seed tables: memgen.analysis.seeds (across_seeds, Comparison / compare), the capacity with
seed uncertainty (memgen.analysis.capacity.capacity_across_seeds) and the per-seed loss gap at its peak
(memgen.analysis.gap_peak)."""

import numpy as np
import pandas as pd
import pytest

from memgen.analysis.capacity import capacity_across_seeds, memorization_capacity
from memgen.analysis.gap_peak import gap_at_peak
from memgen.analysis.seeds import (COMPARISON_COLUMNS, Comparison, across_seeds, across_seeds_markdown, compare,
                                   comparisons_markdown, verdict_class)
from memgen.errors import MemgenError
from memgen.stats import seed_difference, seed_interval, wilson_interval


def _row(width, size, seed, rep, label=0, n=256, rule=True, **extra):
    """One replicates-table row (cell x label x seed) with the four-way outcome: rep replicates, 10 partial
    copies, the rest novel-valid with an eighth of it invalid (rule: a trained cell) or all novel (no rule)."""
    part = 10
    rest = n - rep - part
    row = dict(study="capacity", dataset="mondrian", width=width, size=size, dummy="none", ndummy=0,
               conditional=False, steps=1600, seed=seed, label=label, batch_size=64, n_samples=n, n_replicates=rep,
               replicate_fraction=rep / n, frac_replicate=rep / n, frac_partial_copy=part / n)
    lo, hi = wilson_interval(rep, n)
    row.update(ci_low=lo, ci_high=hi)
    if rule:
        row.update(frac_novel_valid=(rest - rest // 8) / n, frac_invalid=(rest // 8) / n, frac_novel=np.nan)
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
        Comparison("switched-off generalization", {"width": 16, "size": 64}, {"width": 64, "size": 64}, expected=-1,
                   claim="generalization"),
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
    assert out.loc["rise with width at N = 64", "verdict"] == "unresolved at 3/1 seeds"  # the seeds each side used
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
    assert out.loc["switched-off generalization", "verdict"] == "not run" and text.count("not run (b:") == 2


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
        Comparison("bad", {"size": 64}, expected=2)
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


# ----------------------------------------------------------------------- the three parts of a claim (issue 23.1)
def _cell(per_seed, n=128, **grid):
    """Rows of one cell: per seed the fractions (replicate, partial copy, novel and valid, invalid) of n samples."""
    rows = []
    for seed, fracs in enumerate(per_seed):
        k = [round(f * n) for f in fracs]
        k[2] = n - k[0] - k[1] - k[3]  # the four outcomes of every sample sum to n
        rows.append(dict(grid, seed=seed, n_samples=n, n_replicates=k[0], replicate_fraction=k[0] / n,
                         frac_partial_copy=k[1] / n, frac_novel_valid=k[2] / n, frac_invalid=k[3] / n))
    return rows


COPYING = _cell([(0.86, 0.05, 0.08, 0.01), (0.75, 0.08, 0.14, 0.03), (0.73, 0.07, 0.17, 0.03)], ndummy=0, steps=800)


def _claim(b_rows, expected=-1, claim="generalization", verdicts=None, a_rows=COPYING):
    table = pd.DataFrame(a_rows + b_rows)
    spec = Comparison("x", {"ndummy": 0, "steps": 800}, {"ndummy": 16, "steps": b_rows[0]["steps"]},
                      expected=expected, paired=True, claim=claim, quote="Yoon et al.: ...")
    return compare(table, [spec], verdicts).iloc[0]


def test_a_step_200_snapshot_against_a_trained_cell_is_untestable():
    # 0% replicates and 100% invalid at every seed: it copies nothing because it draws noise (Section 3: "training
    # can entirely fail and achieve neither")
    snapshot = _cell([(0.0, 0.0, 0.0, 1.0)] * 3, ndummy=16, steps=200)
    for claim in ("generalization", "replication"):
        r = _claim(snapshot, claim=claim)
        assert r.ci_high < 0 and r.copy_result == "supported"  # copies fell, decisively
        assert r.verdict == "untestable at this budget (ndummy=16, steps=200: 100.0% invalid)", r.verdict
        assert r.invalid_b == 1.0 and r.trained.startswith("no (") and verdict_class(r.verdict) == "untestable"
    r = _claim(snapshot, verdicts={"max_invalid": 1.0})  # a budget setting that lets anything through
    assert r.verdict.startswith("reversed (generalization moved against")  # 15% novel & valid -> 0%


def test_fewer_copies_with_more_invalid_samples_is_not_supported():
    # the demo's GM-dummy cell: copies fall 57 pp, novel and valid barely move, invalid rises to 48%
    gm = _cell([(0.25, 0.20, 0.09, 0.46), (0.20, 0.16, 0.12, 0.52), (0.17, 0.10, 0.26, 0.47)], ndummy=16, steps=800)
    r = _claim(gm)
    assert r.copy_result == "supported" and verdict_class(r.verdict) == "untestable" and "48." in r.verdict
    loose = _claim(gm, verdicts={"max_invalid": 0.6})  # trained enough by a looser setting: still not supported
    assert loose.trained == "yes" and loose.gen_measure == "frac_novel_valid"
    assert loose.verdict == "unresolved (copies moved as claimed; generalization unresolved at 3 seeds)", loose.verdict
    assert np.isfinite(loose.gen_ci_low) and loose.gen_ci_low < 0 < loose.gen_ci_high
    assert loose.p_claim == max(loose.p_value, loose.gen_p_value) and loose.p_holm == loose.p_claim
    replication = _claim(gm, claim="replication", verdicts={"max_invalid": 0.6})
    assert replication.verdict == "supported" and replication.gen_measure == ""  # copies alone decide


def test_generalization_against_the_claim_is_reversed_and_wrong_way_copies_are_said():
    # copies fall, but into partial copies: novel and valid falls from ~60% to ~20%
    pieces = _cell([(0.10, 0.62, 0.22, 0.06), (0.12, 0.66, 0.18, 0.04), (0.08, 0.64, 0.23, 0.05)], ndummy=16,
                   steps=800)
    high = _cell([(0.30, 0.04, 0.62, 0.04), (0.28, 0.05, 0.63, 0.04), (0.33, 0.03, 0.60, 0.04)], ndummy=0, steps=800)
    r = _claim(pieces, a_rows=high)
    assert r.copy_result == "supported" and r.gen_result == "reversed" and r.gen_diff < 0
    assert r.verdict == "reversed (generalization moved against the claim; copies moved as claimed)", r.verdict
    # copies rise (the wrong way) while generalization does not move beyond its seed spread
    more = _cell([(0.55, 0.04, 0.38, 0.03), (0.60, 0.03, 0.33, 0.04), (0.52, 0.05, 0.40, 0.03)], ndummy=16, steps=800)
    wide = _cell([(0.28, 0.04, 0.64, 0.04), (0.31, 0.05, 0.35, 0.29 - 0.05), (0.33, 0.03, 0.60, 0.04)], ndummy=0,
                 steps=800)
    r = _claim(more, a_rows=wide)
    assert r.copy_result == "reversed" and r.gen_result.startswith("unresolved")
    assert r.verdict.startswith("unresolved (copies moved against the claim (+") and "generalization unresolved" in \
        r.verdict, r.verdict
    good = _cell([(0.02, 0.02, 0.93, 0.03), (0.0, 0.03, 0.94, 0.03), (0.01, 0.02, 0.95, 0.02)], ndummy=16, steps=800)
    assert _claim(good).verdict == "supported"
    text = comparisons_markdown(compare(pd.DataFrame(COPYING + good), [Comparison(
        "dummies lower replicates", {"ndummy": 0}, {"ndummy": 16}, expected=-1, paired=True, claim="generalization",
        quote="Yoon et al., Hypothesis 2: \"...\"")]))
    assert "frac_novel_valid: " in text and "Yoon et al., Hypothesis 2" in text and "yes" in text


def test_a_kind_without_a_validity_rule_is_not_supported_as_generalization():
    cars = [dict(r, frac_novel_valid=np.nan, frac_invalid=np.nan) for r in COPYING]
    fewer = [dict(r, frac_novel_valid=np.nan, frac_invalid=np.nan) for r in
             _cell([(0.02, 0.02, 0.93, 0.03), (0.0, 0.03, 0.94, 0.03), (0.01, 0.02, 0.95, 0.02)], ndummy=16, steps=800)]
    r = _claim(fewer, a_rows=cars)
    assert r.verdict.startswith("unresolved (generalization not measured") and r.gen_measure == ""
    assert np.isnan(r.p_claim)  # the claim was not tested
    r = _claim(fewer, a_rows=cars, claim="replication")
    assert r.verdict == "supported" and "trained not measured" in r.note
    proxied = [dict(r, agreement=0.1 * r["seed"]) for r in cars] + [dict(r, agreement=0.8) for r in fewer]
    spec = Comparison("x", {"ndummy": 0}, {"ndummy": 16}, expected=-1, paired=True, claim="generalization",
                      proxy="agreement")
    r = compare(pd.DataFrame(proxied), [spec]).iloc[0]
    assert r.gen_measure == "agreement" and r.gen_result == "supported"
    assert r.verdict.startswith("unresolved (trained not measured")  # no rule tells failed training apart


def test_equivalence_is_tost_with_the_stated_margin():
    a = _cell([(0.30, 0.05, 0.62, 0.03), (0.32, 0.05, 0.60, 0.03), (0.31, 0.05, 0.61, 0.03)], n=2000, ndummy=0,
              steps=800)
    same = _cell([(0.31, 0.05, 0.61, 0.03), (0.31, 0.05, 0.61, 0.03), (0.30, 0.05, 0.62, 0.03)], n=2000, ndummy=16,
                 steps=800)
    far = _cell([(0.50, 0.05, 0.42, 0.03), (0.52, 0.05, 0.40, 0.03), (0.51, 0.05, 0.41, 0.03)], n=2000, ndummy=16,
                steps=800)
    r = _claim(same, expected=0, claim="replication", a_rows=a)
    assert r.verdict == "supported" and r.confidence == 0.90 and r.margin == 0.05
    assert -0.05 < r.ci_low and r.ci_high < 0.05 and r.p_value < 0.05  # TOST's p
    assert _claim(far, expected=0, claim="replication", a_rows=a).verdict == "reversed"  # 20 pp > the margin
    wide = _claim(same, expected=0, claim="replication", a_rows=a, verdicts={"equivalence_margin": 0.001})
    assert wide.verdict == "unresolved at 3 seeds" and wide.p_value > 0.05
    assert "TOST +-5.0 pp" in comparisons_markdown(pd.DataFrame([r]))
    with pytest.raises(MemgenError, match="must state its margin"):
        compare(pd.DataFrame([dict(width=16, seed=s, gap=0.1) for s in range(3)]),
                [Comparison("no change", {"width": 16}, 0.1, measure="gap", expected=0)])


def test_a_zero_spread_one_sample_claim_gets_a_p_value():
    zero = pd.DataFrame(_cell([(0.0, 0.0, 0.97, 0.03)] * 3))
    r = compare(zero, [Comparison("copies below 10%", {"seed": [0, 1, 2]}, 0.1, expected=-1)]).iloc[0]
    assert r.verdict == "supported" and 0 < r.p_value < 1e-10  # 0 of 384 samples against 10%: the binomial test
    gap = pd.DataFrame([dict(step=800, seed=s, gap=0.25) for s in range(3)])
    r = compare(gap, [Comparison("gap > 0", {"step": 800}, None, measure="gap")]).iloc[0]
    assert r.p_value == 0.0 and r.verdict == "supported"


def test_a_flagged_part_is_not_decided(monkeypatch):
    import memgen.analysis.verdicts as verdicts

    def flagged(*args, **kwargs):
        return seed_difference(*args, **kwargs) | {"flag": "seed spread bimodal: more seeds needed"}

    good = _cell([(0.02, 0.02, 0.93, 0.03), (0.0, 0.03, 0.94, 0.03), (0.01, 0.02, 0.95, 0.02)], ndummy=16, steps=800)
    assert _claim(good).verdict == "supported"
    monkeypatch.setattr(verdicts, "seed_difference", flagged)
    r = _claim(good)
    assert r.verdict.startswith("unresolved (copies unresolved (seed spread bimodal") and r.flag, r.verdict
    assert _claim(good, claim="replication").verdict == "unresolved (seed spread bimodal: more seeds needed)"


def test_one_seed_cells_have_no_across_seed_interval_and_n_seeds_counts_the_seeds_used():
    imported = pd.DataFrame(_cell([(0.0, 0.0, 0.0, 1.0)], width=32) + _cell([(1.0, 0.0, 0.0, 0.0)], width=64))
    text = across_seeds_markdown(across_seeds(imported))
    assert text.count("one seed, no across-seed interval") == 2
    assert "[0.0-0.0]" not in text and "[100.0-100.0]" not in text and "100.0%" in text
    rows = _cell([(0.5, 0.1, 0.3, 0.1)] * 3, width=16)
    rows[1] |= {"replicate_fraction": np.nan, "n_samples": 0}  # a seed whose classifier kept no sample of the label
    out = across_seeds(pd.DataFrame(rows)).iloc[0]
    assert out.n_seeds == 2 and out.seeds == "0,2" and out.n_samples == 256
