"""The dynamics analysis: onset times from log-spaced snapshots, the exponent of tau_mem(N) with censoring, the
equivalence test of tau_gen, stopping points (`memgen.analysis.dynamics`)."""

import numpy as np
import pandas as pd
import pytest

from memgen.analysis.dynamics import (INTERVAL, LEFT, RIGHT, UNDEFINED, first_passage, onset_across_seeds,
                                      onset_times, stopping_points)
from memgen.analysis import dynamics_tables as dt
from memgen.analysis.exponent import exponent_claims, fit_exponent
from memgen.errors import MemgenError
from memgen.studies.catalog.dynamics import BONNAIRE

SIZES = (16, 32, 64, 128)


def simulate(rng, beta_mem=1.0, beta_gen=0.0, budget=20000, snaps=10, seeds=3, seed_sd=0.2, noise_sd=0.15):
    """Runs whose replicate fraction rises as a logistic in log steps around tau_mem = 20 N^beta_mem (times a
    seed factor and run noise), and whose valid fraction (1 - invalid) rises around tau_gen = 150 N^beta_gen; the
    novel-valid fraction is what of the valid samples is not a replicate."""
    steps = np.unique(np.round(np.geomspace(50, budget, snaps)))
    rows = []
    for seed in range(seeds):
        a = rng.normal(0, seed_sd)
        for n in SIZES:
            tau_mem = np.exp(np.log(20) + a + beta_mem * np.log(n) + rng.normal(0, noise_sd))
            tau_gen = np.exp(np.log(150) + a + beta_gen * np.log(n) + rng.normal(0, noise_sd))
            rep = 1 / (1 + np.exp(-4 * (np.log(steps) - np.log(tau_mem))))
            gen = 1 / (1 + np.exp(-4 * (np.log(steps) - np.log(tau_gen))))
            rows += [dict(width=16, size=n, seed=seed, weights="raw", steps=s, replicate_fraction=r,
                          frac_novel_valid=max(g - r, 0.0), frac_invalid=1 - g, n_samples=128)
                     for s, r, g in zip(steps, rep, gen)]
    return pd.DataFrame(rows)


def test_first_passage_interpolates_on_log_steps_and_censors():
    est, lo, hi, cens = first_passage([100, 400, 1600], [0.0, 0.0, 0.2], 0.1)
    assert (lo, hi, cens) == (400, 1600, INTERVAL)
    assert est == pytest.approx(800.0)  # halfway in log steps between 400 and 1600
    assert first_passage([100, 400], [0.5, 0.9], 0.1)[1:] == (0.0, 100.0, LEFT)
    est, lo, hi, cens = first_passage([100, 400], [0.0, 0.05], 0.1)
    assert np.isnan(est) and (lo, hi, cens) == (400.0, np.inf, RIGHT)
    with pytest.raises(MemgenError, match="increasing"):
        first_passage([400, 100], [0, 1], 0.5)


@pytest.mark.parametrize("budget", [20000, 2000])  # 2000: the larger sizes never copy within the budget
def test_exponent_recovered_with_its_seed_interval(budget):
    rng = np.random.default_rng(1)
    betas, covered, censored = [], 0, 0
    for _ in range(40):
        onsets = onset_times(simulate(rng, budget=budget), gen_level=0.5, mem_level=0.5)
        censored += int((onsets["tau_mem_censoring"] == RIGHT).sum())
        fit = fit_exponent(onsets, "tau_mem")
        betas.append(fit["beta"])
        covered += fit["ci_low"] <= 1.0 <= fit["ci_high"]
    if budget == 2000:
        assert censored >= 40  # the censored case is really exercised (about 2 of 12 runs per study)
    assert abs(np.mean(betas) - 1.0) < 0.05
    assert covered >= 34  # 95% nominal; 34 of 40 is below the 2.5% binomial tail of 0.95


