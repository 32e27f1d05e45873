"""Training time as a measured axis: when a model starts to generalize, when it starts to copy, when to stop.

Bonnaire, Urfin, Biroli & Mezard (NeurIPS 2025, "Why diffusion models don't memorize") and Favero, Sclocchi &
Wyart (2025) find two time scales: samples become good after tau_gen, which does not depend on the training-set
size N, and copies appear only after tau_mem, which grows linearly with N. Both measure single runs; here every
onset is measured per training seed and carried across seeds.

Pure functions on a snapshot table: one row per run (the grid columns less ``steps``, e.g. width, size, seed, and
``weights``: "ema" or "raw") and snapshot step ``steps``, with ``replicate_fraction``, ``frac_novel_valid`` (or
``frac_novel`` for kinds without a validity rule), ``frac_invalid`` and ``n_samples``.

- `onset_times`: per run, the first step at which a fraction passes a level. Snapshots are log-spaced, so the data
  say only that the level was passed between two snapshots: each onset is an interval [lo, hi] of steps (lo the
  last snapshot below the level, hi the first at or above it) with a point estimate interpolated linearly in log
  steps (as capacity is read on log size). Passed at the first snapshot: left-censored, (0, s_1]; never passed by
  the last: right-censored, [s_K, inf).
- `fit_exponent`: log tau = a_s + beta_s log N per seed s, by interval-censored normal regression (a Tobit model:
  an onset seen between two snapshots enters at its interpolated value, a censored one as the probability of its
  one-sided interval, so a run that never copied counts as the bound it is, not as a crossing at the grid's
  edge), one residual sigma shared by the seeds; beta is the mean of the
  per-seed slopes with a Student-t interval over seeds (each seed one replicate of the whole experiment, as
  `memgen.stats.seed_interval` treats per-seed values).
- `onset_across_seeds`: per cell, the geometric mean of the per-seed onsets and a t-interval on log steps.
- `stopping_points`: per cell, the last snapshot at which replicates stayed below a level at every seed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.stats import norm
from scipy.stats import t as t_dist

from memgen.errors import MemgenError

EXACT, INTERVAL, LEFT, RIGHT = "exact", "interval", "left", "right"
ONSETS = {"tau_gen": "generalizing", "tau_mem": "memorizing"}
SIGMA_FLOOR = 0.01  # log-steps: the residual sd never goes below this (keeps the likelihood bounded)


def _generalizing_column(runs: pd.DataFrame) -> str:
    return "frac_novel_valid" if "frac_novel_valid" in runs.columns and runs["frac_novel_valid"].notna().any() \
        else "frac_novel"


def first_passage(steps, values, level: float) -> tuple[float, float, float, str]:
    """When ``values`` (one run, ordered by increasing ``steps`` > 0) first reach ``level``.

    Returns (estimate, lo, hi, censoring): censoring "interval" (lo = the last step below, hi = the first at or
    above, estimate interpolated in log steps: log tau = log lo + (level - v_lo) / (v_hi - v_lo) (log hi - log lo)),
    "left" (reached at the first snapshot: lo = 0, hi = estimate = s_1), "right" (never reached: lo = s_K,
    hi = inf, estimate NaN)."""
    s = np.asarray(steps, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if s.ndim != 1 or s.shape != v.shape or s.size == 0 or np.any(s <= 0) or np.any(np.diff(s) <= 0):
        raise MemgenError(f"first_passage: steps must be increasing positive numbers matching the values, got {s}")
    hit = np.flatnonzero(v >= level)
    if hit.size == 0:
        return float("nan"), float(s[-1]), float("inf"), RIGHT
    j = int(hit[0])
    if j == 0:
        return float(s[0]), 0.0, float(s[0]), LEFT
    lo, hi, v_lo, v_hi = s[j - 1], s[j], v[j - 1], v[j]
    frac = (level - v_lo) / (v_hi - v_lo)
    return float(np.exp(np.log(lo) + frac * (np.log(hi) - np.log(lo)))), float(lo), float(hi), INTERVAL


def _runs(table: pd.DataFrame) -> list[str]:
    need = ["steps", "seed", "size", "replicate_fraction"]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise MemgenError(f"snapshot table lacks column(s) {missing}")
    return [c for c in table.columns if c in ("study", "dataset", "width", "size", "dummy", "ndummy", "label",
                                                  "batch_size", "train_steps", "seed", "weights")]


def onset_times(table: pd.DataFrame, gen_level: float, mem_level: float) -> pd.DataFrame:
    """One row per run: its grid columns, ``n_snapshots``, ``first_step``, ``last_step`` and for each onset o of
    ``tau_gen`` (generalizing fraction >= gen_level: novel and valid, or novel where no validity rule exists,
    named in ``gen_measure``) and ``tau_mem`` (replicate fraction >= mem_level): ``o`` (estimate, steps),
    ``o_lo``, ``o_hi`` and ``o_censoring``."""
    keys = _runs(table)
    gen_col = _generalizing_column(table)
    rows = []
    for key, run in table.groupby(keys, sort=True, dropna=False):
        run = run.sort_values("steps")
        if run["steps"].duplicated().any():
            raise MemgenError(f"snapshot table: run {dict(zip(keys, key))} has two rows at one step")
        row = dict(zip(keys, key)) | {"n_snapshots": len(run), "first_step": int(run["steps"].iloc[0]),
                                      "last_step": int(run["steps"].iloc[-1]), "gen_measure": gen_col,
                                      "gen_level": gen_level, "mem_level": mem_level}
        for name, col, level in (("tau_gen", gen_col, gen_level), ("tau_mem", "replicate_fraction", mem_level)):
            est, lo, hi, cens = first_passage(run["steps"], run[col].fillna(0.0), level)
            row.update({name: est, f"{name}_lo": lo, f"{name}_hi": hi, f"{name}_censoring": cens})
        rows.append(row)
    return pd.DataFrame(rows)


def _interval_nll(params: np.ndarray, x: np.ndarray, seed_index: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                  exact: np.ndarray, n_seeds: int) -> float:
    """Negative log-likelihood of y_i ~ N(a_s + b_s x_i, sigma^2) observed as y_i in [lo_i, hi_i] (log steps)."""
    a, b, log_sigma = params[:n_seeds], params[n_seeds:2 * n_seeds], params[-1]
    sigma = SIGMA_FLOOR + np.exp(log_sigma)
    mu = a[seed_index] + b[seed_index] * x
    nll = -np.sum(norm.logpdf(lo[exact], mu[exact], sigma))
    cens = ~exact
    p = norm.cdf((hi[cens] - mu[cens]) / sigma) - norm.cdf((lo[cens] - mu[cens]) / sigma)
    return float(nll - np.sum(np.log(np.maximum(p, 1e-300))))


def _log_bounds(onsets: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray]:
    """[lo, hi] of log tau per run: the interpolated estimate (lo = hi) for an onset seen between two snapshots,
    (-inf, log s_1] left-censored, [log s_K, inf) right-censored."""
    est = onsets[name].to_numpy(dtype=np.float64)
    cens = onsets[f"{name}_censoring"].to_numpy()
    with np.errstate(divide="ignore"):
        lo = np.where(cens == INTERVAL, np.log(est), np.log(onsets[f"{name}_lo"].to_numpy(dtype=np.float64)))
        hi = np.where(cens == INTERVAL, np.log(est), np.log(onsets[f"{name}_hi"].to_numpy(dtype=np.float64)))
    return lo, hi


def fit_exponent(onsets: pd.DataFrame, name: str, confidence: float = 0.95) -> dict:
    """beta of log tau = a_s + beta_s log N over the runs of one width (and weights), tau = ``name``.

    An onset between two snapshots enters at its interpolated value, one before the first or after the last snapshot
    as the one-sided bound it is (Tobit). A seed whose runs leave its slope unbounded (fewer than
    two sizes with a finite interval) is left out and named in ``note``. Returns dict: beta (mean of the per-seed
    slopes), ci_low, ci_high (Student t over those seeds, S - 1 df), per_seed (slopes, seed order), seeds_used,
    sigma (residual sd, log steps), n_runs, n_censored, note; NaN interval below 2 usable seeds."""
    need = ["size", "seed", f"{name}_lo", f"{name}_hi"]
    missing = [c for c in need if c not in onsets.columns]
    if missing:
        raise MemgenError(f"fit_exponent: onset table lacks column(s) {missing}")
    finite = np.isfinite(onsets[f"{name}_hi"].to_numpy(dtype=np.float64)) & (onsets[f"{name}_lo"] > 0).to_numpy()
    usable = onsets.assign(_finite=finite).groupby("seed")["_finite"].agg(
        lambda f: int(f.sum()))
    usable_seeds = [s for s, k in usable.items() if k >= 2 and onsets.loc[onsets["seed"] == s, "size"].nunique() >= 2]
    dropped = [s for s in usable.index if s not in usable_seeds]
    out = {"beta": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "per_seed": [],
           "seeds_used": usable_seeds, "sigma": float("nan"), "n_runs": int(len(onsets)),
           "n_censored": int((onsets[f"{name}_censoring"] != INTERVAL).sum()),
           "note": (f"seed(s) {', '.join(map(str, dropped))}: fewer than 2 sizes with a bounded onset, left out"
                    if dropped else "")}
    if not usable_seeds:
        return out
    runs = onsets[onsets["seed"].isin(usable_seeds)]
    x = np.log(runs["size"].to_numpy(dtype=np.float64))
    x = x - x.mean()
    lo, hi = _log_bounds(runs, name)
    exact = lo == hi
    seed_index = np.searchsorted(np.array(usable_seeds), runs["seed"].to_numpy())
    mid = np.where(np.isfinite(lo) & np.isfinite(hi), (lo + hi) / 2, np.where(np.isfinite(lo), lo, hi))
    k = len(usable_seeds)
    start = np.concatenate([[mid[seed_index == s].mean() for s in range(k)], np.zeros(k), [np.log(0.5)]])
    fit = minimize(_interval_nll, start, args=(x, seed_index, lo, hi, exact, k), method="L-BFGS-B")
    slopes = fit.x[k:2 * k]
    out.update(per_seed=[float(b) for b in slopes], sigma=float(SIGMA_FLOOR + np.exp(fit.x[-1])),
               beta=float(slopes.mean()))
    lo, hi = slope_interval(slopes, confidence)
    return out | {"ci_low": lo, "ci_high": hi}


def slope_interval(per_seed, confidence: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean of per-seed slopes (S - 1 df); NaN below 2 seeds."""
    b = np.asarray(per_seed, dtype=np.float64)
    if b.size < 2:
        return float("nan"), float("nan")
    half = t_dist.ppf(0.5 + confidence / 2, b.size - 1) * b.std(ddof=1) / np.sqrt(b.size)
    return float(b.mean() - half), float(b.mean() + half)


