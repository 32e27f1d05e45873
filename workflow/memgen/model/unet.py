"""The improved-diffusion UNet (Nichol & Dhariwal 2021), written from its description.

Yoon et al. 2023 train the CIFAR-10 UNet of openai/improved-diffusion unchanged; the parameter counts of
this module equal that repository's exactly (52,546,438 at width 128, unconditional, 32x32; see
anchors.md section 1.3 and tests/test_model.py). Layout at 32x32: four levels (32, 16, 8, 4) with
channels width*(1,2,2,2), ``num_res_blocks`` ResBlocks per level going down and ``num_res_blocks + 1``
coming up (each eating one skip connection), attention at 16x16 and 8x8, and a
ResBlock-Attention-ResBlock middle. The layers that write into a residual stream (each ResBlock's last
conv, each attention ``proj_out``, the final conv) start at zero, so a fresh model outputs exactly 0.
Submodule names and the per-head qkv layout follow the reference, so its state dicts should load
(untested against a released checkpoint).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from memgen.errors import MemgenError

# improved-diffusion script_util.py hard-codes channel_mult per image size; other sizes raise there too.
DEFAULT_CHANNEL_MULT: dict[int, tuple[int, ...]] = {
    32: (1, 2, 2, 2),
    64: (1, 2, 3, 4),
    256: (1, 1, 2, 2, 4, 4),
}
_POSITIVE_INTS = ("image_size", "width", "num_res_blocks", "num_heads", "norm_groups", "in_channels")


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of the UNet; defaults are the README CIFAR-10 flags of improved-diffusion.

    ``attention_resolutions`` are feature-map sizes in pixels (the reference's "16,8"), not downsample
    factors. ``num_classes=0`` is unconditional; the reference hard-codes 1000 classes when class_cond.
    """

    image_size: int
    width: int
    num_res_blocks: int = 3
    channel_mult: tuple[int, ...] | None = None
    attention_resolutions: tuple[int, ...] = (16, 8)
    num_heads: int = 4
    dropout: float = 0.3
    norm_groups: int = 32
    learn_sigma: bool = True
    num_classes: int = 0
    use_scale_shift_norm: bool = True
    in_channels: int = 3

    def __post_init__(self) -> None:
        # Configs parsed from YAML carry lists; store tuples so the frozen config stays hashable.
        for name in ("channel_mult", "attention_resolutions"):
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))

    @property
    def resolved_channel_mult(self) -> tuple[int, ...]:
        """``channel_mult``, or the reference default for ``image_size`` when it is None."""
        if self.channel_mult is not None:
            return tuple(self.channel_mult)
        if self.image_size not in DEFAULT_CHANNEL_MULT:
            known = sorted(DEFAULT_CHANNEL_MULT)
            raise MemgenError(f"model.image_size={self.image_size}: no default channel_mult (known sizes "
                              f"{known}); give model.channel_mult explicitly")
        return DEFAULT_CHANNEL_MULT[self.image_size]

    @property
    def resolutions(self) -> tuple[int, ...]:
        """Feature-map size in pixels at each level, e.g. (32, 16, 8, 4)."""
        return tuple(self.image_size // 2**i for i in range(len(self.resolved_channel_mult)))

    @property
    def level_channels(self) -> tuple[int, ...]:
        """Channel count at each level, ``width * mult``."""
        return tuple(self.width * m for m in self.resolved_channel_mult)

    @property
    def out_channels(self) -> int:
        """``in_channels`` (epsilon) plus as many variance-interpolation channels when ``learn_sigma``."""
        return self.in_channels * (2 if self.learn_sigma else 1)

    def validate(self) -> UNetConfig:
        """Raise MemgenError (one line naming the field and value) if the net cannot be built; else self."""
        for name in _POSITIVE_INTS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise MemgenError(f"model.{name}={value!r}: must be a positive integer")
        if isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int) or self.num_classes < 0:
            raise MemgenError(f"model.num_classes={self.num_classes!r}: must be 0 (unconditional) or positive")
        if not 0.0 <= self.dropout < 1.0:
            raise MemgenError(f"model.dropout={self.dropout!r}: must lie in [0, 1)")
        mult = self.resolved_channel_mult
        if not mult or any(isinstance(m, bool) or not isinstance(m, int) or m <= 0 for m in mult):
            raise MemgenError(f"model.channel_mult={mult!r}: must be a non-empty tuple of positive integers")
        factor = 2 ** (len(mult) - 1)
        if self.image_size % factor:
            raise MemgenError(f"model.image_size={self.image_size}: not divisible by {factor}, needed for the "
                              f"{len(mult) - 1} downsamplings of channel_mult={mult}")
        for ch in self.level_channels:
            if ch % self.norm_groups:
                raise MemgenError(f"model.width={self.width}: channel count {ch} is not divisible by norm_groups="
                                  f"{self.norm_groups}; use a multiple of {self.norm_groups} or lower "
                                  f"model.norm_groups")
        for res in self.attention_resolutions:
            if res not in self.resolutions:
                raise MemgenError(f"model.attention_resolutions={self.attention_resolutions}: {res} is not a "
                                  f"feature-map resolution; choose from {self.resolutions}")
        # Attention runs at the listed levels and always in the middle block (deepest level).
        attn = [ch for ch, r in zip(self.level_channels, self.resolutions) if r in self.attention_resolutions]
        for ch in attn + [self.level_channels[-1]]:
            if ch % self.num_heads:
                raise MemgenError(f"model.num_heads={self.num_heads}: channel count {ch} of an attention block "
                                  f"is not divisible by it")
        return self


