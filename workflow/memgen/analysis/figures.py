"""Figures for people, drawn from the tidy tables only (restyling never reruns scoring).

Matplotlib ``Figure`` objects are built without pyplot (no global figure state, Agg canvas for PNG), styled with
seaborn, and written atomically: a temporary file in the target directory, then ``os.replace``
(`memgen.analysis.plotting.save_png_atomic`). This module draws the capacity figure and the ratio histogram; the
follow-up studies' figures live in `memgen.analysis.study_figures`.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from memgen.analysis.plotting import (
    CAPACITY_THRESHOLD_PCT,
    _error_bars,
    _legend_right,
    _log_size_axis,
    _require,
    _threshold_label,
    save_png_atomic,
)
from memgen.errors import MemgenError


def capacity_figure(table: pd.DataFrame, out_path: str | os.PathLike, optimal: pd.DataFrame | None = None) -> None:
    """Figure-1 analogue: replicate percentage vs training-set size, one line per UNet width.

    table: one row per cell with ``size`` (training images), ``width``, ``replicate_fraction``, ``ci_low``,
    ``ci_high`` (fractions in [0, 1]) and optionally ``seed``. With several seeds per (width, size) every seed's
    point is drawn (with its Wilson interval) and the line runs through the mean over seeds.
    optimal: optional reference, the closed-form empirical-optimal denoiser's replicate fraction per size
    (columns ``size``, ``replicate_fraction``, ``ci_low``, ``ci_high``), drawn as a black dotted line.
    Writes a PNG to ``out_path``.
    """
    _require(table, ["size", "width", "replicate_fraction", "ci_low", "ci_high"], "capacity table")
    if optimal is not None:
        _require(optimal, ["size", "replicate_fraction", "ci_low", "ci_high"], "optimal-denoiser table")
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
            err = _error_bars(*(sub[c + "_pct"].to_numpy() for c in ("replicate_fraction", "ci_low", "ci_high")))
            marker = markers[j % len(markers)]
            if multi_seed:
                ax.errorbar(sub["size"], sub["replicate_fraction_pct"], yerr=err, fmt=marker, color=color,
                            alpha=0.45, markersize=4, capsize=2, linewidth=0.8)
                mean = sub.groupby("size")["replicate_fraction_pct"].mean()
                n_seeds = sub["seed"].nunique()
                ax.plot(mean.index, mean.to_numpy(), marker=marker, color=color, linewidth=2,
                        label=f"width {width} (mean of {n_seeds} seeds)")
            else:
                ax.errorbar(sub["size"], sub["replicate_fraction_pct"], yerr=err, marker=marker, color=color,
                            capsize=3, linewidth=2, label=f"width {width}")
        sizes = data["size"].astype(float).to_numpy()
        if optimal is not None:
            ref = optimal.sort_values("size")
            pct = 100.0 * ref[["replicate_fraction", "ci_low", "ci_high"]].to_numpy(dtype=float).T
            ax.errorbar(ref["size"], pct[0], yerr=_error_bars(*pct), color="black", linestyle=":", marker="x",
                        capsize=3, linewidth=1.6, label="optimal denoiser (closed form)")
            sizes = np.concatenate([sizes, ref["size"].to_numpy(dtype=float)])
        ax.axhline(CAPACITY_THRESHOLD_PCT, color="0.3", linestyle="--", linewidth=1.2,
                   label="90% (memorization capacity threshold)")
        _log_size_axis(ax, sizes, "training images (log scale)")
        ax.set_ylim(-3, 103)
        ax.set_ylabel("replicates among samples (%)")
        ax.set_title("Replicates among generated samples vs. training-set size\n(95% Wilson intervals)")
        _legend_right(ax, title="UNet", last="90%")
        save_png_atomic(fig, out_path)


def ratio_histogram(scores: pd.DataFrame, out_path: str | os.PathLike, threshold: float = 1 / 3) -> None:
    """Histogram of the ratio d1/d2 over the samples of one score table, with the replicate threshold.

    scores: the output of ``memgen.score.score_samples`` (needs ``ratio`` and ``is_replicate``).
    Samples left of the dashed line are flagged as replicates. Writes a PNG to ``out_path``.
    """
    _require(scores, ["ratio", "is_replicate"], "scores table")
    if not 0.0 < float(threshold) <= 1.0:
        raise MemgenError(f"threshold must lie in (0, 1], got {threshold!r}")
    data = pd.DataFrame({
        "ratio": scores["ratio"].astype(float),
        "flag": np.where(scores["is_replicate"].astype(bool), "replicate", "not a replicate"),
    })
    n_rep = int((data["flag"] == "replicate").sum())
    pct = 100.0 * n_rep / len(data)
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        fig = Figure(figsize=(7.0, 4.2))
        ax = fig.add_subplot()
        sns.histplot(data=data, x="ratio", hue="flag", hue_order=["replicate", "not a replicate"],
                     bins=np.linspace(0.0, 1.0, 51), multiple="stack", palette="colorblind", ax=ax)
        ax.axvline(threshold, color="0.2", linestyle="--", linewidth=1.2)
        ax.text(threshold, 0.97, f" threshold d1/d2 = {_threshold_label(threshold)}", color="0.2",
                transform=ax.get_xaxis_transform(), va="top", ha="left", fontsize="small")
        ax.set_xlim(0.0, 1.0)
        ax.set_xlabel("d1 / d2  (L2 distance to nearest / second-nearest training image)")
        ax.set_ylabel("samples")
        ax.set_title(f"Ratio criterion: {n_rep} of {len(data)} samples are replicates ({pct:.1f}%)")
        if ax.get_legend() is not None:
            sns.move_legend(ax, "upper left", bbox_to_anchor=(1.02, 1.0), title="", fontsize="small")
        save_png_atomic(fig, out_path)
