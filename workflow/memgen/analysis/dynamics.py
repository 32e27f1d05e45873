"""Training time as a measured axis: when a model starts to generalize, when it starts to copy, when to stop.

Bonnaire, Urfin, Biroli & Mezard (NeurIPS 2025, "Why diffusion models don't memorize") and Favero, Sclocchi &
Wyart (2025) find two time scales: "an early time tau_gen at which models begin to generate high-quality samples,
and a later time tau_mem beyond which memorization emerges"; tau_gen does not depend on the training-set size N,
tau_mem grows linearly with it. Both measure single runs; here every onset is measured per training seed and
carried across seeds (the exponent of tau_mem(N) and the claims: `memgen.analysis.exponent`).

Pure functions on a snapshot table: one row per run (the grid columns less ``steps``, e.g. width, size, seed, and
``weights``: "ema" or "raw") and snapshot step ``steps``, with ``replicate_fraction``, ``frac_invalid`` and
``frac_novel_valid`` (``frac_novel`` for kinds without a validity rule) and ``n_samples``. Three onsets:

- ``tau_gen``: the valid fraction (1 - invalid: copies count, as they count in the FID by which Bonnaire et al.
  judge "high-quality samples") reaches ``gen_level``. Undefined for a kind without a validity rule (real
  images): memgen has no measure of their quality.
- ``tau_novel``: the novel-and-valid fraction (novel, for a kind without a rule) reaches ``gen_level``: the model
  generalizes in Yoon et al.'s sense. At a small N it may never do so, copying first (right-censored): that is a
  property of the measure, which is why the claim on tau_gen is read on quality, as the paper's is.
- ``tau_mem``: the replicate fraction reaches ``mem_level``.

Snapshots are log-spaced, so the data say only that a level was passed between two snapshots: each onset is an
interval [lo, hi] of steps (lo the last snapshot below the level, hi the first at or above it) with a point estimate
interpolated linearly in log steps (as capacity is read on log size). Passed at the first snapshot:
left-censored, (0, s_1]; never passed by the last: right-censored, [s_K, inf); no measure: undefined.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import t as t_dist

from memgen.errors import MemgenError

EXACT, INTERVAL, LEFT, RIGHT, UNDEFINED = "exact", "interval", "left", "right", "undefined"
ONSETS = {"tau_gen": "high-quality (valid) samples", "tau_novel": "novel and valid samples",
          "tau_mem": "replicates"}
RUN_COLUMNS = ("study", "dataset", "width", "size", "dummy", "ndummy", "label", "batch_size", "train_steps", "seed",
               "weights")


def first_passage(steps, values, level: float) -> tuple[float, float, float, str]:
    """When ``values`` (one run, ordered by increasing ``steps`` > 0) first reach ``level``.

    Returns (estimate, lo, hi, censoring): censoring "interval" (lo = the last step below, hi = the first at or
    above, estimate interpolated in log steps: log tau = log lo + (level - v_lo) / (v_hi - v_lo) (log hi - log lo)),
    "left" (reached at the first snapshot: lo = 0, hi = estimate = s_1), "right" (never reached: lo = s_K,
    hi = inf, estimate NaN), "undefined" (no value measured: NaN everywhere)."""
    s = np.asarray(steps, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if s.ndim != 1 or s.shape != v.shape or s.size == 0 or np.any(s <= 0) or np.any(np.diff(s) <= 0):
        raise MemgenError(f"first_passage: steps must be increasing positive numbers matching the values, got {s}")
    if np.isnan(v).all():
        return float("nan"), float("nan"), float("nan"), UNDEFINED
    hit = np.flatnonzero(v >= level)  # a NaN snapshot counts as not reached
    if hit.size == 0:
        return float("nan"), float(s[-1]), float("inf"), RIGHT
    j = int(hit[0])
    if j == 0:
        return float(s[0]), 0.0, float(s[0]), LEFT
    lo, hi, v_lo, v_hi = s[j - 1], s[j], np.nan_to_num(v[j - 1]), v[j]
    frac = (level - v_lo) / (v_hi - v_lo)
    return float(np.exp(np.log(lo) + frac * (np.log(hi) - np.log(lo)))), float(lo), float(hi), INTERVAL


def measures(table: pd.DataFrame) -> dict[str, tuple[str, pd.Series]]:
    """Per onset: (the measure's name, its values per row) of a snapshot table."""
    nan = pd.Series(np.nan, index=table.index)
    invalid = table["frac_invalid"] if "frac_invalid" in table else nan
    has_rule = "frac_novel_valid" in table and table["frac_novel_valid"].notna().any()
    novel = ("novel and valid", table["frac_novel_valid"]) if has_rule else \
        ("novel", table["frac_novel"] if "frac_novel" in table else nan)
    return {"tau_gen": ("valid (1 - invalid)", 1.0 - invalid), "tau_novel": novel,
            "tau_mem": ("replicates", table["replicate_fraction"])}


def run_keys(table: pd.DataFrame) -> list[str]:
    """The columns that name a run (a model trained once, sampled from one kind of weights) in a table."""
    need = ["steps", "seed", "size", "replicate_fraction"]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise MemgenError(f"snapshot table lacks column(s) {missing}")
    return [c for c in RUN_COLUMNS if c in table.columns]


def onset_times(table: pd.DataFrame, gen_level: float, mem_level: float) -> pd.DataFrame:
    """One row per run: its grid columns, ``n_snapshots``, ``first_step``, ``last_step``, the levels, and for each
    onset o of `ONSETS`: ``o`` (estimate, steps), ``o_lo``, ``o_hi``, ``o_censoring`` and ``o_measure``."""
    keys = run_keys(table)
    values = measures(table)
    rows = []
    for key, run in table.groupby(keys, sort=True, dropna=False):
        run = run.sort_values("steps")
        if run["steps"].duplicated().any():
            raise MemgenError(f"snapshot table: run {dict(zip(keys, key))} has two rows at one step")
        row = dict(zip(keys, key)) | {"n_snapshots": len(run), "first_step": int(run["steps"].iloc[0]),
                                      "last_step": int(run["steps"].iloc[-1]), "gen_level": gen_level,
                                      "mem_level": mem_level}
        for name, (measure, series) in values.items():
            level = mem_level if name == "tau_mem" else gen_level
            est, lo, hi, cens = first_passage(run["steps"], series.loc[run.index], level)
            row.update({name: est, f"{name}_lo": lo, f"{name}_hi": hi, f"{name}_censoring": cens,
                        f"{name}_measure": measure})
        rows.append(row)
    return pd.DataFrame(rows)


def cell_keys(frame: pd.DataFrame) -> list[str]:
    """The columns that name a cell across seeds (a run's columns less seed)."""
    return [c for c in RUN_COLUMNS if c in frame.columns and c != "seed"]


def _log_interval(logs: np.ndarray, confidence: float) -> tuple[float, float]:
    if logs.size < 2:
        return float("nan"), float("nan")
    half = t_dist.ppf(0.5 + confidence / 2, logs.size - 1) * logs.std(ddof=1) / np.sqrt(logs.size)
    return float(np.exp(logs.mean() - half)), float(np.exp(logs.mean() + half))


def censored_median(sub: pd.DataFrame, name: str) -> float:
    """The median over seeds of an onset, a left-censored seed counted below every other and a right-censored one
    above: defined when the middle seed(s) are seen between two snapshots, else NaN."""
    cens = sub[f"{name}_censoring"].to_numpy()
    if (cens == UNDEFINED).any():
        return float("nan")
    values = np.where(cens == LEFT, -np.inf, np.where(cens == RIGHT, np.inf, np.log(sub[name].to_numpy(float))))
    middle = np.sort(values)[[(len(values) - 1) // 2, len(values) // 2]]
    return float(np.exp(middle.mean())) if np.isfinite(middle).all() else float("nan")


def onset_across_seeds(onsets: pd.DataFrame, confidence: float = 0.95, names=tuple(ONSETS)) -> pd.DataFrame:
    """One row per cell (the run columns less seed), for each onset: ``<o>_mean`` and ``<o>_ci_low/high``
    (geometric mean and t-interval on log steps over the seeds, when every seed's onset was seen between two
    snapshots; NaN otherwise, since the seeds left out would be the earliest or the latest), ``<o>_median`` (over
    every seed, censored ones as bounds: `censored_median`) and ``<o>_censored`` ("1 right" etc.); ``n_seeds``."""
    keys = cell_keys(onsets)
    rows = []
    for key, sub in onsets.groupby(keys, sort=True, dropna=False):
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,))) | {"n_seeds": int(sub["seed"].nunique())}
        for name in names:
            cens = sub[f"{name}_censoring"]
            logs = np.log(sub[name].to_numpy(dtype=np.float64))
            seen = bool((cens == INTERVAL).all())
            lo, hi = _log_interval(logs, confidence) if seen else (float("nan"), float("nan"))
            counts = cens.value_counts()
            row.update({f"{name}_mean": float(np.exp(logs.mean())) if seen else float("nan"),
                        f"{name}_ci_low": lo, f"{name}_ci_high": hi, f"{name}_median": censored_median(sub, name),
                        f"{name}_censored": ", ".join(f"{int(counts[c])} {c}" for c in (LEFT, RIGHT, UNDEFINED)
                                                      if c in counts)})
        rows.append(row)
    return pd.DataFrame(rows)