def count_parameters(module: nn.Module) -> int:
    """Number of scalar parameters (works on meta-device modules too)."""
    return sum(p.numel() for p in module.parameters())


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding [B] -> [B, dim]: cos then sin at frequencies max_period^(-i/half), as in the reference."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return F.pad(emb, (0, dim % 2))


def _zeroed(module: nn.Module) -> nn.Module:
    """Zero all parameters of ``module`` (the reference's zero_module) and return it."""
    for p in module.parameters():
        p.detach().zero_()
    return module


class GroupNorm32(nn.GroupNorm):
    """GroupNorm computed in float32 and cast back, as the reference does, so low-precision autocast is safe."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).type(x.dtype)


class ResBlock(nn.Module):
    """[B, c_in, H, W], emb [B, E] -> [B, c_out, H, W]; FiLM from the embedding when use_scale_shift_norm."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, cfg: UNetConfig):
        super().__init__()
        self.scale_shift = cfg.use_scale_shift_norm
        g = cfg.norm_groups
        self.in_layers = nn.Sequential(GroupNorm32(g, c_in), nn.SiLU(), nn.Conv2d(c_in, c_out, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, 2 * c_out if self.scale_shift else c_out))
        self.out_layers = nn.Sequential(GroupNorm32(g, c_out), nn.SiLU(), nn.Dropout(cfg.dropout),
                                        _zeroed(nn.Conv2d(c_out, c_out, 3, padding=1)))
        self.skip_connection = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.in_layers(x)
        e = self.emb_layers(emb).type(h.dtype)[:, :, None, None]
        norm, rest = self.out_layers[0], self.out_layers[1:]
        if self.scale_shift:  # h = norm(h) * (1 + scale) + shift
            scale, shift = e.chunk(2, dim=1)
            h = norm(h) * (1 + scale) + shift
        else:  # h = norm(h + e)
            h = norm(h + e)
        return self.skip_connection(x) + rest(h)


