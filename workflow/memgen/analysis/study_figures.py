"""Figures of the follow-up studies, drawn from the tidy tables only: Yoon et al. Figures 5 and 7, the dummy-kinds
follow-up, Kaiser & Kollmann's loss gap and the onset of replication during training.

The dummies, classes, dummy-kinds and onset figures show every outcome of each cell's samples with its seeds
(`memgen.analysis.outcome_figure`); built without pyplot, styled with seaborn, written atomically
(`memgen.analysis.plotting.save_png_atomic`).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from memgen.analysis.outcome_figure import Layout, outcome_figure
from memgen.analysis.outcome_panels import Axis, Panel, outcome_panels
from memgen.analysis.plotting import (
    CAPACITY_THRESHOLD_PCT,
    RATE,
    error_bars,
    require,
    series_label,
    size_label,
    varying,
    save_png_atomic,
)
from memgen.errors import MemgenError

CLASS_NAMES = {0: "Mondrian (majority)", 1: "Random Ink (minority)"}
KIND_NAMES = {"gm": "Gaussian mixture", "hybrid": "GM high frequencies + base low (Fourier)",
              "heldout": "more base-class images", "shapes": "geometric elements"}
EXPOSURE_NAMES = {"equal_steps": "equal steps", "matched": "matched"}
CELL_COLUMNS = ["study", "dataset", "width", "size", "dummy", "ndummy", "seed", "label", "cell"]
COPIED = {"frac_train_replicated": ("n_train_replicated", "n_train")}  # Figures 5b and 7b, per seed


def _total_size(table: pd.DataFrame) -> pd.Series:
    if "n_train_total" in table.columns:
        return table["n_train_total"].astype(float)
    ndummy = table["ndummy"].astype(float) if "ndummy" in table.columns else 0.0
    return table["size"].astype(float) + ndummy


def _base_rows(table: pd.DataFrame, base_label: int) -> pd.DataFrame:
    return table[table["label"] == base_label] if "label" in table.columns else table


def _copied(table: pd.DataFrame) -> pd.DataFrame:
    """The table with ``frac_train_replicated`` (training images replicated at least once / training images)."""
    if "frac_train_replicated" in table.columns:
        return table
    return table.assign(frac_train_replicated=table["n_train_replicated"] / table["n_train"])


def _categories(keys: list[tuple], label) -> tuple[dict, tuple]:
    """Sorted distinct category keys -> ({key: position}, ticks ((position, label(key)), ...))."""
    ordered = sorted(set(keys))
    return {k: float(i) for i, k in enumerate(ordered)}, tuple((float(i), label(k)) for i, k in enumerate(ordered))


def _width_series(cells: pd.DataFrame) -> list[str]:
    """One series per UNet width ("width 16"); "mean of seeds" without a width column."""
    if "width" not in cells.columns:
        return ["mean of seeds"] * len(cells)
    return [f"width {w}" for w in cells["width"]]


def dummies_layout(base_label: int) -> Layout:
    """Yoon et al. Figure 5 with both sides: one category per cell (the base alone, then each dummy count at equal
    steps and exposure-matched), every outcome of the base class's samples, and the base images copied."""
    def key(row):
        exposure = row.get("exposure", "equal_steps") if row["ndummy"] else ""
        return (float(row["ndummy"]), 0 if exposure != "matched" else 1, str(row.get("dummy", "")),
                str(exposure), int(row.get("steps", 0) or 0))

    def tick(k):
        ndummy, _, dummy, exposure, steps = k
        text = "base alone" if not ndummy else f"+{ndummy:g} {dummy}\n{EXPOSURE_NAMES.get(exposure, exposure)}"
        return text + (f"\n{steps} steps" if steps else "")

    def place(cells):
        keys = [key(r) for _, r in cells.iterrows()]
        pos, ticks = _categories(keys, tick)
        return [pos[k] for k in keys], _width_series(cells), Axis(
            "the cell (matched: trained until each base image\nis seen as often as without dummies)", ticks=ticks,
            dodge=0.3)

    panels = [*outcome_panels(), Panel("frac_train_replicated", "(e) base images copied (5b)",
                                               "base training images replicated at least once (%)")]
    return Layout(f"Adding dummy images: what the base class's samples became (Yoon et al. Figures 3-5; label "
                  f"{base_label})", place, lambda c: tick(key(c)).replace("\n", ", "), panels=panels, extra=COPIED)


