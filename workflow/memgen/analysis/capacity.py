"""Memorization capacity (Yoon et al. 2023, Definition 3.1) read off replicate-vs-size curves on a grid of sizes.

Definition 3.1: MC = max{ n : Prob_{S ~ D^n, z}[G(z) replicates S] >= 1 - eps }. The probability runs over the
training set S as well as the noise z, so on a grid of sizes measured at several training seeds (each seed its own
draw of S, initial weights and noise) it is the SEED-AVERAGED replicate fraction m(n) = mean_s f_s(n), and the
capacity at level ``1 - eps`` is where m falls through the level: the largest size a with m(a) >= level and the
next size b, interpolated linearly in log size (`crossing`). Nothing is measured between a and b: the interpolated
value is the grid's resolution, not a measurement, so every capacity comes with its bracket [a, b).

The interval (`grid_interval`) is a set of grid sizes, never an interpolation: C >= s at a size s where the seed
mean is at or above the level with 95% confidence (its across-seed interval, `memgen.stats.seed_interval`, lies at
or above it) or where EVERY seed is at or above it; C < s at a size where the mean is confidently below, or every
seed is below. The interval [ci_low, ci_high) runs from the largest size of the first kind to the smallest larger
size of the second, so it never lies above a size where every seed is below the level, nor below one where every
seed is above it. A bound that no size supplies is NaN (the capacity may lie beyond the grid). Coverage of a known
Definition-3.1 capacity on simulated seeds: benchmarks/capacity_coverage.py.

Censoring: a curve that never reaches the level at the grid's smallest size gives "capacity < smallest size", one
that never drops below it gives ">= largest size": a bound, not a crossing (column ``censored``, ``capacity`` then
holds the bound). Each seed's own curve is read the same way (`capacity_across_seeds`' per-seed table); a censored
seed is a bound there and never enters the estimate as a crossing.

The training budget sits beside every capacity: ``steps``, ``batch_size`` (group columns: a capacity is read at one
budget), ``base_image_presentations`` = steps x batch (draws of training images in the run) and ``epochs_per_image``
at the capacity (passes over each image of a training set of that size, `memgen.exposure.epochs_per_image`).

Pure functions on the aggregated per-cell table (``memgen.analysis.tables``); no plotting here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from memgen.errors import MemgenError
from memgen.stats import seed_flag, seed_interval, wilson_interval
from memgen.exposure import epochs_per_image

# The grid less size and seed: a capacity is read at one step budget and batch size.
GROUP_CANDIDATES = ["study", "dataset", "width", "dummy", "ndummy", "label", "steps", "batch_size"]
BUDGET_COLUMNS = ["base_image_presentations", "epochs_per_image", "budget"]
CAPACITY_COLUMNS = ["capacity", "ci_low", "ci_high", "level", "bracket_low", "bracket_high", "censored", "resolution",
                    "note", "n_sizes", *BUDGET_COLUMNS]
SEED_CAPACITY_COLUMNS = ["capacity", "ci_low", "ci_high", "level", "bracket_low", "bracket_high", "censored",
                         "resolution", "n_seeds", "seeds", "per_seed", "n_seeds_censored", "mean_curve", "note",
                         "n_sizes", *BUDGET_COLUMNS]
PER_SEED_COLUMNS = ["seed", "capacity", "bound", "censored", "bracket_low", "bracket_high"]
ALL_ABOVE, ALL_BELOW = "all above", "all below"
CODES = {0: None, 1: ALL_ABOVE, 2: ALL_BELOW}


def _check(table: pd.DataFrame, level: float) -> None:
    if not isinstance(table, pd.DataFrame):
        raise MemgenError(f"capacity input must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in ("width", "size", "replicate_fraction", "n_samples") if c not in table.columns]
    if missing:
        raise MemgenError(f"capacity table lacks column(s) {missing}")
    if table.empty:
        raise MemgenError("capacity table has no rows")
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0.0 < level < 1.0:
        raise MemgenError(f"level must lie in (0, 1), got {level!r}")
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


def read_curve(sizes: np.ndarray, frac: np.ndarray, level: float) -> dict:
    """One curve ``[S]`` read per Definition 3.1: capacity (the crossing, or the bound when censored), censored
    (None / "all above" / "all below"), bracket_low / bracket_high (the grid sizes the level falls between; NaN on
    a censored side)."""
    cap, code = crossing(sizes, frac[None, :], level)
    cap, code = float(cap[0]), int(code[0])
    if code == 0:
        a = int(np.flatnonzero(frac >= level).max())
        bracket = (float(sizes[a]), float(sizes[a + 1]))
    else:
        bracket = (float(sizes[-1]), np.nan) if code == 1 else (np.nan, float(sizes[0]))
    return {"capacity": cap, "censored": CODES[code], "bracket_low": bracket[0], "bracket_high": bracket[1]}


def grid_interval(sizes: np.ndarray, above: np.ndarray, below: np.ndarray) -> tuple[float, float, str]:
    """(ci_low, ci_high, note): the capacity lies in [ci_low, ci_high) (module docstring).

    sizes ``[S]`` increasing; above / below ``[S]`` bool: the curve is at or above the level at that size (with
    confidence, or at every seed) / below it. ci_low = the largest ``above`` size, ci_high = the smallest ``below``
    size beyond it; NaN where no size gives the bound. A ``below`` size under an ``above`` one (a curve that rises
    again) contradicts both rules at once: then (NaN, NaN) and a note naming the two sizes.
    """
    up, down = sizes[above], sizes[below]
    lo = float(up.max()) if up.size else np.nan
    if up.size and down.size and down.min() < lo:
        return np.nan, np.nan, (f"non-monotone: below the level at N = {down.min():g} but above it at N = {lo:g}; "
                                "no interval")
    beyond = down[down > lo] if up.size else down
    return lo, float(beyond.min()) if beyond.size else np.nan, ""


def _counts(sub: pd.DataFrame) -> pd.Series:
    if "n_replicates" in sub.columns:
        return sub["n_replicates"].astype(float)
    return np.rint(sub["replicate_fraction"].astype(float) * sub["n_samples"].astype(float))


def _pooled(sub: pd.DataFrame) -> pd.DataFrame:
    """One row per size: samples pooled over seeds (replicate counts summed), p = k / n."""
    pooled = pd.DataFrame({"size": sub["size"].astype(float), "k": _counts(sub),
                           "n": sub["n_samples"].astype(float)}).groupby("size", sort=True).sum()
    pooled["p"] = pooled["k"] / pooled["n"]
    return pooled


def _seed_curves(sub: pd.DataFrame, level: float) -> pd.DataFrame:
    """One row per size: the seed mean m(n) (Definition 3.1) with its across-seed interval and seed flag, and
    whether every seed is at or above / below the level."""
    rows = []
    for size, at in sub.groupby("size", sort=True):
        f = at["replicate_fraction"].to_numpy(dtype=np.float64)
        k, n = _counts(at).to_numpy(), at["n_samples"].to_numpy(dtype=np.float64)
        mean, lo, hi = seed_interval(f, k, n)
        rows.append(dict(size=float(size), mean=mean, lo=lo, hi=hi, flag=seed_flag(f, k, n), n_seeds=len(f),
                         all_above=bool(np.all(f >= level)), all_below=bool(np.all(f < level))))
    return pd.DataFrame(rows)


def _budget(row: dict) -> dict:
    """The training budget beside a capacity (module docstring; at the bound when censored); NaN / "" without
    steps and batch_size."""
    if not {"steps", "batch_size"} <= row.keys():
        return dict(base_image_presentations=np.nan, epochs_per_image=np.nan, budget="")
    steps, batch, cap = int(row["steps"]), int(row["batch_size"]), float(row["capacity"])
    epochs = epochs_per_image(steps, batch, cap + float(row.get("ndummy", 0) or 0))
    at = f"N = {cap:g} (the bound)" if row["censored"] else "the capacity"
    text = f"{steps:,} steps x batch {batch} = {steps * batch:,} presentations; {epochs:,.0f} epochs per image at {at}"
    return dict(base_image_presentations=float(steps * batch), epochs_per_image=epochs, budget=text)


def _resolution(read: dict, level: float) -> str:
    """What the grid says about the capacity: the bracket of a crossing, or the bound of a censored curve."""
    pct = f"{100 * level:g}%"
    if read["censored"] == ALL_ABOVE:
        return f">= {read['capacity']:g}: at or above {pct} at every size; larger sets are needed to find it"
    if read["censored"] == ALL_BELOW:
        return f"< {read['capacity']:g}: below {pct} at every size; smaller sets are needed to find it"
    return (f"between N = {read['bracket_low']:g} and {read['bracket_high']:g}, no size measured between: "
            f"{read['capacity']:.3g} is log-size interpolation (the grid's resolution, not a measurement)")


def _head(keys: list[str], key) -> dict:
    return dict(zip(keys, key if isinstance(key, tuple) else (key,)))


def memorization_capacity(table: pd.DataFrame, level: float = 0.9) -> pd.DataFrame:
    """Memorization capacity per width (and per other grid column present, except size and seed) of the curve of
    all samples pooled: the sampling noise of the models' samples only (one model per size, or seeds pooled; the
    seed spread is in `capacity_across_seeds`).

    table: one row per cell with ``width``, ``size``, ``replicate_fraction``, ``n_samples`` (``n_replicates`` used
    when present). level: the replicate fraction that counts as memorizing (the paper's 1 - eps; 0.9 in Figure 1's
    reading). The interval: `grid_interval` with a size counted above / below the level where the Wilson interval
    of its pooled samples lies at or above / below it, or (with a ``seed`` column) where every seed does.
    Returns one row per group: the group columns, then ``CAPACITY_COLUMNS``.
    """
    _check(table, level)
    keys = [c for c in GROUP_CANDIDATES if c in table.columns]
    rows = []
    for key, sub in table.groupby(keys, sort=True, dropna=False):
        pooled = _pooled(sub)
        sizes, p = pooled.index.to_numpy(dtype=np.float64), pooled["p"].to_numpy()
        w_lo, w_hi = wilson_interval(pooled["k"].to_numpy(), pooled["n"].to_numpy())
        above, below = w_lo >= level, w_hi < level
        if "seed" in sub.columns:
            per_size = sub.groupby("size", sort=True)["replicate_fraction"]
            above |= per_size.min().to_numpy() >= level
            below |= per_size.max().to_numpy() < level
        lo, hi, note = grid_interval(sizes, above, below)
        read = read_curve(sizes, p, level)
        row = _head(keys, key)
        row |= read | dict(ci_low=lo, ci_high=hi, level=float(level), resolution=_resolution(read, level),
                           note=note or None, n_sizes=len(sizes))
        rows.append(row | _budget(row))
    return pd.DataFrame(rows, columns=[*keys, *CAPACITY_COLUMNS])


def _per_seed(sub: pd.DataFrame, level: float) -> list[dict]:
    """Each seed's own curve read per Definition 3.1: a crossing, or a bound (capacity NaN) when censored."""
    out = []
    for seed, curve in sub.groupby("seed", sort=True):
        curve = _pooled(curve)
        read = read_curve(curve.index.to_numpy(dtype=np.float64), curve["p"].to_numpy(), level)
        bound = read["capacity"] if read["censored"] else np.nan
        out.append({"seed": seed, "capacity": np.nan if read["censored"] else read["capacity"], "bound": bound,
                    "censored": read["censored"], "bracket_low": read["bracket_low"],
                    "bracket_high": read["bracket_high"]})
    return out