def onset_across_seeds(onsets: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """One row per cell (the run columns less seed): for each onset, ``<o>_mean`` (geometric mean over the seeds
    whose onset is bounded on both sides), ``<o>_ci_low``/``<o>_ci_high`` (t-interval on log steps over those
    seeds, NaN below 2), ``<o>_censored`` (how many seeds were censored: "2 right" etc.) and ``n_seeds``."""
    keys = [c for c in onsets.columns if c in ("study", "dataset", "width", "size", "dummy", "ndummy", "label",
                                                  "batch_size", "train_steps", "weights")]
    rows = []
    for key, sub in onsets.groupby(keys, sort=True, dropna=False):
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,))) | {"n_seeds": int(sub["seed"].nunique())}
        for name in ONSETS:
            ok = sub[sub[f"{name}_censoring"] == INTERVAL]
            logs = np.log(ok[name].to_numpy(dtype=np.float64))
            mean = float(np.exp(logs.mean())) if logs.size else float("nan")
            lo = hi = float("nan")
            if logs.size >= 2:
                half = t_dist.ppf(0.5 + confidence / 2, logs.size - 1) * logs.std(ddof=1) / np.sqrt(logs.size)
                lo, hi = float(np.exp(logs.mean() - half)), float(np.exp(logs.mean() + half))
            counts = sub[f"{name}_censoring"].value_counts()
            censored = ", ".join(f"{int(counts[c])} {c}" for c in (LEFT, RIGHT) if c in counts)
            row.update({f"{name}_mean": mean, f"{name}_ci_low": lo, f"{name}_ci_high": hi,
                        f"{name}_censored": censored})
        rows.append(row)
    return pd.DataFrame(rows)


