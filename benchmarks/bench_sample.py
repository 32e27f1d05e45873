"""Sampling speed: the plain path (fp32, PerSampleNoise) vs the fast path (FastForward + CounterNoise), one process.

Usage (from the repository root):
    PYTHONPATH=workflow OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_sample.py --preset demo --width 32 \
        --batch 256 --steps 10 --out benchmarks/out/bench_sample.json

Part 1, the noise: seconds per reverse step of drawing the step's noise with `PerSampleNoise` (one CPU generator
per sample, then a copy to the device) and with `CounterNoise` (Philox on the device), next to one network
evaluation (``p_mean_variance``) of the plain and the fast path; the noise's share of a step is their ratio.
Part 2, the loop: samples/s over ``--steps`` respaced steps of each ``--variants``, interleaved: ``plain`` (fp32
eager ``p_sample_loop``, PerSampleNoise, ``--batch``), ``fast`` (the eager fast path: ``resolve_fast_path(device,
"auto")`` without compiling, through `FastForward`, CounterNoise, ``--fast-batch``), ``graphs`` (the same network
in `memgen.sample_compiled.CompiledSampler`: the reverse step compiled and, on CUDA, replayed from a CUDA graph;
``--fast-batch``; its first batch, which compiles and captures, is reported as ``compile_s``) and ``graphs-fp32``
(the same in fp32). ``--compile-backend eager`` traces without Inductor (the CPU smoke run). Each loop row names its
variant, path (`FastPath.describe`), batch and steps (benchmarks/rates.py reads them). The largest difference of a
graphs variant's samples from the eager loop of the same network is reported. On CUDA it also checks that
CounterNoise's Philox words there equal the CPU's and reports the largest difference of the normals. Weights are
the fresh UNet's plus N(0, 0.02^2) noise (a fresh UNet outputs exact zeros).
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch
from benchlib import PRESETS, environment, interleaved, model_setup, print_table, timed, write_result

from memgen import checkpoint
from memgen.config import Config
from memgen.diffusion import PerSampleNoise, p_sample_loop
from memgen.diffusion.noise import CounterNoise, counter_normal, philox4x32, run_key
from memgen.model import UNet
from memgen.diffusion.sampler import sample_seeded
from memgen.precision import PLAIN, FastForward, FastPath, resolve_fast_path, unet_flops
from memgen.sample_compiled import CAPTURE_MODE, CompiledSampler



def build_model(config: dict, width: int, device: torch.device, fast) -> torch.nn.Module:
    torch.manual_seed(0)
    net = UNet(Config.from_dict(config).unet(width, num_classes=0))
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p), alpha=0.02)
    net = net.to(device).eval()
    if fast == PLAIN:
        return net
    if fast.channels_last:
        net = net.to(memory_format=torch.channels_last)
    return FastForward(net, fast, device.type).eval()


def noise_costs(noise_classes: dict, batch: int, shape: tuple, device: torch.device, repeats: int) -> dict:
    """Seconds per step-noise draw of each noise class at ``batch`` (after x_T and a warm-up draw)."""
    out = {}
    for name, cls in noise_classes.items():
        noise = cls(0, range(batch), shape, device=device)
        noise.initial()
        noise(0)
        step = {"i": 1}

        def draw():
            noise(step["i"])
            step["i"] += 1

        out[name] = timed(draw, device, repeats)
    return out


def network_cost(model, diffusion, batch: int, shape: tuple, device: torch.device, repeats: int) -> float:
    x = torch.randn(batch, *shape, device=device)
    t = torch.full((batch,), diffusion.num_timesteps // 2, dtype=torch.long, device=device)
    with torch.no_grad():
        diffusion.p_mean_variance(model, x, t)
        return timed(lambda: diffusion.p_mean_variance(model, x, t), device, repeats)


def step_parts(models: dict, diffusion, batch: int, shape: tuple, device: torch.device, repeats: int) -> list:
    """Rows of part 1: each noise's draw time and its share of a step of its path; each path's network time."""
    noise = noise_costs({"PerSampleNoise": PerSampleNoise, "CounterNoise": CounterNoise}, batch, shape, device, repeats)
    net = {name: network_cost(m, diffusion, batch, shape, device, repeats) for name, m in models.items()}
    rows = [{"part": "noise", "what": f"{name} draw, batch {batch}", "s": noise[name],
             "share_of_step": noise[name] / (noise[name] + net[path])}
            for name, path in (("PerSampleNoise", "plain"), ("CounterNoise", "fast"))]
    return rows + [{"part": "network", "what": f"{name} p_mean_variance, batch {batch}", "s": net[name]}
                   for name in net]


def sampler(model, diffusion, noise_cls, batch: int, shape: tuple, device: torch.device):
    def run():
        noise = noise_cls(0, range(batch), shape, device=device)
        return p_sample_loop(diffusion, model, noise.initial(), noise)

    return run


def cross_device_check(device: torch.device, shape: tuple) -> dict:
    """CounterNoise on CUDA vs CPU: Philox words equal? largest |difference| of the normals?"""
    idx = torch.arange(64)
    ones = [torch.randint(0, 2**32, (4096,), generator=torch.Generator().manual_seed(w)) for w in range(4)]
    words_cpu = philox4x32(ones, (123, 456))
    words_dev = philox4x32([w.to(device) for w in ones], (123, 456))
    numel = shape[0] * shape[1] * shape[2]
    z_cpu = counter_normal(run_key(0), idx, 1, numel)
    z_dev = counter_normal(run_key(0), idx.to(device), 1, numel).cpu()
    return {"philox_words_equal_cpu": all(torch.equal(a, b.cpu()) for a, b in zip(words_cpu, words_dev)),
            "normals_max_abs_diff_cpu": float((z_cpu - z_dev).abs().max())}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="demo")
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=None, help="default: the preset's")
    parser.add_argument("--batch", type=int, default=256, help="plain path's batch")
    parser.add_argument("--fast-batch", type=int, default=None, help="the other variants' batch (default: --batch)")
    parser.add_argument("--variants", default="plain,fast,graphs", help="comma list: plain,fast,graphs,graphs-fp32")
    parser.add_argument("--compile-backend", default="inductor", help="torch.compile backend of the graphs variants")
    parser.add_argument("--steps", type=int, default=10, help="respaced sampling steps per loop")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5, help="calls per timing of part 1")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default="benchmarks/out/bench_sample.json")
    return parser.parse_args()


def graphs_sampler(model, diffusion, batch: int, shape: tuple, device: torch.device, backend: str):
    """The compiled (on CUDA: captured) sampling loop of one batch, and the eager loop it replaces."""
    sampler = CompiledSampler(diffusion, model, seed=0, shape_chw=shape, batch_size=batch, device=device,
                              mode=CAPTURE_MODE, backend=backend)
    indices = np.arange(batch)
    return sampler, (lambda: sampler(indices)), (lambda: sample_seeded(diffusion, model, 0, indices, shape, device))


def main() -> None:
    args = parse_args()

    device, config = model_setup(args)
    size, fast_batch = config["image_size"], args.fast_batch or args.batch
    shape = (3, size, size)
    variants = args.variants.split(",")
    ucfg = Config.from_dict(config).unet(args.width, num_classes=0)
    flops = unet_flops(ucfg, fast_batch, backward=False)
    fast = dataclasses.replace(resolve_fast_path(device, "auto", flops=flops, compile=False), fused_adamw=False)
    paths = {"plain": PLAIN, "fast": fast, "graphs": dataclasses.replace(fast, compile=True, compile_mode=CAPTURE_MODE),
             "graphs-fp32": FastPath("fp32", compile=True, compile_mode=CAPTURE_MODE)}
    diffusion = checkpoint.build_diffusion_for(config).respaced(str(args.steps))
    models = {name: build_model(config, args.width, device, path) for name, path in (("plain", PLAIN), ("fast", fast))}
    result = {"benchmark": "sample", **environment(device), "preset": args.preset, "width": args.width,
              "image_size": size, "steps": args.steps, "fast_path": fast.describe(), "rows": []}
    result["rows"] += step_parts(models, diffusion, fast_batch, shape, device, args.repeats)
    batches = {name: args.batch if name == "plain" else fast_batch for name in variants}
    loops, samplers, compile_s, diffs = {}, {}, {}, {}
    for name in variants:
        if name in ("plain", "fast"):
            loops[name] = sampler(models[name], diffusion, PerSampleNoise if name == "plain" else CounterNoise,
                                  batches[name], shape, device)
            continue
        model = models["fast"] if name == "graphs" else models["plain"]
        samplers[name], loops[name], eager = graphs_sampler(model, diffusion, fast_batch, shape, device,
                                                            args.compile_backend)
        first = time_once(loops[name], device)
        diffs[name] = float((loops[name]() - eager()).abs().max())
        compile_s[name] = first - time_once(loops[name], device)
    for name in ("plain", "fast"):
        if name in loops:
            loops[name]()  # warm-up
    per_loop = interleaved(loops, device, args.rounds, 1)
    reference = args.batch / per_loop["plain"] if "plain" in per_loop else None
    for name in variants:
        rate = batches[name] / per_loop[name]
        path = paths[name].describe()
        row = {"part": "loop", "variant": name, "path": path, "batch": batches[name], "steps": args.steps,
               "what": f"{name} ({path}), batch {batches[name]}", "s": per_loop[name], "samples_per_s": rate,
               "speedup": rate / reference if reference else None}
        if name in samplers:
            row.update(compile_s=compile_s[name], compiled=samplers[name].compiled, max_abs_diff_vs_eager=diffs[name])
        result["rows"].append(row)
    if device.type == "cuda":
        result.update(cross_device_check(device, shape))
    print_table(result["rows"], ["part", "what", "s", "share_of_step", "samples_per_s", "speedup", "compile_s"])
    write_result(args.out, result)


def time_once(fn, device: torch.device) -> float:
    return timed(fn, device, 1)


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"bench_sample: {time.perf_counter() - t0:.1f} s")
