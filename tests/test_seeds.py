"""Tests of the across-seed statistics (memgen.stats: seed_interval, seed_flag, seed_difference, verdict, holm, and
their batched machinery memgen.spread) on simulated cells with a known between-seed spread.

A simulated cell: per-seed true fractions p_s from a Beta with mean ``mu`` and SD ``sd`` (the training-seed spread)
or from a two-mode mixture (a seed copies with probability w), then k_s ~ Binomial(n, p_s) replicates among each
model's n samples, as memgen scores them. The regimes marked "demo" are the method of moments on the demo's cells
(benchmarks/seed_regimes.py, which benchmarks/seed_coverage.py measures at full scale). Every rng is seeded, so the
tests are deterministic; each bound states the simulation error it allows.
"""

import numpy as np
import pytest

from memgen import spread
from memgen.errors import MemgenError
from memgen.stats import holm, seed_difference, seed_flag, seed_interval, verdict, wilson_interval

N_SAMPLES = 256
CELLS = 3000  # simulated cells per regime: Monte-Carlo SE of a 95% coverage ~0.004


def beta_fractions(rng, mu: float, sd: float, size):
    """Per-seed true fractions with mean mu and SD sd (sd = 0: all equal mu)."""
    if sd == 0:
        return np.full(size, mu)
    c = mu * (1 - mu) / sd**2 - 1
    return rng.beta(mu * c, (1 - mu) * c, size=size)


def mixture_fractions(rng, w: float, size):
    """Seeds that copy (probability w) at 15% +- 3, the others at 1% +- 1 (the demo's held-out cell 0.0/1.6/15.6%),
    and which seeds copied."""
    copy = rng.random(size) < w
    return np.where(copy, beta_fractions(rng, 0.15, 0.03, size), beta_fractions(rng, 0.01, 0.01, size)), copy


def binomial(rng, p, n):
    n = np.broadcast_to(np.asarray(n, dtype=np.float64), p.shape)
    return rng.binomial(n.astype(np.int64), p).astype(np.float64), n


def lower_bound(rate: float, trials: int) -> float:
    """rate minus 3 Monte-Carlo standard errors of a share measured over ``trials`` cells."""
    return rate - 3 * np.sqrt(rate * (1 - rate) / trials)


# Regimes: the measured transition cell (49 / 60 / 86% at 3 seeds), a quiet mid cell, skewed cells near 0 and
# near 1, a very wide one, and cells with no between-seed spread at all (0% and 0.3% everywhere).
REGIMES = [(0.6, 0.15), (0.5, 0.05), (0.05, 0.03), (0.95, 0.03), (0.01, 0.005), (0.3, 0.2), (0.2, 0.0),
           (0.003, 0.0), (0.0, 0.0)]


@pytest.mark.parametrize("n_seeds", [3, 5])
@pytest.mark.parametrize("mu,sd", REGIMES)
def test_seed_interval_covers_the_true_mean(mu, sd, n_seeds):
    rng = np.random.default_rng([7, n_seeds, int(mu * 1000), int(sd * 1000)])
    k, n = binomial(rng, beta_fractions(rng, mu, sd, (CELLS, n_seeds)), N_SAMPLES)
    lo, hi, _ = spread.interval_bounds(k, n, 0.95)
    for i in range(0, CELLS, 500):  # the batch is seed_interval itself
        assert seed_interval(k[i] / n[i], k[i], n[i])[1:] == pytest.approx((lo[i], hi[i]))
    mean = (k / n).mean(1)
    assert np.all((lo <= mean) & (mean <= hi))
    coverage = np.mean((lo <= mu) & (mu <= hi))
    # Nominal 95%. Tolerance: >= 0.925, about 6 Monte-Carlo SEs below nominal (the full-scale coverage per regime is
    # in benchmarks/results/seed_coverage.json).
    assert coverage >= 0.925, coverage
    if sd >= 0.1:  # where the between-seed spread dominates, the floor must not make it grossly conservative
        assert coverage <= 0.985, coverage


# demo cells (mean, between-seed SD, samples per seed): dummies none, GM, disjoint split N = 16, classes majority
# (skewed: 0.0/2.3/3.9%), unconditional dummies' label 0 (13.4/46.4/67.2%): spreads a t-interval prices in.
ORDINARY = [(0.7813, 0.0577, 128), (0.2083, 0.0163, 128), (0.5755, 0.106, 128), (0.0208, 0.0151, 128),
            (0.4232, 0.2695, 175)]


