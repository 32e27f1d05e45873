"""The exact nearest and second-nearest training image of every sample, by L2 distance in pixel space.

Units: images are uint8 ``[.., H, W, 3]``; ``nearest_two`` returns SQUARED L2 distances on the [0, 1] pixel
scale (uint8 / 255).

How the search stays exact and cheap (no ``[M, N]`` matrix is ever held):
1. per sample chunk, a running top-k (k = min(8, N)) of candidates is kept across training chunks, ranked by
   float32 matmul distances ``||b||^2 - 2 a.b`` (``||a||^2`` is constant per row) on pixels centred at 128;
2. the candidates are re-ranked with exact integer distances; ties go to the lower training index;
3. a rigorous float32 rounding bound certifies that no non-candidate can beat the exact second distance; a sample
   that cannot be certified (many near-identical training images) is searched again with exact float64 matmuls.
Every float32 matmul runs in IEEE float32 whatever precision torch is set to (`memgen.precision`).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from memgen.errors import MemgenError
from memgen.precision import ieee_float32_matmul
from memgen.runtime import check_int, resolve_device

PIXEL_SCALE = 255.0
CANDIDATES = 8  # running top-k kept per sample before exact re-ranking
_U32 = 2.0**-24  # unit roundoff of float32
_CENTER = 128  # pixels are centred before the float32 matmul: smaller magnitudes, smaller rounding error


def _tensor(array: np.ndarray, device: torch.device) -> torch.Tensor:
    """Zero-copy view on CPU (read-only inputs are only read), a copy on CUDA."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not writable.*")
        return torch.from_numpy(np.ascontiguousarray(array)).to(device)


def check_pair(samples: np.ndarray, train: np.ndarray) -> None:
    for name, arr in (("samples", samples), ("train", train)):
        if not isinstance(arr, np.ndarray) or arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] != 3:
            desc = f"{arr.dtype} {arr.shape}" if isinstance(arr, np.ndarray) else type(arr).__name__
            raise MemgenError(f"{name} must be uint8 [N,H,W,3], got {desc}")
    if samples.shape[1:] != train.shape[1:] or train.shape[0] < 2:
        raise MemgenError(
            f"samples {samples.shape} and train {train.shape} must share H,W,3 and train needs >= 2 images"
        )


