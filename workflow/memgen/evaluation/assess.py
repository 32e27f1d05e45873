"""Both sides of the dichotomy for one cell: the four-way outcome of every sample and its fractions per label.

The kind of each label's training images decides which rules apply. It is read from the data set's card
(``class_names``: the base spec for label 0, the dummy kind for label 1; ``seed`` and ``dummy_seed`` for the GM
means):

- validity (`memgen.evaluation.validity`): mondrian, random_ink and gm samples; no rule for shapes, hybrids and
  real images (cifar:, folder:), whose samples are "novel" when neither copied whole nor in part;
- partial copies (`memgen.evaluation.partial`): Mondrian samples by component (a training image's cross, or its
  four quadrant colours), real images by aligned tiles, each against the training images of the same label;
  none for the other kinds (iid noise has no parts worth copying alone);
- the data-copying test C_T (`memgen.evaluation.datacopy`) for real-image bases, when held-out images are given
  (`copying_summary`: C_T with its cell counts and saturation), and beside it the tile criterion's false-positive
  rate on those held-out images (`heldout_partial_rate`).

Outcome precedence: replicate (the whole-image ratio criterion of `memgen.score`) > partial copy > novel and valid
(generalizing) > invalid (neither).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from memgen.errors import MemgenError
from memgen.evaluation import outcome as oc
from memgen.evaluation.datacopy import copying_cells, copying_features, data_copying_test
from memgen.evaluation.partial import mondrian_partial_copies, tile_partial_copies
from memgen.evaluation.validity import has_rule, validity
from memgen.stats import wilson_interval

OUTCOMES = (oc.REPLICATE, oc.PARTIAL, oc.NOVEL_VALID, oc.INVALID, oc.NOVEL)
REAL_PREFIXES = ("cifar:", "folder:")


def label_kinds(card: dict) -> dict[int, tuple[str, int | None]]:
    """label -> (kind, seed of its generator) from a data set card; the seed is what the GM rule needs."""
    seeds = {0: card.get("base_seed", card.get("seed")), 1: card.get("dummy_seed")}
    return {int(label): (str(kind), seeds.get(int(label))) for label, kind in card.get("class_names", {}).items()}


def _partial(kind: str, samples: np.ndarray, train: np.ndarray, threshold: float,
             device) -> tuple[np.ndarray, np.ndarray]:
    """(is_partial bool [M], source index into ``train`` int64 [M], -1 for none) for one label's samples."""
    none = np.zeros(len(samples), dtype=bool), np.full(len(samples), -1, dtype=np.int64)
    if len(samples) == 0 or len(train) < 2:
        return none
    if kind == "mondrian":
        table = mondrian_partial_copies(samples, train, threshold=threshold, device=device)
        source = np.where(table["is_cross_copy"], table["cross_nn_index"], table["colour_nn_index"])
        return table["is_partial"].to_numpy(), np.where(table["is_partial"], source, -1).astype(np.int64)
    if kind.startswith(REAL_PREFIXES):
        table = tile_partial_copies(samples, train, threshold=threshold, device=device)
        return table["is_partial"].to_numpy(), table["tile_nn_index"].to_numpy(dtype=np.int64)
    return none


def assess(scores: pd.DataFrame, samples: np.ndarray, train: np.ndarray, train_labels: np.ndarray, card: dict, *,
           threshold: float, device=None) -> pd.DataFrame:
    """``scores`` (one row per sample, from `memgen.score.score_samples`) with the other side added: ``is_partial``
    (bool), ``partial_source`` (training index of the copied piece, -1), ``is_valid`` (nullable boolean: NA when
    the label's kind has no rule) and ``outcome`` (replicate, partial_copy, novel_valid, invalid or novel).

    samples uint8 [M, H, W, 3] in the order of ``scores``; train uint8 [N, H, W, 3] with ``train_labels`` int [N].
    """
    kinds = label_kinds(card)
    out = scores.copy()
    is_partial = np.zeros(len(out), dtype=bool)
    source = np.full(len(out), -1, dtype=np.int64)
    valid = pd.array([pd.NA] * len(out), dtype="boolean")
    outcome = np.empty(len(out), dtype=object)
    labels = out["label"].to_numpy()
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        kind, seed = kinds.get(int(label), ("", None))
        members = np.flatnonzero(train_labels == label)
        part, src = _partial(kind, samples[rows], train[members], threshold, device)
        is_partial[rows], source[rows] = part, np.where(src >= 0, members[np.maximum(src, 0)], -1)
        ok = validity(kind, samples[rows], seed=seed) if has_rule(kind) else None
        if ok is not None:
            valid[rows] = ok
        outcome[rows] = np.asarray(oc.outcomes(out["is_replicate"].to_numpy()[rows], part, ok))
    out["is_partial"], out["partial_source"], out["is_valid"], out["outcome"] = is_partial, source, valid, outcome
    return out


