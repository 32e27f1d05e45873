"""Replicate detection: the ratio criterion of Yoon et al. 2023 on the exact nearest two training images.

Sec. 3.1 "Criterion for replicate detection": for a generated sample W, find X1, X2 in the training set S with
the smallest and second-smallest L2 distance ||W - X|| (`memgen.nearest.nearest_two`, exact) and mark W as a
replicate iff ||W - X1|| / ||W - X2|| < 1/3 (the ratio criterion, validated visually in their Appendix D). The
threshold is an argument everywhere: its value lives in the config schema (``score.threshold``).
``score_samples`` reports plain L2 distances on the [0, 1] pixel scale (its ``nn1_dist``/``nn2_dist``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from memgen.errors import MemgenError
from memgen.nearest import check_pair, nearest_two


def ratio_criterion(d1, d2, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Yoon et al.'s ratio criterion. d1, d2: plain (not squared) L2 distances to the nearest and second-nearest
    training image, any shape, 0 <= d1 <= d2. Returns ``ratio = d1 / d2`` (float64; 0/0 -> 1.0: an exact
    duplicate pair in the training set makes the criterion blind, so such a sample is not flagged) and
    ``is_replicate = ratio < threshold`` (bool). threshold must lie in (0, 1].
    """
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.floating, np.integer)):
        raise MemgenError(f"threshold must be a number in (0, 1], got {threshold!r}")
    if not 0.0 < float(threshold) <= 1.0:
        raise MemgenError(f"threshold must lie in (0, 1], got {threshold!r}")
    d1 = np.asarray(d1, dtype=np.float64)
    d2 = np.asarray(d2, dtype=np.float64)
    if d1.shape != d2.shape:
        raise MemgenError(f"d1 {d1.shape} and d2 {d2.shape} must have the same shape")
    if not (np.all(np.isfinite(d1)) and np.all(np.isfinite(d2)) and np.all(d1 >= 0) and np.all(d1 <= d2)):
        raise MemgenError("distances must be finite with 0 <= d1 <= d2 (nearest first)")
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(d2 > 0, d1 / np.where(d2 > 0, d2, 1.0), 1.0)
    return ratio, ratio < float(threshold)


def _labels(labels, count: int, name: str) -> np.ndarray:
    if labels is None:
        return np.zeros(count, dtype=np.int64)
    arr = np.asarray(labels)
    if arr.shape != (count,) or not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
        raise MemgenError(f"{name} must be integers of shape ({count},), got {arr.dtype} {arr.shape}")
    return arr.astype(np.int64)


def score_samples(
    samples: np.ndarray,
    train: np.ndarray,
    sample_labels=None,
    train_labels=None,
    *,
    threshold: float,
    device=None,
) -> pd.DataFrame:
    """One row per sample: its two nearest images in the WHOLE training set (X1, X2 in S, as in the paper).

    samples uint8 ``[M, H, W, 3]``, train uint8 ``[N, H, W, 3]``; labels int ``[M]`` / ``[N]`` or None (-> 0).
    Columns: sample_index, label, nn1_index, nn1_dist, nn2_index, nn2_dist, nn1_label (int64); ratio (float64);
    is_replicate (bool). Distances are plain L2 on the [0, 1] pixel scale.
    """
    check_pair(samples, train)
    s_lab = _labels(sample_labels, samples.shape[0], "sample_labels")
    t_lab = _labels(train_labels, train.shape[0], "train_labels")
    ratio_criterion(0.0, 1.0, threshold)  # validate the threshold before the (long) search
    idx, sq = nearest_two(samples, train, device=device)
    dist = np.sqrt(sq)
    ratio, flagged = ratio_criterion(dist[:, 0], dist[:, 1], threshold)
    return pd.DataFrame(
        {
            "sample_index": np.arange(samples.shape[0], dtype=np.int64),
            "label": s_lab,
            "nn1_index": idx[:, 0],
            "nn1_dist": dist[:, 0],
            "nn2_index": idx[:, 1],
            "nn2_dist": dist[:, 1],
            "nn1_label": t_lab[idx[:, 0]],
            "ratio": ratio.astype(np.float64),
            "is_replicate": flagged.astype(bool),
        }
    )
