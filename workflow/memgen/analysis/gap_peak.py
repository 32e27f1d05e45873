"""The train vs held-out loss gap (Kaiser & Kollmann, arXiv 2603.13419) tested per snapshot, from each image's loss.

Kaiser & Kollmann: "diffusion models progressively overfit the denoising training objective and thereby create a
generalization gap between the performance on validation and training samples. This gap is most pronounced at
intermediate noise levels." The gap is that of the training objective, memgen's eps-space L_simple (column ``loss``
of `memgen.evaluation.loss_gap.per_image_losses`; ``loss_x0`` is not tested).

Input: the per-image table (one row per snapshot x seed x level x split x image ``index``: step, seed, t, log_snr,
split, index, loss, and grid columns). Train image i and held-out image i saw the same noise at the same level
(common random numbers), so d_i(t) = loss(held-out i, t) - loss(train i, t) is paired, and swapping the two images
of index i flips the sign of d_i at every level at once. Under the null that the model does not tell its training
images from held-out ones, every sign pattern is equally likely: the sign-flip test is exact.

- `gap_at_peak` (per seed) and `gap_test` (pooled over seeds, with the permutation test): the peak level is chosen
  on the even-indexed images (the mean over seeds of their gaps) and the gap is measured and tested on the
  odd-indexed images only, so the level is never chosen on the values it is tested on. `gap_test` also tests the
  whole curve (max over levels of |mean gap|, the same flips at every level: Westfall & Young's max-T), which
  needs no split.
- `gap_bands`: the gap averaged over the low-noise end, the middle and the high-noise end of the evaluated levels,
  fixed before any run from the grid alone: the levels of `memgen.evaluation.loss_gap.noise_levels` run evenly in
  log-SNR from the least-noise step to log-SNR -10 (sigma_equiv ~ 150, pure noise); the lowest-noise third of them
  (floor(K / 3) levels) is one end, the highest-noise third the other, the rest the middle. "Most pronounced at
  intermediate noise levels" predicts middle > both ends.

Pure functions, no file I/O.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from memgen.errors import MemgenError
from memgen.runtime import check_int

# Columns that vary within one snapshot of one model (per level, split or image) or are values, not keys.
PER_LEVEL = ("seed", "t", "alpha_bar", "log_snr", "split", "loss", "loss_sem", "loss_x0", "loss_x0_sem", "n", "index")
BANDS = ("low noise", "middle", "high noise")
ALPHA = 0.05


def _keys(table: pd.DataFrame, column: str) -> list[str]:
    return [c for c in table.columns if c not in PER_LEVEL and c != column]


def image_gaps(table: pd.DataFrame, column: str = "loss") -> pd.DataFrame:
    """d = held-out minus train ``column`` per (snapshot keys, seed, t, index), for the indices both splits hold:
    the key columns, ``seed``, ``t``, ``log_snr`` (when present), ``index``, ``d``."""
    need = ["step", "t", "split", "index", column, "seed"]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise MemgenError(f"per-image loss table lacks column(s) {missing} (the loss-gap job's --per-image table)")
    if not {"train", "heldout"} <= set(table["split"]):
        raise MemgenError(f"per-image loss table split must hold 'train' and 'heldout', got "
                          f"{sorted(set(table['split']))}")
    keys = _keys(table, column)
    level = ["t"] + (["log_snr"] if "log_snr" in table.columns else [])
    wide = table.groupby([*keys, "seed", *level, "index", "split"], sort=True, dropna=False)[column].mean()
    wide = wide.unstack("split")
    return (wide["heldout"] - wide["train"]).rename("d").dropna().reset_index()


def _snapshots(table: pd.DataFrame, column: str):
    """(keys, [(key values, gaps of that snapshot)]) with gaps from `image_gaps`."""
    gaps = image_gaps(table, column)
    keys = _keys(table, column)
    groups = gaps.groupby(keys, sort=True, dropna=False) if keys else [((), gaps)]
    return keys, [(dict(zip(keys, k if isinstance(k, tuple) else (k,))), g) for k, g in groups]


def _peak(gaps: pd.DataFrame) -> int:
    """The level whose mean gap over seeds and even-indexed images is largest (the selection half)."""
    select = gaps[gaps["index"] % 2 == 0]
    if select.empty or not (gaps["index"] % 2 == 1).any():
        raise MemgenError("loss gap: the peak is chosen on even-indexed images and tested on odd ones; "
                          "at least 2 paired images per split are needed")
    return int(select.groupby("t")["d"].mean().idxmax())


def gap_at_peak(table: pd.DataFrame, column: str = "loss") -> pd.DataFrame:
    """One row per (snapshot, seed): held-out minus train ``column`` at the peak level chosen on the even-indexed
    images, averaged over the odd-indexed images (module docstring); the same level for every seed of a snapshot.
    Returns the key columns, ``seed``, ``t``, ``log_snr`` (when present), ``gap`` (float64), ``n_images`` (the
    test half), sorted."""
    keys, snaps = _snapshots(table, column)
    frames = []
    for head, gaps in snaps:
        t = _peak(gaps)
        test = gaps[(gaps["t"] == t) & (gaps["index"] % 2 == 1)]
        level = ["t"] + (["log_snr"] if "log_snr" in test.columns else [])
        out = test.groupby(["seed", *level], sort=True)["d"].agg(gap="mean", n_images="count").reset_index()
        frames.append(out.assign(**head))
    out = pd.concat(frames, ignore_index=True)
    cols = [*keys, "seed", "t", *(["log_snr"] if "log_snr" in out.columns else []), "gap", "n_images"]
    return out[cols].sort_values([*keys, "seed"], kind="stable").reset_index(drop=True)


def sign_flip_p(d: np.ndarray, n_perm: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided sign-flip p-values of max_k |mean_i d[i, k]| and of each level's |mean|, for d ``[n, K]`` whose
    rows are exchangeable in sign under the null (one sign per row, shared by its K levels). Exact (every sign
    pattern) when 2^n <= n_perm, else ``n_perm`` random patterns and the (1 + count) / (1 + n_perm) estimate,
    which keeps the level. Returns (p_max scalar array, p_level ``[K]``)."""
    n = d.shape[0]
    observed = np.abs(d.mean(axis=0))
    exact = n <= int(np.log2(max(n_perm, 1)))
    hits_max, hits_level, total = 0, np.zeros(d.shape[1]), 0
    for start in range(0, 2**n if exact else n_perm, 4096):
        if exact:
            codes = np.arange(start, min(start + 4096, 2**n))
            signs = 1.0 - 2.0 * ((codes[:, None] >> np.arange(n)) & 1)
        else:
            signs = rng.choice((-1.0, 1.0), size=(min(4096, n_perm - start), n))
        flipped = np.abs(signs @ d / n)  # [B, K]
        hits_max += int((flipped.max(axis=1) >= observed.max() - 1e-12).sum())
        hits_level += (flipped >= observed - 1e-12).sum(axis=0)
        total += len(signs)
    if exact:
        return np.asarray(hits_max / total), hits_level / total
    return np.asarray((1 + hits_max) / (1 + total)), (1 + hits_level) / (1 + total)