def dummies_figure(table: pd.DataFrame, out_path: str | os.PathLike, base_label: int = 0, across=None,
                   comparisons=None, samples=None, scores=None, train=None) -> pd.DataFrame:
    """Figure 5 with every outcome: per cell (base alone; + k dummies at equal steps; its exposure-matched twin),
    the base class's samples as replicates, partial copies, novel and valid, invalid, and (e) the base training
    images replicated at least once. table: the replicates table (``size``, ``ndummy``, ``replicate_fraction``,
    ``ci_low``, ``ci_high``, ``n_train_replicated``, ``n_samples``; optional ``exposure``, ``dummy``, ``width``,
    ``steps``, ``seed``, ``frac_<outcome>``); rows of ``label == base_label`` when it has labels. Seeds, bands,
    claims and strips as `memgen.analysis.figures.capacity_figure`. Writes a PNG; returns its table."""
    require(table, ["size", "ndummy", *RATE, "n_train_replicated"], "dummies table")
    data = _copied(_base_rows(table, base_label))
    require(data, ["n_train"], f"dummies table (label {base_label})")
    return outcome_figure(data, out_path, dummies_layout(base_label), across=across, comparisons=comparisons,
                          samples=samples, scores=scores, train=train, labels={base_label})


def classes_layout(names: dict) -> Layout:
    """Yoon et al. Figure 7 with both sides: per total training-set size, one colour per class."""
    def place(cells):
        totals = _total_size(cells).tolist()
        pos, ticks = _categories(totals, lambda t: f"{size_label(t)} training images")
        series = [names.get(lab, f"label {lab}") for lab in cells["label"]]
        return [pos[t] for t in totals], series, Axis("total training-set size (both classes)", ticks=ticks,
                                                      dodge=0.3)

    panels = [*outcome_panels(), Panel("frac_train_replicated", "(e) images copied (7b)",
                                               "the class's training images replicated at least once (%)")]
    def name(cell) -> str:
        return f"{names.get(cell['label'], cell['label'])}, {size_label(cell['size'] + cell.get('ndummy', 0))} images"

    return Layout("Majority vs minority class in one model: what each class's samples became (Yoon et al. "
                  "Figure 7)", place, name,
                  panels=panels, extra=COPIED)


def classes_figure(table: pd.DataFrame, out_path: str | os.PathLike, class_names: dict | None = None, across=None,
                   comparisons=None, samples=None, scores=None, train=None) -> pd.DataFrame:
    """Figure 7 with every outcome: per class and total training-set size, the class's samples as replicates,
    partial copies, novel and valid, invalid, and (e) the class's training images replicated at least once. Needs
    ``label``, ``size``, ``replicate_fraction``, ``ci_low``, ``ci_high``, ``n_train``, ``n_train_replicated``,
    ``n_samples`` (x groups by ``n_train_total`` when present, else size + ndummy); names from ``class_name``,
    ``class_names`` or labels. Seeds, bands, claims and strips as `capacity_figure`. Returns its table."""
    require(table, ["label", "size", *RATE, "n_train", "n_train_replicated"], "classes table")
    names = {**CLASS_NAMES, **(class_names or {})}
    if "class_name" in table.columns:
        names.update(dict(zip(table["label"], table["class_name"])))
    layout = classes_layout(names)
    return outcome_figure(_copied(table), out_path, layout, across=across, comparisons=comparisons,
                          samples=samples, scores=scores, train=train)


def _baseline(axes, cells) -> None:
    """The cell without dummies as a thin dashed line across each panel, to read every kind against it."""
    none = cells[cells["x"] == 0]
    if len(none) != 1:
        return
    for measure, ax in axes.items():
        value = none[f"mean_{measure}"].iloc[0] if f"mean_{measure}" in none else np.nan
        if np.isfinite(value) and measure != "novel":
            ax.axhline(100 * value, color="0.35", ls=(0, (4, 3)), lw=0.9, zorder=1)