class AttentionBlock(nn.Module):
    """Multi-head self-attention over the H*W positions, residual: [B, C, H, W] -> [B, C, H, W].

    The qkv channels are laid out per head as (q, k, v), each C/num_heads wide, like the reference's
    QKVAttention; the logit scale is 1/sqrt(C/num_heads).
    """

    def __init__(self, channels: int, num_heads: int, norm_groups: int):
        super().__init__()
        self.num_heads = num_heads
        self.norm = GroupNorm32(norm_groups, channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj_out = _zeroed(nn.Conv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, *spatial = x.shape
        flat = x.reshape(b, c, -1)
        qkv = self.qkv(self.norm(flat)).reshape(b, self.num_heads, 3 * c // self.num_heads, -1)
        q, k, v = (z.transpose(-1, -2) for z in qkv.chunk(3, dim=2))  # each [B, heads, T, C/heads]
        h = F.scaled_dot_product_attention(q, k, v)
        h = h.transpose(-1, -2).reshape(b, c, -1)
        return (flat + self.proj_out(h)).reshape(b, c, *spatial)


class Downsample(nn.Module):
    """Strided 3x3 conv: [B, C, H, W] -> [B, C, H/2, W/2]."""

    def __init__(self, channels: int):
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Upsample(nn.Module):
    """Nearest-neighbour x2 then 3x3 conv: [B, C, H, W] -> [B, C, 2H, 2W]."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class EmbedSequential(nn.Sequential):
    """A Sequential that hands the embedding to the ResBlocks in it."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        return x


def _input_blocks(cfg: UNetConfig, emb_dim: int) -> tuple[nn.ModuleList, list[int]]:
    """The down path and the channel count of each skip connection it leaves (one per block)."""
    blocks = nn.ModuleList([EmbedSequential(nn.Conv2d(cfg.in_channels, cfg.width, 3, padding=1))])
    skips, ch = [cfg.width], cfg.width
    for level, (c_out, res) in enumerate(zip(cfg.level_channels, cfg.resolutions)):
        for _ in range(cfg.num_res_blocks):
            layers: list[nn.Module] = [ResBlock(ch, c_out, emb_dim, cfg)]
            ch = c_out
            if res in cfg.attention_resolutions:
                layers.append(AttentionBlock(ch, cfg.num_heads, cfg.norm_groups))
            blocks.append(EmbedSequential(*layers))
            skips.append(ch)
        if level < len(cfg.level_channels) - 1:
            blocks.append(EmbedSequential(Downsample(ch)))
            skips.append(ch)
    return blocks, skips


def _output_blocks(cfg: UNetConfig, emb_dim: int, skips: list[int]) -> nn.ModuleList:
    """The up path: num_res_blocks + 1 ResBlocks per level, each on [h, skip] concatenated."""
    skips, blocks, ch = list(skips), nn.ModuleList(), cfg.level_channels[-1]
    for level in reversed(range(len(cfg.level_channels))):
        c_out, res = cfg.level_channels[level], cfg.resolutions[level]
        for i in range(cfg.num_res_blocks + 1):
            layers: list[nn.Module] = [ResBlock(ch + skips.pop(), c_out, emb_dim, cfg)]
            ch = c_out
            if res in cfg.attention_resolutions:
                layers.append(AttentionBlock(ch, cfg.num_heads, cfg.norm_groups))
            if level > 0 and i == cfg.num_res_blocks:
                layers.append(Upsample(ch))
            blocks.append(EmbedSequential(*layers))
    return blocks


class UNet(nn.Module):
    """Noise-prediction UNet ``f(x, t, y)`` of improved-diffusion (Nichol & Dhariwal 2021)."""

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = config.validate()
        w, emb_dim = config.width, 4 * config.width
        self.time_embed = nn.Sequential(nn.Linear(w, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.label_emb = nn.Embedding(config.num_classes, emb_dim) if config.num_classes else None
        self.input_blocks, skips = _input_blocks(config, emb_dim)
        ch = config.level_channels[-1]
        self.middle_block = EmbedSequential(ResBlock(ch, ch, emb_dim, config),
                                            AttentionBlock(ch, config.num_heads, config.norm_groups),
                                            ResBlock(ch, ch, emb_dim, config))
        self.output_blocks = _output_blocks(config, emb_dim, skips)
        self.out = nn.Sequential(GroupNorm32(config.norm_groups, w), nn.SiLU(),
                                 _zeroed(nn.Conv2d(w, config.out_channels, 3, padding=1)))

    def _embed(self, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        """Time (plus class) embedding [B, 4*width]."""
        if (y is None) != (self.label_emb is None):
            need = "needs class labels y" if y is None else "is unconditional but got class labels y"
            raise MemgenError(f"model.num_classes={self.config.num_classes}: the UNet {need}")
        emb = self.time_embed(timestep_embedding(t, self.config.width))
        if self.label_emb is not None:
            if y.shape != t.shape:
                raise MemgenError(f"class labels y have shape {tuple(y.shape)}, expected {tuple(t.shape)}")
            emb = emb + self.label_emb(y)
        return emb

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """x [B, in_channels, H, W], t [B] float timesteps already rescaled to [0, 1000), y [B] int64 or None.

        Returns [B, out_channels, H, W]: epsilon, then (learn_sigma) the variance-interpolation channels.
        """
        emb = self._embed(t, y)
        h, hs = x, []
        for block in self.input_blocks:
            h = block(h, emb)
            hs.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, hs.pop()], dim=1), emb)
        return self.out(h)
