"""The dynamics study's figure: one panel per training-set size (a row per width when there are several), each
with the replicate, novel-and-valid and invalid fractions against training steps (log), in the outcome colours of
the other figures: each seed's point, the seeds' mean and its 95% band across seeds (`memgen.analysis.
outcome_panels`), and the size's onsets as vertical lines in the colour of the measure that crossed its level:
tau_mem (replicates), tau_novel (novel and valid), tau_gen (valid; drawn in the invalid colour) - dashed at the
seeds' geometric mean with its interval shaded, dotted at a censored median - and, where the stopping table is
given, "stop before" as a black line. One figure per kind of weights (EMA or raw).

Its table (`memgen.analysis.figure_tables.figure_table`): the ``cell`` rows (one per size and snapshot) and one
``onset`` row per mark drawn (``onset``, ``step``, ``ci_low``, ``ci_high``, ``style``: "mean" or "censored
median", or "stop before")."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from memgen.analysis import figure_tables as ft
from memgen.analysis import outcome_panels as op
from memgen.analysis.galleries import OUTCOME_COLORS
from memgen.analysis.plotting import require, save_png_atomic, size_label
from memgen.errors import MemgenError

# Each onset and the measure whose level it marks (tau_gen: the valid fraction 1 - invalid passes its level).
MARKS = {"tau_mem": "replicate", "tau_novel": "novel_valid", "tau_gen": "invalid"}
MEASURES = ("replicate", "novel_valid", "invalid")
ONSET_NAMES = {"tau_mem": "tau_mem: replicates reach their level", "tau_novel": "tau_novel: novel and valid reach "
               "their level", "tau_gen": "tau_gen: valid samples reach their level"}
STOP_COLOR = "0.05"


def _panel_keys(table: pd.DataFrame) -> list[str]:
    return [c for c in ("width", "size") if c in table.columns]


def _match(frame: pd.DataFrame | None, key: dict) -> pd.DataFrame:
    """The rows of ``frame`` (None: no table given) whose columns match ``key``; a column it lacks matches."""
    if frame is None:
        return pd.DataFrame()
    pick = np.ones(len(frame), dtype=bool)
    for k, v in key.items():
        if k in frame.columns:
            pick &= (frame[k].astype(str) == str(v)).to_numpy()
    return frame[pick]


def onset_lines(onsets: pd.DataFrame, stopping: pd.DataFrame | None, key: dict) -> list[dict]:
    """The marks of one panel (``key``: its width and size): per onset its step (the seeds' geometric mean, else
    the censored median), interval and style, in the colour of its measure; then "stop before", when known."""
    rows = []
    for _, r in _match(onsets, key).iterrows():
        for onset, measure in MARKS.items():
            mean, median = r.get(f"{onset}_mean", np.nan), r.get(f"{onset}_median", np.nan)
            step, style = (mean, "mean") if np.isfinite(mean) else (median, "censored median")
            if np.isfinite(step):
                rows.append(key | {"onset": onset, "measure": measure, "step": float(step), "style": style,
                                   "ci_low": float(r.get(f"{onset}_ci_low", np.nan)) if style == "mean" else np.nan,
                                   "ci_high": float(r.get(f"{onset}_ci_high", np.nan)) if style == "mean" else np.nan})
    for _, r in _match(stopping, key).iterrows():
        if np.isfinite(r.get("stop_before", np.nan)):
            rows.append(key | {"onset": "stop_before", "measure": "", "step": float(r["stop_before"]),
                               "style": "stop before", "ci_low": np.nan, "ci_high": np.nan})
    return rows


def _draw_marks(ax, marks: list[dict]) -> None:
    for m in marks:
        if m["onset"] == "stop_before":
            ax.axvline(m["step"], color=STOP_COLOR, ls="-", lw=1.6, zorder=2)
            continue
        color = OUTCOME_COLORS.get(m["measure"], "0.3")
        ax.axvline(m["step"], color=color, ls="--" if m["style"] == "mean" else ":", lw=1.3, zorder=2)
        if np.isfinite(m["ci_low"]) and np.isfinite(m["ci_high"]):
            ax.axvspan(m["ci_low"], m["ci_high"], color=color, alpha=0.08, lw=0, zorder=0)


def _legend(level: float | None, has_stop: bool) -> tuple[list, list]:
    handles = [Line2D([], [], color=OUTCOME_COLORS[m], lw=2.5) for m in MEASURES]
    labels = [op.OUTCOME_TITLES[m] for m in MEASURES]
    handles += [Line2D([], [], ls="", marker="o", mfc="0.6", mec="0.3"), Patch(color="0.5", alpha=0.3)]
    labels += ["one trained model (seed)", "band: mean of seeds, its 95% interval across seeds"]
    handles += [Line2D([], [], color="0.3", ls="--", lw=1.3), Line2D([], [], color="0.3", ls=":", lw=1.3)]
    labels += ["onset, seeds' geometric mean (shade: its interval)", "onset, censored median (not every seed "
               "crossed)"]
    labels += [f"{ONSET_NAMES[o]} ({op.OUTCOME_TITLES[m]} colour)" for o, m in MARKS.items()]
    handles += [Line2D([], [], color=OUTCOME_COLORS[m], ls="--", lw=1.3) for m in MARKS.values()]
    if has_stop:
        handles.append(Line2D([], [], color=STOP_COLOR, lw=1.6))
        labels.append("stop before this step (every seed below the stop level)")
    if level is not None:
        handles.append(Line2D([], [], color=OUTCOME_COLORS["replicate"], ls=(0, (4, 2)), lw=0.9))
        labels.append(f"replicate level of tau_mem ({100 * level:g}%)")
    return handles, labels


def dynamics_figure(table: pd.DataFrame, onsets: pd.DataFrame, out_path: str | os.PathLike, weights: str = "ema",
                    level: float | None = None, stopping: pd.DataFrame | None = None) -> pd.DataFrame:
    """Draw the snapshots of one kind of weights (``table``: the study's snapshot table; ``onsets``: its
    onsets across seeds, `memgen.analysis.dynamics_tables.onset_seeds_table`; ``level``: tau_mem's replicate
    level, a dashed line; ``stopping``: the stopping table, for the "stop before" line). Returns the figure's
    table."""
    require(table, ["steps", "size", "replicate_fraction", "ci_low", "ci_high", "n_samples", "weights"],
            "snapshot table")
    table = table[table["weights"] == weights].drop(columns="weights")
    if table.empty:
        raise MemgenError(f"snapshot table: no rows of the {weights} weights")
    pick = lambda f: None if f is None or "weights" not in f else f[f["weights"] == weights]  # noqa: E731
    onsets, stopping = pick(onsets), pick(stopping)
    cells = ft.cell_outcomes(table)
    cells["x"] = cells["steps"].astype(float)
    cells["series"] = "all"
    keys = _panel_keys(cells)
    cells = cells.sort_values([*keys, "x"], kind="stable").reset_index(drop=True)
    cells["_cell"] = np.arange(len(cells))
    seeds = ft.with_seed(table).merge(cells[[*ft.cell_keys(table), "_cell"]], on=ft.cell_keys(table), how="inner")
    widths = sorted(cells["width"].unique()) if "width" in cells else [None]
    sizes = sorted(cells["size"].unique())
    axis = op.Axis("training step (log scale)", log=True)
    all_marks = []
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        fig = Figure(figsize=(3.2 * len(sizes) + 3.6, 3.3 * len(widths) + 1.0), layout="constrained")
        axes = fig.subplots(len(widths), len(sizes), sharex=True, sharey=True, squeeze=False)
        for i, w in enumerate(widths):
            for j, n in enumerate(sizes):
                ax, key = axes[i, j], ({"width": w} if w is not None else {}) | {"size": n}
                here = _match(cells, key)
                x = here["x"].to_numpy(dtype=float)
                for m in MEASURES:
                    measure = m if m != "novel_valid" or here[f"mean_{m}"].notna().any() else "novel"
                    op.draw_series(ax, here, seeds, measure, axis, OUTCOME_COLORS[m], x, hollow=measure == "novel")
                marks = onset_lines(onsets, stopping, key)
                _draw_marks(ax, marks)
                all_marks += marks
                if level is not None:
                    ax.axhline(100 * level, color=OUTCOME_COLORS["replicate"], ls=(0, (4, 2)), lw=0.9, zorder=1)
                ax.set_xscale("log")
                ax.set_ylim(-4, 106)
                ax.set_title(", ".join(f"{k} {size_label(v) if k == 'size' else v}" for k, v in key.items()),
                             fontsize=9.5, loc="left")
                ax.spines[["right", "top"]].set_visible(False)
            axes[i, 0].set_ylabel("share of samples (%)")
        fig.supxlabel(axis.label, fontsize=10)
        fig.legend(*_legend(level, any(m["onset"] == "stop_before" for m in all_marks)), loc="outside right center",
                   fontsize=7.5, frameon=False)
        fig.suptitle(f"Training dynamics ({weights} weights): when samples become valid, novel, then copies; "
                     "a panel per training-set size", fontsize=11.5)
        save_png_atomic(fig, out_path, tight=False)
    out = ft.figure_table(cells.drop(columns=["_cell"]), pd.DataFrame(columns=ft.CLAIM_COLUMNS))  # no cell claims
    return pd.concat([out, pd.DataFrame(all_marks).assign(part="onset")], ignore_index=True) if all_marks else out
