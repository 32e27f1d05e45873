"""The training loop: AdamW, EMA, a fixed step budget, atomic checkpoints and automatic, exact resume.

Every random draw of step ``s`` (batch indices, timesteps, noise, dropout) comes from generators seeded by
``(seed, s)`` alone, so a run resumed from a checkpoint at step ``s`` continues exactly as the uninterrupted run
would (on CPU with deterministic kernels). SIGTERM or SIGUSR1 (SLURM's preemption and ``sbatch --signal``) ends
the current step, writes the resumable checkpoint at that step and raises `Preempted`, so a preempted job loses
at most one step and its rerun resumes exactly; during the run's first step (which compiles, about 90 s on a GPU)
it stops at once, as the checkpoint on disk is then current (`memgen.preemption`). Batches stream through seeded epoch permutations of the training set,
so a set smaller than the batch simply repeats inside one batch (improved-diffusion's loader yields no batch
then and hangs); ``steps * batch_size / N`` is the number of passes over each image.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from memgen import checkpoint, io
from memgen.errors import MemgenError
from memgen.preemption import Preempted, restoring_signal_handlers, StopBeforeFirstStep, StopSignals
from memgen.precision import resolve_fast_path, unet_flops
from memgen.rates import Workload
from memgen.runtime import STREAM, check_int, hashed_seed, resolve_device, to_model_scale
from memgen.step import TrainStep

LOG = logging.getLogger("memgen")


class BatchStream:
    """Batch ``s`` = positions ``[s*B, (s+1)*B)`` of the endless concatenation of seeded epoch permutations.

    `indices` gives a batch as a numpy array; `device_indices` the same numbers as an int64 tensor on the training
    device, sliced from a block of consecutive batches copied at once: a host-to-device copy per step would make
    the host wait for the device at every step (a copy from pageable memory is synchronous).
    """

    def __init__(self, n: int, batch_size: int, seed: int, salt: tuple[int, ...] = (), chunk_steps: int | None = None):
        self.n, self.batch_size, self.seed, self.salt = n, batch_size, seed, salt
        self.chunk_steps = chunk_steps or max(1, (1 << 18) // batch_size)  # a block holds ~2^18 indices (2 MiB)
        self._cache: dict[int, np.ndarray] = {}
        self._block: tuple[int, int, str, torch.Tensor] | None = None  # (first step, steps, device, indices)

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._cache:
            if len(self._cache) > 64:
                self._cache.clear()
            rng = np.random.default_rng(hashed_seed(self.seed, STREAM.TRAIN_EPOCH, epoch, *self.salt))
            self._cache[epoch] = rng.permutation(self.n)
        return self._cache[epoch]

    def positions(self, start: int, count: int) -> np.ndarray:
        """The training-set indices at positions ``[start, start + count)`` of the stream (int64 [count])."""
        out = []
        while count:
            epoch, offset = divmod(start, self.n)
            take = self._perm(epoch)[offset : offset + count]
            out.append(take)
            count -= len(take)
            start += len(take)
        return np.concatenate(out)

    def indices(self, step: int) -> np.ndarray:
        return self.positions(step * self.batch_size, self.batch_size)

    def device_indices(self, step: int, device: torch.device) -> torch.Tensor:
        """``indices(step)`` as int64 [B] on ``device``: a slice of a block of consecutive steps copied at once
        (from pinned memory, so the host does not wait for CUDA); blocks start at 16 steps and double up to
        ``chunk_steps``, so a short run computes few permutations ahead."""
        if self._block is None or self._block[2] != str(device) or not 0 <= step - self._block[0] < self._block[1]:
            count = min(self.chunk_steps, 2 * self._block[1] if self._block else 16)
            host = torch.from_numpy(self.positions(step * self.batch_size, count * self.batch_size))
            if device.type == "cuda":
                host = host.pin_memory()
            self._block = (step, count, str(device), host.to(device, non_blocking=True))
        offset = (step - self._block[0]) * self.batch_size
        return self._block[3][offset : offset + self.batch_size]


class _Window:
    """Per-step losses of one logging interval, kept on the device (no host sync per step)."""

    def __init__(self, first_step: int):
        self.first_step = first_step
        self.loss, self.mse, self.vb, self.t = [], [], [], []

    def add(self, losses: dict, t: torch.Tensor) -> None:
        self.loss.append(losses["loss"].detach())
        self.mse.append(losses["mse"].detach().mean())
        self.vb.append(losses["vb"].detach().mean())
        self.t.append(t)

    def state(self) -> dict:
        """The pending rows' per-step values (CPU), kept in a checkpoint taken between two log rows."""
        return {"first_step": self.first_step, **{k: [v.cpu() for v in getattr(self, k)] for k in _WINDOW_KEYS}}

    @classmethod
    def restore(cls, state: dict | None, step: int, dev: torch.device) -> _Window:
        window = cls(step)
        if state:  # checkpoints written before this key existed hold no pending values
            window.first_step = state["first_step"]
            for k in _WINDOW_KEYS:
                setattr(window, k, [v.to(dev) for v in state[k]])
        return window

    def first_nonfinite_step(self) -> int | None:
        """The 1-based step number of the first non-finite loss in the window, or None."""
        if not self.loss:
            return None
        bad = ~torch.isfinite(torch.stack([l.mean() for l in self.loss]))
        return self.first_step + int(bad.nonzero()[0, 0]) + 1 if bool(bad.any()) else None

    def row(self, step: int, rate: float, num_timesteps: int) -> dict:
        per = torch.stack(self.loss).double().cpu().numpy()  # [steps, B]
        q = (torch.stack(self.t).cpu().numpy() * 4) // num_timesteps
        row = {"step": step, "loss": float(per.mean()),
               "mse": float(torch.stack(self.mse).double().mean()), "vb": float(torch.stack(self.vb).double().mean())}
        for k in range(4):
            sel = per[q == k]
            row[f"loss_q{k}"] = float(sel.mean()) if sel.size else float("nan")
        row["steps_per_s"] = rate
        return row


