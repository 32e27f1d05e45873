"""Sample / nearest-training-image galleries and the ratio criterion seen from both sides of its threshold.

Yoon et al. 2023 show generated samples beside their L2-nearest training images (Figures 3, 4, 6, 8-13) and
validate the ratio criterion ``d1/d2 < 1/3`` by eye (Appendix D, Figure 14: pairs flagged as replicates above,
pairs not flagged below). ``pairs_gallery`` and ``criterion_pairs`` draw those pictures; ``threshold_sweep``
counts replicates at other thresholds so a reader can see how much the headline numbers hinge on the threshold
in use (``score.threshold``, which every function here takes as an argument).

Images are uint8 ``[N, H, W, 3]``; scores are the per-sample tables of ``memgen.score.score_samples``. The
drawing functions return the table of the pairs they drew (the caller writes it beside the PNG).
"""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from memgen.stats import wilson_interval
from memgen.analysis.plotting import require, threshold_label, save_png_atomic
from memgen.errors import MemgenError
from memgen.runtime import check_int

PAIR_COLUMNS = ["sample_index", "nn1_index", "ratio", "is_replicate"]
MIN_PIXELS = 64  # small images are upscaled (nearest neighbour) to at least this many pixels per side
REPLICATE_COLOR = "#d62728"
LEGEND = "left: generated sample | right: its L2-nearest training image | red frame: replicate (d1/d2 < {})"
# The four-way outcome (memgen.evaluation.assess), when the scores carry it: one frame colour each.
OUTCOME_COLORS = {"replicate": REPLICATE_COLOR, "partial_copy": "#ff7f0e", "novel_valid": "#2ca02c",
                  "invalid": "0.45", "novel": "#1f77b4"}
OUTCOME_NAMES = {"replicate": "replicate", "partial_copy": "partial copy", "novel_valid": "novel, valid",
                 "invalid": "invalid", "novel": "novel"}
OUTCOME_LEGEND = ("frames: red replicate, orange partial copy (a training image's piece), green novel and valid, "
                  "grey invalid, blue novel (no validity rule)")


def _check_inputs(samples: np.ndarray, train: np.ndarray, scores: pd.DataFrame, n: int) -> None:
    for name, arr in (("samples", samples), ("train", train)):
        if not isinstance(arr, np.ndarray) or arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
            desc = f"{arr.dtype} {arr.shape}" if isinstance(arr, np.ndarray) else type(arr).__name__
            raise MemgenError(f"{name} must be uint8 [N,H,W,3], got {desc}")
    if samples.shape[1:] != train.shape[1:]:
        raise MemgenError(f"samples {samples.shape} and train {train.shape} must share H,W,3")
    check_int("n", n, 1)
    if not isinstance(scores, pd.DataFrame):
        raise MemgenError(f"scores must be a pandas DataFrame, got {type(scores).__name__}")
    missing = [c for c in PAIR_COLUMNS if c not in scores.columns]
    if missing:
        raise MemgenError(f"scores table lacks column(s) {missing}")
    for col, limit, what in (("sample_index", len(samples), "samples"), ("nn1_index", len(train), "train")):
        idx = scores[col].to_numpy()
        if len(idx) and (idx.min() < 0 or idx.max() >= limit):
            raise MemgenError(f"scores {col} outside [0, {limit}) of {what}")
    if not np.all(np.isfinite(scores["ratio"].to_numpy(dtype=np.float64))):
        raise MemgenError("scores ratio must be finite")


