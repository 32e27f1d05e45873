"""What the outcome figures draw, as tables (no drawing here): per cell every outcome's seed mean, interval and
per-seed values, and the claims of a study's comparisons table placed on those cells.

A figure's Parquet table (written beside its PNG) is `figure_table`: rows of three parts, named by ``part``:

- ``cell``: one row per drawn cell (x label): the grid columns, ``x`` and ``series`` (where it is drawn),
  ``n_seeds``, ``seeds``, ``interval`` (what ``ci_low_*`` / ``ci_high_*`` are: ``INTERVAL_SEEDS``, the 95%
  interval across training seeds of `memgen.stats.seed_interval`, or with one seed ``INTERVAL_WILSON``, the 95%
  Wilson interval of that one model's samples), and for each measure m (the outcomes of
  `memgen.analysis.seeds.OUTCOMES`, then any other measure drawn): ``mean_m``, ``ci_low_m``, ``ci_high_m``,
  ``min_m``, ``max_m`` and ``per_seed_m`` (percent per seed, in seed order, "97.7/94.5/70.3"). An outcome that does
  not apply to the cell's kind (novel and valid without a validity rule, say) is NaN.
- ``claim``: one row per row of the comparisons table: ``mark`` (its number on the figure), ``name``, ``a``, ``b``,
  ``measure``, ``verdict``, ``verdict_class`` (`memgen.analysis.seeds.verdict_class`), ``panel`` (the measure's
  panel), ``drawn`` and ``note`` (why a claim is not drawn: its cells are not in the figure, or its measure is not).
- ``sample``: the samples of the gallery strips (`memgen.analysis.strips`), one row each.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from memgen.analysis.plotting import require
from memgen.analysis.seeds import OUTCOMES, across_seeds, trials_column, verdict_class
from memgen.analysis.tables import GRID
from memgen.errors import MemgenError
from memgen.stats import seed_interval, wilson_interval

STATS = ("mean", "ci_low", "ci_high", "min", "max")
INTERVAL_SEEDS = "95% interval across seeds"
INTERVAL_WILSON = "95% Wilson interval of one model's samples"
# A comparison's measure -> the outcome panel it is drawn on (generalizing_fraction is novel_valid by definition,
# memgen.evaluation.assess); any other measure is drawn on a panel of its own when the figure has it.
MEASURE_PANEL = {"replicate_fraction": "replicate", "frac_replicate": "replicate",
                 "frac_partial_copy": "partial_copy", "frac_novel_valid": "novel_valid",
                 "generalizing_fraction": "novel_valid", "frac_invalid": "invalid", "frac_novel": "novel"}
CLAIM_COLUMNS = ["mark", "name", "a", "b", "measure", "verdict", "verdict_class", "panel", "drawn", "note"]


def value_column(measure: str) -> str:
    """The per-seed column of a measure: the outcome ``replicate`` is ``replicate_fraction``, another outcome o
    is ``frac_o``, anything else its own name."""
    if measure == "replicate":
        return "replicate_fraction"
    return f"frac_{measure}" if measure in OUTCOMES else measure


def with_seed(table: pd.DataFrame) -> pd.DataFrame:
    """A replicates table with a ``seed`` column (0 where it has none: one model per cell)."""
    return table if "seed" in table.columns else table.assign(seed=0)


def cell_keys(table: pd.DataFrame) -> list[str]:
    """The columns that name a cell (x label) of a replicates table: its grid columns less ``seed``."""
    return [c for c in GRID if c != "seed" and c in table.columns] + (["batch_size"] if "batch_size" in table else [])


def _counts(rows: pd.DataFrame, column: str, counts: tuple[str, str] | None):
    """(k, n) per seed of a fraction column, or (None, None) when the table cannot say."""
    if counts is not None and set(counts) <= set(rows.columns):
        return rows[counts[0]].to_numpy(dtype=np.float64), rows[counts[1]].to_numpy(dtype=np.float64)
    trials = trials_column(column)
    if trials is None or trials not in rows.columns:
        return None, None
    n = rows[trials].to_numpy(dtype=np.float64)
    return np.rint(rows[column].to_numpy(dtype=np.float64) * n), n


def _wilson(rows: pd.DataFrame, measure: str, k, n) -> tuple[float, float]:
    """One model's Wilson interval: the table's own bounds where it has them, else from its counts."""
    if measure == "replicate" and {"ci_low", "ci_high"} <= set(rows.columns):
        return float(rows["ci_low"].iloc[0]), float(rows["ci_high"].iloc[0])
    if f"ci_low_{measure}" in rows.columns:
        return float(rows[f"ci_low_{measure}"].iloc[0]), float(rows[f"ci_high_{measure}"].iloc[0])
    if k is None:
        return np.nan, np.nan
    lo, hi = wilson_interval(k.astype(np.int64), n.astype(np.int64))
    return float(lo[0]), float(hi[0])


def measure_stats(rows: pd.DataFrame, measure: str, counts: tuple[str, str] | None = None) -> dict:
    """``mean/ci_low/ci_high/min/max/per_seed`` of one measure over a cell's per-seed rows (sorted by seed): the
    across-seed interval of `memgen.stats.seed_interval` with 2+ seeds, one model's Wilson interval with one;
    NaN (and "") where no seed has a value. counts: (successes, trials) columns of the fraction, when not the
    samples (``("n_train_replicated", "n_train")`` for ``frac_train_replicated``)."""
    col = value_column(measure)
    out = dict.fromkeys(STATS, np.nan) | {"per_seed": ""}
    if col not in rows.columns or rows[col].notna().sum() == 0:
        return out
    ok = rows[rows[col].notna()]
    values = ok[col].to_numpy(dtype=np.float64)
    k, n = _counts(ok, col, counts)
    mean, lo, hi = seed_interval(values, k, n)
    if len(values) == 1:
        lo, hi = _wilson(ok, measure, k, n)
    return out | {"mean": mean, "ci_low": lo, "ci_high": hi, "min": float(values.min()), "max": float(values.max()),
                  "per_seed": "/".join(f"{100 * v:.1f}" for v in values)}


def cell_outcomes(table: pd.DataFrame, across: pd.DataFrame | None = None, extra: Mapping | None = None):
    """One row per cell (x label) of a replicates table (``part == "cell"`` of the module docstring, less ``x``
    and ``series``). across: the study's ``across_seeds`` table; when given, its means and intervals are the
    ones drawn (they must cover the same cells), else they are computed (`memgen.analysis.seeds.across_seeds`).
    extra: {measure column: (successes, trials) columns or None} drawn beside the outcomes."""
    require(table, ["replicate_fraction", "n_samples"], "replicates table")
    table = with_seed(table)
    keys = cell_keys(table)
    rows = []
    for key, sub in table.groupby(keys, sort=True, dropna=False) if keys else [((), table)]:
        sub = sub.sort_values("seed", kind="stable")
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        row |= {"n_seeds": len(sub), "seeds": ",".join(str(s) for s in sub["seed"]),
                "interval": INTERVAL_SEEDS if len(sub) > 1 else INTERVAL_WILSON}
        for measure, counts in [*((o, None) for o in OUTCOMES), *(extra or {}).items()]:
            row |= {f"{s}_{measure}": v for s, v in measure_stats(sub, measure, counts).items()}
        rows.append(row)
    cells = pd.DataFrame(rows)
    return _with_across(cells, across, keys) if across is not None else cells


def _with_across(cells: pd.DataFrame, across: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The seed means and intervals of the ``across_seeds`` table in place of the computed ones (cells of 2+
    seeds); the table must hold every cell of the replicates table."""
    require(across, [*keys, "mean_replicate"], "across_seeds table")
    cols = [f"{s}_{o}" for o in OUTCOMES for s in STATS if f"{s}_{o}" in across.columns]
    merged = cells[keys].merge(across[[*keys, *cols]], on=keys, how="left", indicator=True)
    if (merged["_merge"] != "both").any():
        missing = cells[keys][(merged["_merge"] != "both").to_numpy()].iloc[0].to_dict()
        raise MemgenError(f"across_seeds table has no row for the cell {missing} of the replicates table")
    multi = (cells["n_seeds"] > 1).to_numpy()
    out = cells.copy()
    for col in cols:
        out.loc[multi, col] = merged.loc[multi, col].to_numpy()
    return out


