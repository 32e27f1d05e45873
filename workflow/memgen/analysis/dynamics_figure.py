"""The dynamics study's figure: replicate, novel-and-valid and invalid fractions against training steps (log),
one colour per training-set size, each seed a point and the band across seeds (the outcome-figure machinery,
`memgen.analysis.outcome_figure`), with each size's onsets marked: tau_mem on the replicate panel, tau_novel on the
novel-and-valid panel, tau_gen on the invalid panel (dashed: the seeds' geometric mean; dotted: a censored median).
One figure per kind of weights (EMA or raw)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import seaborn as sns

from memgen.analysis.outcome_figure import Layout, outcome_figure
from memgen.analysis.outcome_panels import Axis, outcome_panels
from memgen.analysis.plotting import require, series_label
from memgen.errors import MemgenError

MARKS = {"replicate": "tau_mem", "novel_valid": "tau_novel", "invalid": "tau_gen"}


def _series(cells: pd.DataFrame, keys: list[str]) -> list[str]:
    return [series_label(tuple(r[c] for c in keys), keys) for _, r in cells.iterrows()]


def onset_marks(onsets: pd.DataFrame, keys: list[str]):
    """decorate(axes, cells): a vertical line per series and onset, in the series' colour (the palette
    `outcome_figure` gives the series in their drawn order)."""
    def decorate(axes, cells) -> None:
        order = list(dict.fromkeys(cells["series"]))
        palette = dict(zip(order, sns.color_palette("colorblind", len(order))))
        names = _series(onsets, keys)
        for measure, onset in MARKS.items():
            if measure not in axes:
                continue
            for name, (_, r) in zip(names, onsets.iterrows()):
                mean, median = r[f"{onset}_mean"], r[f"{onset}_median"]
                x, style = (mean, "--") if np.isfinite(mean) else (median, ":")
                if name in palette and np.isfinite(x):
                    axes[measure].axvline(x, color=palette[name], ls=style, lw=1.2, zorder=1)
    return decorate


def dynamics_figure(table: pd.DataFrame, onsets: pd.DataFrame, out_path: str | os.PathLike, weights: str = "ema",
                    level: float | None = None) -> pd.DataFrame:
    """Draw the snapshots of one kind of weights (``table``: the study's snapshot table; ``onsets``: its
    onsets across seeds, `memgen.analysis.dynamics_tables.onset_seeds_table`; ``level``: tau_mem's replicate
    level, a dashed line on the replicate panel). Returns the figure's table."""
    require(table, ["steps", "size", "replicate_fraction", "ci_low", "ci_high", "n_samples", "weights"],
            "snapshot table")
    table = table[table["weights"] == weights].drop(columns="weights")
    onsets = onsets[onsets["weights"] == weights]
    if table.empty:
        raise MemgenError(f"snapshot table: no rows of the {weights} weights")
    keys = [c for c in ("width", "size") if c in table.columns and table[c].nunique() > 1] or ["size"]

    def place(cells):
        return cells["steps"].astype(float), _series(cells, keys), Axis("training step (log scale)", log=True)

    layout = Layout(f"Training dynamics ({weights} weights): when samples become valid, novel, then copies "
                    "(lines: onsets)", place, lambda c: f"size {c['size']}, step {c['steps']}",
                    panels=outcome_panels(("replicate", "novel_valid", "invalid")),
                    threshold=None if level is None else 100 * level, decorate=onset_marks(onsets, keys))
    return outcome_figure(table, out_path, layout)
