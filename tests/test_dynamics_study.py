"""The dynamics study through Snakemake at toy scale: the wiring (EMA and raw samples of every snapshot, the onset,
stopping, exponent and comparisons tables, the figures), not the science (tests/test_dynamics.py fits known
exponents; the README shows the demo's run). And its price: a capacity run of the same width, size, seed, budget and
batch is the dynamics run, trained once."""

import subprocess
import sys

import pandas as pd
import yaml

from tiny import snakemake, tiny

from memgen.config import load_config
from memgen.studies import Grid
from memgen.studies.plan import plan_table

BLOCK = {"widths": [16], "sizes": [2, 6], "snapshots": 2, "first_snapshot": 10}
CONFIG = tiny(40, 20, 20, studies=["dynamics"], seeds=[0], sample={"num_samples": 8, "batch_size": 8, "steps": 10},
              dynamics=BLOCK)


def test_the_study_runs_end_to_end(tmp_path, repo_root):
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(CONFIG))
    proc = snakemake(repo_root, tmp_path, "dynamics")
    assert proc.returncode == 0, proc.stderr[-4000:]
    res = tmp_path / "results" / "dynamics"
    snaps = pd.read_parquet(res / "snapshots.parquet")
    # 2 sizes x 1 seed x 2 snapshots (10 and the budget 40) x 2 kinds of weights, each its own sample set
    assert len(snaps) == 8 and sorted(snaps["steps"].unique()) == [10, 40]
    assert snaps.groupby("weights").size().to_dict() == {"ema": 4, "raw": 4}
    raw = pd.read_parquet(res / "w16-n2-none0-it10-b8-uncond-s0" / "raw_scores.parquet")
    ema = pd.read_parquet(res / "w16-n2-none0-it10-b8-uncond-s0" / "scores.parquet")
    assert raw["sample_set"].iloc[0] == ema["sample_set"].iloc[0].replace("-ema-", "-raw-")
    assert not raw["ratio"].equals(ema["ratio"])  # two sets of weights, two sets of samples
    onset = pd.read_parquet(res / "onset.parquet")
    assert len(onset) == 4 and {"tau_gen", "tau_novel", "tau_mem", "tau_mem_censoring"} <= set(onset.columns)
    assert onset["tau_mem_censoring"].isin(["interval", "left", "right"]).all()
    assert len(pd.read_parquet(res / "onset_across_seeds.parquet")) == 4
    stop = pd.read_parquet(res / "stopping.parquet")
    assert len(stop) == 4 and stop["level"].eq(0.05).all()
    assert stop["stop_before"].isna().all() or stop["stop_before"].dropna().isin([10, 40]).all()
    claims = pd.read_parquet(res / "comparisons.parquet")
    assert sorted(set(claims["name"])) == ["tau_gen does not depend on N", "tau_mem grows with N"]
    assert len(claims) == 4 and claims["quote"].str.contains("tau_mem increases linearly").all()
    assert not claims["verdict"].str.startswith(("supported", "reversed")).any()  # one seed decides nothing
    assert len(pd.read_parquet(res / "exponent.parquet")) == 4
    for weights in ("ema", "raw"):
        assert (res / "figures" / f"dynamics_{weights}.png").read_bytes()[:4] == b"\x89PNG"
    assert "stop before step" in (res / "stopping.md").read_text()


def test_capacity_runs_are_the_dynamics_runs(tmp_path, repo_root):
    """With capacity selected on the same grid, dynamics adds sampling and scoring, not one training job."""
    config = {**CONFIG, "studies": ["capacity", "dynamics"], "capacity": {"widths": [16], "sizes": [2, 6]}}
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config))
    def cmd(*targets):  # the targets first: --configfile and --quiet take several values
        return [sys.executable, "-m", "snakemake", *targets, "-s", str(repo_root / "Snakefile"), "-d", str(tmp_path),
                "-n", "--configfile", str(tmp_path / "tiny.yaml"), "--quiet", "rules"]

    jobs = {}
    for study in ("capacity", "dynamics"):
        plan = subprocess.run(cmd(study), capture_output=True, text=True, timeout=300)
        assert plan.returncode == 0, plan.stderr[-3000:]
        jobs[study] = dict(line.split() for line in plan.stdout.splitlines()
                           if len(line.split()) == 2 and line.split()[1].isdigit())
    both = subprocess.run(cmd(), capture_output=True, text=True, timeout=300)
    assert both.returncode == 0, both.stderr[-3000:]
    planned = dict(line.split() for line in both.stdout.splitlines() if len(line.split()) == 2
                   and line.split()[1].isdigit())
    assert jobs["capacity"]["train"] == jobs["dynamics"]["train"] == planned["train"] == "2"
    # memgen plan prices what Snakemake plans: the EMA and the raw sample set of every snapshot
    grid = Grid(load_config(config))
    plan = plan_table(grid).set_index(["study", "kind"])["jobs"]
    assert int(plan[("dynamics", "sample")]) == int(jobs["dynamics"]["sample"]) == 8
    scored = int(jobs["dynamics"]["score"]) + int(jobs["dynamics"]["score_raw_weights"])
    assert int(plan[("dynamics", "score")]) == scored == 8
