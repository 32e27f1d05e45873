"""The exponent of an onset time on the training-set size, with the seed interval, and the two claims of Bonnaire et
al. it decides (`exponent_claims`), on the onset table of `memgen.analysis.dynamics`.

`fit_exponent`: log tau = a_s + beta_s log N per seed s, by interval-censored normal regression (a Tobit model: an
onset seen between two snapshots enters at its interpolated value, a censored one as the probability of its
one-sided interval, so a run that never copied counts as the bound it is, not as a crossing at the grid's edge),
one residual sigma shared by the seeds; beta is the mean of the per-seed slopes with a Student-t interval over
seeds (each seed one replicate of the whole experiment, as `memgen.stats.seed_interval` treats per-seed values).
Coverage on simulated studies with censoring: tests/test_dynamics.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.stats import norm
from scipy.stats import t as t_dist

from memgen.analysis.dynamics import INTERVAL, UNDEFINED
from memgen.analysis.verdicts import equivalence_verdict
from memgen.errors import MemgenError

SIGMA_FLOOR = 0.01  # log-steps: the residual sd never goes below this (keeps the likelihood bounded)


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
    need = ["size", "seed", f"{name}_lo", f"{name}_hi", f"{name}_censoring"]
    missing = [c for c in need if c not in onsets.columns]
    if missing:
        raise MemgenError(f"fit_exponent: onset table lacks column(s) {missing}")
    onsets = onsets[onsets[f"{name}_censoring"] != UNDEFINED]  # no measure (tau_gen of real images): no bound
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




def exponent_claims(onsets: pd.DataFrame, equivalence_margin: float, confidence: float = 0.95,
                    quote: str = "") -> pd.DataFrame:
    """The two claims of Bonnaire et al. per width and weights, one row each with a verdict (the words of
    `memgen.analysis.seeds.VERDICT_CLASSES`) and ``quote``, the paper's sentence (its home: the study record):

    - "tau_mem grows with N": beta of log tau_mem on log N (`fit_exponent`) with its 95% seed interval; supported
      when the interval lies above 0, reversed below; ``contains_1`` says whether the interval holds the paper's
      linear law (beta = 1).
    - "tau_gen does not depend on N": an equivalence test (two one-sided tests at 5% each, so the 90% interval)
      that beta of log tau_gen lies within +-``equivalence_margin`` (a stated margin, the schema's: at 0.25 a
      doubling of N changes tau_gen by at most 19%); reversed when the 90% interval lies wholly outside it.
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
        rows.append(pinned | _row("tau_mem grows with N", "tau_mem", mem, n_mem, _growth_verdict(mem, n_mem),
                                  confidence, quote)
                    | {"expected": 1, "contains_1": bool(mem["ci_low"] <= 1 <= mem["ci_high"]) if n_mem >= 2
                       else None, "margin": np.nan, "ci90_low": np.nan, "ci90_high": np.nan})
        rows.append(pinned | _row("tau_gen does not depend on N", "tau_gen", gen, n_gen,
                                  _equivalence_verdict(gen90, equivalence_margin, n_gen), confidence, quote)
                    | {"expected": 0, "contains_1": None, "margin": equivalence_margin,
                       "ci90_low": gen90["ci_low"], "ci90_high": gen90["ci_high"]})
    return pd.DataFrame(rows)


def _row(name: str, onset: str, fit: dict, n_seeds: int, verdict: str, confidence: float, quote: str) -> dict:
    return {"name": name, "measure": f"beta of log {onset} on log N", "n_seeds": n_seeds,
            "beta": fit["beta"], "ci_low": fit["ci_low"], "ci_high": fit["ci_high"],
            "per_seed": "/".join(f"{b:.2f}" for b in fit["per_seed"]), "sigma": fit["sigma"],
            "n_censored": fit["n_censored"], "n_runs": fit["n_runs"], "verdict": verdict, "note": fit["note"],
            "quote": quote, "confidence": confidence}


def _growth_verdict(fit: dict, n_seeds: int) -> str:
    if n_seeds < 2 or not np.isfinite(fit["ci_low"]):
        return f"unresolved at {n_seeds} usable seeds"
    if fit["ci_low"] > 0:
        return "supported"
    if fit["ci_high"] < 0:
        return "reversed"
    return f"unresolved at {n_seeds} seeds"


def _equivalence_verdict(fit90: dict, margin: float, n_seeds: int) -> str:
    """TOST on the 90% interval, the rule of every equivalence claim (`memgen.analysis.verdicts.equivalence_verdict`,
    which the comparisons table applies to the same slopes): supported inside +-margin, reversed wholly outside it
    (a dependence larger than the margin), else unresolved."""
    if n_seeds < 2 or not np.isfinite(fit90["ci_low"]):
        return f"unresolved at {n_seeds} usable seeds"
    result = equivalence_verdict(fit90["ci_low"], fit90["ci_high"], margin, str(n_seeds))
    if result == "supported":
        return f"supported (equivalent within +-{margin:g})"
    return result if result == "reversed" else f"{result} (interval not within +-{margin:g})"
