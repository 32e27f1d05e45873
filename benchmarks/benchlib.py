"""What every benchmark script shares: the machine's description, timing, peak memory, peak FLOP/s, output.

Benchmarks compare variants side by side in one process: `interleaved` times rounds of (variant A, variant B,
...) so that a load change on a shared machine hits every variant alike, and reports each variant's median.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))

from memgen import io  # noqa: E402

# Dense peak FLOP/s from the vendors' datasheets (SXM parts, no sparsity); MFU is also given against a
# matmul measured in the same run (`measured_matmul_peak`), which is what the chip delivers as it is found.
DATASHEET_PEAK = {
    ("H100", "bf16"): 989.4e12, ("H100", "fp32"): 66.9e12,
    ("H200", "bf16"): 989.4e12, ("H200", "fp32"): 66.9e12,
}


PRESETS = {"demo": "config.yaml", "paper": "workflow/presets/paper.yaml"}


def model_setup(args) -> tuple[torch.device, dict]:
    """What the model benchmarks share: torch threads, the device, and the preset's validated config (its image
    size replaced by ``args.image_size`` when given)."""
    from memgen.config import read_config_source, validate_config
    from memgen.runtime import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    config = validate_config(read_config_source(PRESETS[args.preset]))
    if args.image_size:
        config["image_size"] = args.image_size
    return resolve_device(args.device), config


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_model() or platform.processor() or platform.machine()


def cpu_model() -> str | None:
    """The CPU as /proc/cpuinfo names it, with its family and model numbers (a hypervisor may shorten the name:
    "AMD EPYC (family 25, model 17)" is a Zen 4 EPYC 9004); None where /proc/cpuinfo is absent."""
    try:
        with open("/proc/cpuinfo") as handle:
            fields = dict(line.split(":", 1) for line in handle.read().split("\n\n")[0].splitlines() if ":" in line)
    except OSError:
        return None
    fields = {key.strip(): value.strip() for key, value in fields.items()}
    name = fields.get("model name")
    return f"{name} (family {fields.get('cpu family')}, model {fields.get('model')})" if name else None


def environment(device: torch.device) -> dict:
    """Versions, device, threads and load: what a reader needs to compare two runs."""
    env = {
        "python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
        "device": str(device), "device_name": device_name(device), "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "load_avg_1min": round(os.getloadavg()[0], 2),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(gpu_memory_gib=round(props.total_memory / 2**30, 1), multiprocessors=props.multi_processor_count,
                   # torch's defaults: float32 matmuls IEEE, but cuDNN convolutions may run in TF32
                   cuda_matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32,
                   cudnn_allow_tf32=torch.backends.cudnn.allow_tf32)
    return env


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device, repeats: int = 1) -> float:
    """Seconds per call of ``fn``, over ``repeats`` calls with one synchronisation at each end."""
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    sync(device)
    return (time.perf_counter() - start) / repeats


def interleaved(fns: dict[str, Callable[[], object]], device: torch.device, rounds: int, repeats: int) -> dict:
    """Median seconds per call of each function, timed in ``rounds`` alternating rounds of ``repeats`` calls."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            times[name].append(timed(fn, device, repeats))
    return {name: statistics.median(values) for name, values in times.items()}


