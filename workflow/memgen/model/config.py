"""The UNet's configuration: plain data and its validation, importable without torch.

The config check that stops `snakemake -n` on a width the UNet cannot take runs at every Snakefile parse (and
in every SLURM job's re-parse), so it must not pay for importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def reference_default(name: str):
    """The default of a `UNetConfig` field: the improved-diffusion CIFAR-10 value (Table 1), the one home of the
    reference's architecture defaults that the command-line flags and checkpoint imports use."""
    return UNetConfig.__dataclass_fields__[name].default
