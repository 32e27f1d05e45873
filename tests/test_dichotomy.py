"""The dichotomy table and its regions, and the disjoint-split agreement summary, on hand-built tables."""

import numpy as np
import pandas as pd
import pytest

from memgen.analysis.dichotomy import REGIONS, dichotomy_table, region
from memgen.evaluation.agreement import agreement_summary


@pytest.mark.parametrize("x, y, expected", [
    (0.95, 0.0, "memorizing"), (0.6, 0.35, "memorizing"), (0.0, 0.97, "generalizing"), (0.2, 0.7, "generalizing"),
    (0.45, 0.45, "transition"), (0.05, 0.1, "neither"), (0.7, 0.7, "both (contradicts the dichotomy)"),
    (0.3, 0.2, "between"),
])
def test_region_of_a_point(x, y, expected):
    assert region(x, y) == expected and expected in REGIONS


def test_region_boundaries():
    assert region(0.5, 0.25) == "memorizing"  # x + y = 0.75: on the line's lower edge, half copied
    assert region(0.5, 0.24) == "between"  # just below the line's band
    assert region(0.1, 0.14) == "neither" and region(0.1, 0.15) == "between"  # x + y < 0.25 is near the origin
    assert region(0.6, 0.65) == "memorizing" and region(0.6, 0.66) == "both (contradicts the dichotomy)"


def _replicates(study, rows):
    return pd.DataFrame([{"study": study, "dataset": "mondrian", "width": 16, "size": n, "seed": 0, "label": 0,
                          "n_samples": 100, "memorized_fraction": x, "generalizing_fraction": y}
                         for n, x, y in rows])


def test_dichotomy_table_uses_validity_then_agreement_for_the_paired_study():
    cap = _replicates("capacity", [(16, 1.0, 0.0), (64, 0.4, np.nan), (256, 0.0, np.nan)])
    other = _replicates("classes", [(64, 0.3, np.nan)])
    agreement = pd.DataFrame({"width": [16, 16], "size": [64, 256], "seed": [0, 0], "frac_same": [0.1, 0.9],
                              "frac_same_novel": [0.05, 0.8]})
    table = dichotomy_table([cap, other], agreement, paired_study="capacity")
    by = table.set_index(["study", "size"])
    assert by.loc[("capacity", 16), "y_measure"] == "valid" and by.loc[("capacity", 16), "region"] == "memorizing"
    assert by.loc[("capacity", 64), "y"] == 0.05 and by.loc[("capacity", 64), "y_measure"] == "agreement"
    assert by.loc[("capacity", 256), "region"] == "generalizing"  # x 0, y 0.8 from the agreement
    # the classes cell is not a side of the split: its y stays undefined, and so does its region
    assert np.isnan(by.loc[("classes", 64), "y"]) and by.loc[("classes", 64), "region"] == "undefined"
    assert by.loc[("classes", 64), "y_measure"] == "none"
    without = dichotomy_table(cap)  # no agreement: undefined where there is no validity rule
    assert (without["region"] == "undefined").sum() == 2


def test_agreement_summary_counts_same_and_novel_pairs():
    pairs = pd.DataFrame({
        "width": 16, "size": [4] * 4 + [8] * 4, "seed": 0,
        "similarity": [0.9, 0.8, 0.1, 0.2, 0.95, 0.9, 0.85, 0.99],
        "pair_dist": [0.1, 0.2, 3.0, 2.0, 0.1, 0.1, 0.2, 0.1],
        "is_same": [True, True, False, False, True, True, True, True],
        "outcome_a": ["replicate", "novel_valid", "novel_valid", "replicate"] + ["novel_valid"] * 3 + ["invalid"],
        "outcome_b": ["novel_valid", "novel_valid", "replicate", "replicate"] + ["novel", "novel_valid",
                                                                                 "novel_valid", "novel_valid"],
    })
    summary = agreement_summary(pairs).set_index("size")
    assert summary.loc[4, "n_pairs"] == 4 and summary.loc[4, "frac_same"] == 0.5
    assert summary.loc[4, "frac_same_novel"] == 0.25  # one same pair where neither sample copies anything
    assert summary.loc[8, "frac_same_novel"] == 0.75  # an invalid sample is not novel-and-valid
    assert summary.loc[4, "same_novel_ci_low"] < 0.25 < summary.loc[4, "same_novel_ci_high"]
    assert summary.loc[8, "median_similarity"] == pytest.approx(0.925)
