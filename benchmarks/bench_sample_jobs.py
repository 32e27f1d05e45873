"""Sampling jobs as the demo runs them: one `python -m memgen sample` process per job, timed from start to exit
(interpreter, imports, checkpoint, compiling, sampling): the eager reverse step against the step compiled by
Inductor, cold (an empty on-disk cache, as on a fresh machine: once per shape, in the first round) and warm (the
cache the cold job of the same shape filled), at several batch sizes, interleaved in rounds in one run.

    PYTHONPATH=workflow OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_sample_jobs.py \
        --out benchmarks/results/cpu-<date>/bench_sample_jobs.json

Each job draws ``--samples`` samples in ``--steps`` respaced steps (the demo's sample.steps, 100) from an
unconditional checkpoint of the demo's UNet at each of ``--widths`` (2 training steps on Mondrian, its EMA weights
perturbed by N(0, 0.02^2) as in bench_sample.py: a near-fresh UNet outputs zeros), with the demo's precision
("auto") on one thread (resources.sample.threads), as workflow/rules/sample.smk runs it. Rows: one per job
(variant, batch, round; its CPU seconds, those of the compiler processes it ran included, its wall seconds and
its drawing loop's wall seconds as it logs them, compile included; whether it ran compiled, the SHA-256 of its
images, and against the reference job of its round, today's: eager at batch min(256, samples), whether its images
are the same bit for bit, else the largest difference in uint8 levels and the share of pixels that differ).
``summary``: per (width, samples, variant, batch) the median CPU seconds (a one-thread job's core-seconds, what
the demo pays; on a loaded machine wall time is mostly waiting) and the reference's median over it. ``demo``: the
default run's sample sets (config.yaml) priced per job from these medians, eager against compiled with one cold
compile per shape (width, batch, conditional) and warm jobs after it.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from benchlib import ROOT, environment, write_result

from memgen import checkpoint, io
from memgen.config import load_config, read_config_source
from memgen.data import build_training_set
from memgen.studies import Grid, get
from memgen.train import train

RATE = re.compile(r"^sampled (\d+)/\d+ \| ([\d.]+) samples/s")
DEFAULT_BATCH = 256  # the schema's sample.batch_size


def make_checkpoint(width: int, directory: Path) -> Path:
    """An unconditional checkpoint of the demo's UNet at ``width`` (2 steps), its EMA weights perturbed."""
    cfg = load_config({**read_config_source(str(ROOT / "config.yaml")), "train": {"steps": 2, "batch_size": 8}})
    images, labels, _ = build_training_set("mondrian", 16, 0, cfg.image_size)
    out = directory / f"w{width}.pt"
    train(cfg, images, labels, width=width, seed=0, out=out, loss_log=directory / f"w{width}.parquet",
          device="cpu", log=lambda message: None)
    ckpt = checkpoint.load(out)
    noise = torch.Generator().manual_seed(width)
    for value in ckpt["ema"].values():
        if value.is_floating_point():
            value.add_(torch.randn(value.shape, generator=noise), alpha=0.02)
    io.torch_save(out, ckpt)
    return out


def run_job(ckpt: Path, samples: int, steps: int, batch: int, compiled: bool, cache: Path, out: Path) -> dict:
    """One sampling job in its own process; its wall seconds, drawing seconds, card and images."""
    cmd = [sys.executable, "-m", "memgen", "sample", "--checkpoint", str(ckpt), "--num-samples", str(samples),
           "--steps", str(steps), "--seed", "0", "--batch-size", str(batch), "--precision", "auto",
           "--compile", "default" if compiled else "off", "--device", "cpu", "--threads", "1",
           "--out", str(out / "samples.npz"), "--card", str(out / "card.json")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TORCHINDUCTOR_CACHE_DIR": str(cache),
           "PYTHONPATH": str(ROOT / "workflow")}
    log = out / "job.log"
    with open(log, "w") as handle:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=handle, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)  # the job's CPU seconds, its reaped compiler processes included
        wall = time.perf_counter() - start
    text = log.read_text()
    if status:
        sys.exit(f"bench_sample_jobs: job failed:\n{text[-3000:]}")
    last = [m for m in map(RATE.match, text.splitlines()) if m][-1]
    card = io.read_json(out / "card.json")
    return {"cpu_s": usage.ru_utime + usage.ru_stime, "wall_s": wall,
            "draw_wall_s": int(last.group(1)) / float(last.group(2)), "compiled": card["compiled"],
            "path": card["path"], "images_sha256": card["images_sha256"],
            "images": io.load_images_npz(out / "samples.npz")[0]}


