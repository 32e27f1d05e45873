"""One optimization step of the diffusion model: hybrid loss, backward, AdamW, EMA; plain or fast.

`TrainStep` owns the optimizer and holds the plain model and its EMA copy (what a checkpoint stores: their
state dicts never carry ``torch.compile``'s ``_orig_mod.`` prefix). A call takes the step's random draws
(x0, t, noise; dropout draws from the global generator) and returns the per-sample losses as device tensors:
nothing in it waits for the device, so the caller reads losses back only when it logs.

On the plain path (``FastPath()``) a step is the inner step of `memgen.train` operation for operation, so the
results are bit-identical to it (tests/test_step.py). The fast path (see `memgen.precision`) runs the network
forward under bf16 autocast with channels_last and ``torch.compile``, while the loss terms are computed in
float32 from the network output cast to float32 (Improved DDPM's L_vb holds logs of small variances, which bf16
would round); AdamW is fused. Compilation is lazy, and with CUDA graphs (mode "reduce-overhead", torch's cudagraph
trees) the first call compiles and warms up, the second records the graphs and the third is the first replay: if any
of these first `GUARDED_CALLS` compiled calls raises, one line is logged, the random state is put back and the step
runs eagerly from then on (the step in flight included: nothing of it was applied, AdamW runs after the guard).
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Callable

import torch
from torch import Tensor, nn

from memgen.compile_cache import first_compile_lock, use_shared_cache
from memgen.precision import PLAIN, FastForward, FastPath, make_adamw

# Compiled calls run under the eager fallback: compile + warm-up, CUDA-graph recording, first replay.
GUARDED_CALLS = 3


class TrainStep:
    """Step ``x0 [B, C, H, W]`` (float32 in [-1, 1]), ``t [B]`` int64, ``noise`` like x0, ``y [B]`` int64 | None.

    model, ema: the plain UNet and its EMA copy (same architecture, on ``device``); diffusion: the training
    `GaussianDiffusion`; lr, weight_decay: AdamW's; ema_rate: EMA decay (ema <- ema + (1 - rate)(model - ema)).
    Attributes for checkpointing: ``model``, ``ema``, ``optimizer`` (load state into them to resume).
    compile_backend: torch.compile's backend where ``fast.compile`` ("eager" traces with Dynamo and runs the traced
    graph without Inductor: the CPU smoke run of benchmarks/gpu.sh checks the code path with it in seconds). Inductor
    compiles into the cache that every job of this machine kind shares (`memgen.compile_cache`).
    """

    def __init__(self, model: nn.Module, ema: nn.Module, diffusion, *, lr: float, weight_decay: float,
                 ema_rate: float, device: torch.device | str, fast: FastPath = PLAIN,
                 log: Callable[[str], None] = print, compile_backend: str = "inductor"):
        self.device, self.fast, self.log = torch.device(device), fast, log
        self.model, self.ema, self.diffusion, self.ema_rate = model, ema, diffusion, float(ema_rate)
        if fast.channels_last:  # conv weights NHWC; the EMA too, so the foreach lerp sees matching strides
            model.to(memory_format=torch.channels_last)
            ema.to(memory_format=torch.channels_last)
        self.optimizer = make_adamw(model.parameters(), self.device, fast, lr, weight_decay)
        self._model_params = list(model.parameters())
        self._ema_params = list(ema.parameters())
        self._eager = model if fast == PLAIN else FastForward(model, fast, self.device.type)
        self._net = self._eager
        self._guarded = GUARDED_CALLS if fast.compile else 0  # compiled calls still under the fallback
        self.compile_cache = None  # the directory of Inductor's on-disk caches (memgen.compile_cache)
        if fast.compile:
            if compile_backend == "inductor":
                self.compile_cache = use_shared_cache()
            self._net = torch.compile(self._eager, dynamic=False, mode=fast.compile_mode, backend=compile_backend)

    def _forward_backward(self, x0: Tensor, t: Tensor, noise: Tensor, y: Tensor | None) -> dict[str, Tensor]:
        losses = self.diffusion.training_losses(self._net, x0, t, y=y, noise=noise)
        loss = losses["loss"].mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        return losses

    def _guarded_step(self, x0, t, noise, y) -> dict[str, Tensor]:
        """A compiled step among the first GUARDED_CALLS; on any error fall back to eager, random state restored."""
        call = GUARDED_CALLS - self._guarded + 1
        cpu_rng = torch.get_rng_state()
        cuda_rng = torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None
        try:
            with self._first_compile(call, x0, t, noise, y):
                losses = self._forward_backward(x0, t, noise, y)
            self._guarded -= 1
            return losses
        except Exception as err:  # noqa: BLE001 - any failure of the compiler or the graphs means: run eagerly
            first = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
            what = ("compiling", "recording CUDA graphs", "replaying CUDA graphs")[min(call, 3) - 1]
            self.log(f"torch.compile failed on compiled call {call} ({what}; {type(err).__name__}: {first}); "
                     "running eager")
            self._net, self._guarded = self._eager, 0
            torch.set_rng_state(cpu_rng)
            if cuda_rng is not None:
                torch.cuda.set_rng_state(cuda_rng, self.device)
            return self._forward_backward(x0, t, noise, y)

    def _first_compile(self, call: int, *inputs):
        """The first compiled call under `memgen.compile_cache.first_compile_lock`, keyed by what is compiled (the
        network's layout, the path, the inputs' shapes and dtypes, torch's version): a job of the same shape
        started meanwhile waits, then loads what this one compiled."""
        if call != 1 or self.compile_cache is None:
            return contextlib.nullcontext()
        shapes = [(tuple(x.shape), str(x.dtype)) if x is not None else None for x in inputs]
        what = repr((repr(self._eager), self.fast.describe(), shapes, str(self.device), torch.__version__))
        return first_compile_lock(self.compile_cache, hashlib.sha256(what.encode()).hexdigest()[:20])

    @property
    def compiled(self) -> bool:
        """True while the step runs through ``torch.compile`` (False after a fallback)."""
        return self._net is not self._eager

    def __call__(self, x0: Tensor, t: Tensor, noise: Tensor, y: Tensor | None = None) -> dict[str, Tensor]:
        """One step; returns ``loss``, ``mse``, ``vb`` (per sample, [B], detached, float32, on the device)."""
        if self._guarded:
            losses = self._guarded_step(x0, t, noise, y)
        else:
            losses = self._forward_backward(x0, t, noise, y)
        self.optimizer.step()
        with torch.no_grad():
            torch._foreach_lerp_(self._ema_params, self._model_params, 1.0 - self.ema_rate)
        return {name: value.detach() for name, value in losses.items()}
