"""Sampling: one loop serving a trained UNet (a checkpoint's EMA weights) and the closed-form optimal denoiser.

Respaced ancestral sampling (improved-diffusion's respacing). Sample ``i`` draws its initial noise and every
step's noise from a counter-based generator keyed by the seed and counting (i, step, element)
(`memgen.diffusion.noise.CounterNoise`), so a given seed gives the same samples whatever the batch size, and the
noise is drawn on the device. The UNet runs under the precision asked for (`memgen.precision`: bf16 autocast
where the device computes it natively and it pays, the sampler's arithmetic in float32), chosen without regard to
the batch (`PATH_BATCH`); a CPU's convolutions may still round a sample differently in another batch size (~1e-6
in float32), which the uint8 images absorbed at batches 64-256 (benchmarks/bench_sample_jobs.py). On CUDA the
reverse step is compiled and replayed from a CUDA graph (`memgen.sample_compiled`: the same noise, bit for bit).
Never on a CPU unless asked: there a sampling job of the default run costs more compiled than eager even with a
warm on-disk cache (tracing and loading the compiled step cost more than its 100 faster steps save), and 7-14x
with a cold one (benchmarks/results/sample-2026-12-07). For a class-conditional model ``num_samples`` samples are
drawn for each requested class, in class order; labels come only from the classes the model was trained on.

With the same seed, steps and classes, sample i of a trained model and sample i of the optimal denoiser start
from the same x_T and see the same step noise; only the denoiser differs. The optimum
(`memgen.diffusion.EmpiricalOptimalDenoiser`: "optimal diffusion models memorize", Kaiser & Kollmann) runs the
config's schedule and T with the SIMPLE loss and the fixed-small variance (it predicts eps only), whatever loss the
trained models used; its cost per reverse step is one [batch, N] matrix product over D = 3 H W pixels in float64.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Sequence

import numpy as np
import torch

from memgen import checkpoint, io
from memgen.config import DiffusionConfig, schema_default
from memgen.diffusion import EmpiricalOptimalDenoiser, GaussianDiffusion, LossType, named_betas, sample_seeded
from memgen.errors import MemgenError
from memgen.precision import PLAIN, FastForward, resolve_fast_path, unet_flops
from memgen.rates import Workload
from memgen.runtime import check_images, check_int, resolve_device, to_model_scale, to_uint8
from memgen.sample_compiled import CompiledSampler

LOG = logging.getLogger("memgen")
# On a CPU "auto" picks bf16 by the FLOPs of one network call (memgen.precision.CPU_BF16_MIN_FLOPS); sampling
# prices that call at this batch, the schema's sample.batch_size, whatever batch the job runs, so the numeric path
# and with it the samples do not depend on the batch size. Priced at the job's own batch, min(batch, num_samples),
# a width-16 job at 16x16 ran fp32 at batch 32 and bf16 at 64 and up on a CPU with native bf16, and 5.9% of its
# pixels differed by 1-2 levels (benchmarks/results/sample-2026-12-07/bench_sample_jobs_before.json).
PATH_BATCH = schema_default("sample.batch_size")


def plan_labels(num_classes: int, num_samples: int, classes: Sequence[int] | None) -> np.ndarray:
    """Labels of all samples: ``num_samples`` per requested class (all trained classes by default).

    An unconditional model (num_classes 0) gets ``num_samples`` samples labelled 0.
    """
    if num_classes == 0:
        if classes not in (None, [], [0]) and list(classes) != [0]:
            raise MemgenError(f"--classes {list(classes)}: the model is unconditional (only class 0)")
        return np.zeros(num_samples, dtype=np.int64)
    chosen = list(range(num_classes)) if not classes else list(classes)
    bad = [c for c in chosen if not 0 <= c < num_classes]
    if bad:
        raise MemgenError(f"--classes {bad}: the model was trained on classes 0..{num_classes - 1} only")
    return np.repeat(np.asarray(chosen, dtype=np.int64), num_samples)


def draw(denoiser, diffusion, labels: np.ndarray, *, conditional: bool, seed: int, batch_size: int,
         shape_chw: tuple[int, int, int], device, sampler=None) -> np.ndarray:
    """The sampling loop: images uint8 [M, H, W, 3] for ``labels`` [M] from ``denoiser(x, t, y)`` and a (respaced)
    process; sample i is `memgen.diffusion.sample_seeded` of index i, whatever batch it falls in. ``sampler``: a
    `memgen.sample_compiled.CompiledSampler` of the same denoiser, process and seed, run instead."""

    out = np.empty((len(labels), shape_chw[1], shape_chw[2], 3), dtype=np.uint8)
    t0 = time.perf_counter()
    for start in range(0, len(labels), batch_size):
        idx = np.arange(start, min(start + batch_size, len(labels)))
        y = torch.from_numpy(labels[idx]).to(device) if conditional else None
        if sampler is not None:
            out[idx] = to_uint8(sampler(idx, y))
        else:
            out[idx] = to_uint8(sample_seeded(diffusion, denoiser, seed, idx, shape_chw, device=device, y=y))
        done = idx[-1] + 1
        rate = done / (time.perf_counter() - t0)
        LOG.info(f"sampled {done}/{len(labels)} | {rate:.1f} samples/s | ETA {(len(labels) - done) / rate:.0f}s")
    return out


def sample(ckpt: dict, *, num_samples: int, steps: int, seed: int, batch_size: int = 256,
           classes: Sequence[int] | None = None, device: str = "auto", weights: str = "ema",
           precision: str = "auto", compile: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Draw samples from a checkpoint. Returns (images uint8 [M,H,W,3], labels int64 [M]).

    precision: "fp32", "bf16" or "auto" for the UNet's forward; compile: "auto" (on CUDA: compiled and replayed
    from a CUDA graph; never on a CPU), "off", "default" or "reduce-overhead" (`memgen.precision.resolve_fast_path`,
    which picks per width from measured rates where there are some)."""
    images, labels, _ = sample_described(ckpt, num_samples=num_samples, steps=steps, seed=seed,
                                         batch_size=batch_size, classes=classes, device=device, weights=weights,
                                         precision=precision, compile=compile)
    return images, labels


