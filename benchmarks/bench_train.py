"""Training-step throughput: the plain fp32 eager step vs memgen's fast paths, side by side in one process.

Usage (from the repository root; CPU demo size, then the paper's UNet-128):
    PYTHONPATH=workflow OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_train.py --preset demo --width 32 \
        --batch 64 --out benchmarks/out/bench_train_demo.json
    ... --preset paper --width 128 --batch 8 --rounds 3 --steps 1 --out benchmarks/out/bench_train_paper.json
    ... --preset demo --width 16 --batch 32 64 128 --variants fast,fast-compile --baseline fast:32 \
        --first-step --train-images 25600   (what a demo training pays, compile included)

Each (variant, batch) is a `memgen.step.TrainStep` on its own copy of the same initial weights, fed the same
batches (pre-drawn: the timing is the step, not the data pipeline); all of them, every batch size, are timed in
interleaved rounds. Variants are named by what they switch on (benchmarks/variants.py): ``plain`` (fp32 eager,
default AdamW: memgen.train with precision fp32), ``fast`` (memgen.train's default path on this device), and
parts such as ``bf16-cl-fused``, ``fast-compile``, ``compile-graphs``, ``fast-compile-regional``, ``fast-t2``.
Reported per row: seconds per step (median of the rounds) in wall time and in CPU time of this process, images/s
and images per CPU-second (per core: CPU time counts every thread and not the time spent waiting for a core on a
shared machine), the ratio of images per core to the ``--baseline`` row, peak memory (CUDA allocator peak; on CPU
the process RSS, which includes the variants built before it), model FLOPs utilisation (the forward worked out
from the layout, x3 for forward + backward: `memgen.precision.unet_flops`, over the step time, against a matmul
measured in this run in the variant's precision and, where known, the datasheet peak), and the first step in this
process (``compile_s`` for a compiled variant: first step minus a steady one).
With ``--first-step`` every row also gets its first step as a fresh job pays it (`firststep.py`: a new process
with an empty compile cache, then another with the cache the first left) and, with ``--train-images``, what a
training of that many images costs per core from start to end, cold and warm, and after how many steps the row
has paid back its slower start against the baseline.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import tempfile
import time
from pathlib import Path

import torch
from benchlib import (PRESETS, PeakMemory, datasheet_peak, environment, interleaved_clocks, measured_matmul_peak,
                      model_setup, print_table, timed, write_result)
from variants import EXAMPLES, Runtime, describe, regional, variant_config, variant_parts, variant_path

from memgen import checkpoint
from memgen.config import Config
from memgen.model import UNet
from memgen.model.unet import ResBlock
from memgen.precision import FastPath, unet_flops
from memgen.step import TrainStep


def build(config: dict, width: int, device: torch.device, fast: FastPath, seed: int,
          compile_backend: str = "inductor", regions: bool = False) -> TrainStep:
    """The TrainStep of one variant. ``regions``: compile each ResBlock in place instead of the whole network
    (``fast.compile`` then only names the mode)."""
    torch.manual_seed(seed)
    model = UNet(Config.from_dict(config).unet(width, num_classes=0)).to(device)
    ema = copy.deepcopy(model).requires_grad_(False)
    tc = config["train"]
    whole = dataclasses.replace(fast, compile=fast.compile and not regions)
    step = TrainStep(model, ema, checkpoint.build_diffusion_for(config), lr=tc["lr"], weight_decay=tc["weight_decay"],
                     ema_rate=tc["ema_rate"], device=device, fast=whole, compile_backend=compile_backend)
    if regions:
        for module in model.modules():
            if isinstance(module, ResBlock):
                module.compile(dynamic=False, mode=fast.compile_mode, backend=compile_backend)
    step.fast = fast
    return step


def step_flops(config: dict, width: int, batch: int, name: str = "plain") -> float:
    """FLOPs of one training step (forward + backward) of variant ``name``'s UNet on ``batch`` images."""
    ucfg = Config.from_dict(variant_config(name, config)).unet(width, num_classes=0)
    return unet_flops(ucfg, batch, backward=True)


