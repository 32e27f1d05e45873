"""The whole DAG on a tiny config in a temporary directory: materialize -> train -> sample -> score ->
aggregate -> figure, then the checks a user relies on (tables carry the grid, reruns touch only what changed)."""

import json
import subprocess
import sys

import numpy as np
import pytest
import pandas as pd
import yaml
from tiny import TINY, snakemake

from memgen import io
from memgen.analysis.dichotomy import REGIONS, region

# `finished_run` (conftest.py): TINY run once per session in a temporary directory, and its `snakemake --lint`.


def test_lint_is_clean(finished_run):
    _, _, lint = finished_run
    assert lint.returncode == 0, (lint.stdout + lint.stderr)[-3000:]


def test_dag_produces_table_markdown_and_figure(finished_run):
    _, workdir, _ = finished_run
    res = workdir / "results" / "capacity"
    table = pd.read_parquet(res / "replicates.parquet")
    assert len(table) == 2  # one width x two sizes x one seed, one class
    for col in ("study", "width", "size", "dummy", "seed", "steps", "epochs_per_image", "replicate_fraction",
                "ci_low", "ci_high", "n_train_replicated", "frac_train_replicated"):
        assert col in table.columns, col
    assert sorted(table["size"]) == [2, 6]
    assert (table["epochs_per_image"] == 40 * 8 / table["size"]).all()
    assert (table["base_image_presentations"] == 40 * 8).all()  # capacity cells hold base images only
    assert (table["n_samples"] == 24).all()
    assert ((table["ci_low"] <= table["replicate_fraction"]) & (table["replicate_fraction"] <= table["ci_high"])).all()
    md = (res / "replicates.md").read_text()
    assert "epochs/image" in md and "base presentations" in md and md.count("\n") == 4
    png = (res / "figures" / "capacity.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    cell = "w16-n6-none0-it40-b8-uncond-s0"
    scores = pd.read_parquet(res / cell / "scores.parquet")
    assert len(scores) == 24 and {"sample_index", "nn1_index", "nn2_index", "ratio", "is_replicate", "width"} <= set(scores)
    # the samples: drawn once per checkpoint and sampling under samples/, named by the scores; a card describes them
    sample_set = f"samples/mondrian/{cell}/final-ema-all-x24-t10-s0"
    assert (scores["sample_set"] == f"{sample_set}/samples.npz").all()
    card = json.loads((workdir / "results" / sample_set / "card.json").read_text())
    assert card["checkpoint"] == f"results/models/mondrian/{cell}/model.pt" and card["checkpoint_step"] == 40
    assert (card["seed"], card["steps"], card["num_samples_per_class"]) == (0, 10, 24)
    assert card["sampled_classes"] == [0] and card["num_samples"] == 24
    images, _ = io.load_images_npz(workdir / "results" / sample_set / "samples.npz")
    assert card["images_sha256"] == io.sha256_array(images)
    # every job has a log that mirrors its output path
    logs = workdir / "results" / "logs"
    for path in (f"models/mondrian/{cell}/model.log", f"{sample_set}/samples.log", f"capacity/{cell}/scores.log",
                 "data/mondrian/n6-none0-s0/train.log", "capacity/replicates.log"):
        assert (logs / path).is_file(), path
    assert "steps/s" in (logs / f"models/mondrian/{cell}/model.log").read_text()


def test_second_run_has_nothing_to_do(finished_run):
    repo_root, workdir, _ = finished_run
    proc = snakemake(repo_root, workdir, "-n")
    assert proc.returncode == 0
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_changing_sampling_does_not_retrain(finished_run):
    repo_root, workdir, _ = finished_run
    cfg = yaml.safe_load((workdir / "tiny.yaml").read_text())
    cfg["sample"]["num_samples"] = 30
    (workdir / "tiny2.yaml").write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(repo_root / "Snakefile"), "-d", str(workdir),
           "--configfile", str(workdir / "tiny2.yaml"), "-n", "--quiet", "rules"]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    rules = {l.split()[0] for l in out.splitlines() if len(l.split()) == 2 and l.split()[1].isdigit()}
    assert "sample" in rules and "train" not in rules and "materialize" not in rules