def outcome_summary(assessed: pd.DataFrame) -> pd.DataFrame:
    """Per label: ``frac_<outcome>``, ``ci_low_<outcome>``, ``ci_high_<outcome>`` (95% Wilson) for each of the five
    outcomes (NaN for those that do not apply to the label's kind), ``memorized_fraction`` (replicates + partial
    copies) and ``generalizing_fraction`` (novel and valid; NaN without a validity rule).

    The categories follow the label's kind, not the outcomes that occur: a kind without a validity rule (`assess`
    leaves its ``is_valid`` NA, from `memgen.evaluation.validity.has_rule`) has replicate / partial copy / novel,
    even when every sample copies (then novel-and-valid is NaN, not 0: nothing was tested for validity)."""
    rows = []
    for label, group in assessed.groupby("label", sort=True):
        no_rule = group["is_valid"].isna().all() if "is_valid" in group else oc.NOVEL in set(group["outcome"])
        cats = oc.OUTCOMES_WITHOUT_RULE if no_rule else oc.OUTCOMES_WITH_RULE
        tidy = oc.outcome_fractions(pd.Categorical(group["outcome"], categories=list(cats)))
        row = {"label": int(label)}
        for _, r in tidy.iterrows():
            row |= {f"frac_{r.outcome}": r.fraction, f"ci_low_{r.outcome}": r.ci_low, f"ci_high_{r.outcome}": r.ci_high}
        rows.append(row)
    table = pd.DataFrame(rows)
    for o in OUTCOMES:
        for prefix in ("frac", "ci_low", "ci_high"):
            if f"{prefix}_{o}" not in table:
                table[f"{prefix}_{o}"] = np.nan
    table["memorized_fraction"] = table[f"frac_{oc.REPLICATE}"] + table[f"frac_{oc.PARTIAL}"]
    table["generalizing_fraction"] = table[f"frac_{oc.NOVEL_VALID}"]
    cols = ["label"] + [f"{p}_{o}" for o in OUTCOMES for p in ("frac", "ci_low", "ci_high")]
    return table[cols + ["memorized_fraction", "generalizing_fraction"]]


COPYING_COLUMNS = ["c_t", "c_t_cells", "c_t_partition", "c_t_saturated", "c_t_space"]
HELDOUT_PARTIAL_COLUMNS = ["n_heldout", "heldout_partial_fraction", "heldout_partial_ci_low", "heldout_partial_ci_high"]


def copying_summary(assessed: pd.DataFrame, samples: np.ndarray, train: np.ndarray, train_labels: np.ndarray,
                    heldout: np.ndarray, card: dict) -> dict:
    """Meehan et al.'s C_T of the label-0 (base) samples against the base training images and held-out images of
    the same distribution, for a real-image base, with what it rests on (``COPYING_COLUMNS``):

    - ``c_t``: negative = the samples sit closer to the training set than fresh data does (data copying); NaN for
      other bases or when no cell qualifies;
    - ``c_t_partition``: k, the k-means cells, from the number of samples (`datacopy.copying_cells`);
    - ``c_t_cells``: the cells that entered C_T (more than 20 samples and a held-out image);
    - ``c_t_saturated``: how many of those had U at its bound (Z then depends only on the cell's counts: two
      different models with one saturated cell each get the same C_T to the last digit);
    - ``c_t_space``: "pixels" or "projection 256", chosen by the image shape (`datacopy.copying_features`), one
      space for every cell of a sweep whatever its training-set size.
    """
    out = dict(zip(COPYING_COLUMNS, (np.nan, 0, 0, 0, None)))
    kind = label_kinds(card).get(0, ("", None))[0]
    base = assessed["label"].to_numpy() == 0
    if not kind.startswith(REAL_PREFIXES) or not base.any():
        return out
    (t, space), (p, _), (q, _) = (copying_features(x) for x in (train[train_labels == 0], heldout, samples[base]))
    k = copying_cells(len(q), len(p), len(t))
    out.update(c_t_partition=k, c_t_space=space)
    try:
        c_t, table = data_copying_test(t, p, q, n_cells=k)
    except MemgenError:
        return out
    use = table[table["included"]]
    return out | {"c_t": c_t, "c_t_cells": len(use), "c_t_saturated": int(use["saturated"].sum())}


def copying_statistic(assessed: pd.DataFrame, samples: np.ndarray, train: np.ndarray, train_labels: np.ndarray,
                      heldout: np.ndarray, card: dict) -> float:
    """C_T alone (``copying_summary``'s ``c_t``)."""
    return copying_summary(assessed, samples, train, train_labels, heldout, card)["c_t"]


def heldout_partial_rate(heldout: np.ndarray, train: np.ndarray, train_labels: np.ndarray, card: dict, *,
                         threshold: float, device=None, n_max: int | None = None) -> dict:
    """The tile partial-copy criterion's false-positive rate on real data: the share of held-out images of a
    real-image base (never trained on) that `tile_partial_copies` flags against the base training images
    (label 0), with its 95% Wilson interval (``HELDOUT_PARTIAL_COLUMNS``; NaN for other bases). Read beside a
    cell's ``frac_partial_copy``: partial copies at about this rate are what unrelated images of the class get.
    threshold: the ratio of the tile criterion, the one the samples were assessed with (``score.threshold``).
    n_max: test only the first n_max held-out images (the score CLI passes the number of base samples, so the
    rate has the precision of the fraction it is read beside and costs no more than the samples' own search)."""
    out = dict(zip(HELDOUT_PARTIAL_COLUMNS, (0, np.nan, np.nan, np.nan)))
    kind = label_kinds(card).get(0, ("", None))[0]
    base = train[train_labels == 0]
    heldout = heldout if n_max is None else heldout[: max(int(n_max), 0)]
    if not kind.startswith(REAL_PREFIXES) or len(heldout) == 0 or len(base) < 2:
        return out
    flagged = int(tile_partial_copies(heldout, base, threshold=threshold, device=device)["is_partial"].sum())
    lo, hi = wilson_interval(flagged, len(heldout))
    return dict(zip(HELDOUT_PARTIAL_COLUMNS, (len(heldout), flagged / len(heldout), lo, hi)))
