"""The architecture of an openai/improved-diffusion UNet, read from its state dict's shapes alone.

The reference (``improved_diffusion/unet.py``, ``UNetModel``; Nichol & Dhariwal 2021) saves bare state dicts
(``torch.save(model.state_dict())``, files ``model<step>.pt`` and ``ema_<rate>_<step>.pt``, train_util.py) that
carry no config. Its module names are memgen's (`memgen.model.unet`), so the shapes tell:

- width (``model_channels``) and input channels: ``input_blocks.0.0.weight`` [width, 3, 3, 3];
- levels: one more than the strided-conv Downsamples (``input_blocks.<i>.0.op.weight``);
- residual blocks per level: the ResBlocks (``input_blocks.<i>.0.in_layers.2.weight``) before the first Downsample;
- channel multipliers: each level's ResBlock output channels / width;
- attention levels: the levels whose blocks hold ``input_blocks.<i>.1.qkv.weight``;
- learned sigma: ``out.2.weight`` has 6 output channels (3: fixed variance);
- label-embedding rows: ``label_emb.weight`` [rows, 4 width] (the reference hard-codes 1000 when class_cond);
- scale-shift norm: ``emb_layers.1.weight`` gives 2x the block's channels (FiLM) or 1x (added).

What shapes cannot tell (image size, attention heads: qkv is [3C, C, 1] for any head count; GroupNorm groups;
dropout) comes from the caller; `unet_config` checks it against the shapes, and `check_shapes` compares every
key and shape with the memgen UNet so built. Every failure is a one-line `MemgenError` naming the key or flag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

from memgen.errors import MemgenError
from memgen.model.config import DEFAULT_CHANNEL_MULT, UNetConfig

Shapes = Mapping[str, tuple[int, ...]]
FIRST_CONV = "input_blocks.0.0.weight"
OUT_CONV = "out.2.weight"
LABEL_EMB = "label_emb.weight"
# train_util.py TrainLoop.save: f"model{step:06d}.pt" and f"ema_{rate}_{step:06d}.pt".
_MODEL_NAME = re.compile(r"^model(\d+)\.pt$")
_EMA_NAME = re.compile(r"^ema_(\d*\.?\d+)_(\d+)\.pt$")


@dataclass(frozen=True)
class Architecture:
    """What the state dict's shapes fix. ``attention_levels`` index levels from 0 (full resolution)."""

    width: int
    in_channels: int
    channel_mult: tuple[int, ...]
    num_res_blocks: int
    attention_levels: tuple[int, ...]
    learn_sigma: bool
    label_rows: int  # 0: unconditional
    use_scale_shift_norm: bool


def parse_step(filename: str) -> tuple[int, float | None]:
    """(step, EMA rate) from a reference file name: model500000.pt -> (500000, None),
    ema_0.9999_500000.pt -> (500000, 0.9999); any other name -> (0, None), as the reference's
    parse_resume_step_from_filename falls back to 0."""
    if m := _MODEL_NAME.match(filename):
        return int(m.group(1)), None
    if m := _EMA_NAME.match(filename):
        return int(m.group(2)), float(m.group(1))
    return 0, None


def _shape(shapes: Shapes, key: str, ndim: int) -> tuple[int, ...]:
    if key not in shapes:
        raise MemgenError(f"{key}: missing (an improved-diffusion UNet has it)")
    if len(shapes[key]) != ndim:
        raise MemgenError(f"{key}: shape {list(shapes[key])}, expected {ndim} dimensions")
    return tuple(shapes[key])


def _input_levels(shapes: Shapes) -> list[list[tuple[int, int, bool]]]:
    """The down path as levels of ResBlocks (block index, output channels, has attention)."""
    present = {int(k.split(".")[1]) for k in shapes if re.match(r"^input_blocks\.\d+\.", k)}
    levels: list[list[tuple[int, int, bool]]] = [[]]
    for i in range(1, max(present) + 1):
        if i not in present:
            raise MemgenError(f"input_blocks.{i}: no weights (an avg-pool Downsample, conv_resample=False?); "
                              "memgen's UNet downsamples with a strided conv (op.weight)")
        if f"input_blocks.{i}.0.op.weight" in shapes:
            levels.append([])
        elif f"input_blocks.{i}.0.in_layers.2.weight" in shapes:
            out = _shape(shapes, f"input_blocks.{i}.0.in_layers.2.weight", 4)[0]
            levels[-1].append((i, out, f"input_blocks.{i}.1.qkv.weight" in shapes))
        else:
            raise MemgenError(f"input_blocks.{i}: neither a ResBlock (0.in_layers.2.weight) nor a Downsample "
                              "(0.op.weight)")
    return levels


