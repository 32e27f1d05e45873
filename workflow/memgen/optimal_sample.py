"""Samples of the closed-form empirical-optimal denoiser: the reference of a model that has memorized perfectly.

The optimal denoiser of the training set (``memgen.diffusion.EmpiricalOptimalDenoiser``; Kaiser & Kollmann's
"optimal diffusion models memorize") is run through exactly the machinery of ``memgen.sample``: the respaced
ancestral sampler ``p_sample_loop``, ``PerSampleNoise(seed, i)`` per sample, ``plan_labels`` and ``to_uint8``.
So with the same seed, steps and classes, sample i of a trained model and sample i of the optimum start from
the same x_T and see the same step noise; only the denoiser differs.

The process is the config's schedule and T with the SIMPLE loss and the fixed-small variance (the optimum
predicts eps only), whatever loss the trained models used. Cost per reverse step: one [batch, N] matrix product
over D = 3 H W pixels in float64 (chunked over the training set).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

from memgen.config import DiffusionConfig
from memgen.errors import MemgenError


def _diffusion_config(cfg) -> DiffusionConfig:
    """A DiffusionConfig from itself, a full memgen config dict or its ``diffusion`` section."""
    if isinstance(cfg, DiffusionConfig):
        return cfg
    if isinstance(cfg, dict):
        section = cfg.get("diffusion", cfg)
        fields = {f.name for f in dataclasses.fields(DiffusionConfig)}
        if isinstance(section, dict) and fields <= set(section):
            return DiffusionConfig(**{k: section[k] for k in fields})
    raise MemgenError(f"diffusion_config: expected a DiffusionConfig or a config dict with diffusion.steps/schedule/"
                      f"loss, got {type(cfg).__name__}")


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> float32 [N, 3, H, W] in [-1, 1] (the training scaling of memgen.train)."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def optimal_process(diffusion_config):
    """The unrespaced SIMPLE-loss, fixed-variance ``GaussianDiffusion`` of the config's schedule and steps."""
    from memgen.diffusion import GaussianDiffusion, LossType, named_betas

    cfg = _diffusion_config(diffusion_config)
    return GaussianDiffusion(named_betas(cfg.schedule, cfg.steps), learn_sigma=False, loss_type=LossType.SIMPLE)


def sample_optimal(
    train_images: np.ndarray,
    train_labels: np.ndarray,
    diffusion_config,
    num_samples: int,
    steps: int,
    seed: int,
    batch_size: int = 256,
    classes: Sequence[int] | None = None,
    device: str | torch.device = "cpu",
    conditional: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw samples from the empirical-optimal denoiser of ``train_images``.

    Args:
        train_images: uint8 [N, H, W, 3]; train_labels: int [N] class ids 0..K-1.
        diffusion_config: ``DiffusionConfig``, a validated memgen config dict, or its ``diffusion`` section.
        num_samples, steps, seed, batch_size, classes: as ``memgen.sample.sample`` (``steps`` respaced
            ancestral steps, 1 <= steps <= T; ``num_samples`` per class when conditional).
        conditional: the optimum of p(x_0 | y) (averaging only over training images of class y) or of p(x_0);
            None = conditional iff the labels have several classes (K > 1), as ``memgen.train``.
        device: "cpu", "cuda" or "auto".
    Returns: (images uint8 [M, H, W, 3], labels int64 [M]); sample i does not depend on ``batch_size``
        beyond float64 rounding.
    """
    from memgen.diffusion import EmpiricalOptimalDenoiser, PerSampleNoise, p_sample_loop
    from memgen.sample import plan_labels, to_uint8
    from memgen.score import resolve_device

    if not isinstance(train_images, np.ndarray) or train_images.dtype != np.uint8 or train_images.ndim != 4 \
            or train_images.shape[-1] != 3 or train_images.shape[0] == 0:
        desc = f"{train_images.dtype} {list(train_images.shape)}" if isinstance(train_images, np.ndarray) \
            else type(train_images).__name__
        raise MemgenError(f"train_images: expected non-empty uint8 images [N, H, W, 3], got {desc}")
    labels_arr = np.asarray(train_labels)
    if labels_arr.shape != (len(train_images),) or labels_arr.dtype.kind not in "iu" or labels_arr.min() < 0:
        raise MemgenError(f"train_labels: expected non-negative integers of shape [{len(train_images)}], "
                          f"got {labels_arr.dtype} {list(labels_arr.shape)}")
    for name, value in (("num_samples", num_samples), ("batch_size", batch_size), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < (0 if name == "seed" else 1):
            kind = "non-negative" if name == "seed" else "positive"
            raise MemgenError(f"{name}: must be a {kind} integer, got {value!r}")
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
    denoiser = EmpiricalOptimalDenoiser(_to_tensor(train_images).to(dev), full, labels=y_train)
    diffusion = full.respaced(str(steps))
    h, w = train_images.shape[1:3]
    out = np.empty((len(labels), h, w, 3), dtype=np.uint8)
    t0 = time.perf_counter()
    for start in range(0, len(labels), batch_size):
        idx = np.arange(start, min(start + batch_size, len(labels)))
        noise = PerSampleNoise(seed, idx, (3, h, w), device=dev)  # sample i: its own generator, as memgen.sample
        y = torch.from_numpy(labels[idx]).to(dev) if conditional else None
        out[idx] = to_uint8(p_sample_loop(diffusion, denoiser, noise.initial(), noise, y=y))
        if log is not None:
            log(f"optimal: sampled {idx[-1] + 1}/{len(labels)} in {time.perf_counter() - t0:.1f}s")
    return out, labels