def test_censored_runs_are_bounds_not_crossings_at_the_budget():
    """Reading a never-copying run as copying at the last snapshot biases the exponent low; the Tobit fit does
    not. Same simulated studies, both readings."""
    rng = np.random.default_rng(2)
    fitted, naive = [], []
    for _ in range(30):
        onsets = onset_times(simulate(rng, budget=1000), gen_level=0.5, mem_level=0.5)
        fitted.append(fit_exponent(onsets, "tau_mem")["beta"])
        at_edge = onsets.assign(tau_mem=onsets["tau_mem"].fillna(onsets["last_step"]))
        x, y = np.log(at_edge["size"]), np.log(at_edge["tau_mem"])
        naive.append(np.polyfit(x, y, 1)[0])
    assert abs(np.mean(fitted) - 1.0) < 0.06
    assert np.mean(naive) < 0.85


def test_claims_verdicts_growth_and_equivalence():
    rng = np.random.default_rng(3)
    claims = exponent_claims(onset_times(simulate(rng), 0.5, 0.5), equivalence_margin=0.25, quote=BONNAIRE)
    mem = claims[claims["name"] == "tau_mem grows with N"].iloc[0]
    gen = claims[claims["name"] == "tau_gen does not depend on N"].iloc[0]
    assert mem["verdict"] == "supported" and mem["contains_1"]
    assert gen["verdict"].startswith("supported (equivalent")
    assert "tau_mem increases linearly" in mem["quote"]
    # tau_gen that grows like N is not equivalent to constant: reversed
    grows = exponent_claims(onset_times(simulate(rng, beta_gen=0.8), 0.5, 0.5), equivalence_margin=0.25,
                            quote=BONNAIRE)
    assert grows[grows["name"] == "tau_gen does not depend on N"].iloc[0]["verdict"] == "reversed"
    # no growth of tau_mem: not supported
    flat = exponent_claims(onset_times(simulate(rng, beta_mem=0.0), 0.5, 0.5), equivalence_margin=0.25,
                           quote=BONNAIRE)
    assert not flat[flat["name"] == "tau_mem grows with N"].iloc[0]["verdict"].startswith("supported")


def test_unusable_seed_is_left_out_and_named():
    rng = np.random.default_rng(4)
    table = simulate(rng)
    table.loc[table["seed"] == 2, "replicate_fraction"] = 0.0  # seed 2 never copies at any size
    fit = fit_exponent(onset_times(table, 0.5, 0.5), "tau_mem")
    assert fit["seeds_used"] == [0, 1] and "seed(s) 2" in fit["note"]


def test_across_seeds_and_stopping_points():
    table = pd.DataFrame([dict(width=16, size=16, seed=s, weights="raw", steps=st, replicate_fraction=r,
                               frac_novel_valid=0.5, frac_invalid=0.2, n_samples=128)
                          for s, reps in enumerate([(0, 0, 0.02, 0.5), (0, 0.01, 0.2, 0.9), (0, 0, 0, 0.3)])
                          for st, r in zip((100, 200, 400, 800), reps)])
    stop = stopping_points(table, level=0.05).iloc[0]
    assert stop["stop_before"] == 200 and stop["first_unsafe"] == 400  # seed 1 reaches 20% at 400
    across = onset_across_seeds(onset_times(table, gen_level=0.5, mem_level=0.1)).iloc[0]
    assert across["n_seeds"] == 3 and across["tau_gen_censored"] == "3 left"
    assert across["tau_novel_censored"] == "3 left"
    assert 200 < across["tau_mem_mean"] < 800 and across["tau_mem_ci_low"] < across["tau_mem_mean"]


