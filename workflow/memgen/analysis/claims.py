"""Claims of the seed papers as comparisons between cells across training seeds, one row and a verdict each.

`Comparison` declares a claim; `compare` tests it on any tidy table with a ``seed`` column (replicates, agreement,
per-seed loss gaps) in the parts `memgen.analysis.verdicts` decides; `comparisons_table` is a study's
``comparisons`` table (its record's specs, the tables they read, the training-set cards that say whether two cells
share each seed's base images). Markdown: `memgen.analysis.claims_markdown`. Pure functions, no file I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from memgen.analysis.pairing import base_digests, identity, paired_rows, with_base_digests
from memgen.analysis.verdicts import (CLAIM_KINDS, NOT_MEASURED, NOT_RUN, compose, constant_part, counts,
                                      difference_part, trained_part, trials_column, verdict_settings)
from memgen.errors import MemgenError
from memgen.stats import holm

COPY_MEASURES = ("replicate_fraction", "frac_replicate", "memorized_fraction")
COMPARISON_COLUMNS = ["name", "a", "b", "measure", "n_seeds_a", "n_seeds_b", "mean_a", "mean_b", "diff", "ci_low",
                      "ci_high", "test", "p_value", "p_holm", "expected", "verdict", "note",
                      # the parts (memgen.analysis.verdicts); p_holm adjusts p_claim
                      "claim", "quote", "confidence", "margin", "flag", "copy_result", "gen_measure", "gen_mean_a",
                      "gen_mean_b", "gen_diff", "gen_ci_low", "gen_ci_high", "gen_p_value", "gen_result",
                      "invalid_a", "invalid_b", "max_invalid", "trained", "p_claim", "cells_a", "cells_b"]


@dataclass(frozen=True)
class Comparison:
    """A claim that two cells differ (or, expected 0, do not): ``b`` against ``a`` on ``measure``.

    a, b: column filters ({column: value, or a list of allowed values}) that pick one row per seed of a tidy
        table; b may instead be None or a number c for a one-sample claim about a alone (diff = mean(a) - c, c = 0
        for None).
    expected: +1 the claim predicts b > a on ``measure`` (one-sample: a > c), -1 b < a, 0 no change: tested for
        equivalence (TOST: the 90% interval of b - a inside +-``margin``).
    paired: the two cells share each seed's base images (a cell and its + dummies twin, two widths on one set, two
        classes of one model), so the test pairs them by seed. Checked, where the table carries ``base_sha256``
        (`comparisons_table` adds it from the training-set cards): a seed whose two sets' base images differ, or
        whose card is missing, turns the test into Welch's with a note. Otherwise Welch's test.
    claim: what the claim is about, which decides its parts (`memgen.analysis.verdicts.compose`):
        - ``"generalization"``: a claim that a model generalizes when it fails to memorize (Yoon et al. Hypotheses
          2 and 3: dummies "induce G_theta to perform conceptual learning"; the majority class is generalized).
          Three parts: copying (``measure``, ``expected``), generalization (``generalization``, the opposite
          direction) and both cells trained (seed-mean invalid fraction <= ``verdicts.max_invalid``).
        - ``"replication"``: a claim about copying alone (Hypothesis 1: "the probability of train set replication
          drops quickly"; memorization capacity, Definition 3.1, is defined on replicates alone). The copying part
          decides, with no generalization part, but the trained guard still applies: the paper's dichotomy has a
          third outcome, "training can entirely fail and achieve neither type of learning" (Section 3), and a model
          whose samples are mostly invalid has not been trained to where "failing to memorize" means anything (a
          step-200 snapshot copies 0% because it draws noise). Where no validity rule exists (real images), the
          guard is not measured and the copying part decides; the note says so.
        - ``"measure"``: a claim about its one measure (the loss gap, disjoint-split agreement, the replicates
          that a longer run adds): one test; guarded only where its table has an ``untrained`` column beside
          ``frac_invalid`` (the dynamics study's slopes: the worst fitted size's invalid fraction at the budget).
        None (default): replication for a copying measure (``COPY_MEASURES``), else measure.
    quote: the sentence of the paper the claim tests (source and section), shown in comparisons.md; a claim that
        is memgen's own control says so instead.
    generalization: the column of the generalization part (default ``frac_novel_valid``); where a cell's kind has
        no validity rule (NaN), ``proxy`` is used instead if the table has it (a column that rises with
        generalization, e.g. agreement with a disjoint-split partner), else the claim reads "generalization not
        measured". The replicate table's C_T is no proxy: it also rises when training fails (samples far from the
        training set), the confusion this part is there to remove.
    margin: the equivalence margin (expected 0) in the measure's units; None takes ``verdicts.equivalence_margin``
        for fractions (a measure with another unit must state its own).
    """

    name: str
    a: Mapping
    b: Mapping | float | None = None
    measure: str = "replicate_fraction"
    expected: int = 1
    paired: bool = False
    claim: str | None = None
    quote: str = ""
    generalization: str = "frac_novel_valid"
    proxy: str | None = None
    margin: float | None = None

    def __post_init__(self):
        if not isinstance(self.a, Mapping) or not self.a:
            raise MemgenError(f"comparison {self.name!r}: a must be a non-empty dict of column filters")
        if not (self.b is None or isinstance(self.b, Mapping) or
                (isinstance(self.b, (int, float)) and not isinstance(self.b, bool))):
            raise MemgenError(f"comparison {self.name!r}: b must be a dict of column filters, a number or None")
        if self.expected not in (1, -1, 0):
            raise MemgenError(f"comparison {self.name!r}: expected must be +1 (b > a), -1 (b < a) or 0 (no change)")
        if self.claim is not None and self.claim not in CLAIM_KINDS:
            raise MemgenError(f"comparison {self.name!r}: claim must be one of {', '.join(CLAIM_KINDS)}")
        if self.kind == "generalization" and not isinstance(self.b, Mapping):
            raise MemgenError(f"comparison {self.name!r}: a generalization claim compares two cells (b: filters)")
        if self.margin is not None and not (isinstance(self.margin, (int, float)) and self.margin > 0):
            raise MemgenError(f"comparison {self.name!r}: margin must be a positive number")

    @property
    def kind(self) -> str:
        """The claim's kind (``claim``, or its default from the measure)."""
        return self.claim or ("replication" if self.measure in COPY_MEASURES else "measure")