def build_variant(config: dict, width: int, device: torch.device, name: str, batch: int, seed: int = 0,
                  compile_backend: str = "inductor") -> TrainStep:
    """The TrainStep of variant ``name`` (benchmarks/variants.py) for steps of ``batch`` images."""
    fast = variant_path(name, device, step_flops(config, width, batch, name))
    return build(variant_config(name, config), width, device, fast, seed, compile_backend, regional(name))


def is_compiled(step: TrainStep) -> bool:
    """The step runs compiled code: the whole network, or its ResBlocks (regional)."""
    return step.compiled or any(getattr(m, "_compiled_call_impl", None) is not None for m in step.model.modules())


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


def runner(step: TrainStep, data: list[tuple], name: str = "plain"):
    """A call of the step on the next pre-drawn batch, under the variant's process settings (`variants.Runtime`)."""
    state = {"k": 0}

    def run():
        state["k"] += 1
        with Runtime(name):
            return step(*data[state["k"] % len(data)])

    return run


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="demo", help="model/diffusion config")
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=None, help="default: the preset's")
    parser.add_argument("--batch", type=int, nargs="+", default=[64])
    parser.add_argument("--variants", default="plain,fast", help="comma list of variant names (benchmarks/"
                        "variants.py), e.g. " + ",".join(EXAMPLES) + "; NAME:B1:B2 runs NAME at batches B1 and B2 "
                        "only (default: every --batch)")
    parser.add_argument("--compile-backend", default="inductor", help="torch.compile backend of compiled variants "
                        "(eager: Dynamo without Inductor, a quick check of the code path)")
    parser.add_argument("--baseline", default=None, help="VARIANT:BATCH that ratio_to_baseline divides by "
                        "(default: the first variant at the first batch)")
    parser.add_argument("--first-step", action="store_true", help="time each row's first step in a fresh process, "
                        "with an empty compile cache and again with the one it left (firststep.py)")
    parser.add_argument("--train-images", type=int, default=None, help="with --first-step: cost of a training of "
                        "this many images, first step included (the demo: 25600 = 800 steps of 32)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--steps", type=int, default=3, help="steps per round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per variant")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default="benchmarks/out/bench_train.json")
    args = parser.parse_args()
    try:
        args.keys = run_keys(args.variants, args.batch)
    except ValueError as err:
        parser.error(str(err))
    return args


def run_keys(variants: str, batch_sizes: list[int]) -> list[tuple[str, int]]:
    """(variant, batch) pairs of ``--variants`` ("fast,fast-compile:32:128"), batch by batch in --batch order."""
    wanted = {}
    for item in variants.split(","):
        name, *sizes = item.split(":")
        variant_parts(name)
        wanted[name] = [int(b) for b in sizes] or batch_sizes
        if not set(wanted[name]) <= set(batch_sizes):
            raise ValueError(f"--variants {item}: batch sizes must be among --batch {batch_sizes}")
    return [(name, b) for b in batch_sizes for name, sizes in wanted.items() if b in sizes]


def measure(args, config: dict, device: torch.device, keys: list, paths: dict) -> tuple[dict, dict, dict, dict]:
    """Build every (variant, batch), run its first steps, then time all of them in interleaved rounds. Returns
    {key: TrainStep}, {key: first step s}, {key: peak MiB}, {key: {"wall": s, "cpu": s}} per step."""
    data = {batch: batches(config, batch, device) for batch in {b for _, b in keys}}
    steps, first, memory = {}, {}, {}
    for key in keys:
        name, batch = key
        steps[key] = build_variant(config, args.width, device, name, batch, compile_backend=args.compile_backend)
        with PeakMemory(device) as mem:
            first[key] = timed(runner(steps[key], data[batch], name), device)
            for _ in range(args.warmup - 1):
                timed(runner(steps[key], data[batch], name), device)
        memory[key] = mem.peak_mib
    fns = {key: runner(steps[key], data[key[1]], key[0]) for key in keys}
    return steps, first, memory, interleaved_clocks(fns, device, args.rounds, args.steps)


