"""Training seeds as a measured axis: per-cell summaries across seeds, and (re-exported from their modules) the
declarative comparisons between cells with their verdicts.

Pure functions on tidy tables (no file I/O). The statistics are `memgen.stats`'s: `seed_interval` (t-interval
over seeds, angular scale and pooled-Wilson floor for fractions) and `seed_flag` (why an interval may not hold its
level at few seeds).

- `across_seeds`: a replicates table (one row per cell x label x seed, `memgen.analysis.tables`) to one row per
  cell x label with each outcome's seed mean, its across-seed interval, its flag and the per-seed min and max.
- `Comparison` / `compare` / `comparisons_table` (`memgen.analysis.claims`) and `comparisons_markdown`
  (`memgen.analysis.claims_markdown`): claims between two cells of any tidy table with a ``seed`` column, decided
  in parts (`memgen.analysis.verdicts`: copying, generalization, trained). Every verdict text starts with one of
  `VERDICT_CLASSES`; `verdict_class` gives it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from memgen.analysis.claims import (COMPARISON_COLUMNS, Comparison, check_seeds, compare, comparisons_table,
                                    describe)
from memgen.analysis.claims_markdown import comparisons_markdown
from memgen.analysis.tables import GRID
from memgen.analysis.verdicts import NOT_RUN, VERDICT_CLASSES, counts, trials_column, verdict_class
from memgen.errors import MemgenError
from memgen.stats import seed_flag, seed_interval

__all__ = ["COMPARISON_COLUMNS", "Comparison", "NOT_RUN", "OUTCOMES", "VERDICT_CLASSES", "across_seeds",
           "across_seeds_markdown", "compare", "comparisons_markdown", "comparisons_table", "describe",
           "trials_column", "verdict_class"]

OUTCOMES = ("replicate", "partial_copy", "novel_valid", "invalid", "novel")
STATS = ("mean", "ci_low", "ci_high", "min", "max", "flag")


def _require(table: pd.DataFrame, columns, what: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise MemgenError(f"{what} must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise MemgenError(f"{what} lacks column(s) {missing}")


def _value_column(outcome: str) -> str:
    return "replicate_fraction" if outcome == "replicate" else f"frac_{outcome}"


def _outcome(sub: pd.DataFrame, col: str) -> dict:
    """``STATS`` of one outcome over the seeds that have it (NaN and "" where none does)."""
    stats = dict.fromkeys(STATS, np.nan) | {"flag": ""}
    ok = sub[sub[col].notna()] if col in sub.columns else sub.iloc[:0]
    if len(ok):
        values, k_n = ok[col].to_numpy(dtype=np.float64), counts(ok, col) or (None, None)
        mean, lo, hi = seed_interval(values, *k_n)
        stats.update(mean=mean, ci_low=lo, ci_high=hi, min=float(ok[col].min()), max=float(ok[col].max()),
                     flag=seed_flag(values, *k_n))
    return stats


def across_seeds(table: pd.DataFrame) -> pd.DataFrame:
    """One row per cell x label of a replicates table: the grid columns less ``seed`` (and ``batch_size``), then
    ``n_seeds`` and ``seeds`` ("0,1,2": the seeds with a replicate fraction, the ones the intervals use),
    ``n_samples`` (those seeds'), ``per_seed_replicate`` (replicate % per seed, in seed order) and, for each
    outcome o of ``OUTCOMES``, ``mean_<o>``, ``ci_low_<o>``, ``ci_high_<o>`` (the across-seed 95% interval of
    `memgen.stats.seed_interval`: NaN below 2 seeds, a cell with one seed, e.g. an imported checkpoint, has no
    across-seed interval), ``min_<o>``, ``max_<o>`` (NaN where the outcome does not apply to the label's kind) and
    ``flag_<o>`` (`memgen.stats.seed_flag`: why the interval may not hold its level, "" when it does). The
    replicate outcome reads ``replicate_fraction`` and ``n_replicates``, the others ``frac_<o>`` times
    ``n_samples``."""
    _require(table, ["seed", "replicate_fraction", "n_samples"], "replicates table")
    keys = [c for c in GRID if c != "seed" and c in table.columns] + (["batch_size"] if "batch_size" in table else [])
    rows = []
    for key, sub in table.groupby(keys, sort=True, dropna=False) if keys else [((), table)]:
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        check_seeds(sub, f"replicates table cell {row}")
        sub = sub[sub["replicate_fraction"].notna()].sort_values("seed", kind="stable")
        row.update(n_seeds=len(sub), seeds=",".join(str(s) for s in sub["seed"]),
                   n_samples=int(sub["n_samples"].sum()),
                   per_seed_replicate="/".join(f"{100 * v:.1f}" for v in sub["replicate_fraction"]))
        for o in OUTCOMES:
            row.update({f"{s}_{o}": v for s, v in _outcome(sub, _value_column(o)).items()})
        rows.append(row)
    return pd.DataFrame(rows, columns=[*keys, "n_seeds", "seeds", "n_samples", "per_seed_replicate",
                                       *[f"{s}_{o}" for o in OUTCOMES for s in STATS]])


def _pct(r, o: str) -> str:
    """``mean% (95% across-seed interval) [min-max]``; the mean alone where there is no interval (one seed: its
    min and max are the mean, not a range); the flag after it."""
    mean = r[f"mean_{o}"]
    if pd.isna(mean):
        return "-"
    if pd.isna(r[f"ci_low_{o}"]):
        text = f"{100 * mean:.1f}%"
    else:
        text = (f"{100 * mean:.1f}% ({100 * r[f'ci_low_{o}']:.1f}-{100 * r[f'ci_high_{o}']:.1f}) "
                f"[{100 * r[f'min_{o}']:.1f}-{100 * r[f'max_{o}']:.1f}]")
    flag = r.get(f"flag_{o}")
    return text + (f" (flag: {flag})" if isinstance(flag, str) and flag else "")


def across_seeds_markdown(table: pd.DataFrame) -> str:
    """Markdown of `across_seeds`: per cell, each outcome as ``mean% (95% across-seed interval) [min-max]``; a
    cell with one seed says so in its seeds column and shows its values alone."""
    cols = [c for c in ("width", "size", "dummy", "ndummy", "conditional", "label", "steps") if c in table.columns]
    head = [*cols, "seeds", "replicates per seed (%)", "replicates", "partial copies",
            "novel & valid (*: novel, no validity rule)", "invalid"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in table.iterrows():
        novel = _pct(r, "novel_valid")
        seeds = f"{r['n_seeds']} ({r['seeds']})"
        if r["n_seeds"] < 2:
            seeds += ": one seed, no across-seed interval"
        cells = [str(r[c]) for c in cols] + [seeds, r["per_seed_replicate"], _pct(r, "replicate"),
                                             _pct(r, "partial_copy"), novel if novel != "-" else _pct(r, "novel") + "*",
                                             _pct(r, "invalid")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
