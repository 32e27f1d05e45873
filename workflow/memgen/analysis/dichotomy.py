"""The dichotomy of Yoon et al. drawn from the tables: every scored cell as a point, memorized fraction against
generalizing fraction, and the disjoint-split agreement beside the replicate fraction.

The paper's claim: a model memorizes OR generalizes, and "training can entirely fail and achieve neither". So the
points should sit near the line x + y = 1 (memorizing at the right, generalizing at the top) or near the origin
(neither), never in the upper right (both). x = replicates + partial copies; y = novel-and-valid samples where the
kind has a validity rule, else the fraction of same-image pairs of the cell's disjoint-split twin (capacity cells
of real images), else undefined (the cell is listed, not drawn). With y the valid fraction, x + y = 1 - invalid,
so the distance below the line is the invalid share; only agreement can put a point above it.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from memgen.analysis.plotting import as_frame, legend_right, log_size_axis, require, save_png_atomic

GRID_KEYS = ["width", "size", "seed"]  # what names a pair of disjoint-split models
NEAR_LINE, NEAR_ORIGIN, ABOVE = 0.25, 0.25, 1.25  # |x + y - 1| <= 0.25: on the line; x + y < 0.25; x + y > 1.25
REGIONS = ("memorizing", "generalizing", "transition", "neither", "both (contradicts the dichotomy)", "between")


def region(x: float, y: float) -> str:
    """Where a point falls (module docstring): memorizing / generalizing (on the line, more than half copied /
    generalizing), transition (on the line, neither half), neither (near the origin), both (far above the line),
    between (the rest: below the line but not near the origin)."""
    total = x + y
    if total > ABOVE:
        return REGIONS[4]
    if abs(total - 1.0) <= NEAR_LINE:
        return REGIONS[0] if x >= 0.5 else REGIONS[1] if y >= 0.5 else REGIONS[2]
    return REGIONS[3] if total < NEAR_ORIGIN else REGIONS[5]


def dichotomy_table(replicates, agreement: pd.DataFrame | None = None, paired_study: str | None = None) -> pd.DataFrame:
    """One row per scored cell x label of the replicate tables (one DataFrame or a list: ``memorized_fraction``,
    ``generalizing_fraction`` from `memgen.evaluation.assess`): study, cell columns, n_train, x, y, y_measure
    (valid / agreement / none), region. ``agreement``: the disjoint-split summary (per width, size, seed); it gives
    y to the cells of ``paired_study`` (side A of the splits) that have no validity rule."""
    rows = as_frame(replicates)
    require(rows, ["study", "width", "size", "seed", "label", "memorized_fraction"], "replicate tables")
    keep = [c for c in ("study", "dataset", "width", "size", "dummy", "ndummy", "steps", "exposure", "seed",
                        "label", "n_train", "n_samples") if c in rows.columns]
    out = rows[keep].copy()
    out["x"] = rows["memorized_fraction"].astype(float)
    out["y"] = rows.get("generalizing_fraction", pd.Series(np.nan, index=rows.index)).astype(float)
    out["y_measure"] = np.where(out["y"].notna(), "valid", "none")
    if agreement is not None and not agreement.empty:
        col = "frac_same_novel" if "frac_same_novel" in agreement else "frac_same"
        twin = out.merge(agreement[GRID_KEYS + [col]], on=GRID_KEYS, how="left")[col].to_numpy()
        use = out["y"].isna().to_numpy() & (out["study"] == paired_study).to_numpy() & ~np.isnan(twin)
        out.loc[use, "y"], out.loc[use, "y_measure"] = twin[use], "agreement"
    drawn = out["y"].notna()
    out["region"] = [region(x, y) if ok else "undefined" for x, y, ok in zip(out["x"], out["y"], drawn)]
    return out


def summary_line(table: pd.DataFrame) -> str:
    counts = table["region"].value_counts()
    parts = [f"{counts[r]} {r}" for r in (*REGIONS, "undefined") if r in counts]
    return f"{len(table)} cells: " + ", ".join(parts)


def dichotomy_figure(table: pd.DataFrame, out_path: str | os.PathLike) -> None:
    """Memorized fraction (x) vs generalizing fraction (y), one point per cell x label, coloured by study, sized
    by the training-set size; the line x + y = 1 and the bands of `region`; the region counts in the title."""
    require(table, ["study", "x", "y", "region"], "dichotomy table")
    data = table[table["y"].notna()].copy()
    size_col = "n_train" if "n_train" in data.columns else "size"
    studies = sorted(data["study"].unique())
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        fig = Figure(figsize=(7.6, 6.0))
        ax = fig.add_subplot()
        line = np.linspace(0, 1, 201)
        ax.plot(line, 1 - line, color="0.3", linestyle="--", linewidth=1.2, label="x + y = 1 (the dichotomy)")
        ax.fill_between(line, np.clip(1 - NEAR_LINE - line, 0, None), np.clip(1 + NEAR_LINE - line, 0, 1.05),
                        color="0.85", alpha=0.5, linewidth=0, label=f"on the line (|x + y - 1| <= {NEAR_LINE})")
        ax.fill_between(line, 0, np.clip(NEAR_ORIGIN - line, 0, None), color="#f4cccc", alpha=0.6, linewidth=0,
                        label="neither (failed training)")
        markers = {"valid": "o", "agreement": "s"}
        palette = dict(zip(studies, sns.color_palette("colorblind", len(studies))))
        for (study, measure), sub in data.groupby(["study", "y_measure"], sort=True):
            area = 30 + 170 * np.log10(sub[size_col].astype(float).clip(lower=1)) / np.log10(
                max(float(data[size_col].max()), 10.0))
            ax.scatter(sub["x"], sub["y"], s=area, color=palette[study], marker=markers.get(measure, "o"),
                       alpha=0.8, edgecolor="0.2", linewidth=0.5,
                       label=study + (" (y: disjoint-split agreement)" if measure == "agreement" else ""))
        ax.set_xlim(-0.03, 1.03)
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("memorized: replicates + partial copies (fraction of samples)")
        ax.set_ylabel("generalizing: novel and valid samples\n(or same-image pairs with a disjoint-split twin)")
        ax.set_title(f"Memorize or generalize: one point per cell (size ~ training images)\n{summary_line(table)}",
                     fontsize=9)
        legend_right(ax, title="study")
        save_png_atomic(fig, out_path)


def agreement_figure(table: pd.DataFrame, out_path: str | os.PathLike, replicates=None) -> None:
    """Two panels on one x axis (training images, log): (a) the disjoint-split agreement (median similarity with its
    interval, the same-image fraction and the same-image-and-both-novel fraction) per width; (b) the replicate
    fraction of side A and side B per width. ``replicates``: the replicate tables of both sides (one DataFrame or a
    list; ``dataset``, ``width``, ``size``, ``replicate_fraction``)."""
    replicates = as_frame(replicates)
    require(table, ["width", "size", "median_similarity", "median_ci_low", "median_ci_high", "frac_same"],
             "agreement table")
    widths = sorted(table["width"].unique())
    palette = dict(zip(widths, sns.color_palette("colorblind", len(widths))))
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        fig = Figure(figsize=(11.5, 4.4), layout="constrained")
        left, right = fig.subplots(1, 2, sharex=True)
        for w, sub in table.groupby("width"):
            sub = sub.groupby("size", as_index=False).mean(numeric_only=True)
            err = np.abs(sub[["median_ci_low", "median_ci_high"]].to_numpy().T - sub["median_similarity"].to_numpy())
            left.errorbar(sub["size"], sub["median_similarity"], yerr=err, color=palette[w], marker="o", capsize=3,
                          label=f"width {w}: median similarity")
            left.plot(sub["size"], sub["frac_same"], color=palette[w], marker="s", linestyle=":",
                      label=f"width {w}: same-image pairs")
            if "frac_same_novel" in sub:
                left.plot(sub["size"], sub["frac_same_novel"], color=palette[w], marker="^", linestyle="-.",
                          label=f"width {w}: same image, both novel (& valid)")
        if replicates is not None and not replicates.empty:
            side = np.where(replicates["dataset"].astype(str).str.startswith("split-"), "B", "A")
            for (s, w), sub in replicates.assign(side=side).groupby(["side", "width"]):
                if w not in palette:
                    continue
                sub = sub.groupby("size", as_index=False)["replicate_fraction"].mean()
                right.plot(sub["size"], sub["replicate_fraction"], color=palette[w], marker="o",
                           linestyle="-" if s == "A" else "--", label=f"width {w}, side {s}")
        for ax, title in ((left, "(a) agreement of two models trained on disjoint sets"),
                          (right, "(b) replicates among each model's samples")):
            log_size_axis(ax, table["size"], "training images per model (log scale)")
            ax.set_ylim(-0.05, 1.05)
            ax.set_title(title, fontsize=10)
            ax.legend(fontsize="small")
        left.set_ylabel("similarity / fraction of pairs")
        right.set_ylabel("replicate fraction")
        save_png_atomic(fig, out_path)
