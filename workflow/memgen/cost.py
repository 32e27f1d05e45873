"""What a job costs: SLURM time limits and memory per cell, and the GPU-hours and disk of a whole plan.

`job_resources` turns one job (train / sample / score, its width, image size, batch, steps or samples, device)
into the wall time and host memory to ask SLURM for; `plan_rows` sums a plan's jobs per kind into compute hours,
GPU-hours and the disk their outputs take. Pure functions: numbers in, numbers (and a DataFrame) out.

The rates are per image of the seeds' UNet (improved-diffusion at 32x32: channel_mult (1,2,2,2), 3 res blocks,
attention at 16 and 8, learned sigma, hybrid loss; parameters ~ 13.16M x (width/64)^2), interpolated in log-log
over width, scaled by (image_size/32)^2 and, given a job's exact parameter count, by its ratio to the seeds' UNet
at that width. `memgen plan` passes the exact count (counted on the meta device); the rules' time limits do not (the
Snakefile does not import torch), so a smaller model than the seeds' UNet gets a generous limit.
CPU rates are measured (one thread, batch 8, so per-image overhead included):
- widths 64/128/256 train and 64/128 eval: /work/shared/reference/anchors.md 0.6 and 1.8 (1.23 / 3.77 / 13.35 s
  per step of 8; 0.34 / 1.10 s per forward of 8);
- widths 16 and 32: timed beside width 64 in one process and scaled to its 1.23 s / 0.34 s (ratios 0.246 and
  0.433 train, 0.343 and 0.528 eval); width 256 eval extrapolated with the train ratio 256/128 (3.54).
GPU rates are MEASURED, and read from the table of `memgen.rates` (``rates.json``, written by benchmarks/rates.py
from the files benchmarks/gpu.sh writes; today one H100 80GB, benchmarks/results/h100-2026-11-26): per measured
width, the seconds of one training step / one sampling step of the batch on the path ``auto`` runs there (compiled
with CUDA graphs where that was measured, plus its compile seconds once per job); where that path was not measured,
the slowest path measured there (safe time limits). Between widths log-log interpolation; another batch scales as
max(1, batch / measured batch) (a launch-bound step does not get faster with fewer images), and a larger image or
UNet by its compute. A training job packed ``slots`` to a GPU (resources.train.slots_per_gpu) runs slots / gain
times longer, gain being the measured cells per GPU-hour of that many trainings sharing a GPU over one at a time
(1 where not measured), and takes 1 / slots of a GPU. The exact search ran 10k x 50k images at 32x32 in 0.093 s
on the H100 (5.3e9 pairs/s).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, NamedTuple

from memgen import rates
from memgen.errors import MemgenError
from memgen.runtime import check_int

KINDS = ("train", "sample", "score")
DEVICES = ("cpu", "gpu")
# Seconds per image per training step (forward + backward + AdamW), seeds' UNet at 32x32, by width, on a CPU (one
# thread, batch 8); GPUs: memgen.rates.
TRAIN_S = {16: 0.0378, 32: 0.0666, 64: 0.154, 128: 0.471, 256: 1.669}
# Seconds per image per network evaluation without gradients (one per respaced sampling step); 256: extrapolated.
EVAL_S = {16: 0.0146, 32: 0.0224, 64: 0.0425, 128: 0.1375, 256: 0.487}
# Seconds per (sample, training image, pixel value) of the exact nearest-two search: 8.7M pairs/s at 32x32 on one
# busy CPU thread (benchmarks/bench_score.py --samples 1000 --train 4000 --image-size 32), 5.3e9 on an H100.
PAIR_S = {"cpu": 4.0e-11, "gpu": 6.1e-14}
STARTUP_S = {"cpu": 60.0, "gpu": 180.0}  # interpreter, torch (and CUDA) start, data and checkpoint loading
BASE_MB = {"cpu": 1000, "gpu": 4000}  # host memory of a process with torch (and the CUDA libraries) loaded
# Training activations per image at 32x32 (peak RSS of one step / batch, measured at widths 16/32/64):
# 8.8 MiB (attention maps, scale as image^4) + 0.72 MiB per unit of width (feature maps, scale as image^2).
ACT_MB_FIXED, ACT_MB_PER_WIDTH = 8.8, 0.72
EVAL_ACT_FRACTION = 0.1  # without gradients only the live feature maps are kept (estimated)
FLOOR_MIN, CEILING_MIN = 10, 4320  # time limit bounds: 10 minutes, 3 days
FLOOR_MB = 1000


@dataclass(frozen=True)
class Job:
    """One train, sample or score job of a cell. Unused fields stay 0.

    width, image_size: the UNet's base channels and the images' side. device: "cpu" or "gpu".
    batch: images per optimizer step (train) or per sampling batch (sample). steps: optimizer steps (train).
    samples: images sampled (sample) or scored (score). sample_steps: respaced sampling steps.
    train_images: the training set size (train: data in memory; score: the search's other side).
    snapshots: snapshots (EMA and raw weights) a training writes. params: exact parameter count (None: the seeds' UNet's).
    slots: training jobs sharing one GPU (resources.train.slots_per_gpu; 1: a GPU of its own).
    """

    kind: str
    width: int
    image_size: int
    device: str = "gpu"
    batch: int = 0
    steps: int = 0
    samples: int = 0
    sample_steps: int = 0
    train_images: int = 0
    snapshots: int = 0
    params: int | None = None
    slots: int = 1


class Estimate(NamedTuple):
    seconds: float  # expected wall time of the computation (packed: sharing its GPU), without the safety factor
    runtime_min: int  # time limit to ask for: safety x (seconds + startup), within [floor, ceiling]
    mem_mb: int  # host memory to ask for (SLURM --mem): safety x estimate, at least FLOOR_MB


def unet_params(width: int) -> int:
    """Parameters of the seeds' UNet (unconditional, 32x32): 13,161,926 at width 64, ~ width^2 (anchors 1.3)."""
    return round(13_161_926 * (width / 64) ** 2)


def _rate(table: dict[int, float], width: int) -> float:
    """Log-log interpolation over width; below the smallest width its rate (a GPU is not faster on a tiny net),
    above the largest the last segment's slope continued."""
    widths = sorted(table)
    if width <= widths[0]:
        return table[widths[0]]
    lo, hi = (widths[-2], widths[-1]) if width >= widths[-1] else next(
        (a, b) for a, b in zip(widths, widths[1:]) if a <= width <= b)
    slope = math.log(table[hi] / table[lo]) / math.log(hi / lo)
    return table[lo] * (width / lo) ** slope


def _activations_mb(job: Job) -> float:
    """Training activations of one image (MB): the 32x32 fit scaled with the image (attention maps ~ side^4)."""
    side = job.image_size / 32
    return ACT_MB_FIXED * side**4 + ACT_MB_PER_WIDTH * job.width * side**2


def _gpu_call_seconds(job: Job, batch: int, area: float) -> tuple[float, float]:
    """(seconds of one training step / one sampling step of ``batch`` images, compile seconds) on the plan chip of
    `memgen.rates`, interpolated over width; a larger image or UNet than the measured one scales by its compute."""
    kind = "train" if job.kind == "train" else "sample"
    points = rates.plan_rates(kind, job.image_size, batch)
    if not points:
        raise MemgenError(f"no measured GPU rates for {kind} jobs in {rates.TABLE_PATH} (benchmarks/rates.py)")
    measured_size = next(iter(points.values()))["image_size"]
    scale = max(1.0, area * (32 / measured_size) ** 2)  # area is relative to 32x32
    nearest = min(points, key=lambda w: abs(math.log(w / job.width)))
    # A wider UNet is never priced below a narrower one (on the H100 in bf16 eager, the launch-bound UNet-64 step
    # took longer than UNet-128's).
    seconds, most = {}, 0.0
    for width in sorted(points):
        most = seconds[width] = max(most, points[width]["s"])
    return _rate(seconds, job.width) * scale, points[nearest]["compile_s"] or 0.0


def _check(job: Job) -> None:
    if job.kind not in KINDS:
        raise MemgenError(f"job kind {job.kind!r}: expected one of {', '.join(KINDS)}")
    if job.device not in DEVICES:
        raise MemgenError(f"device {job.device!r}: expected cpu or gpu")
    check_int("width", job.width, 1)
    check_int("image_size", job.image_size, 1)
    check_int("slots", job.slots, 1)
    need = {"train": ("batch", "steps"), "sample": ("samples", "sample_steps"),
            "score": ("samples", "train_images")}[job.kind]
    for name in need:
        check_int(f"{job.kind} job {name}", getattr(job, name), 1)


def job_resources(job: Job, safety: float = 2.0, floor_min: int = FLOOR_MIN, ceiling_min: int = CEILING_MIN,
                  attempt: int = 1) -> Estimate:
    """Time limit (minutes) and host memory (MB) for one job, on its ``attempt``-th try.

    Compute seconds: on a CPU train = steps x batch x TRAIN_S, sample = batches x sample_steps x batch x EVAL_S,
    the rates scaled by (image_size/32)^2 and, when ``params`` is given, by params / unet_params(width) (a smaller
    UNet of the same width costs less); on a GPU steps x the measured step (module docstring) + compile seconds,
    and a packed training (``slots`` > 1) slots / gain times that; score = samples x train_images x image_size^2
    x 3 x PAIR_S. The limit is ``attempt x safety x (seconds + startup)`` rounded up, clamped to
    [floor_min, ceiling_min] (the ceiling wins over the floor): a retry asks for more, never past the ceiling; a
    longer training is cut by SLURM's SIGTERM, checkpoints, and Snakemake's retry resumes it (see plan_rows'
    attempts).
    Memory: torch's base + parameters x 4 bytes x (model, EMA, gradient, 2 Adam moments, 2 checkpoint copies;
    a GPU job: the 4 checkpoint copies only) + activations x batch (CPU only: a GPU holds them) + the images,
    times safety.
    """
    _check(job)
    params = job.params or unet_params(job.width)
    area = (job.image_size / 32) ** 2 * params / unet_params(job.width)  # compute ~ parameters at a given width
    pixels = job.image_size**2 * 3
    if job.kind == "train":
        if job.device == "gpu":
            step_s, compile_s = _gpu_call_seconds(job, job.batch, area)
            gain = (rates.pack_gain(job.width, job.slots) or 1.0) if job.slots > 1 else 1.0
            seconds = (job.steps * step_s + compile_s) * job.slots / gain
        else:
            seconds = job.steps * job.batch * _rate(TRAIN_S, job.width) * area
        on_cpu = job.device == "cpu"  # a GPU job keeps weights, Adam and the float images on the GPU
        state_mb = params * 4 * (7 if on_cpu else 4) / 2**20
        act_mb = _activations_mb(job) * job.batch
        data_mb = job.train_images * pixels * (5 if on_cpu else 1) / 2**20  # uint8 (+ float32 on a CPU)
    elif job.kind == "sample":
        batch = min(job.batch or job.samples, job.samples)
        calls = math.ceil(job.samples / batch) * job.sample_steps
        if job.device == "gpu":
            step_s, compile_s = _gpu_call_seconds(job, batch, area)
            seconds = calls * step_s + compile_s
        else:
            seconds = calls * batch * _rate(EVAL_S, job.width) * area
        state_mb = params * 4 * 4 / 2**20  # the checkpoint is loaded whole (model, EMA, Adam moments)
        act_mb = EVAL_ACT_FRACTION * _activations_mb(job) * max(job.batch, 1)
        data_mb = job.samples * pixels / 2**20
    else:
        seconds = job.samples * job.train_images * pixels * PAIR_S[job.device]
        state_mb, act_mb = 0.0, 0.0
        chunk_s, chunk_t = min(job.samples, 1024), min(job.train_images, 8192)  # memgen.score's default chunks
        data_mb = ((job.samples + job.train_images) * pixels + (chunk_s + chunk_t) * pixels * 4
                   + chunk_s * chunk_t * 4) / 2**20
    if job.device == "gpu":
        act_mb = 0.0
    limit = attempt * math.ceil(safety * (seconds + STARTUP_S[job.device]) / 60)
    mem = math.ceil(safety * (BASE_MB[job.device] + state_mb + act_mb + data_mb))
    return Estimate(seconds, min(max(limit, floor_min), ceiling_min), max(mem, FLOOR_MB))


def output_bytes(job: Job) -> int:
    """Disk taken by a job's outputs: a training's checkpoint holds model, EMA and 2 Adam moments (4 x params x
    4 bytes; its resumable .state file as much again while it runs) plus snapshots of the EMA and the raw weights
    (2 x params x 4 bytes each); samples are uint8
    images with int64 labels; a score table ~64 bytes per sample."""
    _check(job)
    if job.kind == "train":
        return (4 + 2 * job.snapshots) * (job.params or unet_params(job.width)) * 4
    if job.kind == "sample":
        return job.samples * (job.image_size**2 * 3 + 8)
    return job.samples * 64


def plan_rows(jobs: Iterable[Job], safety: float = 2.0, ceiling_min: int = CEILING_MIN) -> list[dict]:
    """Per job kind and device: jobs, compute hours (no safety factor), GPU-hours (a packed job's hours / slots),
    hours of time limits asked,
    the most attempts one job is expected to need (an estimate past the ceiling is cut by the time limit and
    resumed by a retry: the profile's ``retries`` must be at least attempts - 1), and output GB."""
    rows: dict[tuple[str, str], dict] = {}
    for job in jobs:
        est = job_resources(job, safety=safety, ceiling_min=ceiling_min)
        row = rows.setdefault((job.kind, job.device), {
            "kind": job.kind, "device": job.device, "jobs": 0, "compute_hours": 0.0, "gpu_hours": 0.0,
            "limit_hours": 0.0, "attempts": 1, "output_gb": 0.0})
        hours = est.seconds / 3600
        row["jobs"] += 1
        row["compute_hours"] += hours
        row["gpu_hours"] += hours / job.slots if job.device == "gpu" else 0.0
        row["limit_hours"] += est.runtime_min / 60
        row["attempts"] = max(row["attempts"], math.ceil(est.seconds / (ceiling_min * 60 - STARTUP_S[job.device])))
        row["output_gb"] += output_bytes(job) / 1e9
    return [rows[key] for key in sorted(rows, key=lambda k: (KINDS.index(k[0]), k[1]))]