def test_onsets_without_a_validity_rule():
    """Real images have no validity rule: tau_gen is undefined (no measure of quality), tau_novel reads the novel
    fraction, and the exponent fit of an undefined onset leaves every run out instead of failing."""
    table = pd.DataFrame([dict(width=16, size=n, seed=s, steps=st, replicate_fraction=min(1.0, st / (40.0 * n)),
                               frac_novel=1 - min(1.0, st / (40.0 * n)), n_samples=64)
                          for s in range(2) for n in (16, 64) for st in (100, 400, 1600, 6400)])
    onsets = onset_times(table, gen_level=0.5, mem_level=0.5)
    assert (onsets["tau_gen_censoring"] == UNDEFINED).all() and onsets["tau_gen"].isna().all()
    assert (onsets["tau_novel_measure"] == "novel").all() and (onsets["tau_novel_censoring"] == LEFT).all()
    assert np.isnan(fit_exponent(onsets, "tau_gen")["beta"])
    assert fit_exponent(onsets, "tau_mem")["beta"] > 0


def test_the_study_tables_read_the_same_fit():
    """The per-seed slopes the comparisons test are the fit's (their mean is its beta), and every table renders."""
    table = simulate(np.random.default_rng(5))
    per_seed = dt.per_seed_exponents(table, 0.5, 0.5)
    summary = dt.exponent_table(table, 0.5, 0.5, 0.25, BONNAIRE).set_index("measure")
    for onset in ("tau_mem", "tau_gen"):
        slopes = per_seed.loc[per_seed["onset"] == onset, "beta"]
        assert len(slopes) == 3 and slopes.mean() == pytest.approx(summary.loc[f"beta of log {onset} on log N", "beta"])
    assert summary["sizes"].eq("16/32/64/128").all()
    onsets = dt.onset_table(table, 0.5, 0.5)
    assert "[" in dt.onset_markdown(onsets) and "tau_novel" in dt.onset_markdown(onsets)
    assert dt.onset_seeds_markdown(dt.onset_seeds_table(table, 0.5, 0.5)).count("\n") == 2 + 4  # a line per size
    assert "stop before step" in dt.stopping_markdown(dt.stopping_table(table.assign(ci_high=0.1), 0.05))
    assert "tau_mem increases linearly" in dt.exponent_markdown(summary.reset_index())


def test_figure_marks_the_onsets(tmp_path):
    """The figure of one kind of weights: a panel per size, on it the three outcomes and a line per onset seen, in
    the colour of the measure whose level it marks, and "stop before" where the stopping table has it; its table
    has every size's snapshots and every mark drawn."""
    from matplotlib.figure import Figure

    from memgen.analysis.dynamics_figure import MARKS, _draw_marks, dynamics_figure, onset_lines
    from memgen.analysis.galleries import OUTCOME_COLORS

    table = simulate(np.random.default_rng(6)).assign(ci_low=0.0, ci_high=1.0, frac_partial_copy=0.0, label=0)
    onsets = dt.onset_seeds_table(table, 0.5, 0.5)
    stopping = dt.stopping_table(table, 0.5)
    drawn = dynamics_figure(table, onsets, tmp_path / "fig.png", weights="raw", level=0.5, stopping=stopping)
    assert (tmp_path / "fig.png").read_bytes()[:4] == b"\x89PNG"
    cells, marks = drawn[drawn["part"] == "cell"], drawn[drawn["part"] == "onset"]
    assert sorted(cells["size"].unique()) == sorted(SIZES)
    assert len(cells) == table[["size", "steps"]].drop_duplicates().shape[0]
    seen = sum(int(onsets[f"{o}_mean"].notna().sum()) for o in MARKS)  # every onset seen at every seed here
    assert (marks["onset"] != "stop_before").sum() == seen == len(MARKS) * len(SIZES)
    assert (marks["onset"] == "stop_before").sum() == int(stopping["stop_before"].notna().sum())
    with pytest.raises(MemgenError, match="no rows of the ema weights"):
        dynamics_figure(table, onsets, tmp_path / "none.png", weights="ema")
    ax = Figure().subplots()
    lines = onset_lines(onsets, None, {"size": SIZES[0]})
    _draw_marks(ax, lines)
    assert [m["onset"] for m in lines] == list(MARKS)  # one line per onset on this size's panel
    for line, mark in zip(ax.lines, lines):
        assert line.get_color() == OUTCOME_COLORS[MARKS[mark["onset"]]] and line.get_xdata()[0] == mark["step"]