def stopping_points(table: pd.DataFrame, level: float) -> pd.DataFrame:
    """Per cell (run columns less seed): ``stop_before``, the last snapshot step at which the replicate fraction of
    every seed has stayed below ``level`` at that snapshot and all earlier ones (NaN when a seed copies already at
    the first snapshot), ``first_unsafe`` (the next snapshot, where some seed reached it; NaN if none did: the
    budget is safe), ``level`` and the seeds."""
    keys = [c for c in _runs(table) if c != "seed"]
    rows = []
    for key, sub in table.groupby(keys, sort=True, dropna=False):
        steps = np.sort(sub["steps"].unique())
        wide = sub.pivot_table(index="steps", columns="seed", values="replicate_fraction").reindex(steps)
        unsafe = (wide.to_numpy() >= level).any(axis=1)
        unsafe = np.logical_or.accumulate(unsafe)
        safe_steps = steps[~unsafe]
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        row.update(level=level, seeds=",".join(str(s) for s in wide.columns),
                   stop_before=float(safe_steps[-1]) if safe_steps.size else float("nan"),
                   first_unsafe=float(steps[unsafe][0]) if unsafe.any() else float("nan"))
        rows.append(row)
    return pd.DataFrame(rows)


BONNAIRE = ("Bonnaire et al. 2025, abstract: \"Crucially, we find that tau_mem increases linearly with the training "
            "set size n, while tau_gen remains constant.\"")


