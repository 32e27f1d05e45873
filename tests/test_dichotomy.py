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


def _replicates(study, rows, dataset="mondrian"):
    return pd.DataFrame([{"study": study, "dataset": dataset, "width": 16, "size": n, "dummy": "none", "ndummy": 0,
                          "steps": 100, "conditional": 0, "seed": 0, "label": 0, "n_samples": 100,
                          "memorized_fraction": x, "generalizing_fraction": y} for n, x, y in rows])


def test_dichotomy_table_has_both_versions_of_y():
    cap = _replicates("capacity", [(16, 1.0, 0.0), (64, 0.4, np.nan), (256, 0.0, 0.9)])
    side_b = _replicates("disjoint_split", [(64, 0.5, np.nan)], dataset="split-mondrian")
    cars = _replicates("dummies_cifar", [(64, 0.3, np.nan)], dataset="cifar-automobile")
    agreement = pd.DataFrame({"dataset": "mondrian", "width": 16, "size": [64, 256], "dummy": "none", "ndummy": 0,
                              "steps": 100, "conditional": 0, "seed": 0, "label": 0, "frac_same": [0.1, 0.9],
                              "frac_same_novel": [0.05, 0.8]})
    table = dichotomy_table([cap, side_b, cars], agreement)
    by = table.set_index(["study", "size"])
    assert by.loc[("capacity", 16), "region_valid"] == "memorizing"
    assert np.isnan(by.loc[("capacity", 16), "y_agreement"]) and by.loc[("capacity", 16), "region_agreement"] == \
        "undefined"  # no partner at 16
    assert by.loc[("capacity", 64), "y_agreement"] == 0.05 and by.loc[("capacity", 64), "region_valid"] == "undefined"
    assert by.loc[("capacity", 256), "region_valid"] == "generalizing"
    assert by.loc[("capacity", 256), "region_agreement"] == "generalizing"  # x 0, y 0.8
    assert by.loc[("disjoint_split", 64), "y_agreement"] == 0.05  # side B shares its pair's agreement
    # another data set's cell of the same name is not the pair's
    assert np.isnan(by.loc[("dummies_cifar", 64), "y_agreement"])
    without = dichotomy_table(cap)  # no agreement: every cell's y_agreement undefined
    assert (without["region_agreement"] == "undefined").all() and (without["region_valid"] == "undefined").sum() == 1


def test_agreement_summary_counts_same_and_novel_pairs():
    pairs = pd.DataFrame({
        "dataset": "mondrian", "width": 16, "size": [4] * 4 + [8] * 4, "seed": 0, "label": 0,
        "similarity": [0.9, 0.8, 0.1, 0.2, 0.95, 0.9, 0.85, 0.99],
        "pair_dist": [0.1, 0.2, 3.0, 2.0, 0.1, 0.1, 0.2, 0.1],
        "is_same": [True, True, False, False, True, True, True, True],
        "outcome_a": ["replicate", "novel_valid", "novel_valid", "replicate"] + ["novel_valid"] * 3 + ["invalid"],
        "outcome_b": ["novel_valid", "novel_valid", "replicate", "replicate"] + ["novel", "novel_valid",
                                                                                 "novel_valid", "novel_valid"],
    })
    summary = agreement_summary(pairs)
    assert list(summary.columns[:5]) == ["dataset", "width", "size", "seed", "label"]  # the pair's columns lead
    summary = summary.set_index("size")
    assert summary.loc[4, "n_pairs"] == 4 and summary.loc[4, "frac_same"] == 0.5
    assert summary.loc[4, "frac_same_novel"] == 0.25  # one same pair where neither sample copies anything
    assert summary.loc[8, "frac_same_novel"] == 0.75  # an invalid sample is not novel-and-valid
    assert summary.loc[4, "same_novel_ci_low"] < 0.25 < summary.loc[4, "same_novel_ci_high"]
    assert summary.loc[8, "median_similarity"] == pytest.approx(0.925)
    # the exploratory similarity of the pairs whose samples are both novel (and valid); no shuffled pairs given
    assert summary.loc[4, "n_novel_pairs"] == 1 and summary.loc[4, "median_similarity_novel"] == pytest.approx(0.8)
    assert summary.loc[8, "n_novel_pairs"] == 3 and summary.loc[8, "median_similarity_novel"] == pytest.approx(0.9)
    assert summary["median_similarity_novel_shuffled"].isna().all()
