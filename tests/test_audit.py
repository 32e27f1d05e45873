"""The evaluation audit of issue 16 (item 6): each test failed before its fix.

- A Gaussian-mixture base draws every pool (side B of a split, the held-out set, held-out dummies) from the base's
  own mixture, so they are valid under the base's means.
- A real-image label whose samples all copy gets NaN, not 0, for novel-and-valid and generalizing.
- C_T: the number of k-means cells follows the number of samples, one feature space per image shape, and the
  summary says how many cells entered C_T and whether a cell's U sat at its bound.
- The tile partial-copy criterion's false-positive rate on real held-out images sits beside the partial copies.
"""

import numpy as np
import pandas as pd
import pytest

from memgen.data import materialize
from memgen.data.synthetic import gm_means
from memgen.evaluation.assess import assess, label_kinds, outcome_summary
from memgen.evaluation.validity import validity
from memgen.score import score_samples

S = 8


# ------------------------------------------------------------------------------- GM base: one mixture for all pools
def _rows(a: np.ndarray, b: np.ndarray) -> set:
    return {r.tobytes() for r in a.reshape(len(a), -1)} & {r.tobytes() for r in b.reshape(len(b), -1)}


def test_gm_base_pools_come_from_the_base_mixture():
    seed = 4
    side_a, _, card_a = materialize.build_training_set("gm", 60, seed, S)
    side_b, _, card_b = materialize.build_training_set("split:gm", 60, seed, S)
    held, _, _ = materialize.build_heldout_set("gm", 60, seed, S)
    with_dummies, labels, card_h = materialize.build_training_set("gm", 60, seed, S, "heldout", 30)
    means = gm_means(seed, S)
    for name, images in (("side A", side_a), ("side B", side_b), ("held-out set", held),
                         ("heldout dummies", with_dummies[60:])):
        assert validity("gm", images, means=means).mean() >= 0.9, name  # fresh GM images: ~all valid
    for card in (card_a, card_b, card_h):  # the GM rule of the assessment reads the base's means from the card
        assert label_kinds(card)[0] == ("gm", seed)
    assert not _rows(side_a, side_b) and not _rows(side_a, held) and not _rows(side_b, held)
    np.testing.assert_array_equal(with_dummies[:60], side_a)  # the base part does not depend on the dummies


# ----------------------------------------------------------------------- no validity rule: no novel-and-valid share
@pytest.mark.parametrize("kind,rule", [("cifar:cat", False), ("folder:photos", False), ("mondrian", True)])
def test_a_label_that_only_copies_keeps_its_kinds_categories(kind, rule):
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (12, S, S, 3), dtype=np.uint8)
    samples = train[:6].copy()  # every sample a replicate: no "novel" outcome occurs
    scores = score_samples(samples, train, np.zeros(6, np.int64), np.zeros(12, np.int64))
    assessed = assess(scores, samples, train, np.zeros(12, np.int64), {"class_names": {"0": kind}})
    assert set(assessed["outcome"]) == {"replicate"}
    row = outcome_summary(assessed).iloc[0]
    assert row.frac_replicate == 1.0 and row.memorized_fraction == 1.0
    if rule:  # a kind with a rule: 0% novel-and-valid is a measurement
        assert row.frac_novel_valid == 0.0 and row.generalizing_fraction == 0.0 and np.isnan(row.frac_novel)
    else:  # no rule: novel-and-valid is undefined, so the dichotomy cannot call the cell "valid"
        assert np.isnan(row.frac_novel_valid) and np.isnan(row.generalizing_fraction)
        assert np.isnan(row.frac_invalid) and row.frac_novel == 0.0