def describe(filters) -> str:
    """``width=16, size=64`` for a dict of filters; the number for a one-sample constant."""
    if filters is None:
        return "0"
    if not isinstance(filters, Mapping):
        return f"{filters:g}"
    return ", ".join(f"{k}={'|'.join(map(str, v)) if isinstance(v, (list, tuple, set)) else v}"
                     for k, v in filters.items())


def _differing(a: Mapping, b) -> tuple[str, str]:
    """The two cells named by the filters they do not share ("a"/"b" when they share all)."""
    if not isinstance(b, Mapping):
        return describe(a), "b"
    only = [{k: v for k, v in x.items() if y.get(k) != v} for x, y in ((a, b), (b, a))]
    return tuple(describe(f) or side for f, side in zip(only, ("a", "b")))


def check_seeds(rows: pd.DataFrame, what: str) -> None:
    dup = rows["seed"][rows["seed"].duplicated()]
    if len(dup):
        varying = [c for c in rows.columns if c != "seed" and rows[c].nunique(dropna=False) > 1][:6]
        raise MemgenError(f"{what}: seed {dup.iloc[0]} appears in {int((rows['seed'] == dup.iloc[0]).sum())} rows; "
                          f"pin the columns that differ among them ({', '.join(map(str, varying))})")


def _select(table: pd.DataFrame, filters: Mapping, measure: str, what: str) -> tuple[pd.DataFrame, str]:
    """The rows of one cell with a value of ``measure`` (one per seed, sorted by seed), and a note when none."""
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
    check_seeds(rows, f"{what} ({describe(filters)})")
    return rows, ""


def _part(rows_a, rows_b, measure: str, paired: bool, expected: int, margin) -> dict:
    """One part between the cells on ``measure`` (rows with a value; paired: the seeds where both have one)."""
    a, b = rows_a[rows_a[measure].notna()], rows_b[rows_b[measure].notna()]
    if paired:
        both = np.intersect1d(a["seed"], b["seed"])
        a, b = a[a["seed"].isin(both)], b[b["seed"].isin(both)]
    x, y = (r[measure].to_numpy(dtype=np.float64) for r in (a, b))
    res = difference_part(x, y, paired, counts(a, measure), counts(b, measure), expected, margin)
    return res | {"mean_a": float(x.mean()) if len(x) else np.nan, "mean_b": float(y.mean()) if len(y) else np.nan}


def _invalid(rows: pd.DataFrame) -> float:
    """Seed mean of a cell's invalid fraction (NaN where the table or the kind has none)."""
    if "frac_invalid" not in rows.columns or rows["frac_invalid"].isna().all():
        return float("nan")
    return float(rows["frac_invalid"].mean())


