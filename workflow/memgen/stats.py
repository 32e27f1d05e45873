"""Interval estimates shared by the measures (`memgen.evaluation`) and the tables (`memgen.analysis`): a low
module that imports nothing of memgen but its errors and `memgen.spread` (the batched across-seed machinery).

- `wilson_interval`: a binomial proportion (one model's samples: replicate fraction, each outcome, same-image
  pairs), Wilson (1927).
- `median_interval`: a median with the distribution-free order-statistic interval.
- `seed_interval`, `seed_flag`, `seed_difference`: a cell's mean over training seeds, whether its seeds split
  too unevenly for that interval to hold, and the difference of two cells; `verdict` and `holm` read them.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.stats import binom
from scipy.stats import t as t_dist

from memgen import spread
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
    lo, hi = spread.wilson_bounds(k_arr, n_arr, z)
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
    if not (np.all(n_arr > 0) and np.all(k_arr >= 0) and np.all(k_arr <= n_arr)):
        raise MemgenError(f"counts must satisfy 0 <= k <= n and n > 0, got k {k_arr.tolist()}, n {n_arr.tolist()}")
    return k_arr, n_arr


def seed_interval(values, k=None, n=None, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(mean, low, high): the mean of per-seed values and an interval for the mean over training seeds.

    values: ``[S]`` one number per seed (a fraction, a similarity, a loss gap); k, n: optional ``[S]`` counts
    (successes and trials of each seed's samples) when the values are binomial fractions k / n.

    Without counts: Student's t-interval with S - 1 degrees of freedom, ``mean +- t sd / sqrt(S)``: each trained
    model is one draw of the cell's distribution. Why not a bootstrap over seeds: with S = 3 a percentile bootstrap
    has 10 distinct resamples and lies inside the range of the 3 values (coverage 0.73-0.77 at 3 seeds).

    Fractions (counts given), `memgen.spread.interval_bounds`: the t-interval on the angular scale ``asin(sqrt(p))`` and
    on the logit scale ``log((k + 1/2) / (n - k + 1/2))``, mapped back and united, then united with the Wilson interval
    of all seeds' samples pooled. Why two scales: per-seed fractions near 0 or 1 are skewed (a cell at 0.0 / 1.6 /
    15.6%); the angular scale alone covered such cells 0.85-0.87 of the time at 3 seeds and 0.78-0.83 at 5, the logit
    scale stretches the side away from the boundary. Why the pooled floor: when every seed gives one value (0%
    everywhere) the t-interval has zero width, yet each model's samples still say +-something. Where the seeds split
    (`seed_flag`: J- or U-shaped beyond binomial noise, e.g. 0.0 / 0.0 / 14.1%), no t-type interval holds its level, and
    the interval becomes the distribution-free bound of `memgen.spread.free_bounds` (at 3 seeds from 0.29 x the lowest
    seed to 0.29 x the highest + 0.71). What no interval can do: a cell that copies at one seed in five shows no copying
    seed at half of its 3-seed draws, and looks like a quiet cell. Coverage per regime, and apart from such look-alikes
    (0.93 or more in every simulated regime): benchmarks/results/seed_coverage.json (the README quotes it).

    Fewer than 2 seeds: no spread is measured, (mean, nan, nan). Bounds of fractions are clipped to [0, 1].
    """
    x = _values("seed_interval", values)
    counts = _counts(k, n, x.size)
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(x.mean())
    if x.size < 2:
        return mean, float("nan"), float("nan")
    if counts is None:
        half = _t_quantile(confidence, x.size - 1) * float(x.std(ddof=1)) / np.sqrt(x.size)
        return mean, mean - half, mean + half
    lo, hi, _ = spread.interval_bounds(counts[0][None], counts[1][None], confidence)
    return mean, float(max(min(lo[0], mean), 0.0)), float(min(max(hi[0], mean), 1.0))


def _flag_text(values) -> str:
    return f"seed spread bimodal ({'/'.join(f'{100 * v:.1f}' for v in values)}%): more seeds needed"


def seed_flag(values, k=None, n=None) -> str:
    """Why the across-seed interval of one cell may not hold its level, "" when it does. Arguments as
    `seed_interval`; only binomial fractions (counts given, 2 seeds or more) are judged, other measures give "".

    Flagged ("seed spread bimodal (0.0/0.0/14.1%): more seeds needed") when the seeds disagree beyond binomial
    noise (Pearson's chi-square test of one fraction for all seeds, p < 0.05: with 128 samples per seed it finds
    seed-to-seed differences of a few points) AND the method-of-moments Beta of the per-seed fractions is J- or
    U-shaped (a shape parameter below 1: most seeds at a boundary and one far off, or seeds at both ends), the
    spreads in which a mean over 3 seeds hinges on whether a copying seed was drawn. Such a cell gets the
    distribution-free interval of `seed_interval` and its comparisons no decided verdict unless even that
    interval decides them. A spread that is wide but unimodal (73 / 75 / 86%) is not flagged: the t-interval
    already prices it in. What the flag cannot see: when every seed of a cell that copies now and then happened
    not to copy, the cell looks like a quiet one; benchmarks/results/seed_coverage.json gives that share per
    regime.
    """
    x = _values("seed_flag", values)
    counts = _counts(k, n, x.size)
    if counts is None or x.size < 2 or not spread.bimodal(counts[0][None], counts[1][None])[0]:
        return ""
    return _flag_text(x)