def _pair_image(sample: np.ndarray, nearest: np.ndarray) -> np.ndarray:
    """``[H, W, 3]`` x 2 -> one uint8 picture ``[sH, s(2W+g), 3]``: sample, white gap g = W/8, nearest, upscaled."""
    gap = np.full((sample.shape[0], max(1, sample.shape[1] // 8), 3), 255, dtype=np.uint8)
    pair = np.concatenate([sample, gap, nearest], axis=1)
    scale = max(1, math.ceil(MIN_PIXELS / sample.shape[0]))
    return np.repeat(np.repeat(pair, scale, axis=0), scale, axis=1)


def _draw_pairs(container, rows: pd.DataFrame, samples, train, ncols: int, flag_col: str) -> None:
    """One axes per pair on ``container`` (a Figure or SubFigure), ratio under each, replicates framed red."""
    nrows = max(1, math.ceil(len(rows) / ncols))
    axes = container.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, (_, row) in zip(axes.flat, rows.iterrows()):
        ax.set_axis_on()
        ax.imshow(_pair_image(samples[int(row["sample_index"])], train[int(row["nn1_index"])]),
                  interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        flagged = bool(row[flag_col])
        outcome = row.get("outcome") if "outcome" in row.index else None
        color = OUTCOME_COLORS.get(outcome, REPLICATE_COLOR if flagged else "0.75")
        for spine in ax.spines.values():
            spine.set_edgecolor(color)
            spine.set_linewidth(3.0 if flagged or outcome in OUTCOME_COLORS else 0.8)
        label = f"d1/d2 = {row['ratio']:.3f}" + (f"\n{OUTCOME_NAMES.get(outcome, outcome)}" if outcome else "")
        ax.set_xlabel(label, fontsize=7, labelpad=2, color=color if flagged or outcome else "0.2")
    if rows.empty:
        axes[0, 0].text(0.5, 0.5, "no such samples", ha="center", va="center", fontsize=9, color="0.4")


def _shown(rows: pd.DataFrame, block: str, flag_col: str) -> pd.DataFrame:
    cols = PAIR_COLUMNS[:3] + (["label"] if "label" in rows.columns else [])
    out = rows[cols].copy()
    out["is_replicate"] = rows[flag_col].astype(bool).to_numpy()
    out.insert(0, "position", np.arange(len(rows), dtype=np.int64))
    out.insert(0, "block", block)
    return out.reset_index(drop=True)


def pairs_gallery(samples: np.ndarray, train: np.ndarray, scores: pd.DataFrame, out_path: str | os.PathLike, *,
                  threshold: float, n: int = 32, title: str | None = None, select=None,
                  ncols: int = 8) -> pd.DataFrame:
    """Grid of (sample | nearest training image) pairs, as in the paper's Figures 3, 4, 6 and 8-13.

    samples ``[M, H, W, 3]``, train ``[N, H, W, 3]`` uint8; scores: one row per sample with ``sample_index``,
    ``nn1_index``, ``ratio``, ``is_replicate``. select: None -> the first ``n`` samples by sample_index (samples
    are i.i.d., so this is an unbiased view); or a sequence of sample_index values, drawn in that order.
    Pairs whose ``is_replicate`` is set (ratio < ``threshold``, as scored) are framed in red. Writes a PNG;
    returns the drawn pairs (block,
    position, sample_index, nn1_index, ratio, is_replicate[, label]).
    """
    _check_inputs(samples, train, scores, n)
    by_index = scores.set_index("sample_index", drop=False)
    if select is None:
        rows = scores.sort_values("sample_index", kind="stable").head(n)
    else:
        wanted = [int(i) for i in np.asarray(select).ravel()]
        unknown = sorted(set(wanted) - set(by_index.index))
        if unknown or not wanted:
            raise MemgenError(f"select names sample_index values not in scores: {unknown[:5] or 'none given'}")
        rows = by_index.loc[wanted].reset_index(drop=True)
    ncols = max(1, min(ncols, len(rows)))
    with sns.axes_style("white"):
        fig = Figure(figsize=(1.55 * ncols, 1.05 * math.ceil(len(rows) / ncols) + 0.7), layout="constrained")
        _draw_pairs(fig, rows, samples, train, ncols, "is_replicate")
        n_rep = int(scores["is_replicate"].sum())
        head = title or "Generated samples and their nearest training images"
        legend = LEGEND.format(threshold_label(threshold))
        if "outcome" in scores.columns:
            counts = scores["outcome"].value_counts()
            legend = (", ".join(f"{counts[o]} {OUTCOME_NAMES[o]}" for o in OUTCOME_NAMES if o in counts)
                      + f"\n{OUTCOME_LEGEND}")
        fig.suptitle(f"{head}\n{n_rep} of {len(scores)} samples are replicates; {legend}", fontsize=9)
        save_png_atomic(fig, out_path)
    shown = _shown(rows, "gallery", "is_replicate")
    if "outcome" in rows.columns:
        shown["outcome"] = rows["outcome"].to_numpy()
    return shown


def criterion_pairs(samples: np.ndarray, train: np.ndarray, scores: pd.DataFrame, out_path: str | os.PathLike, *,
                    threshold: float, n: int = 16, ncols: int = 8) -> pd.DataFrame:
    """Appendix D / Figure 14: pairs flagged as replicates (top) and pairs not flagged (bottom).

    A sample is flagged when ``ratio < threshold``. Both blocks show the ``n`` pairs closest to the threshold
    (flagged: largest ratio first; not flagged: smallest ratio first), so the reader judges the criterion where
    it is hardest. Ties break by sample_index. Writes a PNG; returns the drawn pairs with a ``block`` column
    ("flagged" / "not flagged").
    """
    _check_inputs(samples, train, scores, n)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 < threshold <= 1.0:
        raise MemgenError(f"threshold must lie in (0, 1], got {threshold!r}")
    data = scores.assign(_flag=scores["ratio"].to_numpy(dtype=np.float64) < threshold)
    flagged = data[data["_flag"]].sort_values(["ratio", "sample_index"], ascending=[False, True]).head(n)
    plain = data[~data["_flag"]].sort_values(["ratio", "sample_index"], kind="stable").head(n)
    ncols = max(1, min(ncols, max(len(flagged), len(plain), 1)))
    heights = [max(1, math.ceil(len(b) / ncols)) for b in (flagged, plain)]
    label = threshold_label(threshold)
    with sns.axes_style("white"):
        fig = Figure(figsize=(1.55 * ncols, 1.05 * sum(heights) + 1.6), layout="constrained")
        top, bottom = fig.subfigures(2, 1, height_ratios=[h + 0.5 for h in heights])
        blocks = [(top, flagged, f"(a) flagged as replicates, d1/d2 < {label}: {int(data['_flag'].sum())} "
                   f"of {len(data)} samples (shown: the {len(flagged)} closest to the threshold)"),
                  (bottom, plain, f"(b) not flagged, d1/d2 >= {label}: {int((~data['_flag']).sum())} of "
                   f"{len(data)} samples (shown: the {len(plain)} closest to the threshold)")]
        for sub, rows, text in blocks:
            _draw_pairs(sub, rows, samples, train, ncols, "_flag")
            sub.suptitle(text, fontsize=9, x=0.01, ha="left")
        fig.suptitle(f"Does the ratio criterion agree with the eye?\n{LEGEND.format(label)}", fontsize=10)
        save_png_atomic(fig, out_path)
    return pd.concat([_shown(flagged, "flagged", "_flag"), _shown(plain, "not flagged", "_flag")],
                     ignore_index=True)


def threshold_sweep(scores: pd.DataFrame, thresholds) -> pd.DataFrame:
    """Replicate counts when the ratio criterion's threshold is varied (``ratio < threshold`` is a replicate).

    scores: per-sample table with ``ratio``; with a ``group`` column the sweep runs per group. thresholds: 1-D,
    each in (0, 1]. Returns one row per (group,) threshold: threshold, n_samples, n_replicates,
    replicate_fraction and its 95% Wilson interval (ci_low, ci_high).
    """
    if not isinstance(scores, pd.DataFrame) or "ratio" not in scores.columns:
        raise MemgenError("scores must be a DataFrame with a 'ratio' column")
    thr = np.asarray(thresholds, dtype=np.float64).ravel()
    if thr.size == 0 or not np.all((thr > 0.0) & (thr <= 1.0)):
        raise MemgenError(f"thresholds must be non-empty and each in (0, 1], got {thresholds!r}")
    groups = scores.groupby("group", sort=True) if "group" in scores.columns else [(None, scores)]
    frames = []
    for key, sub in groups:
        ratio = np.sort(sub["ratio"].to_numpy(dtype=np.float64))
        k = np.searchsorted(ratio, thr, side="left").astype(np.int64)  # count of ratio < threshold
        n = np.full_like(k, len(ratio))
        lo, hi = wilson_interval(k, n)
        frac = np.where(n > 0, k / np.maximum(n, 1), np.nan)
        frame = pd.DataFrame({"threshold": thr, "n_samples": n, "n_replicates": k,
                              "replicate_fraction": frac, "ci_low": lo, "ci_high": hi})
        if key is not None:
            frame.insert(0, "group", key)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def threshold_sweep_figure(table: pd.DataFrame, out_path: str | os.PathLike, *, threshold: float) -> None:
    """Replicate % vs the criterion's threshold (95% Wilson band), one line per ``group`` when present;
    the dotted line marks the threshold in use. table: the output of ``threshold_sweep``."""
    require(table, ["threshold", "replicate_fraction", "ci_low", "ci_high"], "threshold sweep table")
    groups = list(table.groupby("group", sort=True)) if "group" in table.columns else [("all samples", table)]
    palette = sns.color_palette("colorblind", len(groups))
    with sns.axes_style("whitegrid"), sns.plotting_context("notebook"):
        fig = Figure(figsize=(7.0, 4.4))
        ax = fig.add_subplot()
        for (name, sub), color in zip(groups, palette):
            sub = sub.sort_values("threshold")
            x = sub["threshold"].to_numpy(dtype=float)
            ax.fill_between(x, 100 * sub["ci_low"], 100 * sub["ci_high"], color=color, alpha=0.2, linewidth=0)
            ax.plot(x, 100 * sub["replicate_fraction"], color=color, linewidth=2, label=str(name))
        ax.axvline(threshold, color="0.2", linestyle=":", linewidth=1.5,
                   label=f"threshold in use ({threshold_label(threshold)})")
        ax.set_ylim(-3, 103)
        ax.set_xlabel("threshold on d1/d2 (a sample is a replicate when d1/d2 < threshold)")
        ax.set_ylabel("replicates among samples (%)")
        ax.set_title("How the replicate count depends on the criterion's threshold\n(95% Wilson bands)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="small")
        save_png_atomic(fig, out_path)


def pooled_pairs(cells) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Concatenate several cells' (samples, train, scores) arrays into one set whose indices stay consistent.

    cells: (samples uint8 [M_i, H, W, 3], train uint8 [N_i, H, W, 3], scores table) per cell. Returns the
    concatenated samples, training images and scores, whose ``sample_index`` / ``nn*_index`` point into them
    (``cell_sample_index`` keeps each cell's own sample index).
    """
    samples, trains, scores, s_off, t_off = [], [], [], 0, 0
    for x, t, sc in cells:
        sc = sc.copy()
        sc["cell_sample_index"] = sc["sample_index"]
        sc["sample_index"] += s_off
        sc["nn1_index"] += t_off
        sc["nn2_index"] += t_off
        samples.append(x), trains.append(t), scores.append(sc)
        s_off, t_off = s_off + len(x), t_off + len(t)
    shapes = {a.shape[1:] for a in samples + trains}
    if len(shapes) != 1:
        raise MemgenError(f"criterion-pairs: cells have different image shapes {sorted(shapes)}")
    return np.concatenate(samples), np.concatenate(trains), pd.concat(scores, ignore_index=True)


def with_group(scores: pd.DataFrame, columns=("width", "size")) -> pd.DataFrame:
    """``scores`` with a ``group`` column naming each row's cell by the grid columns present (``width=16 size=64``),
    so `threshold_sweep` runs per cell."""
    cols = [c for c in columns if c in scores.columns]
    if not cols:
        return scores
    return scores.assign(group=scores[cols].astype(str).agg(lambda r: " ".join(f"{k}={v}" for k, v in zip(cols, r)),
                                                           axis=1))


def cells_threshold_sweep(scores: list[pd.DataFrame], thresholds) -> pd.DataFrame:
    """`threshold_sweep` per cell of several cells' score tables (each with its grid columns, see `with_group`)."""
    return threshold_sweep(with_group(pd.concat(scores, ignore_index=True)), thresholds)


def cells_criterion_pairs(samples: list, train: list, scores: list[pd.DataFrame], out_path: str | os.PathLike, *,
                          threshold: float, n: int = 16) -> pd.DataFrame:
    """`criterion_pairs` over several cells at once: per cell its samples and training set (``(images, labels)``
    as read from .npz) and its score table, pooled by `pooled_pairs`. Returns the drawn pairs."""
    if not (len(samples) == len(train) == len(scores)):
        raise MemgenError("criterion-pairs: samples, training sets and scores need one entry per cell each")
    pooled = pooled_pairs([(s[0], t[0], sc) for s, t, sc in zip(samples, train, scores)])
    return criterion_pairs(*pooled, out_path, threshold=threshold, n=n)
