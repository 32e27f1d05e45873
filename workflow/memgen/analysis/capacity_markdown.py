"""Markdown of the memorization-capacity tables (`memgen.analysis.capacity`): each capacity with what the grid
resolves of it, its interval in grid sizes and the training budget it was read at."""

from __future__ import annotations

import pandas as pd

from memgen.analysis.capacity import ALL_ABOVE, ALL_BELOW, CAPACITY_COLUMNS

CAP = CAPACITY_COLUMNS[0]  # the column of the measured capacity


def _interval_text(r) -> str:
    if pd.isna(r["ci_low"]) and pd.isna(r["ci_high"]):
        return "-"
    lo = "below the grid" if pd.isna(r["ci_low"]) else f"{r['ci_low']:g}"
    hi = "beyond the grid" if pd.isna(r["ci_high"]) else f"{r['ci_high']:g}"
    return f"[{lo}, {hi})"


def capacity_markdown(table: pd.DataFrame) -> str:
    """Markdown of either capacity table: per group, the capacity with what the grid resolves of it, the interval
    [ci_low, ci_high) in grid sizes, the training budget beside it, and (across seeds) the seeds' own readings."""
    cols = [c for c in ("dataset", "width", "dummy", "ndummy", "label") if c in table.columns]
    seeds = "per_seed" in table.columns
    head = [*cols, "memorization capacity", "what the grid resolves", "95% interval (sizes)", "training budget",
            *(["seed mean per size (%)", "seeds (own crossing or bound)"] if seeds else []), "note"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in table.iterrows():
        cap = {ALL_ABOVE: ">= ", ALL_BELOW: "< "}.get(r["censored"], "") + f"{r[CAP]:.3g}"
        cells = [str(r[c]) for c in cols] + [cap, r["resolution"], _interval_text(r), r["budget"] or "-"]
        if seeds:
            cells += [r["mean_curve"], r["per_seed"]]
        lines.append("| " + " | ".join(cells + [r["note"] if isinstance(r["note"], str) else ""]) + " |")
    return "\n".join(lines) + "\n"
