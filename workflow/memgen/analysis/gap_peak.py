"""The train vs held-out loss gap of each training seed at its peak noise level, per snapshot, for a comparison
across seeds (`memgen.analysis.seeds.compare` with a one-sample claim: "the gap is positive at step s").

Input: the loss-gap table of `memgen.evaluation.loss_gap` (step, t, alpha_bar, log_snr, split, loss, loss_x0,
...) of several training seeds, with a ``seed`` column. Pure function, no file I/O.
"""

from __future__ import annotations

import pandas as pd

from memgen.errors import MemgenError

# Columns that vary within one snapshot of one model (per noise level or split) or are values, not keys.
PER_LEVEL = ("seed", "t", "alpha_bar", "log_snr", "split", "loss", "loss_sem", "loss_x0", "loss_x0_sem", "n", "index")


def gap_at_peak(table: pd.DataFrame, column: str = "loss") -> pd.DataFrame:
    """One row per (snapshot, seed): held-out minus train ``column`` ("loss": eps-space L_simple; "loss_x0":
    x0-space) at the noise level where the gap peaks.

    The level is chosen per snapshot (the ``step`` and any other key column: every column not in ``PER_LEVEL``)
    from the MEAN gap over seeds, then each seed's gap is read at that level, so all seeds are compared at one
    level. Selection: the level maximizes a mean measured on the same seeds, which biases the mean gap upward by
    the noise of that maximum; with K levels and per-level noise much smaller than the peak (thousands of images
    per level) the bias is small, but a "gap > 0" verdict near zero should be read with it in mind.

    Returns the key columns, ``seed``, ``t``, ``log_snr`` (when present) and ``gap`` (float64), sorted.
    Duplicated (key, seed, t, split) rows are averaged (as the loss-gap figure does).
    """
    need = ["step", "t", "split", column, "seed"]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise MemgenError(f"loss-gap table lacks column(s) {missing} (seed: the training seed of each row)")
    if not {"train", "heldout"} <= set(table["split"]):
        raise MemgenError(f"loss-gap table split must hold 'train' and 'heldout', got {sorted(set(table['split']))}")
    keys = [c for c in table.columns if c not in PER_LEVEL and c != column]
    level_cols = ["t"] + (["log_snr"] if "log_snr" in table.columns else [])
    loss = table.groupby([*keys, "seed", *level_cols, "split"], sort=True, dropna=False)[column].mean()
    wide = loss.unstack("split")
    gaps = (wide["heldout"] - wide["train"]).rename("gap").dropna().reset_index()
    mean = gaps.groupby([*keys, *level_cols], sort=True, dropna=False)["gap"].mean().reset_index()
    peak = mean.loc[mean.groupby(keys, sort=True, dropna=False)["gap"].idxmax(), [*keys, "t"]]
    out = gaps.merge(peak, on=[*keys, "t"], how="inner")
    return out[[*keys, "seed", *level_cols, "gap"]].sort_values([*keys, "seed"], kind="stable").reset_index(drop=True)
