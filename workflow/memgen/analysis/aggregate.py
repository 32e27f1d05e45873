"""Aggregate per-sample replicate scores into per-label summaries with confidence intervals.

Pure functions on DataFrames / arrays; the CLI layer reads the score tables and writes the results.
The quantities are those of Yoon et al. 2023: the proportion of samples that replicate the training set
(Figures 1, 5a, 7a) and the number / proportion of training images replicated at least once (Figures 5b, 7b).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from memgen.errors import MemgenError
from memgen.stats import wilson_interval

SUMMARY_COLUMNS = [
    "label",
    "n_samples",
    "n_replicates",
    "replicate_fraction",
    "ci_low",
    "ci_high",
    "n_train",
    "n_train_replicated",
    "frac_train_replicated",
    "median_ratio",
]
_SCORE_COLUMNS = ("label", "nn1_index", "ratio", "is_replicate")


def _check_scores(scores: pd.DataFrame, train_labels) -> np.ndarray:
    if not isinstance(scores, pd.DataFrame):
        raise MemgenError(f"scores must be a pandas DataFrame, got {type(scores).__name__}")
    missing = [c for c in _SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise MemgenError(f"scores table lacks column(s) {missing}")
    t_lab = np.asarray(train_labels)
    if t_lab.ndim != 1 or not np.issubdtype(t_lab.dtype, np.integer):
        raise MemgenError(f"train_labels must be a 1-D integer array, got {t_lab.dtype} {t_lab.shape}")
    nn1 = scores["nn1_index"].to_numpy()
    if len(nn1) and (nn1.min() < 0 or nn1.max() >= len(t_lab)):
        raise MemgenError(f"scores nn1_index outside [0, {len(t_lab)}) of train_labels")
    return t_lab.astype(np.int64)


def _summary_row(label: int, group: pd.DataFrame, train_mask: np.ndarray, replicated: np.ndarray) -> dict:
    """One summary row; ``train_mask`` selects the training images counted, ``replicated`` marks those hit."""
    n_samples = len(group)
    n_rep = int(group["is_replicate"].sum())
    n_train = int(train_mask.sum())
    n_train_rep = int((train_mask & replicated).sum())
    lo, hi = wilson_interval(n_rep, n_samples)
    return {
        "label": int(label),
        "n_samples": n_samples,
        "n_replicates": n_rep,
        "replicate_fraction": n_rep / n_samples if n_samples else np.nan,
        "ci_low": lo,
        "ci_high": hi,
        "n_train": n_train,
        "n_train_replicated": n_train_rep,
        "frac_train_replicated": n_train_rep / n_train if n_train else np.nan,
        "median_ratio": float(group["ratio"].median()) if n_samples else np.nan,
    }


def summarize_scores(scores: pd.DataFrame, train_labels: np.ndarray, by_label: bool = True) -> pd.DataFrame:
    """Replicate statistics of one cell's score table (the output of ``memgen.score.score_samples``).

    scores: one row per sample with at least ``label``, ``nn1_index``, ``ratio``, ``is_replicate``.
    train_labels: int ``[N]``, the label of every training image (indexed by ``nn1_index``).
    Returns one row per sample label present in ``scores`` (sorted), or a single row with label -1 when
    ``by_label`` is False, with columns ``SUMMARY_COLUMNS``:
    replicate_fraction = n_replicates / n_samples with a 95% Wilson interval (ci_low, ci_high);
    n_train = training images of that label (all of them when overall);
    n_train_replicated = distinct training images of that label that are the nn1 of at least one replicate
    sample (of any sample label; overall: of all replicates); frac_train_replicated = n_train_replicated / n_train;
    median_ratio = median of d1/d2 over that label's samples.
    """
    t_lab = _check_scores(scores, train_labels)
    replicated = np.zeros(len(t_lab), dtype=bool)
    replicated[scores.loc[scores["is_replicate"].astype(bool), "nn1_index"].to_numpy(dtype=np.int64)] = True
    if not by_label:
        rows = [_summary_row(-1, scores, np.ones(len(t_lab), dtype=bool), replicated)]
    else:
        labels = np.sort(scores["label"].unique())
        rows = [_summary_row(lab, scores[scores["label"] == lab], t_lab == lab, replicated) for lab in labels]
    table = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    int_cols = ["label", "n_samples", "n_replicates", "n_train", "n_train_replicated"]
    return table.astype({c: "int64" for c in int_cols} | {c: "float64" for c in SUMMARY_COLUMNS if c not in int_cols})
