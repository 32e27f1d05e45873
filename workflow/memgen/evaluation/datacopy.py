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

DEFAULT_CELLS = 5  # k of k-means: the authors' value for their 2-D experiments; 5 cells keep > 20 samples per
# cell at the pipeline's 256 samples per model. Raise it with the number of samples.
MIN_SAMPLES_PER_CELL = 20  # tau = 20 / m: a cell enters C_T only with MORE than this many generated samples
KMEANS_INITS = 10  # k-means restarts (the best inertia is kept)
CELL_COLUMNS = ["cell", "n_train", "n_heldout", "n_samples", "heldout_share", "sample_share",
                "median_dist_heldout", "median_dist_samples", "u", "z", "included"]


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
    Returns ``(C_T, table)``: C_T float (negative: data copying), table one row per cell with ``CELL_COLUMNS``.
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
        rows.append([c, len(t_c), len(p_c), len(q_c), len(p_c) / len(p), len(q_c) / len(q),
                     np.median(d_p) if len(d_p) else np.nan, np.median(d_q) if len(d_q) else np.nan, u, z, included])
    table = pd.DataFrame(rows, columns=CELL_COLUMNS)
    use = table[table.included]
    if use.empty:
        raise MemgenError(f"no cell has more than {tau * len(q):g} generated samples and a held-out image; "
                          f"use fewer cells than {k} or more samples")
    c_t = float((use.heldout_share * use.z).sum() / use.heldout_share.sum())
    return c_t, table
