"""Figures for people, drawn from the tidy tables only (restyling never reruns scoring).

Matplotlib ``Figure`` objects are built without pyplot (no global figure state, Agg canvas for PNG), styled with
seaborn, and written atomically: a temporary file in the target directory, then ``os.replace``
(`memgen.analysis.plotting.save_png_atomic`). This module draws the capacity figure; the follow-up studies'
figures live in `memgen.analysis.study_figures`.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from memgen.analysis.plotting import (
    CAPACITY_THRESHOLD_PCT,
    as_frame,
    error_bars,
    legend_right,
    log_size_axis,
    require,
    save_png_atomic,
)
from memgen.analysis.seeds import across_seeds


def capacity_figure(table: pd.DataFrame, out_path: str | os.PathLike, optimal=None) -> None:
    """Figure-1 analogue: replicate percentage vs training-set size, one line per UNet width.

    table: one row per cell with ``size`` (training images), ``width``, ``replicate_fraction``, ``ci_low``,
    ``ci_high`` (fractions in [0, 1]) and optionally ``seed``. With several seeds per (width, size) every seed's
    point is drawn (with its Wilson interval), the line runs through the mean over seeds and a band shows the
    across-seed 95% interval (`memgen.analysis.seeds.across_seeds`: it holds the model-to-model spread).
    optimal: optional reference (a DataFrame or a list of them), the closed-form empirical-optimal denoiser's
    replicate fraction per size (columns ``size``, ``replicate_fraction``, ``ci_low``, ``ci_high``), drawn as a
    black dotted line. Writes a PNG to ``out_path``.
    """
    optimal = as_frame(optimal)
    require(table, ["size", "width", "replicate_fraction", "ci_low", "ci_high"], "capacity table")
    if optimal is not None:
        require(optimal, ["size", "replicate_fraction", "ci_low", "ci_high"], "optimal-denoiser table")
    data = table.copy()
    for col in ("replicate_fraction", "ci_low", "ci_high"):
        data[col + "_pct"] = 100.0 * data[col].astype(float)
    multi_seed = "seed" in data.columns and data.groupby(["width", "size"]).size().max() > 1
    widths = sorted(data["width"].unique())
    palette = sns.color_palette("colorblind", len(widths))
    markers = ["o", "s", "^", "D", "v", "P", "X", "*"]

    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        fig = Figure(figsize=(7.0, 4.6))
        ax = fig.add_subplot()
        for j, (width, color) in enumerate(zip(widths, palette)):
            sub = data[data["width"] == width].sort_values("size")
            err = error_bars(*(sub[c + "_pct"].to_numpy() for c in ("replicate_fraction", "ci_low", "ci_high")))
            marker = markers[j % len(markers)]
            if multi_seed:
                ax.errorbar(sub["size"], sub["replicate_fraction_pct"], yerr=err, fmt=marker, color=color,
                            alpha=0.45, markersize=4, capsize=2, linewidth=0.8)
                label = f"width {width} (mean of {sub['seed'].nunique()} seeds"
                if "n_samples" in sub.columns:  # a replicates table: the band of the across-seed interval
                    band = across_seeds(table[table["width"] == width]).sort_values("size")
                    ax.fill_between(band["size"], 100 * band["ci_low_replicate"], 100 * band["ci_high_replicate"],
                                    color=color, alpha=0.15, linewidth=0)
                    mean, label = band.set_index("size")["mean_replicate"] * 100, label + ", band: 95% across seeds"
                else:
                    mean = sub.groupby("size")["replicate_fraction_pct"].mean()
                ax.plot(mean.index, mean.to_numpy(), marker=marker, color=color, linewidth=2, label=label + ")")
            else:
                ax.errorbar(sub["size"], sub["replicate_fraction_pct"], yerr=err, marker=marker, color=color,
                            capsize=3, linewidth=2, label=f"width {width}")
        sizes = data["size"].astype(float).to_numpy()
        if optimal is not None:
            ref = optimal.sort_values("size")
            pct = 100.0 * ref[["replicate_fraction", "ci_low", "ci_high"]].to_numpy(dtype=float).T
            ax.errorbar(ref["size"], pct[0], yerr=error_bars(*pct), color="black", linestyle=":", marker="x",
                        capsize=3, linewidth=1.6, label="optimal denoiser (closed form)")
            sizes = np.concatenate([sizes, ref["size"].to_numpy(dtype=float)])
        ax.axhline(CAPACITY_THRESHOLD_PCT, color="0.3", linestyle="--", linewidth=1.2,
                   label="90% (memorization capacity threshold)")
        log_size_axis(ax, sizes, "training images (log scale)")
        ax.set_ylim(-3, 103)
        ax.set_ylabel("replicates among samples (%)")
        ax.set_title("Replicates among generated samples vs. training-set size\n(95% Wilson intervals)")
        legend_right(ax, title="UNet", last="90%")
        save_png_atomic(fig, out_path)