@pytest.mark.parametrize("n_seeds", [3, 5])
@pytest.mark.parametrize("mu,sd,n", ORDINARY)
def test_demo_cells_hold_their_level(mu, sd, n, n_seeds):
    rng = np.random.default_rng([8, n_seeds, int(mu * 1e4)])
    k, n = binomial(rng, beta_fractions(rng, mu, sd, (CELLS, n_seeds)), n)
    lo, hi, flag = spread.interval_bounds(k, n, 0.95)
    assert np.mean((lo <= mu) & (mu <= hi)) >= lower_bound(0.93, CELLS)
    if 0.1 < mu < 0.9 and sd < 0.2:  # near-symmetric spreads are (almost) never taken for split ones
        assert flag.mean() <= 0.05, flag.mean()


# demo cells whose seeds split (method of moments: J- or U-shaped): held-out dummies 0.0/1.6/15.6%, the classes'
# minority 0.0/0.0/14.1%, width 16 at N = 4 70.3/94.5/97.7%, the unconditional label 1 0.0/28.1/79.7%.
SPLIT = [(0.0573, 0.0838), (0.0469, 0.0792), (0.875, 0.147), (0.3596, 0.4026)]


def _lookalike_beta(p, mu):
    """Cells whose seeds all stayed below half the mean (or above the midpoint of the mean and 1): a J-shaped cell
    that did not leave its spike, which no statistic can tell from a tight cell there."""
    return (p < mu / 2).all(1) | (p > (1 + mu) / 2).all(1)


@pytest.mark.parametrize("n_seeds", [3, 5])
@pytest.mark.parametrize("model", [*SPLIT, "mixture 0.2", "mixture 0.5"])
def test_split_cells_hold_their_level_except_look_alikes(model, n_seeds):
    """The level is out of reach here (at 3 seeds a cell that copies at one seed in five shows no copying seed
    half the time); what must hold: every cell that is not a look-alike is covered at 0.93, flagged or not."""
    rng = np.random.default_rng([9, n_seeds, hash(str(model)) % 1000])
    if isinstance(model, str):
        w = float(model.split()[1])
        p, copy = mixture_fractions(rng, w, (CELLS, n_seeds))
        mu, look = w * 0.15 + (1 - w) * 0.01, copy.all(1) | ~copy.any(1)
    else:
        mu = model[0]
        p = beta_fractions(rng, *model, (CELLS, n_seeds))
        look = _lookalike_beta(p, mu)
    k, n = binomial(rng, p, 128)
    lo, hi, flag = spread.interval_bounds(k, n, 0.95)
    hit = (lo <= mu) & (mu <= hi)
    assert hit[~look].mean() >= lower_bound(0.93, int((~look).sum())), (hit[~look].mean(), flag.mean())
    assert hit[flag].mean() >= lower_bound(0.95, int(flag.sum()))  # the distribution-free bound of a split cell


def _skewed_vs_tight(rng, pairs: int, n_seeds: int):
    """Null pairs: a = the held-out cell's regime (mean 5.73%, SD 8.38%), b = a cell of the same mean whose seeds
    agree; and whether a is a look-alike lower than its mean."""
    mu, sd = SPLIT[0]
    pa = beta_fractions(rng, mu, sd, (pairs, n_seeds))
    (ka, na), (kb, nb) = binomial(rng, pa, 128), binomial(rng, np.full((pairs, n_seeds), mu), 128)
    return ka, na, kb, nb, (pa < mu / 2).all(1)


def test_skewed_against_tight_null_keeps_its_level_or_is_flagged():
    """The issue's pattern (held-out vs GM: 'reversed'): the t-test alone claimed b > a 5% of the time even
    among pairs where a is no look-alike (13-15% in all), nearly all on that side. Through the public API,
    Welch at 3 seeds: a decided claim on either side at most 2.5% + 3 SE, look-alikes aside."""
    rng = np.random.default_rng(21)
    pairs = 1200
    ka, na, kb, nb, look = _skewed_vs_tight(rng, pairs, 3)
    up = down = 0
    for i in np.flatnonzero(~look):
        r = seed_difference(ka[i] / na[i], kb[i] / nb[i], False, (ka[i], na[i]), (kb[i], nb[i]))
        decided = not r["flag"]
        up += decided and r["ci_low"] > 0
        down += decided and r["ci_high"] < 0
    rest = int((~look).sum())
    bound = 0.025 + 3 * np.sqrt(0.025 * 0.975 / rest)
    assert up / rest <= bound and down / rest <= bound, (up / rest, down / rest, bound)


