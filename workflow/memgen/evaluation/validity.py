"""Validity of procedural samples: does an image obey the closed-form rules of the distribution it imitates?

One vectorized test per kind with a rule, uint8 ``[N, S, S, 3]`` in, bool ``[N]`` out; ``validity`` dispatches by
kind and returns None for kinds without a rule. The rules are those of ``memgen.data.synthetic`` (Yoon et al. 2023,
Sec. 3.2-3.3 and Appendix B); the tolerances below are named constants measured in ``docs/evaluation.md``.

- Mondrian: ``memgen.evaluation.mondrian`` (the located cross, flat quadrants, a noisy cross of thickness t).
- Random Ink: almost every value near 0 or 255, about half of them 255.
- Gaussian mixture: for the nearest of the mixture's means, the squared distance and the number of clipped values
  are what clipped noise of sigma 0.5 gives (closed-form moments of the clipped, rounded normal per value; two-sided
  z bounds). The distance alone would pass 86% of smooth photograph-like fields at S=16: a mid-grey image is as close
  to a uniform-random mean as a sigma-0.5 sample is.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from memgen.data.synthetic import gm_means
from memgen.errors import MemgenError
from memgen.runtime import check_images
from memgen.evaluation.mondrian import mondrian_valid

# ---- Random Ink: a value is "ink" when within INK_DELTA of 0 or 255 (model samples are not exactly binary).
INK_DELTA = 32  # levels; an eighth of the range
INK_FRACTION_MIN = 0.95  # share of values that must be ink
INK_BALANCE_Z = 5.0  # |share of 255 - 1/2| <= Z * 0.5 / sqrt(#values): a 5-sigma binomial band (fresh fail ~6e-7)

# ---- Gaussian mixture: two-sided bounds on the squared distance to the nearest mean and on the clipped-value count.
GM_SIGMA = 0.5  # the generator's noise std on the [0, 1] scale (Appendix B)
GM_SAT_DELTA = 2  # levels: a value this close to 0 or 255 counts as clipped (model outputs are clipped, then rounded)
GM_Z = 4.0  # |d^2 - E| <= Z sd with E, sd of the clipped, quantized sample (~normal: fresh fail ~6e-5)


# ------------------------------------------------------------------------------------------------ Random Ink
def random_ink_valid(images: np.ndarray) -> np.ndarray:
    """bool ``[N]``: >= INK_FRACTION_MIN of values within INK_DELTA of 0 or 255, and the share of values near
    255 (among all) within INK_BALANCE_Z binomial standard deviations of 1/2."""
    images = check_images("images", images, allow_empty=True)
    flat = images.reshape(images.shape[0], -1)
    low, high = flat <= INK_DELTA, flat >= 255 - INK_DELTA
    ink = (low | high).mean(1)
    balance = np.abs(high.mean(1) - 0.5) <= INK_BALANCE_Z * 0.5 / np.sqrt(max(flat.shape[1], 1))
    return (ink >= INK_FRACTION_MIN) & balance


# ------------------------------------------------------------------------------------------ Gaussian mixture
def clipped_sq_error_moments(mu: np.ndarray, sigma: float = GM_SIGMA) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of ``(Y - mu)^2`` per value for ``Y = round(255 clip(mu + sigma Z, 0, 1)) / 255``.

    Closed form of the clipped normal (mass ``Phi(a)`` at 0, ``1 - Phi(b)`` at 1, ``a = -mu/sigma``,
    ``b = (1-mu)/sigma``), with the rounding to uint8 added as independent uniform error of variance
    ``1/(12 * 255^2)`` on the unclipped part (an approximation good to ~1e-6 relative, checked by Monte Carlo).
    """
    mu = np.asarray(mu, dtype=np.float64)
    a, b = -mu / sigma, (1.0 - mu) / sigma
    pa, pb, fa, fb = norm.cdf(a), norm.sf(b), norm.pdf(a), norm.pdf(b)
    m2 = (1.0 - pa - pb) - (b * fb - a * fa)  # int_a^b z^2 phi(z) dz
    m4 = 3.0 * m2 - (b**3 * fb - a**3 * fa)  # int_a^b z^4 phi(z) dz
    q = 1.0 / (12.0 * 255.0**2)  # rounding variance
    inside = 1.0 - pa - pb
    e2 = sigma**2 * m2 + q * inside + mu**2 * pa + (1.0 - mu) ** 2 * pb
    e4 = sigma**4 * m4 + 6.0 * sigma**2 * m2 * q + 1.8 * q**2 * inside + mu**4 * pa + (1.0 - mu) ** 4 * pb
    return e2, e4 - e2**2


