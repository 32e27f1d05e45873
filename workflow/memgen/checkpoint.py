"""Checkpoints that describe themselves, and the factories that rebuild a model and process from one.

A checkpoint is one ``torch.save`` file (written atomically) holding::

    format, step, width, seed, num_classes, class_names, data_sha256,
    config (the resolved memgen config dict), unet (UNetConfig fields),
    model, ema (state dicts), optimizer (state dict), rng (torch/cuda/numpy states), loss_log (rows)

so sampling rebuilds the network from the file alone (as nanoGPT does) and training resumes from it exactly.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from memgen import io
from memgen.config import DiffusionConfig, training_spec
from memgen.diffusion import GaussianDiffusion, LossType, cosine_betas, linear_betas
from memgen.errors import MemgenError
from memgen.model import UNet, UNetConfig

FORMAT = 1
# Keys of the training spec that may differ between a checkpoint and the run resuming it: the step budget can
# be extended, and logging/checkpoint cadence does not change the model.
RESUMABLE_DIFFERENCES = {("train", "steps"), ("train", "checkpoint_every"), ("train", "log_every")}


def build_diffusion(cfg: DiffusionConfig):
    """The `GaussianDiffusion` for a diffusion config (full T; respace it for sampling)."""

    betas_fn = {"cosine": cosine_betas, "linear": linear_betas}[cfg.schedule]
    loss_type = {"hybrid": LossType.HYBRID, "simple": LossType.SIMPLE}[cfg.loss]
    learn_sigma = loss_type is LossType.HYBRID
    return GaussianDiffusion(betas_fn(cfg.steps), learn_sigma=learn_sigma, loss_type=loss_type)


def build_diffusion_for(config: dict):
    """The process of a checkpoint's resolved config dict (``ckpt["config"]``)."""
    return build_diffusion(DiffusionConfig(**config["diffusion"]))


def load(path: str | Path, map_location="cpu") -> dict:
    """Load a checkpoint; a missing, truncated or foreign file is a one-line `MemgenError`."""
    path = Path(path)
    if not path.is_file():
        raise MemgenError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:  # torch raises several types for truncated or non-torch files
        raise MemgenError(f"{path}: not a readable checkpoint ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'truncated?'})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or "ema" not in ckpt:
        raise MemgenError(f"{path}: not a memgen checkpoint (format {FORMAT} expected)")
    return ckpt


def build_model(ckpt: dict, weights: str = "ema"):
    """The UNet of a checkpoint with its EMA (default) or raw weights loaded."""

    cfg = UNetConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in ckpt["unet"].items()})
    if weights not in ckpt:
        raise MemgenError(f"checkpoint has no {weights!r} weights (snapshots keep only the EMA)")
    model = UNet(cfg)
    model.load_state_dict(ckpt[weights])
    return model


def spec_difference(a: dict, b: dict, prefix: tuple = ()) -> tuple | None:
    """The first key path where two training specs differ (ignoring RESUMABLE_DIFFERENCES), or None."""
    for key in sorted(set(a) | set(b)):
        path = prefix + (key,)
        if path in RESUMABLE_DIFFERENCES:
            continue
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            found = spec_difference(va, vb, path)
            if found:
                return found
        elif va != vb:
            return path
    return None


def check_resumable(ckpt: dict, path: Path, config, width: int, seed: int, data_sha256: str) -> None:
    """Refuse to resume from a checkpoint written for another cell, config or training set."""
    mine = {"width": width, "seed": seed, "data_sha256": data_sha256}
    for key, value in mine.items():
        if ckpt.get(key) != value:
            raise MemgenError(
                f"{path}: checkpoint is for {key}={ckpt.get(key)!r}, this run has {key}={value!r}; delete it to start over"
            )
    diff = spec_difference(training_spec(ckpt["config"]), training_spec(config))
    if diff:
        key = ".".join(diff)
        raise MemgenError(f"{path}: checkpoint was written with another config (differs at {key}); delete it to start over")
    if ckpt["step"] > config.train.steps:
        raise MemgenError(f"{path}: checkpoint is at step {ckpt['step']}, beyond train.steps={config.train.steps}")


def rng_state() -> dict:
    """The global generators' states: torch's CPU generator, numpy's, and each visible CUDA device's where this
    process has started CUDA (a CPU job on a GPU machine does not start it for this)."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state()}
    if torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what `rng_state` saved, as far as this process can: the CUDA states of devices it does not see
    (it resumes with fewer GPUs visible than the run that saved, or on CPU) are skipped. Training reseeds every
    draw from (seed, step) anyway, so nothing it draws depends on them."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    saved = state.get("cuda") or []
    if saved and torch.cuda.is_available():
        for index in range(min(len(saved), torch.cuda.device_count())):
            torch.cuda.set_rng_state(saved[index], index)


def make(*, step, model, ema, optimizer, config, unet_cfg, width, seed, class_names, data_sha256, loss_log) -> dict:
    """Assemble a checkpoint dict (tensors copied to CPU)."""
    cpu = lambda sd: {k: v.detach().to("cpu", copy=True) for k, v in sd.items()}  # noqa: E731
    return {
        "format": FORMAT,
        "step": step,
        "width": width,
        "seed": seed,
        "num_classes": unet_cfg.num_classes,
        "class_names": dict(class_names),
        "data_sha256": data_sha256,
        "config": config.to_dict(),
        "unet": dataclasses.asdict(unet_cfg),
        "model": cpu(model.state_dict()),
        "ema": cpu(ema.state_dict()),
        "optimizer": optimizer.state_dict(),
        "rng": rng_state(),
        "loss_log": list(loss_log),
    }


def save(path: str | Path, ckpt: dict) -> None:
    io.torch_save(path, ckpt)