def row_of(key, step: TrainStep, clocks: dict, first: float, memory: float, flops: float, result: dict,
           backend: str) -> dict:
    name, batch = key
    fast, wall, cpu = step.fast, clocks["wall"], clocks["cpu"]
    rate, cores = flops / wall, Runtime(name).cores
    sheet = result["datasheet_peak_flops"][fast.precision]
    row = {"batch": batch, "variant": name, "path": describe(name, fast), "s_per_step": wall, "cpu_s_per_step": cpu,
           "images_per_s": batch / wall, "images_per_cpu_s": batch / cpu, "cores": cores,
           "peak_mem_mib": round(memory, 1), "flops_per_step": flops, "achieved_tflops": rate / 1e12,
           "mfu_measured": rate / cores / result["measured_matmul_peak_flops"][fast.precision],
           "mfu_datasheet": rate / sheet if sheet else None, "first_step_s": first, "compiled": is_compiled(step)}
    if fast.compile:
        row.update(compile_s=first - wall, compile_backend=backend)
    return row


def main() -> None:
    args = parse_args()
    device, config = model_setup(args)
    keys = args.keys
    flops = {(n, b): step_flops(config, args.width, b, n) for n, b in keys}
    paths = {key: variant_path(key[0], device, flops[key]) for key in keys}
    peaks = {p: measured_matmul_peak(device, {"fp32": torch.float32, "bf16": torch.bfloat16}[p])
             for p in sorted({fast.precision for fast in paths.values()})}
    result = {"benchmark": "train", **environment(device), "preset": args.preset, "width": args.width,
              "image_size": config["image_size"], "measured_matmul_peak_flops": peaks,
              "datasheet_peak_flops": {p: datasheet_peak(device, p) for p in peaks}, "rows": []}
    cold, tmp = None, tempfile.TemporaryDirectory(prefix="memgen-bench-cache-")
    if args.first_step:
        from firststep import first_steps

        cold = first_steps(args, keys, Path(tmp.name))  # fresh processes, each from an empty cache
        os.environ["MEMGEN_COMPILE_CACHE"] = tmp.name  # this process loads what they compiled
    steps, first, memory, clocks = measure(args, config, device, keys, paths)
    tmp.cleanup()
    for key in keys:
        row = row_of(key, steps[key], clocks[key], first[key], memory[key], flops[key], result,
                     args.compile_backend)
        plain = clocks.get(("plain", key[1]))
        row["speedup"] = plain["wall"] / clocks[key]["wall"] if plain else None
        result["rows"].append({**row, **(cold or {}).get(key, {})})
    from firststep import add_ratios, markdown

    add_ratios(result, args.baseline or "{}:{}".format(*keys[0]), args.train_images)
    print_table(result["rows"], ["batch", "variant", "path", "s_per_step", "cpu_s_per_step", "images_per_cpu_s",
                                 "ratio_to_baseline", "first_step_cold_s", "first_step_warm_s",
                                 "break_even_steps_warm", "mfu_measured"])
    print("peak FLOP/s assumed for MFU: measured matmul " + ", ".join(f"{p} {v / 1e12:.1f} T" for p, v in peaks.items())
          + "; datasheet " + ", ".join(f"{p} {v / 1e12:.1f} T" if v else f"{p} n/a"
                                       for p, v in result["datasheet_peak_flops"].items()))
    write_result(args.out, result)
    Path(args.out).with_suffix(".md").write_text(markdown(result))  # the same table, to read


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"bench_train: {time.perf_counter() - t0:.1f} s")