def stopping_points(table: pd.DataFrame, level: float, confidence: float = 0.95) -> pd.DataFrame:
    """The answer to "how long can I train before it copies?", per cell (run columns less seed):

    - ``stop_before``: the last snapshot at which the replicate fraction of every seed has stayed below ``level``
      at that snapshot and all earlier ones (NaN when some seed copies at the first snapshot);
    - ``first_unsafe``: the next snapshot, where some seed reached it (NaN if none did: the budget is safe);
    - ``replicates_upper``: at ``stop_before``, the highest Wilson 95% upper bound of a seed's replicate fraction
      (its ``ci_high``): what the samples allow at that step;
    - ``tau_stop_*``: each seed's first passage of ``level`` (`first_passage`) across seeds (`onset_across_seeds`),
      the interpolated step at which copying reaches the level, with its interval."""
    keys = cell_keys(table)
    across = onset_across_seeds(onset_times(table, gen_level=np.inf, mem_level=level), confidence, ("tau_mem",))
    across = across.rename(columns={c: c.replace("tau_mem", "tau_stop") for c in across.columns})
    rows = []
    for key, sub in table.groupby(keys, sort=True, dropna=False):
        steps = np.sort(sub["steps"].unique())
        wide = sub.pivot_table(index="steps", columns="seed", values="replicate_fraction").reindex(steps)
        unsafe = np.logical_or.accumulate((wide.to_numpy() >= level).any(axis=1))
        safe = steps[~unsafe]
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        stop = float(safe[-1]) if safe.size else float("nan")
        upper = sub.loc[sub["steps"] == stop, "ci_high"].max() if "ci_high" in sub and safe.size else float("nan")
        row.update(level=level, seeds=",".join(str(s) for s in wide.columns), stop_before=stop,
                   first_unsafe=float(steps[unsafe][0]) if unsafe.any() else float("nan"),
                   replicates_upper=float(upper))
        rows.append(row)
    stop_cols = [c for c in across.columns if c.startswith("tau_stop")]
    return pd.DataFrame(rows).merge(across[keys + stop_cols], on=keys, how="left")
