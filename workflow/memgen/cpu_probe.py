"""What this CPU does with bf16: the oneDNN kernel that a small bf16 convolution really runs on.

CPU flags say what the silicon offers, not what torch does with it: oneDNN picks its kernels from CPUID, the OS's
permission for AMX tile state, ``ONEDNN_MAX_CPU_ISA`` and its own heuristics, and may ignore a request (a float32
matmul with ``fp32_precision = "bf16"`` stays float32 on a CPU without AMX: measured on an AMD EPYC with
AVX512-BF16, relative error 4e-7 against 2e-3 with AMX). So the probe runs one bf16 convolution (the UNet's
dominant op) under oneDNN's verbose mode and reads the kernel name from the trace oneDNN prints, e.g.::

    onednn_verbose,v1,primitive,exec,cpu,convolution,jit_bf16:avx512_core_bf16,forward_training,...   native
    onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx512_core_amx,forward_training,...  native
    onednn_verbose,v1,primitive,exec,cpu,convolution,jit_bf16:avx512_core,forward_training,...         emulated

(the last with ``ONEDNN_MAX_CPU_ISA=AVX512_CORE`` on the same EPYC). On a CPU without AVX-512 torch does not
hand bf16 convolutions to oneDNN at all: no trace line, no native kernel.
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
import tempfile
from typing import Callable

import torch

# oneDNN ISA names (its cpu_isa_t, the part after ':' in a kernel name) that compute bf16 in hardware:
# AVX512-BF16 dot products (avx512_core_bf16), AMX tiles (avx512_core_amx, _amx_fp16), AVX10 (bf16 built in).
# Not matched: avx512_core (bf16 emulated with integer ops), avx2_vnni_2 (bf16 conversions only, unmeasured).
_NATIVE_BF16_ISA = re.compile(r"bf16|amx|avx10")


def onednn_trace(run: Callable[[], object]) -> str:
    """The lines oneDNN's verbose mode prints while ``run()`` executes ('' where torch has no oneDNN).

    oneDNN writes them with C stdio to file descriptor 1, so fd 1 is pointed at a temporary file for the call
    (Python's and C's buffers flushed on both sides); anything else the process prints meanwhile lands there too.
    """
    if not torch.backends.mkldnn.is_available():
        return ""
    sys.stdout.flush()
    with tempfile.TemporaryFile() as trace:
        saved = os.dup(1)
        try:
            os.dup2(trace.fileno(), 1)
            with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                run()
        finally:
            _flush_c_stdio()
            os.dup2(saved, 1)
            os.close(saved)
        trace.seek(0)
        return trace.read().decode("utf-8", errors="replace")


def _flush_c_stdio() -> None:
    try:
        ctypes.CDLL(None).fflush(None)  # fflush(NULL): every C output stream of the process
    except (OSError, AttributeError, TypeError):  # no C library handle (Windows): oneDNN flushes its own lines
        pass


def convolution_kernels(trace: str) -> list[str]:
    """The kernel names of the convolutions executed in a oneDNN verbose ``trace`` ('jit_bf16:avx512_core_bf16')."""
    kernels = []
    for line in trace.splitlines():
        fields = line.split(",")
        if fields[0] in ("onednn_verbose", "dnnl_verbose") and "exec" in fields and "convolution" in fields:
            at = fields.index("convolution") + 1
            if at < len(fields):
                kernels.append(fields[at])
    return kernels


def is_native_bf16(kernel: str) -> bool:
    """True if a oneDNN kernel name ('impl:isa') runs on an ISA that computes bf16 in hardware."""
    return bool(_NATIVE_BF16_ISA.search(kernel.rsplit(":", 1)[-1]))


def bf16_conv_kernel() -> str | None:
    """The oneDNN kernel a 3x3 bf16 convolution of 16 channels at 8x8 runs on here, or None if none ran."""
    x = torch.zeros(1, 16, 8, 8, dtype=torch.bfloat16)
    w = torch.zeros(16, 16, 3, 3, dtype=torch.bfloat16)
    try:
        kernels = convolution_kernels(onednn_trace(lambda: torch.nn.functional.conv2d(x, w, padding=1)))
    except (RuntimeError, OSError):  # no bf16 convolution on this build, or fd 1 cannot be redirected
        return None
    return kernels[0] if kernels else None
