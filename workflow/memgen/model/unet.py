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

import torch
import torch.nn.functional as F
from torch import nn

from memgen.errors import MemgenError
from memgen.model.config import DEFAULT_CHANNEL_MULT, UNetConfig  # noqa: F401 (re-exported)

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


def forward_flops(cfg: UNetConfig) -> int:
    """FLOPs of one forward of one image, as ``torch.utils.flop_counter.FlopCounterMode`` counts them: 2 per
    multiply-add of every convolution, linear layer and attention product (biases, norms and pointwise ops are
    not counted). Worked out from the layout built above, without building the net: counting with
    FlopCounterMode costs about a second per process (its first forward sets up torch's meta kernels), paid by
    every training and sampling job; tests/test_precision.py holds this count equal to FlopCounterMode's."""
    emb = 4 * cfg.width

    def conv(c_in: int, c_out: int, res: int, k: int = 3) -> int:
        return 2 * c_in * c_out * k * k * res * res

    def res_block(c_in: int, c_out: int, res: int) -> int:
        film = 2 * c_out if cfg.use_scale_shift_norm else c_out
        skip = 0 if c_in == c_out else conv(c_in, c_out, res, k=1)
        return conv(c_in, c_out, res) + 2 * emb * film + conv(c_out, c_out, res) + skip

    def attention(c: int, res: int) -> int:
        t = res * res  # qkv and proj_out (1x1 convs), then q @ k^T and softmax @ v over t positions
        return conv(c, 3 * c, res, k=1) + conv(c, c, res, k=1) + 2 * 2 * t * t * c

    levels = list(zip(cfg.level_channels, cfg.resolutions))
    flops = 2 * (cfg.width * emb + emb * emb)  # time embedding MLP
    flops += conv(cfg.in_channels, cfg.width, cfg.image_size)
    skips, ch = [cfg.width], cfg.width
    for level, (c_out, res) in enumerate(levels):  # as _input_blocks
        for _ in range(cfg.num_res_blocks):
            flops += res_block(ch, c_out, res) + (attention(c_out, res) if res in cfg.attention_resolutions else 0)
            ch = c_out
            skips.append(ch)
        if level < len(levels) - 1:
            flops += conv(ch, ch, res // 2)  # stride-2 conv: output positions at half the resolution
            skips.append(ch)
    deepest = cfg.resolutions[-1]
    flops += 2 * res_block(ch, ch, deepest) + attention(ch, deepest)  # middle block
    for level in reversed(range(len(levels))):  # as _output_blocks
        c_out, res = levels[level]
        for i in range(cfg.num_res_blocks + 1):
            flops += res_block(ch + skips.pop(), c_out, res)
            ch = c_out
            flops += attention(ch, res) if res in cfg.attention_resolutions else 0
            flops += conv(ch, ch, 2 * res) if level > 0 and i == cfg.num_res_blocks else 0
    return flops + conv(cfg.width, cfg.out_channels, cfg.image_size)


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
