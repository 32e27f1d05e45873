"""Tests of memgen.evaluation.outcome: precedence of the four outcomes and their per-label fractions."""

import numpy as np
import pandas as pd
import pytest

from memgen.stats import wilson_interval
from memgen.errors import MemgenError
from memgen.evaluation.outcome import (FRACTION_COLUMNS, OUTCOMES_WITH_RULE, OUTCOMES_WITHOUT_RULE, outcome_fractions,
                                       outcomes)

REP = np.array([1, 1, 0, 0, 0, 0, 1, 0], bool)
PART = np.array([1, 0, 1, 1, 0, 0, 0, 0], bool)
VALID = np.array([0, 1, 0, 1, 1, 0, 0, 0], bool)


def test_precedence_with_rule():
    out = outcomes(REP, PART, VALID)
    assert list(out.categories) == list(OUTCOMES_WITH_RULE)
    assert list(out) == ["replicate", "replicate", "partial_copy", "partial_copy", "novel_valid", "invalid",
                         "replicate", "invalid"]


def test_precedence_without_rule():
    out = outcomes(REP, PART, None)
    assert list(out.categories) == list(OUTCOMES_WITHOUT_RULE)
    assert list(out) == ["replicate", "replicate", "partial_copy", "partial_copy", "novel", "novel", "replicate",
                         "novel"]


def test_fractions_per_label_sum_to_one_with_wilson_intervals():
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    table = outcome_fractions(outcomes(REP, PART, VALID), labels)
    assert list(table.columns) == FRACTION_COLUMNS
    assert len(table) == 2 * 4  # every label x outcome, zeros included
    np.testing.assert_allclose(table.groupby("label")["fraction"].sum(), 1.0)
    row = table[(table.label == 1) & (table.outcome == "invalid")].iloc[0]
    assert (row["count"], row["n_samples"], row["fraction"]) == (2, 4, 0.5)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(wilson_interval(2, 4))
    zero = table[(table.label == 1) & (table.outcome == "partial_copy")].iloc[0]
    assert zero["count"] == 0 and zero["ci_low"] == 0.0 and zero["ci_high"] > 0.0
    assert table["label"].dtype == np.int64 and table["count"].dtype == np.int64


def test_random_flags_fractions_match_counts():
    rng = np.random.default_rng(0)
    n = 5000
    rep, part, valid = rng.random((3, n)) < np.array([[0.2], [0.3], [0.5]])
    labels = rng.integers(0, 3, n)
    table = outcome_fractions(outcomes(rep, part, valid), labels)
    for lab in range(3):
        sel = labels == lab
        expected = {
            "replicate": rep[sel].sum(), "partial_copy": (part & ~rep)[sel].sum(),
            "novel_valid": (valid & ~part & ~rep)[sel].sum(), "invalid": (~valid & ~part & ~rep)[sel].sum(),
        }
        got = table[table.label == lab].set_index("outcome")["count"].to_dict()
        assert got == expected
    assert table.groupby("label")["count"].sum().sum() == n


def test_bad_input():
    with pytest.raises(MemgenError, match="is_partial"):
        outcomes(REP, PART[:3])
    with pytest.raises(MemgenError, match="is_replicate"):
        outcomes(REP.astype(int), PART)
    with pytest.raises(MemgenError, match="is_valid"):
        outcomes(REP, PART, VALID.astype(float))
    with pytest.raises(MemgenError, match="Categorical"):
        outcome_fractions(np.array(["replicate"]))
    with pytest.raises(MemgenError, match="labels"):
        outcome_fractions(outcomes(REP, PART), labels=np.zeros(3, int))
    empty = outcome_fractions(outcomes(np.zeros(0, bool), np.zeros(0, bool)))
    assert empty.empty and list(empty.columns) == FRACTION_COLUMNS
    assert isinstance(outcomes(REP, PART), pd.Categorical)
