"""Both sides of the dichotomy for one cell: the four-way outcome of every sample and its fractions per label.

The kind of each label's training images decides which rules apply. It is read from the data set's card
(``class_names``: the base spec for label 0, the dummy kind for label 1; ``seed`` and ``dummy_seed`` for the GM
means):

- validity (`memgen.evaluation.validity`): mondrian, random_ink and gm samples; no rule for shapes, hybrids and
  real images (cifar:, folder:), whose samples are "novel" when neither copied whole nor in part;
- partial copies (`memgen.evaluation.partial`): Mondrian samples by component (a training image's cross, or its
  four quadrant colours), real images by aligned tiles, each against the training images of the same label;
  none for the other kinds (iid noise has no parts worth copying alone);
- the data-copying test C_T (`memgen.evaluation.datacopy`) for real-image bases, when held-out images are given.

Outcome precedence: replicate (the whole-image ratio criterion of `memgen.score`) > partial copy > novel and valid
(generalizing) > invalid (neither).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from memgen.evaluation import outcome as oc
from memgen.evaluation.partial import mondrian_partial_copies, tile_partial_copies
from memgen.evaluation.validity import has_rule, validity

OUTCOMES = (oc.REPLICATE, oc.PARTIAL, oc.NOVEL_VALID, oc.INVALID, oc.NOVEL)
REAL_PREFIXES = ("cifar:", "folder:")


def label_kinds(card: dict) -> dict[int, tuple[str, int | None]]:
    """label -> (kind, seed of its generator) from a data set card; the seed is what the GM rule needs."""
    seeds = {0: card.get("base_seed", card.get("seed")), 1: card.get("dummy_seed")}
    return {int(label): (str(kind), seeds.get(int(label))) for label, kind in card.get("class_names", {}).items()}


def _partial(kind: str, samples: np.ndarray, train: np.ndarray, device) -> tuple[np.ndarray, np.ndarray]:
    """(is_partial bool [M], source index into ``train`` int64 [M], -1 for none) for one label's samples."""
    none = np.zeros(len(samples), dtype=bool), np.full(len(samples), -1, dtype=np.int64)
    if len(samples) == 0 or len(train) < 2:
        return none
    if kind == "mondrian":
        table = mondrian_partial_copies(samples, train, device=device)
        source = np.where(table["is_cross_copy"], table["cross_nn_index"], table["colour_nn_index"])
        return table["is_partial"].to_numpy(), np.where(table["is_partial"], source, -1).astype(np.int64)
    if kind.startswith(REAL_PREFIXES):
        table = tile_partial_copies(samples, train, device=device)
        return table["is_partial"].to_numpy(), table["tile_nn_index"].to_numpy(dtype=np.int64)
    return none


def assess(scores: pd.DataFrame, samples: np.ndarray, train: np.ndarray, train_labels: np.ndarray, card: dict,
           device=None) -> pd.DataFrame:
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
        part, src = _partial(kind, samples[rows], train[members], device)
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


def copying_statistic(assessed: pd.DataFrame, samples: np.ndarray, train: np.ndarray, train_labels: np.ndarray,
                      heldout: np.ndarray, card: dict) -> float:
    """Meehan et al.'s C_T of the label-0 (base) samples against the base training images and held-out images of
    the same distribution, for a real-image base (NaN otherwise, or when too few samples fall in any cell).
    Negative = the samples sit closer to the training set than fresh data does: data copying."""
    from memgen.errors import MemgenError
    from memgen.evaluation.datacopy import data_copying_test

    kind = label_kinds(card).get(0, ("", None))[0]
    base = assessed["label"].to_numpy() == 0
    if not kind.startswith(REAL_PREFIXES) or not base.any():
        return float("nan")
    scale = lambda x: x.reshape(len(x), -1).astype(np.float32) / 255.0  # noqa: E731
    t = train[train_labels == 0]
    components = 64 if t.size > 50_000_000 else None  # PCA for large sets (50k x 3072 floats: 600 MB)
    try:
        c_t, _ = data_copying_test(scale(t), scale(heldout), scale(samples[base]), n_components=components)
    except MemgenError:
        return float("nan")
    return c_t
