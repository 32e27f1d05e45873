"""memgen.rates and the per-width choice of "auto" on CUDA: the committed table is what benchmarks/rates.py builds
from the committed result files, a path replaces the default only where a measurement shows it faster, compile
time is weighed against the job's length, and nothing changes on a CPU or where the user fixed the path."""

import dataclasses
import importlib.util
import json

import pytest

from memgen import precision, rates
from memgen.precision import FastPath, resolve_fast_path
from memgen.rates import CUDA_DEFAULT, Workload

DEFAULT = CUDA_DEFAULT["train"]


def _row(width, path, s, compile_s=None, batch=128, kind_chip="H100"):
    return {"chip": kind_chip, "width": width, "image_size": 32, "batch": batch, "path": path, "s_per_call": s,
            "compile_s": compile_s, "source": "synthetic"}


# widths 64: the default measured, slower than fp32 eager; 256: the default fastest; 128: the default not measured
TABLE = {"plan_chip": "H100", "train": [
    _row(64, DEFAULT, 0.08, 60.0), _row(64, "fp32", 0.05), _row(64, "bf16+fused_adamw", 0.10),
    _row(128, "fp32", 0.10), _row(128, "bf16+fused_adamw", 0.08),
    _row(256, DEFAULT, 0.05, 90.0), _row(256, "fp32", 0.20), _row(256, "bf16+fused_adamw", 0.15),
], "sample": [_row(64, "fp32", 0.04, batch=256), _row(64, CUDA_DEFAULT["sample"], 0.01, 30.0, batch=256)],
    "pack": [{**_row(64, DEFAULT, 0.0), "k": 4, "mode": "processes", "gain": 2.5}]}


@pytest.fixture
def cuda(monkeypatch):
    """A pretend H100: bf16 and fused AdamW supported, the synthetic table."""
    monkeypatch.setattr(precision, "device_supports_bf16", lambda device: True)
    monkeypatch.setattr(precision, "fused_adamw_supported", lambda device: True)
    monkeypatch.setattr(precision, "cuda_chip", lambda device: "H100")
    monkeypatch.setattr(rates, "load_table", lambda path=rates.TABLE_PATH: TABLE)


@pytest.mark.parametrize("path", ["fp32", "bf16+fused_adamw", DEFAULT, "bf16+channels_last+compile+fused_adamw",
                                  CUDA_DEFAULT["sample"], "fp32+compile(default)"])
def test_parse_inverts_describe(path):
    fast = FastPath.parse(path)
    assert FastPath.parse(fast.describe()) == fast
    assert fast.describe() == path.replace("compile(default)", "compile")


def test_the_defaults_named_in_rates_are_what_auto_picks(monkeypatch):
    monkeypatch.setattr(precision, "device_supports_bf16", lambda device: True)
    monkeypatch.setattr(precision, "fused_adamw_supported", lambda device: True)
    monkeypatch.setattr(precision, "cuda_chip", lambda device: None)  # nothing measured for this chip
    fast = resolve_fast_path("cuda", "auto", workload=Workload("train", 64, 32, 128, 10**6))
    assert fast.describe() == DEFAULT
    assert FastPath.parse(CUDA_DEFAULT["sample"]) == FastPath("bf16", compile=True, compile_mode="reduce-overhead")


def test_auto_picks_per_width_what_was_measured_fastest(cuda):
    long = dict(image_size=32, batch=128, calls=500_000)
    assert resolve_fast_path("cuda", "auto", workload=Workload("train", 64, **long)) == FastPath("fp32")
    assert resolve_fast_path("cuda", "auto", workload=Workload("train", 32, **long)) == FastPath("fp32")  # nearest: 64
    assert resolve_fast_path("cuda", "auto", workload=Workload("train", 256, **long)).describe() == DEFAULT
    unmeasured = Workload("train", 128, **long)  # the default was not measured at 128
    assert resolve_fast_path("cuda", "auto", workload=unmeasured).describe() == DEFAULT
    sample = resolve_fast_path("cuda", "auto", workload=Workload("sample", 64, 32, 256, calls=10_000))
    assert sample.compile and sample.precision == "bf16" and sample.fused_adamw  # fused_adamw: the default's, unused


def test_compile_time_is_weighed_against_the_jobs_length(cuda):
    short = Workload("train", 256, 32, 128, calls=300)  # 300 steps: 90 s of compiling saves 0.15 s x 300 = 45 s
    assert resolve_fast_path("cuda", "auto", workload=short) == FastPath("bf16", fused_adamw=True)
    longer = dataclasses.replace(short, calls=1000)  # 90 s < 0.10 s x 1000
    assert resolve_fast_path("cuda", "auto", workload=longer).describe() == DEFAULT


