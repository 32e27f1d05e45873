"""Interval estimates shared by the measures (`memgen.evaluation`) and the tables (`memgen.analysis`): a low
module that imports nothing of memgen but its errors.

- `wilson_interval`: a binomial proportion (one model's samples: replicate fraction, each outcome, same-image
  pairs), Wilson (1927).
- `median_interval`: a median with the distribution-free order-statistic interval.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binom

from memgen.errors import MemgenError

CONFIDENCE = 0.95
Z95 = 1.959963984540054  # two-sided 95% standard-normal quantile

def wilson_interval(k, n, z: float = Z95):
    """Wilson score interval for a binomial proportion k/n (Wilson 1927), vectorized.

    k, n: counts (scalars or arrays of one shape), 0 <= k <= n. Returns (lo, hi) within [0, 1]; n == 0 gives
    (nan, nan). Scalars in, floats out; arrays in, float64 arrays out.
    """
    k_arr = np.asarray(k, dtype=np.float64)
    n_arr = np.asarray(n, dtype=np.float64)
    if k_arr.shape != n_arr.shape:
        raise MemgenError(f"k {k_arr.shape} and n {n_arr.shape} must have the same shape")
    if not (np.all(k_arr >= 0) and np.all(k_arr <= n_arr)):
        raise MemgenError("counts must satisfy 0 <= k <= n")
    if not (np.isfinite(z) and z > 0):
        raise MemgenError(f"z must be a positive number, got {z!r}")
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k_arr / n_arr
        z2n = z * z / n_arr
        center = (p + z2n / 2.0) / (1.0 + z2n)
        half = z * np.sqrt(p * (1.0 - p) / n_arr + z2n / (4.0 * n_arr)) / (1.0 + z2n)
        # The endpoints are exactly 0 at k = 0 and exactly 1 at k = n (rounding would leave ~1e-17 otherwise).
        lo = np.where(n_arr > 0, np.where(k_arr == 0, 0.0, np.clip(center - half, 0.0, 1.0)), np.nan)
        hi = np.where(n_arr > 0, np.where(k_arr == n_arr, 1.0, np.clip(center + half, 0.0, 1.0)), np.nan)
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


def median_interval(values, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(median, low, high): the sample median and the distribution-free interval ``[x_(j), x_(n-j+1)]`` of the
    order statistics, j the largest rank with ``P(Binomial(n, 1/2) <= j - 1) <= (1 - confidence) / 2``, so the
    coverage is at least ``confidence`` for any continuous distribution. (nan, nan) bounds when n is too small
    (n < 6 at 95%); NaN values are dropped first."""
    x = np.sort(np.asarray(values, dtype=np.float64).reshape(-1))
    x = x[~np.isnan(x)]
    n = x.size
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    alpha = (1.0 - confidence) / 2.0
    k = int(binom.ppf(alpha, n, 0.5))  # smallest k with P(B <= k) >= alpha
    j = k + 1 if binom.cdf(k, n, 0.5) <= alpha else k
    if j < 1:
        return float(np.median(x)), float("nan"), float("nan")
    return float(np.median(x)), float(x[j - 1]), float(x[n - j])
