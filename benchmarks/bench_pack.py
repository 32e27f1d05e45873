"""K trainings of one architecture on one GPU: one at a time, K processes at once (with and without CUDA MPS), and
K models in one process through torch.func. The measure is cells per GPU-hour, i.e. training steps per second
summed over the K cells, against one training alone.

Usage (from the repository root):
    PYTHONPATH=workflow python benchmarks/bench_pack.py --preset paper --width 64 --batch 128 --k 4 \
        --variant compile-graphs --steps 30 --device cuda --out benchmarks/out/bench_pack.json
    ... --preset demo --width 16 --image-size 8 --batch 8 --k 2 --steps 3 --warmup 1 --device cpu --threads 1 \
        (the CPU smoke run of benchmarks/gpu.sh)

Modes (``--modes``):
- ``sequential``: one training alone (a child process): steps/s = the cells per hour of one at a time.
- ``processes``: K child processes, each its own `memgen.step.TrainStep` (``--variant``, as bench_train.py names
  them; compiled variants compile in every child, from Inductor's on-disk cache after the first); each warms up,
  then all start together and time ``--steps`` steps: aggregate = K x steps / (last end - first start).
- ``mps``: the same under a CUDA MPS daemon started for the run (``nvidia-cuda-mps-control -d`` with private pipe
  and log directories; the row says why where it cannot start), so the processes' kernels run concurrently.
- ``vmap``: K UNets in one process (`StackedStep`): parameters stacked by ``torch.func.stack_module_state``, one
  ``functional_call`` of the UNet vmapped over the K cells (dropout ``randomness="different"``), the hybrid loss
  per cell, one AdamW over the stacked parameters (elementwise, so K AdamWs in one) and one EMA; each cell's
  batches come from its own generator. Eager (bf16 autocast where the variant has it): vmap turns the
  convolutions into grouped ones (measured on this project's CPU: 0.84x of K separate steps at width 16).
Every row: mode, k, path, steps/s per cell, aggregate steps/s, gain = aggregate / sequential's steps/s of the
variant, peak GPU memory of one process, and cell steps per CPU-second of the timed steps (on a shared CPU the
comparison per core: wall time there includes waiting for a core). The planner reads ``gain`` (memgen/rates.json,
via benchmarks/rates.py).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from bench_train import batches, build_variant, is_compiled
from benchlib import PRESETS, ROOT, environment, model_setup, print_table, sync, write_result
from variants import Runtime, describe, eager_variant, variant_parts, variant_path

from memgen import checkpoint
from memgen.config import Config
from memgen.model import UNet
from memgen.precision import FastPath, make_adamw, unet_flops


class StackedStep:
    """One training step of K UNets at once: ``step(x0 [K, B, C, H, W], t [K, B], noise like x0)`` -> loss [K].

    Parameters and buffers of the K models are stacked (``torch.func.stack_module_state``: leaves of shape
    [K, ...]); the forward is ``torch.func.functional_call`` of one UNet on the meta device, vmapped over K.
    AdamW over the stacked leaves is K AdamWs (every operation of AdamW is elementwise); the EMA likewise.
    """

    def __init__(self, config: dict, width: int, device: torch.device, fast: FastPath, k: int, seed: int = 0):
        tc, ucfg = config["train"], Config.from_dict(config).unet(width, num_classes=0)
        models = []
        for cell in range(k):
            torch.manual_seed(seed + cell)
            models.append(UNet(ucfg).to(device))
        self.params, self.buffers = torch.func.stack_module_state(models)
        self.ema = {name: p.detach().clone() for name, p in self.params.items()}
        self.base = copy.deepcopy(models[0]).to("meta")
        self.diffusion, self.fast, self.device = checkpoint.build_diffusion_for(config), fast, device
        self.optimizer = make_adamw(self.params.values(), device, fast, tc["lr"], tc["weight_decay"])
        self.ema_rate = tc["ema_rate"]
        self._loss = torch.func.vmap(self._cell_loss, randomness="different")

    def _cell_loss(self, params, buffers, x0, t, noise):
        def net(x, tt, y=None):
            if self.fast.precision == "bf16":
                with torch.autocast(self.device.type, dtype=torch.bfloat16):
                    out = torch.func.functional_call(self.base, (params, buffers), (x, tt, y))
                return out.float()
            return torch.func.functional_call(self.base, (params, buffers), (x, tt, y))

        return self.diffusion.training_losses(net, x0, t, noise=noise)["loss"].mean()

    def __call__(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        losses = self._loss(self.params, self.buffers, x0, t, noise)
        self.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()  # cells do not share parameters: each gets its own loss's gradient
        self.optimizer.step()
        with torch.no_grad():
            names = list(self.params)
            torch._foreach_lerp_([self.ema[n] for n in names], [self.params[n] for n in names], 1.0 - self.ema_rate)
        return losses.detach()


def cell_batches(config: dict, batch: int, device: torch.device, k: int) -> list[tuple]:
    """Two pre-drawn batches per cell, each cell from its own generator, stacked to [K, B, ...]."""
    per_cell = [batches(config, batch, device) for _ in range(k)]  # bench_train's draws: seeded per call
    gens = [torch.Generator().manual_seed(100 + cell) for cell in range(k)]
    out = []
    for i in range(2):
        x0 = torch.stack([per_cell[c][i][0] for c in range(k)])
        t = torch.stack([torch.randint(0, config["diffusion"]["steps"], (batch,), generator=g) for g in gens])
        noise = torch.stack([torch.randn(x0.shape[1:], generator=g) for g in gens])
        out.append((x0, t.to(device), noise.to(device)))
    return out


def run_steps(step, data: list[tuple], count: int, device: torch.device) -> float:
    """Seconds for ``count`` steps (synchronised at both ends)."""
    sync(device)
    start = time.perf_counter()
    for i in range(count):
        step(*data[i % len(data)])
    sync(device)
    return time.perf_counter() - start


def child_main(args: argparse.Namespace) -> None:
    """One training process: build, warm up, say "ready", wait for a line on stdin, time, print a JSON line."""
    device, config = model_setup(args)
    step = build_variant(config, args.width, device, args.variant, args.batch, args.seed, args.compile_backend)
    data = batches(config, args.batch, device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with Runtime(args.variant):  # the variant's threads and flush-denormal setting for the whole child
        first = run_steps(step, data, 1, device)
        run_steps(step, data, max(args.warmup - 1, 0), device)
        print("ready", flush=True)
        sys.stdin.readline()
        start, cpu = time.time(), time.process_time()
        seconds = run_steps(step, data, args.steps, device)
        cpu = time.process_time() - cpu
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    print(json.dumps({"start": start, "end": start + seconds, "steps": args.steps, "cpu_s": cpu,
                      "path": describe(args.variant, step.fast),
                      "compiled": is_compiled(step), "first_step_s": first, "peak_mem_mib": peak}), flush=True)


def run_children(args: argparse.Namespace, k: int, variant: str, env: dict) -> list[dict]:
    """K child trainings started together after all warmed up; their JSON results."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--preset", args.preset, "--width",
           str(args.width), "--batch", str(args.batch), "--variant", variant, "--steps", str(args.steps), "--warmup",
           str(args.warmup), "--device", args.device, "--compile-backend", args.compile_backend]
    cmd += ["--image-size", str(args.image_size)] if args.image_size else []
    cmd += ["--threads", str(args.threads)] if args.threads else []
    procs = [subprocess.Popen([*cmd, "--seed", str(cell)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env=env, cwd=ROOT) for cell in range(k)]
    try:
        for proc in procs:
            line = proc.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError(f"child exited before warming up (exit {proc.wait()}): {line.strip()!r}")
        for proc in procs:  # all at once
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = [json.loads(proc.stdout.readline()) for proc in procs]
        for proc in procs:
            if proc.wait(timeout=600) != 0:
                raise RuntimeError(f"child exited {proc.returncode}")
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


def row_from(mode: str, k: int, results: list[dict], base: float | None) -> dict:
    window = max(r["end"] for r in results) - min(r["start"] for r in results)
    aggregate = sum(r["steps"] for r in results) / window
    mems = [r["peak_mem_mib"] for r in results if r["peak_mem_mib"] is not None]
    return {"mode": mode, "k": k, "path": results[0]["path"], "compiled": all(r["compiled"] for r in results),
            "steps_per_s_per_cell": aggregate / k, "aggregate_steps_per_s": aggregate,
            "gain": aggregate / base if base else None, "peak_mem_mib": max(mems) if mems else None,
            "first_step_s": max(r["first_step_s"] for r in results),
            "cell_steps_per_cpu_s": sum(r["steps"] for r in results) / sum(r["cpu_s"] for r in results)}


class MPS:
    """A CUDA MPS control daemon for this run only (private pipe and log directories), or the reason it is not."""

    def __init__(self):
        self.dir, self.env, self.error = Path(tempfile.mkdtemp(prefix="memgen-mps-")), None, None
        binary = shutil.which("nvidia-cuda-mps-control")
        if binary is None:
            self.error = "nvidia-cuda-mps-control not found"
            return
        env = {**os.environ, "CUDA_MPS_PIPE_DIRECTORY": str(self.dir / "pipe"),
               "CUDA_MPS_LOG_DIRECTORY": str(self.dir / "log")}
        for sub in ("pipe", "log"):
            (self.dir / sub).mkdir()
        done = subprocess.run([binary, "-d"], env=env, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            self.error = f"nvidia-cuda-mps-control -d exited {done.returncode}: {(done.stderr or done.stdout).strip()}"
            return
        self.binary, self.env = binary, env

    def close(self) -> None:
        if self.env is not None:
            subprocess.run([self.binary], input="quit\n", env=self.env, capture_output=True, text=True, timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


def vmap_row(args: argparse.Namespace, k: int, base: float | None, eager_base: float | None) -> dict:
    device, config = model_setup(args)
    flops = unet_flops(Config.from_dict(config).unet(args.width, num_classes=0), args.batch, backward=True)
    fast = dataclasses.replace(variant_path(args.variant, device, flops), compile=False, compile_mode="default")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    step, data = StackedStep(config, args.width, device, fast, k), cell_batches(config, args.batch, device, k)
    first = run_steps(step, data, 1, device)
    run_steps(step, data, max(args.warmup - 1, 0), device)
    cpu = time.process_time()
    seconds = run_steps(step, data, args.steps, device)
    cpu, aggregate = time.process_time() - cpu, k * args.steps / seconds
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    del step, data
    return {"mode": "vmap", "k": k, "path": fast.describe(), "compiled": False, "steps_per_s_per_cell": aggregate / k,
            "aggregate_steps_per_s": aggregate, "gain": aggregate / base if base else None,
            "gain_same_path": aggregate / eager_base if eager_base else None, "peak_mem_mib": peak,
            "first_step_s": first, "cell_steps_per_cpu_s": k * args.steps / cpu}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="paper")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=None, help="default: the preset's")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--k", type=int, nargs="+", default=[4], help="trainings per GPU to measure")
    parser.add_argument("--modes", default="sequential,processes,mps,vmap")
    parser.add_argument("--variant", default="fast", help="bench_train.py's variant names (compile-graphs, ...)")
    parser.add_argument("--compile-backend", default="inductor", help="torch.compile backend of compiled variants "
                        "(eager: Dynamo without Inductor, the CPU smoke run)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per training")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps (the first compiles)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0, help="(child) the cell's initial weights")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", default="benchmarks/out/bench_pack.json")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.child:
        return child_main(args)
    modes = args.modes.split(",")
    device, config = model_setup(args)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT / "workflow"),
                                                                    os.environ.get("PYTHONPATH")) if p)}
    result = {"benchmark": "pack", **environment(device), "preset": args.preset, "width": args.width,
              "image_size": config["image_size"], "batch": args.batch, "variant": args.variant, "steps": args.steps,
              "compile_backend": args.compile_backend, "rows": []}
    alone = row_from("sequential", 1, run_children(args, 1, args.variant, env), None)
    base = alone["aggregate_steps_per_s"]
    result["rows"].append({**alone, "gain": 1.0})
    eager_base = None
    if "vmap" in modes and variant_parts(args.variant)[1] & {"compile", "graphs"}:  # vmap runs eager: its path alone
        eager = row_from("sequential", 1, run_children(args, 1, eager_variant(args.variant), env), base)
        result["rows"].append(eager)
        eager_base = eager["aggregate_steps_per_s"]
    for k in args.k:
        if "processes" in modes:
            try:
                result["rows"].append(row_from("processes", k, run_children(args, k, args.variant, env), base))
            except Exception as err:  # noqa: BLE001 - e.g. K copies that do not fit the GPU's memory
                result["rows"].append({"mode": "processes", "k": k, "gain": None,
                                       "error": f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"})
        if "mps" in modes:
            mps = MPS() if device.type == "cuda" else None
            try:
                if mps is None or mps.error:
                    result["rows"].append({"mode": "mps", "k": k, "gain": None,
                                           "error": "needs CUDA" if mps is None else mps.error})
                else:
                    result["rows"].append(row_from("mps", k, run_children(args, k, args.variant, mps.env), base))
            except Exception as err:  # noqa: BLE001 - e.g. clients that cannot reach the MPS server
                result["rows"].append({"mode": "mps", "k": k, "gain": None,
                                       "error": f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"})
            finally:
                if mps is not None:
                    mps.close()
        if "vmap" in modes:
            try:
                result["rows"].append(vmap_row(args, k, base, eager_base or base))
            except Exception as err:  # noqa: BLE001 - a mode that does not run is a row that says so
                result["rows"].append({"mode": "vmap", "k": k, "gain": None,
                                       "error": f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"})
    print_table(result["rows"], ["mode", "k", "path", "steps_per_s_per_cell", "aggregate_steps_per_s", "gain",
                                 "peak_mem_mib", "first_step_s", "error"])
    write_result(args.out, result)


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    if "--child" not in sys.argv:
        print(f"bench_pack: {time.perf_counter() - t0:.1f} s")
