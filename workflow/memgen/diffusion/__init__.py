"""Diffusion math: schedules, the Gaussian process and its losses, the sampler, the optimal memorizer.

Three parts with narrow interfaces (STYLE.md #6): the network ``model(x, t, y)``, the process object
``GaussianDiffusion`` (schedule, noising, per-sample losses) and the sampler ``p_sample_loop``, a pure
function fed its noise. Follows improved-diffusion (Nichol & Dhariwal 2021): cosine schedule,
learned-range variance, hybrid loss, timestep respacing.
"""

from memgen.diffusion.gaussian import GaussianDiffusion, LossType
from memgen.diffusion.losses import (
    approx_standard_normal_cdf,
    discretized_gaussian_log_likelihood,
    mean_flat,
    normal_kl,
)
from memgen.diffusion.optimal import EmpiricalOptimalDenoiser
from memgen.diffusion.sampler import PerSampleNoise, p_sample_loop, sample_seed, sample_seeded
from memgen.diffusion.schedule import (
    SCHEDULES,
    cosine_alpha_bar,
    cosine_betas,
    linear_betas,
    named_betas,
    respace_betas,
    space_timesteps,
)

__all__ = [
    "SCHEDULES",
    "EmpiricalOptimalDenoiser",
    "GaussianDiffusion",
    "LossType",
    "PerSampleNoise",
    "approx_standard_normal_cdf",
    "cosine_alpha_bar",
    "cosine_betas",
    "discretized_gaussian_log_likelihood",
    "linear_betas",
    "mean_flat",
    "named_betas",
    "normal_kl",
    "p_sample_loop",
    "respace_betas",
    "sample_seed",
    "sample_seeded",
    "space_timesteps",
]
