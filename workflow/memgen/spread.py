"""Between-seed spread of binomial fractions, batched over cells: the machinery of `memgen.stats`'s
`seed_interval`, `seed_flag` and `seed_difference`, vectorized so that `benchmarks/seed_coverage.py` runs 10^4
simulated cells per regime through the very code the tables use.

Every function takes counts ``k``, ``n`` as float64 arrays ``[C, S]`` (C cells of S seeds each, 0 <= k <= n,
n > 0, S >= 2) and returns ``[C]`` arrays; ``confidence`` is two-sided, one number or one per cell ``[C]`` (so
that `memgen.stats` inverts an interval into its p-value in one call over a grid of levels). A seed's value is
its fraction k / n; a cell's estimate is the plain mean of its seeds' fractions (every trained model counts
once). No input checks here: `memgen.stats` validates. Imports nothing of memgen.

Why these pieces, measured on simulated cells matched to the demo (benchmarks/results/seed_coverage.json):
- `cell_bounds`: Student's t over seeds on the angular and on the logit scale, united, floored by the pooled
  Wilson interval. Near 0 or 1 the per-seed fractions are skewed (a cell at 0.0 / 1.6 / 15.6%); the logit scale
  stretches the side away from the boundary, which the angular scale does too little of.
- `bimodal`: the seeds disagree by more than binomial noise (Pearson's chi-square of homogeneity, which with 128
  samples per seed detects seed-to-seed differences of a few points) AND the method-of-moments Beta of the
  between-seed spread is J- or U-shaped (a shape parameter below 1: seeds pile up at a boundary with one far off,
  or split between both). There a mean over 3 seeds is at the mercy of which seeds happened to copy, and no
  t-type interval holds its level.
- `free_bounds`: what can still be said of such a cell without a shape: a distribution-free bound on the mean of
  any distribution on [0, 1], from the largest and smallest seed.
- `difference_bounds`: the t-test on the raw fractions, MOVER-t on the logit scale (skew-aware, and equal to
  the t-test where the cells are not skewed), Newcombe's pooled interval; bimodal cells enter by their
  distribution-free bounds.
"""

from __future__ import annotations

import numpy as np
from scipy.special import chdtrc, expit, ndtri, stdtrit

HETEROGENEITY_ALPHA = 0.05  # level of the chi-square test that the seeds share one fraction
SHAPE_LIMIT = 1.0  # a Beta shape parameter below 1: the density is unbounded at 0 or 1 (J- or U-shaped)


def z_value(confidence):
    """Two-sided standard-normal quantile of ``confidence`` (a number or an array)."""
    return ndtri(0.5 + np.asarray(confidence, dtype=np.float64) / 2.0)


def t_value(confidence: float, df):
    """Two-sided Student-t quantile of ``confidence`` at ``df`` (scalar or array)."""
    return stdtrit(df, 0.5 + np.asarray(confidence, dtype=np.float64) / 2.0)


def wilson_bounds(k, n, z):
    """Wilson (1927) score bounds of k / n, elementwise float64 arrays (z a number, or one per row of k); exactly
    0 at k = 0 and 1 at k = n (rounding would leave ~1e-17 otherwise); NaN where n = 0."""
    k, n = np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64).reshape(np.shape(z) + (1,) * (k.ndim - np.ndim(z)))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        z2n = z * z / n
        center = (p + z2n / 2.0) / (1.0 + z2n)
        half = z * np.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n)) / (1.0 + z2n)
        lo = np.where(n > 0, np.where(k == 0, 0.0, np.clip(center - half, 0.0, 1.0)), np.nan)
        hi = np.where(n > 0, np.where(k == n, 1.0, np.clip(center + half, 0.0, 1.0)), np.nan)
    return lo, hi


def _scale(k, n, scale: str):
    """Per-seed values on a scale and the map back to fractions."""
    if scale == "logit":  # empirical logit, finite at k = 0 and k = n (Haldane 1955; Anscombe 1956)
        return np.log((k + 0.5) / (n - k + 0.5)), expit
    if scale == "angular":
        return np.arcsin(np.sqrt(k / n)), lambda v: np.sin(np.clip(v, 0.0, np.pi / 2)) ** 2
    return k / n, lambda v: v


def scale_bounds(k, n, scale: str, q):
    """``mean(y) -+ q sd(y) / sqrt(S)`` of the per-seed values y on ``scale`` ("logit", "angular" or "raw"),
    mapped back; q a multiplier per cell ``[C]`` or one number. Widened to hold the mean of the fractions."""
    y, back = _scale(k, n, scale)
    half = np.asarray(q) * y.std(axis=1, ddof=1) / np.sqrt(y.shape[1])
    mean = (k / n).mean(axis=1)
    return np.minimum(back(y.mean(axis=1) - half), mean), np.maximum(back(y.mean(axis=1) + half), mean)


