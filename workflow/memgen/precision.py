"""Numeric precision: the fast path a device supports, a network forward under it, and IEEE float32 matmuls.

A `FastPath` names the speed-ups of a training or sampling run: bf16 autocast of the network (GroupNorm and the
loss stay float32), channels_last activations, ``torch.compile`` and fused AdamW. `resolve_fast_path` turns a
request ("fp32", "bf16", "auto") into the FastPath this device supports; "fp32" is the plain path, bit-identical
to the loop of `memgen.train`. `FastForward` wraps a network so that autocast and the memory format stay inside
it: callers (the diffusion losses, the sampler) see float32 in and float32 out.

`ieee_float32_matmul` pins every float32 matmul backend to IEEE float32 for a block: TF32 (CUDA) and the
bf16/TF32 modes of oneDNN on CPUs with AMX (``torch.backends.mkldnn.matmul.fp32_precision``, or the legacy
``torch.set_float32_matmul_precision("medium")``, which makes a CPU float32 matmul round its inputs to bf16:
relative error 2e-3 instead of 4e-7 measured here) would silently break error bounds derived for float32.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from dataclasses import dataclass

import torch
from torch import nn

from memgen import rates
from memgen.cpu_probe import bf16_conv_kernel, is_native_bf16
from memgen.errors import MemgenError
from memgen.model.unet import forward_flops

PRECISIONS = ("fp32", "bf16")
REQUESTS = ("auto", "fp32", "bf16")
# The matmul backends whose float32 mode can be lowered (torch >= 2.9 names; older torch has the legacy flags).
_MATMUL_BACKENDS = ("cuda.matmul", "mkldnn.matmul")


@dataclass(frozen=True)
class FastPath:
    """The speed-ups of one run. The default is the plain path (float32 eager, default AdamW).

    precision: "fp32" or "bf16" (autocast of the network forward; GroupNorm32 and the losses stay float32).
    channels_last: NHWC activations and conv weights. compile: ``torch.compile`` of the network forward
    (eager fallback if compilation fails). fused_adamw: one fused AdamW kernel (else torch's default: foreach on
    CUDA, the single-tensor loop on CPU).
    """

    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False
    compile_mode: str = "default"  # torch.compile's mode; "reduce-overhead" replays CUDA graphs
    fused_adamw: bool = False

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise MemgenError(f"precision={self.precision!r}: must be one of {', '.join(PRECISIONS)}")

    def describe(self) -> str:
        flags = [name for name in ("channels_last", "compile", "fused_adamw") if getattr(self, name)]
        if self.compile and self.compile_mode != "default":
            flags[flags.index("compile")] = f"compile({self.compile_mode})"
        return "+".join([self.precision, *flags])

    @classmethod
    def parse(cls, text: str) -> FastPath:
        """The FastPath that `describe` wrote as ``text`` ("bf16+compile(reduce-overhead)+fused_adamw")."""
        precision, *flags = text.split("+")
        fields: dict = {"precision": precision}
        for flag in flags:
            name, _, mode = flag.partition("(")
            if name not in ("channels_last", "compile", "fused_adamw") or (mode and name != "compile"):
                raise MemgenError(f"fast path {text!r}: unknown part {flag!r}")
            fields[name] = True
            if mode:
                fields["compile_mode"] = mode.rstrip(")")
        return cls(**fields)


PLAIN = FastPath()


@functools.lru_cache(maxsize=None)
def cpu_has_bf16() -> bool:
    """True if this CPU computes bf16 natively here: a bf16 convolution runs on a oneDNN kernel for AVX512-BF16
    dot products or AMX tiles (`memgen.cpu_probe`: probed once per process, about a millisecond).

    What the CPU does, not its flags: oneDNN may ignore a flag (AMX without the OS's permission, a capped
    ONEDNN_MAX_CPU_ISA) and emulate bf16 instead. The probe is deterministic, so the path, and with it the
    trained weights, never depends on the machine's load. Whether bf16 also *pays* is decided by work size
    (CPU_BF16_MIN_FLOPS), measured with benchmarks/bench_train.py on a Xeon with AMX and an AMD EPYC (Zen 4) with
    AVX512-BF16 and no AMX (benchmarks/README.md): below 1.4 GFLOP per step bf16 lost or tied on one or both.
    """
    kernel = bf16_conv_kernel()
    return kernel is not None and is_native_bf16(kernel)


def device_supports_bf16(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return cpu_has_bf16()
    return False


# Below this many FLOPs per network call bf16 autocast does not pay on CPU: its casts cost as much as the
# matmuls save. Measured with benchmarks/bench_train.py, one thread (benchmarks/README.md). On a 2-core Xeon with
# AMX a train step of 0.19 GFLOP ran at 0.995x the fp32 speed in bf16, 0.75 GFLOP at 1.02x, 1.5 GFLOP at 1.17x,
# 3 GFLOP at 1.23-1.35x, 24 GFLOP at 1.9x, UNet-128 at 32x32 batch 8 (400 GFLOP) at 2.2-2.4x. On an AMD EPYC
# (Zen 4) with AVX512-BF16 and no AMX, bf16 + channels_last + fused AdamW against fp32 + channels_last without
# fused AdamW (results/cpu-amd-2026-12-04, 3-4 runs each; the files' rows were mislabelled "cl-fused", now "cl"):
# 1.12 GFLOP 0.89-1.05x (slower in 3 of 4 runs), 1.49 GFLOP 1.06-1.23x, 6 GFLOP 1.11-1.33x, 24 GFLOP 1.30-1.54x,
# fused AdamW's own ~1.02x included. The line lies between 1.12 and 1.49 GFLOP.
CPU_BF16_MIN_FLOPS = 1.4e9


def resolve_fast_path(device: torch.device | str, requested: str | FastPath = "auto", *,
                      flops: float | None = None, compile: bool | str | None = None,
                      workload: rates.Workload | None = None) -> FastPath:
    """The FastPath for a device and a request.

    requested: "fp32" (the plain path, bit-identical to memgen.train's step), "bf16" (bf16 autocast and the
    device's other speed-ups; refused where the device has no native bf16), "auto" (bf16 where it pays, else
    float32 with the speed-ups that keep float32), or a FastPath (checked and returned).
    flops: FLOPs of one network call as run (a train step's forward + backward, see `unet_flops`); on CPU
    "auto" picks bf16 only from CPU_BF16_MIN_FLOPS up (None: assume it is large).
    compile: None or "auto" = the choice's default (on CUDA with CUDA graphs, mode "reduce-overhead": measured
    on one H100, a UNet-128 step of batch 128 took 0.099 s in fp32 eager, 0.084 s in bf16 eager, 0.061 s compiled
    and 0.045 s compiled with CUDA graphs, the last in a hand-patched run that benchmarks/gpu.sh repeats; never on
    CPU, where compiling the UNet takes longer than the demo's trainings), True/False to force it.

    "auto" on a CPU: channels_last (faster on CPU at every size measured, 1.02-1.25x in fp32) and fused AdamW,
    bf16 with AMX/AVX512-BF16 above the threshold. On CUDA: bf16 where ``torch.cuda.is_bf16_supported()``,
    fused AdamW, compile; channels_last off (CUDA GroupNorm returns NCHW from an NHWC input, pytorch #111824,
    so eager NHWC pays a conversion per norm: benchmarks/gpu.sh measures both).
    workload: the job (`memgen.rates.Workload`); with precision and compile both "auto" on CUDA, the path is
    chosen per width from the measured rates (`measured_choice`).
    """
    device = torch.device(device)
    if isinstance(requested, FastPath):
        if requested.precision == "bf16" and not device_supports_bf16(device):
            raise MemgenError(f"precision=bf16: device {device} has no native bf16 (use fp32 or auto)")
        return requested
    if requested not in REQUESTS:
        raise MemgenError(f"precision={requested!r}: must be one of {', '.join(REQUESTS)}")
    fully_auto = requested == "auto" and compile in (None, "auto")
    mode = compile if isinstance(compile, str) and compile not in ("auto", "off") else None
    compile = {"auto": None, "off": False}.get(compile, True) if isinstance(compile, str) else compile
    if requested == "fp32":
        return dataclasses.replace(PLAIN, compile=bool(compile), compile_mode=mode or "default")
    bf16 = device_supports_bf16(device)
    if requested == "bf16" and not bf16:
        raise MemgenError(f"precision=bf16: device {device} has no native bf16 (use fp32 or auto)")
    cuda = device.type == "cuda"
    if requested == "auto" and not cuda and flops is not None and flops < CPU_BF16_MIN_FLOPS:
        bf16 = False
    fast = FastPath("bf16" if bf16 else "fp32", channels_last=not cuda,
                    compile=cuda if compile is None else compile, fused_adamw=fused_adamw_supported(device),
                    compile_mode=mode or ("reduce-overhead" if cuda else "default"))
    return measured_choice(device, workload, fast) if fully_auto and cuda else fast


def cuda_chip(device: torch.device) -> str | None:
    """The chip of a CUDA device as `memgen.rates` names it ("H100"), or None without CUDA."""
    return rates.chip_of(torch.cuda.get_device_name(device)) if torch.cuda.is_available() else None


def measured_choice(device: torch.device, workload: rates.Workload | None, default: FastPath) -> FastPath:
    """``default`` (what "auto" picks on CUDA), or the path that the measured rates of this chip show faster for
    ``workload`` (`memgen.rates.choose_path`: only where the default was measured beside it). A sampling job has
    no optimizer: its fused_adamw flag is the default's."""
    chip = cuda_chip(device) if workload is not None else None
    path = rates.choose_path(chip, workload) if chip else None
    if path is None:
        return default
    chosen = FastPath.parse(path)
    return dataclasses.replace(chosen, fused_adamw=default.fused_adamw) if workload.kind == "sample" else chosen


def unet_flops(unet_cfg, batch: int, backward: bool) -> float:
    """FLOPs of one UNet forward (x3 with ``backward``: the backward pass costs twice the forward) of ``batch``
    images, as ``torch.utils.flop_counter.FlopCounterMode`` counts them (`memgen.model.unet.forward_flops`)."""
    return float(forward_flops(unet_cfg)) * batch * (3 if backward else 1)


def fused_adamw_supported(device: torch.device) -> bool:
    """Fused AdamW exists for CUDA and (torch >= 2.4) CPU tensors."""
    try:
        from torch.optim.optimizer import _get_fused_kernels_supported_devices
    except ImportError:
        return device.type == "cuda"
    return device.type in _get_fused_kernels_supported_devices()


def make_adamw(params, device: torch.device, fast: FastPath, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW, fused where asked and supported; otherwise torch's default (foreach on CUDA, the single-tensor
    loop on CPU), which is what `memgen.train` builds: the plain path stays bit-identical to it."""
    fused = fast.fused_adamw and fused_adamw_supported(torch.device(device))
    return torch.optim.AdamW(list(params), lr=lr, weight_decay=weight_decay, **({"fused": True} if fused else {}))


class FastForward(nn.Module):
    """``net(x, t, y)`` under a FastPath: float32 [B, C, H, W] in, float32 contiguous [B, C', H, W] out.

    With bf16 the forward runs under ``torch.autocast(dtype=bfloat16)`` (GroupNorm32 normalises in float32)
    and its output is cast to float32, so whatever the caller computes from it (the hybrid loss, the reverse
    step) runs in float32 outside autocast. With channels_last the input is converted to NHWC (the net's conv
    weights must be converted once by the caller: ``net.to(memory_format=torch.channels_last)``).
    """

    def __init__(self, net: nn.Module, fast: FastPath, device_type: str):
        super().__init__()
        self.net, self.fast, self.device_type = net, fast, device_type

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.fast.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.fast.precision == "bf16":
            with torch.autocast(self.device_type, dtype=torch.bfloat16):
                out = self.net(x, t, y)
        else:
            out = self.net(x, t, y)
        return out.float().contiguous()


def _backend(path: str):
    obj = torch.backends
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj if hasattr(obj, "fp32_precision") else None


@contextlib.contextmanager
def ieee_float32_matmul():
    """Every float32 matmul inside the block is IEEE float32 (no TF32, no bf16 passes); state restored after.

    torch >= 2.9: sets ``fp32_precision = "ieee"`` on the CUDA and oneDNN matmul backends (reading those
    attributes gives the effective mode, whichever API set it). Older torch: the legacy flags
    ``torch.backends.cuda.matmul.allow_tf32`` and ``torch.set_float32_matmul_precision("highest")``.
    """
    backends = [b for b in (_backend(p) for p in _MATMUL_BACKENDS) if b is not None]
    if backends:
        saved = [b.fp32_precision for b in backends]
        try:
            for b in backends:
                b.fp32_precision = "ieee"
            yield
        finally:
            for b, value in zip(backends, saved):
                b.fp32_precision = value
        return
    old_precision, old_tf32 = torch.get_float32_matmul_precision(), torch.backends.cuda.matmul.allow_tf32
    try:
        torch.set_float32_matmul_precision("highest")
        torch.backends.cuda.matmul.allow_tf32 = False
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old_tf32
        torch.set_float32_matmul_precision(old_precision)


def lowest_float32_matmul_precision() -> None:
    """Set every float32 matmul backend to its fastest, least precise mode (for tests of the guard above)."""
    torch.set_float32_matmul_precision("medium")  # the legacy API: TF32 on CUDA, bf16 on oneDNN CPUs
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    for path, mode in (("cuda.matmul", "tf32"), ("mkldnn.matmul", "bf16")):
        backend = _backend(path)
        if backend is not None:
            backend.fp32_precision = mode