def _verdict(gap: float, p: float) -> str:
    if p < ALPHA:
        return "supported" if gap > 0 else "reversed"
    return f"unresolved (permutation p = {p:.3g})"


def gap_test(table: pd.DataFrame, column: str = "loss", n_perm: int = 20000, seed: int = 0) -> pd.DataFrame:
    """One row per snapshot: the gap at the peak level (chosen on even-indexed images) over the odd-indexed images
    of every seed, ``gap_se`` its standard error over those image pairs, ``p_permutation`` the two-sided sign-flip
    p-value of that mean (one sign per seed x image), the whole-curve test (``t_curve``, ``gap_curve``: the level
    of the largest |mean gap| over all images, ``p_curve``: the max-T sign-flip p-value, same signs at every level)
    and the verdict of the split test at 5% (supported: held-out above train). ``n_perm`` random sign patterns
    (every pattern when 2^pairs <= n_perm) from ``np.random.default_rng(seed)``, restarted per snapshot."""
    check_int("n_perm", n_perm, 1)
    keys, snaps = _snapshots(table, column)
    rows = []
    for head, gaps in snaps:
        t = _peak(gaps)
        test = gaps[(gaps["t"] == t) & (gaps["index"] % 2 == 1)]["d"].to_numpy()
        rng = np.random.default_rng(seed)
        p_split = float(sign_flip_p(test[:, None], n_perm, rng)[0])
        curve = gaps.pivot_table(index=["seed", "index"], columns="t", values="d").dropna()  # [pairs, K]
        p_curve = float(sign_flip_p(curve.to_numpy(), n_perm, np.random.default_rng(seed))[0])
        means = curve.mean(axis=0)
        k = int(np.abs(means.to_numpy()).argmax())
        gap = float(test.mean())
        rows.append(head | dict(n_seeds=int(gaps["seed"].nunique()), n_pairs=len(test), t=t, gap=gap,
                                gap_se=float(test.std(ddof=1) / np.sqrt(len(test))) if len(test) > 1 else np.nan,
                                p_permutation=p_split, t_curve=int(means.index[k]), gap_curve=float(means.iloc[k]),
                                p_curve=p_curve, n_perm=n_perm, verdict=_verdict(gap, p_split)))
    return pd.DataFrame(rows, columns=[*keys, "n_seeds", "n_pairs", "t", "gap", "gap_se", "p_permutation",
                                       "t_curve", "gap_curve", "p_curve", "n_perm", "verdict"])


