"""Disjoint-split agreement (Kadkhodaie, Guth, Simoncelli & Mallat, ICLR 2024, Sec. 2 / Fig. 2).

Two models trained on disjoint sets A and B and sampled from the SAME noise: sample i of model A and sample i of
model B are compared. Models that generalize produce nearly the same image from the same noise; models that
memorize produce each a copy from its own set, so the pair disagrees.

Per pair (``pair_agreement``):
- ``similarity``: cosine similarity of the two images after subtracting each image's own mean (over all its
  pixels and channels), as in the paper's figures; 0 when either image is constant.
- ``pair_dist``: L2 distance between the two samples ([0, 1] pixel scale).
- ``train_dist_a`` / ``train_dist_b``: L2 distance from the A-sample / B-sample to its nearest training image in
  A u B (exact, ``memgen.nearest.nearest_two``).
- ``is_same`` (the ratio idea of Yoon et al. applied to the pair): ``pair_dist < threshold * min(train_dist_a,
  train_dist_b)``, with the replicate threshold (1/3: the two samples are three times closer to each other than
  either is to any training image). Strict, so a pair that both copy one training image exactly is not "same".
- ``similarity_shuffled``: the same similarity between sample i of A and sample i + 1 (mod M) of B, which share no
  noise: the baseline of two models that draw from similar distributions without a common starting point.
Per group (``summarize_agreement``): the median similarity with a distribution-free interval (order statistics,
``median_interval``) and the fraction of same-image pairs with a Wilson interval.

The measure of Kadkhodaie et al.'s claim is ``frac_same_novel`` (`agreement_summary`): the pairs that are the same
image while both samples are novel, and valid where the kind has a validity rule ("these networks produce nearly
identical samples" that "are distinct from the training set, and are of high visual quality"). The similarity is
kept as an exploratory description, not a claim: it is highest for two untrained models (their output layers start
at zero and they share the noise, so they draw the same image) and rises whenever copying falls, whatever the
samples look like. Its novel-only version (``median_similarity_novel``, both samples novel and valid) stands beside
the shuffled baseline of the same samples (``median_similarity_novel_shuffled``); an undertrained same-noise
control (both models at an early snapshot) is not run, so neither is a verdict.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from memgen.errors import MemgenError
from memgen.runtime import check_images
from memgen.nearest import PIXEL_SCALE, nearest_two
from memgen.score import ratio_criterion
from memgen.stats import median_interval, wilson_interval

PAIR_CHUNK = 1024  # pairs per float64 block
# What a pair row holds beyond the model columns and the label: the measures, and each sample's outcome.
PAIR_COLUMNS = ["pair_index", "similarity", "pair_dist", "train_dist_a", "train_dist_b", "is_same",
                "similarity_shuffled", "outcome_a", "outcome_b", "outcome_b_shuffled"]
SUMMARY_COLUMNS = ["n_pairs", "median_similarity", "median_ci_low", "median_ci_high", "n_same", "frac_same",
                   "same_ci_low", "same_ci_high", "median_pair_dist", "median_similarity_shuffled"]
# With both samples' outcomes (`agreement_summary`): the claim's measure and the exploratory novel-only similarity.
NOVEL_COLUMNS = ["n_same_novel", "frac_same_novel", "same_novel_ci_low", "same_novel_ci_high", "n_novel_pairs",
                 "median_similarity_novel", "n_novel_shuffled", "median_similarity_novel_shuffled"]


def _check(name: str, arr, shape=None) -> np.ndarray:
    check_images(name, arr, allow_empty=True)
    if shape is not None and arr.shape[1:] != shape[1:]:
        raise MemgenError(f"{name} {arr.shape} must have the image shape of samples_a {shape}")
    return arr


def pair_similarity(samples_a: np.ndarray, samples_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(similarity float64 ``[M]``, pair_dist float64 ``[M]``) of paired uint8 images ``[M, H, W, 3]``:
    mean-subtracted cosine similarity and L2 distance on the [0, 1] scale."""
    m = len(samples_a)
    sim, dist = np.empty(m), np.empty(m)
    for s in range(0, m, PAIR_CHUNK):
        a = samples_a[s : s + PAIR_CHUNK].reshape(-1, samples_a[0].size).astype(np.float64)
        b = samples_b[s : s + PAIR_CHUNK].reshape(-1, samples_a[0].size).astype(np.float64)
        dist[s : s + PAIR_CHUNK] = np.sqrt(((a - b) ** 2).sum(1)) / PIXEL_SCALE
        a -= a.mean(1, keepdims=True)
        b -= b.mean(1, keepdims=True)
        norms = np.sqrt((a * a).sum(1) * (b * b).sum(1))
        sim[s : s + PAIR_CHUNK] = np.where(norms > 0, (a * b).sum(1) / np.where(norms > 0, norms, 1.0), 0.0)
    return sim, dist


