"""Interval estimates shared by the measures (`memgen.evaluation`) and the tables (`memgen.analysis`): a low
module that imports nothing of memgen but its errors.

- `wilson_interval`: a binomial proportion (one model's samples: replicate fraction, each outcome, same-image
  pairs), Wilson (1927).
- `median_interval`: a median with the distribution-free order-statistic interval.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.stats import binom, norm
from scipy.stats import t as t_dist

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


# ------------------------------------------------------------------------------------- across training seeds
# A cell trained at n seeds gives n per-seed fractions p_1..p_n (one model each, scored on its own samples). Two
# sources of spread: the binomial noise of each model's samples, and the model-to-model (training-seed) spread,
# which memgen measured at 49 / 60 / 86% for one cell whose per-model Wilson interval is +-6 points.


@lru_cache(maxsize=256)
def _t_quantile(confidence: float, df: float) -> float:
    """Two-sided ``confidence`` quantile of Student's t (cached: the tables ask for few distinct df)."""
    return float(t_dist.ppf(0.5 + confidence / 2.0, df))


@lru_cache(maxsize=16)
def _z(confidence: float) -> float:
    return float(norm.ppf(0.5 + confidence / 2.0))


def _values(name: str, values) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(x)):
        raise MemgenError(f"{name}: per-seed values must be finite numbers, got {x.tolist()}")
    return x


def _counts(k, n, size: int) -> tuple[np.ndarray, np.ndarray] | None:
    if k is None and n is None:
        return None
    k_arr, n_arr = np.asarray(k, dtype=np.float64).reshape(-1), np.asarray(n, dtype=np.float64).reshape(-1)
    if k_arr.shape != (size,) or n_arr.shape != (size,):
        raise MemgenError(f"counts k {k_arr.shape} and n {n_arr.shape} must give one entry per seed ({size})")
    return k_arr, n_arr


