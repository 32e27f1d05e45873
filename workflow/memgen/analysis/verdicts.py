"""Verdicts of claims across training seeds: each part of a claim tested on its own, then one verdict.

A claim of the seed papers is decided on up to three parts (`memgen.analysis.claims.Comparison` says which):

- copying: the claim's ``measure`` (the replicate fraction) moves in the predicted direction;
- generalization: the novel-and-valid fraction (or a stated proxy) moves the OPPOSITE way, because Yoon et al.'s
  dichotomy says a model generalizes when it fails to memorize: fewer copies alone can be failed training, which
  "can entirely fail and achieve neither" (Section 3);
- trained: both cells are trained to where the claim can be tested: the seed mean of each cell's invalid fraction is
  at most ``max_invalid`` (schema ``verdicts.max_invalid``), else the verdict is ``untestable at this budget``.

Each part is a difference of seed means (`memgen.stats.seed_difference`, or `seed_interval` against a constant)
with its 95% interval; a part that predicts no change (expected 0) is an equivalence test (TOST: the 90% interval
inside +-margin). A part whose statistics carry a flag (the interval may not hold its level) is not decided.

Every verdict text starts with one of `VERDICT_CLASSES`; the rest of the text says why. Pure functions.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.stats import binomtest, ttest_1samp

from memgen.config import schema_default
from memgen.errors import MemgenError
from memgen.stats import seed_difference, seed_flag, seed_interval, verdict

NOT_RUN = "not run"
# Every verdict text starts with one of these words (the rest says why); figures and the report colour by it.
VERDICT_CLASSES = ("supported", "reversed", "unresolved", "untestable", NOT_RUN)
CLAIM_KINDS = ("generalization", "replication", "measure")
PAIR_MEASURES = ("frac_same", "frac_same_novel")  # fractions of sample pairs (agreement tables: n_pairs trials)
NOT_MEASURED = "not measured"
EQUIVALENCE_CONFIDENCE = 0.90  # TOST at 5% per side: the 1 - 2 x 0.05 interval inside the margin


def verdict_class(text: str) -> str:
    """The class of a verdict text (`VERDICT_CLASSES`): "unresolved at 3 seeds" -> "unresolved"."""
    for cls in VERDICT_CLASSES:
        if str(text).startswith(cls):
            return cls
    raise MemgenError(f"verdict {text!r} starts with none of {', '.join(VERDICT_CLASSES)}")


def trials_column(measure: str) -> str | None:
    """The column holding the trials of a binomial measure (its values are k / n), None for other measures."""
    if measure in PAIR_MEASURES:
        return "n_pairs"
    if measure in ("replicate_fraction", "memorized_fraction", "generalizing_fraction") or measure.startswith("frac_"):
        return "n_samples"
    return None


def counts(rows: pd.DataFrame, measure: str):
    """(k [S], n [S]) of a binomial measure, or None (not binomial, or the table has no trials column)."""
    trials = trials_column(measure)
    if trials is None or trials not in rows.columns:
        return None
    n = rows[trials].to_numpy(dtype=np.float64)
    if measure == "replicate_fraction" and "n_replicates" in rows.columns:
        return rows["n_replicates"].to_numpy(dtype=np.float64), n
    return np.rint(rows[measure].to_numpy(dtype=np.float64) * n), n


def verdict_settings(verdicts: Mapping | None = None) -> dict:
    """The verdict settings (schema ``verdicts``: max_invalid, equivalence_margin), defaults filled from the schema."""
    given = dict(verdicts or {})
    return {k: given.get(k, schema_default(f"verdicts.{k}")) for k in ("max_invalid", "equivalence_margin")}


def _seeds_text(n_a: int, n_b: int) -> str:
    return str(n_a) if n_a == n_b or not n_b else f"{n_a}/{n_b}"


def equivalence_verdict(ci_low: float, ci_high: float, margin: float, seeds: str) -> str:
    """TOST from the 90% interval of a difference: ``supported`` inside (-margin, +margin), ``reversed`` wholly
    outside it on one side (a change larger than the margin), else ``unresolved at <n> seeds``."""
    if np.isfinite(ci_low) and np.isfinite(ci_high):
        if -margin < ci_low and ci_high < margin:
            return "supported"
        if ci_low >= margin or ci_high <= -margin:
            return "reversed"
    return f"unresolved at {seeds} seeds"


def _tost_p(interval, margin: float) -> float:
    """The TOST p-value: the smallest alpha at which the (1 - 2 alpha) interval of ``interval(confidence)`` lies
    inside +-margin (bisection on alpha; 1 when even a 0% interval, the point estimate, is outside)."""
    lo, hi = interval(1e-9)
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo <= -margin or hi >= margin:
        return 1.0
    inside, outside = 0.5, 1e-12  # alpha = 0.5: the point estimate inside; search down to the boundary
    lo, hi = interval(1.0 - 2 * outside)
    if -margin < lo and hi < margin:
        return outside
    for _ in range(40):
        mid = float(np.sqrt(inside * outside))  # alpha spans decades: bisect on log alpha
        lo, hi = interval(1.0 - 2 * mid)
        inside, outside = (mid, outside) if -margin < lo and hi < margin else (inside, mid)
    return inside


def difference_part(a, b, paired: bool, a_counts, b_counts, expected: int, margin: float | None) -> dict:
    """One part between two cells: `memgen.stats.seed_difference` of b - a (95% interval; expected 0: the 90%
    interval and the TOST p-value against +-margin), and ``result``, the part's decision: supported / reversed /
    ``unresolved at <n> seeds`` / ``unresolved (<flag>)``. Returns seed_difference's dict plus ``confidence``,
    ``margin`` (NaN unless expected 0) and ``result``."""
    equiv = expected == 0
    conf = EQUIVALENCE_CONFIDENCE if equiv else 0.95
    res = seed_difference(a, b, paired, a_counts, b_counts, confidence=conf)
    seeds = _seeds_text(res["n_a"], res["n_b"])
    res |= {"confidence": conf, "margin": float(margin) if equiv else float("nan")}
    if equiv:
        def interval(c):
            out = seed_difference(a, b, paired, a_counts, b_counts, confidence=c)
            return out["ci_low"], out["ci_high"]
        res["p_value"] = _tost_p(interval, margin) if res["test"] != "none" else float("nan")
        result = equivalence_verdict(res["ci_low"], res["ci_high"], margin, seeds)
    else:
        result = verdict(res["ci_low"], res["ci_high"], expected, seeds)
    return res | {"result": f"unresolved ({res['flag']})" if res.get("flag") else result}


def one_sample_p(x: np.ndarray, const: float, k_n=None) -> float:
    """Two-sided p of mean(x) = const: the one-sample t-test over seeds; with no spread (every seed alike) 1 when
    mean = const, else 0, as `memgen.stats.seed_difference` does. For a binomial measure (``k_n``: (k [S], n [S]))
    the larger of that and the exact binomial test of the pooled samples, the floor of `memgen.stats.seed_interval`:
    three seeds at 0 / 0 / 0% against 10% get the p-value their 384 samples give, not 0. NaN below 2 values."""
    if len(x) < 2:
        return float("nan")
    mean = float(np.mean(x))
    p = float(ttest_1samp(x, const).pvalue) if np.std(x) > 0 else (1.0 if mean == const else 0.0)
    if k_n is not None and 0.0 < const < 1.0:
        k, n = (int(np.rint(np.sum(v))) for v in k_n)
        p = max(p, float(binomtest(k, n, const).pvalue)) if n > 0 else p
    return p


def constant_part(x: np.ndarray, k_n, const: float, expected: int, margin: float | None) -> dict:
    """One part of a one-sample claim, mean(x) against ``const``: diff = mean - const with the across-seed interval
    (`memgen.stats.seed_interval`) shifted by const, p from `one_sample_p`, the flag of `memgen.stats.seed_flag`
    and ``result`` as `difference_part` (expected 0: equivalence to const within +-margin)."""
    equiv = expected == 0
    conf = EQUIVALENCE_CONFIDENCE if equiv else 0.95
    k, n = k_n if k_n is not None else (None, None)
    mean, lo, hi = seed_interval(x, k, n, confidence=conf)
    flag = seed_flag(x, k, n)
    res = {"diff": mean - const, "ci_low": lo - const, "ci_high": hi - const, "test": "one-sample t",
           "p_value": one_sample_p(x, const, k_n), "n_a": len(x), "n_b": 0, "flag": flag, "confidence": conf,
           "margin": float(margin) if equiv else float("nan")}
    if equiv:
        res["p_value"] = _tost_p(lambda c: tuple(v - const for v in seed_interval(x, k, n, confidence=c)[1:]),
                                 margin) if len(x) > 1 else float("nan")
        result = equivalence_verdict(res["ci_low"], res["ci_high"], margin, str(len(x)))
    else:
        result = verdict(res["ci_low"], res["ci_high"], expected, len(x))
    return res | {"result": f"unresolved ({flag})" if flag else result}


def trained_part(invalid_a: float, invalid_b: float, max_invalid: float, cells: tuple[str, str]) -> dict:
    """Whether both cells are trained to where the claim can be tested: the seed means of their invalid fractions
    (NaN where the kind has no validity rule) against ``max_invalid``. ``cells``: how the two are named in the
    text. Returns invalid_a, invalid_b, ``trained`` ("yes", "no (<cell>: <x>% invalid, ...)" or "not measured")."""
    if np.isnan(invalid_a) or np.isnan(invalid_b):
        return {"invalid_a": invalid_a, "invalid_b": invalid_b, "trained": NOT_MEASURED}
    over = [f"{cell}: {100 * x:.1f}% invalid" for cell, x in zip(cells, (invalid_a, invalid_b)) if x > max_invalid]
    return {"invalid_a": invalid_a, "invalid_b": invalid_b, "trained": f"no ({'; '.join(over)})" if over else "yes"}


def _words(part: str, result: str, diff: float, percent: bool) -> str:
    """A part's outcome in words for an unresolved verdict: "copies moved against the claim (+12.0 pp)"."""
    cls = verdict_class(result)
    if cls == "supported":
        return f"{part} moved as claimed"
    if cls == "reversed":
        amount = f"{100 * diff:+.1f} pp" if percent else f"{diff:+.3g}"
        return f"{part} moved against the claim ({amount})"
    return f"{part} {result}"


