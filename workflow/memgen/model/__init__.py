"""The noise-prediction network: the improved-diffusion UNet (Nichol & Dhariwal 2021).

`UNetConfig` loads without torch (config validation needs only it); the network itself is imported on first use.
"""

from memgen.model.config import DEFAULT_CHANNEL_MULT, UNetConfig

__all__ = ["DEFAULT_CHANNEL_MULT", "UNet", "UNetConfig", "count_parameters", "forward_flops", "timestep_embedding"]
_TORCH_PARTS = {"UNet", "count_parameters", "forward_flops", "timestep_embedding"}


def __getattr__(name: str):
    if name in _TORCH_PARTS:
        from memgen.model import unet

        return getattr(unet, name)
    raise AttributeError(f"module 'memgen.model' has no attribute {name!r}")