@pytest.mark.parametrize("paired", [True, False])
@pytest.mark.parametrize("n_seeds", [3, 5])
def test_skewed_against_tight_null_at_scale(paired, n_seeds):
    """The same null through the batch, 10^4 pairs: all decided false claims, and those outside look-alikes."""
    rng = np.random.default_rng([22, n_seeds, paired])
    ka, na, kb, nb, look = _skewed_vs_tight(rng, 10000, n_seeds)
    r = spread.difference_bounds(ka, na, kb, nb, paired, 0.95)
    up, down = r["decided"] & (r["low"] > 0), r["decided"] & (r["high"] < 0)
    rest = int((~look).sum())
    bound = 0.025 + 3 * np.sqrt(0.025 * 0.975 / rest)
    assert down.mean() <= bound
    if n_seeds == 3:  # at 5 seeds the spike holds seeds that are no look-alikes by this test's definition
        assert up[~look].mean() <= bound, up[~look].mean()
    # what is left, look-alikes mostly (the t-test alone: 0.13-0.15 at 3 seeds, 0.14-0.17 at 5; see the README)
    assert up.mean() <= (0.09 if n_seeds == 3 else 0.11), up.mean()


def test_seed_interval_never_narrower_than_pooled_wilson():
    k, n = np.array([0, 0, 0]), np.array([256, 256, 256])
    mean, lo, hi = seed_interval(k / n, k, n)
    w_lo, w_hi = wilson_interval(0, 768)
    assert mean == 0.0 and lo == 0.0 and hi == pytest.approx(w_hi) and hi > 0
    k = np.array([128, 128, 128])  # identical seeds at 50%: sd 0, the pooled interval remains
    mean, lo, hi = seed_interval(k / n, k, n)
    assert (lo, hi) == pytest.approx(wilson_interval(384, 768))
    mean, lo, hi = seed_interval([0.49, 0.60, 0.86], [125, 154, 220], n)  # the README's cell: spread dominates
    assert hi - lo > 0.5 and lo >= 0.0 and hi <= 1.0
    w_lo, w_hi = wilson_interval(499, 768)
    assert lo < w_lo and hi > w_hi


def test_seed_interval_without_counts_is_the_t_interval():
    from scipy import stats

    x = np.array([0.2, 0.5, 0.4, 0.9])
    mean, lo, hi = seed_interval(x)
    half = stats.t.ppf(0.975, 3) * x.std(ddof=1) / 2
    assert (mean, lo, hi) == pytest.approx((x.mean(), x.mean() - half, x.mean() + half))
    assert np.isnan(seed_interval([0.3])[1]) and np.isnan(seed_interval([])[0])
    with pytest.raises(MemgenError, match="one entry per seed"):
        seed_interval([0.1, 0.2], [1, 2, 3], [10, 10, 10])
    with pytest.raises(MemgenError, match="finite"):
        seed_interval([0.1, np.nan])
    with pytest.raises(MemgenError, match="0 <= k <= n"):
        seed_interval([0.1, 0.2], [5, 300], [256, 256])


def _counts(percent, n=128):
    k = np.rint(np.asarray(percent, dtype=np.float64) / 100 * n)
    return k / n, k, np.full(k.shape, float(n))


def test_seed_flag():
    # the demo's split cells: most seeds at a boundary and one far off, beyond binomial noise
    for cell in ([0.0, 1.6, 15.6], [0.0, 0.0, 14.1], [70.3, 94.5, 97.7], [0.0, 28.1, 79.7]):
        assert seed_flag(*_counts(cell)).startswith("seed spread bimodal ("), cell
    assert seed_flag(*_counts([0.0, 1.6, 15.6])) == "seed spread bimodal (0.0/1.6/15.6%): more seeds needed"
    # wide but unimodal, tight, all zero, binomial noise alone (0 / 1 / 3 of 128), one seed, no counts
    for cell in ([73.4, 75.0, 85.9], [17.2, 20.3, 25.0], [0.0, 0.0, 0.0], [0.0, 0.8, 2.3], [49.0, 60.0, 86.0]):
        assert seed_flag(*_counts(cell)) == "", cell
    assert seed_flag(*_counts([14.1])) == "" and seed_flag([0.0, 0.0, 0.141]) == ""
    # the same split with unequal sample counts, and at 5 seeds
    assert seed_flag([0.0, 0.0, 0.14], [0, 0, 27], [64, 200, 192]) != ""
    assert seed_flag(*_counts([0.0, 0.8, 0.0, 1.6, 17.2])) != "" and seed_flag(*_counts([20, 22, 19, 25, 21])) == ""
    # its parts: the chi-square test of one fraction for all seeds, and the shape of the moment-matched Beta
    k, n = np.array([[0.0, 0.0, 18.0], [10.0, 12.0, 11.0]]), np.full((2, 3), 128.0)
    assert spread.heterogeneity_p(k, n)[0] < 1e-6 and spread.heterogeneity_p(k, n)[1] > 0.5
    from scipy.stats import chi2_contingency

    table = np.stack([k[0], n[0] - k[0]])
    assert spread.heterogeneity_p(k, n)[0] == pytest.approx(chi2_contingency(table, correction=False).pvalue)
    assert spread.beta_shape(k, n)[0] < 1 and spread.beta_shape(k, n)[1] == np.inf