def _nearest_train(samples, train_a, train_b, device) -> np.ndarray:
    """L2 distance ([0, 1] scale) of each sample to its nearest image in train_a u train_b."""
    sq = [nearest_two(samples, t, device=device)[1][:, 0] for t in (train_a, train_b)]
    return np.sqrt(np.minimum(*sq))


def pair_agreement(samples_a: np.ndarray, samples_b: np.ndarray, train_a: np.ndarray, train_b: np.ndarray,
                   *, threshold: float, device=None) -> pd.DataFrame:
    """One row per pair (sample i of model A, sample i of model B, same noise); see the module docstring.

    samples_a, samples_b: uint8 ``[M, H, W, 3]``; train_a, train_b: uint8 ``[N_A, H, W, 3]``, ``[N_B, H, W, 3]``
    (each >= 2 images). Columns: pair_index (int64), similarity, pair_dist, train_dist_a, train_dist_b (float64),
    is_same (bool), similarity_shuffled (float64: A_i against B_{(i+1) mod M}; NaN when M = 1).
    """
    _check("samples_a", samples_a)
    for name, arr in (("samples_b", samples_b), ("train_a", train_a), ("train_b", train_b)):
        _check(name, arr, samples_a.shape)
    if samples_b.shape != samples_a.shape:
        raise MemgenError(f"samples_b {samples_b.shape} must pair one to one with samples_a {samples_a.shape}")
    if min(len(train_a), len(train_b)) < 2:
        raise MemgenError(f"train_a and train_b need >= 2 images each, got {len(train_a)} and {len(train_b)}")
    ratio_criterion(0.0, 1.0, threshold)  # validates the threshold before the searches
    sim, dist = pair_similarity(samples_a, samples_b)
    da = _nearest_train(samples_a, train_a, train_b, device)
    db = _nearest_train(samples_b, train_a, train_b, device)
    shuffled = pair_similarity(samples_a, np.roll(samples_b, -1, axis=0))[0] if len(samples_a) > 1 else \
        np.full(len(samples_a), np.nan)
    return pd.DataFrame({"pair_index": np.arange(len(samples_a), dtype=np.int64), "similarity": sim,
                         "pair_dist": dist, "train_dist_a": da, "train_dist_b": db,
                         "is_same": dist < float(threshold) * np.minimum(da, db), "similarity_shuffled": shuffled})


def _summary_row(group: pd.DataFrame) -> dict:
    med, lo, hi = median_interval(group["similarity"].to_numpy())
    n, k = len(group), int(group["is_same"].sum())
    s_lo, s_hi = wilson_interval(k, n)
    shuffled = float(group["similarity_shuffled"].median()) if "similarity_shuffled" in group else float("nan")
    return dict(zip(SUMMARY_COLUMNS, (n, med, lo, hi, k, k / n if n else float("nan"), s_lo, s_hi,
                                      float(group["pair_dist"].median()), shuffled)))


def summarize_agreement(pairs: pd.DataFrame, by=None) -> pd.DataFrame:
    """One row per group of ``pairs`` (the table of ``pair_agreement``, plus grid columns such as the training
    set size): the ``by`` columns (a name, a list, or None for one row) and ``SUMMARY_COLUMNS``."""
    missing = {"similarity", "is_same", "pair_dist"} - set(pairs.columns)
    if missing:
        raise MemgenError(f"pairs table lacks columns {sorted(missing)}")
    if by is None:
        return pd.DataFrame([_summary_row(pairs)], columns=SUMMARY_COLUMNS)
    keys = [by] if isinstance(by, str) else list(by)
    rows = [{**dict(zip(keys, key if isinstance(key, tuple) else (key,))), **_summary_row(g)}
            for key, g in pairs.groupby(keys, sort=True)]
    return pd.DataFrame(rows, columns=keys + SUMMARY_COLUMNS)