def _exact_row_sums(x: torch.Tensor, max_term: int) -> torch.Tensor:
    """Exact row sums of float32 ``[n, D]`` holding integers in [0, max_term], as float64 ``[n]``.

    Blocks of g columns with g * max_term <= 2^24 sum exactly in float32 whatever the order; the few block sums
    are then added in float64. (Summing the whole row in float64 directly is ~30x slower on CPU.)
    """
    dim = x.shape[1]
    g = max(d for d in range(1, min(dim, 2**24 // max_term) + 1) if dim % d == 0)
    return x.view(x.shape[0], dim // g, g).sum(2).double().sum(1)


def _sq_norms(x: torch.Tensor, buf: torch.Tensor) -> torch.Tensor:
    """Exact ``sum((x - 128)^2)`` per row of uint8 ``[n, D]`` as float64 ``[n]``; buf: float32 ``[r, D]`` scratch."""
    out = []
    for s in range(0, x.shape[0], buf.shape[0]):
        b = buf[: min(buf.shape[0], x.shape[0] - s)]
        b.copy_(x[s : s + b.shape[0]]).sub_(_CENTER).square_()
        out.append(_exact_row_sums(b, _CENTER**2))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64, device=x.device)


_GROUPS = 16  # column groups of the two-stage top-k below


def _smallest_k(part: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k smallest values per row of ``part`` [m, n] and their columns (unsorted), 2.4x faster than topk on
    CPU for n = 8192: columns are split into G strided groups (j, j + n/G, ...); the k groups with the smallest
    minima hold every one of the k smallest values (each group holding one has its minimum <= the k-th value,
    and at most k groups can), so a top-k over those k * G columns is exact, ties included."""
    m, n = part.shape
    if n % _GROUPS or n < 8 * k * _GROUPS:
        return part.topk(k, dim=1, largest=False, sorted=False)
    width = n // _GROUPS
    _, groups = part.view(m, _GROUPS, width).amin(1).topk(k, dim=1, largest=False, sorted=False)
    cols = (groups.unsqueeze(2) + torch.arange(_GROUPS, device=part.device) * width).view(m, k * _GROUPS)
    values, sel = part.gather(1, cols).topk(k, dim=1, largest=False, sorted=False)
    return values, cols.gather(1, sel)


def _approx_candidates(a, train, nb32, k, chunk, scratch):
    """Running top-k of ``||b||^2 - 2 a.b`` in float32 over training chunks of ``chunk`` rows.

    a: float32 centred ``[m, D]``; train: uint8 ``[N, D]`` (converted chunk by chunk into scratch["b"]) or the
    resident float32 centred training set; nb32: float32 ``[N]`` centred norms; scratch["p"] float32
    (>= m * chunk elements) is reused (fresh large allocations cost page faults on CPU). No host synchronisation.
    Returns (values float32, indices int64), both ``[m, k]``, unsorted.
    """
    m = a.shape[0]
    best_v = torch.full((m, k), float("inf"), device=a.device)
    best_i = torch.full((m, k), -1, dtype=torch.int64, device=a.device)
    for s in range(0, train.shape[0], chunk):
        rows = min(chunk, train.shape[0] - s)
        if train.dtype == torch.uint8:
            b = scratch["b"][:rows]
            b.copy_(train[s : s + rows]).sub_(_CENTER)
        else:
            b = train[s : s + rows]
        part = scratch["p"][: m * rows].view(m, rows)
        torch.addmm(nb32[s : s + rows].unsqueeze(0), a, b.T, alpha=-2.0, out=part)
        v, i = _smallest_k(part, min(k, rows))
        cat_v, cat_i = torch.cat([best_v, v], 1), torch.cat([best_i, i + s], 1)
        best_v, sel = cat_v.topk(k, dim=1, largest=False, sorted=False)
        best_i = cat_i.gather(1, sel)
    return best_v, best_i


def _exact_rerank(a: torch.Tensor, train: torch.Tensor, cand: torch.Tensor, rbuf: torch.Tensor):
    """Exact squared distances (uint8^2 units) to the candidates; returns the best two (dist, idx) int64 ``[m, 2]``.

    a: float32 centred ``[m, D]``; cand: int64 ``[m, k]``; rbuf: float32 ``[>= m, D]`` scratch.
    The ordering key ``dist * N + index`` is unique, so ties go to the lower training index.
    """
    n, (m, k) = train.shape[0], cand.shape
    r = rbuf[:m]
    cols = []
    for j in range(k):
        r.copy_(train[cand[:, j]]).sub_(_CENTER).sub_(a).square_()
        cols.append(_exact_row_sums(r, 255**2))
    key = (torch.stack(cols, 1).round().long() * n + cand).sort(dim=1).values[:, :2]
    return key // n, key % n


def _exact_search(a_u8: torch.Tensor, train: torch.Tensor, nb64: torch.Tensor, chunk: int):
    """Exhaustive exact top-2 with float64 matmuls (integer-valued, < 2^53, hence exact); returns (dist, idx)."""
    n = train.shape[0]
    a = a_u8.double() - _CENTER
    na = (a * a).sum(1, keepdim=True)
    best = torch.full((a.shape[0], 2), torch.iinfo(torch.int64).max, dtype=torch.int64, device=a.device)
    for s in range(0, n, chunk):
        b = train[s : s + chunk].double() - _CENTER
        d = (na + nb64[s : s + chunk].unsqueeze(0) - 2.0 * (a @ b.T)).round().long()
        idx = torch.arange(s, s + b.shape[0], device=a.device)
        best = torch.cat([best, d * n + idx], 1).topk(2, dim=1, largest=False, sorted=True).values
    return best // n, best % n


def _uncertified(d2: torch.Tensor, cand_v: torch.Tensor, na: torch.Tensor, nb_max: float, dim: int) -> torch.Tensor:
    """Mask (bool ``[m]``) of the rows whose exact second distance ``d2`` might be beaten outside the candidates.

    Every non-candidate j has approx >= the k-th candidate value, so exact d_j >= na + kth - eps, where eps bounds
    |float32(||b||^2 - 2 a.b) - exact| (Higham, Accuracy and Stability, Sec. 3.1): the D + 1 exact terms sum with
    error <= gamma_{D+1} (nb + 2 sum|a_i b_i|) <= gamma_{D+1} (na + 2 nb) in any summation order (split-K, FMA),
    since 2 sum|a_i b_i| <= na + nb; plus u nb for rounding nb to float32. Inflated by 10% and one unit.
    """
    eps = 1.1 * (dim + 8) * _U32 * (na + 2.0 * nb_max) + 1.0
    kth = cand_v.max(1).values.double() + na
    return d2.double() >= kth - eps


def _search_chunk(a_u8, train, k, chunk, scratch):
    """Top-2 by exact distance among the candidates of one sample chunk ``a_u8`` uint8 ``[m, D]``.

    Returns (dist int64 uint8^2 units, idx int64, both ``[m, 2]``; uncertified bool ``[m]``), all on the device,
    with no host synchronisation: rows flagged uncertified are searched exhaustively by the caller.
    """
    na = _sq_norms(a_u8, scratch["r"])
    a = scratch["a"][: a_u8.shape[0]]
    a.copy_(a_u8).sub_(_CENTER)
    cand_v, cand_i = _approx_candidates(a, train["search"], train["nb32"], k, chunk, scratch)
    d, i = _exact_rerank(a, train["u8"], cand_i, scratch["r"])
    if k == train["u8"].shape[0]:  # every training image was a candidate: nothing to certify
        return d, i, torch.zeros(a.shape[0], dtype=torch.bool, device=a.device)
    return d, i, _uncertified(d[:, 1], cand_v, na, train["nb_max"], a.shape[1])


# Chunk sizes per device (rows of samples, rows of training images). CPU: the float32 scratch stays ~300 MB at
# 32x32; larger sample chunks convert each training chunk to float32 fewer times. CUDA: chunks large enough
# to fill the GPU (a 4096 x 32768 distance block per matmul).
_DEFAULT_CHUNKS = {"cpu": (4096, 8192), "cuda": (4096, 32768)}
_RESIDENT_FRACTION = 0.25  # CUDA: keep a float32 copy of the training set if it takes <= this much free memory


def _train_on_device(train: np.ndarray, dev: torch.device, scratch: dict) -> dict:
    """The training set on the device: uint8 rows, exact norms, float32 norms, and the matrix the search reads
    (on CUDA a resident float32 centred copy when it fits, so that no chunk is converted twice)."""
    n, dim = train.shape[0], int(np.prod(train.shape[1:]))
    u8 = _tensor(train.reshape(n, dim), dev)
    nb64 = _sq_norms(u8, scratch["b"])
    search = u8
    if dev.type == "cuda" and n * dim * 4 <= _RESIDENT_FRACTION * torch.cuda.mem_get_info(dev)[0]:
        search = u8.float().sub_(_CENTER)
    return {"u8": u8, "nb64": nb64, "nb32": nb64.float(), "nb_max": float(nb64.max()), "search": search}


def nearest_two(
    samples: np.ndarray,
    train: np.ndarray,
    device: str | torch.device | None = None,
    sample_chunk: int | None = None,
    train_chunk: int | None = None,
    stats: dict | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact nearest and second-nearest training image of every sample, by L2 distance in pixel space.

    samples: uint8 ``[M, H, W, 3]``; train: uint8 ``[N, H, W, 3]`` with N >= 2 and the same H, W.
    Returns ``indices`` int64 ``[M, 2]`` (nearest, second nearest; ties: lower index first) and ``sq_dists``
    float64 ``[M, 2]``: SQUARED L2 distances on the [0, 1] pixel scale (uint8 / 255), exact up to that division.
    sample_chunk, train_chunk: rows per block (None: 4096 x 8192 on CPU, 4096 x 32768 on CUDA).
    Memory: O(sample_chunk * train_chunk + (sample_chunk + train_chunk) * H*W*3) float32 scratch beside the
    inputs; never ``[M, N]``. On CUDA the uint8 images are copied to the device once and, when it takes at most
    a quarter of the free memory, a float32 copy of the training set stays there. Every float32 matmul runs in
    IEEE float32 whatever precision torch is set to (the certificate assumes it). The result does not depend on
    the chunk sizes or the device. ``stats``, when given, receives ``n_exact_fallback``.
    """
    check_pair(samples, train)
    dev = resolve_device(device)
    default_sc, default_tc = _DEFAULT_CHUNKS["cuda" if dev.type == "cuda" else "cpu"]
    sample_chunk = check_int("sample_chunk", default_sc if sample_chunk is None else sample_chunk, 1)
    train_chunk = check_int("train_chunk", default_tc if train_chunk is None else train_chunk, 1)
    m, n = samples.shape[0], train.shape[0]
    dim = int(np.prod(train.shape[1:]))
    sc, tc = min(sample_chunk, max(m, 1)), min(train_chunk, n)
    with torch.no_grad(), ieee_float32_matmul():
        scratch = {
            "a": torch.empty((sc, dim), device=dev),  # sample chunk, centred float32
            "r": torch.empty((sc, dim), device=dev),  # re-ranking / norm scratch
            "b": torch.empty((tc, dim), device=dev),  # training chunk, centred float32
            "p": torch.empty(sc * tc, device=dev),  # approximate partial distances
        }
        train_d = _train_on_device(train, dev, scratch)
        samples_t = _tensor(samples.reshape(m, dim), dev)
        out_d = torch.empty((m, 2), dtype=torch.int64, device=dev)
        out_i = torch.empty((m, 2), dtype=torch.int64, device=dev)
        doubt = torch.zeros(m, dtype=torch.bool, device=dev)
        k = min(CANDIDATES, n)
        for s in range(0, m, sc):  # no host synchronisation inside this loop
            found = _search_chunk(samples_t[s : s + sc], train_d, k, tc, scratch)
            out_d[s : s + sc], out_i[s : s + sc], doubt[s : s + sc] = found
        rows = doubt.nonzero().flatten()
        for s in range(0, rows.numel(), sc):  # uncertified rows: exhaustive exact search
            part = rows[s : s + sc]
            out_d[part], out_i[part] = _exact_search(samples_t[part], train_d["u8"], train_d["nb64"], min(tc, 2048))
        result_d, result_i = out_d.cpu().numpy(), out_i.cpu().numpy()
    if stats is not None:
        stats["n_exact_fallback"] = int(rows.numel())
    return result_i, result_d.astype(np.float64) / PIXEL_SCALE**2
