"""The per-study comparisons table: specs declared on the study records (`Study.comparisons`), neighbours along
a grid column (`memgen.studies.common.ladder`), and `memgen.analysis.seeds.comparisons_table` that reads them from
one or several tables and adjusts the p-values over all of them."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from memgen.analysis.dichotomy import dichotomy_table, summary_line
from memgen.analysis.seeds import COMPARISON_COLUMNS, Comparison, comparisons_table
from memgen.config import load_config
from memgen.data.materialize import build_training_set
from memgen.errors import MemgenError
from memgen.stats import holm
from memgen.studies import REGISTRY
from memgen.studies.cell import Cell, dataset_token
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
    first = int(np.nanargmin(p))  # the smallest p is multiplied by the number of comparisons that ran (two)
    assert table.loc[first, "p_holm"] > table.loc[first, "p_value"]  # adjusted over the two that ran, not one by one


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
    assert names["unconditional_dummies"] == {"unconditional dummies lower replicates (Appendix C.1)",
                                              "unconditional and conditional models copy alike (Appendix C.1)"}
    assert names["classes"] == {"the minority class is copied more (Figures 7-8)"}
    assert {"hybrid vs GM dummies (the report)", "shapes dummies lower replicates"} <= names["dummy_kinds"]
    assert "held-out loss above train loss at the peak level" in names["loss_gap"]
    assert names["disjoint_split"] == {
        "the same novel, valid image from the same noise rises with N (Kadkhodaie et al.)"}
    split = REGISTRY["disjoint_split"].comparisons(grid, "disjoint_split")
    assert {s["measure"] for s in split} == {"frac_same_novel"} and len(split) == 2  # sizes 4 -> 16 -> 64


# ------------------------------------------------------------------------------ paired claims checked on the cards
def _set_rows(card, fractions, n=128):
    """Replicate-table rows of one model per seed on the training set of ``card`` (dataset, size, dummies)."""
    return [dict(dataset=dataset_token(card[s]["base"]), size=card[s]["n"], dummy=card[s]["dummy"],
                 ndummy=card[s]["ndummy"], seed=s, label=0, n_samples=n, n_replicates=round(f * n),
                 replicate_fraction=round(f * n) / n, frac_novel_valid=1 - round(f * n) / n - 0.02,
                 frac_invalid=0.02) for s, f in enumerate(fractions)]


def test_paired_claims_are_checked_on_the_training_set_cards():
    alone = {s: build_training_set("mondrian", 6, s, 8)[2] for s in range(3)}
    with_gm = {s: build_training_set("mondrian", 6, s, 8, dummy="gm", ndummy=6)[2] for s in range(3)}
    held = {s: build_training_set("mondrian", 6, s, 8, dummy="heldout", ndummy=6)[2] for s in range(3)}
    # what materialize promises and the pairing relies on: a seed's base images do not depend on its dummies
    assert all(alone[s]["base_sha256"] == with_gm[s]["base_sha256"] == held[s]["base_sha256"] for s in range(3))
    assert alone[0]["base_sha256"] == alone[0]["sha256"]["images"] and alone[0]["base_sha256"] != alone[1]["base_sha256"]
    table = pd.DataFrame(_set_rows(alone, (0.9, 0.8, 0.85)) + _set_rows(with_gm, (0.3, 0.2, 0.25)))
    spec = {"name": "dummies lower", "a": {"ndummy": 0}, "b": {"ndummy": 6}, "expected": -1, "paired": True}
    cards = [*alone.values(), *with_gm.values()]
    checked = comparisons_table([table], ["replicates"], [spec], cards=cards).iloc[0]
    assert checked.test == "paired t" and checked.note == "" and checked.verdict == "supported"
    # an older card (no base_sha256) of a set with dummies says nothing about its base images alone
    old = [*alone.values(), *({k: v for k, v in c.items() if k != "base_sha256"} for c in with_gm.values())]
    r = comparisons_table([table], ["replicates"], [spec], cards=old).iloc[0]
    assert r.test == "Welch t" and "seed 0: no training-set card to check: Welch" in r.note
    # another seed's base images under seed 1's name: the sets differ, so the cells cannot be paired
    other = dict(with_gm[1], base_sha256=alone[2]["base_sha256"])
    r = comparisons_table([table], ["replicates"], [spec], cards=[*alone.values(), with_gm[0], other, with_gm[2]])
    assert r.iloc[0].test == "Welch t" and "seed 1: base images differ (cards): Welch" in r.iloc[0].note
    unchecked = comparisons_table([table], ["replicates"], [spec]).iloc[0]  # no cards given: as declared, said
    assert unchecked.test == "paired t" and "paired as declared" in unchecked.note


def test_the_record_passes_the_cards_and_the_verdict_settings(repo_root):
    grid = Grid(load_config(repo_root / "config.yaml"))
    inputs = REGISTRY["unconditional_dummies"].table("comparisons").inputs(grid, "unconditional_dummies")
    assert "data/mondrian/n16-gm16-s0/card.json" in inputs["cards"]  # its own cells'
    assert "data/mondrian/n16-none0-s2/card.json" in inputs["cards"]  # and the base-alone cells of the study it reads
    params = REGISTRY["capacity"].table("comparisons").params(grid, "capacity")
    assert params["verdicts"] == {"max_invalid": 0.25, "equivalence_margin": 0.05}


def test_my_studies_declare_each_claim_kind_and_quote(repo_root):
    """Every claim of the Yoon et al. and follow-up studies says whether it is a generalization or a replication
    claim (or a claim about one measure) and carries the sentence it tests, in the demo and the paper preset."""
    kinds = {}
    for config in ("config.yaml", "workflow/presets/paper.yaml"):
        grid = Grid(load_config(repo_root / config))
        for study in set(grid.cfg.studies) & {"capacity", "dummies_mondrian", "dummies_cifar",
                                               "unconditional_dummies", "classes", "dummy_kinds"}:
            for spec in REGISTRY[study].comparisons(grid, study):
                claim = Comparison(**{k: v for k, v in spec.items() if k != "table"})
                assert spec.get("claim") in ("generalization", "replication", "measure"), spec["name"]
                assert spec.get("quote") and (spec["quote"].startswith(("Yoon et al.", "The follow-up report"))
                                              or "not a sentence of the papers" in spec["quote"]), spec["name"]
                kinds[spec["name"]] = (claim.kind, claim.expected)
    assert kinds["replicates fall as N grows (Figure 1)"] == ("replication", -1)
    assert kinds["dummies lower replicates (Figures 3-6)"] == ("generalization", -1)
    assert kinds["the minority class is copied more (Figures 7-8)"] == ("generalization", 1)
    assert kinds["unconditional and conditional models copy alike (Appendix C.1)"] == ("replication", 0)
    assert kinds["the twin's extra steps raise replicates"] == ("measure", 1)
    assert kinds["shapes vs GM dummies (the report)"] == ("generalization", 1)


def test_a_tally_counts_the_same_samples_once(tmp_path):
    """Claims of two studies on the same models and samples (capacity's N = 16 cells are also the dummy studies'
    base-alone cells) count once in the demo's verdict tally, and so do the dichotomy's points."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_demo import verdict_counts

    base = _set_rows({s: build_training_set("mondrian", 6, s, 8)[2] for s in range(3)}, (0.9, 0.8, 0.85))
    gm = _set_rows({s: build_training_set("mondrian", 6, s, 8, dummy="gm", ndummy=6)[2] for s in range(3)},
                   (0.3, 0.2, 0.25))
    for study, name in (("dummies_mondrian", "dummies lower"), ("dummy_kinds", "gm dummies lower")):
        spec = {"name": name, "a": {"ndummy": 0}, "b": {"ndummy": 6}, "expected": -1, "paired": True}
        (tmp_path / study).mkdir()
        comparisons_table([pd.DataFrame(base + gm)], ["replicates"], [spec]).to_parquet(
            tmp_path / study / "comparisons.parquet")
    counts = verdict_counts(tmp_path)
    assert counts["dummies_mondrian"] == counts["dummy_kinds"] == {"supported": 1}
    assert counts["distinct"] == {"supported": 1} and counts["repeats"] == [
        "dummy_kinds: gm dummies lower = dummies_mondrian: dummies lower"]
    rows = [dict(r, study=s, width=16, steps=800, conditional=0, memorized_fraction=r["replicate_fraction"],
                 generalizing_fraction=r["frac_novel_valid"]) for s in ("capacity", "dummy_kinds") for r in base]
    table = dichotomy_table(pd.DataFrame(rows))
    assert table["same_as"].tolist() == [""] * 3 + ["capacity"] * 3
    assert summary_line(table).startswith("3 of 3 distinct cells (3 more repeat another study's samples): ")


