"""Coverage of the across-seed intervals on simulated cells with a known spread (not a speed benchmark: the
measurement behind the method choices of memgen.stats.seed_interval and memgen.analysis.capacity.capacity_across_seeds).

Usage (from the repository root):
    PYTHONPATH=workflow .venv/bin/python benchmarks/seed_coverage.py --out benchmarks/results/seed_coverage.json

Cells: per-seed true replicate fractions p_s ~ Beta(mean mu, SD sd), k_s ~ Binomial(256, p_s). For each regime and
number of seeds, the share of simulated cells whose 95% interval covers mu, for four intervals: the percentile
bootstrap over seeds, Student's t on the raw fractions, t on the angular scale asin(sqrt(p)), and memgen's
(angular t united with the pooled Wilson interval). Capacity: seeds cross 90% at C_s, log C_s ~ Normal(log 100,
tau), on a factor-2 grid of sizes with a logistic curve of slope 3 per unit log N; coverage of 100 and the median
ratio high / low for the seeds' crossings alone and for memgen's interval (brackets and pooled bootstrap floors).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd
from scipy.stats import t as t_dist

from memgen import io
from memgen.analysis.capacity import capacity_across_seeds
from memgen.stats import seed_interval

N = 256
REGIMES = [(0.6, 0.15), (0.5, 0.05), (0.05, 0.03), (0.95, 0.03), (0.01, 0.005), (0.3, 0.2), (0.1, 0.08),
           (0.2, 0.0), (0.003, 0.0)]


def beta(rng, mu, sd, size):
    if sd == 0:
        return np.full(size, mu)
    c = mu * (1 - mu) / sd**2 - 1
    return rng.beta(mu * c, (1 - mu) * c, size=size)


def t_interval(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise t-interval of ``y`` ``[C, S]``."""
    s = y.shape[1]
    half = t_dist.ppf(0.975, s - 1) * y.std(axis=1, ddof=1) / np.sqrt(s)
    return y.mean(1) - half, y.mean(1) + half


def fraction_rows(cells: int, boot: int) -> list[dict]:
    rows = []
    for n_seeds in (3, 5):
        for mu, sd in REGIMES:
            rng = np.random.default_rng([17, n_seeds, int(mu * 1000), int(sd * 1000)])
            k = rng.binomial(N, beta(rng, mu, sd, (cells, n_seeds)))
            x = k / N
            idx = rng.integers(0, n_seeds, size=(boot, n_seeds))
            b_lo, b_hi = np.concatenate([np.percentile(x[c:c + 500][:, idx].mean(-1), [2.5, 97.5], axis=1)
                                         for c in range(0, cells, 500)], axis=1)  # [C, boot] in blocks of cells
            r_lo, r_hi = t_interval(x)
            a_lo, a_hi = (np.sin(np.clip(v, 0, np.pi / 2)) ** 2 for v in t_interval(np.arcsin(np.sqrt(x))))
            memgen = np.array([seed_interval(xi, ki, np.full(n_seeds, N))[1:] for xi, ki in zip(x, k)])
            cover = lambda lo, hi: float(np.mean((lo <= mu) & (mu <= hi)))  # noqa: E731
            rows.append({"n_seeds": n_seeds, "mu": mu, "sd": sd, "bootstrap": cover(b_lo, b_hi),
                         "t_raw": cover(r_lo, r_hi), "t_angular": cover(a_lo, a_hi),
                         "memgen": cover(memgen[:, 0], memgen[:, 1])})
    return rows


def capacity_rows(studies: int) -> list[dict]:
    sizes = [8 * 2**i for i in range(9)]
    rows = []
    for tau, n_seeds in ((0.3, 3), (0.3, 5), (0.05, 3), (0.05, 5)):
        rng = np.random.default_rng([23, n_seeds, int(tau * 100)])
        hit_s = hit_m = 0
        ratio_s, ratio_m = [], []
        for i in range(studies):
            recs = []
            for s in range(n_seeds):
                log_c = np.log(100) + tau * rng.normal()
                for size in sizes:
                    k = rng.binomial(N, 1 / (1 + np.exp(-(np.log(9) - 3.0 * (np.log(size) - log_c)))))
                    recs.append(dict(width=16, size=size, seed=s, replicate_fraction=k / N, n_samples=N,
                                     n_replicates=k))
            r = capacity_across_seeds(pd.DataFrame(recs), n_boot=200, seed=i)[0].iloc[0]
            hit_s += r.seed_ci_low <= 100 <= r.seed_ci_high
            hit_m += r.ci_low <= 100 <= r.ci_high
            ratio_s.append(r.seed_ci_high / r.seed_ci_low)
            ratio_m.append(r.ci_high / r.ci_low)
        rows.append({"n_seeds": n_seeds, "tau": tau, "seed_crossings": hit_s / studies, "memgen": hit_m / studies,
                     "ratio_seed_crossings": float(np.median(ratio_s)), "ratio_memgen": float(np.median(ratio_m))})
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=10000, help="simulated cells per regime and number of seeds")
    ap.add_argument("--boot", type=int, default=2000, help="bootstrap resamples per cell (percentile bootstrap)")
    ap.add_argument("--studies", type=int, default=300, help="simulated capacity studies per setting")
    ap.add_argument("--out", required=True, help="JSON result")
    args = ap.parse_args(argv)
    start = time.time()
    fractions, capacity = fraction_rows(args.cells, args.boot), capacity_rows(args.studies)
    pd.set_option("display.width", 200)
    print(pd.DataFrame(fractions).to_string(index=False))
    print(pd.DataFrame(capacity).to_string(index=False))
    io.write_json(args.out, {"cells": args.cells, "boot": args.boot, "studies": args.studies, "n_samples": N,
                             "numpy": np.__version__, "python": sys.version.split()[0],
                             "seconds": round(time.time() - start, 1), "fractions": fractions, "capacity": capacity})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
