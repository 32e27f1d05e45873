"""Tidy experiment tables built from per-cell summaries (one Parquet row per cell x class)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from memgen import io
from memgen.errors import MemgenError

GRID = ["experiment", "dataset", "width", "size", "dummy", "count", "conditional", "exposure", "steps", "seed", "label"]
LEAD = [*GRID, "batch_size", "epochs_per_image", "base_image_presentations", "n_samples", "n_replicates",
        "replicate_fraction", "ci_low", "ci_high", "n_train", "n_train_replicated", "frac_train_replicated",
        "median_ratio", "threshold"]


def with_exposure(table: pd.DataFrame) -> pd.DataFrame:
    """Add the exposure columns (uniform sampling over the training set):

    - ``epochs_per_image``: steps * batch_size / n_train_total, the passes over each training image;
    - ``base_image_presentations``: epochs_per_image * n_train, the draws of the images this row is scored against
      in the whole run (the base set; in the classes study the row's class). A dummy cell shows its base images
      fewer times than the dummy-free cell at equal steps; its exposure-matched twin shows them as often.
    """
    table = table.copy()
    table["epochs_per_image"] = table["steps"] * table["batch_size"] / table["n_train_total"]
    table["base_image_presentations"] = table["epochs_per_image"] * table["n_train"]
    return table


def aggregate_summaries(paths: list[str | Path], out: str | Path, markdown: str | Path | None = None) -> pd.DataFrame:
    """Concatenate per-cell summary tables, add exposure columns, sort by the grid, write Parquet (+ Markdown)."""
    frames = [io.read_parquet(p) for p in paths]
    table = pd.concat(frames, ignore_index=True)
    missing = [c for c in ("steps", "batch_size", "n_train_total") if c not in table.columns]
    if missing:
        raise MemgenError(f"{paths[0]}: summary lacks the columns {missing} (pass them with score --meta)")
    table = with_exposure(table)
    keys = [c for c in GRID if c in table.columns]
    table = table.sort_values(keys, kind="stable").reset_index(drop=True)
    table = table[[c for c in LEAD if c in table.columns] + [c for c in table.columns if c not in LEAD]]
    io.write_parquet(out, table)
    if markdown:
        io.write_text(markdown, to_markdown(table))
    return table


def to_markdown(table: pd.DataFrame) -> str:
    """A compact Markdown rendering: replicate % with its 95% interval beside steps, epochs per image and the
    presentations of the scored (base) images."""
    cols = [c for c in ("width", "size", "dummy", "count", "seed", "label") if c in table.columns]
    head = "| " + " | ".join(cols + ["steps", "epochs/image", "base presentations", "replicates", "95% CI",
                                      "train replicated"]) + " |"
    rule = "|" + "---|" * (len(cols) + 6)
    lines = [head, rule]
    for _, r in table.iterrows():
        cells = [str(r[c]) for c in cols]
        cells += [f"{int(r['steps'])}", f"{r['epochs_per_image']:.0f}", f"{r['base_image_presentations']:.0f}",
                  f"{100 * r['replicate_fraction']:.1f}%",
                  f"{100 * r['ci_low']:.1f}-{100 * r['ci_high']:.1f}%",
                  f"{int(r['n_train_replicated'])}/{int(r['n_train'])}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