def _name_untrained(rows: pd.DataFrame, side) -> str:
    """A one-sample claim's models in its trained part: the table's ``untrained`` sizes (dynamics), else filters."""
    named = [u for u in rows.get("untrained", pd.Series(dtype=str)).dropna().astype(str) if u]
    return f"sizes {named[0]} at the step budget, the worst" if named else describe(side)


def _margin(c: Comparison, measure: str, settings: Mapping) -> float | None:
    if c.expected != 0:
        return None
    if c.margin is not None:
        return float(c.margin)
    if trials_column(measure) is None:
        raise MemgenError(f"comparison {c.name!r}: an equivalence claim on {measure!r} must state its margin")
    return float(settings["equivalence_margin"])


def _generalization_measure(c: Comparison, rows_a, rows_b) -> str | None:
    for col in (c.generalization, c.proxy):
        if col and col in rows_a.columns and rows_a[col].notna().any() and rows_b[col].notna().any():
            return col
    return None


EMPTY = dict(n_seeds_a=0, n_seeds_b=0, mean_a=np.nan, mean_b=np.nan, diff=np.nan, ci_low=np.nan, ci_high=np.nan,
             test="none", p_value=np.nan, verdict=NOT_RUN)


def _one(table: pd.DataFrame, c: Comparison, settings: Mapping) -> dict:
    row = {"name": c.name, "a": describe(c.a), "b": describe(c.b), "measure": c.measure, "expected": c.expected,
           "claim": c.kind, "quote": c.quote, "max_invalid": float(settings["max_invalid"]), "trained": "",
           "copy_result": "", "cells_a": "", "cells_b": "", "gen_measure": "", "gen_result": "", "flag": ""}
    if c.measure not in table.columns:
        return row | EMPTY | {"note": f"no column {c.measure!r}"}
    rows_a, note = _select(table, c.a, c.measure, "a")
    rows_b = None
    if not note and isinstance(c.b, Mapping):
        rows_b, note = _select(table, c.b, c.measure, "b")
    if note:
        return row | EMPTY | {"note": note}
    margin = _margin(c, c.measure, settings)
    if rows_b is None:  # one-sample: a against a constant
        const = 0.0 if c.b is None else float(c.b)
        x = rows_a[c.measure].to_numpy(dtype=np.float64)
        copy = constant_part(x, counts(rows_a, c.measure), const, c.expected, margin)
        copy |= {"mean_a": float(x.mean()), "mean_b": const}
        gen, notes = None, []
        trained = trained_part(_invalid(rows_a), 0.0, row["max_invalid"], (_name_untrained(rows_a, c.a), "b"))
    else:
        rows_a, rows_b, copy, gen, notes = _two_cells(rows_a, rows_b, c, margin, settings)
        trained = trained_part(_invalid(rows_a), _invalid(rows_b), row["max_invalid"], _differing(c.a, c.b))
    if c.kind == "measure" and "untrained" not in rows_a.columns:  # guarded only where its table says (dynamics)
        trained = trained | {"trained": NOT_MEASURED}
    if c.kind == "replication" and trained["trained"] == "not measured":
        notes.append("trained not measured (no validity rule)")
    verdict = compose(c.kind, copy, gen, trained, trials_column(c.measure) is not None)
    return row | _columns(copy, gen, trained, c.kind) | {
        "verdict": verdict, "note": "; ".join(filter(None, notes)), "cells_a": identity(rows_a),
        "cells_b": identity(rows_b) if rows_b is not None else ""}


def _two_cells(rows_a, rows_b, c: Comparison, margin, settings):
    """The copying and generalization parts between two cells (paired where the cards allow): (rows_a, rows_b
    as the tests used them, copy, gen or None, notes)."""
    paired, notes = c.paired, []
    if paired:
        rows_a, rows_b, paired, pair_note = paired_rows(rows_a, rows_b)
        notes.append(pair_note)
    copy = _part(rows_a, rows_b, c.measure, paired, c.expected, margin)
    g = _generalization_measure(c, rows_a, rows_b) if c.kind == "generalization" else None
    gen = _part(rows_a, rows_b, g, paired, -c.expected, _margin(c, g, settings)) | {"measure": g} if g else None
    return rows_a, rows_b, copy, gen, notes


