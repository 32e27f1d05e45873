"""Markdown of a study's comparisons table (`memgen.analysis.claims.compare`): one row per claim with each part's
difference and interval, the verdict, and under the table the sentence of the paper each claim tests."""

from __future__ import annotations

import pandas as pd

from memgen.analysis.verdicts import trials_column

HEAD = ["comparison", "kind", "a", "b", "seeds (a/b)", "copying: a -> b, b - a (CI)",
        "generalization: a -> b, b - a (CI)", "invalid a / b: trained?", "test", "p (claim)", "p (Holm)", "verdict"]


def _num(value: float, percent: bool) -> str:
    if pd.isna(value):
        return "-"
    return f"{100 * value:+.1f}" if percent else f"{value:+.3g}"


def _part(mean_a, mean_b, diff, lo, hi, measure: str, confidence=0.95, margin=float("nan")) -> str:
    """``measure: 78.1 -> 20.8, -57.3 pp (-65.4 to -49.2)``; an equivalence part adds its interval's level and
    the margin."""
    pct = trials_column(measure) is not None
    unit = " pp" if pct else ""
    means = f"{_num(mean_a, pct).lstrip('+')} -> {_num(mean_b, pct).lstrip('+')}"
    ci = "" if pd.isna(lo) else f" ({_num(lo, pct)} to {_num(hi, pct)})"
    level = "" if pd.isna(confidence) or confidence == 0.95 else f", {100 * confidence:.0f}% CI"
    tost = "" if pd.isna(margin) else f", TOST +-{_num(margin, pct).lstrip('+')}{unit}"
    return f"{measure}: {means}, {_num(diff, pct)}{unit}{ci}{level}{tost}"


def _generalization(r) -> str:
    if r.get("claim") != "generalization" or r["verdict"] == "not run":
        return "-"
    if not isinstance(r.get("gen_measure"), str) or not r["gen_measure"]:
        return "generalization not measured"
    text = _part(r["gen_mean_a"], r["gen_mean_b"], r["gen_diff"], r["gen_ci_low"], r["gen_ci_high"],
                 r["gen_measure"], r.get("confidence", 0.95), r.get("margin", float("nan")))
    return f"{text}: {r['gen_result']}"


def _trained(r) -> str:
    if not r.get("trained"):  # a measure claim without a guard
        return "-"
    values = [_num(r[k], True).lstrip("+") for k in ("invalid_a", "invalid_b")]
    shown = values[0] if _is_number(r["b"]) else f"{values[0]} / {values[1]}"  # one-sample: a alone
    return f"{shown}: {r['trained']}"


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _copying(r) -> str:
    if r["verdict"] == "not run":
        return "-"
    text = _part(r["mean_a"], r["mean_b"], r["diff"], r["ci_low"], r["ci_high"], r["measure"],
                 r.get("confidence", 0.95), r.get("margin", float("nan")))
    return f"{text}: {r['copy_result']}" if r.get("claim") == "generalization" else text


def comparisons_markdown(table: pd.DataFrame) -> str:
    """The table as Markdown (fractions in percentage points, other measures in their own units), then "What
    each claim tests": each claim's quote, once per name."""
    lines = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    for _, r in table.iterrows():
        p = ["-" if pd.isna(r.get(k)) else f"{r[k]:.3g}" for k in ("p_claim", "p_holm")]
        verdict_text = r["verdict"] + (f" ({r['note']})" if r["note"] else "")
        kind = r.get("claim") or "-"
        if r["expected"] == 0:
            kind += ", no change"
        cells = [r["name"], kind, r["a"], r["b"], f"{r['n_seeds_a']}/{r['n_seeds_b']}", _copying(r),
                 _generalization(r), _trained(r), r["test"], *p, verdict_text]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    quotes = dict(zip(table["name"], table["quote"])) if "quote" in table.columns else {}
    if any(quotes.values()):
        lines += ["", "What each claim tests:", ""]
        lines += [f"- **{name}**: {quote}" for name, quote in quotes.items() if quote]
    return "\n".join(lines) + "\n"
