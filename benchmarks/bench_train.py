"""Training-step throughput: the plain fp32 eager step vs memgen's fast path, side by side in one process.

Usage (from the repository root; CPU demo size, then the paper's UNet-128):
    PYTHONPATH=workflow OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_train.py --preset demo --width 32 \
        --batch 64 --out benchmarks/out/bench_train_demo.json
    ... --preset paper --width 128 --batch 8 --rounds 3 --steps 1 --out benchmarks/out/bench_train_paper.json

Each variant is a `memgen.step.TrainStep` on its own copy of the same initial weights, fed the same batches
(pre-drawn: the timing is the step, not the data pipeline). Variants: ``plain`` (FastPath(): fp32 eager, default
AdamW, what memgen.train runs), ``fast`` (``resolve_fast_path(device, "auto")``), and for exploration ``bf16``,
``bf16-cl`` (bf16 + channels_last), ``fused`` (fp32 + fused AdamW), ``compile`` (fast + torch.compile) and
``compile-graphs`` (the same in mode reduce-overhead, CUDA graphs); a compiled variant's first step, which
compiles, is reported as ``compile_s`` and kept out of the steady-state time.
Reported per variant: seconds per step (median of interleaved rounds), images/s, peak memory (CUDA allocator
peak; on CPU the process RSS, which includes the variants built before it), and model FLOPs utilisation:
FLOPs of one step as ``torch.utils.flop_counter.FlopCounterMode`` counts them (matmuls, convolutions, attention;
the forward worked out from the layout, x3 for forward + backward: `memgen.precision.unet_flops`) over the step
time, against a matmul measured in this run in the variant's precision and, where known, the datasheet peak.
"""

from __future__ import annotations

import argparse
import copy
import time

import torch
from benchlib import (PRESETS, PeakMemory, datasheet_peak, environment, interleaved, measured_matmul_peak,
                      model_setup, print_table, timed, write_result)

from memgen import checkpoint
from memgen.config import Config
from memgen.model import UNet
from memgen.precision import PLAIN, FastPath, resolve_fast_path, unet_flops
from memgen.step import TrainStep



def variant_path(name: str, device: torch.device, flops: float) -> FastPath:
    fast = resolve_fast_path(device, "auto", flops=flops, compile=False)
    table = {
        "plain": PLAIN, "fast": fast, "compile": FastPath(fast.precision, fast.channels_last, True, fast.fused_adamw),
        "compile-graphs": FastPath(fast.precision, fast.channels_last, True, fast.fused_adamw, "reduce-overhead"),
        "bf16": FastPath("bf16", False, False, True), "bf16-cl": FastPath("bf16", True, False, True),
        "fused": FastPath("fp32", False, False, True), "cl": FastPath("fp32", True, False, False),
        "cl-fused": FastPath("fp32", True, False, True),
    }
    return table[name]


def build(config: dict, width: int, device: torch.device, fast: FastPath, seed: int) -> TrainStep:
    torch.manual_seed(seed)
    model = UNet(Config.from_dict(config).unet(width, num_classes=0)).to(device)
    ema = copy.deepcopy(model).requires_grad_(False)
    tc = config["train"]
    return TrainStep(model, ema, checkpoint.build_diffusion_for(config), lr=tc["lr"], weight_decay=tc["weight_decay"],
                     ema_rate=tc["ema_rate"], device=device, fast=fast)


def batches(config: dict, batch: int, device: torch.device, count: int = 2) -> list[tuple]:
    gen = torch.Generator().manual_seed(1)
    size, steps = config["image_size"], config["diffusion"]["steps"]
    out = []
    for _ in range(count):
        x0 = torch.rand(batch, 3, size, size, generator=gen) * 2 - 1
        t = torch.randint(0, steps, (batch,), generator=gen)
        noise = torch.randn(batch, 3, size, size, generator=gen)
        out.append(tuple(z.to(device) for z in (x0, t, noise)))
    return out


def runner(step: TrainStep, data: list[tuple]):
    state = {"k": 0}

    def run():
        state["k"] += 1
        return step(*data[state["k"] % len(data)])

    return run


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="demo", help="model/diffusion config")
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=None, help="default: the preset's")
    parser.add_argument("--batch", type=int, nargs="+", default=[64])
    parser.add_argument("--variants", default="plain,fast", help="comma list: plain,fast,compile,compile-graphs,bf16,bf16-cl,fused,cl,cl-fused")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--steps", type=int, default=3, help="steps per round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per variant")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default="benchmarks/out/bench_train.json")
    return parser.parse_args()


def main() -> None:
    args = parse_args()

    device, config = model_setup(args)
    names = args.variants.split(",")
    ucfg = Config.from_dict(config).unet(args.width, num_classes=0)
    flops = {batch: unet_flops(ucfg, batch, backward=True) for batch in args.batch}
    paths = {(n, b): variant_path(n, device, flops[b]) for n in names for b in args.batch}
    peaks = {p: measured_matmul_peak(device, {"fp32": torch.float32, "bf16": torch.bfloat16}[p])
             for p in sorted({fast.precision for fast in paths.values()})}
    result = {"benchmark": "train", **environment(device), "preset": args.preset, "width": args.width,
              "image_size": config["image_size"], "measured_matmul_peak_flops": peaks,
              "datasheet_peak_flops": {p: datasheet_peak(device, p) for p in peaks}, "rows": []}
    for batch in args.batch:
        data = batches(config, batch, device)
        steps, compile_s, memory = {}, {}, {}
        for name in names:
            steps[name] = build(config, args.width, device, paths[name, batch], seed=0)
            with PeakMemory(device) as mem:
                first = timed(runner(steps[name], data), device)
                for _ in range(args.warmup - 1):
                    timed(runner(steps[name], data), device)
            memory[name], compile_s[name] = mem.peak_mib, first
        fns = {name: runner(step, data) for name, step in steps.items()}
        per_step = interleaved(fns, device, args.rounds, args.steps)
        for name in names:
            fast = steps[name].fast
            rate = flops[batch] / per_step[name]
            sheet = result["datasheet_peak_flops"][fast.precision]
            row = {"batch": batch, "variant": name, "path": fast.describe(), "s_per_step": per_step[name],
                   "images_per_s": batch / per_step[name], "speedup": per_step["plain"] / per_step[name]
                   if "plain" in per_step else None, "peak_mem_mib": round(memory[name], 1),
                   "flops_per_step": flops[batch], "achieved_tflops": rate / 1e12,
                   "mfu_measured": rate / peaks[fast.precision], "mfu_datasheet": rate / sheet if sheet else None,
                   "first_step_s": compile_s[name], "compiled": steps[name].compiled}
            if fast.compile:
                row["compile_s"] = compile_s[name] - per_step[name]
            result["rows"].append(row)
        del steps, fns
    print_table(result["rows"], ["batch", "variant", "path", "s_per_step", "images_per_s", "speedup",
                                 "peak_mem_mib", "achieved_tflops", "mfu_measured", "first_step_s"])
    print("peak FLOP/s assumed for MFU: measured matmul " + ", ".join(f"{p} {v / 1e12:.1f} T" for p, v in peaks.items())
          + "; datasheet " + ", ".join(f"{p} {v / 1e12:.1f} T" if v else f"{p} n/a"
                                       for p, v in result["datasheet_peak_flops"].items()))
    write_result(args.out, result)


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"bench_train: {time.perf_counter() - t0:.1f} s")
