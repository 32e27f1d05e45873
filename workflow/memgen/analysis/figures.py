"""Figures for people, drawn from the tidy tables only (restyling never reruns scoring).

Matplotlib ``Figure`` objects are built without pyplot (no global figure state, Agg canvas for PNG), styled with
seaborn, and written atomically (`memgen.analysis.plotting.save_png_atomic`). This module draws the capacity
figure; the follow-up studies' figures live in `memgen.analysis.study_figures`, the machinery they share in
`memgen.analysis.outcome_figure`.
"""

from __future__ import annotations

import os

import pandas as pd

from memgen.analysis.outcome_figure import Layout, outcome_figure
from memgen.analysis.outcome_panels import Axis
from memgen.analysis.plotting import CAPACITY_THRESHOLD_PCT, as_frame, require


def _optimal_line(optimal: pd.DataFrame):
    """The closed-form optimal denoiser on the replicate panel: one cross per training set, a line through the
    mean per size (its sets are the cells' sets, one per seed)."""
    def decorate(axes, cells) -> None:
        ax = axes["replicate"]
        ref = optimal.assign(pct=100 * optimal["replicate_fraction"].astype(float)).sort_values("size")
        ax.scatter(ref["size"], ref["pct"], marker="x", color="black", s=22, zorder=4)
        mean = ref.groupby("size")["pct"].mean()
        ax.plot(mean.index, mean.to_numpy(), color="black", ls=":", lw=1.6, zorder=4,
                label="optimal denoiser (closed form; x: one training set)")
    return decorate


def capacity_layout(optimal: pd.DataFrame | None = None) -> Layout:
    """Yoon et al. Figure 1 with both sides: each outcome against the training-set size, one colour per width."""
    def place(cells):
        return cells["size"].astype(float), [f"width {w}" for w in cells["width"]], \
            Axis("training images N (log scale)", log=True)
    return Layout("What the samples became vs training-set size (Yoon et al. Figure 1: memorization capacity; "
                  "dashed: 90% replicates)", place, lambda c: f"width {c['width']}, N {c['size']:g}",
                  threshold=CAPACITY_THRESHOLD_PCT, decorate=None if optimal is None else _optimal_line(optimal))


def capacity_figure(table: pd.DataFrame, out_path: str | os.PathLike, optimal=None, across=None, comparisons=None,
                    samples=None, scores=None, train=None) -> pd.DataFrame:
    """Figure-1 analogue with every outcome: replicate, partial copy, novel and valid (novel where the kind has no
    validity rule) and invalid % of each cell's samples against training-set size, one colour per UNet width.

    table: the replicates table (one row per cell x seed: ``size``, ``width``, ``replicate_fraction``,
    ``n_samples``, the Wilson bounds ``ci_low``, ``ci_high`` and ``frac_<outcome>``). Each seed's model is a point;
    with 2+ seeds per cell the line is the mean over seeds and the band its across-seed 95% interval (from
    ``across``, the study's across_seeds table, when given); with one seed, a bar is that model's 95% Wilson
    interval. comparisons: the study's claims, each marked on the difference it judges (`outcome_panels`).
    optimal: the closed-form optimal denoiser's replicate fraction per training set (``size``,
    ``replicate_fraction``, ``ci_low``, ``ci_high``; a DataFrame or a list), drawn as a black dotted line.
    samples, scores, train: the first seed's cells, for the gallery strips. Writes a PNG; returns the figure's
    table (`memgen.analysis.figure_tables`)."""
    optimal = as_frame(optimal)
    require(table, ["size", "width", "replicate_fraction", "ci_low", "ci_high"], "capacity table")
    if optimal is not None:
        require(optimal, ["size", "replicate_fraction", "ci_low", "ci_high"], "optimal-denoiser table")
    return outcome_figure(table, out_path, capacity_layout(optimal), across=across, comparisons=comparisons,
                          samples=samples, scores=scores, train=train)