def interleaved_clocks(fns: dict, device: torch.device, rounds: int, repeats: int) -> dict:
    """Like `interleaved`, in two clocks read around the same calls: {name: {"wall": s, "cpu": s}} per call, each
    the median over the rounds. "cpu" is this process's CPU time (every thread; on CUDA mostly the host's
    launches): on a shared machine it leaves out the time spent waiting for a core, so images per CPU-second are
    images per core, whatever else runs."""
    times: dict = {name: {"wall": [], "cpu": []} for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            sync(device)
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(repeats):
                fn()
            sync(device)
            times[name]["cpu"].append((time.process_time() - cpu) / repeats)
            times[name]["wall"].append((time.perf_counter() - wall) / repeats)
    return {name: {k: statistics.median(v) for k, v in clocks.items()} for name, clocks in times.items()}


def current_rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakMemory:
    """Peak memory of a block in MiB: CUDA's allocator peak, or on CPU the process RSS sampled every 2 ms."""

    def __init__(self, device: torch.device):
        self.device, self.peak_mib, self._stop = device, 0.0, threading.Event()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_mib = max(self.peak_mib, current_rss_mib())
            time.sleep(0.002)

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            sync(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            sync(self.device)
            self.peak_mib = torch.cuda.max_memory_allocated(self.device) / 2**20
        else:
            self._stop.set()
            self._thread.join()
            self.peak_mib = max(self.peak_mib, current_rss_mib())


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measured_matmul_peak(device: torch.device, dtype: torch.dtype) -> float:
    """FLOP/s of the best of a few square matmuls (8192 on CUDA, 1024 on CPU) on random data, IEEE float32."""
    from memgen.precision import ieee_float32_matmul

    n = 8192 if device.type == "cuda" else 1024
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, generator=gen).to(dtype)
    b = torch.randn(n, n, device=device, generator=gen).to(dtype)
    with ieee_float32_matmul():
        a @ b
        best = min(timed(lambda: a @ b, device, repeats=3 if device.type == "cpu" else 10) for _ in range(3))
    return 2 * n**3 / best


def datasheet_peak(device: torch.device, precision: str) -> float | None:
    name = device_name(device)
    return next((v for (chip, p), v in DATASHEET_PEAK.items() if chip in name and p == precision), None)


def nvidia_smi() -> str:
    try:
        return subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as err:
        return f"nvidia-smi unavailable: {err}"


def print_table(rows: list[dict], columns: list[str]) -> None:
    """A fixed-width table of ``rows`` (floats to 3 significant digits)."""
    def cell(v):
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    widths = {c: max(len(c), *(len(cell(r.get(c, ""))) for r in rows)) for c in columns}
    print("  ".join(c.rjust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(cell(r.get(c, "")).rjust(widths[c]) for c in columns))


def write_result(out: str | Path, result: dict) -> None:
    """The benchmark's result as JSON at ``out`` (atomic, via memgen.io)."""
    io.write_json(out, result)
    print(f"wrote {out}")


def _load(path: Path) -> dict | None:
    try:
        return io.read_json(path)
    except Exception:  # noqa: BLE001 - a missing or broken file shows as absent in the summary
        return None


def _train_row(name: str, r: dict, width=None) -> dict:
    extra = f"; compile {r['compile_s']:.0f} s" if r.get("compile_s") is not None else ""
    speedup = f"x{r['speedup']:.2f}" if r.get("speedup") else "-"
    where = f"w{width} " if width else ""
    return {"benchmark": name, "what": f"{where}b{r['batch']} {r['path']}", "value": r["images_per_s"],
            "unit": "img/s", "note": f"{speedup}, {r['peak_mem_mib']:.0f} MiB, MFU {r['mfu_measured']:.0%} of "
            f"measured{extra}"}


def _sample_rows(name: str, result: dict, width=None) -> list[dict]:
    rows, where = [], f"w{width} " if width else ""
    for r in result.get("rows", []):
        if r["part"] == "loop":
            extra = f"; compile {r['compile_s']:.0f} s" if r.get("compile_s") is not None else ""
            speedup = f"x{r['speedup']:.2f}" if r.get("speedup") else "-"
            rows.append({"benchmark": name, "what": where + r["what"], "value": r["samples_per_s"],
                         "unit": "samples/s", "note": f"{speedup}{extra}"})
        elif r["part"] == "noise" and not width:
            rows.append({"benchmark": name, "what": r["what"], "value": r["s"] * 1e3, "unit": "ms",
                         "note": f"{r['share_of_step']:.1%} of a step"})
    return rows


def summary_rows(outdir: Path) -> list[dict]:
    """One line per headline number of the JSON files in ``outdir`` (gpu.sh prints these last)."""
    rows = []
    e2e = _load(outdir / "e2e.json")
    if e2e:
        stops = ", ".join(f"{s.get('when')}: exit {s.get('exit_s', '?')} s" for s in e2e["signals"])
        failed = [k for k, v in e2e["checks"].items() if not v]
        rows.append({"benchmark": "e2e", "what": "memgen train (defaults) SIGTERMed twice, resumed, sampled, scored",
                     "value": e2e["wall_s"], "unit": "s", "note": f"{'ok' if e2e['ok'] else 'FAILED ' + str(failed)};"
                     f" {stops}; paths {sorted(set(e2e['paths']))}"})
    for name in ("bench_train", "bench_train_compile"):
        for r in (_load(outdir / f"{name}.json") or {}).get("rows", []):
            rows.append(_train_row(name, r))
    rows += _sample_rows("bench_sample", _load(outdir / "bench_sample.json") or {})
    budget = _load(outdir / "bench_budget.json") or {}
    for key, child in sorted((budget.get("runs") or {}).items(), key=lambda kv: (int(kv[0].split("_w")[1]), kv[0])):
        width = int(key.split("_w")[1])
        if key.startswith("train"):
            rows += [_train_row("bench_budget", r, width) for r in child["rows"]]
        else:
            rows += _sample_rows("bench_budget", child, width)
    pack = _load(outdir / "bench_pack.json")
    for r in (pack or {}).get("rows", []):
        value = r.get("aggregate_steps_per_s")
        rows.append({"benchmark": "bench_pack", "what": f"w{pack['width']} b{pack['batch']} {r['mode']} k={r['k']}"
                     f" {r.get('path', '')}", "value": value if value is not None else float("nan"),
                     "unit": "steps/s", "note": r.get("error") or (f"gain x{r['gain']:.2f}" if r.get("gain") else "")})
    for path in sorted((outdir / "warm").glob("*.json")):
        warm = _load(path) or {}
        for r in warm.get("rows", []):
            first = r.get("first_step_s") if "first_step_s" in r else r.get("compile_s")
            if first is not None:
                rows.append({"benchmark": "warm_compile", "what": f"w{warm['width']} {r.get('variant')} "
                             f"b{r['batch']}", "value": first, "unit": "s", "note": "first call, cold, 5 at once"})
    score = _load(outdir / "bench_score.json")
    if score:
        rows.append({"benchmark": "bench_score", "what": f"{score['samples']} x {score['train']} nearest_two",
                     "value": score["nearest_two_s"], "unit": "s", "note": f"bare GEMM {score['gemm_s']} s: "
                     f"fraction {score['gemm_fraction']:.2f}, fallbacks {score['n_exact_fallback']}"})
    for r in (_load(outdir / "bench_dag.json") or {}).get("rows", []):
        rows.append({"benchmark": "bench_dag", "what": r["what"], "value": r["s"], "unit": "s",
                     "note": f"target {r['target_s']} s"})
    table = outdir / "smoke_replicates.parquet"
    if table.is_file():
        for r in io.read_parquet(table).to_dict("records"):
            rows.append({"benchmark": "smoke_dag", "what": f"w{r['width']} n{r['size']} {r['steps']} steps",
                         "value": r["replicate_fraction"], "unit": "replicates", "note": f"n={r['n_samples']}"})
    return rows


def summarize(outdir: Path, failed: list[str]) -> dict:
    """The summary of a gpu.sh run: its rows (printed as a table) and the steps that failed; written to
    ``outdir/summary.json``."""
    found = summary_rows(outdir)
    print_table(found, ["benchmark", "what", "value", "unit", "note"]) if found else print("no results")
    summary = {"benchmark": "summary", "failed_steps": failed,
               "rows": [{**r, "value": None if r["value"] != r["value"] else r["value"]} for r in found]}
    io.write_json(outdir / "summary.json", summary)
    return summary


if __name__ == "__main__":  # python benchmarks/benchlib.py summarize OUTDIR [FAILED STEP ...]
    if len(sys.argv) < 3 or sys.argv[1] != "summarize":
        raise SystemExit("usage: benchlib.py summarize OUTDIR [FAILED STEP ...]")
    summarize(Path(sys.argv[2]), sys.argv[3:])
