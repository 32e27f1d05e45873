"""Ancestral sampling (Ho et al. 2020 Algorithm 2) as a pure function with its randomness injected.

As in NVlabs/edm, the sampler takes the initial noise and a noise source instead of a global RNG, and
``PerSampleNoise`` gives every sample its own generator seeded from (seed, sample index): sample i is
then the same whatever the batch it is drawn in, the batch size or the device the network runs on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from memgen.diffusion.gaussian import GaussianDiffusion, Model
from memgen.diffusion.noise import CounterNoise
from memgen.errors import MemgenError
from memgen.runtime import check_int, seed_state


def p_sample_loop(
    diffusion: GaussianDiffusion,
    model: Model,
    x_T: Tensor,
    noise_fn: Callable[[int], Tensor],
    y: Tensor | None = None,
    clip_denoised: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Tensor:
    """Run the reverse chain x_{T-1} -> ... -> x_0 of ``diffusion`` (respaced or not) from ``x_T`` [B, C, H, W].

    Reverse step number i = 0 .. T-1 visits step t = T-1-i and sets x <- mean + exp(log_variance / 2) * z
    with z = ``noise_fn(i)`` (standard normal, shape of x_T; moved to x_T's device and dtype). The last
    step (i = T-1, t = 0) adds no noise and returns the mean, so ``noise_fn`` is called for i = 0 .. T-2
    only, in increasing order. ``y`` [B] int64 are class labels for a conditional model. ``progress``,
    if given, is called as ``progress(steps_done, T)`` after each step. Runs under ``torch.no_grad``;
    put the model in eval mode first. Returns x_0 [B, C, H, W] (in [-1, 1] up to the last step's mean).
    """
    num_steps = diffusion.num_timesteps
    x = x_T
    with torch.no_grad():
        for i in range(num_steps):
            step = num_steps - 1 - i
            t = torch.full((x.shape[0],), step, dtype=torch.long, device=x.device)
            out = diffusion.p_mean_variance(model, x, t, y=y, clip_denoised=clip_denoised)
            if step > 0:
                z = noise_fn(i).to(device=x.device, dtype=x.dtype)
                if z.shape != x.shape:
                    raise MemgenError(f"noise_fn({i}) returned shape {tuple(z.shape)}; expected {tuple(x.shape)}")
                x = out["mean"] + torch.exp(0.5 * out["log_variance"]) * z
            else:
                x = out["mean"]
            if progress is not None:
                progress(i + 1, num_steps)
    return x


def reverse_step(diffusion: GaussianDiffusion, model: Model, x: Tensor, i: Tensor, z: Tensor, y: Tensor | None = None,
                 clip_denoised: bool = True) -> Tensor:
    """Reverse step number ``i`` of `p_sample_loop`, with ``i`` a 0-dim int64 tensor on x's device and the step's
    noise ``z`` (finite, shape of x) given: no Python branch on the step, so one compiled function or one captured
    CUDA graph serves every step. t = T-1-i; returns mean + exp(log_variance / 2) z where t > 0 and the mean
    where t = 0 (z is multiplied by 0 there), with p_sample_loop's operations, so its values are bit-identical."""
    t = (diffusion.num_timesteps - 1 - i).expand(x.shape[0])
    out = diffusion.p_mean_variance(model, x, t, y=y, clip_denoised=clip_denoised)
    noisy = (t > 0).view(-1, *([1] * (x.ndim - 1)))
    return out["mean"] + torch.where(noisy, torch.exp(0.5 * out["log_variance"]), 0.0) * z


def sample_seed(seed: int, index: int) -> int:
    """A 64-bit generator seed for sample ``index`` of run ``seed``: ``seed_state(seed, index)``."""
    return seed_state(seed, index)


class PerSampleNoise:
    """Noise for a batch of samples, one CPU ``torch.Generator`` per sample.

    Sample ``indices[b]`` draws, from its own generator seeded with ``sample_seed(seed, indices[b])``,
    first x_T (``initial()``), then the noise of reverse steps 0, 1, 2, ... (``self(i)``), each of shape
    ``shape_chw``, in float32; the rows are stacked to [B, C, H, W] and moved to ``device``/``dtype``.
    So sample k is bit-identical whichever batch it is in. Calls must come in that order (checked).
    """

    def __init__(
        self,
        seed: int,
        indices: Sequence[int] | Tensor | np.ndarray,
        shape_chw: Sequence[int],
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> None:
        index_list = [int(i) for i in (indices.tolist() if hasattr(indices, "tolist") else indices)]
        check_int("PerSampleNoise: seed", seed, 0)
        if not index_list or min(index_list) < 0:
            raise MemgenError(f"PerSampleNoise: sample indices must be non-empty, non-negative: {index_list[:5]}")
        self.seed = int(seed)
        self.indices = index_list
        self.shape_chw = tuple(int(s) for s in shape_chw)
        self.device = torch.device(device)
        self.dtype = dtype
        self._generators = [torch.Generator().manual_seed(sample_seed(self.seed, k)) for k in index_list]
        self._next_step: int | None = None  # None until initial() has been drawn

    def _draw(self) -> Tensor:
        rows = [torch.randn(self.shape_chw, generator=g, dtype=torch.float32) for g in self._generators]
        return torch.stack(rows).to(device=self.device, dtype=self.dtype)

    def initial(self, shape_chw: Sequence[int] | None = None, device: torch.device | str | None = None) -> Tensor:
        """x_T [B, C, H, W], standard normal. ``shape_chw`` if given must equal the constructed one;
        ``device`` if given becomes the target device of this and every later draw."""
        if shape_chw is not None and tuple(int(s) for s in shape_chw) != self.shape_chw:
            raise MemgenError(f"PerSampleNoise.initial: shape {tuple(shape_chw)} differs from {self.shape_chw}")
        if self._next_step is not None:
            raise MemgenError("PerSampleNoise.initial: x_T was already drawn; make a new PerSampleNoise per run")
        if device is not None:
            self.device = torch.device(device)
        self._next_step = 0
        return self._draw()

    def __call__(self, i: int) -> Tensor:
        """Noise [B, C, H, W] for reverse step number ``i`` (0, 1, 2, ... in order, after ``initial()``)."""
        if self._next_step is None or i != self._next_step:
            raise MemgenError(
                f"PerSampleNoise: step noise {i} requested out of order (expected {self._next_step}; initial() first)"
            )
        self._next_step += 1
        return self._draw()


def sample_seeded(
    diffusion: GaussianDiffusion,
    model: Model,
    seed: int,
    indices: Sequence[int] | Tensor,
    shape_chw: Sequence[int],
    device: torch.device | str = "cpu",
    y: Tensor | None = None,
    clip_denoised: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Tensor:
    """Samples ``indices`` of run ``seed``, [B, C, H, W] on ``device``: ``p_sample_loop`` fed by the counter-based
    noise of `memgen.diffusion.noise.CounterNoise` (Philox keyed by the seed, counting sample index, step and
    element: sample i is the same whatever its batch, drawn on the device in one pass per step)."""

    noise = CounterNoise(seed, indices, shape_chw, device=device)
    x_T = noise.initial()
    return p_sample_loop(diffusion, model, x_T, noise, y=y, clip_denoised=clip_denoised, progress=progress)
