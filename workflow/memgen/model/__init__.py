"""The noise-prediction network: the improved-diffusion UNet (Nichol & Dhariwal 2021)."""

from memgen.model.unet import DEFAULT_CHANNEL_MULT, UNet, UNetConfig, count_parameters, timestep_embedding

__all__ = ["DEFAULT_CHANNEL_MULT", "UNet", "UNetConfig", "count_parameters", "timestep_embedding"]