def exponent_claims(onsets: pd.DataFrame, equivalence_margin: float, confidence: float = 0.95) -> pd.DataFrame:
    """The two claims of Bonnaire et al. per width and weights, one row each with a verdict (the words of
    `memgen.analysis.seeds.VERDICT_CLASSES`):

    - "tau_mem grows with N": beta of log tau_mem on log N (`fit_exponent`) with its 95% seed interval; supported
      when the interval lies above 0, reversed below; ``contains_1`` says whether the interval holds the paper's
      linear law (beta = 1).
    - "tau_gen does not depend on N": an equivalence test (two one-sided tests at 5% each, so the 90% interval)
      that beta of log tau_gen lies within +-``equivalence_margin`` (a stated margin, the schema's: at 0.25 a
      doubling of N changes tau_gen by at most 19%); reversed when the 95% interval excludes 0.
    """
    if not (isinstance(equivalence_margin, (int, float)) and equivalence_margin > 0):
        raise MemgenError(f"equivalence_margin must be a positive number, got {equivalence_margin!r}")
    keys = [c for c in ("width", "weights") if c in onsets.columns]
    rows = []
    for key, sub in onsets.groupby(keys, sort=True) if keys else [((), onsets)]:
        pinned = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        mem = fit_exponent(sub, "tau_mem", confidence)
        gen = fit_exponent(sub, "tau_gen", confidence)
        gen90 = dict(zip(("ci_low", "ci_high"), slope_interval(gen["per_seed"], 1 - 2 * (1 - confidence))))
        n_mem, n_gen = len(mem["seeds_used"]), len(gen["seeds_used"])
        rows.append(pinned | _row("tau_mem grows with N", "tau_mem", mem, n_mem, _growth_verdict(mem, n_mem))
                    | {"contains_1": bool(mem["ci_low"] <= 1 <= mem["ci_high"]) if n_mem >= 2 else None})
        rows.append(pinned | _row("tau_gen does not depend on N", "tau_gen", gen, n_gen,
                                  _equivalence_verdict(gen, gen90, equivalence_margin, n_gen))
                    | {"contains_1": None, "margin": equivalence_margin,
                       "ci90_low": gen90["ci_low"], "ci90_high": gen90["ci_high"]})
    return pd.DataFrame(rows)


def _row(name: str, onset: str, fit: dict, n_seeds: int, verdict: str) -> dict:
    return {"name": name, "measure": f"beta of log {onset} on log N", "n_seeds": n_seeds, "beta": fit["beta"],
            "ci_low": fit["ci_low"], "ci_high": fit["ci_high"],
            "per_seed": "/".join(f"{b:.2f}" for b in fit["per_seed"]), "sigma": fit["sigma"],
            "n_censored": fit["n_censored"], "n_runs": fit["n_runs"], "verdict": verdict, "note": fit["note"],
            "quote": BONNAIRE}


def _growth_verdict(fit: dict, n_seeds: int) -> str:
    if n_seeds < 2 or not np.isfinite(fit["ci_low"]):
        return f"unresolved at {n_seeds} usable seeds"
    if fit["ci_low"] > 0:
        return "supported"
    if fit["ci_high"] < 0:
        return "reversed"
    return f"unresolved at {n_seeds} seeds"


def _equivalence_verdict(fit95: dict, fit90: dict, margin: float, n_seeds: int) -> str:
    if n_seeds < 2 or not np.isfinite(fit90["ci_low"]):
        return f"unresolved at {n_seeds} usable seeds"
    if -margin < fit90["ci_low"] and fit90["ci_high"] < margin:
        return f"supported (equivalent within +-{margin:g})"
    if fit95["ci_low"] > 0 or fit95["ci_high"] < 0:
        return "reversed"
    return f"unresolved at {n_seeds} seeds (interval not within +-{margin:g})"
