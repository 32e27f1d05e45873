"""Memorization capacity read off a replicate-vs-size curve, with a bootstrap interval; across training seeds,
with an interval that includes the seed spread (`capacity_across_seeds`).

Yoon et al. 2023, Definition 3.1: MC = max{ n : P[sample replicates S, |S| = n] >= 1 - eps }. On a measured
grid of training-set sizes the capacity at level ``1 - eps`` is taken as the size where the replicate fraction
falls through the level: the largest size whose fraction is >= level and the next (larger) size, interpolated
linearly in log(size) (the sizes are a geometric grid, and the paper reads capacities as size ratios).

Pure functions on the aggregated per-cell table (``memgen.analysis.tables``); no plotting here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from memgen.errors import MemgenError
from memgen.runtime import check_int
from memgen.stats import seed_interval

# The grid less size and seed: a capacity is read at one step budget and batch size.
GROUP_CANDIDATES = ["study", "dataset", "width", "dummy", "ndummy", "label", "steps", "batch_size"]
CAPACITY_COLUMNS = ["capacity", "ci_low", "ci_high", "level", "bracket_low", "bracket_high", "censored", "note",
                    "n_sizes", "epochs_per_image", "base_image_presentations"]
ALL_ABOVE, ALL_BELOW = "all above", "all below"


def _check(table: pd.DataFrame, level: float, n_boot: int) -> None:
    if not isinstance(table, pd.DataFrame):
        raise MemgenError(f"capacity input must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in ("width", "size", "replicate_fraction", "n_samples") if c not in table.columns]
    if missing:
        raise MemgenError(f"capacity table lacks column(s) {missing}")
    if table.empty:
        raise MemgenError("capacity table has no rows")
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0.0 < level < 1.0:
        raise MemgenError(f"level must lie in (0, 1), got {level!r}")
    check_int("n_boot", n_boot, 0)
    size = table["size"].to_numpy(dtype=np.float64)
    frac = table["replicate_fraction"].to_numpy(dtype=np.float64)
    n = table["n_samples"].to_numpy(dtype=np.float64)
    if not (np.all(size > 0) and np.all((frac >= 0) & (frac <= 1)) and np.all(n >= 1)):
        raise MemgenError("capacity table needs size > 0, replicate_fraction in [0, 1] and n_samples >= 1")


def crossing(sizes: np.ndarray, fractions: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Where each curve falls through ``level``, vectorized over curves.

    sizes: increasing ``[S]``; fractions: ``[B, S]`` (replicate fraction per size). Returns (capacity ``[B]``,
    code ``[B]`` int: 0 crossed, 1 all above -> capacity = largest size, 2 all below -> smallest size).
    Crossed: a = the largest size index with fraction >= level (a < S - 1), b = a + 1, and
    log(cap) = log s_a + (f_a - level) / (f_a - f_b) * (log s_b - log s_a).
    """
    frac = np.atleast_2d(np.asarray(fractions, dtype=np.float64))
    log_s = np.log(np.asarray(sizes, dtype=np.float64))
    above = frac >= level
    n_sizes = frac.shape[1]
    last = n_sizes - 1 - np.argmax(above[:, ::-1], axis=1)  # largest index at or above the level
    code = np.where(~above.any(axis=1), 2, np.where(last == n_sizes - 1, 1, 0))
    a = np.where(code == 0, last, 0)
    b = np.minimum(a + 1, n_sizes - 1)
    rows = np.arange(frac.shape[0])
    fa, fb = frac[rows, a], frac[rows, b]
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(code == 0, (fa - level) / (fa - fb), 0.0)
    log_cap = log_s[a] + t * (log_s[b] - log_s[a])
    sizes = np.asarray(sizes, dtype=np.float64)
    return np.where(code == 1, sizes[-1], np.where(code == 2, sizes[0], np.exp(log_cap))), code


def _pooled(sub: pd.DataFrame) -> pd.DataFrame:
    """One row per size: samples pooled over seeds (replicate counts summed)."""
    k = sub["n_replicates"] if "n_replicates" in sub.columns else (sub["replicate_fraction"] * sub["n_samples"])
    pooled = pd.DataFrame({"size": sub["size"].astype(float), "k": np.rint(k.astype(float)),
                           "n": sub["n_samples"].astype(float)}).groupby("size", sort=True).sum()
    pooled["p"] = pooled["k"] / pooled["n"]
    return pooled


def _note(cap: float, code: int, level: float) -> str | None:
    pct = f"{100 * level:g}%"
    if code == 1:
        return f"capacity >= {cap:g}: every size replicates at >= {pct}; larger sets are needed to find it"
    if code == 2:
        return f"capacity < {cap:g}: no size replicates at >= {pct}; smaller sets are needed to find it"
    return None