def band_of_levels(levels) -> dict[int, str]:
    """Each level's band (module docstring): ``BANDS`` by noise, floor(K / 3) levels at each end; K >= 3."""
    ordered = sorted(int(t) for t in set(levels))
    end = len(ordered) // 3
    if end < 1:
        raise MemgenError(f"loss gap bands: {len(ordered)} noise levels; the ends and the middle need >= 3")
    return {t: BANDS[0] if i < end else BANDS[2] if i >= len(ordered) - end else BANDS[1]
            for i, t in enumerate(ordered)}


def _span(levels: list[int]) -> str:
    if len(levels) == 1:
        return f"t = {levels[0]} (1 level)"
    return f"t = {levels[0]}-{levels[-1]} ({len(levels)} levels)"


def gap_bands(table: pd.DataFrame, column: str = "loss") -> pd.DataFrame:
    """One row per (snapshot, seed, band): the gap (mean over the band's levels of the mean over paired images of
    d) and the band's levels as text. Returns the key columns, ``seed``, ``band``, ``gap``, ``levels``. A snapshot
    with fewer than 3 levels (a schedule too coarse for the grid asked) has no bands: no rows, so its claim is
    "not run"."""
    keys, snaps = _snapshots(table, column)
    frames = [pd.DataFrame(columns=[*keys, "seed", "band", "gap", "levels"])]
    for head, gaps in snaps:
        if gaps["t"].nunique() < 3:
            continue
        bands = band_of_levels(gaps["t"])
        per_level = gaps.groupby(["seed", "t"], sort=True)["d"].mean().reset_index()
        per_level["band"] = per_level["t"].map(bands)
        out = per_level.groupby(["seed", "band"], sort=False)["d"].mean().rename("gap").reset_index()
        span = {b: [t for t, v in sorted(bands.items()) if v == b] for b in BANDS}
        out["levels"] = out["band"].map({b: _span(ts) for b, ts in span.items()})
        frames.append(out.assign(**head))
    out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    out["_b"] = out["band"].map({b: i for i, b in enumerate(BANDS)})
    out = out.sort_values([*keys, "seed", "_b"], kind="stable").drop(columns="_b").reset_index(drop=True)
    return out[[*keys, "seed", "band", "gap", "levels"]]


def image_losses_markdown(table: pd.DataFrame) -> str:
    """Markdown of the per-image loss table, summarized (the rows are in its Parquet): per snapshot and seed, the
    levels, the images per split and the mean loss of each split."""
    keys = [c for c in ("width", "step", "seed") if c in table.columns]
    per = table.groupby([*keys, "split"], sort=True).agg(levels=("t", "nunique"), images=("index", "nunique"),
                                                        loss=("loss", "mean")).unstack("split")
    head = [*keys, "levels", "images (train / held-out)", "mean loss train", "mean loss held-out"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, r in per.iterrows():
        cells = [str(k) for k in (key if isinstance(key, tuple) else (key,))]
        cells += [f"{r[('levels', 'train')]:.0f}", f"{r[('images', 'train')]:.0f} / {r[('images', 'heldout')]:.0f}",
                  f"{r[('loss', 'train')]:.4g}", f"{r[('loss', 'heldout')]:.4g}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
