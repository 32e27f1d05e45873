"""Whether the pairs of models trained on disjoint sets reach Kadkhodaie et al.'s regime of strong generalization.

Kadkhodaie, Guth, Simoncelli & Mallat (ICLR 2024): "two denoisers trained on non-overlapping training sets converge
to essentially the same denoising function. As a result, when used for image generation, these networks produce
nearly identical samples", and "in this regime of strong generalization, diffusion-generated images are distinct
from the training set, and are of high visual quality". The measure, fixed before any run: the fraction of pairs
(sample i of both models, same noise) that are the same image while both samples are novel, and valid where the
kind has a validity rule (``frac_same_novel`` of `memgen.evaluation.agreement.agreement_summary`).

"Nearly identical samples" describes what the pairs do, not what a few of them do: the regime is REACHED at a cell
when the 95% interval of the seed mean of that fraction lies above ``REACHED_LEVEL`` (most pairs), NOT REACHED when
it lies below, and unresolved otherwise. The interval is `memgen.stats.seed_interval` on the per-seed fractions (a
cell that `memgen.stats.seed_flag` flags is unresolved); a cell of one seed has no across-seed interval and is read
from the Wilson interval of that model's pairs, which the note says.

Pure function on the agreement table (one row per pair of models, label and seed); no file I/O.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from memgen.errors import MemgenError
from memgen.stats import seed_flag, seed_interval, wilson_interval

REACHED_LEVEL = 0.5  # most pairs are the same novel, valid image ("nearly identical samples")
KEYS = ("dataset", "width", "size", "dummy", "ndummy", "steps", "conditional", "label")
COLUMNS = ["n_seeds", "seeds", "n_pairs", "n_same_novel", "per_seed", "mean", "ci_low", "ci_high", "reached",
           "note"]


def _decide(lo: float, hi: float, n_seeds: int, flag: str) -> str:
    if flag:
        return f"unresolved ({flag})"
    if lo > REACHED_LEVEL:
        return "reached"
    if hi < REACHED_LEVEL:
        return "not reached"
    return f"unresolved at {n_seeds} seed{'s' if n_seeds != 1 else ''}"


def _row(sub: pd.DataFrame) -> dict:
    sub = sub.sort_values("seed", kind="stable")
    f = sub["frac_same_novel"].to_numpy(dtype=np.float64)
    n = sub["n_pairs"].to_numpy(dtype=np.float64)
    k = np.rint(f * n)
    mean, lo, hi = seed_interval(f, k, n)
    note = ""
    if len(f) < 2:
        lo, hi = wilson_interval(k.sum(), n.sum())
        note = "one seed: no across-seed interval, decided on that model's pairs (Wilson)"
    pct = f"{100 * REACHED_LEVEL:g}%"
    note = note or f"reached: the interval lies above {pct}; not reached: below {pct}"
    return dict(n_seeds=len(f), seeds=",".join(str(s) for s in sub["seed"]), n_pairs=int(n.sum()),
                n_same_novel=int(k.sum()), per_seed="/".join(f"{100 * v:.1f}" for v in f), mean=mean, ci_low=lo,
                ci_high=hi, reached=_decide(lo, hi, len(f), seed_flag(f, k, n) if len(f) >= 2 else ""), note=note)


def agreement_regime(table: pd.DataFrame) -> pd.DataFrame:
    """One row per cell of the pairs (``KEYS`` present in ``table``, less ``seed``): the seeds, the pairs and
    same-novel pairs summed over seeds, the per-seed fractions in %, the seed mean with its 95% interval and the
    decision ``reached`` / ``not reached`` / ``unresolved ...`` (module docstring)."""
    if not isinstance(table, pd.DataFrame):
        raise MemgenError(f"agreement table must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in ("seed", "n_pairs", "frac_same_novel") if c not in table.columns]
    if missing:
        raise MemgenError(f"agreement table lacks column(s) {missing}")
    keys = [c for c in KEYS if c in table.columns]
    rows = [dict(zip(keys, key if isinstance(key, tuple) else (key,))) | _row(sub)
            for key, sub in table.groupby(keys, sort=True, dropna=False)] if len(table) else []
    return pd.DataFrame(rows, columns=[*keys, *COLUMNS])


def agreement_regime_markdown(table: pd.DataFrame) -> str:
    """Markdown of `agreement_regime`: per cell, the same-novel-valid pairs per seed and their mean with its
    interval, and whether the regime is reached."""
    cols = [c for c in ("dataset", "width", "size", "dummy", "ndummy", "label", "steps") if c in table.columns]
    head = [*cols, "seeds", "same novel & valid pairs per seed (%)", "pairs", "mean (95% CI)", "regime", "note"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for _, r in table.iterrows():
        ci = f"{100 * r['mean']:.1f}% ({100 * r['ci_low']:.1f}-{100 * r['ci_high']:.1f})"
        cells = [str(r[c]) for c in cols] + [f"{r['n_seeds']} ({r['seeds']})", r["per_seed"],
                                             f"{r['n_same_novel']} of {r['n_pairs']}", ci, r["reached"], r["note"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
