"""The closed-form optimal denoiser of the empirical training distribution (a perfect memorizer).

If the data distribution is the empirical one, p(x_0) = (1/N) sum_n delta(x_0 - x_n), then under
q(x_t | x_0) = N(sqrt(abar) x_0, (1 - abar) I) the posterior over training images is
    w_n(x_t) = softmax_n( -||x_t - sqrt(abar) x_n||^2 / (2 (1 - abar)) ),
the MMSE estimate is E[x_0 | x_t] = sum_n w_n x_n, and the matching eps prediction is
    eps_hat = (x_t - sqrt(abar) E[x_0 | x_t]) / sqrt(1 - abar)      (Ho et al. eq. 4 solved for eps).
Sampling with it returns (near-)copies of training images: the reference point of a model that has
fully memorized its training set (cf. DiffMemorize's ``OptimEDM``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from memgen.diffusion.gaussian import GaussianDiffusion
from memgen.errors import MemgenError


class EmpiricalOptimalDenoiser:
    """A model callable ``(x [B, C, H, W], t [B] float, y [B] int64 | None) -> eps_hat [B, C, H, W]``.

    ``train`` [N, C, H, W] in [-1, 1]. ``diffusion`` supplies the map from the model's float time
    (``timestep_map[k] * 1000 / original_num_steps``) to abar; build it from the unrespaced process to
    serve every respacing of it. Outputs C channels, so pair it with a SIMPLE (fixed-variance) process.
    If ``labels`` [N] int64 are given and the call passes ``y``, the average runs only over training
    images of class y[b] (the optimal class-conditional denoiser). Computed in float64 with an online
    (streaming) softmax over chunks of ``chunk_size`` training images.
    """

    def __init__(
        self, train: Tensor, diffusion: GaussianDiffusion, labels: Tensor | None = None, chunk_size: int = 4096
    ) -> None:
        if train.ndim != 4 or train.shape[0] == 0:
            raise MemgenError(f"EmpiricalOptimalDenoiser: train must be a non-empty [N, C, H, W]: {tuple(train.shape)}")
        if labels is not None and tuple(labels.shape) != (train.shape[0],):
            raise MemgenError(f"EmpiricalOptimalDenoiser: labels must be [{train.shape[0]}], got {tuple(labels.shape)}")
        if chunk_size < 1:
            raise MemgenError(f"EmpiricalOptimalDenoiser: chunk_size must be positive, got {chunk_size}")
        self.image_shape = tuple(train.shape[1:])
        self.train = train.detach().reshape(train.shape[0], -1).to(torch.float32)  # [N, D]
        self.train_sqnorm = self.train.to(torch.float64).pow(2).sum(dim=1)  # [N]
        self.labels = None if labels is None else labels.detach().to(torch.long)
        self.chunk_size = int(chunk_size)
        times = diffusion.timestep_map.astype(np.float64) * (1000.0 / diffusion.original_num_steps)
        self._times = times  # [S] model time of each step
        self._abar = diffusion.alphas_cumprod.copy()  # [S]
        self._tolerance = 0.25 * 1000.0 / diffusion.original_num_steps  # a quarter of one original step
        self._device_copies: dict[str, tuple[Tensor, Tensor, Tensor | None]] = {}

    def _on(self, device: torch.device) -> tuple[Tensor, Tensor, Tensor | None]:
        """(train [N, D] float32, squared norms [N] float64, labels [N] | None) on ``device``, cached."""
        key = str(device)
        if key not in self._device_copies:
            labels = None if self.labels is None else self.labels.to(device)
            self._device_copies[key] = (self.train.to(device), self.train_sqnorm.to(device), labels)
        return self._device_copies[key]

    def alpha_bar(self, t: Tensor) -> Tensor:
        """abar [B] float64 for model times ``t`` [B] (inverts the diffusion's timestep rescaling)."""
        query = t.detach().to("cpu", torch.float64).numpy().reshape(-1)
        nearest = np.abs(self._times[None, :] - query[:, None]).argmin(axis=1)  # [B]
        miss = np.abs(self._times[nearest] - query) > self._tolerance
        if miss.any():
            raise MemgenError(f"EmpiricalOptimalDenoiser: model time {query[miss][0]:.4f} is not a diffusion step")
        return torch.as_tensor(self._abar[nearest], dtype=torch.float64, device=t.device)

    def posterior_mean(self, x: Tensor, abar: Tensor, y: Tensor | None = None) -> Tensor:
        """E[x_0 | x_t = x] [B, C, H, W] float64 for x [B, C, H, W] and abar [B] (streaming softmax over N)."""
        device = x.device
        xt = x.detach().reshape(x.shape[0], -1).to(torch.float64)  # [B, D]
        a = abar.sqrt()[:, None]
        denom = 2.0 * (1.0 - abar)[:, None]
        train, sqnorm, labels = self._on(device)
        restrict = y is not None and labels is not None
        run_max = torch.full((xt.shape[0],), -torch.inf, dtype=torch.float64, device=device)
        run_sum = torch.zeros(xt.shape[0], dtype=torch.float64, device=device)
        run_acc = torch.zeros_like(xt)
        for start in range(0, train.shape[0], self.chunk_size):
            xn = train[start : start + self.chunk_size].to(torch.float64)  # [n, D]
            sqn = sqnorm[start : start + self.chunk_size]
            # -||x_t - a x_n||^2 / (2(1-abar)) up to the term ||x_t||^2, constant over n
            logits = (2.0 * a * (xt @ xn.T) - a**2 * sqn[None, :]) / denom  # [B, n]
            if restrict:
                same = labels[start : start + self.chunk_size][None, :] == y.to(device)[:, None]
                logits = logits.masked_fill(~same, -torch.inf)
            new_max = torch.maximum(run_max, logits.max(dim=1).values)
            shift = torch.where(torch.isfinite(new_max), new_max, torch.zeros_like(new_max))
            rescale = torch.exp(run_max - shift)  # 0 while run_max is -inf
            weights = torch.exp(logits - shift[:, None])
            run_sum = run_sum * rescale + weights.sum(dim=1)
            run_acc = run_acc * rescale[:, None] + weights @ xn
            run_max = new_max
        if bool((run_sum <= 0).any()):
            raise MemgenError("EmpiricalOptimalDenoiser: a requested class has no training image")
        return (run_acc / run_sum[:, None]).reshape(x.shape)

    def __call__(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        """eps_hat = (x_t - sqrt(abar) E[x_0 | x_t]) / sqrt(1 - abar), [B, C, H, W] in x's dtype."""
        if tuple(x.shape[1:]) != self.image_shape:
            raise MemgenError(
                f"EmpiricalOptimalDenoiser: input {tuple(x.shape[1:])} differs from training images {self.image_shape}"
            )
        abar = self.alpha_bar(t)
        x0_mean = self.posterior_mean(x, abar, y)
        view = (-1,) + (1,) * (x.ndim - 1)
        eps = (x.to(torch.float64) - abar.sqrt().reshape(view) * x0_mean) / (1.0 - abar).sqrt().reshape(view)
        return eps.to(x.dtype)
