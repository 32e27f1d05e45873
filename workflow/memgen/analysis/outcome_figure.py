"""One outcome figure put together: the panels of `memgen.analysis.outcome_panels` over a study's cells, its
claims' key, the gallery strips of `memgen.analysis.strips`, and the table of all three
(`memgen.analysis.figure_tables.figure_table`), which the figure function returns for the ``figure`` rule to write
beside the PNG."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from memgen.analysis import figure_tables as ft
from memgen.analysis import outcome_panels as op
from memgen.analysis.plotting import save_png_atomic
from memgen.analysis.strips import draw_strips, strip_image, strip_rows


@dataclass
class Layout:
    """Where a study puts its cells. place(cells) -> (x [C], series [C], Axis): each cell's x position and series
    name (its colour and legend entry); name(cell row) -> the strip's title; panels: the outcome panels, then any
    further measure (`outcome_panels.Panel`); threshold: a dashed line on the replicate panel (%)."""

    title: str
    place: Callable
    name: Callable
    panels: list = field(default_factory=op.outcome_panels)
    threshold: float | None = None
    extra: dict = field(default_factory=dict)  # further measure columns: (successes, trials) columns or None
    decorate: Callable | None = None  # decorate(axes by measure, cells): reference lines and the like


def _seed_rows(table: pd.DataFrame, cells: pd.DataFrame) -> pd.DataFrame:
    keys = ft.cell_keys(table)
    index = cells[keys].assign(_cell=np.arange(len(cells)))
    return table.merge(index, on=keys, how="inner")


def _strips(layout: Layout, cells: pd.DataFrame, samples, scores, train, labels):
    """The strips' pictures, their grid places (column: the cell's x rank, row: its series within that x) and
    the samples shown, each with its drawn cell's x and series."""
    shown = strip_rows(scores, labels=labels)
    if shown.empty:
        return [], [], shown
    keys = [c for c in ft.cell_keys(shown) if c in cells.columns] + ["label"] * ("label" in cells.columns)
    xs = sorted(cells["x"].unique())
    pictures, places, rows = [], [], []
    for (strip, label), sub in shown.groupby(["strip", "label"], sort=False):
        first = sub.iloc[0]
        hit = ft.matching(cells, {k: str(first[k] if k != "label" else label) for k in keys})
        if len(hit) != 1:
            continue
        cell = cells.iloc[hit[0]]
        column = xs.index(cell["x"])
        places.append((sum(1 for _, c in places if c == column), column))
        pictures.append((f"{layout.name(cell)} (seed {first.get('seed', 0)})",
                         strip_image(samples[strip][0], train[strip][0], sub)))
        rows.append(sub.assign(x=cell["x"], series=cell["series"]))
    if places and all(c == 0 for _, c in places):  # one x: the strips side by side instead
        places = [(0, r) for r, _ in places]
    return pictures, places, pd.concat(rows, ignore_index=True) if rows else shown.iloc[:0]


def outcome_figure(table: pd.DataFrame, out_path: str | os.PathLike, layout: Layout, *, across=None,
                   comparisons=None, samples=None, scores=None, train=None, labels=None) -> pd.DataFrame:
    """Draw a study's outcome figure from its replicates table (the rows to draw), its ``across_seeds`` and
    ``comparisons`` tables and, for the strips, the first seed's samples, scores and training sets (lists aligned
    per cell; ``labels``: the labels whose samples are shown). Writes a PNG; returns its table."""
    cells = ft.cell_outcomes(table, across, layout.extra)
    cells["x"], cells["series"], axis = layout.place(cells)
    cells = cells.sort_values(["x", "series"], kind="stable").reset_index(drop=True)
    seeds = _seed_rows(ft.with_seed(table), cells)
    measures = [p.measure for p in layout.panels]
    claims, marks = ft.claim_marks(comparisons, cells, [*measures, "novel"])
    series = list(dict.fromkeys(cells["series"]))
    palette = dict(zip(series, sns.color_palette("colorblind", len(series))))
    pictures, places, shown = ([], [], None) if not scores else _strips(layout, cells, samples, scores, train, labels)
    n_key = len(claims)
    heights = [3.6, 0.25 + 0.17 * np.ceil(n_key / 2) if n_key else 0, 1.15 * (max(r for r, _ in places) + 1)
               if places else 0]
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        panel = 3.3 if axis.log else float(np.clip(1.2 + 0.62 * len(axis.ticks), 2.4, 5.0))
        fig = Figure(figsize=(panel * len(measures) + 2.8, sum(heights) + 0.8), layout="constrained")
        parts = fig.subfigures(len([h for h in heights if h]), 1, height_ratios=[h for h in heights if h],
                               squeeze=False)[:, 0]
        axes = op.draw_panels(parts[0], cells, seeds, layout.panels, axis, palette, marks, layout.threshold)
        if layout.decorate is not None:
            layout.decorate(axes, cells)
        has_novel = cells["mean_novel"].notna().any()
        handles, names = op.legend_handles(palette, set(cells["interval"]), has_novel, bool(n_key))
        for ax in dict.fromkeys(axes.values()):  # what `decorate` labelled (a reference line)
            more = ax.get_legend_handles_labels()
            handles, names = handles + more[0], names + more[1]
        parts[0].legend(handles, names, loc="outside right upper", fontsize=7.5, frameon=False)
        if n_key:
            op.draw_key(parts[1], claims)
        if pictures:
            parts[-1].suptitle("the first seed's first samples (top; frame = outcome colour) over their nearest "
                               "training images (bottom)", fontsize=8.5, x=0.01, ha="left")
            draw_strips(parts[-1], pictures, places)
        fig.suptitle(layout.title, fontsize=11.5)
        save_png_atomic(fig, out_path, tight=False)
    return ft.figure_table(cells, claims, shown)
