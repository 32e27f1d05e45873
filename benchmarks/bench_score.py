"""Benchmark memgen.score.nearest_two against a naive float64 reference on random uint8 images.

Usage (from the repository root):
    .venv/bin/python benchmarks/bench_score.py --samples 2000 --train 10000 --image-size 32 \
        --out benchmarks/out/bench_score.json

Reports wall time, throughput (sample-train pairs per second), peak RSS (resource.getrusage; Linux reports KiB)
and, when CUDA is used, peak GPU memory. The reference (full [M, N] float64 distance matrix with numpy, exact
because every term is an integer below 2^53) runs only when M * N <= --reference-max-pairs, and the two results
are compared bit for bit.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time

import numpy as np
import torch

from memgen.score import nearest_two, resolve_device


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def make_data(m: int, n: int, size: int, planted: float, seed: int):
    """Uniform random uint8 images; a fraction ``planted`` of the samples are +-2-level copies of train images."""
    rng = np.random.default_rng(seed)
    train = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    samples = rng.integers(0, 256, (m, size, size, 3), dtype=np.uint8)
    k = int(round(planted * m))
    src = rng.choice(n, k, replace=False) if k <= n else rng.integers(0, n, k)
    noise = rng.integers(-2, 3, (k, size, size, 3))
    samples[:k] = np.clip(train[src].astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return samples, train


def reference(samples: np.ndarray, train: np.ndarray):
    """Naive exact search: the full float64 distance matrix, stable argsort (ties -> lower index)."""
    a = samples.reshape(len(samples), -1).astype(np.float64)
    b = train.reshape(len(train), -1).astype(np.float64)
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    order = np.argsort(d, axis=1, kind="stable")[:, :2]
    return order, np.take_along_axis(d, order, 1) / 255.0**2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000, help="M, generated samples")
    parser.add_argument("--train", type=int, default=10000, help="N, training images")
    parser.add_argument("--image-size", type=int, default=32, help="H = W")
    parser.add_argument("--planted", type=float, default=0.1, help="fraction of samples that are noisy copies")
    parser.add_argument("--device", default=None, help="cpu, cuda or omitted (auto)")
    parser.add_argument("--sample-chunk", type=int, default=1024)
    parser.add_argument("--train-chunk", type=int, default=8192)
    parser.add_argument("--reference-max-pairs", type=float, default=5e7, help="skip the reference above M*N")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/out/bench_score.json", help="JSON result path")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    samples, train = make_data(args.samples, args.train, args.image_size, args.planted, args.seed)
    pairs = args.samples * args.train
    result = {
        "samples": args.samples, "train": args.train, "image_size": args.image_size, "planted": args.planted,
        "device": str(device), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(), "load_avg_1min": os.getloadavg()[0], "machine": platform.processor() or platform.machine(),
        "sample_chunk": args.sample_chunk, "train_chunk": args.train_chunk,
        "rss_before_mib": round(current_rss_mib(), 1), "peak_rss_before_mib": round(peak_rss_mib(), 1),
    }
    if device.type == "cuda":  # warm up kernels and the allocator outside the timed call
        nearest_two(samples[:8], train[:64], device=device)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    stats = {}
    start = time.perf_counter()
    idx, sq = nearest_two(samples, train, device=device, sample_chunk=args.sample_chunk,
                          train_chunk=args.train_chunk, stats=stats)
    elapsed = time.perf_counter() - start
    result.update(
        nearest_two_s=round(elapsed, 3), nearest_two_pairs_per_s=pairs / elapsed,
        n_exact_fallback=stats["n_exact_fallback"], peak_rss_after_search_mib=round(peak_rss_mib(), 1),
    )
    if device.type == "cuda":
        result["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)

    if pairs <= args.reference_max_pairs:
        start = time.perf_counter()
        ref_idx, ref_sq = reference(samples, train)
        ref_elapsed = time.perf_counter() - start
        result.update(
            reference_s=round(ref_elapsed, 3), reference_pairs_per_s=pairs / ref_elapsed,
            peak_rss_after_reference_mib=round(peak_rss_mib(), 1),
            indices_equal=bool(np.array_equal(idx, ref_idx)), sq_dists_equal=bool(np.array_equal(sq, ref_sq)),
            speedup=ref_elapsed / elapsed,
        )

    width = max(len(key) for key in result)
    for key, value in result.items():
        shown = f"{value:,.0f}" if key.endswith("per_s") else (f"{value:.2f}" if isinstance(value, float) else value)
        print(f"{key:<{width}}  {shown}")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp = f"{args.out}.tmp"
    with open(tmp, "w") as handle:
        json.dump(result, handle, indent=2)
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