TINY_ALL = {
    **TINY,
    "studies": ["capacity", "dummies_mondrian", "unconditional_dummies", "classes", "dummy_kinds", "loss_gap",
                "disjoint_split", "optimal", "criterion", "table1", "dichotomy"],
    "train": {"steps": 20, "batch_size": 8, "checkpoint_every": 10, "log_every": 10},
    "sample": {"num_samples": 12, "batch_size": 12, "steps": 10},
    "capacity": {"widths": [16], "sizes": [2, 6]},
    "dummies_mondrian": {"widths": [16], "size": 6, "ndummy": [0, 6]},
    "unconditional_dummies": {"widths": [16], "size": 6, "ndummy": 6, "num_samples": 12},
    "classes": {"widths": [16], "minority_size": 2, "totals": [8], "train": {"steps": None}},
    "dummy_kinds": {"widths": [16], "size": 6, "kinds": ["gm", "shapes"], "ndummy": [4]},
    "loss_gap": {"widths": [16], "size": 6, "snapshots": [10, 20], "levels": 4, "heldout": 6},
    "disjoint_split": {"widths": [16], "sizes": [2, 6]},
}


def test_every_study_runs_end_to_end(tmp_path, repo_root):
    """Every study of the seeds as one DAG at toy scale: the wiring, not the science (see README for that)."""
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(TINY_ALL))
    proc = snakemake(repo_root, tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]
    res = tmp_path / "results"
    for fig in ("capacity/figures/capacity.png", "dummies_mondrian/figures/dummies.png", "classes/figures/classes.png",
                "dummy_kinds/figures/dummy_kinds.png", "loss_gap/figures/loss_gap.png", "loss_gap/figures/onset.png",
                "criterion/figures/criterion_pairs.png", "criterion/figures/threshold_sweep.png"):
        assert (res / fig).read_bytes()[:4] == b"\x89PNG", fig
    # one sample set per checkpoint and sampling: the base-alone N = 6 model is scored by capacity, both dummies
    # studies and the loss gap (its full run) from one set; 14 cells, 11 sets, each drawn once
    base = "w16-n6-none0-it20-b8-uncond-s0"
    shared = {study: pd.read_parquet(res / study / base / "scores.parquet")
              for study in ("capacity", "dummies_mondrian", "dummy_kinds", "loss_gap")}
    assert {frame["sample_set"].iloc[0] for frame in shared.values()} == {
        f"samples/mondrian/{base}/final-ema-all-x12-t10-s0/samples.npz"}
    for frame in shared.values():
        pd.testing.assert_series_equal(frame["ratio"], shared["capacity"]["ratio"])
    assert len(list((res / "samples").rglob("samples.npz"))) == 11
    assert len(list((res / "logs" / "samples").rglob("samples.log"))) == 11
    dummies = pd.read_parquet(res / "dummies_mondrian" / "replicates.parquet")
    assert set(dummies["exposure"]) == {"equal_steps", "matched"}
    twin = dummies[dummies["exposure"] == "matched"].iloc[0]
    assert twin["steps"] == 40 and twin["conditional"] == 1 and set(dummies.query("ndummy > 0")["label"]) == {0}
    # base-image presentations: 20 steps x 8 alone; half that with 6 dummies beside 6 base images; the twin's match
    shown = dummies.set_index(["ndummy", "exposure"])["base_image_presentations"]
    assert (shown[(0, "equal_steps")], shown[(6, "equal_steps")], shown[(6, "matched")]) == (160, 80, 160)
    classes = pd.read_parquet(res / "classes" / "replicates.parquet")
    assert sorted(classes["label"]) == [0, 1] and (classes["n_samples"] == 12).all()  # per class
    gap = pd.read_parquet(res / "loss_gap" / "losses.parquet")
    assert sorted(gap["step"].unique()) == [10, 20] and set(gap["split"]) == {"train", "heldout"}
    assert (gap["base_image_presentations"] == gap["step"] * 8).all() and (gap["loss_x0"] >= 0).all()
    # each study's claims are planned and read from its tables (one seed: none can be decided, none is "not run")
    gap_claims = pd.read_parquet(res / "loss_gap" / "comparisons.parquet")
    assert len(gap_claims) == 5 and (gap_claims["verdict"] == "unresolved at 1 seeds").all()
    # the per-image losses (6 train and 6 held-out images at 4 levels per snapshot), the peak read on the odd
    # images, its permutation test per snapshot, the gap over the ends and the middle of the noise levels
    images = pd.read_parquet(res / "loss_gap" / "image_losses.parquet")
    assert len(images) == 2 * 6 * 4 * 2 and set(images["index"]) == set(range(6))
    assert (pd.read_parquet(res / "loss_gap" / "gap_at_peak.parquet")["n_images"] == 3).all()
    test = pd.read_parquet(res / "loss_gap" / "gap_test.parquet")
    assert sorted(test["step"]) == [10, 20] and test["p_permutation"].between(0, 1).all()
    assert (test["n_pairs"] == 3).all() and test["verdict"].str.match("supported|reversed|unresolved").all()
    bands = pd.read_parquet(res / "loss_gap" / "gap_bands.parquet")
    assert sorted(set(bands["band"])) == ["high noise", "low noise", "middle"] and len(bands) == 2 * 3
    cap_claims = pd.read_parquet(res / "capacity" / "comparisons.parquet")
    assert cap_claims["name"].tolist() == ["replicates fall as N grows (Figure 1)"]
    assert (cap_claims["n_seeds_a"] == 1).all() and (cap_claims["claim"] == "replication").all()
    # 20 steps: a cell whose samples are mostly invalid cannot test the claim, one seed decides nothing either
    cap_rows = pd.read_parquet(res / "capacity" / "replicates.parquet").set_index("size")
    invalid = cap_rows.loc[[2, 6], "frac_invalid"].to_numpy()
    assert cap_claims[["invalid_a", "invalid_b"]].to_numpy()[0] == pytest.approx(invalid)
    assert cap_claims["verdict"].iloc[0] == ("unresolved at 1 seeds" if invalid.max() <= 0.25 else
                                             "untestable at this budget (" + "; ".join(
                                                 f"size={n}: {100 * x:.1f}% invalid" for n, x in zip((2, 6), invalid)
                                                 if x > 0.25) + ")")
    assert "What each claim tests" in (res / "capacity" / "comparisons.md").read_text()
    onset = pd.read_parquet(res / "loss_gap" / "replicates.parquet")
    assert sorted(onset["steps"]) == [10, 20]
    optimal = pd.read_parquet(next((res / "optimal").rglob("summary.parquet")))
    assert optimal["replicate_fraction"].iloc[0] == 1.0  # the closed-form optimum copies its training set
    uncond = pd.read_parquet(res / "unconditional_dummies" / "replicates.parquet")
    assert uncond["n_samples"].sum() == 12  # every sample labelled base (0) or dummy (1) by the classifier
    assert "parameters (measured)" in (res / "table1" / "table1.md").read_text()
    # both sides of the dichotomy: four fractions per cell and label that sum to one, with intervals
    cap = pd.read_parquet(res / "capacity" / "replicates.parquet")
    four = cap[["frac_replicate", "frac_partial_copy", "frac_novel_valid", "frac_invalid"]].sum(axis=1)
    assert np.allclose(four, 1.0) and (cap["ci_low_invalid"] <= cap["frac_invalid"]).all()
    assert "partial copies" in (res / "capacity" / "replicates.md").read_text()
    pairs = pd.read_parquet(res / "disjoint_split" / "agreement.parquet")
    assert sorted(pairs["size"]) == [2, 6] and (pairs["n_pairs"] == 12).all() and "frac_same_novel" in pairs
    assert pairs["median_similarity_shuffled"].notna().all() and "median_similarity_novel_shuffled" in pairs
    regime = pd.read_parquet(res / "disjoint_split" / "agreement_regime.parquet")
    assert sorted(regime["size"]) == [2, 6] and regime["reached"].str.match("reached|not reached|unresolved").all()
    split_claims = pd.read_parquet(res / "disjoint_split" / "comparisons.parquet")
    assert split_claims["measure"].tolist() == ["frac_same_novel"]  # sizes 2 -> 6
    dichotomy = pd.read_parquet(res / "dichotomy" / "dichotomy.parquet")
    assert set(dichotomy["study"]) >= {"capacity", "classes", "disjoint_split"}
    for version in ("valid", "agreement"):  # a cell without a y is listed as undefined, every drawn one has a region
        y, where = dichotomy[f"y_{version}"], dichotomy[f"region_{version}"]
        drawn = y.notna()
        assert drawn.any(), version
        assert (where[~drawn] == "undefined").all() and where[drawn].isin(REGIONS).all()
        assert [region(x, v) for x, v in zip(dichotomy.loc[drawn, "x"], y[drawn])] == where[drawn].tolist()
    # the capacity cells of the split carry their partner's agreement; the dummies' cells have no partner here
    split_cells = dichotomy.query("study == 'capacity' and size in (2, 6)")
    assert split_cells["y_agreement"].notna().all() and dichotomy.query("study == 'classes'")["y_agreement"].isna().all()
    for fig in ("disjoint_split/figures/agreement.png", "dichotomy/figures/dichotomy.png"):
        assert (res / fig).read_bytes()[:4] == b"\x89PNG", fig
    assert (res / "capacity" / "memorization_capacity.parquet").is_file()
    # the report's first page: every selected study with claims, in the config's order, and the dichotomy figure
    answers = (res / "answers.html").read_text()
    sections = [s for s in TINY_ALL["studies"] if f'id="answers-{s}"' in answers]
    assert sections == ["capacity", "dummies_mondrian", "unconditional_dummies", "classes", "dummy_kinds",
                        "loss_gap", "disjoint_split"], sections
    assert answers.count("data:image/png;base64,") == 1
    report = snakemake(repo_root, tmp_path, "--report", str(tmp_path / "report.html"))
    assert report.returncode == 0, report.stderr[-2000:]
    assert (tmp_path / "report.html").stat().st_size > 100_000


