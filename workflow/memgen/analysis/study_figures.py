"""Figures of the follow-up studies, drawn from the tidy tables only: Yoon et al. Figures 5 and 7, the dummy-kinds
follow-up, Kaiser & Kollmann's loss gap and the onset of replication during training.

Built without pyplot, styled with seaborn and written atomically by `memgen.analysis.plotting.save_png_atomic`.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from memgen.stats import wilson_interval
from memgen.analysis.plotting import (
    CAPACITY_THRESHOLD_PCT,
    RATE,
    error_bars,
    legend_right,
    log_size_axis,
    pool,
    rate_errorbar,
    require,
    series_label,
    size_label,
    varying,
    save_png_atomic,
)
from memgen.errors import MemgenError

CLASS_NAMES = {0: "Mondrian (majority)", 1: "Random Ink (minority)"}
KIND_NAMES = {"gm": "gm (Gaussian mixture)", "hybrid": "hybrid (GM high freq. + base low freq.)",
              "heldout": "heldout (more base-distribution images)", "shapes": "shapes (geometric elements)"}
EXPOSURE_STYLE = {"equal_steps": ("-", "equal steps"), "matched": ("--", "matched epochs per base image")}
CELL_COLUMNS = ["study", "dataset", "width", "size", "dummy", "ndummy", "seed", "label", "cell"]


def _total_size(table: pd.DataFrame) -> pd.Series:
    if "n_train_total" in table.columns:
        return table["n_train_total"].astype(float)
    ndummy = table["ndummy"].astype(float) if "ndummy" in table.columns else 0.0
    return table["size"].astype(float) + ndummy


def _base_rows(table: pd.DataFrame, base_label: int) -> pd.DataFrame:
    return table[table["label"] == base_label] if "label" in table.columns else table


def dummies_figure(table: pd.DataFrame, out_path: str | os.PathLike, base_label: int = 0) -> None:
    """Figure 5: base-class replicates as dummies are added. (a) replicate % of the base class vs total training
    images; (b) base training images replicated at least once. Needs ``size``, ``ndummy``, ``replicate_fraction``,
    ``ci_low``, ``ci_high``, ``n_train_replicated`` (rows of ``label == base_label`` when a label column exists;
    x is ``n_train_total`` when present, else size + ndummy). Optional ``exposure`` ("equal_steps" solid /
    "matched" dashed), ``width`` (one colour each) and ``epochs_per_image`` (annotated: passes per image)."""
    require(table, ["size", "ndummy", *RATE, "n_train_replicated"], "dummies table")
    data = _base_rows(table, base_label).assign(total=lambda d: _total_size(d))
    require(data, ["total"], f"dummies table (label {base_label})")
    series = varying(data, ["width"]) + (["exposure"] if "exposure" in data.columns else [])
    pooled = pool(data, [*series, "total", "size"], averaged=("n_train_replicated", "epochs_per_image"))
    groups = list(pooled.groupby(series, sort=True)) if series else [((), pooled)]
    widths = sorted(data["width"].unique()) if "width" in data.columns else [None]
    palette = dict(zip(widths, sns.color_palette("colorblind", len(widths))))
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        fig = Figure(figsize=(12.0, 4.6), layout="constrained")
        ax_a, ax_b = fig.subplots(1, 2)
        for j, (key, sub) in enumerate(groups):
            key = dict(zip(series, key if isinstance(key, tuple) else (key,)))
            style, name = EXPOSURE_STYLE.get(key.get("exposure"), ("-", key.get("exposure", "")))
            color = palette[key.get("width", widths[0])]
            label = ", ".join(filter(None, [f"width {key['width']}" if "width" in key else "", name])) or None
            marker, own = "o", sub
            if key.get("exposure") == "matched":
                # the dummy-free cell is its own exposure-matched twin: start the dashed line there
                alone = pooled[(pooled["exposure"] == "equal_steps") & (pooled["total"] == pooled["size"])]
                if "width" in key:
                    alone = alone[alone["width"] == key["width"]]
                sub, marker = pd.concat([alone, sub]).sort_values("total"), "s"
            rate_errorbar(ax_a, sub["total"], sub, color=color, linestyle=style, marker=marker, label=label)
            ax_b.plot(sub["total"], sub["n_train_replicated"], color=color, linestyle=style, marker=marker, lw=2)
            for x, y, e in zip(own["total"], 100 * own["replicate_fraction"], own.get("epochs_per_image", [])):
                ax_a.annotate(f"{e:.0f} ep", (x, y), textcoords="offset points", xytext=(4, 8 - 16 * (j % 2)),
                              fontsize=7, color=color)
        for base in sorted(pooled["size"].unique()):
            ax_b.axhline(base, color="0.4", linestyle=":", linewidth=1.2, label=f"all {base:g} base images")
        for ax in (ax_a, ax_b):
            log_size_axis(ax, pooled["total"], "total training images: base + dummies (log scale)")
        ax_a.set_ylim(-3, 103)
        ax_a.set_ylabel("base-class samples that are replicates (%)")
        ax_a.set_title("(a) replicates among base-class samples\n(95% Wilson intervals; 'ep' = passes per image)")
        ax_b.set_ylim(bottom=0)
        ax_b.set_ylabel("base training images replicated at least once")
        ax_b.set_title("(b) distinct base images copied")
        if ax_a.get_legend_handles_labels()[0]:
            ax_a.legend(fontsize="small", loc="lower left")
        ax_b.legend(fontsize="small")
        fig.suptitle("Adding dummy images to the training set (Yoon et al. Figure 5)")
        save_png_atomic(fig, out_path)


def classes_figure(table: pd.DataFrame, out_path: str | os.PathLike, class_names: dict | None = None) -> None:
    """Figure 7: per class and total training-set size, (a) replicate % of that class's samples and (b) % of that
    class's training images replicated at least once; grouped bars with 95% Wilson error bars. Needs ``label``,
    ``size``, ``replicate_fraction``, ``ci_low``, ``ci_high``, ``n_train``, ``n_train_replicated`` (x groups by
    ``n_train_total`` when present, else size + ndummy); names from ``class_name``, ``class_names`` or labels."""
    require(table, ["label", "size", *RATE, "n_train", "n_train_replicated"], "classes table")
    names = {**CLASS_NAMES, **(class_names or {})}
    data = table.assign(total=_total_size(table))
    if "class_name" in data.columns:
        names.update(dict(zip(data["label"], data["class_name"])))
    pooled = pool(data, ["total", "label"], summed=("n_train", "n_train_replicated"))
    pooled["train_lo"], pooled["train_hi"] = wilson_interval(pooled["n_train_replicated"].to_numpy(),
                                                             pooled["n_train"].to_numpy())
    pooled["train_frac"] = pooled["n_train_replicated"] / pooled["n_train"]
    totals, labels = sorted(pooled["total"].unique()), sorted(pooled["label"].unique())
    width = 0.8 / len(labels)
    palette = sns.color_palette("colorblind", len(labels))
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        fig = Figure(figsize=(11.0, 4.6), layout="constrained")
        axes = fig.subplots(1, 2)
        for ax, cols in zip(axes, (RATE, ["train_frac", "train_lo", "train_hi"])):
            for j, (lab, color) in enumerate(zip(labels, palette)):
                sub = pooled[pooled["label"] == lab].set_index("total").reindex(totals)
                pct = 100.0 * sub[cols].to_numpy(dtype=float).T
                x = np.arange(len(totals)) + (j - (len(labels) - 1) / 2) * width
                ax.bar(x, pct[0], width, yerr=error_bars(*pct), capsize=3, color=color,
                       label=names.get(lab, f"label {lab}"))
                for xi, value, top in zip(x, pct[0], np.fmax(pct[0], pct[2])):  # value above its error bar
                    ax.text(xi, top + 1.5, f"{value:.1f}%", ha="center", va="bottom", fontsize=7)
            ax.set_xticks(np.arange(len(totals)), [f"{size_label(t)} images" for t in totals])
            ax.set_xlabel("total training-set size")
            ax.set_ylim(0, 112)
        axes[0].set_ylabel("samples of the class that are replicates (%)")
        axes[0].set_title("(a) replicates among samples, per class")
        axes[1].set_ylabel("training images of the class replicated (%)")
        axes[1].set_title("(b) training images copied at least once, per class")
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=len(labels))
        fig.suptitle("Majority vs minority class: memorized per class? (Yoon et al. Figure 7; 95% Wilson intervals)")
        save_png_atomic(fig, out_path)


def dummy_kinds_figure(table: pd.DataFrame, out_path: str | os.PathLike, base_label: int = 0) -> None:
    """Replicate % of base-class samples vs number of dummies, one line per dummy kind (gm, hybrid, heldout,
    shapes); rows with ``dummy == "none"`` (or ndummy 0) form the no-dummy baseline, a horizontal line with its
    Wilson band. Needs ``dummy``, ``ndummy``, ``replicate_fraction``, ``ci_low``, ``ci_high``."""
    require(table, ["dummy", "ndummy", *RATE], "dummy-kinds table")
    data = _base_rows(table, base_label)
    is_base = (data["dummy"] == "none") | (data["ndummy"] == 0)
    kinds = data[~is_base]
    require(kinds, ["dummy"], "dummy-kinds table (rows with dummies)")
    series = ["dummy", *varying(kinds, ["width"])]
    pooled = pool(kinds, [*series, "ndummy"])
    palette = sns.color_palette("colorblind", len(pooled.groupby(series)))
    markers = ["o", "s", "^", "D", "v", "P"]
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        fig = Figure(figsize=(8.0, 4.6))
        ax = fig.add_subplot()
        for j, (key, sub) in enumerate(pooled.groupby(series, sort=True)):
            key = key if isinstance(key, tuple) else (key,)
            label = KIND_NAMES.get(key[0], str(key[0])) + "".join(f", width {w}" for w in key[1:])
            rate_errorbar(ax, sub["ndummy"], sub, color=palette[j], marker=markers[j % 6], label=label)
        if is_base.any():
            base = pool(data[is_base].assign(_all=0), ["_all"]).iloc[0]
            ax.axhline(100 * base["replicate_fraction"], color="0.2", linestyle="--", linewidth=1.5,
                       label="no dummies (baseline)")
            ax.axhspan(100 * base["ci_low"], 100 * base["ci_high"], color="0.2", alpha=0.12, linewidth=0)
        log_size_axis(ax, pooled["ndummy"], "dummy images added (log scale)")
        ax.set_ylim(-3, 103)
        ax.set_ylabel("base-class samples that are replicates (%)")
        ax.set_title("Which dummies make the model stop copying?\n(95% Wilson intervals)")
        legend_right(ax, title="dummy kind", last="no dummies")
        save_png_atomic(fig, out_path)


def loss_gap_figure(table: pd.DataFrame, out_path: str | os.PathLike, replicates: pd.DataFrame | None = None) -> None:
    """Kaiser & Kollmann's generalization gap. table: ``step``, ``t``, ``alpha_bar`` in (0, 1), ``split`` in
    {train, heldout}, ``loss`` (duplicates averaged). Panel 1: loss vs log-SNR = log(alpha_bar / (1 - alpha_bar))
    (noisier to the right), one colour per step, train solid, heldout dashed; panel 2: heldout - train (eps-space,
    L_simple); panel 3 when the table has ``loss_x0``: the same gap in x0-space; optional last panel: replicate %
    vs training step from ``replicates`` (the snapshots' replicate table: steps, replicate_fraction, ci_low,
    ci_high)."""
    require(table, ["step", "t", "alpha_bar", "split", "loss"], "loss-gap table")
    if not set(table["split"]) == {"train", "heldout"}:
        raise MemgenError(f"loss-gap table split must hold 'train' and 'heldout', got {sorted(set(table['split']))}")
    ab = table["alpha_bar"].to_numpy(dtype=float)
    if not np.all((ab > 0) & (ab < 1)):
        raise MemgenError("loss-gap table alpha_bar must lie strictly inside (0, 1)")
    if replicates is not None:
        require(replicates, ["steps", *RATE], "replicates-by-step table")
    mean = table.groupby(["step", "t", "split"], sort=True)[["loss", "alpha_bar"]].mean()
    wide = mean["loss"].unstack("split").join(mean["alpha_bar"].groupby(["step", "t"]).mean()).reset_index()
    wide["log_snr"] = np.log(wide["alpha_bar"] / (1.0 - wide["alpha_bar"]))
    wide["gap"] = wide["heldout"] - wide["train"]
    x0 = "loss_x0" in table.columns
    if x0:  # the x0-space gap: the eps-space one times sigma^2 = (1 - alpha_bar) / alpha_bar
        wide["gap_x0"] = wide["gap"] * (1.0 - wide["alpha_bar"]) / wide["alpha_bar"]
    steps = sorted(wide["step"].unique())
    colors = dict(zip(steps, sns.color_palette("viridis", len(steps))))
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        gap_cols = ["gap", "gap_x0"] if x0 else ["gap"]
        n_panels = 1 + len(gap_cols) + (replicates is not None)
        fig = Figure(figsize=(5.2 * n_panels, 4.6), layout="constrained")
        axes = fig.subplots(1, n_panels)
        for step, sub in wide.groupby("step", sort=True):
            sub = sub.sort_values("log_snr")
            axes[0].plot(sub["log_snr"], sub["train"], color=colors[step], lw=1.8, label=f"step {step:,}")
            axes[0].plot(sub["log_snr"], sub["heldout"], color=colors[step], lw=1.8, linestyle="--")
            for ax, col in zip(axes[1:], gap_cols):
                ax.plot(sub["log_snr"], sub[col], color=colors[step], lw=1.8, marker=".")
                if sub[col].notna().any():
                    peak = sub.loc[sub[col].idxmax()]
                    ax.plot(peak["log_snr"], peak[col], "o", color=colors[step], markersize=7, mec="black")
        axes[0].plot([], [], color="0.3", label="train (solid)")
        axes[0].plot([], [], color="0.3", linestyle="--", label="held-out (dashed)")
        if (wide[["train", "heldout"]] > 0).all().all():
            axes[0].set_yscale("log")
        for ax in axes[: 1 + len(gap_cols)]:
            ax.invert_xaxis()
            ax.set_xlabel("log SNR = log(alpha_bar / (1 - alpha_bar))   (noisier ->)")
        axes[0].set_ylabel("eps-prediction loss (L_simple)")
        axes[0].set_title("(a) loss per noise level")
        axes[0].legend(fontsize="x-small", ncols=2)
        axes[1].axhline(0.0, color="0.3", lw=1)
        axes[1].set_ylabel("held-out - train, eps-space")
        axes[1].set_title("(b) gap in eps-space (circle: peak)")
        if x0:
            axes[2].axhline(0.0, color="0.3", lw=1)
            axes[2].set_ylabel("held-out - train, x0-space (x sigma^2)")
            axes[2].set_title("(c) gap in x0-space (circle: peak)")
        if replicates is not None:
            ax = axes[-1]
            rep = replicates.sort_values("steps")
            rate_errorbar(ax, rep["steps"], rep, color="black", marker="o")
            ax.set_ylim(-3, 103)
            ax.set_xlabel("training step")
            ax.set_ylabel("replicates among samples (%)")
            ax.set_title(f"({'abcd'[len(axes) - 1]}) replicates during training")
        fig.suptitle("Train vs held-out denoising loss across noise levels (Kaiser & Kollmann)")
        save_png_atomic(fig, out_path)


def onset_figure(table: pd.DataFrame, out_path: str | os.PathLike) -> None:
    """Replicate % vs training step, one line per cell (the grid columns that vary name it). Needs ``steps`` (the
    step of the sampled weights), ``replicate_fraction``, ``ci_low``, ``ci_high``."""
    require(table, ["steps", *RATE], "onset table")
    series = varying(table, CELL_COLUMNS)
    groups = list(table.groupby(series, sort=True)) if series else [((), table)]
    palette = sns.color_palette("colorblind", len(groups))
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        fig = Figure(figsize=(7.5, 4.6))
        ax = fig.add_subplot()
        for (key, sub), color in zip(groups, palette):
            sub = pool(sub, ["steps"])
            rate_errorbar(ax, sub["steps"], sub, color=color, marker="o", label=series_label(key, series))
        ax.axhline(CAPACITY_THRESHOLD_PCT, color="0.3", linestyle="--", linewidth=1.2, label="90%")
        ax.set_ylim(-3, 103)
        ax.set_xlabel("training step")
        ax.set_ylabel("replicates among samples (%)")
        ax.set_title("When does the model start to copy?\n(replicates per checkpoint, 95% Wilson intervals)")
        legend_right(ax, title="cell", last="90%")
        save_png_atomic(fig, out_path)
