"""Generating models of simulated cells for benchmarks/seed_coverage.py: how the true per-seed fractions of a cell
spread over training seeds, and how a cell's samples are drawn from them.

A model is a plain dict, written as such into the JSON:
- ``{"kind": "beta", "mean": m, "sd": s}``: p_s ~ Beta with mean m and SD s (s = 0: every seed at m);
- ``{"kind": "mixture", "w": w, "copy": [m1, s1], "quiet": [m0, s0]}``: each seed copies with probability w and
  then draws p_s ~ Beta(m1, s1), else Beta(m0, s0);
and ``n`` per seed: a number, or ``[lo, hi]`` for counts drawn uniformly from lo..hi per seed and cell.
k_s ~ Binomial(n_s, p_s). Two cells of a comparison are coupled by a Gaussian copula of correlation rho on
both the mode choice and the quantile within it (rho = 0.5 for paired cells: a seed's shared base images make
its two cells move together; 0 for Welch), so each cell keeps its own marginal and a null has equal means exactly.

`demo_regimes`: the method of moments on the demo's committed across_seeds tables (3 seeds per cell): the three
per-seed values of an outcome follow from its min, max and mean; m = their mean, s^2 = their variance minus the
mean binomial variance x (1 - x) / (n - 1) (floored at 0).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import beta as beta_dist
from scipy.stats import norm

from memgen.spread import wilson_bounds, z_value

OUTCOMES = ("replicate", "partial_copy", "novel_valid", "invalid")
CELL_KEYS = ("study", "width", "size", "dummy", "label", "exposure", "steps")


def beta_params(mean: float, sd: float) -> tuple[float, float]:
    c = mean * (1.0 - mean) / sd**2 - 1.0
    return mean * c, (1.0 - mean) * c


def _beta_ppf(u, mean: float, sd: float):
    if sd == 0 or mean in (0.0, 1.0):
        return np.full(u.shape, mean)
    return beta_dist.ppf(u, *beta_params(mean, sd))


def model_mean(model: dict) -> float:
    if model["kind"] == "beta":
        return model["mean"]
    return model["w"] * model["copy"][0] + (1.0 - model["w"]) * model["quiet"][0]


def _fractions(model: dict, u_mode, u_value):
    """True per-seed fractions and whether each seed copied (mixtures; all False for Beta models)."""
    if model["kind"] == "beta":
        return _beta_ppf(u_value, model["mean"], model["sd"]), np.zeros(u_value.shape, dtype=bool)
    copy = u_mode < model["w"]
    return np.where(copy, _beta_ppf(u_value, *model["copy"]), _beta_ppf(u_value, *model["quiet"])), copy


def _trials(rng, n, shape):
    if isinstance(n, (list, tuple)):
        return rng.integers(n[0], n[1] + 1, size=shape).astype(np.float64)
    return np.full(shape, float(n))


def draw_cells(rng, model: dict, n, cells: int, seeds: int) -> dict:
    """k, n ``[cells, seeds]`` of one model, with the latent ``copy`` ``[cells, seeds]``."""
    out = draw_pairs(rng, model, model, n, cells, seeds, 0.0)
    return {"k": out["ka"], "n": out["na"], "p": out["p_a"], "copy": out["copy_a"]}


def draw_pairs(rng, model_a: dict, model_b: dict, n, cells: int, seeds: int, rho: float) -> dict:
    """Two coupled cells (see the module docstring): ka, na, kb, nb, and cell a's true fractions p_a and modes
    copy_a, all ``[cells, seeds]``."""
    z = rng.standard_normal((4, cells, seeds))
    mix = lambda x, y: rho * x + np.sqrt(1.0 - rho**2) * y  # noqa: E731
    pa, copy_a = _fractions(model_a, norm.cdf(z[0]), norm.cdf(z[1]))
    pb, _ = _fractions(model_b, norm.cdf(mix(z[0], z[2])), norm.cdf(mix(z[1], z[3])))
    na, nb = _trials(rng, n, (cells, seeds)), _trials(rng, n, (cells, seeds))
    return {"ka": rng.binomial(na.astype(np.int64), pa).astype(np.float64), "na": na,
            "kb": rng.binomial(nb.astype(np.int64), pb).astype(np.float64), "nb": nb, "p_a": pa, "copy_a": copy_a}


def demo_regimes(folder: Path) -> list[dict]:
    """One Beta model per distinct (mean, SD, n) among the demo's 3-seed cells and outcomes, with its sources."""
    found: dict[tuple, dict] = {}
    for path in sorted(folder.glob("*/across_seeds.parquet")):
        for _, r in pd.read_parquet(path).iterrows():
            for o in OUTCOMES:
                if r["n_seeds"] != 3 or pd.isna(r[f"mean_{o}"]):
                    continue
                lo, hi, mean = r[f"min_{o}"], r[f"max_{o}"], r[f"mean_{o}"]
                x = np.array([lo, 3 * mean - lo - hi, hi])
                n = int(round(r["n_samples"] / 3))
                sd = float(np.sqrt(max(x.var(ddof=1) - np.mean(x * (1 - x) / (n - 1)), 0.0)))
                key = (round(float(mean), 4), round(sd, 4), n)
                cell = ", ".join(f"{c}={r[c]}" for c in CELL_KEYS if c in r.index)
                entry = found.setdefault(key, {"model": {"kind": "beta", "mean": key[0], "sd": key[1]}, "n": n,
                                               "sources": []})
                entry["sources"].append(f"{cell}: {o} {'/'.join(f'{100 * v:.1f}' for v in x)}%")
    return list(found.values())


