"""The prepared GPU session benchmarks/gpu.sh, run at CPU size (--cpu-smoke, about three minutes), its smoke
config, its loud failure, and the benchmarks' own logic (the vmapped training of bench_pack equals K trainings)."""

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


def gpu_sh(outdir: Path, *args: str, budget: int | None = None, extra_env: dict | None = None
           ) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable, "OMP_NUM_THREADS": "1", **(extra_env or {})}
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
    for name in ("e2e", "bench_budget", "bench_pack", "bench_score", "bench_dag", "smoke_dag"):
        assert name in summary, name
    assert (out / "gpu.log").read_text().strip().splitlines()[-1] == lines[-1]
    written = json.loads((out / "summary.json").read_text())
    assert written["failed_steps"] == [] and {r["benchmark"] for r in written["rows"]} >= {"e2e", "bench_pack"}


def test_cpu_smoke_writes_small_result_files(cpu_smoke):
    out, _ = cpu_smoke
    files = {p.name for p in out.iterdir()}
    assert files == {"gpu.log", "e2e.json", "bench_budget.json", "bench_pack.json", "bench_score.json",
                     "bench_dag.json", "smoke_replicates.parquet", "summary.json", "warm"}
    assert all(p.stat().st_size < 1_000_000 for p in out.rglob("*") if p.is_file())
    score = json.loads((out / "bench_score.json").read_text())
    assert score["indices_equal"] and score["sq_dists_equal"] and 0 < score["gemm_fraction"]
    dag = json.loads((out / "bench_dag.json").read_text())
    assert len(dag["rows"]) == 2 and all(r["s"] > 0 for r in dag["rows"])
    table = pd.read_parquet(out / "smoke_replicates.parquet")
    assert len(table) == 1 and table["n_samples"].iloc[0] == 16
    budget = json.loads((out / "bench_budget.json").read_text())
    assert {(r["width"], r["what"]) for r in budget["rows"]} == {(w, k) for w in (16, 32) for k in ("train", "sample")}
    assert set(budget["runs"]) == {f"{k}_w{w}" for w in (16, 32) for k in ("train", "sample")}
    loops = [r for r in budget["runs"]["sample_w16"]["rows"] if r["part"] == "loop"]
    assert [r["variant"] for r in loops] == ["plain", "fast", "graphs"]
    graphs = loops[2]
    assert graphs["compiled"] and graphs["max_abs_diff_vs_eager"] == 0.0  # traced without Inductor: the same chain
    assert graphs["batch"] == loops[0]["batch"] and "compile(reduce-overhead)" in graphs["path"]


def test_cpu_smoke_runs_every_variant_of_the_gpu_run(cpu_smoke):
    """The GPU run's training variants (plain, fast, compile-graphs) in bench_budget, bench_pack and warm_compile,
    the compiled one really compiled (Dynamo, eager backend) and named what it ran."""
    out, _ = cpu_smoke
    budget = json.loads((out / "bench_budget.json").read_text())
    for width in (16, 32):
        rows = {r["variant"]: r for r in budget["runs"][f"train_w{width}"]["rows"]}
        assert list(rows) == ["plain", "fast", "compile-graphs"] and rows["plain"]["path"] == "fp32"
        graphs = rows["compile-graphs"]
        assert graphs["compiled"] and graphs["compile_backend"] == "eager"
        assert graphs["path"].startswith(rows["fast"]["path"].split("+")[0]) and "compile(reduce-overhead)" in graphs["path"]
    pack = json.loads((out / "bench_pack.json").read_text())
    assert pack["variant"] == "compile-graphs" and pack["compile_backend"] == "eager"
    alone, eager = [r for r in pack["rows"] if r["mode"] == "sequential"]  # the variant alone, its eager path alone
    (processes,) = [r for r in pack["rows"] if r["mode"] == "processes"]
    for row in (alone, processes):
        assert row["compiled"] and "compile(reduce-overhead)" in row["path"]
    assert not eager["compiled"] and eager["path"] == alone["path"].replace("+compile(reduce-overhead)", "")
    warm = {p.name: json.loads(p.read_text()) for p in (out / "warm").glob("*.json")}
    assert set(warm) == {"train_w16.json", "sample_w16.json"}
    (row,) = warm["train_w16.json"]["rows"]
    assert row["variant"] == "compile-graphs" and row["compiled"] and "compile(reduce-overhead)" in row["path"]


