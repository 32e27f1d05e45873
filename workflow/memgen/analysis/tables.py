"""Tidy study tables built from per-cell summaries (one Parquet row per cell x class)."""

from __future__ import annotations

import pandas as pd

from memgen.errors import MemgenError
from memgen.exposure import presentations

GRID = ["study", "dataset", "width", "size", "dummy", "ndummy", "conditional", "exposure", "steps", "seed", "label"]
LEAD = [*GRID, "batch_size", "epochs_per_image", "base_image_presentations", "n_samples", "n_replicates",
        "replicate_fraction", "ci_low", "ci_high", "n_train", "n_train_replicated", "frac_train_replicated",
        "median_ratio", "threshold"]


def concat(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Several tables of one kind as one (e.g. the loss gap of each snapshot of a run), in the order given."""
    if not tables:
        raise MemgenError("concat: no tables given")
    return pd.concat(tables, ignore_index=True)


def aggregate_summaries(summaries: list[pd.DataFrame], source: str = "summary") -> pd.DataFrame:
    """Concatenate per-cell summary tables (`memgen score --summary` with the cell's grid as --meta), add the
    presentations of each row's training images, sort by the grid.

    ``base_image_presentations`` = the cell's ``epochs_per_image`` x ``n_train``, the draws of the images the row
    is scored against in the whole run (the base set; in the classes study the row's class). A dummy cell shows
    its base images fewer times than the dummy-free cell at equal steps; its exposure-matched twin as often.
    """
    table = pd.concat(summaries, ignore_index=True)
    missing = [c for c in ("steps", "batch_size", "epochs_per_image") if c not in table.columns]
    if missing:
        raise MemgenError(f"{source}: summary lacks the columns {missing} (pass them with score --meta)")
    table["base_image_presentations"] = presentations(table["epochs_per_image"], table["n_train"])
    keys = [c for c in GRID if c in table.columns]
    table = table.sort_values(keys, kind="stable").reset_index(drop=True)
    return table[[c for c in LEAD if c in table.columns] + [c for c in table.columns if c not in LEAD]]


def _pct(r, col: str) -> str:
    """``12.3% (9.1-16.0)`` from a row's ``frac_/ci_low_/ci_high_<col>``; ``-`` where the outcome does not apply."""
    value = r.get(f"frac_{col}")
    if value is None or pd.isna(value):
        return "-"
    return f"{100 * value:.1f}% ({100 * r[f'ci_low_{col}']:.1f}-{100 * r[f'ci_high_{col}']:.1f})"


def to_markdown(table: pd.DataFrame) -> str:
    """A compact Markdown rendering: replicate % with its 95% interval beside steps, epochs per image and the
    presentations of the scored (base) images; with the four-way outcome (a ``frac_partial_copy`` column), also
    partial copies, novel-and-valid (generalizing; "novel" for kinds without a validity rule, marked *) and invalid."""
    cols = [c for c in ("width", "size", "dummy", "ndummy", "seed", "label") if c in table.columns]
    four_way = "frac_partial_copy" in table.columns
    extra = ["partial copies", "novel & valid (*: novel, no validity rule)", "invalid"] if four_way else []
    head = "| " + " | ".join(cols + ["steps", "epochs/image", "base presentations", "replicates", "95% CI",
                                      "train replicated", *extra]) + " |"
    lines = [head, "|" + "---|" * (len(cols) + 6 + len(extra))]
    for _, r in table.iterrows():
        cells = [str(r[c]) for c in cols]
        cells += [f"{int(r['steps'])}", f"{r['epochs_per_image']:.0f}", f"{r['base_image_presentations']:.0f}",
                  f"{100 * r['replicate_fraction']:.1f}%",
                  f"{100 * r['ci_low']:.1f}-{100 * r['ci_high']:.1f}%",
                  f"{int(r['n_train_replicated'])}/{int(r['n_train'])}"]
        if four_way:
            novel = _pct(r, "novel_valid")
            cells += [_pct(r, "partial_copy"), novel if novel != "-" else _pct(r, "novel") + "*", _pct(r, "invalid")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
