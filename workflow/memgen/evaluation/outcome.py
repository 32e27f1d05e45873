"""The four-way outcome of each sample: both sides of the memorization / generalization dichotomy.

Precedence: replicate (whole-image ratio criterion, ``memgen.score``) > partial copy (``evaluation.partial``) >
novel and valid (``evaluation.validity``) > invalid. Kinds without a validity rule give three outcomes:
replicate, partial copy, novel. Per label, every outcome's count, fraction and 95% Wilson interval
(``memgen.stats.wilson_interval``); the fractions of one label sum to one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from memgen.stats import wilson_interval
from memgen.errors import MemgenError

REPLICATE = "replicate"
PARTIAL = "partial_copy"
NOVEL_VALID = "novel_valid"
INVALID = "invalid"
NOVEL = "novel"  # novel when the kind has no validity rule
OUTCOMES_WITH_RULE = (REPLICATE, PARTIAL, NOVEL_VALID, INVALID)
OUTCOMES_WITHOUT_RULE = (REPLICATE, PARTIAL, NOVEL)
FRACTION_COLUMNS = ["label", "outcome", "count", "n_samples", "fraction", "ci_low", "ci_high"]


def _flags(name: str, value, n: int | None) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 1 or arr.dtype != bool or (n is not None and arr.shape[0] != n):
        want = "[N]" if n is None else f"[{n}]"
        raise MemgenError(f"{name} must be a bool array of shape {want}, got {arr.dtype} {arr.shape}")
    return arr


def outcomes(is_replicate, is_partial, is_valid=None) -> pd.Categorical:
    """Outcome of each sample as a Categorical ``[N]``.

    is_replicate, is_partial: bool ``[N]``; is_valid: bool ``[N]`` or None (the kind has no rule). Categories in
    precedence order: ``OUTCOMES_WITH_RULE`` (replicate, partial_copy, novel_valid, invalid) or, when is_valid is
    None, ``OUTCOMES_WITHOUT_RULE`` (replicate, partial_copy, novel).
    """
    rep = _flags("is_replicate", is_replicate, None)
    part = _flags("is_partial", is_partial, rep.shape[0])
    if is_valid is None:
        codes = np.where(rep, 0, np.where(part, 1, 2))
        categories = OUTCOMES_WITHOUT_RULE
    else:
        valid = _flags("is_valid", is_valid, rep.shape[0])
        codes = np.where(rep, 0, np.where(part, 1, np.where(valid, 2, 3)))
        categories = OUTCOMES_WITH_RULE
    return pd.Categorical.from_codes(codes, categories=list(categories))


def outcome_fractions(outcome: pd.Categorical, labels=None) -> pd.DataFrame:
    """Tidy summary: one row per label x outcome (every category, zero counts included), ordered by label and
    precedence. Columns ``FRACTION_COLUMNS``: label (int64), outcome (str), count, n_samples (int64), fraction,
    ci_low, ci_high (float64; Wilson 95%). For each label the fractions sum to one.

    outcome: the Categorical of ``outcomes`` ``[N]``; labels: int ``[N]`` or None (all 0).
    """
    if not isinstance(outcome, pd.Categorical):
        raise MemgenError(f"outcome must be the pandas Categorical from outcomes(), got {type(outcome).__name__}")
    n = len(outcome)
    lab = np.zeros(n, dtype=np.int64) if labels is None else np.asarray(labels)
    if lab.shape != (n,) or not np.issubdtype(lab.dtype, np.integer):
        raise MemgenError(f"labels must be integers of shape ({n},), got {lab.dtype} {lab.shape}")
    cats = list(outcome.categories)
    uniq, inv = np.unique(lab, return_inverse=True)
    counts = np.zeros((len(uniq), len(cats)), dtype=np.int64)
    np.add.at(counts, (inv, outcome.codes), 1)
    totals = np.repeat(counts.sum(1), len(cats))
    lo, hi = wilson_interval(counts.reshape(-1), totals)
    return pd.DataFrame({
        "label": np.repeat(uniq.astype(np.int64), len(cats)),
        "outcome": np.tile(np.array(cats, dtype=object), len(uniq)),
        "count": counts.reshape(-1),
        "n_samples": totals.astype(np.int64),
        "fraction": counts.reshape(-1) / totals,
        "ci_low": np.asarray(lo, dtype=np.float64),
        "ci_high": np.asarray(hi, dtype=np.float64),
    }, columns=FRACTION_COLUMNS)
