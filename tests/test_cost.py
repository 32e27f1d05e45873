"""Job cost estimates: time limits and memory grow with the work, stay within floor and ceiling, and the plan sums
GPU-hours and disk per job kind."""

import dataclasses

import pytest

from memgen.cost import CEILING_MIN, FLOOR_MB, FLOOR_MIN, Job, job_resources, output_bytes, plan_rows, unet_params
from memgen.errors import MemgenError

PAPER_TRAIN = Job("train", 128, 32, "gpu", batch=128, steps=500_000, train_images=1000)
PAPER_SAMPLE = Job("sample", 128, 32, "gpu", batch=500, samples=10_000, sample_steps=4000)
PAPER_SCORE = Job("score", 128, 32, "gpu", samples=10_000, train_images=32_000)


def with_(job: Job, **changes) -> Job:
    return dataclasses.replace(job, **changes)


def test_paper_parameter_counts():
    """The seeds' UNet (anchors 1.3): 13,161,926 / 52,546,438 / 209,983,238 at widths 64 / 128 / 256."""
    for width, exact in ((64, 13_161_926), (128, 52_546_438), (256, 209_983_238)):
        assert abs(unet_params(width) - exact) / exact < 0.005


def test_unet256_500k_asks_for_more_than_unet64():
    small, big = (job_resources(with_(PAPER_TRAIN, width=w)) for w in (64, 256))
    assert big.seconds > 1.4 * small.seconds  # 4x the FLOPs; UNet-64 is launch-bound
    assert big.runtime_min > small.runtime_min and big.mem_mb > small.mem_mb
    cpu_small, cpu_big = (job_resources(with_(PAPER_TRAIN, width=w, device="cpu")) for w in (64, 256))
    assert cpu_big.seconds > 8 * cpu_small.seconds  # ~ width^1.7 on a CPU


@pytest.mark.parametrize("device", ["cpu", "gpu"])
@pytest.mark.parametrize("base,field,values", [
    (PAPER_TRAIN, "width", [16, 24, 32, 48, 64, 100, 128, 256, 384]),
    (PAPER_TRAIN, "steps", [10, 1000, 100_000, 500_000]),
    (PAPER_TRAIN, "batch", [8, 64, 128, 256]),
    (PAPER_TRAIN, "image_size", [8, 16, 32, 64]),
    (PAPER_SAMPLE, "width", [16, 64, 128, 256]),
    (PAPER_SAMPLE, "sample_steps", [10, 100, 1000, 4000]),
    (PAPER_SCORE, "train_images", [100, 1000, 32_000]),
])
def test_estimates_never_shrink_with_more_work(device, base, field, values):
    estimates = [job_resources(with_(base, device=device, **{field: v}), ceiling_min=10**9) for v in values]
    seconds = [e.seconds for e in estimates]
    assert all(a <= b for a, b in zip(seconds, seconds[1:])), seconds
    assert seconds[-1] > seconds[0]
    limits = [e.runtime_min for e in estimates]
    assert all(a <= b for a, b in zip(limits, limits[1:])), limits
    mems = [e.mem_mb for e in estimates]
    assert all(a <= b for a, b in zip(mems, mems[1:])), mems


def test_floor_ceiling_and_safety():
    tiny = job_resources(Job("train", 16, 8, "cpu", batch=8, steps=1))
    assert tiny.runtime_min == FLOOR_MIN and tiny.mem_mb >= FLOOR_MB
    huge = job_resources(with_(PAPER_TRAIN, width=256, steps=5_000_000))
    assert huge.runtime_min == CEILING_MIN
    loose, tight = (job_resources(PAPER_TRAIN, safety=s, ceiling_min=10**9) for s in (3.0, 1.0))
    assert loose.seconds == tight.seconds and loose.runtime_min > tight.runtime_min * 2.5
    assert tight.runtime_min >= tight.seconds / 60  # never below the estimate itself