def cell_bounds(k, n, confidence: float):
    """The across-seed interval of each cell's mean fraction: t (S - 1 df) on the angular and on the logit
    scale, united with the Wilson interval of all seeds' samples pooled (no interval is narrower than the pooled
    samples allow; a cell at 0% everywhere has a t-interval of zero width)."""
    q = t_value(confidence, k.shape[1] - 1)
    a_lo, a_hi = scale_bounds(k, n, "angular", q)
    l_lo, l_hi = scale_bounds(k, n, "logit", q)
    w_lo, w_hi = wilson_bounds(k.sum(axis=1), n.sum(axis=1), z_value(confidence))
    return np.minimum.reduce([a_lo, l_lo, w_lo]), np.maximum.reduce([a_hi, l_hi, w_hi])


def heterogeneity_p(k, n):
    """p-value of Pearson's chi-square test that every seed of a cell has one replicate fraction (S - 1 df);
    1 where the pooled fraction is 0 or 1 (nothing varies)."""
    pooled = k.sum(axis=1, keepdims=True) / n.sum(axis=1, keepdims=True)
    expected, var = n * pooled, n * pooled * (1.0 - pooled)
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = np.where(var > 0, (k - expected) ** 2 / var, 0.0).sum(axis=1)
    return chdtrc(k.shape[1] - 1, stat)


def beta_shape(k, n):
    """min(a, b) of the method-of-moments Beta(a, b) of the true per-seed fractions: mean m = mean(k / n),
    variance v = var(k / n) - mean(x (1 - x) / (n - 1)) (the binomial part removed: E[x (1 - x) / (n - 1)] is
    the binomial variance p (1 - p) / n of x = k / n). inf where v <= 0 (no spread beyond binomial noise), 0
    where v >= m (1 - m) (no Beta has that spread)."""
    x = k / n
    m = x.mean(axis=1)
    v = x.var(axis=1, ddof=1) - (x * (1.0 - x) / (n - 1.0)).mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = m * (1.0 - m) / v - 1.0
        shape = np.where(v > 0, np.maximum(np.minimum(m, 1.0 - m) * c, 0.0), np.inf)
    return shape


def bimodal(k, n):
    """True where a cell's seeds split in a way no t-type interval survives: heterogeneous beyond binomial noise
    (`heterogeneity_p` < HETEROGENEITY_ALPHA) and J- or U-shaped (`beta_shape` < SHAPE_LIMIT)."""
    return (heterogeneity_p(k, n) < HETEROGENEITY_ALPHA) & (beta_shape(k, n) < SHAPE_LIMIT)


def free_bounds(k, n, confidence: float):
    """Distribution-free bounds on the mean of the per-seed fractions, whatever their distribution on [0, 1].

    If p_max is the largest of S draws from a distribution F, F(p_max) ~ Beta(S, 1), so with probability
    1 - alpha / 2 at most w = 1 - (alpha / 2)^(1 / S) of F lies above p_max and the mean is at most
    (1 - w) p_max + w (the rest at most 1); likewise at least (1 - w) p_min. Each seed's Wilson bound stands in
    for its unobserved true fraction. w = 0.71 at 3 seeds, 0.52 at 5, 0.31 at 10: the price of a bimodal cell."""
    alpha = 1.0 - np.asarray(confidence, dtype=np.float64)
    w = 1.0 - (alpha / 2.0) ** (1.0 / k.shape[1])
    lo, hi = wilson_bounds(k, n, z_value(confidence))
    return (1.0 - w) * lo.min(axis=1), (1.0 - w) * hi.max(axis=1) + w


def interval_bounds(k, n, confidence: float):
    """(low, high, bimodal) of each cell: `cell_bounds`, widened to `free_bounds` where `bimodal`."""
    lo, hi = cell_bounds(k, n, confidence)
    flag = bimodal(k, n)
    if flag.any():
        f_lo, f_hi = free_bounds(k, n, confidence)
        lo, hi = np.where(flag, np.minimum(lo, f_lo), lo), np.where(flag, np.maximum(hi, f_hi), hi)
    return lo, hi, flag


def mover(d, below_b, above_a, above_b, below_a, r=0.0):
    """MOVER interval of d = mean_b - mean_a from each side's distances to its own bounds (below_b = mean_b -
    low_b, ...) and their correlation r (Zou & Donner 2008; Newcombe 1998 method 10 is its Wilson case)."""
    lo = d - np.sqrt(np.maximum(below_b**2 + above_a**2 - 2.0 * r * below_b * above_a, 0.0))
    hi = d + np.sqrt(np.maximum(above_b**2 + below_a**2 - 2.0 * r * above_b * below_a, 0.0))
    return lo, hi


def _correlation(x, y):
    """Pearson correlation of each row of x with the same row of y, 0 where a row does not vary."""
    xc, yc = x - x.mean(axis=1, keepdims=True), y - y.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xc * yc).sum(axis=1) / np.sqrt((xc**2).sum(axis=1) * (yc**2).sum(axis=1))
    return np.nan_to_num(r)