def _difference_at(a_counts, b_counts, paired: bool, confidence) -> dict:
    """`memgen.spread.difference_bounds` of one pair of cells at each level of ``confidence`` (rows)."""
    rows = np.size(confidence)
    ka, na, kb, nb = (np.broadcast_to(c, (rows, c.size)) for c in (*a_counts, *b_counts))
    return spread.difference_bounds(ka, na, kb, nb, paired, confidence)


def _inverted_p(a_counts, b_counts, paired: bool, diff: float) -> float:
    """The p-value of the test the interval inverts: the smallest 1 - confidence at which it excludes 0. The
    intervals are nested in the confidence, so two grids on log10(1 - confidence) find it (from 1e-15 to 0.99 in
    steps of 1/4, then within the bracket in 60 steps: 1% relative precision), rounded up; 1 when even the 1%
    interval holds 0."""
    if diff == 0:
        return 1.0
    lo, hi = -15.0, float(np.log10(0.99))
    for _ in range(2):
        grid = np.linspace(lo, hi, 61)
        r = _difference_at(a_counts, b_counts, paired, 1.0 - 10.0**grid)
        excludes = (r["low"] > 0) | (r["high"] < 0)
        if not excludes[-1]:
            return 1.0
        first = int(np.argmax(excludes))  # the levels excluding 0 are those of 1 - confidence >= p
        if first == 0:
            return float(10.0 ** grid[0])
        lo, hi = grid[first - 1], grid[first]
    return float(10.0**hi)


def seed_difference(a, b, paired: bool, a_counts=None, b_counts=None,
                    confidence: float = CONFIDENCE) -> dict:
    """The difference of two cells' seed means, ``mean(b) - mean(a)``, with its interval and a p-value.

    a, b: per-seed values ``[S_a]``, ``[S_b]``. paired: the two cells share each seed's base images (and
    training seed), so seed effects common to both cancel: then a and b must be aligned by seed (same length,
    entry i of both from seed i) and the test is the paired t-test on the per-seed differences (n - 1 df).
    Otherwise Welch's t-test (unequal variances, Welch-Satterthwaite df), which assumes nothing shared.

    a_counts, b_counts: optional ``(k [S], n [S])`` when the values are binomial fractions. The interval is then
    `memgen.spread.difference_bounds`: the union of the t-test's interval, MOVER-t on the logit scale and Newcombe's
    interval of the pooled samples. Why: a skewed cell (0.0 / 1.6 / 15.6%) against a tight one of the same mean made the
    t-test alone claim a difference 0.13-0.17 of the time at 3 seeds, nearly all on one side (the skewed cell's mean and
    spread are low together); with MOVER-t and the flag 0.06-0.11, and 0.01 apart from look-alikes (pairs whose skewed
    cell's seeds all stayed below half its mean: 0.05 before). MOVER-t (Zou & Donner 2008, with each side's distances
    taken from that cell's own logit-scale t-interval and rescaled to the t-test's quantile, and the seeds' correlation
    where paired) reduces to the t-test where no cell is skewed, so power is kept where the t-test is right, and carries
    a skewed cell's long side into the difference where it is not. The pooled floor: two cells at 0% at every seed still
    differ by up to about a point. The p-value is the one this interval inverts (the smallest 1 - confidence at which it
    excludes 0), so p < 0.05 exactly when the 95% interval excludes 0 (with a split cell it is often 1: its
    distribution-free bounds hold 0 at every level). Without counts: the t-test alone, its own p-value. Bounds of a
    difference of fractions are clipped to [-1, 1].

    Returns dict: diff, ci_low, ci_high, p_value (two-sided), test ("paired t" / "Welch t"), df, n_a, n_b, and
    flag: "" when the interval holds its level, else why it may not ("b: seed spread bimodal (0.0/1.6/15.6%):
    more seeds needed", see `seed_flag`): a cell whose seeds split enters the interval by its distribution-free
    bounds and the flag stays only when even then the interval holds 0; a flagged comparison gets no decided
    verdict. Measured false-positive rates and power per regime: benchmarks/results/seed_coverage.json.
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
    test = "paired t" if paired else "Welch t"
    if a_counts is not None and b_counts is not None:
        ca, cb = _counts(*a_counts, x.size), _counts(*b_counts, y.size)
        r = _difference_at(ca, cb, paired, np.array([confidence]))
        flag = "" if r["decided"][0] else "; ".join(
            f"{side}: {_flag_text(v)}" for side, v, f in (("a", x, r["bimodal_a"][0]), ("b", y, r["bimodal_b"][0]))
            if f)
        lo, hi = min(float(r["low"][0]), out["diff"]), max(float(r["high"][0]), out["diff"])  # values vs k / n
        return out | {"ci_low": lo, "ci_high": hi, "test": test,
                      "p_value": _inverted_p(ca, cb, paired, out["diff"]), "df": float(r["df"][0]), "flag": flag}
    q, se, df = spread.t_test(x[None], y[None], paired, confidence)
    diff, se, df = out["diff"], float(se[0]), float(df[0])
    if se > 0:
        half = float(q[0]) * se
        lo, hi, p = diff - half, diff + half, float(2.0 * t_dist.sf(abs(diff) / se, df))
    else:  # every seed gives the same difference: no spread to test against
        lo, hi, p = diff, diff, (1.0 if diff == 0 else 0.0)
    return out | {"ci_low": float(lo), "ci_high": float(hi), "p_value": p, "test": test, "df": df}


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