def _planned(repo_root, workdir, configfile, *args) -> list[tuple[str, str]]:
    """(rule, first output) of every job `snakemake -n` plans."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(repo_root / "Snakefile"), "-d", str(workdir), "-n", *args,
           "--configfile", str(configfile)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs, rule = [], None
    for line in proc.stdout.splitlines():
        if line.startswith(("rule ", "localrule ")):
            rule = line.split()[1].rstrip(":")
        elif rule and line.strip().startswith("output:"):
            jobs.append((rule, line.split(":", 1)[1].split(",")[0].strip()))
            rule = None
        elif rule and line.strip().startswith("jobid:") and rule in ("all", "capacity"):
            jobs.append((rule, ""))
            rule = None
    return jobs


def test_changing_one_cell_reruns_only_that_cell_and_its_aggregates(finished_run):
    """Sizes [2, 6] -> [2, 7]: the n7 cell's jobs and the tables, figures and answers page that read it; nothing
    of n2."""
    repo_root, workdir, _ = finished_run
    cfg = yaml.safe_load((workdir / "tiny.yaml").read_text())
    cfg["capacity"]["sizes"] = [2, 7]
    (workdir / "tiny7.yaml").write_text(yaml.safe_dump(cfg))
    jobs = _planned(repo_root, workdir, workdir / "tiny7.yaml")
    rules = sorted(r for r, _ in jobs)
    # the cell's chain, then the study's tables that read it (replicates, across seeds, the two capacity estimates,
    # the comparisons whose cells changed: derive x 5), its figure and the answers page (it shows the comparisons)
    assert rules == sorted(["materialize", "train", "sample", "score", *["derive"] * 5, "figure", "answers",
                            "all"]), jobs
    cells = [out for r, out in jobs if r in ("materialize", "train", "sample", "score")]
    assert all("n7-" in out for out in cells) and not any("n2-" in out for out in cells), cells


def test_one_cell_is_built_by_its_path(finished_run, tmp_path):
    repo_root, workdir, _ = finished_run
    summary = "results/capacity/w16-n6-none0-it40-b8-uncond-s0/summary.parquet"
    assert [r for r, _ in _planned(repo_root, workdir, workdir / "tiny.yaml", summary, "-f")] == ["score"]
    (tmp_path / "tiny.yaml").write_text((workdir / "tiny.yaml").read_text())  # a fresh directory: the cell's chain
    chain = sorted(r for r, _ in _planned(repo_root, tmp_path, tmp_path / "tiny.yaml", summary))
    assert chain == ["materialize", "sample", "score", "train"]


def test_dummies_and_classes_cells_get_split_partners(tmp_path, repo_root):
    """disjoint_split.studies beyond capacity: a dummies cell's partner holds a fresh draw of its dummies beside a
    disjoint set of base images, a classes cell's a disjoint majority and minority; both sides are trained and
    sampled from the same noise, and the dichotomy gives those cells a y_agreement (the capacity-free version)."""
    cfg = {**TINY, "studies": ["dummies_mondrian", "classes", "disjoint_split", "dichotomy"],
           "dummies_mondrian": {"widths": [16], "size": 6, "ndummy": [0, 6], "exposure_matched": False},
           "classes": {"widths": [16], "minority_size": 2, "totals": [8], "train": {"steps": None}},
           "disjoint_split": {"studies": ["dummies_mondrian", "classes"]}}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake(repo_root, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = tmp_path / "results"
    agreement = pd.read_parquet(res / "disjoint_split" / "agreement.parquet")
    # one pair per cell: dummies alone, dummies + 6 GM (label 0 sampled), classes (both labels sampled)
    assert sorted(zip(agreement["dummy"], agreement["ndummy"], agreement["label"])) == [
        ("gm", 6, 0), ("none", 0, 0), ("random_ink", 2, 0), ("random_ink", 2, 1)]
    assert (agreement["n_pairs"] == 24).all()
    dichotomy = pd.read_parquet(res / "dichotomy" / "dichotomy.parquet")
    partnered = dichotomy[dichotomy["study"].isin(["dummies_mondrian", "classes"])]
    assert len(partnered) == 4 and partnered["y_agreement"].notna().all()
    assert partnered["region_agreement"].isin(REGIONS).all()
    claims = pd.read_parquet(res / "disjoint_split" / "comparisons.parquet")
    assert claims.empty  # one size per study: no N to compare along
