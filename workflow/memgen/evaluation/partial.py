"""Partial copies: samples that recombine pieces of training images, which the whole-image ratio criterion calls
novel.

Both criteria apply Yoon et al.'s ratio test (``d1 / d2 < threshold``, ``memgen.score.ratio_criterion``) to a piece of
the image instead of the whole, with the exact search of ``memgen.nearest.nearest_two`` (memory bounded by its
chunks; the pieces are copied out one group at a time, never an ``[M, N]`` matrix).

- Mondrian, per component (``mondrian_partial_copies``):
  * cross: for each training image j, the L2 distance between sample and X_j over X_j's cross pixels (its two
    bands; every mask has ``2 t S - t^2`` pixels, so distances compare); the ratio test across j. The training
    crosses are given (``mondrian_layout``) or located by ``mondrian.fit_mondrian`` (exact on generator images).
    Training images are grouped by cross position; each group is one ``nearest_two`` call on the masked pixels.
  * colours: the sample's four quadrant colours (means over the quadrants of its located cross, rounded to uint8)
    as one 12-dim vector against each training image's four colours, ratio test on that vector. Single colours
    (3 numbers) are not tested: a novel colour has a near match by chance among thousands.
- Real images, per tile (``tile_partial_copies``): the image cut into a ``grid x grid`` array of aligned tiles;
  a tile is copied when it passes the ratio test against the training tiles at the same place, and a sample is a
  partial copy when at least TILE_MIN_COPIED of its tiles are copied from the same training image. Nearly flat
  tiles (std below TILE_MIN_STD) are not tested: a flat tile matches any flat tile.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from memgen.errors import MemgenError
from memgen.runtime import check_images
from memgen.evaluation.mondrian import fit_mondrian, mondrian_geometry, quadrant_colours
from memgen.nearest import PIXEL_SCALE, nearest_two
from memgen.score import ratio_criterion

TILE_GRID = 4  # tiles per side: 4 x 4 tiles of 8 x 8 pixels at 32 x 32, 4 x 4 pixels at 16 x 16
TILE_MIN_STD = 4.0  # levels: tiles of the sample flatter than this are not tested (measured in docs/evaluation.md)
TILE_MAX_RMS = 8.0  # levels: a copied tile is also within this RMS of its training tile (copies + model noise)
TILE_MIN_COPIED = 2  # tiles copied from ONE training image; a single tile passes the ratio test by chance too often
# (a tile has few effective dimensions: 6-22% of unrelated gradient images had one, docs/evaluation.md)


def _check(samples, train) -> None:
    check_images("samples", samples, allow_empty=True)
    check_images("train", train, allow_empty=True)
    if samples.shape[1:] != train.shape[1:] or train.shape[0] < 2:
        raise MemgenError(f"samples {samples.shape} and train {train.shape} must share H,W,3; train needs >= 2")


def _merge_top2(best_d, best_i, d, i):
    """Running best two (squared distance, index) per row: ``[M, 2]`` each, ties to the lower index."""
    cat_d, cat_i = np.concatenate([best_d, d], 1), np.concatenate([best_i, i], 1)
    order = np.lexsort((cat_i, cat_d), axis=-1)[:, :2]
    return np.take_along_axis(cat_d, order, 1), np.take_along_axis(cat_i, order, 1)


def _group_top2(sample_px: np.ndarray, train_px: np.ndarray, members: np.ndarray, device):
    """Top-2 (squared distance on the [0, 1] scale, global index) of pieces ``[M, P, 3]`` vs ``[n_g, P, 3]``."""
    if len(members) == 1:  # nearest_two needs two images; one is a direct difference
        d = ((sample_px.astype(np.int64) - train_px.astype(np.int64)) ** 2).sum((1, 2)) / PIXEL_SCALE**2
        inf = np.full_like(d, np.inf)
        return np.stack([d, inf], 1), np.stack([np.full(len(d), members[0]), np.full(len(d), -1)], 1)
    idx, sq = nearest_two(sample_px[:, None], train_px[:, None], device=device)
    return sq, members[idx]


def _ratio_columns(prefix: str, sq: np.ndarray, idx: np.ndarray, threshold: float) -> dict:
    d = np.sqrt(sq)
    ratio, hit = ratio_criterion(d[:, 0], d[:, 1], threshold)
    return {f"{prefix}_nn_index": idx[:, 0], f"{prefix}_nn_dist": d[:, 0], f"{prefix}_ratio": ratio,
            f"is_{prefix}_copy": hit}


def cross_nearest_two(samples: np.ndarray, train: np.ndarray, train_rows, train_cols, thickness: int,
                      device=None) -> tuple[np.ndarray, np.ndarray]:
    """Nearest two training images by distance over each training image's own cross mask.

    samples ``[M, S, S, 3]``, train ``[N, S, S, 3]`` uint8; train_rows / train_cols int ``[N]`` the band positions,
    thickness t. Returns (indices int64 ``[M, 2]``, squared distances float64 ``[M, 2]``, [0, 1] scale); ties go
    to the lower index; a second distance of inf means one training image in all.
    """
    s = train.shape[1]
    rows, cols = np.asarray(train_rows, np.int64), np.asarray(train_cols, np.int64)
    if rows.shape != (len(train),) or cols.shape != (len(train),):
        raise MemgenError(f"train_rows/train_cols must have shape ({len(train)},), got {rows.shape}, {cols.shape}")
    if rows.min() < 0 or cols.min() < 0 or max(rows.max(), cols.max()) + thickness > s:
        raise MemgenError(f"train cross positions must lie in [0, {s - thickness}]")
    flat_s, flat_t = samples.reshape(len(samples), s * s, 3), train.reshape(len(train), s * s, 3)
    best_d = np.full((len(samples), 2), np.inf)
    best_i = np.full((len(samples), 2), -1, dtype=np.int64)
    y, x = np.arange(s)[:, None], np.arange(s)[None, :]
    for key in np.unique(rows * s + cols):
        r, c = divmod(int(key), s)
        members = np.flatnonzero((rows == r) & (cols == c))
        mask = (((y >= r) & (y < r + thickness)) | ((x >= c) & (x < c + thickness))).reshape(-1)
        px = np.flatnonzero(mask)
        d, i = _group_top2(flat_s[:, px], flat_t[members[:, None], px[None, :]], members, device)
        best_d, best_i = _merge_top2(best_d, best_i, d, i)
    return best_i, best_d


def mondrian_partial_copies(samples: np.ndarray, train: np.ndarray, train_layout=None, *,
                            threshold: float, device=None) -> pd.DataFrame:
    """Component-level partial copies of Mondrian samples; one row per sample.

    samples uint8 ``[M, S, S, 3]``, train uint8 ``[N, S, S, 3]`` (N >= 2); ``train_layout``: ``(rows, cols)`` of
    the training crosses (``mondrian_layout``) or None to locate them. Columns: sample_index; cross_nn_index,
    cross_nn_dist, cross_ratio, is_cross_copy (distance over the training image's cross pixels); colour_nn_index,
    colour_nn_dist, colour_ratio, is_colour_copy (12-dim quadrant colours); is_partial = either copy. Distances are
    L2 on the [0, 1] pixel scale; ratios follow ``ratio_criterion`` (0/0 -> 1).
    """
    _check(samples, train)
    if train_layout is None:
        fit_t = fit_mondrian(train)
        rows, cols, colours = fit_t.rows, fit_t.cols, fit_t.colours
    else:
        rows, cols = train_layout
        colours = quadrant_colours(train, rows, cols)
    c_idx, c_sq = cross_nearest_two(samples, train, rows, cols, mondrian_geometry(train.shape[1])[0], device)
    sample_colours = np.rint(fit_mondrian(samples).colours).astype(np.uint8).reshape(-1, 2, 2, 3)
    train_colours = np.rint(colours).astype(np.uint8).reshape(-1, 2, 2, 3)
    q_idx, q_sq = nearest_two(sample_colours, train_colours, device=device)
    table = {"sample_index": np.arange(len(samples), dtype=np.int64)}
    table.update(_ratio_columns("cross", c_sq, c_idx, threshold))
    table.update(_ratio_columns("colour", q_sq, q_idx, threshold))
    table["is_partial"] = table["is_cross_copy"] | table["is_colour_copy"]
    return pd.DataFrame(table)


def _tiles(images: np.ndarray, grid: int, a: int, b: int) -> np.ndarray:
    h, w = images.shape[1] // grid, images.shape[2] // grid
    return np.ascontiguousarray(images[:, a * h : (a + 1) * h, b * w : (b + 1) * w])


def _most_common_source(sources: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of int ``[M, T]`` (-1: no copy), the most frequent source >= 0 and its count (ties: lower index)."""
    counts = (sources[:, :, None] == sources[:, None, :]).sum(-1) * (sources >= 0)  # [M, T]
    key = counts * (sources.max(initial=0) + 2) - sources  # most copies first, then the lower index
    best = key.argmax(1)
    rows = np.arange(len(sources))
    return np.where(counts[rows, best] > 0, sources[rows, best], -1), counts[rows, best]


def tile_partial_copies(samples: np.ndarray, train: np.ndarray, grid: int = TILE_GRID, *,
                        threshold: float, min_tile_std: float = TILE_MIN_STD,
                        min_tiles: int = TILE_MIN_COPIED, max_rms: float = TILE_MAX_RMS,
                        device=None) -> pd.DataFrame:
    """Tile-level partial copies of real images; one row per sample.

    samples uint8 ``[M, H, W, 3]``, train uint8 ``[N, H, W, 3]`` (N >= 2), H and W divisible by ``grid``. For every
    tile position, the exact nearest two training tiles at that position; a tile is copied from training image j
    when j's tile is the nearest, the ratio is below ``threshold`` and the sample tile's std (over pixels and
    channels) is at least ``min_tile_std`` levels. A sample is a partial copy when at least ``min_tiles`` tiles
    are copied from one training image. Columns: sample_index; tile_ratio (smallest over tested tiles, 1.0 if
    none); tile_nn_index (the training image most tiles were copied from, -1 if none); n_tiles_copied (from it);
    is_partial.
    """
    _check(samples, train)
    for name, value in (("grid", grid), ("min_tiles", min_tiles)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise MemgenError(f"{name} must be a positive integer, got {value!r}")
    if samples.shape[1] % grid or samples.shape[2] % grid:
        raise MemgenError(f"image size {samples.shape[1]}x{samples.shape[2]} is not divisible by grid {grid}")
    m = len(samples)
    best = np.ones(m)
    sources = np.full((m, grid * grid), -1, dtype=np.int64)
    for a in range(grid):
        for b in range(grid):
            tile_s = _tiles(samples, grid, a, b)
            idx, sq = nearest_two(tile_s, _tiles(train, grid, a, b), device=device)
            d = np.sqrt(sq)
            ratio, hit = ratio_criterion(d[:, 0], d[:, 1], threshold)
            tested = tile_s.reshape(m, -1).std(1) >= min_tile_std
            hit &= d[:, 0] * PIXEL_SCALE <= max_rms * np.sqrt(tile_s[0].size)
            best = np.minimum(best, np.where(tested, ratio, 1.0))
            sources[:, a * grid + b] = np.where(hit & tested, idx[:, 0], -1)
    source, count = _most_common_source(sources)
    return pd.DataFrame({"sample_index": np.arange(m, dtype=np.int64), "tile_ratio": best,
                         "tile_nn_index": source, "n_tiles_copied": count.astype(np.int64),
                         "is_partial": count >= min_tiles})