def test_free_bounds_hold_for_any_spread():
    """The bound for a split cell holds whatever the distribution of the seeds, a two-point one included."""
    rng = np.random.default_rng(31)
    for w, seeds in ((0.05, 3), (0.3, 3), (0.7, 5)):
        p = np.where(rng.random((4000, seeds)) < w, 0.9, 0.0)
        k, n = binomial(rng, p, 128)
        lo, hi = spread.free_bounds(k, n, 0.95)
        assert np.mean((lo <= 0.9 * w) & (0.9 * w <= hi)) >= lower_bound(0.95, 4000)


def _planted(rng, mu_a, mu_b, sd, n_seeds, common_sd=0.0, trials=2000):
    """Per-seed fractions of two cells: a seed effect on the logit scale shared by both cells (common_sd) plus
    each cell's own spread (sd), then binomial samples. Returns ka, na, kb, nb [trials, n_seeds]."""
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    shared = rng.normal(0, common_sd, size=(trials, n_seeds))
    pa = 1 / (1 + np.exp(-(logit(mu_a) + shared + rng.normal(0, sd, (trials, n_seeds)))))
    pb = 1 / (1 + np.exp(-(logit(mu_b) + shared + rng.normal(0, sd, (trials, n_seeds)))))
    return (*binomial(rng, pa, N_SAMPLES), *binomial(rng, pb, N_SAMPLES))


def _decided(r, side=0):
    """Decided (unflagged) intervals excluding 0: above (side +1), below (-1) or either (0)."""
    out = {1: r["low"] > 0, -1: r["high"] < 0, 0: (r["low"] > 0) | (r["high"] < 0)}[side]
    return r["decided"] & out


@pytest.mark.parametrize("paired", [True, False])
def test_difference_type_one_error_near_nominal(paired):
    rng = np.random.default_rng(11)
    ka, na, kb, nb = _planted(rng, 0.4, 0.4, 0.5, 5)
    r = spread.difference_bounds(ka, na, kb, nb, paired, 0.95)
    for i in range(0, 2000, 400):  # the batch is seed_difference itself
        s = seed_difference(ka[i] / na[i], kb[i] / nb[i], paired, (ka[i], na[i]), (kb[i], nb[i]))
        assert (s["ci_low"], s["ci_high"]) == pytest.approx((r["low"][i], r["high"][i]))
    rate = _decided(r).mean()
    # Nominal 5%; the floor and MOVER can only make it rarer. Tolerance: in [0.02, 0.07] over 2000 null pairs.
    assert 0.02 <= rate <= 0.07, rate


@pytest.mark.parametrize("paired", [True, False])
def test_difference_power_on_a_planted_difference(paired):
    # 40% vs 60% replicates with a seed spread of 0.3 on the logit scale (about +-7 points), 5 seeds each, nothing
    # shared: most such differences must be found (Welch keeps more df than the paired test here).
    rng = np.random.default_rng(12)
    r = spread.difference_bounds(*_planted(rng, 0.4, 0.6, 0.3, 5, trials=500), paired, 0.95)
    assert _decided(r, 1).mean() >= (0.75 if paired else 0.85)


def test_paired_beats_welch_under_a_shared_seed_effect():
    # The same simulated pairs for both tests: a strong seed effect common to both cells (logit SD 1.5) hides a
    # modest difference (logit 0.4 -> 0.7 replicate fraction 0.4 vs ~0.5) from Welch, not from the paired test.
    # Such a seed effect spreads each cell's seeds over 10-85%, which seed_flag calls split in about half the
    # pairs (their comparisons then rest on the distribution-free bounds); among the others the paired test must
    # find most differences and at least twice as many as Welch.
    rng = np.random.default_rng(13)
    counts = _planted(rng, 0.4, 0.5, 0.05, 5, common_sd=1.5, trials=500)
    p, w = (spread.difference_bounds(*counts, paired, 0.95) for paired in (True, False))
    assert np.allclose(p["diff"], w["diff"])
    whole = ~(p["bimodal_a"] | p["bimodal_b"])
    paired, welch = _decided(p, 1)[whole].sum(), _decided(w, 1)[whole].sum()
    assert whole.sum() >= 150 and paired >= 0.5 * whole.sum() and paired >= 2 * welch, (whole.sum(), paired, welch)