def test_cpu_is_slower_than_gpu_and_a_smaller_unet_is_cheaper():
    cpu, gpu = (job_resources(with_(PAPER_TRAIN, device=d)) for d in ("cpu", "gpu"))
    assert cpu.seconds > 50 * gpu.seconds
    full = job_resources(with_(PAPER_TRAIN, device="cpu", params=unet_params(128)))
    third = job_resources(with_(PAPER_TRAIN, device="cpu", params=unet_params(128) // 3))
    assert third.seconds == pytest.approx(full.seconds / 3, rel=1e-6)


def test_output_bytes_of_a_checkpoint():
    """model + EMA + 2 Adam moments, float32, plus snapshots of the EMA and the raw weights."""
    params = unet_params(64)
    assert output_bytes(with_(PAPER_TRAIN, width=64)) == 16 * params
    assert output_bytes(with_(PAPER_TRAIN, width=64, snapshots=5)) == (16 + 40) * params
    assert output_bytes(PAPER_SAMPLE) == 10_000 * (32 * 32 * 3 + 8)


def test_plan_rows_sum_gpu_hours_disk_and_attempts():
    jobs = [with_(PAPER_TRAIN, width=w) for w in (64, 128, 256)] + [PAPER_SAMPLE] * 3 + [PAPER_SCORE] * 3
    jobs.append(Job("train", 16, 16, "cpu", batch=64, steps=1600, train_images=64))
    rows = plan_rows(jobs)
    assert [(r["kind"], r["device"], r["jobs"]) for r in rows] == [
        ("train", "cpu", 1), ("train", "gpu", 3), ("sample", "gpu", 3), ("score", "gpu", 3)]
    train = rows[1]
    assert train["gpu_hours"] == pytest.approx(sum(job_resources(j).seconds for j in jobs[:3]) / 3600)
    assert rows[0]["gpu_hours"] == 0 and rows[0]["compute_hours"] > 0
    assert train["output_gb"] == pytest.approx(16 * sum(unet_params(w) for w in (64, 128, 256)) / 1e9)
    assert train["attempts"] == 1 and rows[2]["attempts"] == 1  # 500k steps of UNet-256: ~30 h on an H100
    assert train["limit_hours"] <= 3 * CEILING_MIN / 60
    slow = plan_rows([with_(PAPER_TRAIN, width=256, steps=2_000_000)])[0]
    assert slow["attempts"] == 2  # ~121 h outlasts one 3-day limit: cut, checkpointed, resumed by a retry


@pytest.mark.parametrize("job,match", [
    (Job("fit", 64, 32), "job kind 'fit'"),
    (Job("train", 64, 32, "tpu", batch=8, steps=1), "device 'tpu'"),
    (Job("train", 64, 32, "gpu", batch=8, steps=0), "train job steps"),
    (Job("sample", 64, 32, "gpu", samples=10), "sample job sample_steps"),
    (Job("score", 0, 32, "gpu", samples=10, train_images=5), "width"),
])
def test_bad_jobs_are_one_line_errors(job, match):
    with pytest.raises(MemgenError, match=match):
        job_resources(job)


def test_plan_counts_the_configs_own_unet():
    """`memgen plan` prices each model at its exact parameter count (meta device): the paper preset's UNet-128 is
    the reference's 52,546,438; the demo's one-res-block 16x16 UNets are far smaller than the seeds' UNet at the
    same width, so their estimates drop below the seeds'-UNet time limits the rules ask for."""
    from pathlib import Path

    from memgen.config import load_config
    from memgen.studies import Grid
    from memgen.studies.plan import _jobs, plan_table, unet_parameters

    paper = load_config(Path(__file__).resolve().parents[1] / "workflow" / "presets" / "paper.yaml")
    assert unet_parameters(paper, 128) == 52_546_438
    demo = load_config({"studies": ["capacity"]})
    grid = Grid(demo)
    assert unet_parameters(demo, 32) < unet_params(32) / 2
    cells = grid.cells("capacity")
    exact = plan_rows(_jobs(grid, cells, {w: unet_parameters(demo, w) for w in (16, 32)}).values())
    seeds = plan_rows(_jobs(grid, cells).values())
    assert exact[0]["compute_hours"] < seeds[0]["compute_hours"] / 2
    table = plan_table(grid)
    total = table[(table.study == "total") & (table.kind == "train")].iloc[0]
    assert total["compute_hours"] == pytest.approx(exact[0]["compute_hours"])


def test_plan_counts_a_shared_sample_set_once(repo_root):
    """The default run's 66 cells score 54 sample sets (tests/test_grid.py): each study's rows count the sampling
    its cells need, the total counts each set's one job, as it counts a shared model's one training."""
    from memgen.config import load_config
    from memgen.studies import Grid
    from memgen.studies.plan import plan_table

    table = plan_table(Grid(load_config(repo_root / "config.yaml")))
    sample = table[table.kind == "sample"].set_index("study")["jobs"]
    assert sample.drop("total").sum() == 66 and sample["total"] == 54
    assert sample[["capacity", "dummies_mondrian", "dummy_kinds", "loss_gap"]].tolist() == [18, 9, 15, 9]


def _table(monkeypatch):
    """A synthetic rates table: UNet-64 measured compiled (60 s to compile) and packed 3 to a GPU."""
    from memgen import rates

    def row(width, path, s, compile_s=None, **extra):
        return {"chip": "X1", "width": width, "image_size": 32, "batch": 128, "path": path, "s_per_call": s,
                "compile_s": compile_s, "source": "synthetic", **extra}

    table = {"plan_chip": "X1",
             "train": [row(64, rates.CUDA_DEFAULT["train"], 0.05, 60.0), row(64, "fp32", 0.08), row(256, "fp32", 0.3)],
             "sample": [row(64, rates.CUDA_DEFAULT["sample"], 0.01, 20.0), row(64, "fp32", 0.04)],
             "pack": [row(64, rates.CUDA_DEFAULT["train"], 0.0, k=3, mode="processes", gain=2.0)]}
    monkeypatch.setattr(rates, "load_table", lambda path=rates.TABLE_PATH: table)


def test_gpu_seconds_are_the_measured_path_plus_its_compile_time(monkeypatch):
    _table(monkeypatch)
    job = Job("train", 64, 32, "gpu", batch=128, steps=1000)
    assert job_resources(job).seconds == pytest.approx(1000 * 0.05 + 60)  # the compiled default: fastest
    assert job_resources(with_(job, batch=256)).seconds == pytest.approx(1000 * 0.1 + 60)
    assert job_resources(with_(job, width=256)).seconds == pytest.approx(1000 * 0.3)  # default unmeasured: fp32
    sample = Job("sample", 64, 32, "gpu", batch=128, samples=256, sample_steps=100)
    assert job_resources(sample).seconds == pytest.approx(2 * 100 * 0.01 + 20)


def test_packed_training_runs_longer_but_takes_a_fraction_of_a_gpu(monkeypatch):
    _table(monkeypatch)
    alone = Job("train", 64, 32, "gpu", batch=128, steps=1000)
    three, two = with_(alone, slots=3), with_(alone, slots=2)
    assert job_resources(three).seconds == pytest.approx(job_resources(alone).seconds * 3 / 2.0)  # gain 2 measured
    assert job_resources(two).seconds == pytest.approx(job_resources(alone).seconds * 2)  # not measured: gain 1
    rows = {j.slots: plan_rows([j])[0] for j in (alone, two, three)}
    assert rows[3]["gpu_hours"] == pytest.approx(rows[1]["gpu_hours"] / 2.0)
    assert rows[2]["gpu_hours"] == pytest.approx(rows[1]["gpu_hours"])
    assert rows[3]["limit_hours"] > rows[1]["limit_hours"]  # the wall time grows: so does the time limit
    with pytest.raises(MemgenError, match="slots"):
        job_resources(with_(alone, slots=0))


def test_plan_prints_a_config_at_other_seeds_and_packing(capsys):
    from memgen.cli import main

    totals = {}
    for seeds in (["0"], ["0", "1", "2"]):
        assert main(["plan", "--configfile", '{"studies": ["capacity"]}', "--seeds", *seeds]) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"seeds [{', '.join(seeds)}], training jobs per GPU 1")
        totals[len(seeds)] = [line.split() for line in out.splitlines() if line.split()[:2] == ["total", "train"]][0]
    assert int(totals[3][3]) == 3 * int(totals[1][3])  # three times the training jobs
    assert main(["plan", "--configfile", '{"studies": ["capacity"]}', "--slots-per-gpu", "3"]) == 0
    assert capsys.readouterr().out.startswith("seeds [0, 1, 2], training jobs per GPU 3")  # ./config.yaml's seeds