def memorization_capacity(table: pd.DataFrame, level: float = 0.9, n_boot: int = 1000,
                          seed: int = 0) -> pd.DataFrame:
    """Memorization capacity per width (and per other grid column present, except size and seed).

    table: one row per cell with ``width``, ``size``, ``replicate_fraction``, ``n_samples`` (``n_replicates``
    used when present); rows of several seeds at one size are pooled. level: the replicate fraction that counts
    as memorizing (the paper's 1 - eps; 0.9 in Figure 1's reading).
    Bootstrap: per replicate draw k* ~ Binomial(n, p_hat) at every size, recompute the crossing; (ci_low, ci_high)
    is the 2.5-97.5 percentile interval of ``n_boot`` draws (NaN when n_boot = 0), from
    ``np.random.default_rng(seed)`` restarted per group, so a group's interval does not depend on the others.
    Returns one row per group: the group columns, then ``CAPACITY_COLUMNS``. censored is "all above" (capacity =
    the largest size, a lower bound), "all below" (the smallest size, an upper bound) or None; bracket_low /
    bracket_high are the sizes the level falls between (NaN on the censored side). With ``steps`` and
    ``batch_size`` in the table (they group too), ``base_image_presentations`` = steps * batch_size and
    ``epochs_per_image`` = that / capacity, the passes over each image of a training set at the capacity.
    """
    _check(table, level, n_boot)
    keys = [c for c in GROUP_CANDIDATES if c in table.columns]
    rows = []
    for key, sub in table.groupby(keys, sort=True, dropna=False):
        pooled = _pooled(sub)
        sizes = pooled.index.to_numpy(dtype=np.float64)
        cap, code = crossing(sizes, pooled["p"].to_numpy()[None, :], level)
        cap, code = float(cap[0]), int(code[0])
        lo = hi = np.nan
        if n_boot > 0:
            rng = np.random.default_rng(seed)
            k_star = rng.binomial(pooled["n"].to_numpy(dtype=np.int64), pooled["p"].to_numpy(),
                                  size=(n_boot, len(sizes)))
            boot, _ = crossing(sizes, k_star / pooled["n"].to_numpy(), level)
            lo, hi = (float(v) for v in np.percentile(boot, [2.5, 97.5]))
        if code == 0:
            a = int(np.flatnonzero(pooled["p"].to_numpy() >= level).max())
            bracket = (sizes[a], sizes[a + 1])
        else:
            bracket = (sizes[-1], np.nan) if code == 1 else (np.nan, sizes[0])
        censored = {0: None, 1: ALL_ABOVE, 2: ALL_BELOW}[code]
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        row.update(capacity=cap, ci_low=lo, ci_high=hi, level=float(level), bracket_low=bracket[0],
                   bracket_high=bracket[1], censored=censored, note=_note(cap, code, level),
                   n_sizes=len(sizes))
        # Exposure at the capacity (when the table has the step budget): every image is a base image.
        draws = row["steps"] * row["batch_size"] if {"steps", "batch_size"} <= row.keys() else np.nan
        row.update(epochs_per_image=draws / cap, base_image_presentations=draws)
        rows.append(row)
    return pd.DataFrame(rows, columns=[*keys, *CAPACITY_COLUMNS])


SEED_CAPACITY_COLUMNS = ["capacity", "ci_low", "ci_high", "level", "n_seeds", "seeds", "min", "max", "censored",
                         "note", "seed_ci_low", "seed_ci_high", "capacity_pooled", "pooled_ci_low", "pooled_ci_high"]


def _seed_note(codes: np.ndarray, level: float) -> tuple[str | None, str | None]:
    """(censored, note) of a group from its seeds' crossing codes (0 crossed, 1 all above, 2 all below)."""
    above, below, pct = int((codes == 1).sum()), int((codes == 2).sum()), f"{100 * level:g}%"
    if above and below:
        return "mixed", f"{above} seed(s) replicate at >= {pct} at every size, {below} at none: no interval"
    if above:
        return ALL_ABOVE, f"{above} of {len(codes)} seed(s) at >= {pct} at every size: capacity >= the estimate"
    if below:
        return ALL_BELOW, f"{below} of {len(codes)} seed(s) at >= {pct} at no size: capacity <= the estimate"
    return None, None


def _seed_crossings(sub: pd.DataFrame, level: float):
    """Per seed of one group: (seeds, capacities [S], codes [S], brackets [B, 2] of the seeds that crossed)."""
    seeds, caps, codes, brackets = sorted(sub["seed"].unique()), [], [], []
    for s in seeds:
        curve = _pooled(sub[sub["seed"] == s])
        sizes, frac = curve.index.to_numpy(dtype=np.float64), curve["p"].to_numpy()
        cap, code = crossing(sizes, frac[None, :], level)
        caps.append(float(cap[0]))
        codes.append(int(code[0]))
        if code[0] == 0:  # the sizes the level falls between: the grid resolves C_s to this bracket only
            a = int(np.flatnonzero(frac >= level).max())
            brackets.append((sizes[a], sizes[a + 1]))
    return seeds, np.asarray(caps), np.asarray(codes), np.asarray(brackets).reshape(-1, 2)


