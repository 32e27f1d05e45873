"""The prepared GPU session benchmarks/gpu.sh, run at CPU size (--cpu-smoke, about a minute), its smoke config,
and its loud failure."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from memgen.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def gpu_sh(outdir: Path, *args: str, budget: int | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    if budget is not None:
        env["GPU_SH_BUDGET"] = str(budget)
    return subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu.sh"), *args, str(outdir)], capture_output=True,
                          text=True, env=env, timeout=900)


@pytest.fixture(scope="module")
def cpu_smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu-sh")
    return out, gpu_sh(out, "--cpu-smoke")


def test_cpu_smoke_passes_every_step_and_ends_with_the_summary(cpu_smoke):
    out, proc = cpu_smoke
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == "gpu.sh: OK, every step passed"
    summary = proc.stdout[proc.stdout.rindex("== summary"):]
    for name in ("bench_train", "bench_sample", "bench_score", "bench_dag", "smoke_dag", "bench_budget"):
        assert name in summary, name
    assert (out / "gpu.log").read_text().strip().splitlines()[-1] == lines[-1]


def test_cpu_smoke_writes_small_result_files(cpu_smoke):
    out, _ = cpu_smoke
    files = {p.name for p in out.iterdir()}
    assert files == {"gpu.log", "bench_score.json", "bench_sample.json", "bench_dag.json", "bench_train.json",
                     "bench_budget.json", "smoke_replicates.parquet"}
    assert all((out / f).stat().st_size < 1_000_000 for f in files)
    train = json.loads((out / "bench_train.json").read_text())
    assert [r["variant"] for r in train["rows"]] == ["plain", "fast"]
    assert all(r["images_per_s"] > 0 and r["flops_per_step"] > 0 for r in train["rows"])
    score = json.loads((out / "bench_score.json").read_text())
    assert score["indices_equal"] and score["sq_dists_equal"] and 0 < score["gemm_fraction"]
    sample = json.loads((out / "bench_sample.json").read_text())
    assert {r["part"] for r in sample["rows"]} == {"noise", "network", "loop"}
    dag = json.loads((out / "bench_dag.json").read_text())
    assert len(dag["rows"]) == 2 and all(r["s"] > 0 for r in dag["rows"])
    table = pd.read_parquet(out / "smoke_replicates.parquet")
    assert len(table) == 1 and table["n_samples"].iloc[0] == 16
    assert "steps/s" in (out / "gpu.log").read_text()  # the smoke training's log lines
    budget = json.loads((out / "bench_budget.json").read_text())
    assert {(r["width"], r["what"]) for r in budget["rows"]} == {(w, k) for w in (16, 32) for k in ("train", "sample")}
    assert set(budget["runs"]) == {f"{k}_w{w}" for w in (16, 32) for k in ("train", "sample")}


def test_out_of_budget_fails_loudly(tmp_path):
    proc = gpu_sh(tmp_path, "--cpu-smoke", budget=5)
    assert proc.returncode == 1
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("gpu.sh: FAILED:") and "bench_score (no time left)" in last


def test_usage_error():
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu.sh")], capture_output=True, text=True)
    assert proc.returncode == 2 and "usage" in proc.stderr


def test_gpu_smoke_config_is_valid_and_the_paper_model():
    smoke = yaml.safe_load((ROOT / "benchmarks" / "gpu-smoke.yaml").read_text())
    paper = yaml.safe_load((ROOT / "workflow" / "presets" / "paper.yaml").read_text())
    for key in ("image_size", "model", "diffusion"):
        assert smoke[key] == paper[key], key
    assert smoke["train"]["batch_size"] == paper["train"]["batch_size"] and 100 <= smoke["train"]["steps"] <= 1000
    config = load_config(ROOT / "benchmarks" / "gpu-smoke.yaml")
    assert config.studies == ("capacity",) and config.block("capacity").widths == (128,)
    assert config.sample.num_samples == 64 and config.block("capacity").dataset == "mondrian"
    assert all(getattr(config.resources, stage).gpu == 1 for stage in ("train", "sample", "score"))


def test_budget_table_rows_at_a_tiny_size(tmp_path):
    """bench_budget.py at the smallest width the paper model allows (32: 32 norm groups), batch 2: one row per
    (width, train/sample, plain/fast), each a positive time at the requested batch."""
    out = tmp_path / "budget.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "workflow")}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_budget.py"), "--widths", "32",
                           "--train-batch", "2", "--sample-batch", "2", "--rounds", "1", "--threads", "1",
                           "--out", str(out)], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = pd.DataFrame(json.loads(out.read_text())["rows"])
    assert sorted(zip(rows["what"], rows["variant"])) == [("sample", "fast"), ("sample", "plain"),
                                                          ("train", "fast"), ("train", "plain")]
    assert (rows["width"] == 32).all() and (rows["batch"] == 2).all()
    assert (rows["s_per_1k"] > 0).all() and rows["s_per_1k"].notna().all()
    assert set(rows.loc[rows["variant"] == "plain", "path"]) == {"fp32"}