def _level_layout(levels: list[list[tuple[int, int, bool]]], width: int) -> tuple[int, tuple[int, ...]]:
    """(num_res_blocks, channel_mult) of the down path; refuses levels of unequal depth or width."""
    depth = len(levels[0])
    if depth == 0:
        raise MemgenError("input_blocks.1: a Downsample right after the first conv; no ResBlock at full resolution")
    mult = []
    for level in levels:
        first = f"input_blocks.{level[0][0]}" if level else "the last Downsample"
        if len(level) != depth:
            raise MemgenError(f"{first}: starts a level of {len(level)} ResBlocks, the first level has {depth}")
        channels = {out for _, out, _ in level}
        if len(channels) != 1 or level[0][1] % width:
            raise MemgenError(f"{first}.0.in_layers.2.weight: level channels {sorted(channels)} are not one "
                              f"multiple of the width {width}")
        mult.append(level[0][1] // width)
    return depth, tuple(mult)


def infer_architecture(shapes: Shapes) -> Architecture:
    """Read the fixed part of the architecture from ``shapes`` (state-dict key -> tensor shape)."""
    if FIRST_CONV not in shapes:
        some = ", ".join(list(shapes)[:3]) or "none"
        raise MemgenError(f"no {FIRST_CONV}: not an improved-diffusion UNet state dict (first keys: {some})")
    width, in_channels = _shape(shapes, FIRST_CONV, 4)[:2]
    levels = _input_levels(shapes)
    num_res_blocks, channel_mult = _level_layout(levels, width)
    out_channels = _shape(shapes, OUT_CONV, 4)[0]
    if out_channels not in (in_channels, 2 * in_channels):
        raise MemgenError(f"{OUT_CONV}: {out_channels} output channels; expected {in_channels} (fixed sigma) or "
                          f"{2 * in_channels} (learned sigma)")
    label_rows = _shape(shapes, LABEL_EMB, 2)[0] if LABEL_EMB in shapes else 0
    emb_key = f"input_blocks.{levels[0][0][0]}.0.emb_layers.1.weight"
    emb_out, level0 = _shape(shapes, emb_key, 2)[0], channel_mult[0] * width
    if emb_out not in (level0, 2 * level0):
        raise MemgenError(f"{emb_key}: {emb_out} outputs; expected {2 * level0} (scale-shift norm) or {level0}")
    return Architecture(
        width=width, in_channels=in_channels, channel_mult=channel_mult, num_res_blocks=num_res_blocks,
        attention_levels=tuple(n for n, level in enumerate(levels) if any(a for _, _, a in level)),
        learn_sigma=out_channels == 2 * in_channels, label_rows=label_rows, use_scale_shift_norm=emb_out != level0)


def reference_image_size(arch: Architecture) -> int | None:
    """The image size for which the reference's create_model builds ``arch.channel_mult``, or None."""
    sizes = [size for size, mult in DEFAULT_CHANNEL_MULT.items() if mult == arch.channel_mult]
    return sizes[0] if sizes else None


def _check_image_size(arch: Architecture, image_size: int | None) -> int:
    """``image_size`` (or the reference's size for this channel_mult), checked against the levels."""
    ref = reference_image_size(arch)
    if image_size is None:
        if ref is None:
            raise MemgenError(f"--image-size: needed, the inferred channel_mult {arch.channel_mult} is none of "
                              f"the reference's (by image size: {DEFAULT_CHANNEL_MULT})")
        return ref
    downsamplings = len(arch.channel_mult) - 1
    if image_size < 4 or image_size % 2**downsamplings:
        raise MemgenError(f"--image-size {image_size}: must be >= 4 and divisible by {2**downsamplings} for the "
                          f"{downsamplings} Downsamples of input_blocks")
    if image_size in DEFAULT_CHANNEL_MULT and ref != image_size:
        raise MemgenError(f"--image-size {image_size}: the reference builds channel_mult "
                          f"{DEFAULT_CHANNEL_MULT[image_size]} at that size, input_blocks have {arch.channel_mult}")
    return image_size


def _check_divides(flag: str, value: int, channels: dict[str, int]) -> None:
    """Refuse ``value`` unless it divides every channel count (key -> channels)."""
    for key, ch in channels.items():
        if ch % value:
            raise MemgenError(f"{flag} {value}: does not divide the {ch} channels of {key}")


def unet_config(arch: Architecture, *, image_size: int | None, num_heads: int, norm_groups: int,
                dropout: float) -> UNetConfig:
    """The memgen `UNetConfig` of ``arch`` plus what the shapes cannot tell, checked against the shapes.

    ``image_size`` None takes the reference's size for the channel multipliers (32: (1,2,2,2), 64: (1,2,3,4),
    256: (1,1,2,2,4,4)). Attention levels become feature-map resolutions image_size / 2**level.
    """
    from memgen.runtime import check_int

    check_int("--num-heads", num_heads, 1)
    check_int("--norm-groups", norm_groups, 1)
    if not 0.0 <= dropout < 1.0:
        raise MemgenError(f"--dropout {dropout}: must lie in [0, 1)")
    size = _check_image_size(arch, None if image_size is None else check_int("--image-size", image_size, 4))
    levels = [arch.width * m for m in arch.channel_mult]
    _check_divides("--norm-groups", norm_groups, {FIRST_CONV: arch.width} | {
        f"level {n} (x{m})": ch for n, (m, ch) in enumerate(zip(arch.channel_mult, levels))})
    attention = {f"the attention blocks of level {n}": levels[n] for n in arch.attention_levels}
    _check_divides("--num-heads", num_heads, attention | {"middle_block.1.qkv.weight": levels[-1]})
    return UNetConfig(
        image_size=size, width=arch.width, num_res_blocks=arch.num_res_blocks, channel_mult=arch.channel_mult,
        attention_resolutions=tuple(size // 2**n for n in arch.attention_levels), num_heads=num_heads,
        dropout=float(dropout), norm_groups=norm_groups, learn_sigma=arch.learn_sigma, num_classes=arch.label_rows,
        use_scale_shift_norm=arch.use_scale_shift_norm, in_channels=arch.in_channels).validate()


def check_shapes(cfg: UNetConfig, shapes: Shapes) -> None:
    """Refuse unless ``shapes`` has exactly the keys and shapes of memgen's UNet(cfg) (built on the meta device)."""
    import torch

    from memgen.model import UNet

    with torch.device("meta"):
        want = {k: tuple(v.shape) for k, v in UNet(cfg).state_dict().items()}
    for key in want:
        if key not in shapes:
            raise MemgenError(f"{key}: missing, the inferred architecture has it")
    for key in shapes:
        if key not in want:
            raise MemgenError(f"{key}: not part of the inferred architecture (another layout or model?)")
        if tuple(shapes[key]) != want[key]:
            raise MemgenError(f"{key}: shape {list(shapes[key])}, the inferred architecture needs {list(want[key])}")


def describe(arch: Architecture, cfg: UNetConfig) -> list[str]:
    """Human-readable lines: what the shapes said, and what was taken from flags."""
    ref = reference_image_size(arch)
    size_src = (f"the reference's size for channel_mult {arch.channel_mult}" if ref == cfg.image_size
                else "--image-size")
    ds = [2**n for n in arch.attention_levels]
    return [
        "inferred from the state dict:",
        f"  width (num_channels)  {arch.width}  ({FIRST_CONV}; {arch.in_channels} input channels)",
        f"  levels                {len(arch.channel_mult)}, channel_mult {arch.channel_mult}",
        f"  num_res_blocks        {arch.num_res_blocks} per level (down), {arch.num_res_blocks + 1} (up)",
        f"  attention             levels {list(arch.attention_levels)} (downsample factors {ds}) + middle block",
        f"  learn_sigma           {arch.learn_sigma} ({OUT_CONV}: {cfg.out_channels} output channels)",
        f"  label embedding       {arch.label_rows or 'none (unconditional)'}"
        + (f" rows ({LABEL_EMB})" if arch.label_rows else ""),
        f"  use_scale_shift_norm  {arch.use_scale_shift_norm} (emb_layers give "
        f"{2 if arch.use_scale_shift_norm else 1}x the block channels)",
        "not in the state dict (flags; defaults are the reference's):",
        f"  image_size            {cfg.image_size} ({size_src})",
        f"  attention_resolutions {list(cfg.attention_resolutions)} (image_size / downsample factor)",
        f"  num_heads             {cfg.num_heads} (--num-heads; qkv [3C, C, 1] fits any head count dividing C)",
        f"  norm_groups           {cfg.norm_groups} (--norm-groups; the reference hard-codes 32)",
        f"  dropout               {cfg.dropout} (--dropout; no effect on sampling)",
    ]