def compose(kind: str, copy: dict, gen: dict | None, trained: dict, percent: bool = True) -> str:
    """The verdict of one claim from its parts (the results of `difference_part` / `constant_part`, the dict of
    `trained_part`).

    - measure: the copying part's result alone (a claim about its one measure), unless its table says the models
      it rests on did not train (``frac_invalid`` and ``untrained`` columns, as the dynamics study's exponents carry:
      the worst size's invalid fraction at the budget): then ``untestable at this budget``; other tables: no guard.
    - replication: the copying part alone, once both cells are trained (else ``untestable at this budget``).
    - generalization: ``untestable at this budget (<cell>: <x>% invalid)`` when a cell is not trained; ``unresolved
      (generalization not measured ...)`` without a generalization measure; ``unresolved (... trained not
      measured ...)`` without a validity rule (no part can then tell failed training from generalization);
      ``reversed`` when generalization moved against the claim; ``supported`` when copying and generalization both
      moved as claimed; else ``unresolved (<copies ...>; <generalization ...>)``, which says when copies moved the
      wrong way. A flagged part is never decided (its result reads "unresolved (<flag>)").
    """
    if kind not in CLAIM_KINDS:
        raise MemgenError(f"claim kind {kind!r}: one of {', '.join(CLAIM_KINDS)}")
    if trained["trained"] not in ("yes", NOT_MEASURED):  # "no (<cell>: <x>% invalid)"
        return f"untestable at this budget {trained['trained'].removeprefix('no ')}"
    if kind in ("measure", "replication"):
        return copy["result"]
    copies = _words("copies", copy["result"], copy["diff"], percent)
    if gen is None:
        return f"unresolved (generalization {NOT_MEASURED}: no validity rule and no proxy; {copies})"
    if trained["trained"] == NOT_MEASURED:
        return f"unresolved (trained {NOT_MEASURED}: no validity rule; {copies})"
    gen_cls = verdict_class(gen["result"])
    if gen_cls == "reversed":
        return f"reversed (generalization moved against the claim; {copies})"
    if gen_cls == "supported" and verdict_class(copy["result"]) == "supported":
        return "supported"
    return f"unresolved ({copies}; {_words('generalization', gen['result'], gen['diff'], percent)})"
