"""The Mondrian validity rule: locate the cross of each image and measure how well the image obeys the rules of
``memgen.data.synthetic.mondrian`` (Yoon et al. 2023, Sec. 3.2; the geometry in that module's docstring).

``fit_mondrian`` finds, among the generator's allowed cross positions (bands of thickness ``t = max(1, S // 8)``,
top row / left column in ``[q, S - q - t]``, ``q = S // 4``), the one whose four quadrants are flattest (least
squared deviation from their mean colours, summed; integral images make every position O(1)). The image is valid
when at that position every quadrant is flat, the cross is noisy as a whole (the spread of iid uniform values),
every arm of the cross is rough (no flat piece: no band missing in one half), and every band line differs from the
quadrant colours beside it (no band thinner than t). Tolerances: docs/evaluation.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memgen.errors import MemgenError
from memgen.runtime import check_images, check_int

# ---- Mondrian tolerances (uint8 levels), measured on 2 x 10,000 fresh images + N(0, 6^2) noise per size (16, 32)
# and on the corruptions of tests/test_validity.py; docs/evaluation.md has the percentiles.
QUADRANT_RMS_MAX = 12.0  # per-quadrant RMS about its mean colour; fresh 0, + N(0, 6^2) noise max 8.7, + N(0, 8^2) 10.1
BAND_STD_MIN = 60.0  # std of the cross values per channel (RMS over channels); uniform 73.9, fresh min 61.4 at S=16
# (68.2 at 32); the average of two Mondrians whose crosses coincide (flat quadrants!) max 60.9 / 57.0, median 52
ARM_ROUGHNESS_MIN = 40.0  # RMS difference of adjacent pixels inside each arm; iid uniform 104, fresh min 54 at S=16;
# a flat (missing) arm gives the model's noise level (~11 for N(0, 8^2))
LINE_CONTRAST_MIN = 20.0  # RMS(band line - adjacent quadrant colour), min over lines and the two neighbours; fresh
# min 32 at S=16, 49 at 32; a band one pixel thinner than t gives 0 (+ the noise level)
MONDRIAN_CHUNK = 2048  # images per vectorized block (integral images are float64 [chunk, S+1, S+1, 3])


def mondrian_geometry(image_size: int) -> tuple[int, int, int]:
    """``(t, lo, hi)``: band thickness and the inclusive range of band positions of ``synthetic.mondrian``."""
    s = check_int("image_size", image_size, 4)
    t, q = max(1, s // 8), s // 4
    return t, q, s - q - t


@dataclass(frozen=True)
class MondrianFit:
    """The located cross of N images and the statistics the Mondrian rule reads (uint8 levels).

    rows, cols: int64 ``[N]`` top row of the horizontal band, left column of the vertical band; thickness: t;
    colours: float64 ``[N, 4, 3]`` mean colour of quadrants (0 upper-left, 1 upper-right, 2 lower-left,
    3 lower-right); quadrant_rms ``[N, 4]``; band_std ``[N]``; arm_roughness ``[N, 4]`` (left, right, top, bottom
    arm); line_contrast ``[N]`` (the smallest over all band lines).
    """

    rows: np.ndarray
    cols: np.ndarray
    thickness: int
    colours: np.ndarray
    quadrant_rms: np.ndarray
    band_std: np.ndarray
    arm_roughness: np.ndarray
    line_contrast: np.ndarray

    @property
    def valid(self) -> np.ndarray:
        """bool ``[N]``: every tolerance of the Mondrian rule met."""
        return (
            (self.quadrant_rms.max(1) <= QUADRANT_RMS_MAX)
            & (self.band_std >= BAND_STD_MIN)
            & (self.arm_roughness.min(1) >= ARM_ROUGHNESS_MIN)
            & (self.line_contrast >= LINE_CONTRAST_MIN)
        )


def _integral(x: np.ndarray) -> np.ndarray:
    """Zero-padded 2-D prefix sums of float64 ``[n, S, S, C]``: ``[n, S+1, S+1, C]``."""
    out = np.zeros((x.shape[0], x.shape[1] + 1, x.shape[2] + 1, x.shape[3]))
    np.cumsum(np.cumsum(x, 1), 2, out=out[:, 1:, 1:])
    return out


def _boxes(ii: np.ndarray, y0, y1, x0, x1) -> np.ndarray:
    """Sums over rows [y0, y1) x cols [x0, x1) for candidate grids y* ``[P]``, x* ``[Q]``: ``[n, P, Q, C]``."""
    y0, y1, x0, x1 = y0[:, None], y1[:, None], x0[None, :], x1[None, :]
    return ii[:, y1, x1] - ii[:, y0, x1] - ii[:, y1, x0] + ii[:, y0, x0]


def _quadrant_bounds(pos_r, pos_c, t: int, s: int):
    """Row and column bounds of the four quadrants for band positions (broadcastable int arrays)."""
    z, full = np.zeros_like(pos_r), np.full_like(pos_r, s)
    zc, fullc = np.zeros_like(pos_c), np.full_like(pos_c, s)
    rows = [(z, pos_r), (z, pos_r), (pos_r + t, full), (pos_r + t, full)]
    cols = [(zc, pos_c), (pos_c + t, fullc), (zc, pos_c), (pos_c + t, fullc)]
    return rows, cols


def _locate_chunk(x: np.ndarray, t: int, lo: int, hi: int):
    """Best cross position of float64 ``[n, S, S, 3]``: rows, cols, colours ``[n,4,3]``, quadrant RMS ``[n,4]``."""
    n, s = x.shape[0], x.shape[1]
    ii, ii2 = _integral(x), _integral(x * x)
    cand = np.arange(lo, hi + 1)
    (rb, cb) = _quadrant_bounds(cand, cand, t, s)
    sums, sses, counts = [], [], []
    for (y0, y1), (x0, x1) in zip(rb, cb):
        s1, s2 = _boxes(ii, y0, y1, x0, x1), _boxes(ii2, y0, y1, x0, x1)  # [n, P, P, 3]
        cnt = ((y1 - y0)[:, None] * (x1 - x0)[None, :]).astype(np.float64)  # [P, P]
        sums.append(s1)
        counts.append(cnt)
        sses.append(np.maximum(s2 - s1 * s1 / cnt[..., None], 0.0).sum(-1))  # [n, P, P]
    best = np.stack(sses).sum(0).reshape(n, -1).argmin(1)  # first minimum: lowest row, then lowest column
    bi, bj = np.divmod(best, cand.size)
    idx = np.arange(n)
    colours = np.stack([sm[idx, bi, bj] / c[bi, bj, None] for sm, c in zip(sums, counts)], 1)
    rms = np.stack([np.sqrt(e[idx, bi, bj] / (3.0 * c[bi, bj])) for e, c in zip(sses, counts)], 1)
    return cand[bi], cand[bj], colours, rms


def _arm_masks(rows, cols, t: int, s: int) -> list[np.ndarray]:
    """bool ``[n, S, S]`` masks of the left, right, top and bottom arm of each cross."""
    y = np.arange(s)[None, :, None]
    x = np.arange(s)[None, None, :]
    r, c = rows[:, None, None], cols[:, None, None]
    in_r, in_c = (y >= r) & (y < r + t), (x >= c) & (x < c + t)
    return [in_r & (x < c), in_r & (x >= c + t), in_c & (y < r), in_c & (y >= r + t)]


def _roughness(dh: np.ndarray, dv: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """RMS difference (levels) of horizontally or vertically adjacent pixels both inside ``mask`` ``[n, S, S]``:
    ``[n]``. dh ``[n, S, S-1]`` / dv ``[n, S-1, S]``: squared neighbour differences summed over channels."""
    ph, pv = mask[:, :, 1:] & mask[:, :, :-1], mask[:, 1:] & mask[:, :-1]
    total = (dh * ph).sum((1, 2)) + (dv * pv).sum((1, 2))
    return np.sqrt(total / (3.0 * np.maximum(ph.sum((1, 2)) + pv.sum((1, 2)), 1)))


def _line_contrast(x, rows, cols, colours, t: int) -> np.ndarray:
    """Smallest over band lines of min over the two adjacent quadrants of RMS(line - quadrant colour): ``[n]``."""
    n, s = x.shape[0], x.shape[1]
    idx, pos = np.arange(n), np.arange(s)[None, :]
    out = np.full(n, np.inf)
    for k in range(t):
        h_line, v_line = x[idx, rows + k], x[idx, :, cols + k]  # [n, S, 3] each
        pieces = (  # (line, mask along it, the two adjacent quadrants)
            (h_line, pos < cols[:, None], (0, 2)), (h_line, pos >= cols[:, None] + t, (1, 3)),
            (v_line, pos < rows[:, None], (0, 1)), (v_line, pos >= rows[:, None] + t, (2, 3)),
        )
        for line, mask, quads in pieces:
            cnt = 3.0 * np.maximum(mask.sum(1), 1)
            msd = [(((line - colours[:, q, None, :]) ** 2).sum(-1) * mask).sum(1) / cnt for q in quads]
            out = np.minimum(out, np.sqrt(np.minimum(*msd)))
    return out


def _band_std(x: np.ndarray, arms: list[np.ndarray], rows, cols, t: int) -> np.ndarray:
    """Std of the cross values per channel, RMS over channels (levels): ``[n]``."""
    s = x.shape[1]
    y = np.arange(s)[None, :, None]
    xs = np.arange(s)[None, None, :]
    centre = ((y >= rows[:, None, None]) & (y < rows[:, None, None] + t)
              & (xs >= cols[:, None, None]) & (xs < cols[:, None, None] + t))
    band = (arms[0] | arms[1] | arms[2] | arms[3] | centre)[..., None]
    cnt = band.sum((1, 2))
    mean = (x * band).sum((1, 2)) / cnt
    var = (((x - mean[:, None, None]) ** 2) * band).sum((1, 2)) / cnt
    return np.sqrt(var.mean(1))


def fit_mondrian(images: np.ndarray, chunk: int = MONDRIAN_CHUNK) -> MondrianFit:
    """Locate the cross of every image (uint8 ``[N, S, S, 3]``) and measure the Mondrian rule's statistics.

    The position is the allowed (row, col) pair that minimizes the summed squared deviation of the four quadrants
    from their mean colours (exact via integral images); ties go to the lowest row, then column.
    """
    images = check_images("images", images, allow_empty=True)
    if images.shape[1] != images.shape[2]:
        raise MemgenError(f"Mondrian images must be square, got {images.shape[1]}x{images.shape[2]}")
    t, lo, hi = mondrian_geometry(images.shape[1])
    parts = []
    for start in range(0, images.shape[0], chunk):
        x = images[start : start + chunk].astype(np.float64)
        rows, cols, colours, rms = _locate_chunk(x, t, lo, hi)
        arms = _arm_masks(rows, cols, t, x.shape[1])
        dh = ((x[:, :, 1:] - x[:, :, :-1]) ** 2).sum(-1)
        dv = ((x[:, 1:] - x[:, :-1]) ** 2).sum(-1)
        rough = np.stack([_roughness(dh, dv, m) for m in arms], 1)
        parts.append((rows, cols, colours, rms, _band_std(x, arms, rows, cols, t), rough,
                      _line_contrast(x, rows, cols, colours, t)))
    if not parts:
        e = np.zeros(0)
        return MondrianFit(e.astype(np.int64), e.astype(np.int64), t, np.zeros((0, 4, 3)), np.zeros((0, 4)),
                           e, np.zeros((0, 4)), e)
    cat = [np.concatenate(p) for p in zip(*parts)]
    return MondrianFit(cat[0], cat[1], t, cat[2], cat[3], cat[4], cat[5], cat[6])


def quadrant_colours(images: np.ndarray, rows, cols) -> np.ndarray:
    """Mean colour of each quadrant (0 upper-left .. 3 lower-right) for given band positions: float64 ``[N, 4, 3]``.

    images uint8 ``[N, S, S, 3]``; rows, cols int ``[N]`` (as ``mondrian_layout`` gives them; cross pixels excluded).
    """
    images = check_images("images", images, allow_empty=True)
    n, s = images.shape[0], images.shape[1]
    t, _, _ = mondrian_geometry(s)
    rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
    if rows.shape != (n,) or cols.shape != (n,) or (n and (min(rows.min(), cols.min()) < 0
                                                           or max(rows.max(), cols.max()) + t > s)):
        raise MemgenError(f"rows/cols must be integers of shape ({n},) within [0, {s - t}]")
    out = np.empty((n, 4, 3))
    y, x = np.arange(s)[None, :, None], np.arange(s)[None, None, :]
    for start in range(0, n, MONDRIAN_CHUNK):
        r, c = rows[start : start + MONDRIAN_CHUNK, None, None], cols[start : start + MONDRIAN_CHUNK, None, None]
        cross = ((y >= r) & (y < r + t)) | ((x >= c) & (x < c + t))
        quad = np.where(cross, 4, 2 * (y >= r + t) + (x >= c + t))  # 4: the cross, dropped below
        bins = (quad + 5 * np.arange(len(r))[:, None, None]).reshape(-1)
        block = images[start : start + MONDRIAN_CHUNK].reshape(-1, 3).astype(np.float64)
        counts = np.bincount(bins, minlength=5 * len(r)).reshape(-1, 5)[:, :4]
        sums = np.stack([np.bincount(bins, block[:, ch], 5 * len(r)) for ch in range(3)], -1).reshape(-1, 5, 3)
        out[start : start + len(r)] = sums[:, :4] / counts[..., None]
    return out


def mondrian_valid(images: np.ndarray) -> np.ndarray:
    """bool ``[N]``: the image obeys the Mondrian rule within the tolerances above."""
    return fit_mondrian(images).valid
