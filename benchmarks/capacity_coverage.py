"""Coverage of memgen's memorization-capacity interval on simulated seeds (not a speed benchmark: the measurement
behind memgen.analysis.capacity.capacity_across_seeds).

Usage (from the repository root):
    PYTHONPATH=workflow .venv/bin/python benchmarks/capacity_coverage.py --out benchmarks/results/capacity_coverage.json

Simulated study: seed s replicates with probability sigmoid(logit(0.9) - slope * (log N - log C_s)) at each size N
of a geometric grid, k ~ Binomial(n_samples, p); log C_s ~ Normal(log 100, tau), or, in the bimodal regimes, a
mixture: with probability q a seed's capacity is 4x larger (it keeps copying where the others have stopped).
The target is Definition 3.1's capacity (Yoon et al. 2023): the size where the SEED-AVERAGED curve
m(N) = E_s[p_s(N)] crosses 0.9, computed by quadrature over the seed distribution and a root search in log N.
Reported per regime: coverage of that capacity by [ci_low, ci_high) (a NaN bound is open), the share of
intervals open on either side, the median of ci_high / ci_low where both are finite, and the share of studies
whose estimate's bracket holds the target (the grid's own resolution).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit

from memgen import io
from memgen.analysis.capacity import capacity_across_seeds

LEVEL = 0.9
# (name, tau, slope, q: share of seeds whose capacity is 4x larger, grid factor)
REGIMES = [("alike", 0.05, 3.0, 0.0, 2), ("spread", 0.3, 3.0, 0.0, 2), ("cliff", 0.3, 20.0, 0.0, 2),
           ("bimodal q=0.2", 0.05, 3.0, 0.2, 2), ("bimodal q=0.5", 0.05, 3.0, 0.5, 2),
           ("spread, factor-4 grid", 0.3, 3.0, 0.0, 4), ("cliff, factor-4 grid", 0.3, 20.0, 0.0, 4)]
NODES, WEIGHTS = np.polynomial.hermite_e.hermegauss(64)  # E[f(Z)], Z ~ N(0, 1) = sum(w f(x)) / sqrt(2 pi)


def seed_mean(log_n: float, tau: float, slope: float, q: float) -> float:
    """m(N) = E_s[p_s(N)] over the seed distribution of the module docstring."""
    def mean_at(centre: float) -> float:
        p = expit(np.log(9) - slope * (log_n - centre - tau * NODES))
        return float((WEIGHTS * p).sum() / np.sqrt(2 * np.pi))
    return (1 - q) * mean_at(np.log(100)) + q * mean_at(np.log(400))


def true_capacity(tau: float, slope: float, q: float) -> float:
    return float(np.exp(brentq(lambda x: seed_mean(x, tau, slope, q) - LEVEL, np.log(1.0), np.log(1e6))))


def simulate(rng, n_seeds: int, tau: float, slope: float, q: float, sizes, n_samples: int) -> pd.DataFrame:
    rows = []
    for s in range(n_seeds):
        log_c = np.log(400 if rng.random() < q else 100) + tau * rng.normal()
        p = expit(np.log(9) - slope * (np.log(sizes) - log_c))
        for size, k in zip(sizes, rng.binomial(n_samples, p)):
            rows.append(dict(width=16, size=int(size), seed=s, n_samples=n_samples, n_replicates=int(k),
                             replicate_fraction=k / n_samples))
    return pd.DataFrame(rows)


def regime_row(name, tau, slope, q, factor, n_seeds, studies, n_samples) -> dict:
    sizes = np.array([8 * factor**i for i in range(int(np.log(2048 / 8) / np.log(factor)) + 1)], dtype=float)
    target = true_capacity(tau, slope, q)
    rng = np.random.default_rng([29, n_seeds, int(tau * 100), int(slope), int(q * 10), factor])
    cover = bracket = open_side = 0
    ratios, estimates = [], []
    for _ in range(studies):
        r = capacity_across_seeds(simulate(rng, n_seeds, tau, slope, q, sizes, n_samples), LEVEL)[0].iloc[0]
        lo = -np.inf if np.isnan(r.ci_low) else r.ci_low
        hi = np.inf if np.isnan(r.ci_high) else r.ci_high
        cover += lo <= target < hi
        open_side += not (np.isfinite(lo) and np.isfinite(hi))
        if np.isfinite(lo) and np.isfinite(hi):
            ratios.append(hi / lo)
        b_lo = -np.inf if np.isnan(r.bracket_low) else r.bracket_low
        b_hi = np.inf if np.isnan(r.bracket_high) else r.bracket_high
        bracket += b_lo <= target < b_hi
        estimates.append(r.capacity)
    return {"regime": name, "tau": tau, "slope": slope, "q": q, "grid_factor": factor, "n_seeds": n_seeds,
            "n_samples": n_samples, "target": round(target, 2), "coverage": cover / studies,
            "open": open_side / studies, "median_ratio": float(np.median(ratios)) if ratios else float("nan"),
            "bracket_holds_target": bracket / studies,
            "median_estimate": float(np.median(estimates))}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--studies", type=int, default=1000, help="simulated capacity studies per regime and seeds")
    ap.add_argument("--samples", type=int, default=128, help="samples per model (the demo draws 128)")
    ap.add_argument("--out", required=True, help="JSON result")
    args = ap.parse_args(argv)
    start = time.time()
    rows = [regime_row(*regime, n_seeds, args.studies, args.samples) for n_seeds in (3, 5) for regime in REGIMES]
    pd.set_option("display.width", 200)
    print(pd.DataFrame(rows).to_string(index=False))
    io.write_json(args.out, {"studies": args.studies, "n_samples": args.samples, "level": LEVEL,
                             "numpy": np.__version__, "python": sys.version.split()[0],
                             "seconds": round(time.time() - start, 1), "regimes": rows})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