def bits(images: np.ndarray, reference: np.ndarray) -> dict:
    """Bit-for-bit equality with the reference job's images, else how far they are."""
    diff = np.abs(images.astype(np.int16) - reference.astype(np.int16))
    return {"same_bits": bool(not diff.any()), "max_uint8_diff": int(diff.max()),
            "frac_pixels_differ": float((diff > 0).mean())}


def job_plan(samples: int, args, cold: bool) -> list[tuple[str, int]]:
    """(variant, batch) of one round for one shape: the cold compiled jobs (first round only), the eager jobs
    (today's batch, min(256, samples), and --batches), the warm compiled jobs."""
    today = min(DEFAULT_BATCH, samples)
    compiled = [] if args.eager_only else [b for b in args.compile_batches or [today] if b <= samples]
    plan = [("compiled-cold", b) for b in compiled] if cold else []
    plan += [("eager", b) for b in sorted({b for b in args.batches if b <= samples} | {today})]
    return plan + [("compiled-warm", b) for b in compiled]


def one_round(r: int, shapes: list, ckpts: dict, args, work: Path) -> list[dict]:
    """Every job of one round, per (width, samples); a warm job reads the cache its shape's cold job filled."""
    rows = []
    for width, samples in shapes:
        jobs = {}
        for variant, batch in job_plan(samples, args, cold=r == 0):
            cache = work / f"cache-w{width}-n{samples}-b{batch}"  # cold: new; warm: the cold job's
            out = Path(tempfile.mkdtemp(dir=work))
            jobs[variant, batch] = run_job(ckpts[width], samples, args.steps, batch, variant != "eager", cache, out)
            print(f"round {r} w{width} n{samples} {variant} b{batch}: cpu {jobs[variant, batch]['cpu_s']:.1f} s, "
                  f"wall {jobs[variant, batch]['wall_s']:.1f} s", flush=True)
        reference = jobs["eager", min(DEFAULT_BATCH, samples)]["images"]
        for (variant, batch), job in jobs.items():
            rows.append({"round": r, "width": width, "samples": samples, "variant": variant, "batch": batch,
                         **{k: v for k, v in job.items() if k != "images"}, **bits(job["images"], reference)})
    return rows