def test_cpu_smoke_runs_the_default_path_end_to_end_with_two_preemptions(cpu_smoke):
    """The training job got SIGTERM twice through Snakemake, checkpointed, was resumed by the retries, and the DAG
    finished (on a CPU the second signal comes mid-run: the resumed run compiles only on a GPU)."""
    out, _ = cpu_smoke
    e2e = json.loads((out / "e2e.json").read_text())
    assert e2e["ok"] and e2e["snakemake_exit"] == 0 and e2e["attempts"] == 3, e2e["checks"]
    assert [len(lines) for lines in e2e["preempted_lines"]] == [1, 1, 0]
    first_step = int(e2e["preempted_lines"][0][0].split("at step ")[1].split(":")[0])
    assert first_step >= 50 and len(e2e["signals"]) == 2 and all(s["exit_s"] > 0 for s in e2e["signals"])
    assert e2e["replicates"][0]["n_samples"] == 16 and not e2e["fallbacks"]


def test_cpu_smoke_measures_every_packing_mode(cpu_smoke):
    out, _ = cpu_smoke
    pack = json.loads((out / "bench_pack.json").read_text())
    rows = {r["mode"]: r for r in reversed(pack["rows"])}  # the first of each mode (sequential: the variant alone)
    assert set(rows) == {"sequential", "processes", "mps", "vmap"} and rows["sequential"]["gain"] == 1.0
    assert rows["processes"]["k"] == rows["vmap"]["k"] == 2
    assert rows["processes"]["gain"] > 0 and rows["vmap"]["gain"] > 0
    assert rows["mps"]["gain"] is None and rows["mps"]["error"] == "needs CUDA"