def _columns(copy: dict, gen: dict | None, trained: dict, kind: str) -> dict:
    """The row's statistics: the copying part in the original columns, the generalization and trained parts in
    their own; p_claim, the claim's p-value (generalization: the larger of both parts', the intersection-union
    test that needs both; no generalization measure: NaN, nothing was tested)."""
    out = {"n_seeds_a": copy["n_a"], "n_seeds_b": copy["n_b"], **{k: copy[k] for k in (
        "mean_a", "mean_b", "diff", "ci_low", "ci_high", "test", "p_value", "confidence", "margin")},
        "copy_result": copy["result"], "flag": "; ".join(filter(None, [copy.get("flag"), (gen or {}).get("flag")]))}
    gen_cols = {f"gen_{k}": (gen or {}).get(k, np.nan) for k in ("mean_a", "mean_b", "diff", "ci_low", "ci_high",
                                                                 "p_value")}
    gen_cols |= {"gen_measure": gen["measure"] if gen else "", "gen_result": gen["result"] if gen else ""}
    p_claim = copy["p_value"]
    if kind == "generalization":
        p_claim = float(np.max([copy["p_value"], gen["p_value"]])) if gen else np.nan  # NaN if either is
    trained_cols = {k: trained[k] for k in ("invalid_a", "invalid_b")} | {
        "trained": trained["trained"] if kind != "measure" or trained["trained"] != NOT_MEASURED else ""}
    return out | gen_cols | trained_cols | {"p_claim": p_claim}


def compare(table: pd.DataFrame, comparisons, verdicts: Mapping | None = None) -> pd.DataFrame:
    """One row per comparison (``COMPARISON_COLUMNS``): the cells described by their filters, the measure, the
    seeds each side's test used, the seed means, diff = mean_b - mean_a (one-sample: mean_a - c) with its interval
    (``confidence``: 0.95, 0.90 for an equivalence claim), the test ("paired t", "Welch t", "one-sample t", "none"
    below 2 seeds), its p-value (equivalence: TOST's), then the generalization part (``gen_*``), the trained part
    (``invalid_a``, ``invalid_b``, ``max_invalid``, ``trained``), ``p_claim`` and ``p_holm`` (Holm-adjusted
    p_claim over the table's comparisons that ran: many claims are tested at once, see `memgen.stats.verdict`),
    the expected sign and the verdict (`memgen.analysis.verdicts.compose`; ``not run`` when a side matches no row,
    the note says which). verdicts: the schema's ``verdicts`` settings (None: the defaults)."""
    if not isinstance(table, pd.DataFrame) or "seed" not in table.columns:
        raise MemgenError("comparison table must be a pandas DataFrame with a 'seed' column")
    settings = verdict_settings(verdicts)
    out = pd.DataFrame([_one(table, c, settings) for c in comparisons], columns=COMPARISON_COLUMNS)
    out["p_holm"] = holm(out["p_claim"].to_numpy(dtype=np.float64))
    return out


def comparisons_table(tables=(), names=(), comparisons=(), cards=None, verdicts=None) -> pd.DataFrame:
    """A study's ``comparisons`` table: `compare` of each spec (the fields of `Comparison` and ``table``, the
    name or list of names in ``names`` of the tables its cells are read from, concatenated), one row each in the
    specs' order, ``p_holm`` adjusted over all of them (they are tested together), and ``source``, the tables read.
    tables: the DataFrames named by ``names``, in that order (none when a grid has no pair of cells to compare:
    the table is then empty). cards: the training-set cards (dicts) of the cells read; given, every paired claim
    is checked on them (`Comparison.paired`). verdicts: the schema's ``verdicts`` settings."""
    tables = [tables] if isinstance(tables, pd.DataFrame) else list(tables)
    if len(tables) != len(names):
        raise MemgenError(f"comparisons: {len(tables)} tables for {len(names)} names {names}")
    digests = base_digests(cards) if cards is not None else None
    by_name = {n: t if digests is None else with_base_digests(t, digests) for n, t in zip(names, tables)}
    rows = []
    for spec in comparisons:
        spec = dict(spec)
        source = spec.pop("table", "replicates")
        sources = [source] if isinstance(source, str) else list(source)
        unknown = [s for s in sources if s not in by_name]
        if unknown:
            raise MemgenError(f"comparison {spec.get('name')!r}: no table {unknown[0]!r} among {names}")
        table = pd.concat([by_name[s] for s in sources], ignore_index=True)
        rows.append(compare(table, [Comparison(**spec)], verdicts).assign(source="+".join(sources)))
    if not rows:
        return pd.DataFrame(columns=[*COMPARISON_COLUMNS, "source"])
    out = pd.concat(rows, ignore_index=True)
    out["p_holm"] = holm(out["p_claim"].to_numpy(dtype=np.float64))
    return out