def summarize(rows: list[dict]) -> list[dict]:
    """Per (width, samples, variant, batch): the median CPU seconds of its jobs (a one-thread job's core-seconds,
    the demo's cost; under load they hold where wall time does not), their median wall seconds, and today's job's
    median CPU seconds over its own (> 1: cheaper)."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["width"], row["samples"], row["variant"], row["batch"]), []).append(row)
    out = []
    for (width, samples, variant, batch), group in sorted(groups.items()):
        reference = groups[width, samples, "eager", min(DEFAULT_BATCH, samples)]
        cpu = statistics.median(r["cpu_s"] for r in group)
        out.append({"width": width, "samples": samples, "variant": variant, "batch": batch, "jobs": len(group),
                    "cpu_s": cpu, "wall_s": statistics.median(r["wall_s"] for r in group),
                    "draw_wall_s": statistics.median(r["draw_wall_s"] for r in group),
                    "speedup_vs_today": statistics.median(r["cpu_s"] for r in reference) / cpu,
                    "same_bits_as_today": all(r["same_bits"] for r in group),
                    "max_uint8_diff": max(r["max_uint8_diff"] for r in group)})
    return out


def demo_estimate(summary: list[dict]) -> dict:
    """The default run's sample sets priced per job: today's eager jobs against compiled ones (a cold compile for
    the first job of each shape, warm after). A shape not measured takes the measured (width, samples) of its
    width and sample count, whatever its conditioning (the class embedding is a few rows)."""
    grid = Grid(load_config(str(ROOT / "config.yaml")))
    sets = {grid.sample_set(c) for s in grid.cfg.studies if get(s).trains and not get(s).reads
            for c in grid.cells(s)}
    cost = {(r["width"], r["samples"], r["variant"], r["batch"]): r["cpu_s"] for r in summary}
    totals = {"eager": 0.0, "compiled": 0.0}
    shapes: dict[tuple, int] = {}
    missing = []
    for sset in sets:
        n, batch = sset.n_sampled, min(DEFAULT_BATCH, sset.n_sampled)
        if (sset.width, n, "compiled-cold", batch) not in cost or (sset.width, n, "eager", batch) not in cost:
            missing.append(f"w{sset.width} x{n}")
            continue
        first = (sset.width, batch, sset.cond) not in shapes
        shapes[sset.width, batch, sset.cond] = shapes.get((sset.width, batch, sset.cond), 0) + 1
        totals["eager"] += cost[sset.width, n, "eager", batch]
        totals["compiled"] += cost[sset.width, n, "compiled-cold" if first else "compiled-warm", batch]
    return {"sample_sets": len(sets), "priced": len(sets) - len(missing), "not_measured": sorted(set(missing)),
            "shapes": {f"w{w}-b{b}-{c}": k for (w, b, c), k in sorted(shapes.items())},
            "eager_cpu_s": totals["eager"], "compiled_cpu_s": totals["compiled"],
            "compiled_over_eager": totals["compiled"] / totals["eager"] if totals["eager"] else None}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", nargs="+", default=["16x128", "32x128", "16x256"],
                   help="WIDTHxSAMPLES per job (the demo's: 128 samples, 256 for two classes or the unconditional "
                   "dummies)")
    p.add_argument("--steps", type=int, default=100, help="respaced sampling steps")
    p.add_argument("--batches", type=int, nargs="*", default=[32, 64, 128],
                   help="eager jobs' batch sizes (besides today's, min(256, samples))")
    p.add_argument("--compile-batches", type=int, nargs="*", default=[],
                   help="compiled jobs' batch sizes (default: today's)")
    p.add_argument("--eager-only", action="store_true", help="no compiled jobs (a quick check of the script)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--out", default="benchmarks/out/bench_sample_jobs.json")
    args = p.parse_args()
    torch.set_num_threads(1)
    result = {"benchmark": "sample_jobs", **environment(torch.device("cpu")), "steps": args.steps, "rows": []}
    with tempfile.TemporaryDirectory(prefix="bench_sample_jobs-") as tmp:
        work = Path(tmp)
        shapes = [tuple(int(v) for v in job.split("x")) for job in args.jobs]
        ckpts = {w: make_checkpoint(w, work) for w in sorted({w for w, _ in shapes})}
        for r in range(args.rounds):
            result["rows"] += one_round(r, shapes, ckpts, args, work)
    result["load_avg_1min_end"] = round(os.getloadavg()[0], 2)
    result["summary"] = summarize(result["rows"])
    result["demo"] = demo_estimate(result["summary"])
    for row in result["summary"]:
        print(f"w{row['width']} x{row['samples']} {row['variant']:>13} b{row['batch']:<4} cpu {row['cpu_s']:7.1f} s"
              f"  wall {row['wall_s']:7.1f} s  {row['speedup_vs_today']:.2f}x  same bits: {row['same_bits_as_today']}")
    print(f"demo: {result['demo']}")
    write_result(args.out, result)


if __name__ == "__main__":
    main()
