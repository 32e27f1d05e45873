"""The budget table: seconds per 1k training steps and per 1k samples (per sampling step) at the paper's widths.

Usage (from the repository root; on a shared CPU with OMP_NUM_THREADS=1):
    PYTHONPATH=workflow .venv/bin/python benchmarks/bench_budget.py --out benchmarks/out/bench_budget.json
    ... --widths 64 256 --train-batch 128 --train-steps 3 --sample-batch 256 --sample-steps 10 --rounds 3 \
        --repeats 3 --device cuda      (what benchmarks/gpu.sh runs on a GPU)

For each width it runs ``bench_train.py`` (``--train-variants``, default plain fp32 eager vs memgen's eager fast
path, interleaved) and ``bench_sample.py`` (``--sample-variants``, default the plain vs the fast sampling loop; on a
GPU gpu.sh adds the compiled variants) in child processes, by default of the paper preset
(32x32, Table 1's UNet), and converts their medians to seconds per 1,000 training steps at the measured batch and
seconds per 1,000 samples per respaced sampling step (a sampling run of S steps costs S times that). Nothing is
extrapolated across batch sizes: the batch is a column. The children's whole results are kept under ``runs``.
`memgen.cost` holds the rates the planner uses (`python -m memgen plan`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import PRESETS, ROOT, environment, print_table, write_result

import torch


def child(script: str, args: list[str], out: Path) -> dict:
    cmd = [sys.executable, str(ROOT / "benchmarks" / script), *args, "--out", str(out)]
    path = os.pathsep.join(p for p in (str(ROOT / "workflow"), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path}  # keep the caller's path (gpu.sh adds carried wheels to it)
    done = subprocess.run(cmd, cwd=ROOT, env=env, text=True, capture_output=True)
    if done.returncode != 0:
        sys.exit(f"bench_budget: {' '.join(cmd)} failed:\n{done.stdout}{done.stderr}")
    return json.loads(out.read_text())


def measure_width(width: int, args: argparse.Namespace, tmp: Path) -> tuple[dict, dict]:
    """The results of bench_train.py and bench_sample.py at one width."""
    common = ["--preset", args.preset, "--width", str(width), "--device", args.device, "--rounds", str(args.rounds)]
    common += ["--image-size", str(args.image_size)] if args.image_size else []
    common += ["--threads", str(args.threads)] if args.threads else []
    train = child("bench_train.py", [*common, "--batch", str(args.train_batch), "--variants", args.train_variants,
                                     "--steps", str(args.train_steps), "--warmup", str(args.train_warmup),
                                     "--compile-backend", args.compile_backend],
                  tmp / f"train_w{width}.json")
    sample = child("bench_sample.py", [*common, "--batch", str(args.sample_batch), "--steps", str(args.sample_steps),
                                       "--repeats", str(args.repeats), "--variants", args.sample_variants,
                                       "--compile-backend", args.compile_backend], tmp / f"sample_w{width}.json")
    return train, sample


def budget_rows(width: int, train: dict, sample: dict) -> list[dict]:
    """Seconds per 1k training steps and per 1k samples per sampling step, plain and fast."""
    rows = []
    for r in train["rows"]:
        rows.append({"width": width, "what": "train", "variant": r["variant"], "path": r["path"],
                     "batch": r["batch"], "s_per_1k": 1000 * r["s_per_step"]})
    for r in sample["rows"]:
        if r["part"] != "loop":
            continue
        rows.append({"width": width, "what": "sample", "variant": r["variant"], "path": r["path"],
                     "batch": r["batch"], "s_per_1k": 1000 / (r["samples_per_s"] * sample["steps"])})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="paper", help="model/diffusion config")
    parser.add_argument("--image-size", type=int, default=None, help="default: the preset's")
    parser.add_argument("--widths", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--train-steps", type=int, default=1, help="timed training steps per round")
    parser.add_argument("--train-warmup", type=int, default=1, help="untimed training steps per variant")
    parser.add_argument("--train-variants", default="plain,fast", help="bench_train.py --variants")
    parser.add_argument("--sample-variants", default="plain,fast", help="bench_sample.py --variants")
    parser.add_argument("--compile-backend", default="inductor",
                        help="torch.compile backend of the compiled variants of both scripts (eager: the CPU smoke)")
    parser.add_argument("--sample-batch", type=int, default=8)
    parser.add_argument("--sample-steps", type=int, default=2, help="respaced steps per timed sampling loop")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds per benchmark")
    parser.add_argument("--repeats", type=int, default=1, help="calls per timing of bench_sample's step parts")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default="benchmarks/out/bench_budget.json")
    args = parser.parse_args()
    t0 = time.perf_counter()
    rows, runs = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for width in args.widths:
            runs[f"train_w{width}"], runs[f"sample_w{width}"] = measure_width(width, args, Path(tmp))
            rows += budget_rows(width, runs[f"train_w{width}"], runs[f"sample_w{width}"])
    from memgen.runtime import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    result = {"benchmark": "budget", **environment(resolve_device(args.device)), "preset": args.preset,
              "rows": rows, "runs": runs,
              "units": "train: s per 1,000 steps at `batch`; sample: s per 1,000 samples per sampling step"}
    print_table(rows, ["width", "what", "variant", "path", "batch", "s_per_1k"])
    write_result(args.out, result)
    print(f"bench_budget: {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