def _band(log_c: np.ndarray, codes: np.ndarray, brackets: np.ndarray) -> tuple[float, float]:
    """The brackets' floor: exp(mean log a_s - h), exp(mean log b_s + h), h the half-width of the crossings'
    t-interval (NaN below 2 crossed seeds)."""
    if len(brackets) < 2:
        return np.nan, np.nan
    crossed = log_c[codes == 0]
    half = seed_interval(crossed)[2] - crossed.mean()
    log_br = np.log(brackets)
    return float(np.exp(log_br[:, 0].mean() - half)), float(np.exp(log_br[:, 1].mean() + half))


def capacity_across_seeds(table: pd.DataFrame, level: float = 0.9, n_boot: int = 1000,
                          seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Memorization capacity per width (and other grid group) with an interval that includes the seed spread.

    table: as `memorization_capacity`, with a ``seed`` column (several seeds per size). Method: each seed's own
    curve gives its capacity C_s (`crossing`, interpolated in log size); the estimate is their geometric mean,
    ``exp(mean log C_s)``, and the seed interval the t-interval of `memgen.stats.seed_interval` on log C_s, mapped
    back: the seeds are the replicates, so the model-to-model spread is in it. The reported (ci_low, ci_high) is
    the union of that interval with two floors. (1) The grid: a measured curve places C_s only inside its bracket
    [a_s, b_s) (the sizes the level falls between); where inside depends on the curve's unknown shape (on a
    logistic curve of slope 3 per unit log N the interpolation puts a capacity of 100 at 87 on a factor-2 grid),
    so the interval reaches at least from mean(log a_s) - h to mean(log b_s) + h, h the half-width of the
    crossings' t-interval: it never claims more than the grid resolves. (2) The pooled binomial bootstrap of
    `memorization_capacity` (all seeds' samples pooled): never narrower than the sampling noise alone, also when
    every seed crosses alike. Coverage of a known capacity: benchmarks/results/seed_coverage.json.
    Why not a logistic fit (replicate ~ log N, per-seed intercepts, common slope): memorizing curves jump from
    ~100% to ~0% between two sizes, which separates the data (the slope's MLE is infinite) and needs a penalty
    to fit at all, and the logistic shape is an assumption the interpolated crossing does not make.

    Censoring: a seed whose curve never falls through the level ("all above") only bounds its capacity from
    below; then ci_high is NaN (and ci_low NaN for "all below", both for "mixed"). One seed: no seed interval.
    Returns (summary, per_seed): summary one row per group with ``SEED_CAPACITY_COLUMNS`` (seed_ci_*: the
    seed-only interval; *_pooled: `memorization_capacity` of the pooled samples); per_seed one row per group x
    seed: capacity, censored (None / all above / all below), for a figure of per-seed points and the band.
    """
    _check(table, level, n_boot)
    if "seed" not in table.columns:
        raise MemgenError("capacity table lacks column(s) ['seed']")
    keys = [c for c in GROUP_CANDIDATES if c in table.columns]
    summary, per_seed = [], []
    for key, sub in table.groupby(keys, sort=True, dropna=False):
        head = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        seeds, caps, codes, brackets = _seed_crossings(sub, level)
        per_seed += [head | {"seed": s, "capacity": c, "censored": {0: None, 1: ALL_ABOVE, 2: ALL_BELOW}[int(k)]}
                     for s, c, k in zip(seeds, caps, codes)]
        log_c = np.log(caps)
        mean, s_lo, s_hi = (float(np.exp(v)) for v in seed_interval(log_c))
        pooled = memorization_capacity(sub.drop(columns="seed"), level, n_boot, seed).iloc[0]
        lo = hi = np.nan
        if len(caps) >= 2:  # the union of the seed interval and both floors (the bootstrap's NaN when n_boot = 0)
            b_lo, b_hi = _band(log_c, codes, brackets)
            lo = float(np.fmin(np.fmin(s_lo, b_lo), pooled["ci_low"]))
            hi = float(np.fmax(np.fmax(s_hi, b_hi), pooled["ci_high"]))
        censored, note = _seed_note(codes, level)
        if censored in (ALL_ABOVE, "mixed"):
            hi = np.nan
        if censored in (ALL_BELOW, "mixed"):
            lo = np.nan
        summary.append(head | dict(capacity=mean, ci_low=lo, ci_high=hi, level=float(level), n_seeds=len(caps),
                                   seeds=",".join(map(str, seeds)), min=float(caps.min()), max=float(caps.max()),
                                   censored=censored, note=note, seed_ci_low=s_lo, seed_ci_high=s_hi,
                                   capacity_pooled=pooled["capacity"], pooled_ci_low=pooled["ci_low"],
                                   pooled_ci_high=pooled["ci_high"]))
    return (pd.DataFrame(summary, columns=[*keys, *SEED_CAPACITY_COLUMNS]),
            pd.DataFrame(per_seed, columns=[*keys, "seed", "capacity", "censored"]))


def capacity_seed_summary(table: pd.DataFrame, level: float = 0.9, n_boot: int = 1000) -> pd.DataFrame:
    """The summary of `capacity_across_seeds` (one row per width and group): the study's table of that name."""
    return capacity_across_seeds(table, level, n_boot)[0]
