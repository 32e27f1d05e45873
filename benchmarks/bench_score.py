"""Benchmark memgen.nearest.nearest_two against a naive float64 reference on random uint8 images.

Usage (from the repository root):
    PYTHONPATH=workflow .venv/bin/python benchmarks/bench_score.py --samples 2000 --train 10000 --image-size 32 \
        --out benchmarks/out/bench_score.json

Reports wall time, throughput (sample-train pairs per second), peak RSS (resource.getrusage; Linux reports KiB)
and, when CUDA is used, peak GPU memory. Measured in the same run, alternating with the search (--repeats times,
minimum kept): a bare GEMM of the same shapes ([M, D] x [D, N] in IEEE float32 through torch, in column blocks of
--train-chunk into one reused buffer, so that its memory stays bounded like the search's); ``gemm_fraction`` =
GEMM time / search time (1: the search costs no more than its distance GEMM; the goal on CPU is >= 1/1.2).
The reference (full [M, N] float64 distance matrix with numpy, exact because every term is an integer below 2^53)
runs only when M * N <= --reference-max-pairs, and the two results are compared bit for bit.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time

import numpy as np
import torch

from memgen import io
from memgen.precision import ieee_float32_matmul
from memgen.nearest import nearest_two
from memgen.runtime import resolve_device


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


GEMM_CHUNK = {"cpu": 8192, "cuda": 32768}  # column block of the bare GEMM: nearest_two's default train chunk


def bare_gemm_seconds(samples: np.ndarray, train: np.ndarray, device: torch.device, chunk: int) -> float:
    """Seconds of [M, D] x [D, N] in IEEE float32 on ``device`` (inputs already there as float32)."""
    a = torch.from_numpy(samples.reshape(len(samples), -1)).to(device).float()
    b = torch.from_numpy(train.reshape(len(train), -1)).to(device).float()
    chunk = min(chunk, len(train))
    out = torch.empty(len(samples), chunk, device=device)
    with ieee_float32_matmul():
        torch.mm(a[:8], b[:8].T)  # warm-up (handles, kernels)
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for s in range(0, len(train), chunk):
            part = b[s : s + chunk]
            torch.mm(a, part.T, out=out[:, : len(part)])
        if device.type == "cuda":
            torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000, help="M, generated samples")
    parser.add_argument("--train", type=int, default=10000, help="N, training images")
    parser.add_argument("--image-size", type=int, default=32, help="H = W")
    parser.add_argument("--planted", type=float, default=0.1, help="fraction of samples that are noisy copies")
    parser.add_argument("--device", default=None, help="cpu, cuda or omitted (auto)")
    parser.add_argument("--sample-chunk", type=int, default=None, help="default: nearest_two's for the device")
    parser.add_argument("--train-chunk", type=int, default=None, help="default: nearest_two's for the device")
    parser.add_argument("--reference-max-pairs", type=float, default=5e7, help="skip the reference above M*N")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="alternating timings of search and GEMM (min kept)")
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
    stats, searches, gemms = {}, [], []
    for _ in range(args.repeats):  # alternate, so a load change on a shared machine hits both alike
        start = time.perf_counter()
        idx, sq = nearest_two(samples, train, device=device, sample_chunk=args.sample_chunk,
                              train_chunk=args.train_chunk, stats=stats)
        searches.append(time.perf_counter() - start)
        if device.type == "cuda" and len(searches) == 1:
            result["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        gemms.append(bare_gemm_seconds(samples, train, device, args.train_chunk or GEMM_CHUNK[device.type]))
    elapsed, gemm = min(searches), min(gemms)
    result.update(
        nearest_two_s=round(elapsed, 3), nearest_two_all_s=[round(t, 3) for t in searches],
        nearest_two_pairs_per_s=pairs / elapsed, n_exact_fallback=stats["n_exact_fallback"],
        peak_rss_after_search_mib=round(peak_rss_mib(), 1), gemm_s=round(gemm, 3),
        gemm_all_s=[round(t, 3) for t in gemms], gemm_tflops=2 * pairs * samples[0].size / gemm / 1e12,
        gemm_fraction=gemm / elapsed,
    )

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
    io.write_json(args.out, result)


if __name__ == "__main__":
    main()
