"""The per-study comparisons table: specs declared on the study records (`Study.comparisons`), neighbours along
a grid column (`memgen.studies.common.ladder`), and `memgen.analysis.seeds.comparisons_table` that reads them from
one or several tables and adjusts the p-values over all of them."""

import numpy as np
import pandas as pd
import pytest
from memgen.analysis.seeds import COMPARISON_COLUMNS, comparisons_table
from memgen.config import load_config
from memgen.errors import MemgenError
from memgen.stats import holm
from memgen.studies import REGISTRY
from memgen.studies.cell import Cell
from memgen.studies.common import ladder
from memgen.studies.grid import Grid


def _rows(study, width, size, fractions, ndummy=0, label=0, n=200):
    return [dict(study=study, width=width, size=size, ndummy=ndummy, label=label, seed=s, n_samples=n,
                 n_replicates=round(f * n), replicate_fraction=round(f * n) / n) for s, f in enumerate(fractions)]


def test_ladder_compares_neighbours_with_the_rest_pinned():
    cells = [Cell("capacity", "mondrian", w, n, "none", 0, 100, 8, False, s, 16)
             for w in (16, 32) for n in (4, 16, 64) for s in (0, 1)]
    specs = ladder("falls", cells, "size", ("width",), -1, False)
    assert [(s["a"], s["b"]) for s in specs[:2]] == [({"width": 16, "label": 0, "size": 4},
                                                      {"width": 16, "label": 0, "size": 16}),
                                                     ({"width": 16, "label": 0, "size": 16},
                                                      {"width": 16, "label": 0, "size": 64})]
    assert len(specs) == 4 and {s["expected"] for s in specs} == {-1} and not any(s["paired"] for s in specs)
    assert "label" not in ladder("x", cells, "width", ("size",), 1, True, label=None)[0]["a"]


def test_comparisons_table_reads_several_tables_and_adjusts_over_all():
    own = pd.DataFrame(_rows("b", 16, 6, (0.30, 0.35, 0.32), ndummy=6) + _rows("b", 32, 6, (0.5, 0.5, 0.5)))
    other = pd.DataFrame(_rows("a", 16, 6, (0.90, 0.85, 0.95)))
    specs = [
        {"name": "dummies lower", "a": {"study": "a", "width": 16}, "b": {"study": "b", "width": 16},
         "expected": -1, "paired": True, "table": ["replicates", "a/replicates"]},
        {"name": "wrong way", "a": {"study": "b", "width": 16}, "b": {"study": "b", "width": 32}, "expected": -1,
         "table": "replicates"},
        {"name": "missing", "a": {"study": "b", "width": 64}, "b": {"study": "b", "width": 32}, "expected": 1},
    ]
    table = comparisons_table([own, other], ["replicates", "a/replicates"], specs)
    assert list(table.columns) == [*COMPARISON_COLUMNS, "source"]
    assert table["verdict"].tolist() == ["supported", "reversed", "not run"]
    assert table.loc[0, "test"] == "paired t" and table.loc[0, "source"] == "replicates+a/replicates"
    assert table.loc[0, "diff"] == pytest.approx(np.mean([0.30, 0.35, 0.32]) - 0.9, abs=1e-9)
    p = table["p_value"].to_numpy(dtype=float)
    assert np.allclose(table["p_holm"].to_numpy(dtype=float), holm(p), equal_nan=True)
    assert table.loc[0, "p_holm"] > table.loc[0, "p_value"]  # adjusted over the two that ran, not one by one


def test_comparisons_table_refuses_an_unknown_table():
    with pytest.raises(MemgenError, match="no table 'losses'"):
        comparisons_table([pd.DataFrame(_rows("b", 16, 6, (0.3,)))], ["replicates"],
                          [{"name": "x", "a": {"width": 16}, "table": "losses"}])
    assert comparisons_table().empty  # a grid with no pair of cells to compare: no inputs, an empty table


def test_every_training_study_gets_across_seeds_and_the_claims_their_comparisons():
    for study in REGISTRY.values():
        names = [t.name for t in study.tables]
        if study.trains:
            assert names[:2] == ["replicates", "across_seeds"], study.name
        assert ("comparisons" in names) == (study.comparisons is not None), study.name
    with_claims = {s.name for s in REGISTRY.values() if s.comparisons is not None}
    assert with_claims >= {"capacity", "dummies_mondrian", "dummies_cifar", "unconditional_dummies", "classes",
                           "dummy_kinds", "loss_gap", "disjoint_split"}


def test_the_default_demo_plans_a_claim_of_every_kind(repo_root):
    """Every comparison the issue asks for is planned by the shipped config, on cells the grid has."""
    grid = Grid(load_config(repo_root / "config.yaml"))
    names = {}
    for study in grid.cfg.studies:
        record = REGISTRY[study]
        if record.comparisons is not None:
            names[study] = {spec["name"] for spec in record.comparisons(grid, study)}
    assert {"replicates fall as N grows (Figure 1)", "replicates rise with width (Figure 1)"} <= names["capacity"]
    assert "dummies lower replicates (Figures 3-6)" in names["dummies_mondrian"]
    assert names["unconditional_dummies"] == {"unconditional dummies lower replicates (Appendix C.1)"}
    assert names["classes"] == {"the minority class is copied more (Figures 7-8)"}
    assert {"hybrid vs GM dummies (the report)", "shapes dummies lower replicates"} <= names["dummy_kinds"]
    assert "held-out loss above train loss at the peak level" in names["loss_gap"]
    assert names["disjoint_split"] == {
        "the same novel, valid image from the same noise rises with N (Kadkhodaie et al.)"}
    split = REGISTRY["disjoint_split"].comparisons(grid, "disjoint_split")
    assert {s["measure"] for s in split} == {"frac_same_novel"} and len(split) == 2  # sizes 4 -> 16 -> 64