NOVEL = ("novel_valid", "novel")  # outcomes of a sample that copies nothing (and is valid, where a rule exists)


def agreement_pairs(samples_a: list, samples_b: list, train_a: list, train_b: list, scores_a: list, scores_b: list,
                    pairs: list[dict], threshold: float, device=None) -> pd.DataFrame:
    """Every pair of samples of every pair of models, one row each: `pair_agreement` with the pair's model columns
    (``pairs[i]``, e.g. width, size, dummy, ndummy, steps, conditional, seed), each sample's ``label`` and the
    four-way outcome of both (``outcome_a``, ``outcome_b``).

    samples_*, train_*: per pair of models, ``(images uint8 [M, H, W, 3], labels)`` as read from .npz files;
    scores_*: per pair, the per-sample score tables (``label``, ``outcome``). Sample i of both models starts from
    the same noise and has the same label; when the models drew different counts, the first min(M_a, M_b) pair."""
    lists = (samples_a, samples_b, train_a, train_b, scores_a, scores_b, pairs)
    if len({len(x) for x in lists}) != 1:
        raise MemgenError("agreement: samples, training sets, scores and pairs need one entry per pair of models each")
    tables = []
    for (a, _), (b, _), (ta, _), (tb, _), ca, cb, grid in zip(*lists):
        m = min(len(a), len(b))
        if not np.array_equal(ca["label"].to_numpy()[:m], cb["label"].to_numpy()[:m]):
            raise MemgenError(f"agreement: the samples of the pair {grid} do not have the same labels in order")
        table = pair_agreement(a[:m], b[:m], ta, tb, threshold=threshold, device=device)
        outcome_b = cb["outcome"].to_numpy()[:m]
        tables.append(table.assign(**grid, label=ca["label"].to_numpy()[:m], outcome_a=ca["outcome"].to_numpy()[:m],
                                   outcome_b=outcome_b, outcome_b_shuffled=np.roll(outcome_b, -1)))
    return pd.concat(tables, ignore_index=True)


def _novel_row(group: pd.DataFrame) -> dict:
    """The claim's measure and the novel-only similarity of one group (see `agreement_summary`)."""
    both = group["outcome_a"].isin(NOVEL) & group["outcome_b"].isin(NOVEL)
    n, k = len(group), int((group["is_same"] & both).sum())
    lo, hi = wilson_interval(k, n)
    row = dict(n_same_novel=k, frac_same_novel=k / n, same_novel_ci_low=lo, same_novel_ci_high=hi,
               n_novel_pairs=int(both.sum()), median_similarity_novel=float(group.loc[both, "similarity"].median()))
    if {"outcome_b_shuffled", "similarity_shuffled"} <= set(group.columns):
        cross = group["outcome_a"].isin(NOVEL) & group["outcome_b_shuffled"].isin(NOVEL)
        row |= dict(n_novel_shuffled=int(cross.sum()),
                    median_similarity_novel_shuffled=float(group.loc[cross, "similarity_shuffled"].median()))
    return row


def agreement_summary(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per pair of models and label (every column of ``pairs`` that `agreement_pairs` took from the grid, and
    ``label``): `summarize_agreement` of the pairs and, when both sides were assessed (``outcome_a``,
    ``outcome_b``), ``NOVEL_COLUMNS``: ``frac_same_novel`` (with its Wilson interval), the pairs that are the same
    image while neither sample copies anything and both are valid where a rule exists: the measure of Kadkhodaie
    et al.'s claim; and the exploratory similarity of the pairs whose samples are both novel (and valid), beside the
    same for the shuffled pairs (A_i, B_{i+1}) (module docstring). Medians of no pair are NaN, and so are the
    shuffled columns of a pairs table without ``outcome_b_shuffled``."""
    keys = [c for c in pairs.columns if c not in PAIR_COLUMNS]
    summary = summarize_agreement(pairs, by=keys or None)
    if {"outcome_a", "outcome_b"} <= set(pairs.columns):
        groups = pairs.groupby(keys, sort=True) if keys else [((), pairs)]
        rows = [dict(zip(keys, key if isinstance(key, tuple) else (key,))) | _novel_row(g) for key, g in groups]
        novel = pd.DataFrame(rows, columns=[*keys, *NOVEL_COLUMNS])
        summary = summary.merge(novel, on=keys, how="left") if keys else pd.concat([summary, novel], axis=1)
    return summary