def test_a_fixed_request_a_cpu_or_no_workload_ignores_the_table(cuda, monkeypatch):
    work = Workload("train", 64, 32, 128, 10**6)
    assert resolve_fast_path("cuda", "bf16", workload=work).describe() == DEFAULT  # precision fixed
    assert resolve_fast_path("cuda", "auto", compile="reduce-overhead", workload=work).describe() == DEFAULT
    assert not resolve_fast_path("cuda", "auto", compile="off", workload=work).compile
    assert resolve_fast_path("cuda", "auto").describe() == DEFAULT
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)
    assert resolve_fast_path("cpu", "auto", workload=work) == resolve_fast_path("cpu", "auto")


def test_plan_rates_and_pack_gain():
    plan = rates.plan_rates("train", 32, 256, TABLE)
    assert sorted(plan) == [64, 128, 256]
    assert plan[64]["path"] == "fp32" and plan[64]["s"] == pytest.approx(0.05 * 2)  # batch 256 from 128
    assert plan[128]["path"] == "bf16+fused_adamw"  # the default unmeasured: its eager twin (its fallback)
    no_twin = {**TABLE, "train": [r for r in TABLE["train"] if (r["width"], r["path"]) != (128, "bf16+fused_adamw")]}
    assert rates.plan_rates("train", 32, 256, no_twin)[128]["path"] == "fp32"  # else the slowest (safe limits)
    assert plan[256]["path"] == DEFAULT and plan[256]["compile_s"] == 90.0
    assert rates.plan_rates("train", 32, 64, TABLE)[64]["s"] == 0.05  # fewer images: no faster
    assert rates.pack_gain(64, 4, table=TABLE) == 2.5 and rates.pack_gain(256, 4, table=TABLE) == 2.5  # nearest
    assert rates.pack_gain(64, 2, table=TABLE) is None and rates.pack_gain(64, 4, "mps", TABLE) is None


def test_chip_names():
    assert rates.chip_of("NVIDIA H100 80GB HBM3") == "H100"
    assert rates.chip_of("NVIDIA A100-SXM4-80GB") == "A100"
    assert rates.chip_of("NVIDIA H200") == "H200"
    assert rates.chip_of("Some Accelerator") == "Some Accelerator"


def _rates_script(repo_root):
    spec = importlib.util.spec_from_file_location("rates_script", repo_root / "benchmarks" / "rates.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_table_is_what_the_script_builds_from_the_committed_results(repo_root):
    """rates.json is never edited by hand: rebuilding it from its folders gives it back, and every row's number
    is in the file it names."""
    committed = json.loads(rates.TABLE_PATH.read_text())
    script = _rates_script(repo_root)
    rebuilt = script.build([repo_root / f for f in committed["folders"]], committed["plan_chip"])
    assert rebuilt == committed
    for row in committed["train"]:
        source = json.loads((repo_root / row["source"]).read_text())
        steps = [r["s_per_step"] for r in source.get("rows", []) if r.get("path") == row["path"]
                 and r.get("batch") == row["batch"] and r.get("width", source.get("width")) == row["width"]]
        assert row["s_per_call"] in steps, row


def test_with_the_committed_table_auto_keeps_the_default_where_it_was_not_measured(monkeypatch):
    """Today's table: wherever the default path has no row at the nearest measured width and batch, auto is the
    default (the rule, read off the committed data, not hard-coded numbers)."""
    monkeypatch.setattr(precision, "device_supports_bf16", lambda device: True)
    monkeypatch.setattr(precision, "fused_adamw_supported", lambda device: True)
    table = rates.load_table()
    for chip in {r["chip"] for r in table["train"]}:
        monkeypatch.setattr(precision, "cuda_chip", lambda device, chip=chip: chip)
        for width in (32, 64, 128, 256):
            work = Workload("train", width, 32, 128, 500_000)
            measured = {r["path"] for r in rates.measured("train", chip, width, 32, 128)}
            got = resolve_fast_path("cuda", "auto", workload=work).describe()
            if DEFAULT in measured:
                assert got in measured
            else:
                assert got == DEFAULT


def test_script_takes_cold_compile_times_from_the_warm_runs(repo_root, tmp_path):
    """gpu.sh compiles in the background with a cold cache (warm/*.json): those first calls, not the later
    cache hits, are what a job on a fresh machine pays; their step times (measured under load) are not read."""
    def result(s, compile_s):
        return {"benchmark": "train", "device_name": "NVIDIA H200", "width": 64, "image_size": 32, "rows": [
            {"batch": 128, "path": DEFAULT, "s_per_step": s, "compile_s": compile_s, "compiled": True},
            {"batch": 128, "path": "bf16+compile+fused_adamw", "s_per_step": s, "compile_s": 5.0, "compiled": False}]}

    (tmp_path / "warm").mkdir()
    (tmp_path / "bench_train.json").write_text(json.dumps(result(0.03, 12.0)))
    (tmp_path / "warm" / "train_w64.json").write_text(json.dumps(result(0.3, 95.0)))
    table = _rates_script(repo_root).build([tmp_path], None)
    assert [(r["chip"], r["path"], r["s_per_call"], r["compile_s"]) for r in table["train"]] == [
        ("H200", DEFAULT, 0.03, 95.0)]  # the fallen-back compile row is left out: it did not measure its path
    assert table["plan_chip"] == "H200"