# -------------------------------------------------------- memgen before this change (commit c1b6f54), for contrast
def main_interval(k, n, confidence: float = 0.95):
    """seed_interval as it was: t (S - 1 df) on the angular scale united with the pooled Wilson interval."""
    from scipy.stats import t as t_dist

    y = np.arcsin(np.sqrt(k / n))
    half = t_dist.ppf(0.5 + confidence / 2, k.shape[1] - 1) * y.std(1, ddof=1) / np.sqrt(k.shape[1])
    back = lambda v: np.sin(np.clip(v, 0, np.pi / 2)) ** 2  # noqa: E731
    w_lo, w_hi = wilson_bounds(k.sum(1), n.sum(1), z_value(confidence))
    mean = (k / n).mean(1)
    return np.minimum.reduce([back(y.mean(1) - half), w_lo, mean]), np.maximum.reduce([back(y.mean(1) + half),
                                                                                        w_hi, mean])


def main_difference(ka, na, kb, nb, paired: bool, confidence: float = 0.95):
    """seed_difference as it was: the paired or Welch t-interval united with Newcombe's pooled interval."""
    from memgen.spread import newcombe_bounds, t_test

    x, y = ka / na, kb / nb
    q, se, _ = t_test(x, y, paired, confidence)
    d = y.mean(1) - x.mean(1)
    p_lo, p_hi = newcombe_bounds(ka, na, kb, nb, z_value(confidence))
    return np.maximum(np.minimum(d - q * se, p_lo), -1), np.minimum(np.maximum(d + q * se, p_hi), 1)


def bootstrap_interval(rng, x, boot: int, block: int = 500):
    """Percentile bootstrap over seeds of the mean of each row of x ``[C, S]`` (2.5 and 97.5 percentiles of
    ``boot`` resamples, in blocks of rows); the alternative seed_interval's docstring rejects."""
    idx = rng.integers(0, x.shape[1], size=(boot, x.shape[1]))
    return np.concatenate([np.percentile(x[c:c + block][:, idx].mean(-1), [2.5, 97.5], axis=1)
                           for c in range(0, len(x), block)], axis=1)


def raw_t_interval(x, confidence: float = 0.95):
    """Student's t over seeds on the raw fractions, no scale and no floor."""
    from memgen.spread import t_value

    half = t_value(confidence, x.shape[1] - 1) * x.std(1, ddof=1) / np.sqrt(x.shape[1])
    return x.mean(1) - half, x.mean(1) + half
