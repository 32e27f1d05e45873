"""Training seeds as a measured axis: per-cell summaries across seeds and declarative comparisons with verdicts.

Pure functions on tidy tables (no file I/O). The statistics are `memgen.stats`'s: `seed_interval` (t-interval
over seeds, angular scale and pooled-Wilson floor for fractions), `seed_difference` (paired t where two cells share
a seed's base images, else Welch), `verdict` and `holm`.

- `across_seeds`: a replicates table (one row per cell x label x seed, `memgen.analysis.tables`) to one row per
  cell x label with each outcome's seed mean, its across-seed interval and the per-seed min and max.
- `Comparison` / `compare`: two cells of ANY tidy table with a ``seed`` column and a measure column (replicates,
  disjoint-split agreement, per-seed loss gaps), one row per comparison with the difference of seed means, its
  interval, the test that ran and a verdict. A cell that matches no row gives the verdict ``not run``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import ttest_1samp

from memgen.analysis.tables import GRID
from memgen.errors import MemgenError
from memgen.stats import holm, seed_difference, seed_interval, verdict

OUTCOMES = ("replicate", "partial_copy", "novel_valid", "invalid", "novel")
STATS = ("mean", "ci_low", "ci_high", "min", "max")
NOT_RUN = "not run"
# Every verdict text starts with one of these words (the rest says why); figures and the report colour by it.
VERDICT_CLASSES = ("supported", "reversed", "unresolved", "untestable", NOT_RUN)
PAIR_MEASURES = ("frac_same", "frac_same_novel")  # fractions of sample pairs (agreement tables: n_pairs trials)
COMPARISON_COLUMNS = ["name", "a", "b", "measure", "n_seeds_a", "n_seeds_b", "mean_a", "mean_b", "diff", "ci_low",
                      "ci_high", "test", "p_value", "p_holm", "expected", "verdict", "note"]


def verdict_class(text: str) -> str:
    """The class of a verdict text (`VERDICT_CLASSES`): "unresolved at 3 seeds" -> "unresolved"."""
    for cls in VERDICT_CLASSES:
        if str(text).startswith(cls):
            return cls
    raise MemgenError(f"verdict {text!r} starts with none of {', '.join(VERDICT_CLASSES)}")


def _require(table: pd.DataFrame, columns, what: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise MemgenError(f"{what} must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise MemgenError(f"{what} lacks column(s) {missing}")


def _value_column(outcome: str) -> str:
    return "replicate_fraction" if outcome == "replicate" else f"frac_{outcome}"


def trials_column(measure: str) -> str | None:
    """The column holding the trials of a binomial measure (its values are k / n), None for other measures."""
    if measure in PAIR_MEASURES:
        return "n_pairs"
    if measure in ("replicate_fraction", "memorized_fraction", "generalizing_fraction") or measure.startswith("frac_"):
        return "n_samples"
    return None


def _counts(rows: pd.DataFrame, measure: str):
    """(k [S], n [S]) of a binomial measure, or None (not binomial, or the table has no trials column)."""
    trials = trials_column(measure)
    if trials is None or trials not in rows.columns:
        return None
    n = rows[trials].to_numpy(dtype=np.float64)
    if measure == "replicate_fraction" and "n_replicates" in rows.columns:
        return rows["n_replicates"].to_numpy(dtype=np.float64), n
    return np.rint(rows[measure].to_numpy(dtype=np.float64) * n), n


def _check_seeds(rows: pd.DataFrame, what: str) -> None:
    dup = rows["seed"][rows["seed"].duplicated()]
    if len(dup):
        varying = [c for c in rows.columns if c != "seed" and rows[c].nunique(dropna=False) > 1][:6]
        raise MemgenError(f"{what}: seed {dup.iloc[0]} appears in {int((rows['seed'] == dup.iloc[0]).sum())} rows; "
                          f"pin the columns that differ among them ({', '.join(map(str, varying))})")


def across_seeds(table: pd.DataFrame) -> pd.DataFrame:
    """One row per cell x label of a replicates table: the grid columns less ``seed`` (and ``batch_size``), then
    ``n_seeds``, ``seeds`` ("0,1,2"), ``n_samples`` (all seeds), ``per_seed_replicate`` (replicate % per seed, in
    seed order) and, for each outcome o of ``OUTCOMES``, ``mean_<o>``, ``ci_low_<o>``, ``ci_high_<o>`` (the
    across-seed 95% interval of `memgen.stats.seed_interval`, NaN below 2 seeds), ``min_<o>``, ``max_<o>`` (NaN
    where the outcome does not apply to the label's kind). The replicate outcome reads ``replicate_fraction`` and
    ``n_replicates``, the others ``frac_<o>`` times ``n_samples``."""
    _require(table, ["seed", "replicate_fraction", "n_samples"], "replicates table")
    keys = [c for c in GRID if c != "seed" and c in table.columns] + (["batch_size"] if "batch_size" in table else [])
    rows = []
    for key, sub in table.groupby(keys, sort=True, dropna=False) if keys else [((), table)]:
        sub = sub.sort_values("seed", kind="stable")
        row = dict(zip(keys, key if isinstance(key, tuple) else (key,)))
        _check_seeds(sub, f"replicates table cell {row}")
        row.update(n_seeds=len(sub), seeds=",".join(str(s) for s in sub["seed"]),
                   n_samples=int(sub["n_samples"].sum()),
                   per_seed_replicate="/".join(f"{100 * v:.1f}" for v in sub["replicate_fraction"]))
        for o in OUTCOMES:
            col = _value_column(o)
            stats = dict.fromkeys(STATS, np.nan)
            if col in sub.columns and sub[col].notna().any():
                ok = sub[sub[col].notna()]
                mean, lo, hi = seed_interval(ok[col].to_numpy(dtype=np.float64), *_counts(ok, col))
                stats.update(mean=mean, ci_low=lo, ci_high=hi, min=float(ok[col].min()), max=float(ok[col].max()))
            row.update({f"{s}_{o}": v for s, v in stats.items()})
        rows.append(row)
    return pd.DataFrame(rows, columns=[*keys, "n_seeds", "seeds", "n_samples", "per_seed_replicate",
                                       *[f"{s}_{o}" for o in OUTCOMES for s in STATS]])


def _pct(r, o: str) -> str:
    mean = r[f"mean_{o}"]
    if pd.isna(mean):
        return "-"
    ci = "" if pd.isna(r[f"ci_low_{o}"]) else f" ({100 * r[f'ci_low_{o}']:.1f}-{100 * r[f'ci_high_{o}']:.1f})"
    return f"{100 * mean:.1f}%{ci} [{100 * r[f'min_{o}']:.1f}-{100 * r[f'max_{o}']:.1f}]"


def across_seeds_markdown(table: pd.DataFrame) -> str:
    """Markdown of `across_seeds`: per cell, each outcome as ``mean% (95% across-seed interval) [min-max]``."""
    cols = [c for c in ("width", "size", "dummy", "ndummy", "conditional", "label", "steps") if c in table.columns]
    head = [*cols, "seeds", "replicates per seed (%)", "replicates", "partial copies",
            "novel & valid (*: novel, no validity rule)", "invalid"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in table.iterrows():
        novel = _pct(r, "novel_valid")
        cells = [str(r[c]) for c in cols] + [f"{r['n_seeds']} ({r['seeds']})", r["per_seed_replicate"],
                                             _pct(r, "replicate"), _pct(r, "partial_copy"),
                                             novel if novel != "-" else _pct(r, "novel") + "*", _pct(r, "invalid")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Comparison:
    """A claim that two cells differ: ``b`` against ``a`` on ``measure``.

    a, b: column filters ({column: value, or a list of allowed values}) that pick one row per seed of a tidy
    table; b may instead be None or a number c for a one-sample claim about a alone (diff = mean(a) - c, c = 0
    for None). expected: +1 the claim predicts b > a (one-sample: a > c), -1 b < a. paired: the two cells share
    each seed's base images (same data set and seed, e.g. a cell and its + dummies twin), so the test pairs them
    by seed; otherwise Welch's test."""

    name: str
    a: Mapping
    b: Mapping | float | None = None
    measure: str = "replicate_fraction"
    expected: int = 1
    paired: bool = False

    def __post_init__(self):
        if not isinstance(self.a, Mapping) or not self.a:
            raise MemgenError(f"comparison {self.name!r}: a must be a non-empty dict of column filters")
        if not (self.b is None or isinstance(self.b, Mapping) or
                (isinstance(self.b, (int, float)) and not isinstance(self.b, bool))):
            raise MemgenError(f"comparison {self.name!r}: b must be a dict of column filters, a number or None")
        if self.expected not in (1, -1):
            raise MemgenError(f"comparison {self.name!r}: expected must be +1 (b > a) or -1 (b < a)")


def describe(filters) -> str:
    """``width=16, size=64`` for a dict of filters; the number for a one-sample constant."""
    if filters is None:
        return "0"
    if not isinstance(filters, Mapping):
        return f"{filters:g}"
    return ", ".join(f"{k}={'|'.join(map(str, v)) if isinstance(v, (list, tuple, set)) else v}"
                     for k, v in filters.items())


def _select(table: pd.DataFrame, filters: Mapping, measure: str, what: str) -> tuple[pd.DataFrame, str]:
    """The rows of one cell (one per seed, measure not NaN, sorted by seed) and a note when there are none."""
    missing = [c for c in filters if c not in table.columns]
    if missing:
        return table.iloc[:0], f"{what}: no column {missing[0]!r}"
    mask = np.ones(len(table), dtype=bool)
    for col, value in filters.items():
        allowed = list(value) if isinstance(value, (list, tuple, set)) else [value]
        mask &= table[col].isin(allowed).to_numpy()
    rows = table[mask]
    rows = rows[rows[measure].notna()].sort_values("seed", kind="stable")
    if rows.empty:
        return rows, f"{what}: no row matches {describe(filters)}" + (" with a value" if mask.any() else "")
    _check_seeds(rows, f"{what} ({describe(filters)})")
    return rows, ""


def _paired_rows(rows_a: pd.DataFrame, rows_b: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, bool, str]:
    """Both sides cut to their common seeds for a paired test; Welch (paired False) below 2 common seeds."""
    common = np.intersect1d(rows_a["seed"], rows_b["seed"])
    if len(common) < 2:
        return rows_a, rows_b, False, f"paired asked, {len(common)} common seed(s): Welch"
    note = f"paired on the {len(common)} common seeds" if len(common) < max(len(rows_a), len(rows_b)) else ""
    return rows_a[rows_a["seed"].isin(common)], rows_b[rows_b["seed"].isin(common)], True, note


def _one(table: pd.DataFrame, c: Comparison) -> dict:
    row = {"name": c.name, "a": describe(c.a), "b": describe(c.b), "measure": c.measure, "expected": c.expected}
    empty = dict(n_seeds_a=0, n_seeds_b=0, mean_a=np.nan, mean_b=np.nan, diff=np.nan, ci_low=np.nan,
                 ci_high=np.nan, test="none", p_value=np.nan, verdict=NOT_RUN)
    if c.measure not in table.columns:
        return row | empty | {"note": f"no column {c.measure!r}"}
    rows_a, note = _select(table, c.a, c.measure, "a")
    rows_b = None
    if not note and isinstance(c.b, Mapping):
        rows_b, note = _select(table, c.b, c.measure, "b")
    if note:
        return row | empty | {"note": note}
    if rows_b is None:  # one-sample: a against a constant
        a, const = rows_a[c.measure].to_numpy(dtype=np.float64), 0.0 if c.b is None else float(c.b)
        mean, lo, hi = seed_interval(a, *(_counts(rows_a, c.measure) or (None, None)))
        res = {"diff": mean - const, "ci_low": lo - const, "ci_high": hi - const, "test": "one-sample t",
               "p_value": _one_sample_p(a, const), "n_a": len(a), "n_b": 0}
        mean_b, n_used = const, len(a)
    else:
        paired = c.paired
        if paired:
            rows_a, rows_b, paired, note = _paired_rows(rows_a, rows_b)
        a, b = (r[c.measure].to_numpy(dtype=np.float64) for r in (rows_a, rows_b))
        res = seed_difference(a, b, paired, _counts(rows_a, c.measure), _counts(rows_b, c.measure))
        mean_b, n_used = float(b.mean()), min(len(a), len(b))
    return row | {"n_seeds_a": res["n_a"], "n_seeds_b": res["n_b"], "mean_a": float(a.mean()), "mean_b": mean_b,
                  "diff": res["diff"], "ci_low": res["ci_low"], "ci_high": res["ci_high"], "test": res["test"],
                  "p_value": res["p_value"], "verdict": verdict(res["ci_low"], res["ci_high"], c.expected, n_used),
                  "note": note}


def _one_sample_p(x: np.ndarray, const: float) -> float:
    """Two-sided p of the one-sample t-test of mean(x) = const (NaN below 2 values or with no spread)."""
    if len(x) < 2 or np.std(x) == 0:
        return float("nan")
    return float(ttest_1samp(x, const).pvalue)


def compare(table: pd.DataFrame, comparisons) -> pd.DataFrame:
    """One row per comparison (``COMPARISON_COLUMNS``): the cells described by their filters, the measure, the
    seeds used on each side, the seed means, diff = mean_b - mean_a (one-sample: mean_a - c) with its 95%
    interval, the test that ran ("paired t", "Welch t", "one-sample t", "none" below 2 seeds), its p-value,
    ``p_holm`` (Holm-adjusted over the table's comparisons that ran: many claims are tested at once, see
    `memgen.stats.verdict`), the expected sign and the verdict: supported, reversed, ``unresolved at <n> seeds``,
    or ``not run`` when a side matches no row (the note says which)."""
    _require(table, ["seed"], "comparison table")
    rows = [_one(table, c) for c in comparisons]
    out = pd.DataFrame(rows, columns=[c for c in COMPARISON_COLUMNS if c != "p_holm"])
    out.insert(out.columns.get_loc("p_value") + 1, "p_holm", holm(out["p_value"].to_numpy(dtype=np.float64)))
    return out[COMPARISON_COLUMNS]


def _num(value: float, percent: bool) -> str:
    if pd.isna(value):
        return "-"
    return f"{100 * value:+.1f}" if percent else f"{value:+.3g}"


def comparisons_markdown(table: pd.DataFrame) -> str:
    """Markdown of `compare`: fractions in percentage points, other measures in their own units."""
    head = ["comparison", "a", "b", "measure", "seeds (a/b)", "mean a", "mean b",
            "b - a (one-sample: a - b), 95% CI", "test", "p", "p (Holm)", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in table.iterrows():
        pct = trials_column(r["measure"]) is not None
        unit = " pp" if pct else ""
        ci = "" if pd.isna(r["ci_low"]) else f" ({_num(r['ci_low'], pct)} to {_num(r['ci_high'], pct)})"
        means = [_num(r["mean_a"], pct).lstrip("+"), _num(r["mean_b"], pct).lstrip("+")]
        p = ["-" if pd.isna(r[k]) else f"{r[k]:.3g}" for k in ("p_value", "p_holm")]
        verdict_text = r["verdict"] + (f" ({r['note']})" if r["note"] else "")
        lines.append("| " + " | ".join([r["name"], r["a"], r["b"], r["measure"], f"{r['n_seeds_a']}/{r['n_seeds_b']}",
                                        *means, _num(r["diff"], pct) + unit + ci, r["test"], *p, verdict_text]) + " |")
    return "\n".join(lines) + "\n"


def comparisons_table(tables=(), names=(), comparisons=()) -> pd.DataFrame:
    """A study's ``comparisons`` table: `compare` of each spec (the fields of `Comparison` and ``table``, the
    name or list of names in ``names`` of the tables its cells are read from, concatenated), one row each in the
    specs' order, ``p_holm`` adjusted over all of them (they are tested together), and ``source``, the tables read.
    tables: the DataFrames named by ``names``, in that order (none when a grid has no pair of cells to compare:
    the table is then empty)."""
    tables = [tables] if isinstance(tables, pd.DataFrame) else list(tables)
    if len(tables) != len(names):
        raise MemgenError(f"comparisons: {len(tables)} tables for {len(names)} names {names}")
    by_name = dict(zip(names, tables))
    rows = []
    for spec in comparisons:
        spec = dict(spec)
        source = spec.pop("table", "replicates")
        sources = [source] if isinstance(source, str) else list(source)
        unknown = [s for s in sources if s not in by_name]
        if unknown:
            raise MemgenError(f"comparison {spec.get('name')!r}: no table {unknown[0]!r} among {names}")
        table = pd.concat([by_name[s] for s in sources], ignore_index=True)
        rows.append(compare(table, [Comparison(**spec)]).assign(source="+".join(sources)))
    if not rows:
        return pd.DataFrame(columns=[*COMPARISON_COLUMNS, "source"])
    out = pd.concat(rows, ignore_index=True)
    out["p_holm"] = holm(out["p_value"].to_numpy(dtype=np.float64))
    return out