def _eta(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rem = divmod(seconds, 3600)
    return f"{h}h{rem // 60:02d}m" if h else f"{rem // 60}m{rem % 60:02d}s"


def label_classes(labels: np.ndarray, conditional: bool | None, source: str = "training labels") -> tuple[int, bool]:
    """(number of classes K, conditional): K = max label + 1; conditional None means K > 1. A class-conditional
    model embeds labels 0..K-1, so labels with gaps (only 0 and 5) are refused instead of training unused rows."""
    num_labels = int(labels.max()) + 1
    if conditional is None:
        conditional = num_labels > 1
    present = np.unique(labels).tolist()
    if conditional and len(present) != num_labels:
        missing = sorted(set(range(num_labels)) - set(present))
        more = "..." if len(missing) > 5 else ""
        raise MemgenError(f"{source}: labels {present[:10]} have gaps (missing {missing[:5]}{more}); a "
                          "class-conditional model needs labels 0..K-1, so relabel them or train unconditionally")
    return num_labels, conditional


@restoring_signal_handlers
def train(
    config,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    width: int,
    seed: int,
    out: Path,
    loss_log: Path,
    state: Path | None = None,
    snapshots: dict[int, Path] | None = None,
    conditional: bool | None = None,
    class_names: dict | None = None,
    device: str = "auto",
    split_b: bool = False,
    log: Callable[[str], None] = LOG.info,
) -> dict:
    """Train one cell and write its final checkpoint ``out`` and loss log ``loss_log`` (Parquet).

    Args:
        config: the `memgen.config.Config` of the run (model, diffusion and train sections are used).
        images: uint8 [N, H, W, 3] training set. labels: int64 [N] class ids 0..K-1.
        conditional: class-conditional (label embedding of K rows) or not; None = conditional iff K > 1.
        state: the resumable checkpoint (default ``<out>.state``); resumed from automatically when present.
        snapshots: step -> path of a checkpoint of the EMA and the raw weights (no optimizer state) written when
            training passes that step (loss gap, memorization onset). They are kept beside the resumable
            checkpoint (``<state>.snapshots/``) until the run ends and moved into place then, so a preempted or killed run (whose declared outputs Snakemake
            deletes) keeps the snapshots it wrote, and its rerun resumes past them.
        split_b: the training set is the second side of a disjoint split (its card says ``split: b``): every
            training stream gets STREAM.SPLIT_B appended, so the two models of a pair share their seed (and their
            sampling noise) but no training randomness: neither initial weights nor batches, t or noise.
    Returns: the final checkpoint dict.
    """
    tc = config.train
    check_int("seed", seed, 0)
    out, loss_log = Path(out), Path(loss_log)
    state = Path(state) if state else out.with_name(out.name + ".state")
    pending = state.with_name(state.name + ".snapshots")  # snapshots until the run ends (see above)
    dev = resolve_device(device)
    n, size = len(images), config.image_size
    if images.shape[1:] != (size, size, 3):
        raise MemgenError(f"training images are {images.shape[1]}x{images.shape[2]}, config image_size={size}")
    num_labels, conditional = label_classes(labels, conditional)
    ucfg = config.unet(width, num_classes=num_labels if conditional else 0)
    data_sha = io.sha256_array(images)

    # Model, EMA copy, optimizer (AdamW as improved-diffusion; no LR schedule).
    salt = (STREAM.SPLIT_B,) if split_b else ()
    torch.manual_seed(hashed_seed(seed, STREAM.TRAIN_INIT, *salt))  # initial weights depend on the seed only
    from memgen.model import UNet

    model = UNet(ucfg).to(dev)
    ema = UNet(ucfg).to(dev)
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    diffusion = checkpoint.build_diffusion(config.diffusion)
    fast = resolve_fast_path(dev, tc.precision, flops=unet_flops(ucfg, tc.batch_size, backward=True),
                             compile=tc.compile, workload=Workload("train", width, size, tc.batch_size, tc.steps))
    trainer = TrainStep(model, ema, diffusion, lr=tc.lr, weight_decay=tc.weight_decay, ema_rate=tc.ema_rate,
                        device=dev, fast=fast, log=log)  # AdamW as improved-diffusion; fast path: memgen.precision
    opt = trainer.optimizer
    rows: list[dict] = []
    step, window_state = 0, None
    if state.exists():
        ckpt = checkpoint.load(state)
        checkpoint.check_resumable(ckpt, state, config, width, seed, data_sha)
        model.load_state_dict(ckpt["model"])
        ema.load_state_dict(ckpt["ema"])
        opt.load_state_dict(ckpt["optimizer"])
        checkpoint.set_rng_state(ckpt["rng"])
        step, rows, window_state = ckpt["step"], list(ckpt["loss_log"]), ckpt.get("window")
        log(f"resumed from {state} at step {step}/{tc.steps}")
    names = class_names or {str(k): str(k) for k in range(num_labels)}

    def snapshot(at: int) -> dict:
        return checkpoint.make(step=at, model=model, ema=ema, optimizer=opt, config=config, unet_cfg=ucfg,
                               width=width, seed=seed, class_names=names, data_sha256=data_sha, loss_log=rows)

    x_all = to_model_scale(images, dev)
    y_all = torch.from_numpy(labels.astype(np.int64)).to(dev)
    stream = BatchStream(n, tc.batch_size, seed, salt)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"training width={width} seed={seed} N={n} classes={num_labels} conditional={conditional} "
        f"params={n_params} device={dev} threads={torch.get_num_threads()} precision={fast.describe()} "
        f"steps={tc.steps} batch={tc.batch_size} "
        f"epochs/image={tc.steps * tc.batch_size / n:.1f} "
        f"{f'compile cache={trainer.compile_cache} ' if trainer.compile_cache else ''}presentations per label="
        f"{[round(tc.steps * tc.batch_size * c / n) for c in np.bincount(labels.astype(np.int64)).tolist()]}")

    def save_state() -> None:
        ckpt = snapshot(step)
        ckpt["window"] = window.state()  # the loss values since the last log row: the resumed log is exact too
        checkpoint.save(state, ckpt)

    window, t0, step0 = _Window.restore(window_state, step, dev), time.perf_counter(), step
    model.train()
    stops = StopSignals(log)  # SIGTERM/SIGUSR1: see StopSignals (before the first step: stop at once)
    try:
        while step < tc.steps:
            # 1. Everything random in this step is seeded by (seed, step): exact resume.
            torch.manual_seed(hashed_seed(seed, STREAM.TRAIN_STEP, step, *salt))
            idx = stream.device_indices(step, dev)  # sliced on the device: no host synchronisation
            x0, y = x_all[idx], (y_all[idx] if conditional else None)
            t = torch.randint(0, diffusion.num_timesteps, (len(idx),), device=dev)  # uniform t
            noise = torch.randn_like(x0)
            # 2. Hybrid (or simple) loss, one AdamW step, EMA update (memgen.step: no host synchronisation).
            losses = trainer(x0, t, noise, y)
            stops.first_step_done()  # from now on a signal is acted on between steps
            step += 1
            window.add(losses, t)
            # 3. Progress line and loss-log row; checkpoint every K steps (atomic, so a kill never corrupts it).
            #    A non-finite loss stops the run before it can reach a checkpoint.
            at_log = step % tc.log_every == 0 or step == tc.steps
            at_ckpt = step % tc.checkpoint_every == 0
            if (at_log or at_ckpt) and (bad := window.first_nonfinite_step()) is not None:
                kept = f"last good checkpoint kept at {state}" if state.exists() else "no checkpoint was written yet"
                raise MemgenError(f"training diverged: non-finite loss at step {bad}; {kept}")
            if at_log:
                elapsed = time.perf_counter() - t0
                rate = (step - step0) / elapsed if elapsed > 0 else float("nan")
                row = window.row(step, rate, diffusion.num_timesteps)
                rows.append(row)
                eta = _eta((tc.steps - step) / rate if rate > 0 else 0)
                log(f"step {step}/{tc.steps} ({100 * step / tc.steps:.0f}%) loss {row['loss']:.4f} "
                    f"mse {row['mse']:.4f} vb {row['vb']:.4f} | {rate:.2f} steps/s | ETA {eta}")
                window = _Window(step)
            if snapshots and step in snapshots:
                snap = snapshot(step)
                del snap["optimizer"]  # the EMA and the raw weights are sampled (training dynamics); no resume
                checkpoint.save(pending / snapshots[step].name, snap)
            if at_ckpt and step < tc.steps:
                save_state()
            if stops.caught:  # 4. SIGTERM/SIGUSR1: checkpoint this step, stop (SLURM's SIGKILL follows after KillWait)
                save_state()
                preempted = Preempted(stops.caught[0], step, state)
                log(str(preempted))
                raise preempted
    except StopBeforeFirstStep as stop:
        preempted = Preempted(stop.signum, step, state, saved=False)
        log(str(preempted))
        raise preempted from None
    finally:
        stops.close()

    final = snapshot(step)
    io.write_parquet(loss_log, pd.DataFrame(rows, columns=_LOG_COLUMNS))
    checkpoint.save(out, final)
    for dest in (snapshots or {}).values():  # written now or by an earlier, interrupted run
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(pending / dest.name, dest)
    shutil.rmtree(pending, ignore_errors=True)
    state.unlink(missing_ok=True)
    log(f"done: {step} steps in {_eta(time.perf_counter() - t0)}; wrote {out}")
    return final


_WINDOW_KEYS = ("loss", "mse", "vb", "t")
_LOG_COLUMNS = ["step", "loss", "mse", "vb", "loss_q0", "loss_q1", "loss_q2", "loss_q3", "steps_per_s"]

