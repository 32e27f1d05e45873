"""Benchmark the data-copying test's fixed random projection: the exact uint8 path of
`memgen.evaluation.datacopy.copying_features` (float64 GEMM of integers, every partial sum exact) against the
former float32 GEMM it replaced, on random uint8 images, interleaved in one process.

Usage (from the repository root):
    PYTHONPATH=workflow OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_projection.py --n 10000 \
        --out benchmarks/results/cpu-<date>/bench_projection.json

Reports seconds per call of each (median of --rounds interleaved rounds), the ratio exact / float32, the largest
difference between the two relative to the largest feature, and for each variant whether the features of the
first --head images computed alone equal those rows of the whole set bit for bit (the former may differ on a CPU
whose GEMM kernel depends on the row count; the exact one cannot).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from benchlib import environment, interleaved, print_table, write_result

from memgen.evaluation import datacopy


def float32_projection(images: np.ndarray) -> np.ndarray:
    """The former `copying_features` for uint8 images: float32 blocks of N(0, 1/256), 1024 rows per GEMM."""
    flat = images.reshape(len(images), -1)
    out = np.zeros((len(flat), datacopy.PROJECTION_DIM), dtype=np.float32)
    for b, start in enumerate(range(0, flat.shape[1], datacopy.PROJECTION_BLOCK)):
        stop = min(flat.shape[1], start + datacopy.PROJECTION_BLOCK)
        r = np.random.default_rng([datacopy.PROJECTION_SEED, b]).standard_normal((stop - start, datacopy.PROJECTION_DIM))
        r = (r / np.sqrt(datacopy.PROJECTION_DIM)).astype(np.float32)
        for row in range(0, len(flat), 1024):
            out[row : row + 1024] += (flat[row : row + 1024, start:stop].astype(np.float32) / 255.0) @ r
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000, help="images")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--head", type=int, default=3, help="images projected alone for the batch check")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/out/bench_projection.json")
    args = parser.parse_args()

    images = np.random.default_rng(0).integers(0, 256, (args.n, args.image_size, args.image_size, 3), dtype=np.uint8)
    variants = {"float32": lambda: float32_projection(images), "exact": lambda: datacopy.copying_features(images)[0]}
    seconds = interleaved(variants, torch.device("cpu"), rounds=args.rounds, repeats=1)
    full = {"float32": float32_projection(images), "exact": datacopy.copying_features(images)[0]}
    head = {"float32": float32_projection(images[: args.head]), "exact": datacopy.copying_features(images[: args.head])[0]}
    rows = [{"variant": k, "seconds": seconds[k], "images_per_s": args.n / seconds[k],
             "head_alone_equal": bool(np.array_equal(full[k][: args.head], head[k]))} for k in variants]
    print_table(rows, ["variant", "seconds", "images_per_s", "head_alone_equal"])
    diff = float(np.abs(full["exact"] - full["float32"]).max() / np.abs(full["float32"]).max())
    print(f"exact / float32 time: {seconds['exact'] / seconds['float32']:.2f}; largest difference {diff:.2e} "
          "of the largest feature")
    write_result(args.out, {"env": environment(torch.device("cpu")), "args": vars(args), "rows": rows,
                            "ratio_exact_over_float32": seconds["exact"] / seconds["float32"],
                            "max_relative_difference": diff})


if __name__ == "__main__":
    main()
