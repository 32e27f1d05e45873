"""The Gaussian diffusion process: noising, the reverse-step Gaussians and per-sample training losses.

DDPM notation (Ho et al. 2020) with 0-based steps t = 0 .. T-1: q(x_t | x_0) = N(sqrt(abar_t) x_0,
(1 - abar_t) I); the network predicts eps, and with ``learn_sigma`` also v in [-1, 1] per pixel that
interpolates the reverse log-variance between log beta~_t and log beta_t (Improved DDPM eq. 15).

The network is any callable ``model(x [B, C, H, W], t [B] float, y [B] int64 | None) -> [B, C or 2C, H, W]``.
It never sees the integer step: it gets ``timestep_map[t] * 1000 / original_num_steps`` (improved-diffusion's
``rescale_timesteps``), i.e. the original step rescaled to [0, 1000), the same for a respaced process.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from memgen.diffusion.losses import discretized_gaussian_log_likelihood, mean_flat, normal_kl
from memgen.diffusion.schedule import respace_betas, space_timesteps
from memgen.errors import MemgenError

Model = Callable[[Tensor, Tensor, "Tensor | None"], Tensor]


class LossType(enum.Enum):
    """Training objective. SIMPLE: L_simple (eps MSE), fixed variance. HYBRID: L_simple + (T/1000) L_vb
    with learned variance (Improved DDPM eq. 16 with lambda = 0.001 in per-step form; improved-diffusion
    RESCALED_MSE)."""

    SIMPLE = "simple"
    HYBRID = "hybrid"


class GaussianDiffusion:
    """A T-step Gaussian diffusion built from ``betas`` (float64 [T]).

    Reverse variance: with ``learn_sigma`` the LEARNED_RANGE parametrization; without it, the *fixed
    small* variance beta~_t (posterior variance, log clipped at t = 0). Note improved-diffusion's default
    for learn_sigma=False is fixed-large (beta_t); memgen chooses fixed-small, which is the better choice
    for respaced (few-step) sampling and makes the last step return the denoiser's x_0 estimate.
    ``learn_sigma`` must be True for HYBRID and False for SIMPLE.
    ``timestep_map`` / ``original_num_steps`` describe a respaced process (see ``respaced``).
    """

    def __init__(
        self,
        betas: np.ndarray,
        learn_sigma: bool,
        loss_type: LossType,
        timestep_map: np.ndarray | None = None,
        original_num_steps: int | None = None,
    ) -> None:
        betas = np.asarray(betas, dtype=np.float64)
        if betas.ndim != 1 or betas.size == 0 or not np.all((betas > 0) & (betas <= 1)):
            raise MemgenError("GaussianDiffusion: betas must be a non-empty 1-D array with values in (0, 1]")
        if not isinstance(loss_type, LossType):
            raise MemgenError(f"GaussianDiffusion: loss_type must be a LossType, got {loss_type!r}")
        if bool(learn_sigma) != (loss_type is LossType.HYBRID):
            needed = loss_type is LossType.HYBRID
            raise MemgenError(f"GaussianDiffusion: loss {loss_type.name} needs learn_sigma={needed}")
        n = betas.shape[0]
        self.betas = betas
        self.learn_sigma = bool(learn_sigma)
        self.loss_type = loss_type
        self.timestep_map = np.arange(n) if timestep_map is None else np.asarray(timestep_map)
        self.timestep_map = self.timestep_map.astype(np.int64)
        self.original_num_steps = n if original_num_steps is None else int(original_num_steps)
        if self.timestep_map.shape != (n,) or self.timestep_map.max() >= self.original_num_steps:
            raise MemgenError(f"GaussianDiffusion: timestep_map must have {n} entries below original_num_steps")

        alphas = 1.0 - betas
        self.alphas_cumprod = np.cumprod(alphas)
        self.alphas_cumprod_prev = np.append(1.0, self.alphas_cumprod[:-1])
        self.sqrt_alphas_cumprod = np.sqrt(self.alphas_cumprod)
        self.sqrt_one_minus_alphas_cumprod = np.sqrt(1.0 - self.alphas_cumprod)
        self.sqrt_recip_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod)
        self.sqrt_recipm1_alphas_cumprod = np.sqrt(1.0 / self.alphas_cumprod - 1.0)
        # q(x_{t-1} | x_t, x_0) = N(coef1 x_0 + coef2 x_t, beta~_t I)   (Ho et al. eqs. 6-7)
        self.posterior_variance = betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        # beta~_0 = 0, so its log is replaced by log beta~_1 (improved-diffusion's clipping)
        self.posterior_log_variance_clipped = np.log(
            np.append(self.posterior_variance[1], self.posterior_variance[1:]) if n > 1 else betas
        )
        self.posterior_mean_coef1 = betas * np.sqrt(self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        self.posterior_mean_coef2 = (1.0 - self.alphas_cumprod_prev) * np.sqrt(alphas) / (1.0 - self.alphas_cumprod)
        self.log_betas = np.log(betas)
        self._device_cache: dict[tuple[str, str], Tensor] = {}

    @property
    def num_timesteps(self) -> int:
        """T, the number of steps of this (possibly respaced) process."""
        return int(self.betas.shape[0])

    def respaced(self, section_counts: int | str) -> GaussianDiffusion:
        """The process visiting only ``space_timesteps(T, section_counts)``, with abar kept at those steps.

        Same loss type and variance parametrization; the model still receives original-step times.
        Respacing an already respaced process composes the maps.
        """
        keep = space_timesteps(self.num_timesteps, section_counts)
        betas, local_map = respace_betas(self.alphas_cumprod, keep)
        return GaussianDiffusion(
            betas, self.learn_sigma, self.loss_type, self.timestep_map[local_map], self.original_num_steps
        )

    def on_device(self, device: torch.device | str) -> GaussianDiffusion:
        """Copy every schedule array to ``device`` now, into the cache the steps read (else filled at first use).
        For a compiled function: torch.compile traces the first use's insertion into the cache and recompiles on
        the next call, whose guard sees the cache changed (measured: every compiled sampling job compiled twice).
        Values are unchanged. Returns self."""
        device = torch.empty(0, device=device).device  # "cuda" -> "cuda:0", as a tensor on it names its device
        for name, value in vars(self).items():
            if isinstance(value, np.ndarray):
                self._device_cache.setdefault((name, str(device)), torch.as_tensor(value, device=device))
        return self

    # -- helpers -----------------------------------------------------------------------------------
    def _extract(self, name: str, t: Tensor, like: Tensor) -> Tensor:
        """``getattr(self, name)[t]`` as a [B, 1, ..., 1] tensor with ``like``'s dtype and device."""
        key = (name, str(t.device))
        if key not in self._device_cache:
            self._device_cache[key] = torch.as_tensor(getattr(self, name), device=t.device)
        values = self._device_cache[key][t].to(like.dtype)
        return values.reshape(-1, *([1] * (like.ndim - 1)))

    def scale_timesteps(self, t: Tensor) -> Tensor:
        """Model time for step indices ``t`` [B] int: ``timestep_map[t] * 1000 / original_num_steps``, float32 [B]."""
        mapped = self._extract("timestep_map", t, t).reshape(-1)
        return mapped.to(torch.float32) * (1000.0 / self.original_num_steps)

    # -- forward process ---------------------------------------------------------------------------
    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor | None = None) -> Tensor:
        """Draw x_t ~ q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I) (Ho et al. eq. 4); [B, C, H, W]."""
        noise = torch.randn_like(x0) if noise is None else noise
        scale, std = self._extract("sqrt_alphas_cumprod", t, x0), self._extract("sqrt_one_minus_alphas_cumprod", t, x0)
        return scale * x0 + std * noise

    def q_posterior_mean_variance(self, x0: Tensor, xt: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Mean [B, C, H, W], variance and clipped log-variance [B, 1, 1, 1] of q(x_{t-1} | x_t, x_0), Ho eqs. 6-7."""
        mean = self._extract("posterior_mean_coef1", t, xt) * x0 + self._extract("posterior_mean_coef2", t, xt) * xt
        variance = self._extract("posterior_variance", t, xt)
        return mean, variance, self._extract("posterior_log_variance_clipped", t, xt)

    # -- reverse process ---------------------------------------------------------------------------
    def p_mean_variance(
        self, model: Model, x: Tensor, t: Tensor, y: Tensor | None = None, clip_denoised: bool = True
    ) -> dict[str, Tensor]:
        """The reverse Gaussian p(x_{t-1} | x_t) = N(mean, variance) for x_t = ``x`` [B, C, H, W] at steps ``t`` [B].

        Returns ``mean``, ``variance``, ``log_variance`` (broadcastable to x), ``pred_xstart`` (the x_0
        estimate from eps, clipped to [-1, 1] if ``clip_denoised``) and ``eps`` (the raw eps prediction).
        """
        return self._p_from_output(model(x, self.scale_timesteps(t), y), x, t, clip_denoised)

    def _check_output(self, output: Tensor, x: Tensor) -> int:
        """The number C of image channels, after checking the model output has C (or 2C if learn_sigma)."""
        channels = x.shape[1]
        expected = 2 * channels if self.learn_sigma else channels
        if output.ndim != x.ndim or output.shape[0] != x.shape[0] or output.shape[1] != expected:
            raise MemgenError(
                f"model output has shape {tuple(output.shape)}; expected {expected} channels for x {tuple(x.shape)}"
            )
        return channels

    def _p_from_output(self, output: Tensor, x: Tensor, t: Tensor, clip_denoised: bool) -> dict[str, Tensor]:
        channels = self._check_output(output, x)
        eps = output[:, :channels]
        if self.learn_sigma:  # LEARNED_RANGE, Improved DDPM eq. 15: log Sigma = frac log beta + (1-frac) log beta~
            frac = (output[:, channels:] + 1.0) / 2.0
            log_variance = frac * self._extract("log_betas", t, x) + (1.0 - frac) * self._extract(
                "posterior_log_variance_clipped", t, x
            )
            variance = torch.exp(log_variance)
        else:  # fixed small: Sigma = beta~_t
            variance = self._extract("posterior_variance", t, x)
            log_variance = self._extract("posterior_log_variance_clipped", t, x)
        # x_0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)   (Ho et al. eq. 4 solved for x_0)
        recip = self._extract("sqrt_recip_alphas_cumprod", t, x)
        pred_xstart = recip * x - self._extract("sqrt_recipm1_alphas_cumprod", t, x) * eps
        if clip_denoised:
            pred_xstart = pred_xstart.clamp(-1.0, 1.0)
        mean, _, _ = self.q_posterior_mean_variance(pred_xstart, x, t)  # mu_theta = mu~(x_0_hat, x_t)
        return {
            "mean": mean, "variance": variance, "log_variance": log_variance, "pred_xstart": pred_xstart, "eps": eps
        }

    # -- variational bound and training losses -----------------------------------------------------
    def vb_terms_bpd(
        self, model: Model, x0: Tensor, xt: Tensor, t: Tensor, y: Tensor | None = None, clip_denoised: bool = False
    ) -> dict[str, Tensor]:
        """Per-sample term L_t of the bound in bits per dimension: ``output`` [B] and ``pred_xstart``.

        L_{t-1} = KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)) for t > 0, and L_0 = -log p(x_0 | x_1) under
        the discretized Gaussian decoder at t = 0 (Ho et al. eq. 5, 13); each is a mean over pixels / ln 2.
        """
        return self._vb_from_output(model(xt, self.scale_timesteps(t), y), x0, xt, t, clip_denoised)

    def _vb_from_output(
        self, output: Tensor, x0: Tensor, xt: Tensor, t: Tensor, clip_denoised: bool
    ) -> dict[str, Tensor]:
        true_mean, _, true_log_variance = self.q_posterior_mean_variance(x0, xt, t)
        p = self._p_from_output(output, xt, t, clip_denoised)
        kl = mean_flat(normal_kl(true_mean, true_log_variance, p["mean"], p["log_variance"])) / math.log(2.0)
        log_likelihood = discretized_gaussian_log_likelihood(x0, p["mean"], 0.5 * p["log_variance"])
        decoder_nll = -mean_flat(log_likelihood) / math.log(2.0)
        return {"output": torch.where(t == 0, decoder_nll, kl), "pred_xstart": p["pred_xstart"]}

    def training_losses(
        self, model: Model, x0: Tensor, t: Tensor, y: Tensor | None = None, noise: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Per-sample losses [B] for clean images ``x0`` [B, C, H, W] in [-1, 1] at steps ``t`` [B] int64.

        ``mse`` = mean over pixels of (eps - eps_hat)^2 (L_simple, Ho et al. eq. 14). HYBRID: ``vb`` =
        (T/1000) L_t in bits/dim computed with the eps channels detached, so it trains only the variance
        channels (Improved DDPM section 3.1), and ``loss`` = mse + vb. SIMPLE: ``vb`` = 0, ``loss`` = mse.
        """
        noise = torch.randn_like(x0) if noise is None else noise
        xt = self.q_sample(x0, t, noise)
        output = model(xt, self.scale_timesteps(t), y)
        channels = self._check_output(output, x0)
        mse = mean_flat((noise - output[:, :channels]) ** 2)
        if self.loss_type is LossType.HYBRID:
            frozen = torch.cat([output[:, :channels].detach(), output[:, channels:]], dim=1)
            vb = self._vb_from_output(frozen, x0, xt, t, clip_denoised=False)["output"]
            vb = vb * (self.num_timesteps / 1000.0)  # improved-diffusion RESCALED_MSE
        else:
            vb = torch.zeros_like(mse)
        return {"loss": mse + vb, "mse": mse, "vb": vb}