def _seed_text(r: dict) -> str:
    if r["censored"] == ALL_BELOW:
        return f"{r['seed']}: <{r['bound']:g}"
    if r["censored"] == ALL_ABOVE:
        return f"{r['seed']}: >={r['bound']:g}"
    return f"{r['seed']}: {r['capacity']:.3g}"


def _interval_note(curves: pd.DataFrame, note: str) -> str:
    flagged = curves[curves["flag"] != ""]
    parts = [note] if note else []
    parts += [f"N = {r.size:g}: {r.flag} (only the every-seed rule bounds there)" for r in flagged.itertuples()]
    return "; ".join(parts)


def capacity_across_seeds(table: pd.DataFrame, level: float = 0.9) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Memorization capacity per width (and other grid group) per Definition 3.1: the crossing of the seed-averaged
    replicate curve, with its grid bracket, the grid interval of the module docstring and the training budget.

    table: as `memorization_capacity`, with a ``seed`` column (one row per size and seed). Per size, the seed mean
    and its across-seed interval (`memgen.stats.seed_interval` on the per-seed fractions; a size that
    `memgen.stats.seed_flag` flags gives no confidence-based bound, only the every-seed rule). One seed: no
    across-seed interval (ci_low, ci_high NaN; `memorization_capacity` gives that model's sampling interval).
    Returns (summary, per_seed): summary one row per group with ``SEED_CAPACITY_COLUMNS`` (per_seed: each seed's own
    crossing or bound as text, n_seeds_censored: the seeds whose curve never crosses in the grid, mean_curve: the
    seed mean per size in %); per_seed one row per group x seed with ``PER_SEED_COLUMNS`` (capacity NaN for a
    censored seed, whose bound is in ``bound``).
    """
    _check(table, level)
    if "seed" not in table.columns:
        raise MemgenError("capacity table lacks column(s) ['seed']")
    keys = [c for c in GROUP_CANDIDATES if c in table.columns]
    summary, per_seed = [], []
    for key, sub in table.groupby(keys, sort=True, dropna=False):
        head = _head(keys, key)
        seeds = _per_seed(sub, level)
        per_seed += [head | s for s in seeds]
        curves = _seed_curves(sub, level)
        sizes = curves["size"].to_numpy()
        read = read_curve(sizes, curves["mean"].to_numpy(), level)
        n_seeds = sub["seed"].nunique()
        lo = hi = np.nan
        note = "one seed: no across-seed interval" if n_seeds < 2 else ""
        if n_seeds >= 2:
            ok = curves["flag"] == ""
            above = (ok & (curves["lo"] >= level)) | curves["all_above"]
            below = (ok & (curves["hi"] < level)) | curves["all_below"]
            lo, hi, note = grid_interval(sizes, above.to_numpy(), below.to_numpy())
            note = _interval_note(curves, note)
        row = head | read | dict(
            ci_low=lo, ci_high=hi, level=float(level), resolution=_resolution(read, level), n_seeds=n_seeds,
            seeds=",".join(str(s["seed"]) for s in seeds), per_seed=", ".join(_seed_text(s) for s in seeds),
            n_seeds_censored=sum(s["censored"] is not None for s in seeds),
            mean_curve=", ".join(f"N={n:g}: {100 * m:.1f}" for n, m in zip(sizes, curves["mean"])),
            note=note or None, n_sizes=len(sizes))
        summary.append(row | _budget(row))
    return (pd.DataFrame(summary, columns=[*keys, *SEED_CAPACITY_COLUMNS]),
            pd.DataFrame(per_seed, columns=[*keys, *PER_SEED_COLUMNS]))


def capacity_seed_summary(table: pd.DataFrame, level: float = 0.9) -> pd.DataFrame:
    """The summary of `capacity_across_seeds` (one row per width and group): the study's table of that name."""
    return capacity_across_seeds(table, level)[0]
