"""Figures for people, drawn from the tidy tables only (restyling never reruns scoring).

Matplotlib ``Figure`` objects are built without pyplot (no global figure state, Agg canvas for PNG), styled with
seaborn, and written atomically: a temporary file in the target directory, then ``os.replace``.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullLocator

from memgen.errors import MemgenError

DPI = 150
_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once: mkstemp creates 0600 files, the final PNG gets the usual 0666 & ~umask
CAPACITY_THRESHOLD_PCT = 90.0  # Yoon et al. call a model memorizing when >= 90% of samples are replicates


def save_png_atomic(fig: Figure, out_path: str | os.PathLike) -> None:
    """Write ``fig`` as PNG (dpi 150) to ``out_path`` atomically; the parent directory is created if needed."""
    out_path = os.fspath(out_path)
    parent = os.path.dirname(os.path.abspath(out_path))
    os.makedirs(parent, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{os.path.basename(out_path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            fig.savefig(handle, format="png", dpi=DPI, bbox_inches="tight")
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, out_path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _require(table: pd.DataFrame, columns: list[str], what: str) -> None:
    if not isinstance(table, pd.DataFrame):
        raise MemgenError(f"{what} must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise MemgenError(f"{what} lacks column(s) {missing}")
    if table.empty:
        raise MemgenError(f"{what} has no rows to plot")


def _size_label(size: float) -> str:
    """500 -> '500', 1000 -> '1k', 2500 -> '2.5k', 32000 -> '32k'."""
    return f"{size / 1000:g}k" if size >= 1000 else f"{size:g}"


def _error_bars(pct: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Asymmetric yerr ``[2, n]`` in percent, never negative (NaN CIs draw no bar)."""
    return np.clip(np.vstack([pct - lo, hi - pct]), 0.0, None)


def capacity_figure(table: pd.DataFrame, out_path: str | os.PathLike) -> None:
    """Figure-1 analogue: replicate percentage vs training-set size, one line per UNet width.

    table: one row per cell with ``size`` (training images), ``width``, ``replicate_fraction``, ``ci_low``,
    ``ci_high`` (fractions in [0, 1]) and optionally ``seed``. With several seeds per (width, size) every seed's
    point is drawn (with its Wilson interval) and the line runs through the mean over seeds.
    Writes a PNG to ``out_path``.
    """
    _require(table, ["size", "width", "replicate_fraction", "ci_low", "ci_high"], "capacity table")
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
        ax.axhline(CAPACITY_THRESHOLD_PCT, color="0.3", linestyle="--", linewidth=1.2,
                   label="90% (memorization capacity threshold)")
        sizes = np.sort(data["size"].astype(float).unique())
        ax.set_xscale("log")
        if sizes.min() == sizes.max():
            ax.set_xlim(sizes.min() / 2, sizes.max() * 2)
        ax.xaxis.set_major_locator(FixedLocator(sizes))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([_size_label(s) for s in sizes])
        ax.set_ylim(-3, 103)
        ax.set_xlabel("training images (log scale)")
        ax.set_ylabel("replicates among samples (%)")
        ax.set_title("Replicates among generated samples vs. training-set size\n(95% Wilson intervals)")
        handles, labels = ax.get_legend_handles_labels()
        order = sorted(range(len(labels)), key=lambda i: labels[i].startswith("90%"))  # threshold entry last
        ax.legend([handles[i] for i in order], [labels[i] for i in order], title="UNet", loc="upper left",
                  bbox_to_anchor=(1.02, 1.0), fontsize="small", title_fontsize="small")
        save_png_atomic(fig, out_path)


def _threshold_label(threshold: float) -> str:
    return "1/3" if abs(threshold - 1 / 3) < 1e-12 else f"{threshold:g}"


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