def parse_filters(text: str) -> dict | float:
    """A comparison side as written by `memgen.analysis.seeds.describe`: "width=16, size=64" -> {"width": "16",
    "size": "64"} ("a|b" -> ["a", "b"]); a one-sample constant ("0", "0.5") -> the number."""
    text = str(text).strip()
    if "=" not in text:
        try:
            return float(text)
        except ValueError:
            raise MemgenError(f"comparison side {text!r}: neither 'column=value, ...' nor a number") from None
    out = {}
    for part in text.split(", "):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise MemgenError(f"comparison side {text!r}: {part!r} is not column=value")
        out[key.strip()] = value.split("|") if "|" in value else value
    return out


def _same(value, wanted: str) -> bool:
    if isinstance(value, (bool, np.bool_)):
        value = int(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        try:
            return float(wanted) == float(value)
        except ValueError:
            return False
    return str(value) == wanted


def matching(cells: pd.DataFrame, filters: dict) -> list[int]:
    """Positions of the cells whose columns match every filter (a value, or a list of allowed values)."""
    if any(k not in cells.columns for k in filters):
        return []
    hits = []
    for i, (_, row) in enumerate(cells.iterrows()):
        if all(any(_same(row[k], w) for w in (v if isinstance(v, list) else [v])) for k, v in filters.items()):
            hits.append(i)
    return hits


def _place(cells: pd.DataFrame, side: str, what: str) -> tuple[int | None, str]:
    hits = matching(cells, parse_filters(side))
    if len(hits) == 1:
        return hits[0], ""
    return None, f"{what} ({side}) is {'not' if not hits else f'{len(hits)} cells'} in this figure"


def _valued(cells: pd.DataFrame, panel: str, a: int, b) -> bool:
    col = f"mean_{panel}"
    return col in cells.columns and all(np.isfinite(cells[col].iloc[i]) for i in [a, b] if isinstance(i, int))


def claim_marks(comparisons: pd.DataFrame | None, cells: pd.DataFrame, panels) -> tuple[pd.DataFrame, list]:
    """The claims of a comparisons table placed on a figure's cells: (the ``claim`` rows of the module docstring,
    and per drawn claim (mark, verdict class, panel, position of cell a, position of cell b or the constant)).
    panels: the panels the figure draws (outcomes, or other measures by column name)."""
    if comparisons is None or comparisons.empty:
        return pd.DataFrame(columns=CLAIM_COLUMNS), []
    require(comparisons, ["name", "a", "b", "measure", "verdict"], "comparisons table")
    rows, placed = [], []
    for i, c in enumerate(comparisons.itertuples(index=False), start=1):
        panel = MEASURE_PANEL.get(c.measure, c.measure)
        a, note = _place(cells, c.a, "a")
        b = parse_filters(c.b)
        if not note and isinstance(b, dict):
            b, note = _place(cells, c.b, "b")
        if panel not in panels:
            note = f"the measure {c.measure} is not drawn in this figure"
        elif not note and not _valued(cells, panel, a, b):
            note = f"a cell has no value of {c.measure} (it does not apply to its kind)"
        cls = verdict_class(c.verdict)
        rows.append({"mark": str(i), "name": c.name, "a": c.a, "b": c.b, "measure": c.measure, "verdict": c.verdict,
                     "verdict_class": cls, "panel": panel, "drawn": not note, "note": note})
        if not note:
            placed.append((str(i), cls, panel, a, b))
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS), placed


def figure_table(cells: pd.DataFrame, claims: pd.DataFrame, samples: pd.DataFrame | None = None) -> pd.DataFrame:
    """The figure's Parquet table: its cells, claims and strip samples in one frame, ``part`` first."""
    parts = [cells.assign(part="cell"), claims.assign(part="claim")]
    if samples is not None and not samples.empty:
        parts.append(samples.assign(part="sample"))
    parts = [p for p in parts if not p.empty]
    out = pd.concat(parts, ignore_index=True)
    for col in {c for p in parts for c in p.columns if pd.api.types.is_integer_dtype(p[c])}:
        values = pd.to_numeric(out[col], errors="coerce").dropna()
        if len(values) == out[col].notna().sum() and (values == values.round()).all():
            out[col] = out[col].astype("Int64")  # a grid column stays integer where other parts lack it
    return out[["part", *[c for c in out.columns if c != "part"]]]