def gm_distance_moments(means: np.ndarray, sigma: float = GM_SIGMA) -> tuple[np.ndarray, np.ndarray]:
    """float64 ``[K]`` each: mean and std of the squared distance ([0, 1] scale, summed over the S*S*3 values)
    of a GM sample to its own mean k, from the per-value moments of ``clipped_sq_error_moments``."""
    flat = np.asarray(means, dtype=np.float64).reshape(len(means), -1)
    e, v = clipped_sq_error_moments(flat, sigma)
    return e.sum(1), np.sqrt(v.sum(1))


def gm_nearest_mean(images: np.ndarray, means: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest mean of each image: (index int64 ``[N]``, squared distance float64 ``[N]``, [0, 1] scale).

    images uint8 ``[N, S, S, 3]``; means float ``[K, S, S, 3]`` in [0, 1]. Blocks of 1024 images.
    """
    images = check_images("images", images, allow_empty=True)
    means = np.asarray(means, dtype=np.float64)
    if means.ndim != 4 or means.shape[1:] != images.shape[1:]:
        raise MemgenError(f"means {means.shape} must be [K, H, W, 3] matching images {images.shape}")
    m = means.reshape(means.shape[0], -1)
    mm = (m * m).sum(1)
    idx, d2 = np.empty(images.shape[0], np.int64), np.empty(images.shape[0])
    for s in range(0, images.shape[0], 1024):
        x = images[s : s + 1024].reshape(-1, m.shape[1]) / 255.0
        d = (x * x).sum(1)[:, None] + mm[None, :] - 2.0 * x @ m.T
        idx[s : s + 1024] = d.argmin(1)
        d2[s : s + 1024] = np.maximum(d.min(1), 0.0)
    return idx, d2


def gm_saturation_moments(means: np.ndarray, sigma: float = GM_SIGMA, delta: int = GM_SAT_DELTA):
    """float64 ``[K]`` each: mean and std of the number of values within ``delta`` levels of 0 or 255 in a GM
    sample of mean k: a sum of independent Bernoulli(p_j), ``p_j = Phi((c - mu_j)/sigma) + Phi((mu_j - 1 + c)/sigma)``
    with ``c = (delta + 0.5) / 255`` (exact for the clipped normal rounded to uint8)."""
    mu = np.asarray(means, dtype=np.float64).reshape(len(means), -1)
    c = (delta + 0.5) / 255.0
    p = norm.cdf((c - mu) / sigma) + norm.cdf((mu - 1.0 + c) / sigma)
    return p.sum(1), np.sqrt((p * (1.0 - p)).sum(1))


def gm_valid(images: np.ndarray, means: np.ndarray, z: float = GM_Z) -> np.ndarray:
    """bool ``[N]``, both two-sided z bounds met for the nearest mean k (by L2):

    - the squared distance to mean k lies within ``E_k +- z sd_k`` (``gm_distance_moments``);
    - the number of saturated values (within GM_SAT_DELTA of 0 or 255) lies within ``z`` standard deviations of
      its expectation (``gm_saturation_moments``): the clipping signature of sigma-0.5 noise, which the distance
      alone misses (smooth mid-grey fields sit at the expected distance from a uniform-random mean).
    """
    idx, d2 = gm_nearest_mean(images, means)
    e, sd = gm_distance_moments(means)
    flat = images.reshape(images.shape[0], -1)
    sat = ((flat <= GM_SAT_DELTA) | (flat >= 255 - GM_SAT_DELTA)).sum(1)
    e_sat, sd_sat = gm_saturation_moments(means)
    return (np.abs(d2 - e[idx]) <= z * sd[idx]) & (np.abs(sat - e_sat[idx]) <= z * sd_sat[idx])


# ------------------------------------------------------------------------------------------------ dispatcher
def _gm_rule(images: np.ndarray, means=None, seed=None, **_unused) -> np.ndarray:
    if means is None:
        if seed is None:
            raise MemgenError("validity of 'gm' needs means= (gm_means array) or seed= (the GM seed)")
        means = gm_means(seed, images.shape[1])
    return gm_valid(images, means)


RULES = {
    "mondrian": lambda images, **_: mondrian_valid(images),
    "random_ink": lambda images, **_: random_ink_valid(images),
    "gm": _gm_rule,
}


def has_rule(kind: str) -> bool:
    """Whether ``kind`` has a closed-form validity rule (mondrian, random_ink, gm)."""
    return kind in RULES


def validity(kind: str, images: np.ndarray, **context) -> np.ndarray | None:
    """bool ``[N]`` from the rule of ``kind``, or None when the kind has no closed-form rule (shapes, cifar:*,
    folder:*, hybrid, heldout, ...). Context: ``gm`` needs ``means=`` (float ``[K,S,S,3]``) or ``seed=``
    (the GM dummies of a training set built with seed s use ``dummy_seed(s)``)."""
    rule = RULES.get(kind)
    return None if rule is None else rule(check_images("images", images, allow_empty=True), **context)