def test_rates_script_reads_what_gpu_sh_writes(cpu_smoke, repo_root):
    """benchmarks/rates.py distils a gpu.sh folder: train and sample rows per width and path (the compiled
    sampling variant with its compile seconds) and the packing gains."""
    import importlib.util

    out, _ = cpu_smoke
    spec = importlib.util.spec_from_file_location("rates_script", repo_root / "benchmarks" / "rates.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    table = script.build([out], None)
    assert {(r["width"], r["path"]) for r in table["train"]} >= {(16, "fp32"), (32, "fp32")}
    graphs = [r for r in table["sample"] if "compile" in r["path"]]
    assert {r["width"] for r in graphs} == {16, 32} and all(r["compile_s"] is not None for r in graphs)
    assert {r["mode"] for r in table["pack"]} == {"processes", "vmap"} and all(r["k"] == 2 for r in table["pack"])
    assert table["plan_chip"] == table["train"][0]["chip"]


def test_out_of_budget_fails_loudly(tmp_path):
    proc = gpu_sh(tmp_path, "--cpu-smoke", budget=5)
    assert proc.returncode == 1
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("gpu.sh: FAILED:") and "e2e (no time left)" in last


def test_only_the_named_steps_run(tmp_path):
    env_steps = {"GPU_SH_STEPS": "bench_score"}
    proc = gpu_sh(tmp_path, "--cpu-smoke", extra_env=env_steps)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert {p.name for p in tmp_path.iterdir()} == {"gpu.log", "bench_score.json", "summary.json"}
    assert "== e2e" not in proc.stdout and "== bench_score" in proc.stdout


def test_usage_error():
    proc = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu.sh")], capture_output=True, text=True)
    assert proc.returncode == 2 and "usage" in proc.stderr


def test_gpu_smoke_config_is_valid_and_the_paper_model():
    smoke = yaml.safe_load((ROOT / "benchmarks" / "gpu-smoke.yaml").read_text())
    paper = yaml.safe_load((ROOT / "workflow" / "presets" / "paper.yaml").read_text())
    for key in ("image_size", "model", "diffusion"):
        assert smoke[key] == paper[key], key
    assert smoke["train"]["batch_size"] == paper["train"]["batch_size"] and 100 <= smoke["train"]["steps"] <= 1000
    assert "compile" not in smoke["train"] and "precision" not in smoke["train"]  # the defaults: what the issue proves
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


def test_vmapped_training_is_k_separate_trainings(repo_root, monkeypatch):
    """bench_pack's StackedStep (torch.func: stacked parameters, vmapped functional_call, one AdamW) follows K
    separate TrainSteps from the same initial weights and draws, to float rounding (vmap batches the K
    convolutions into grouped ones: another summation order)."""
    import copy

    import torch

    monkeypatch.syspath_prepend(str(repo_root / "benchmarks"))
    from bench_pack import StackedStep

    from memgen import checkpoint
    from memgen.config import Config, validate_config
    from memgen.model import UNet
    from memgen.precision import PLAIN
    from memgen.step import TrainStep
    from tiny import tiny

    config = validate_config(tiny(2, 1, 1))  # dropout 0: both sides draw nothing inside the step
    stacked = StackedStep(config, 16, torch.device("cpu"), PLAIN, k=2, seed=0)
    ucfg, tc = Config.from_dict(config).unet(16, num_classes=0), config["train"]
    singles = []
    for cell in range(2):
        torch.manual_seed(cell)
        model = UNet(ucfg)
        singles.append(TrainStep(model, copy.deepcopy(model).requires_grad_(False),
                                 checkpoint.build_diffusion_for(config), lr=tc["lr"], weight_decay=tc["weight_decay"],
                                 ema_rate=tc["ema_rate"], device="cpu"))
    gen = torch.Generator().manual_seed(3)
    for _ in range(3):
        x0, noise = torch.rand(2, 4, 3, 8, 8, generator=gen) * 2 - 1, torch.randn(2, 4, 3, 8, 8, generator=gen)
        t = torch.randint(0, 100, (2, 4), generator=gen)
        losses = stacked(x0, t, noise)
        for cell, single in enumerate(singles):
            alone = single(x0[cell], t[cell], noise[cell])["loss"].mean()
            torch.testing.assert_close(losses[cell], alone, rtol=1e-4, atol=1e-5)
    for cell, single in enumerate(singles):
        for name, value in single.model.state_dict().items():
            if name in stacked.params:
                torch.testing.assert_close(stacked.params[name][cell].detach(), value, rtol=1e-3, atol=1e-5)
                torch.testing.assert_close(stacked.ema[name][cell], single.ema.state_dict()[name], rtol=1e-3,
                                           atol=1e-5)


DEMO_LOG = """\
Select jobs to execute...
Execute 2 jobs...
[Fri Dec  4 10:18:37 2026]
localrule train:
    output: results/models/mondrian/w16-n4-none0-it800-b32-uncond-s0/model.pt
    jobid: 7
    wildcards: dataset=mondrian, width=16, size=4, dummy=none, ndummy=0, steps=800, batch=32, cond=uncond, seed=0
    threads: 2
    resources: tmpdir=/tmp, gpu=0
[Fri Dec  4 10:18:37 2026]
localrule sample:
    jobid: 3
    wildcards: study=capacity, width=16, size=4
[Fri Dec  4 10:18:52 2026]
Finished jobid: 3 (Rule: sample)
1 of 3 steps (33%) done
[Fri Dec  4 10:19:37 2026]
Finished jobid: 7 (Rule: train)
2 of 3 steps (67%) done
[Fri Dec  4 10:19:38 2026]
localrule sample:
    jobid: 4
[Fri Dec  4 10:19:48 2026]
Finished jobid: 4 (Rule: sample)
3 of 3 steps (100%) done
"""


def test_bench_demo_reads_wall_core_seconds_and_repeated_samples(tmp_path, repo_root, monkeypatch):
    """bench_demo's log reading on a log in Snakemake 9's format: wall from the first to the last stamp, each
    job's seconds times its threads summed per rule; sample files that are byte-identical across studies."""
    monkeypatch.syspath_prepend(str(repo_root / "benchmarks"))
    import bench_demo

    log = tmp_path / "run.snakemake.log"
    log.write_text(DEMO_LOG)
    assert bench_demo.timing(log)["wall_seconds"] == 71.0 and bench_demo.timing(log)["jobs"] == 3
    assert bench_demo.core_seconds(log) == {"train": {"jobs": 1, "core_seconds": 120.0},
                                            "sample": {"jobs": 2, "core_seconds": 25.0}}
    for study, cell, payload in [("capacity", "a", b"x"), ("loss_gap", "a", b"x"), ("capacity", "b", b"y"),
                                 ("dummies", "a", b"x"), ("dummies", "c", b"z")]:
        (tmp_path / "results" / study / cell).mkdir(parents=True, exist_ok=True)
        (tmp_path / "results" / study / cell / "samples.npz").write_bytes(payload)
    repeated = bench_demo.repeated_samples(tmp_path / "results")
    assert (repeated["files"], repeated["distinct"], repeated["repeats"]) == (5, 3, 2)
    assert repeated["groups"] == [["capacity/a/samples.npz", "dummies/a/samples.npz", "loss_gap/a/samples.npz"]]


@pytest.fixture
def bench_train(repo_root, monkeypatch):
    monkeypatch.syspath_prepend(str(repo_root / "benchmarks"))
    import bench_train

    return bench_train


@pytest.fixture
def variants(bench_train):
    import variants

    return variants


@pytest.mark.parametrize("name", ["plain", "fast", "compile", "compile-graphs", "bf16", "bf16-cl", "bf16-cl-fused",
                                  "fused", "cl", "cl-fused", "fast-compile", "cl-fused-compile",
                                  "bf16-cl-fused-graphs", "fast-compile-regional", "fast-ftz", "cl-t2"])
def test_each_variant_builds_what_its_name_says(name, bench_train, variants, monkeypatch):
    """bench_train's variants, built into TrainSteps as the benchmark builds them: the optimizer is fused, the conv
    weights NHWC, the forward under bf16 autocast, torch.compile called with the mode exactly where the name says
    (its parts, or for "fast" what memgen.train picks here); one step of each runs (compiled ones through Dynamo
    with the eager backend). The old positional FastPath(...) arguments built "cl-fused" without fused AdamW and
    crashed "compile" (torch.compile got mode=True)."""
    import torch
    from tiny import tiny

    from memgen.config import validate_config
    from memgen.model.unet import ResBlock
    from memgen.precision import FastForward, resolve_fast_path

    config = validate_config(tiny(2, 1, 1))
    device, flops = torch.device("cpu"), bench_train.step_flops(config, 16, 4)
    base, parts = variants.variant_parts(name)
    auto = resolve_fast_path(device, "auto", flops=flops, compile=False)
    want = {"precision": "bf16" if "bf16" in parts else auto.precision if base == "fast" else "fp32",
            "channels_last": "cl" in parts or (base == "fast" and auto.channels_last),
            "fused": "fused" in parts or (base == "fast" and auto.fused_adamw),
            "mode": "reduce-overhead" if "graphs" in parts else "default" if "compile" in parts else None}
    calls = []
    real_compile = torch.compile

    def compile_spy(fn, **kwargs):
        calls.append(kwargs)
        return real_compile(fn, **kwargs)

    monkeypatch.setattr(torch, "compile", compile_spy)
    step = bench_train.build_variant(config, 16, device, name, 4, compile_backend="eager")
    assert bool(step.optimizer.defaults.get("fused")) == want["fused"]
    conv = step.model.input_blocks[1][0].in_layers[2].weight  # a 3x3 conv of 16 channels
    assert conv.is_contiguous(memory_format=torch.channels_last) == want["channels_last"]
    assert not conv.is_contiguous() or not want["channels_last"]
    eager = step._eager
    assert (eager.fast.precision if isinstance(eager, FastForward) else "fp32") == want["precision"]
    blocks = sum(isinstance(m, ResBlock) for m in step.model.modules())
    assert [c.get("mode") for c in calls] == [want["mode"]] * (blocks if "regional" in parts else 1 if want["mode"]
                                                                else 0)
    assert step.compiled == (want["mode"] is not None and "regional" not in parts)
    seen = {}
    real_step = step.__class__.__call__

    def spy_step(self, *a):
        seen.update(threads=torch.get_num_threads(), ftz=torch.tensor([1e-40]).mul(1.0).item() == 0.0)
        return real_step(self, *a)

    monkeypatch.setattr(step.__class__, "__call__", spy_step)
    losses = bench_train.runner(step, bench_train.batches(config, 4, device, count=1), name)()
    assert torch.isfinite(losses["loss"]).all() and bench_train.is_compiled(step) == (want["mode"] is not None)
    assert seen == {"threads": 2 if "t2" in parts else 1, "ftz": "ftz" in parts}
    assert torch.get_num_threads() == 1 and torch.tensor([1e-40]).mul(1.0).item() != 0.0  # restored


def test_unknown_variant_is_one_line(variants):
    with pytest.raises(ValueError, match="'bf16-turbo'.*turbo"):
        variants.variant_parts("bf16-turbo")
    with pytest.raises(ValueError, match="distinct"):
        variants.variant_parts("cl-cl")
    with pytest.raises(ValueError, match="regional needs compile"):
        variants.variant_parts("fast-regional")


def test_variant_batches_and_the_break_even(bench_train):
    """--variants NAME:B runs NAME at batch B only; add_ratios: images per core over the baseline's, and the steps
    after which a variant that starts slower (compiling) has spent no more core-seconds than the baseline."""
    from firststep import add_ratios

    assert bench_train.run_keys("fast,plain:32,fast-compile:32:128", [32, 64, 128]) == [
        ("fast", 32), ("plain", 32), ("fast-compile", 32), ("fast", 64), ("fast", 128), ("fast-compile", 128)]
    with pytest.raises(ValueError, match="among --batch"):
        bench_train.run_keys("fast:16", [32])

    def row(variant, batch, cpu, cold, warm):
        return {"variant": variant, "batch": batch, "cpu_s_per_step": cpu, "images_per_cpu_s": batch / cpu,
                "first_step_cold_cpu_s": cold, "first_step_warm_cpu_s": warm}

    result = {"rows": [row("fast", 32, 0.32, 1.0, 1.0), row("fast-compile", 32, 0.16, 101.0, 5.0),
                       row("fast", 128, 0.64, 1.0, 1.0), row("slow", 32, 0.64, 0.5, 0.5)]}
    add_ratios(result, "fast:32", 25600)
    base, compiled, big, slow = result["rows"]
    assert base["ratio_to_baseline"] == 1.0 and compiled["ratio_to_baseline"] == 2.0 and big["ratio_to_baseline"] == 2.0
    assert compiled["break_even_steps_cold"] == 625 and compiled["break_even_steps_warm"] == 25  # 100 s / 0.005 s
    assert compiled["train_core_s_cold"] == pytest.approx(101 + 799 * 0.16)
    assert compiled["train_ratio_cold"] == pytest.approx((1 + 799 * 0.32) / (101 + 799 * 0.16))
    assert big["break_even_steps_warm"] == 0 and big["train_core_s_warm"] == pytest.approx(1 + 199 * 0.64)
    assert slow["break_even_steps_warm"] is None and slow["train_ratio_warm"] < 1  # cheaper start, then behind
    with pytest.raises(SystemExit, match="no such row"):
        add_ratios(result, "plain:32", None)
