"""The reverse chain of a batch of samples compiled once and, on CUDA, replayed from one captured CUDA graph.

The eager chain (`memgen.diffusion.sample_seeded`) launches every operation of the UNet and of the noise at every
reverse step: on a GPU a sampling step of the paper's UNets is bound by those launches (H100: UNet-128 at batch
256 ran at 1.1x fp32's speed in bf16). `CompiledSampler` runs the same chain from one function of (x_t, step
index): ``torch.compile`` fuses its operations (the 10 Philox rounds and Box-Muller of the noise become one
kernel), and on CUDA with mode "reduce-overhead" that function is captured in a ``torch.cuda.CUDAGraph`` once and
replayed T times per batch. The step index and the sample indices are device tensors
(`memgen.diffusion.noise.step_noise`, `memgen.diffusion.sampler.reverse_step`), so one compilation and one
capture serve every step and every batch, and the noise is the eager chain's: the same Philox key and counters,
so the same integers, turned into normals by the same float64 Box-Muller (traced without Inductor, the chain is the
eager one bit for bit: tests/test_sample_compiled.py); the network's arithmetic differs by the compiler's fusions,
as in a compiled training step.
The capture keeps its own static batch: a shorter last batch is padded with copies of its last sample, and cut.

If compiling, capturing or the first replays fail, one line is logged and that batch and all later ones run the
eager chain (the function is pure: nothing of a failed call is kept).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from memgen.diffusion import GaussianDiffusion, sample_seeded
from memgen.diffusion.noise import counter_normal, run_key, step_noise
from memgen.diffusion.sampler import reverse_step

CAPTURE_MODE = "reduce-overhead"  # as torch.compile's mode name: CUDA graphs (memgen captures them itself)


class CompiledSampler:
    """``sampler(indices, y)`` -> x_0 float32 [n, C, H, W] on ``device`` for samples ``indices`` (int [n],
    n <= ``batch_size``) of run ``seed``, labels ``y`` int64 [n] or None: what ``sample_seeded`` returns, compiled.

    net: the denoiser ``net(x, t, y)`` in eval mode (a `memgen.precision.FastForward` for bf16).
    mode: torch.compile's mode; "reduce-overhead" means the compiled step captured in a CUDA graph (on CUDA; on a
    CPU it compiles in the default mode). backend: torch.compile's backend ("eager" traces without Inductor: a
    fast check of the code path, used by the CPU smoke run of benchmarks).
    """

    def __init__(self, diffusion: GaussianDiffusion, net: Callable, *, seed: int, shape_chw: tuple[int, int, int],
                 batch_size: int, device: torch.device | str, mode: str = CAPTURE_MODE, backend: str = "inductor",
                 clip_denoised: bool = True, log: Callable[[str], None] = print):
        self.diffusion, self.net, self.seed, self.log = diffusion.on_device(device), net, int(seed), log
        self.key, self.shape_chw, self.batch_size = run_key(seed), tuple(shape_chw), int(batch_size)
        self.device, self.clip_denoised = torch.device(device), clip_denoised
        self.capture = self.device.type == "cuda" and mode == CAPTURE_MODE
        inner_mode = "default" if mode == CAPTURE_MODE else mode
        self._fn = torch.compile(self._step, dynamic=False, mode=inner_mode, backend=backend)
        self._graph: torch.cuda.CUDAGraph | None = None
        self._static: dict[str, Tensor] = {}
        self.failed, self._proven = False, False

    @property
    def compiled(self) -> bool:
        """True while batches run compiled (False after a fallback to the eager chain)."""
        return not self.failed

    def _step(self, x: Tensor, i: Tensor, indices: Tensor, y: Tensor | None) -> Tensor:
        z = step_noise(self.key, indices, i, self.shape_chw)
        return reverse_step(self.diffusion, self.net, x, i, z, y=y, clip_denoised=self.clip_denoised)

    def __call__(self, indices: np.ndarray, y: Tensor | None = None) -> Tensor:
        indices = np.asarray(indices, dtype=np.int64)
        if not self.failed:
            try:
                out = self._run(indices, y)
                self._proven = True
                return out
            except Exception as err:  # noqa: BLE001 - a failure of the compiler or the graph means: run eagerly
                if self._proven:
                    raise  # it worked before: this is not the compiler's failure
                first = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
                self.log(f"compiled sampling failed ({type(err).__name__}: {first}); sampling eagerly")
                self.failed, self._graph, self._static = True, None, {}
        return sample_seeded(self.diffusion, self.net, self.seed, indices, self.shape_chw, device=self.device, y=y,
                             clip_denoised=self.clip_denoised)

    def _run(self, indices: np.ndarray, y: Tensor | None) -> Tensor:
        n = len(indices)
        if not 1 <= n <= self.batch_size:
            raise ValueError(f"{n} samples in a batch of at most {self.batch_size}")
        pad = self.batch_size - n if self.capture else 0
        idx = torch.from_numpy(np.concatenate([indices, np.repeat(indices[-1:], pad)])).to(self.device)
        if y is not None and pad:
            y = torch.cat([y, y[-1:].expand(pad)])
        x = counter_normal(self.key, idx, 0, math.prod(self.shape_chw)).reshape(len(idx), *self.shape_chw)  # x_T
        steps = self.diffusion.num_timesteps
        with torch.no_grad():
            if not self.capture:
                for i in range(steps):
                    x = self._fn(x, torch.full((), i, dtype=torch.int64, device=self.device), idx, y)
                return x[:n]
            if self._graph is None:
                self._record(x, idx, y)
            static = self._static
            static["x"].copy_(x)
            static["indices"].copy_(idx)
            if y is not None:
                static["y"].copy_(y)
            for i in range(steps):
                static["i"].fill_(i)
                self._graph.replay()
            return static["x"][:n].clone()

    def _record(self, x: Tensor, idx: Tensor, y: Tensor | None) -> None:
        """Compile (and warm up) the step on a side stream, then capture x <- step(x, i) in a CUDA graph (the
        recipe of torch.cuda.graphs: warm-up iterations on a side stream before capture)."""
        static = {"x": x.clone(), "i": torch.zeros((), dtype=torch.int64, device=self.device), "indices": idx.clone(),
                  "y": None if y is None else y.clone()}
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(2):  # compiles on the first call; the second warms cuBLAS/cuDNN workspaces
                self._fn(static["x"], static["i"], static["indices"], static["y"])
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static["x"].copy_(self._fn(static["x"], static["i"], static["indices"], static["y"]))
        self._graph, self._static = graph, static