def dummy_kinds_layout() -> Layout:
    """The follow-up report: no dummies first, then each kind (gm, hybrid, heldout, shapes, others), one colour
    per dummy count (and width)."""
    order = list(KIND_NAMES)

    def kind_key(dummy: str) -> tuple:
        return (-1, "") if dummy == "none" else (order.index(dummy) if dummy in order else len(order), dummy)

    def place(cells):
        none = (cells["dummy"] == "none") | (cells["ndummy"] == 0)
        keys = [(-1, "") if n else kind_key(d) for d, n in zip(cells["dummy"], none)]
        pos, ticks = _categories(keys, lambda k: "none" if k[0] < 0 else k[1])
        counts = ["no dummies" if n else f"{k:g} dummies" for k, n in zip(cells["ndummy"], none)]
        several = "width" in cells.columns and cells["width"].nunique() > 1
        widths = _width_series(cells) if several else [""] * len(cells)
        series = [f"{c}, {w}" if w else c for c, w in zip(counts, widths)]
        return [pos[k] for k in keys], series, Axis("dummy kind (dashed: no dummies)", ticks=ticks, dodge=0.3)

    glossary = "; ".join(f"{k}: {v}" for k, v in KIND_NAMES.items())
    return Layout("Which dummies make the model stop copying, and what does it draw instead? (the dummy-kinds "
                  f"report; base-class samples)\n{glossary}", place,
                  lambda c: "no dummies" if c["ndummy"] == 0 else f"{c['dummy']}, {c['ndummy']:g} dummies",
                  decorate=_baseline)


def dummy_kinds_figure(table: pd.DataFrame, out_path: str | os.PathLike, base_label: int = 0, across=None,
                       comparisons=None, samples=None, scores=None, train=None) -> pd.DataFrame:
    """Every outcome of the base class's samples per dummy kind (gm, hybrid, heldout, shapes) and count, beside
    the cell without dummies (``dummy == "none"`` or ndummy 0; also a dashed line in each panel). Needs ``dummy``,
    ``ndummy``, ``replicate_fraction``, ``ci_low``, ``ci_high``, ``n_samples``. Seeds, bands, claims and strips as
    `capacity_figure`. Writes a PNG; returns its table."""
    require(table, ["dummy", "ndummy", *RATE], "dummy-kinds table")
    data = _base_rows(table, base_label)
    require(data[(data["dummy"] != "none") & (data["ndummy"] != 0)], ["dummy"],
            "dummy-kinds table (rows with dummies)")
    return outcome_figure(data, out_path, dummy_kinds_layout(), across=across, comparisons=comparisons,
                          samples=samples, scores=scores, train=train, labels={base_label})


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
            pct = 100.0 * rep[RATE].to_numpy(dtype=float).T
            ax.errorbar(rep["steps"], pct[0], yerr=error_bars(*pct), fmt="o", color="black", capsize=3, alpha=0.6)
            mean = rep.groupby("steps")["replicate_fraction"].mean()
            ax.plot(mean.index, 100 * mean.to_numpy(), color="black", lw=2)
            ax.set_ylim(-3, 103)
            ax.set_xlabel("training step")
            ax.set_ylabel("replicates among samples (%)")
            ax.set_title(f"({'abcd'[len(axes) - 1]}) replicates during training\n(dot: one model, bar: its 95% "
                         "Wilson interval; line: mean of seeds; all outcomes: onset.png)", fontsize=9)
        fig.suptitle("Train vs held-out denoising loss across noise levels (Kaiser & Kollmann)")
        save_png_atomic(fig, out_path)


def onset_layout(series: list[str]) -> Layout:
    def place(cells):
        names = [series_label(tuple(r[c] for c in series), series) for _, r in cells.iterrows()]
        return cells["steps"].astype(float), names, Axis("training step (log scale)", log=True)

    return Layout("When does the model start to copy, and what does it draw before? (samples per snapshot)",
                  place, lambda c: f"step {c['steps']}", threshold=CAPACITY_THRESHOLD_PCT)


def onset_figure(table: pd.DataFrame, out_path: str | os.PathLike, across=None) -> pd.DataFrame:
    """Every outcome of the samples of each snapshot against its training step, one colour per run (the grid
    columns that vary name it), each seed a point, the band across seeds. Needs ``steps`` (the step of the sampled
    weights), ``replicate_fraction``, ``ci_low``, ``ci_high``, ``n_samples``. Returns the figure's table."""
    require(table, ["steps", *RATE], "onset table")
    series = [c for c in varying(table, CELL_COLUMNS) if c not in ("seed", "steps")] or \
        [c for c in ("width",) if c in table.columns]
    return outcome_figure(table, out_path, onset_layout(series), across=across)
