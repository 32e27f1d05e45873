"""The data-copying test of Meehan, Chaudhuri & Dasgupta, "A Non-Parametric Test to Detect Data-Copying in
Generative Models", AISTATS 2020 (Sec. 3-4), read from the paper and the authors' reference implementation.

Three samples: the training set T, held-out images P_n of the same distribution, generated samples Q_m.
1. The instance space is partitioned into k cells by k-means on T (scikit-learn, seeded).
2. In each cell pi, L(x) is the L2 distance of x to its nearest training point of the same cell (the authors'
   implementation searches the cell's training points), for x in P_n(pi) and in Q_m(pi).
3. Per cell, the Mann-Whitney U statistic of L(Q_m(pi)) against L(P_n(pi)) (``scipy.stats.mannwhitneyu``; U
   counts the pairs with the generated distance larger) is Z-scored under the null with the continuity
   correction: ``Z = (U - n m / 2 + 1/2) / sqrt(n m (n + m + 1) / 12)``. Z << 0: the generated samples sit closer
   to the training set than fresh real images do in that cell, i.e. copying; Z >> 0: underfitting.
4. ``C_T`` is the average of Z over the cells with enough generated samples, ``Q_m(pi) > tau`` (the authors
   use tau = 20 / m, i.e. more than 20 samples in the cell), weighted by the held-out share ``P_n(pi)``. Cells
   without held-out images have no Z and are left out (the authors' code refuses such a partition).

Inputs are any ``[N, ...]`` arrays (uint8 images are scaled to [0, 1]); each row is flattened to a float32
vector. For large sets, pass embeddings or set ``n_components`` (PCA fitted on T) to keep k-means cheap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from memgen.errors import MemgenError
from memgen.runtime import check_int

DEFAULT_CELLS = 5  # k of k-means when the caller gives none; the pipeline uses copying_cells
MIN_SAMPLES_PER_CELL = 20  # tau = 20 / m: a cell enters C_T only with MORE than this many generated samples
CELL_TARGET = 50  # copying_cells: generated samples (and held-out images) per cell on average, 2.5 x the 20 above
KMEANS_INITS = 10  # k-means restarts (the best inertia is kept)
PROJECTION_DIM = 256  # copying_features: images of more values go through one fixed random projection to this
PROJECTION_SEED = 20200826  # the projection's seed: a constant, so every cell of a sweep shares one map
PROJECTION_BLOCK = 4096  # input values per block of the projection matrix (memory bound; 2^12: exact sums)
PROJECTION_SCALE = 2**24  # the projection's entries are integers / (2^24 * 16): exact products (projection_block)
CELL_COLUMNS = ["cell", "n_train", "n_heldout", "n_samples", "heldout_share", "sample_share",
                "median_dist_heldout", "median_dist_samples", "u", "z", "saturated", "included"]


def _features(name: str, x) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim < 2 or arr.shape[0] == 0 or not (np.issubdtype(arr.dtype, np.number) and arr.dtype != bool):
        raise MemgenError(f"{name} must be a numeric array [N, ...] with N >= 1, got {arr.dtype} {arr.shape}")
    flat = arr.reshape(arr.shape[0], -1).astype(np.float32)
    if arr.dtype == np.uint8:
        flat /= 255.0
    if not np.all(np.isfinite(flat)):
        raise MemgenError(f"{name} has non-finite values")
    return flat


def z_u(dist_samples: np.ndarray, dist_heldout: np.ndarray) -> tuple[float, float]:
    """(U, Z) of the Mann-Whitney test of generated-sample distances against held-out distances (step 3)."""
    m, n = len(dist_samples), len(dist_heldout)
    u = float(mannwhitneyu(dist_samples, dist_heldout, alternative="less", method="asymptotic").statistic)
    return u, (u - n * m / 2.0 + 0.5) / np.sqrt(n * m * (n + m + 1) / 12.0)


def copying_cells(n_samples: int, n_heldout: int, n_train: int) -> int:
    """k for a C_T of ``n_samples`` generated samples, ``n_heldout`` held-out and ``n_train`` training images:
    ``floor(min(n_samples, n_heldout) / CELL_TARGET)``, at least 1 and at most ``n_train``. k-means cells are
    unequal, so the average cell is given 2.5 times the 20 generated samples a cell needs to enter C_T (tau);
    256 samples per model give 5 cells (the former fixed default), 32 samples 1 (5 cells left one that qualified),
    10,000 samples against 1,000 held-out images 20. Every model of a sweep has as many samples, so one k."""
    k = min(int(n_samples), int(n_heldout)) // CELL_TARGET
    return max(1, min(k, int(n_train)))


def copying_features(images: np.ndarray) -> tuple[np.ndarray, str]:
    """(features ``[N, D]``, space): the space C_T compares images in, chosen by the image shape alone, so every
    cell of a sweep (any training-set size) is scored in the same space.

    Images of at most ``PROJECTION_DIM`` values: the pixels themselves (the array is returned as given;
    `data_copying_test` scales uint8 to [0, 1]), space "pixels". Larger (16 x 16 RGB and up): ``x @ R``, x the
    [0, 1] pixels and R ``[H*W*C, PROJECTION_DIM]`` iid N(0, 1 / PROJECTION_DIM), drawn in blocks of rows from
    ``default_rng([PROJECTION_SEED, block])`` (`projection_block`), float32 out, space "projection 256". The map is
    the same for training, held-out and generated images, so under the null (samples exchangeable with held-out
    images) the test stays exact; distances are kept to about sqrt(2 / 256) = 9% (Johnson-Lindenstrauss). Cost:
    k-means and the searches run on 256 numbers per image, 12 times fewer than the pixels of a 32 x 32 image
    (float32 pixels of 50,000 such images alone take 600 MB). A PCA fitted on the training set (the former rule,
    above 50M values) needs at least as many images as components and changes with each training set.

    An image's features are a function of the image alone, bit for bit, whatever else shares the array, the
    thread count or the CPU: a copy of a training image sits at distance exactly 0 from it. For uint8 images the
    product is exact (`_exact_projection`); other images are projected one row at a time in float64.
    """
    flat = np.asarray(images).reshape(len(images), -1)
    dim = flat.shape[1]
    if dim <= PROJECTION_DIM:
        return images, "pixels"
    if flat.dtype == np.uint8:
        return _exact_projection(flat), f"projection {PROJECTION_DIM}"
    out = np.zeros((len(flat), PROJECTION_DIM), dtype=np.float64)
    for b, start in enumerate(range(0, dim, PROJECTION_BLOCK)):
        stop = min(dim, start + PROJECTION_BLOCK)
        r = projection_block(b, stop - start) / (PROJECTION_SCALE * np.sqrt(PROJECTION_DIM))
        for row in range(len(flat)):  # one image per product: its features do not depend on the others
            out[row] += flat[row, start:stop].astype(np.float64) @ r
    return out.astype(np.float32), f"projection {PROJECTION_DIM}"


def projection_block(b: int, rows: int) -> np.ndarray:
    """Block ``b`` of the projection, ``rows`` x PROJECTION_DIM, times ``PROJECTION_SCALE * sqrt(PROJECTION_DIM)``:
    N(0, 1) draws of ``default_rng([PROJECTION_SEED, b])`` clipped to +-32 and rounded to multiples of
    1 / PROJECTION_SCALE, held as float64 integers of at most 2^29 in magnitude (rounding moves an entry by
    2^-25 of its standard deviation at most, below float32's own resolution)."""
    z = np.random.default_rng([PROJECTION_SEED, b]).standard_normal((rows, PROJECTION_DIM))
    return np.rint(np.clip(z, -32.0, 32.0) * PROJECTION_SCALE)


def _exact_projection(flat: np.ndarray) -> np.ndarray:
    """``(flat / 255) @ R`` of uint8 rows, float32 [N, PROJECTION_DIM], computed exactly before the last rounding.

    Per block, ``x @ projection_block`` multiplies integers of at most 255 and 2^29 and adds at most
    PROJECTION_BLOCK = 2^12 products: every partial sum is an integer below 2^49, which float64 holds exactly, so
    the BLAS product is exact in any order of summation (any kernel, blocking, FMA or thread count). The blocks are
    summed in int64; the float64 division by ``255 * PROJECTION_SCALE * 16`` and the cast to float32 then round a
    number that depends on the image alone."""
    out = np.zeros((len(flat), PROJECTION_DIM), dtype=np.int64)
    for b, start in enumerate(range(0, flat.shape[1], PROJECTION_BLOCK)):
        stop = min(flat.shape[1], start + PROJECTION_BLOCK)
        r = projection_block(b, stop - start)
        for row in range(0, len(flat), 1024):
            out[row : row + 1024] += (flat[row : row + 1024, start:stop].astype(np.float64) @ r).astype(np.int64)
    return (out / (255.0 * PROJECTION_SCALE * np.sqrt(PROJECTION_DIM))).astype(np.float32)


def _cell_distances(train_c: np.ndarray, *queries: np.ndarray) -> list[np.ndarray]:
    """Distance of each query row to its nearest row of ``train_c`` (exact brute force, sklearn-chunked)."""
    nn = NearestNeighbors(n_neighbors=1, algorithm="brute").fit(train_c)
    return [nn.kneighbors(q)[0][:, 0] if len(q) else np.zeros(0) for q in queries]


def data_copying_test(train, heldout, samples, n_cells: int = DEFAULT_CELLS, tau: float | None = None,
                      seed: int = 0, n_components: int | None = None) -> tuple[float, pd.DataFrame]:
    """The C_T statistic and the per-cell table (module docstring).

    train ``[l, ...]``, heldout ``[n, ...]``, samples ``[m, ...]``: numeric arrays of one row shape (uint8 images
    scaled to [0, 1]). n_cells: k; tau: the smallest generated share of an included cell (exclusive; default
    ``MIN_SAMPLES_PER_CELL / m``); seed: k-means (and PCA) seed; n_components: PCA dimension or None.
    Returns ``(C_T, table)``: C_T float (negative: data copying), table one row per cell with ``CELL_COLUMNS``;
    ``saturated``: U sits at 0 or n m (every generated sample nearer the training set than every held-out
    image, or farther), where Z takes the one value n and m allow: C_T then measures the cell sizes, not the model.
    Raises MemgenError when no cell qualifies.
    """
    t, p, q = (_features(nm, x) for nm, x in (("train", train), ("heldout", heldout), ("samples", samples)))
    if not (t.shape[1] == p.shape[1] == q.shape[1]):
        raise MemgenError(f"train, heldout and samples must have one row shape, got {t.shape}, {p.shape}, {q.shape}")
    k = check_int("n_cells", n_cells, 1)
    seed = check_int("seed", seed, 0)
    if k > len(t):
        raise MemgenError(f"n_cells={k} exceeds the {len(t)} training rows")
    tau = MIN_SAMPLES_PER_CELL / len(q) if tau is None else float(tau)
    if n_components is not None:
        pca = PCA(n_components=check_int("n_components", n_components, 1), random_state=seed).fit(t)
        t, p, q = pca.transform(t), pca.transform(p), pca.transform(q)
    km = KMeans(n_clusters=k, n_init=KMEANS_INITS, random_state=seed).fit(t)
    cells = [km.labels_, km.predict(p), km.predict(q)]
    rows = []
    for c in range(k):
        t_c, p_c, q_c = (x[lab == c] for x, lab in zip((t, p, q), cells))
        d_p, d_q = _cell_distances(t_c, p_c, q_c)
        included = len(q_c) / len(q) > tau and len(p_c) > 0
        u, z = z_u(d_q, d_p) if len(p_c) and len(q_c) else (np.nan, np.nan)
        saturated = bool(len(p_c) and len(q_c) and u in (0.0, float(len(p_c) * len(q_c))))  # Z at its extreme
        rows.append([c, len(t_c), len(p_c), len(q_c), len(p_c) / len(p), len(q_c) / len(q),
                     np.median(d_p) if len(d_p) else np.nan, np.median(d_q) if len(d_q) else np.nan, u, z,
                     saturated, included])
    table = pd.DataFrame(rows, columns=CELL_COLUMNS)
    use = table[table.included]
    if use.empty:
        raise MemgenError(f"no cell has more than {tau * len(q):g} generated samples and a held-out image; "
                          f"use fewer cells than {k} or more samples")
    c_t = float((use.heldout_share * use.z).sum() / use.heldout_share.sum())
    return c_t, table