def test_difference_details():
    from scipy import stats

    a, b = np.array([0.1, 0.2, 0.4]), np.array([0.5, 0.3, 0.9])
    r = seed_difference(a, b, paired=True)
    ref = stats.ttest_rel(b, a)
    assert r["p_value"] == pytest.approx(ref.pvalue) and r["diff"] == pytest.approx(0.3333333333)
    assert r["flag"] == "" and r["test"] == "paired t"
    r = seed_difference(a, b, paired=False)
    assert r["p_value"] == pytest.approx(stats.ttest_ind(b, a, equal_var=False).pvalue)
    zero = np.zeros(3), (np.zeros(3), np.full(3, 256))
    r = seed_difference(zero[0], zero[0], True, zero[1], zero[1])  # 0% everywhere twice: pooled floor
    assert r["diff"] == 0 and r["ci_low"] < 0 < r["ci_high"] and r["p_value"] == 1.0
    assert seed_difference([0.1], [0.2, 0.3], False)["test"] == "none"
    with pytest.raises(MemgenError, match="aligned by seed"):
        seed_difference([0.1, 0.2], [0.2, 0.3, 0.4], True)


def test_difference_p_value_is_the_one_its_interval_inverts():
    cases = [([73.4, 75.0, 85.9], [17.2, 20.3, 25.0], True), ([17.2, 20.3, 25.0], [15.6, 16.4, 18.8], True),
             ([0.0, 0.0, 0.0], [1.6, 0.0, 0.8], False), ([40, 45, 52, 38, 47], [55, 49, 61, 58, 52], False)]
    for a, b, paired in cases:
        (x, ka, na), (y, kb, nb) = _counts(a), _counts(b)
        p = seed_difference(x, y, paired, (ka, na), (kb, nb))["p_value"]
        assert 0 < p < 1
        for conf, excludes in ((1 - 0.97 * p, False), (1 - 1.03 * p, True)):
            r = seed_difference(x, y, paired, (ka, na), (kb, nb), confidence=conf)
            assert (r["ci_low"] > 0 or r["ci_high"] < 0) == excludes, (a, b, conf)


def test_difference_flag_of_a_split_cell():
    none, gm, held = _counts([73.4, 75.0, 85.9]), _counts([17.2, 20.3, 25.0]), _counts([0.0, 1.6, 15.6])
    r = seed_difference(gm[0], held[0], True, gm[1:], held[1:])  # the "held-out vs GM: reversed"
    assert r["flag"] == "b: seed spread bimodal (0.0/1.6/15.6%): more seeds needed"
    assert r["ci_low"] < 0 < r["ci_high"] and verdict(r["ci_low"], r["ci_high"], 1, 3).startswith("unresolved")
    r = seed_difference(held[0], gm[0], True, held[1:], gm[1:])
    assert r["flag"].startswith("a: seed spread bimodal")
    both = seed_difference(held[0], held[0], False, held[1:], held[1:])["flag"]
    assert both.startswith("a: seed spread bimodal") and "; b: seed spread bimodal" in both
    # a split cell far from the other is decided by its distribution-free bound: at 5 seeds 0-20% against 95%
    far, split = _counts([95.3, 96.1, 94.5, 97.7, 96.9]), _counts([0.0, 0.8, 0.0, 1.6, 17.2])
    r = seed_difference(far[0], split[0], False, far[1:], split[1:])
    assert seed_flag(*split) != "" and r["flag"] == "" and r["ci_high"] < 0
    # not at 3 seeds against the demo's cell without dummies: 0.71 of a 3-seed cell may hide anywhere
    assert seed_difference(none[0], held[0], True, none[1:], held[1:])["flag"] != ""


def test_verdict_and_holm():
    assert verdict(0.01, 0.2, 1, 3) == "supported" and verdict(0.01, 0.2, -1, 3) == "reversed"
    assert verdict(-0.2, -0.01, -1, 3) == "supported" and verdict(-0.1, 0.1, 1, 3) == "unresolved at 3 seeds"
    assert verdict(np.nan, np.nan, 1, 1) == "unresolved at 1 seeds"
    with pytest.raises(MemgenError, match="expected"):
        verdict(0.1, 0.2, 0, 3)
    adj = holm([0.01, 0.04, np.nan, 0.03])
    assert adj[0] == pytest.approx(0.03) and np.isnan(adj[2])
    assert adj[3] == pytest.approx(0.06) and adj[1] == pytest.approx(0.06)  # monotone in the p order
