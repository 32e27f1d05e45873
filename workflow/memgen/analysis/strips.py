"""Gallery strips beside the outcome panels: per cell a few samples over their nearest training images, each
sample framed in its outcome's colour (the colours of `memgen.analysis.galleries.OUTCOME_COLORS`), so "is it
copying, and is what it draws any good?" is answered by looking.

The samples shown are a cell's first ``k`` by sample index (samples are i.i.d., so the first k are an unbiased
draw, as in `memgen.analysis.galleries.pairs_gallery`) of each label drawn, from the first seed's model. Images are
uint8 ``[N, H, W, 3]``; scores are the per-sample tables of ``memgen score`` with the cell's grid columns.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.colors import to_rgb

from memgen.analysis.galleries import OUTCOME_COLORS, REPLICATE_COLOR
from memgen.analysis.tables import GRID
from memgen.errors import MemgenError

STRIP_SAMPLES = 6
MIN_PIXELS = 32  # each image upscaled (nearest neighbour) to at least this many pixels per side
FRAME = 3  # frame width in pixels, after upscaling
SHOWN = ["strip", "label", "sample_index", "nn1_index", "ratio", "outcome"]


def strip_rows(scores: list[pd.DataFrame], labels=None, k: int = STRIP_SAMPLES) -> pd.DataFrame:
    """The samples each strip shows: for score table i (one cell) and each of its labels (or those in
    ``labels``), the first ``k`` by sample index. Columns: ``strip`` (i), the table's grid columns, ``label``,
    ``sample_index``, ``nn1_index``, ``ratio``, ``outcome`` ("replicate" / "not a replicate" when the scores
    carry no outcome)."""
    frames = []
    for i, table in enumerate(scores):
        missing = [c for c in ("sample_index", "nn1_index", "ratio", "is_replicate") if c not in table.columns]
        if missing:
            raise MemgenError(f"strip scores {i} lack column(s) {missing}")
        table = table if "label" in table.columns else table.assign(label=0)
        if "outcome" not in table.columns:
            table = table.assign(outcome=np.where(table["is_replicate"], "replicate", "not a replicate"))
        for label, sub in table.groupby("label", sort=True):
            if labels is None or label in labels:
                frames.append(sub.sort_values("sample_index", kind="stable").head(k).assign(strip=i))
    if not frames:
        return pd.DataFrame(columns=SHOWN)
    out = pd.concat(frames, ignore_index=True)
    out["outcome"] = out["outcome"].astype(str)
    grid = [c for c in [*GRID, "batch_size"] if c in out.columns and c != "label"]
    return out[[SHOWN[0], *grid, *SHOWN[1:]]]


def _framed(image: np.ndarray, color, scale: int) -> np.ndarray:
    """``[H, W, 3]`` -> ``[sH + 2F, sW + 2F, 3]``: upscaled by ``scale``, in a frame of ``color``."""
    big = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
    out = np.empty((big.shape[0] + 2 * FRAME, big.shape[1] + 2 * FRAME, 3), dtype=np.uint8)
    out[...] = np.array([round(255 * c) for c in to_rgb(color)], dtype=np.uint8)
    out[FRAME:-FRAME, FRAME:-FRAME] = big
    return out


def strip_image(samples: np.ndarray, train: np.ndarray, rows: pd.DataFrame) -> np.ndarray:
    """One picture uint8 ``[2 * (sH + 2F) + g, n * (sW + 2F + g), 3]`` for the ``n`` rows: samples on top, each
    framed in its outcome's colour; below each, its L2-nearest training image, framed light grey."""
    for name, arr in (("samples", samples), ("train", train)):
        if not isinstance(arr, np.ndarray) or arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
            raise MemgenError(f"strip {name} must be uint8 [N,H,W,3]")
    idx, nn = rows["sample_index"].to_numpy(dtype=int), rows["nn1_index"].to_numpy(dtype=int)
    if len(idx) and (idx.max() >= len(samples) or nn.max() >= len(train) or min(idx.min(), nn.min()) < 0):
        raise MemgenError("strip scores point outside their samples or training set")
    scale = max(1, math.ceil(MIN_PIXELS / samples.shape[1]))
    gap = np.full((samples.shape[1] * scale + 2 * FRAME, 4, 3), 255, dtype=np.uint8)
    top, bottom = [], []
    for i, j, outcome in zip(idx, nn, rows["outcome"]):
        top += [_framed(samples[i], OUTCOME_COLORS.get(outcome, REPLICATE_COLOR if outcome == "replicate"
                                                       else "0.75"), scale), gap]
        bottom += [_framed(train[j], "0.85", scale), gap]
    if not top:
        return np.full((8, 8, 3), 255, dtype=np.uint8)
    middle = np.full((4, sum(t.shape[1] for t in top), 3), 255, dtype=np.uint8)
    return np.concatenate([np.concatenate(top, axis=1), middle, np.concatenate(bottom, axis=1)], axis=0)


def draw_strips(container, pictures: list[tuple[str, np.ndarray]], places: list[tuple[int, int]]) -> None:
    """The strips on ``container`` (a Figure or SubFigure), picture i at grid place (row, column) of ``places``."""
    nrows = max(r for r, _ in places) + 1
    ncols = max(c for _, c in places) + 1
    axes = container.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for (title, image), (r, c) in zip(pictures, places):
        ax = axes[r, c]
        ax.imshow(image, interpolation="nearest")
        ax.set_title(title, fontsize=7.5, pad=2)
