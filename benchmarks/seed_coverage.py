"""Level of the across-seed statistics on simulated cells with a known truth (not a speed benchmark: the
measurement behind the method of memgen.stats.seed_interval / seed_flag / seed_difference; the capacity interval's
coverage is benchmarks/capacity_coverage.py's).

Usage (from the repository root; about a minute of CPU at the defaults):
    PYTHONPATH=workflow nice -n 10 .venv/bin/python benchmarks/seed_coverage.py \
        --out benchmarks/results/seed_coverage.json

Generating models (benchmarks/seed_regimes.py; each row of the JSON states its own): per-seed true fractions from a
Beta or a two-mode mixture, k ~ Binomial(n, p) per seed. Regime sets:
- ``demo``: the method of moments on every 3-seed cell and outcome of benchmarks/results/demo-2026-12-04 (each row
  lists the cells it matches), 128 samples per model (175 and 81 for the unconditional labels);
- ``mixture``: a seed copies with probability 0.2 or 0.5 (copying seeds at 15% +- 3 like the demo's held-out and
  minority-class cells, or 60% +- 15 like the unconditional ones; the others at 1% +- 1);
- ``unequal``: demo and mixture models with 64-192 samples per seed and cell;
- ``symmetric``: the earlier benchmark's Beta regimes at 256 samples, with the percentile bootstrap over seeds and a
  plain t on the raw fractions beside (``bootstrap``, ``t_raw``).
Coverage (``coverage`` rows, 3 and 5 seeds): the share of cells whose 95% interval holds the model's mean, over all
cells, among cells seed_flag leaves unflagged ("decided"), among flagged ones, and among cells that are no look-alikes
(``coverage_rest``; ``lookalike`` their share, see below); ``main_*``: the interval before this change (commit c1b6f54).
Differences (``difference`` rows, 3 and 5 seeds, paired and Welch): under a null (equal means) ``fp_up`` / ``fp_down`` =
the share of pairs with a decided (unflagged) interval above / below the true difference, over all pairs, ``*_decided``
among decided pairs, and ``*_rest`` among pairs whose cell a is not a look-alike: a cell whose seeds all stayed on one
side (a mixture's seeds all quiet or all copying; a Beta's seeds all below half its mean or all above the midpoint of
its mean and 1), which no statistic can tell from a tight cell there (``lookalike_low`` / ``lookalike_high`` give their
shares). Under an alternative: the share decided on the right side (``power``) and on the wrong one. ``main_*``: memgen
before this change.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from memgen import io
from memgen.spread import difference_bounds, interval_bounds
from seed_regimes import (bootstrap_interval, demo_regimes, draw_cells, draw_pairs, main_difference, main_interval,
                          model_mean, raw_t_interval)

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "benchmarks" / "results" / "demo-2026-12-04"
N = 128
SEEDS = (3, 5)
QUIET = [0.01, 0.01]
MIXTURES = [{"kind": "mixture", "w": w, "copy": copy, "quiet": QUIET}
            for copy in ([0.15, 0.03], [0.6, 0.15]) for w in (0.2, 0.5)]
SYMMETRIC = [(0.6, 0.15), (0.5, 0.05), (0.05, 0.03), (0.95, 0.03), (0.01, 0.005), (0.3, 0.2), (0.1, 0.08),
             (0.2, 0.0), (0.003, 0.0)]


def beta(mean, sd):
    return {"kind": "beta", "mean": float(mean), "sd": float(sd)}


def demo_model(regimes, *parts) -> dict:
    """The demo regime whose sources name every string in ``parts`` (e.g. "dummy=heldout", "replicate")."""
    hits = [r for r in regimes if any(all(p in s for p in parts) for s in r["sources"])]
    if len(hits) != 1:
        raise SystemExit(f"seed_coverage: error: {len(hits)} demo regimes match {parts}, not one")
    return hits[0]["model"]


def coverage_rows(cells: int, regimes: list[tuple[str, dict, object, str]], boot: int) -> list[dict]:
    rows = []
    for i, (group, model, n, source) in enumerate(regimes):
        for seeds in SEEDS:
            rng = np.random.default_rng([17, i, seeds])
            c = draw_cells(rng, model, n, cells, seeds)
            mu = model_mean(model)
            lo, hi, flag = interval_bounds(c["k"], c["n"], 0.95)
            m_lo, m_hi = main_interval(c["k"], c["n"])
            hit, m_hit = (lo <= mu) & (mu <= hi), (m_lo <= mu) & (mu <= m_hi)
            row = {"set": group, "model": model, "n": n, "source": source, "n_seeds": seeds, "mean": mu,
                   "coverage": hit.mean(), "flagged": flag.mean(),
                   "coverage_decided": hit[~flag].mean() if (~flag).any() else None,
                   "coverage_flagged": hit[flag].mean() if flag.any() else None,
                   "width_median": float(np.median(hi - lo)), "main_coverage": m_hit.mean(),
                   "main_width_median": float(np.median(m_hi - m_lo))}
            low, high = _lookalike(model, c["p"], c["copy"])
            look = low | high
            row |= {"lookalike": look.mean(), "coverage_rest": hit[~look].mean() if (~look).any() else None}
            if group == "symmetric":  # the alternatives seed_interval's docstring rejects
                x = c["k"] / c["n"]
                for name, (a, b) in (("bootstrap", bootstrap_interval(rng, x, boot)), ("t_raw", raw_t_interval(x))):
                    row[name] = ((a <= mu) & (mu <= b)).mean()
            rows.append({k: float(v) if isinstance(v, np.floating) else v for k, v in row.items()})
    return rows


def _lookalike(model: dict, p, copy) -> tuple[np.ndarray, np.ndarray]:
    """Cells no statistic can tell from a tight cell lower / higher than their mean: a mixture whose seeds all drew
    the quiet / the copying mode; a Beta whose seeds all fell below half its mean / above the midpoint of its mean
    and 1 (a J-shaped cell that happened to stay in its spike). p, copy: the true fractions and modes [C, S]."""
    if model["kind"] == "mixture":
        return ~copy.any(1), copy.all(1)
    mean = model["mean"]
    return (p < mean / 2).all(1), (p > (1 + mean) / 2).all(1)


def _share(event, among) -> float | None:
    return float(event[among].mean()) if among.any() else None


def difference_rows(cells: int, regimes: list[tuple[str, str, dict, dict, object]]) -> list[dict]:
    rows = []
    for i, (group, name, model_a, model_b, n) in enumerate(regimes):
        true = model_mean(model_b) - model_mean(model_a)
        for seeds in SEEDS:
            for paired in (True, False):
                rng = np.random.default_rng([29, i, seeds, paired])
                c = draw_pairs(rng, model_a, model_b, n, cells, seeds, 0.5 if paired else 0.0)
                r = difference_bounds(c["ka"], c["na"], c["kb"], c["nb"], paired, 0.95)
                m_lo, m_hi = main_difference(c["ka"], c["na"], c["kb"], c["nb"], paired)
                dec, up, down = r["decided"], r["low"] > true, r["high"] < true
                row = {"set": group, "name": name, "a": model_a, "b": model_b, "n": n, "n_seeds": seeds,
                       "paired": paired, "true_diff": true, "flagged": 1.0 - dec.mean()}
                if true == 0:
                    low, high = _lookalike(model_a, c["p_a"], c["copy_a"])
                    row |= {"lookalike_low": low.mean(), "lookalike_high": high.mean(),
                            "fp_up_rest": _share(dec & up, ~low), "fp_down_rest": _share(dec & down, ~high),
                            "main_fp_up_rest": _share(m_lo > 0, ~low), "main_fp_down_rest": _share(m_hi < 0, ~high),
                            "fp_up": (dec & up).mean(), "fp_down": (dec & down).mean(),
                            "fp_up_decided": (dec & up).sum() / max(dec.sum(), 1),
                            "fp_down_decided": (dec & down).sum() / max(dec.sum(), 1),
                            "main_fp_up": (m_lo > 0).mean(), "main_fp_down": (m_hi < 0).mean()}
                else:
                    right, wrong = (r["low"] > 0, r["high"] < 0) if true > 0 else (r["high"] < 0, r["low"] > 0)
                    m_right = m_lo > 0 if true > 0 else m_hi < 0
                    row |= {"power": (dec & right).mean(), "wrong_sign": (dec & wrong).mean(),
                            "main_power": m_right.mean()}
                rows.append({k: float(v) if isinstance(v, np.floating) else v for k, v in row.items()})
    return rows


def regimes(demo: list[dict]) -> tuple[list, list]:
    """(coverage regimes, difference regimes), every model taken from the demo where the demo has it."""
    cov = [("demo", r["model"], r["n"], "; ".join(r["sources"])) for r in demo]
    cov += [("mixture", m, N, "") for m in MIXTURES]
    held = demo_model(demo, "dummy=heldout", "replicate")
    mid = demo_model(demo, "study=disjoint_split", "size=16", "replicate")
    cov += [("unequal", m, [N // 2, 3 * N // 2], "") for m in (held, mid, MIXTURES[0])]
    cov += [("symmetric", beta(m, s), 256, "") for m, s in SYMMETRIC]
    named = {key: demo_model(demo, *parts) for key, parts in {
        "none": ("study=dummies_mondrian", "dummy=none", "replicate"),
        "gm": ("study=dummy_kinds", "dummy=gm", "replicate"),
        "gm_matched": ("exposure=matched", "replicate"), "hybrid": ("dummy=hybrid", "replicate"),
        "shapes": ("dummy=shapes", "replicate"), "heldout": ("dummy=heldout", "replicate"),
        "minority": ("study=classes", "label=1", "replicate"), "majority": ("study=classes", "label=0", "replicate"),
        "n4": ("study=capacity", "width=16", "size=4", "replicate"),
        "w32": ("study=capacity", "width=32", "size=16", "replicate"),
        "n64": ("study=capacity", "width=16", "size=64", "replicate"),
        "uncond1": ("study=unconditional_dummies", "label=1", "replicate"),
        "split16": ("study=disjoint_split", "size=16", "replicate")}.items()}
    tight = lambda m: beta(model_mean(m), 0.0)  # noqa: E731  seeds that agree (the demo's hybrid: 15.6/16.4/18.8%)
    diff = [("ordinary", f"{k} vs {k}", named[k], named[k], N) for k in ("gm", "split16", "none")]
    diff += [("skewed", f"{k} vs tight", named[k], tight(named[k]), N)
             for k in ("heldout", "minority", "n4", "uncond1")]
    diff += [("skewed", "heldout vs heldout", named["heldout"], named["heldout"], N),
             ("unequal", "heldout vs tight", named["heldout"], tight(named["heldout"]), [N // 2, 3 * N // 2])]
    diff += [("mixture", f"mixture w={m['w']} vs tight", m, tight(m), N) for m in MIXTURES[:2]]
    diff += [("mixture", "mixture w=0.2 vs itself", MIXTURES[0], MIXTURES[0], N)]
    diff += [("power", f"{a} -> {b}", named[a], named[b], N) for a, b in (
        ("none", "gm"), ("gm", "hybrid"), ("gm", "shapes"), ("gm", "gm_matched"), ("none", "w32"), ("none", "n64"),
        ("none", "heldout"), ("gm", "heldout"), ("majority", "minority"), ("majority", "gm"))]
    diff += [("power", "0.4 -> 0.5", beta(0.4, 0.05), beta(0.5, 0.05), N),
             ("power", "2% -> 6%", beta(0.02, 0.005), beta(0.06, 0.01), N)]
    return cov, diff


def _show(rows: list[dict], cols: list[str]) -> None:
    table = pd.DataFrame(rows)
    print(table[[c for c in cols if c in table.columns]].round(3).to_string(index=False))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=10000, help="simulated cells (or pairs) per regime and setting")
    ap.add_argument("--boot", type=int, default=2000, help="bootstrap resamples per cell (symmetric regimes)")
    ap.add_argument("--out", required=True, help="JSON result")
    args = ap.parse_args(argv)
    start = time.time()
    cov_regimes, diff_regimes = regimes(demo_regimes(DEMO))
    coverage, difference = coverage_rows(args.cells, cov_regimes, args.boot), difference_rows(args.cells, diff_regimes)
    pd.set_option("display.width", 250)
    for rows in (coverage, difference):
        for row in rows:
            row["regime"] = row.get("name") or (f"{row['model']['kind']} " + ", ".join(
                f"{k}={v}" for k, v in row["model"].items() if k != "kind"))
    _show(coverage, ["set", "regime", "n_seeds", "coverage", "flagged", "coverage_decided", "coverage_flagged",
                     "lookalike", "coverage_rest", "main_coverage", "bootstrap", "t_raw", "width_median",
                     "main_width_median"])
    _show(difference, ["set", "regime", "n_seeds", "paired", "fp_up", "fp_down", "flagged", "fp_up_decided",
                       "fp_down_decided", "fp_up_rest", "fp_down_rest", "lookalike_low", "lookalike_high",
                       "main_fp_up", "main_fp_down", "main_fp_up_rest", "main_fp_down_rest", "power", "wrong_sign",
                       "main_power"])
    io.write_json(args.out, {"cells": args.cells, "boot": args.boot, "demo": str(DEMO.relative_to(ROOT)), "numpy": np.__version__,
                             "python": sys.version.split()[0],
                             "seconds": round(time.time() - start, 1), "coverage": coverage,
                             "difference": difference})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