def test_a_slope_resting_on_runs_that_never_learned_to_draw_is_untestable():
    """The trained guard of the verdicts, per size: a run whose samples are mostly invalid at its step budget has
    not "not copied yet", so both claims of a width and weights whose fit includes such a size read "untestable at
    this budget", naming the sizes, in the comparisons (the verdicts the study reports) and in the exponent table
    alike; with every size trained the same slopes are decided."""
    from memgen.analysis.claims import comparisons_table
    from memgen.studies.catalog.dynamics import claims as dynamics_claims

    table = simulate(np.random.default_rng(9))
    last = table["steps"] == table["steps"].max()
    untrained = table.assign(frac_invalid=np.where(last & (table["size"] >= 64), 0.6, table["frac_invalid"]))
    per_seed = dt.per_seed_exponents(untrained, 0.5, 0.5, max_invalid=0.25)
    assert per_seed["untrained"].eq("64, 128").all() and per_seed["frac_invalid"].eq(0.6).all()

    class Grid:  # what the study's claims read: its block and the config's widths
        class cfg:
            @staticmethod
            def block(_):
                return type("B", (), {"widths": [16], "equivalence_margin": 0.25})

    specs = [s for s in dynamics_claims(Grid, "dynamics") if s["a"]["weights"] == "raw"]
    for t, decided in ((untrained, False), (table, True)):
        exps = dt.per_seed_exponents(t, 0.5, 0.5, max_invalid=0.25)
        verdicts = comparisons_table([exps], ["exponents"], specs)["verdict"]
        summary = dt.exponent_table(t, 0.5, 0.5, 0.25, BONNAIRE, max_invalid=0.25)["verdict"]
        for v in (*verdicts, *summary):
            assert v.startswith("untestable at this budget") != decided, v
            assert decided or "sizes 64, 128 at the step budget" in v
    decided = comparisons_table([dt.per_seed_exponents(table, 0.5, 0.5)], ["exponents"], specs)
    assert decided["verdict"].iloc[0] == "supported"  # tau_mem grows with N (beta = 1 simulated)


def test_the_exponent_table_and_the_comparisons_decide_equivalence_by_one_rule():
    """"tau_gen does not depend on N" is reversed only when the 90% interval of beta lies wholly outside the margin
    (a dependence larger than the margin), as every equivalence claim of the comparisons: an interval that excludes
    0 but reaches into the margin is unresolved in both tables."""
    from memgen.analysis.claims import Comparison, compare
    from memgen.analysis.seeds import verdict_class

    straddles = simulate(np.random.default_rng(3), beta_gen=0.25, seed_sd=0.02, noise_sd=0.05)
    large = simulate(np.random.default_rng(3), beta_gen=0.8, seed_sd=0.02, noise_sd=0.02)
    for t, expected in ((straddles, "unresolved"), (large, "reversed")):
        row = dt.exponent_table(t, 0.5, 0.5, 0.25, BONNAIRE).set_index("name").loc["tau_gen does not depend on N"]
        if expected == "unresolved":  # the 95% interval excludes 0, the 90% one reaches into the margin
            assert 0 < row["ci_low"] and row["ci90_low"] < 0.25 < row["ci90_high"]
        assert verdict_class(row["verdict"]) == expected, row["verdict"]
        per_seed = dt.per_seed_exponents(t, 0.5, 0.5)
        spec = {"name": "tau_gen does not depend on N", "a": {"onset": "tau_gen", "weights": "raw", "width": 16},
                "b": None, "measure": "beta", "expected": 0, "margin": 0.25, "claim": "measure"}
        compared = compare(per_seed, [Comparison(**spec)])["verdict"].iloc[0]
        assert verdict_class(compared) == expected, compared