def t_test(x, y, paired: bool, confidence: float):
    """(q, se, df) of the t-test of mean(y) - mean(x), each ``[C]``: paired (per-seed differences, S - 1 df) or
    Welch (Welch-Satterthwaite df; min(S_a, S_b) - 1 where neither cell varies); q the two-sided quantile."""
    sa, sb = x.shape[1], y.shape[1]
    if paired:
        se, df = (y - x).std(axis=1, ddof=1) / np.sqrt(sa), np.full(len(x), sa - 1.0)
    else:
        va, vb = x.var(axis=1, ddof=1) / sa, y.var(axis=1, ddof=1) / sb
        se = np.sqrt(va + vb)
        with np.errstate(invalid="ignore", divide="ignore"):
            df = (va + vb) ** 2 / (va**2 / (sa - 1) + vb**2 / (sb - 1))
        df = np.where(np.isfinite(df), df, min(sa, sb) - 1.0)
    return t_value(confidence, df), se, df


def mover_t(ka, na, kb, nb, paired: bool, q, confidence: float):
    """MOVER-t interval of mean_b - mean_a: each cell's distances to its own logit-scale t bounds (S - 1 df),
    rescaled by q / t_(S-1) to the t-test's quantile q, combined with the seeds' correlation where paired.
    Where the logit bounds are symmetric this is the t-test itself (with the sample correlation, var(b - a) =
    var a + var b - 2 r sd a sd b); where a cell is skewed, its long side carries into the difference."""
    x, y = ka / na, kb / nb
    qa, qb = t_value(confidence, x.shape[1] - 1), t_value(confidence, y.shape[1] - 1)
    (la, ua), (lb, ub) = scale_bounds(ka, na, "logit", qa), scale_bounds(kb, nb, "logit", qb)
    ma, mb = x.mean(axis=1), y.mean(axis=1)
    fa, fb = q / qa, q / qb
    r = _correlation(x, y) if paired else 0.0
    return mover(mb - ma, fb * (mb - lb), fa * (ua - ma), fb * (ub - mb), fa * (ma - la), r)


def newcombe_bounds(ka, na, kb, nb, z: float):
    """Newcombe's (1998, method 10) interval for pooled kb / nb - pooled ka / na from the two Wilson intervals."""
    (ka, na), (kb, nb) = (ka.sum(axis=1), na.sum(axis=1)), (kb.sum(axis=1), nb.sum(axis=1))
    (la, ua), (lb, ub) = wilson_bounds(ka, na, z), wilson_bounds(kb, nb, z)
    return mover(kb / nb - ka / na, kb / nb - lb, ua - ka / na, ub - kb / nb, ka / na - la)


def _robust_bounds(ka, na, kb, nb, flag_a, flag_b, confidence: float):
    """MOVER (r = 0) of the two cells' intervals, a bimodal cell entering by its distribution-free bounds."""
    ends = []
    for k, n, flag in ((ka, na, flag_a), (kb, nb, flag_b)):
        lo, hi = cell_bounds(k, n, confidence)
        f_lo, f_hi = free_bounds(k, n, confidence)
        ends.append(((k / n).mean(axis=1), np.where(flag, np.minimum(lo, f_lo), lo),
                     np.where(flag, np.maximum(hi, f_hi), hi)))
    (ma, la, ua), (mb, lb, ub) = ends
    return mover(mb - ma, mb - lb, ua - ma, ub - mb, ma - la)


def difference_bounds(ka, na, kb, nb, paired: bool, confidence: float) -> dict:
    """The interval of mean(kb / nb) - mean(ka / na) over seeds, per row (paired: rows of a and b aligned by seed).

    Union of three intervals, each right where the others may not be: the t-test on the raw fractions (paired or
    Welch), `mover_t` (skewed cells near 0 or 1: a cell at 0.0 / 0.8 / 2.3% is not known to be below one at 6%
    by as much as its raw spread suggests) and Newcombe's interval of the pooled samples (the binomial floor: two
    cells at 0% everywhere still differ by up to about a point). Where a cell is `bimodal`, the union also holds
    the MOVER of the cells' intervals with that cell's `free_bounds`, and the comparison counts as decided only
    when even that excludes 0. Returns dict of ``[C]`` arrays: diff, low, high (clipped to [-1, 1]), df (the
    t-test's), bimodal_a, bimodal_b, decided."""
    x, y = ka / na, kb / nb
    d = y.mean(axis=1) - x.mean(axis=1)
    q, se, df = t_test(x, y, paired, confidence)
    m_lo, m_hi = mover_t(ka, na, kb, nb, paired, q, confidence)
    p_lo, p_hi = newcombe_bounds(ka, na, kb, nb, z_value(confidence))
    lo, hi = np.minimum.reduce([d - q * se, m_lo, p_lo]), np.maximum.reduce([d + q * se, m_hi, p_hi])
    flag_a, flag_b = bimodal(ka, na), bimodal(kb, nb)
    either = flag_a | flag_b
    if either.any():
        r_lo, r_hi = _robust_bounds(ka, na, kb, nb, flag_a, flag_b, confidence)
        lo, hi = np.where(either, np.minimum(lo, r_lo), lo), np.where(either, np.maximum(hi, r_hi), hi)
    lo, hi = np.clip(lo, -1.0, 1.0), np.clip(hi, -1.0, 1.0)
    return {"diff": d, "low": lo, "high": hi, "df": df, "bimodal_a": flag_a, "bimodal_b": flag_b,
            "decided": ~either | (lo > 0) | (hi < 0)}