def seed_interval(values, k=None, n=None, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(mean, low, high): the mean of per-seed values and an interval for the mean over training seeds.

    values: ``[S]`` one number per seed (a fraction, a similarity, a loss gap); k, n: optional ``[S]`` counts
    (successes and trials of each seed's samples) when the values are binomial fractions k / n.

    Method: Student's t-interval with S - 1 degrees of freedom on the S per-seed values, ``mean +- t sd / sqrt(S)``.
    It treats each trained model as one draw of the cell's distribution, so it covers model-to-model spread and,
    inside each value, the sampling noise of that model's samples. Why not a bootstrap over seeds: with S = 3 a
    percentile bootstrap has only 10 distinct resamples and its interval lies inside the range of the 3 values;
    it undercovers (0.72-0.77 at 3 seeds, 0.81-0.85 at 5, nominal 0.95); the t-interval (t = 4.30 at S = 3) is
    wide but holds its level for near-normal per-seed values.

    Fractions (counts given): the t-interval is computed on the angular scale ``asin(sqrt(p))`` and mapped back,
    since per-seed fractions near 0 or 1 are skewed (a cell at 2 / 5 / 9%). Then the floor: the union with the
    Wilson interval of all seeds' samples pooled (sum k / sum n). The variance of a seed mean is (between-seed
    variance + mean binomial variance / n) / S, never below the pooled binomial variance, so no honest interval
    is narrower than the pooled one; yet when every seed gives the same value (0% everywhere, as a cell far from
    memorizing does) the t-interval has zero width. The floor keeps the +-something that each model's samples say.
    Measured coverage of the true mean (benchmarks/results/seed_coverage.json, 10,000 simulated cells per regime,
    256 samples per model): raw-scale t 0.85-0.95; this interval 0.935-0.995, except 0.92 where the per-seed
    fractions are very skewed (mean 10%, between-seed SD 8%, 5 seeds).

    Fewer than 2 seeds: no spread is measured, (mean, nan, nan). Bounds of fractions are clipped to [0, 1].
    """
    x = _values("seed_interval", values)
    counts = _counts(k, n, x.size)
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(x.mean())
    if x.size < 2:
        return mean, float("nan"), float("nan")
    y = np.arcsin(np.sqrt(np.clip(x, 0.0, 1.0))) if counts is not None else x
    half = _t_quantile(confidence, x.size - 1) * float(y.std(ddof=1)) / np.sqrt(x.size)
    lo, hi = y.mean() - half, y.mean() + half
    if counts is not None:
        lo, hi = (float(np.sin(np.clip(v, 0.0, np.pi / 2)) ** 2) for v in (lo, hi))
        w_lo, w_hi = wilson_interval(counts[0].sum(), counts[1].sum(), z=_z(confidence))
        lo, hi = max(min(lo, w_lo, mean), 0.0), min(max(hi, w_hi, mean), 1.0)
    return mean, float(lo), float(hi)


def _pooled_difference(a_counts, b_counts, confidence: float) -> tuple[float, float, float]:
    """(low, high, p) for the difference of two pooled proportions pb - pa: Newcombe's hybrid score interval
    (Newcombe 1998, method 10, from the two Wilson intervals) and the two-proportion z-test p-value."""
    z = _z(confidence)
    (ka, na), (kb, nb) = ((float(c[0].sum()), float(c[1].sum())) for c in (a_counts, b_counts))
    pa, pb = ka / na, kb / nb
    (la, ua), (lb, ub) = wilson_interval(ka, na, z=z), wilson_interval(kb, nb, z=z)
    d = pb - pa
    lo, hi = d - np.sqrt((pb - lb) ** 2 + (ua - pa) ** 2), d + np.sqrt((ub - pb) ** 2 + (pa - la) ** 2)
    p_pool = (ka + kb) / (na + nb)
    se = np.sqrt(p_pool * (1.0 - p_pool) * (1.0 / na + 1.0 / nb))
    p = 1.0 if d == 0 else (0.0 if se == 0 else float(2.0 * norm.sf(abs(d) / se)))
    return float(lo), float(hi), p


def seed_difference(a, b, paired: bool, a_counts=None, b_counts=None,
                    confidence: float = CONFIDENCE) -> dict:
    """The difference of two cells' seed means, ``mean(b) - mean(a)``, with its interval and a p-value.

    a, b: per-seed values ``[S_a]``, ``[S_b]``. paired: the two cells share each seed's base images (and
    training seed), so seed effects common to both cancel: then a and b must be aligned by seed (same length,
    entry i of both from seed i) and the test is the paired t-test on the per-seed differences (n - 1 df).
    Otherwise Welch's t-test (unequal variances, Welch-Satterthwaite df), which assumes nothing shared.
    a_counts, b_counts: optional ``(k [S], n [S])`` when the values are binomial fractions; the interval is then
    the union with Newcombe's interval of the pooled samples and the p-value the larger of the t-test's and the
    pooled two-proportion z-test's, the same floor as `seed_interval`: a difference is never claimed more
    precisely than the models' own samples allow (two cells at 0% at every seed: t-test undefined, sd 0); the
    bounds of a difference of fractions are clipped to [-1, 1].

    Returns dict: diff, ci_low, ci_high, p_value (two-sided), test ("paired t" / "Welch t"), df, n_a, n_b, and
    flag: "" when the interval holds its level, else why it may not (a verdict is then not decided).
    Fewer than 2 values on a side (2 pairs when paired): NaN interval and p-value, test "none".
    """
    x, y = _values("seed_difference a", a), _values("seed_difference b", b)
    if paired and x.size != y.size:
        raise MemgenError(f"paired: a and b must be aligned by seed, got {x.size} and {y.size} values")
    out = {"diff": float(y.mean() - x.mean()) if x.size and y.size else float("nan"), "ci_low": float("nan"),
           "ci_high": float("nan"), "p_value": float("nan"), "test": "none", "df": float("nan"),
           "n_a": int(x.size), "n_b": int(y.size), "flag": ""}
    if min(x.size, y.size) < 2:
        return out
    if paired:
        d = y - x
        se, df, test = d.std(ddof=1) / np.sqrt(d.size), d.size - 1.0, "paired t"
    else:
        va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
        se, test = np.sqrt(va + vb), "Welch t"
        with np.errstate(invalid="ignore", divide="ignore"):
            df = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1))
        df = float(df) if np.isfinite(df) else float(min(x.size, y.size) - 1)
    diff = out["diff"]
    if se > 0:
        half = _t_quantile(confidence, float(df)) * float(se)
        lo, hi, p = diff - half, diff + half, float(2.0 * t_dist.sf(abs(diff) / se, df))
    else:  # every seed gives the same difference: no spread to test against
        lo, hi, p = diff, diff, (1.0 if diff == 0 else 0.0)
    if a_counts is not None and b_counts is not None:
        pa, pb = _counts(*a_counts, x.size), _counts(*b_counts, y.size)
        f_lo, f_hi, f_p = _pooled_difference(pa, pb, confidence)
        lo, hi, p = max(min(lo, f_lo), -1.0), min(max(hi, f_hi), 1.0), max(p, f_p)
    return out | {"ci_low": float(lo), "ci_high": float(hi), "p_value": float(p), "test": test, "df": float(df)}


def seed_flag(values, k=None, n=None) -> str:
    """Why the across-seed interval of one cell may not hold its level ("" when it does): e.g. a seed spread
    that looks bimodal at few seeds. Arguments as `seed_interval`."""
    return ""


SUPPORTED, REVERSED = "supported", "reversed"


def verdict(ci_low: float, ci_high: float, expected: int, n_seeds: int | str) -> str:
    """``supported`` when the interval of ``b - a`` excludes 0 on the side the claim predicts (expected +1:
    b > a; -1: b < a), ``reversed`` when it excludes 0 on the other side, else ``unresolved at <n> seeds``
    (also when the interval is NaN: too few seeds).

    Multiplicity: each verdict holds at the interval's own level (95%). Across a table of K comparisons the chance
    that at least one of them is decided wrongly grows toward K x 5%; read a table's verdicts one claim at a time,
    or use `holm` adjusted p-values (p_holm < 0.05 controls the family-wise error of the whole table)."""
    if expected not in (1, -1):
        raise MemgenError(f"expected must be +1 (b > a) or -1 (b < a), got {expected!r}")
    if np.isfinite(ci_low) and np.isfinite(ci_high):
        if ci_low > 0 or ci_high < 0:
            return SUPPORTED if (ci_low > 0) == (expected == 1) else REVERSED
    return f"unresolved at {n_seeds} seeds"


def holm(p_values) -> np.ndarray:
    """Holm's (1979) step-down adjusted p-values, float64 ``[K]``: the i-th smallest p times (K - i + 1), made
    monotone and capped at 1. NaN entries stay NaN and do not count in K."""
    p = np.asarray(p_values, dtype=np.float64).reshape(-1)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = p[order] * (len(order) - np.arange(len(order)))
    out[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return out