def test_the_other_studies_declare_measure_claims_with_their_quote(repo_root):
    """The loss gap's and the disjoint split's claims are about one measure each, with the sentence they test."""
    grid = Grid(load_config(repo_root / "config.yaml"))
    for study in ("loss_gap", "disjoint_split"):
        specs = REGISTRY[study].comparisons(grid, study)
        assert specs and all(s["claim"] == "measure" and s["quote"] for s in specs), study
        assert all(Comparison(**{k: v for k, v in s.items() if k != "table"}).kind == "measure" for s in specs)


def test_a_tally_counts_two_claims_on_one_set_of_samples_with_other_filters_twice(tmp_path):
    """Two claims that read one model's samples on both sides (the loss gap's middle band against its low-noise end,
    and against its high-noise end) are two claims: their cells match, their filters do not."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_demo import verdict_counts

    cells = "model-a/seed-0,model-a/seed-1,model-a/seed-2"
    rows = [{"name": f"middle vs {end}", "a": f"band={end}, step=800", "b": "band=middle, step=800", "measure": "gap",
             "expected": 1, "cells_a": cells, "cells_b": cells, "verdict": v}
            for end, v in (("low noise", "reversed"), ("high noise", "supported"))]
    (tmp_path / "loss_gap").mkdir()
    pd.DataFrame(rows).to_parquet(tmp_path / "loss_gap" / "comparisons.parquet")
    counts = verdict_counts(tmp_path)
    assert counts["distinct"] == {"reversed": 1, "supported": 1} and counts["repeats"] == []


def test_a_tally_counts_a_claim_on_the_ema_and_on_the_raw_weights_twice(tmp_path):
    """The dynamics study tests each claim on the EMA's samples and on the raw weights' (two sets of samples of one
    run): their sides' identities name the weights, so the tally counts two claims, not one and a repeat."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_demo import verdict_counts

    rows = [dict(width=16, weights=w, onset="tau_mem", seed=s, beta=b + 0.01 * s)
            for w, b in (("ema", 0.4), ("raw", 0.6)) for s in range(3)]
    specs = [{"name": "tau_mem grows with N", "a": {"onset": "tau_mem", "weights": w, "width": 16}, "b": None,
              "measure": "beta", "expected": 1, "claim": "measure", "table": "exponents"} for w in ("ema", "raw")]
    (tmp_path / "dynamics").mkdir()
    table = comparisons_table([pd.DataFrame(rows)], ["exponents"], specs)
    assert table["cells_a"].str.contains("weights=ema").iloc[0] and table["cells_a"].str.contains("weights=raw").iloc[1]
    table.to_parquet(tmp_path / "dynamics" / "comparisons.parquet")
    counts = verdict_counts(tmp_path)
    assert counts["distinct"] == {"supported": 2} and counts["repeats"] == []


def test_a_measure_claim_on_the_replicates_table_keeps_no_trained_guard():
    """The trained guard of a measure claim is the dynamics study's own (its table's ``untrained`` column): the
    exposure-matched twin's "extra steps raise replicates" is decided on its one measure however invalid its cells
    are, as before the dynamics guard was added."""
    rows = [dict(exposure=e, seed=s, replicate_fraction=r + 0.01 * s, frac_invalid=0.45, n_samples=128)
            for e, r in (("equal_steps", 0.1), ("equal_exposure", 0.6)) for s in range(3)]
    spec = {"name": "the twin's extra steps raise replicates", "a": {"exposure": "equal_steps"},
            "b": {"exposure": "equal_exposure"}, "expected": 1, "claim": "measure"}
    row = comparisons_table([pd.DataFrame(rows)], ["replicates"], [spec]).iloc[0]
    assert row["verdict"] == "supported" and row["trained"] == ""
