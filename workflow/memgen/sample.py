"""Sampling from a checkpoint's EMA weights with respaced ancestral sampling.

Sample ``i`` draws its initial noise and every step's noise from its own generator seeded by ``(seed, i)``
(`memgen.diffusion.PerSampleNoise`), so a given seed gives the same samples whatever the batch size.
For a class-conditional model, ``num_samples`` samples are drawn for each requested class, in class order;
labels come only from the classes the model was trained on.
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np
import torch

from memgen import checkpoint
from memgen.errors import MemgenError
from memgen.train import resolve_device

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


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """[B,3,H,W] in [-1,1] -> uint8 [B,H,W,3] (improved-diffusion's rounding)."""
    return ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def sample(
    ckpt: dict,
    *,
    num_samples: int,
    steps: int,
    seed: int,
    batch_size: int = 256,
    classes: Sequence[int] | None = None,
    device: str = "auto",
    weights: str = "ema",
    log: Callable[[str], None] = print,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw samples from a checkpoint. Returns (images uint8 [M,H,W,3], labels int64 [M])."""
    from memgen.diffusion import PerSampleNoise, p_sample_loop

    for flag, value in (("--num-samples", num_samples), ("--batch-size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise MemgenError(f"{flag} {value!r}: must be a positive integer")
    dev = resolve_device(device)
    model = checkpoint.build_model(ckpt, weights).to(dev).eval()
    T = ckpt["config"]["diffusion"]["steps"]
    if not 1 <= steps <= T:
        raise MemgenError(f"--steps {steps}: must be between 1 and the model's diffusion steps T={T}")
    diffusion = checkpoint.build_diffusion_for(ckpt["config"]).respaced(str(steps))
    labels = plan_labels(ckpt["num_classes"], num_samples, classes)
    size = ckpt["unet"]["image_size"]
    conditional = ckpt["num_classes"] > 0
    out = np.empty((len(labels), size, size, 3), dtype=np.uint8)
    t0 = time.perf_counter()
    for start in range(0, len(labels), batch_size):
        idx = np.arange(start, min(start + batch_size, len(labels)))
        noise = PerSampleNoise(seed, idx, (3, size, size), device=dev)  # sample i: its own generator
        y = torch.from_numpy(labels[idx]).to(dev) if conditional else None
        x0 = p_sample_loop(diffusion, model, noise.initial(), noise, y=y)
        out[idx] = to_uint8(x0)
        done = idx[-1] + 1
        rate = done / (time.perf_counter() - t0)
        log(f"sampled {done}/{len(labels)} | {rate:.1f} samples/s | ETA {(len(labels) - done) / rate:.0f}s")
    return out, labels
