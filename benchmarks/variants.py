"""The training variants of bench_train.py and bench_pack.py, named by what they switch on.

A name is "plain" (``FastPath()``: what `memgen.train` runs with ``train.precision: fp32``), "fast" (what it runs
with the defaults: ``resolve_fast_path(device, "auto")``, which never compiles on a CPU), or "-"-joined parts
after an optional base ("plain" or "fast"; plain if left out), each switching one thing on:

    bf16      bf16 autocast of the network (memgen.precision)
    cl        channels_last activations and conv weights
    fused     fused AdamW
    compile   torch.compile of the network forward, mode "default"
    graphs    torch.compile in mode "reduce-overhead" (CUDA graphs on CUDA; on a CPU Inductor skips the graphs)
    regional  torch.compile of each ResBlock on its own instead of the whole network (with compile or graphs:
              regional compilation, blocks of one shape share their compiled code)
    ftz       denormals flushed to zero while the variant runs (``torch.set_flush_denormal``)
    t2        two torch threads while the variant runs (its images per core are per two cores)
    m12       the UNet with channel_mult [1, 2] (two levels) instead of the config's (the demo's [1, 2, 2])

Aliases of the older names: compile = fast-compile, compile-graphs = fast-graphs. The FastPath is built by keyword:
positional arguments shifted once when ``compile_mode`` was added, and the variants then built something else
than their names said (tests/test_benchmarks.py builds each and checks).
"""

from __future__ import annotations

import dataclasses

import torch

from memgen.precision import PLAIN, FastPath, resolve_fast_path

PARTS = ("bf16", "cl", "fused", "compile", "graphs", "regional", "ftz", "t2", "m12")
ALIASES = {"compile": "fast-compile", "compile-graphs": "fast-graphs"}
EXAMPLES = ("plain", "fast", "compile", "compile-graphs", "bf16", "bf16-cl", "bf16-cl-fused", "fused", "cl",
            "cl-fused", "cl-fused-compile", "bf16-cl-fused-compile", "fast-compile-regional", "fast-ftz", "fast-t2")
_FIELDS = (("bf16", "precision", "bf16"), ("cl", "channels_last", True), ("fused", "fused_adamw", True))


def variant_parts(name: str) -> tuple[str, frozenset[str]]:
    """(base, parts) of a variant name: "bf16-cl-fused" -> ("plain", {"bf16", "cl", "fused"}). Raises ValueError
    naming an unknown or repeated part."""
    base, *parts = ALIASES.get(name, name).split("-")
    if base not in ("plain", "fast"):
        base, parts = "plain", [base, *parts]
    unknown = [p for p in parts if p not in PARTS]
    if unknown or len(set(parts)) != len(parts):
        raise ValueError(f"variant {name!r}: parts must be distinct, from {', '.join(PARTS)} (after an optional "
                         f"base plain|fast); got {unknown or parts}")
    if "regional" in parts and not {"compile", "graphs"} & set(parts):
        raise ValueError(f"variant {name!r}: regional needs compile or graphs")
    return base, frozenset(parts)


def eager_variant(name: str) -> str:
    """The variant without its compile parts ("compile-graphs" -> "fast", "cl-fused-compile" -> "cl-fused")."""
    base, parts = variant_parts(name)
    kept = sorted(parts - {"compile", "graphs", "regional"}, key=PARTS.index)
    return "-".join(kept if kept and base == "plain" else [base, *kept])


def variant_path(name: str, device: torch.device, flops: float) -> FastPath:
    """The FastPath of variant ``name`` at a step of ``flops`` FLOPs on ``device`` (the runtime parts regional,
    ftz and t2 are not part of it: see `regional`, `Runtime`)."""
    base, parts = variant_parts(name)
    path = resolve_fast_path(device, "auto", flops=flops, compile=False) if base == "fast" else PLAIN
    fields: dict = {field: value for part, field, value in _FIELDS if part in parts}
    if parts & {"compile", "graphs"}:
        fields.update(compile=True, compile_mode="reduce-overhead" if "graphs" in parts else "default")
    return dataclasses.replace(path, **fields)


def variant_config(name: str, config: dict) -> dict:
    """The config the variant's model is built from: ``config``, or with m12 a copy with channel_mult [1, 2]."""
    if "m12" not in variant_parts(name)[1]:
        return config
    return {**config, "model": {**config["model"], "channel_mult": [1, 2]}}


def regional(name: str) -> bool:
    return "regional" in variant_parts(name)[1]


def describe(name: str, path: FastPath) -> str:
    """The path as `FastPath.describe` writes it, plus the runtime parts ("fp32+compile+regional+t2")."""
    extra = [p for p in ("regional", "ftz", "t2", "m12") if p in variant_parts(name)[1]]
    return "+".join([path.describe(), *extra])


class Runtime:
    """The process-wide settings of a variant (threads, flush-denormal), set around each of its calls and restored:
    ``with Runtime(name): step(...)``. ``cores``: the cores one call keeps busy."""

    def __init__(self, name: str):
        parts = variant_parts(name)[1]
        self.threads = 2 if "t2" in parts else None
        self.ftz = "ftz" in parts
        self.cores = self.threads or 1

    def __enter__(self) -> Runtime:
        if self.threads:
            self._threads = torch.get_num_threads()
            torch.set_num_threads(self.threads)
        if self.ftz:
            torch.set_flush_denormal(True)
        return self

    def __exit__(self, *exc) -> None:
        if self.threads:
            torch.set_num_threads(self._threads)
        if self.ftz:
            torch.set_flush_denormal(False)