def sample_described(ckpt: dict, *, num_samples: int, steps: int, seed: int, batch_size: int = 256,
                     classes: Sequence[int] | None = None, device: str = "auto", weights: str = "ema",
                     precision: str = "auto", compile: str = "auto") -> tuple[np.ndarray, np.ndarray, dict]:
    """`sample`, and what was drawn how: (images, labels, about). ``about`` (JSON-ready) names the checkpoint's
    step, seed and training data, the weights, seed, steps (of T), classes, samples per class and batch, the
    numeric path run (`memgen.precision.FastPath.describe`), whether the reverse step ran compiled, the device,
    torch's version and the SHA-256 of the images and labels (`memgen.io.sha256_array`)."""

    check_int("--num-samples", num_samples, 1)
    check_int("--batch-size", batch_size, 1)
    dev = resolve_device(device)
    model = checkpoint.build_model(ckpt, weights).to(dev).eval()
    T = ckpt["config"]["diffusion"]["steps"]
    if not 1 <= steps <= T:
        raise MemgenError(f"--steps {steps}: must be between 1 and the model's diffusion steps T={T}")
    labels = plan_labels(ckpt["num_classes"], num_samples, classes)
    batch, size = min(batch_size, len(labels)), ckpt["unet"]["image_size"]
    workload = Workload("sample", model.config.width, size, batch, calls=steps * -(-len(labels) // batch))
    flops = unet_flops(model.config, PATH_BATCH, backward=False)  # never the job's batch: see PATH_BATCH
    fast = resolve_fast_path(dev, precision, flops=flops, compile=compile, workload=workload)
    fast = dataclasses.replace(fast, fused_adamw=False)  # no optimizer here: the path says what runs
    if fast.channels_last:
        model.to(memory_format=torch.channels_last)
    net = model if fast == PLAIN else FastForward(model, fast, dev.type)
    LOG.info(f"sampling {num_samples} per class, {steps} steps, batch {batch_size}, precision {fast.describe()}")
    diffusion = checkpoint.build_diffusion_for(ckpt["config"]).respaced(str(steps))
    sampler = None
    if fast.compile:

        sampler = CompiledSampler(diffusion, net, seed=seed, shape_chw=(3, size, size), batch_size=batch,
                                  device=dev, mode=fast.compile_mode, log=LOG.info)
    images = draw(net, diffusion, labels, conditional=ckpt["num_classes"] > 0, seed=seed, batch_size=batch,
                  shape_chw=(3, size, size), device=dev, sampler=sampler)
    about = {"weights": weights, "seed": seed, "steps": steps, "diffusion_steps": T, "num_samples_per_class":
             num_samples, "batch_size": batch, "path": fast.describe(), "device": str(dev),
             "compiled": sampler is not None and sampler.compiled}
    return images, labels, _describe(ckpt, images, labels, about)


def _describe(ckpt: dict, images: np.ndarray, labels: np.ndarray, about: dict) -> dict:
    """The card of a sample set: the checkpoint's step, seed and training data, how it was sampled, what came out."""
    return {"checkpoint_step": int(ckpt["step"]), "checkpoint_seed": ckpt.get("seed"),
            "data_sha256": ckpt.get("data_sha256"), "width": ckpt["unet"]["width"],
            "image_size": ckpt["unet"]["image_size"],
            "num_classes": int(ckpt["num_classes"]), **about, "sampled_classes": sorted(set(labels.tolist())),
            "num_samples": len(images), "torch": torch.__version__, "images_sha256": io.sha256_array(images),
            "labels_sha256": io.sha256_array(labels)}


def _diffusion_config(cfg) -> DiffusionConfig:
    """A DiffusionConfig from itself, a resolved memgen config dict or its ``diffusion`` section."""
    if isinstance(cfg, DiffusionConfig):
        return cfg
    if isinstance(cfg, dict):
        section = cfg.get("diffusion", cfg)
        fields = {f.name for f in dataclasses.fields(DiffusionConfig)}
        if isinstance(section, dict) and fields <= set(section):
            return DiffusionConfig(**{k: section[k] for k in fields})
    raise MemgenError(f"diffusion_config: expected a DiffusionConfig or a config dict with diffusion.steps/schedule/"
                      f"loss, got {type(cfg).__name__}")


def optimal_process(diffusion_config):
    """The unrespaced SIMPLE-loss, fixed-variance ``GaussianDiffusion`` of the config's schedule and steps."""

    cfg = _diffusion_config(diffusion_config)
    return GaussianDiffusion(named_betas(cfg.schedule, cfg.steps), learn_sigma=False, loss_type=LossType.SIMPLE)


def sample_optimal(train_images: np.ndarray, train_labels: np.ndarray, diffusion_config, num_samples: int, steps: int,
                   seed: int, batch_size: int = 256, classes: Sequence[int] | None = None,
                   device: str | torch.device = "cpu", conditional: bool | None = None,
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Draw samples from the empirical-optimal denoiser of ``train_images``.

    Args:
        train_images: uint8 [N, H, W, 3]; train_labels: int [N] class ids 0..K-1.
        diffusion_config: ``DiffusionConfig``, a resolved memgen config dict, or its ``diffusion`` section.
        num_samples, steps, seed, batch_size, classes: as `sample` (``steps`` respaced ancestral steps,
            1 <= steps <= T; ``num_samples`` per class when conditional).
        conditional: the optimum of p(x_0 | y) (averaging only over training images of class y) or of p(x_0);
            None = conditional iff the labels have several classes (K > 1), as `memgen.train`.
    Returns: (images uint8 [M, H, W, 3], labels int64 [M]); sample i does not depend on ``batch_size``
        beyond float64 rounding.
    """

    check_images("train_images", train_images)
    labels_arr = np.asarray(train_labels)
    if labels_arr.shape != (len(train_images),) or labels_arr.dtype.kind not in "iu" or labels_arr.min() < 0:
        raise MemgenError(f"train_labels: expected non-negative integers of shape [{len(train_images)}], "
                          f"got {labels_arr.dtype} {list(labels_arr.shape)}")
    check_int("num_samples", num_samples, 1)
    check_int("batch_size", batch_size, 1)
    check_int("seed", seed, 0)
    cfg = _diffusion_config(diffusion_config)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= cfg.steps:
        raise MemgenError(f"steps: {steps!r} must be an integer between 1 and the diffusion steps T={cfg.steps}")

    dev = resolve_device(device)
    num_labels = int(labels_arr.max()) + 1
    conditional = num_labels > 1 if conditional is None else bool(conditional)
    labels = plan_labels(num_labels if conditional else 0, num_samples, classes)
    if conditional:
        missing = sorted(set(labels.tolist()) - set(labels_arr.tolist()))
        if missing:
            raise MemgenError(f"classes {missing}: no training image has that label")
    full = optimal_process(cfg)
    y_train = torch.from_numpy(labels_arr.astype(np.int64)) if conditional else None
    denoiser = EmpiricalOptimalDenoiser(to_model_scale(train_images).to(dev), full, labels=y_train)
    h, w = train_images.shape[1:3]
    images = draw(denoiser, full.respaced(str(steps)), labels, conditional=conditional, seed=seed,
                  batch_size=batch_size, shape_chw=(3, h, w), device=dev)
    return images, labels
