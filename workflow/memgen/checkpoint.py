"""Checkpoints that describe themselves, and the factories that rebuild a model and process from one.

A checkpoint is one ``torch.save`` file (written atomically) holding::

    format, step, width, seed, num_classes, class_names, data_sha256,
    config (the resolved memgen config dict), unet (UNetConfig fields),
    model, ema (state dicts), optimizer (state dict), rng (torch/cuda/numpy states), loss_log (rows)

so sampling rebuilds the network from the file alone (as nanoGPT does) and training resumes from it exactly.
Everything in it is a tensor or a plain container of plain values, so `load` reads it with
``torch.load(weights_only=True)`` (`memgen.torchfile`) and a file from elsewhere cannot run code when read.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from memgen import io, torchfile
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


def load(path: str | Path) -> dict:
    """Load a checkpoint (or training state, or snapshot) on CPU, running nothing in it (`memgen.torchfile`): a
    missing, truncated or foreign file, or one whose pickle asks for more than tensors and plain data, is a one-line
    `MemgenError` naming it. An earlier version's numpy RNG state is converted to today's plain form."""
    path = Path(path)
    if not path.is_file():
        raise MemgenError(f"{path}: checkpoint not found")
    try:
        ckpt = torchfile.load(path)
    except torchfile.Refused:
        raise
    except Exception as err:  # torch raises several types for truncated or non-torch files
        raise MemgenError(f"{path}: not a readable checkpoint ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'truncated?'})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT or "ema" not in ckpt:
        raise MemgenError(f"{path}: not a memgen checkpoint (format {FORMAT} expected)")
    if isinstance(ckpt.get("rng"), dict) and "numpy" in ckpt["rng"]:
        try:
            ckpt["rng"]["numpy"] = numpy_state(ckpt["rng"]["numpy"])
        except ValueError as err:
            raise MemgenError(f"{path}: rng.numpy: {err}") from None
    torchfile.check_plain(path, ckpt)
    return ckpt


def build_model(ckpt: dict, weights: str = "ema"):
    """The UNet of a checkpoint with its EMA (default) or raw weights loaded."""

    cfg = UNetConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in ckpt["unet"].items()})
    if weights not in ckpt:
        raise MemgenError(f"checkpoint has no {weights!r} weights (a snapshot of an earlier memgen keeps only the EMA)")
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
    """The global generators' states, as tensors and plain values (`numpy_state`): torch's CPU generator, numpy's,
    and each visible CUDA device's where this process has started CUDA (a CPU job on a GPU machine does not start
    it for this)."""
    state = {"torch": torch.get_rng_state(), "numpy": numpy_state(np.random.get_state())}
    if torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def numpy_state(state) -> dict:
    """numpy's legacy global generator state as plain data: ``{"bit_generator": "MT19937", "key": int64 [624],
    "pos", "has_gauss", "gauss"}``, from this form or from ``np.random.get_state()``'s tuple (what earlier versions
    saved). Raises ValueError for anything else."""
    if isinstance(state, dict):
        parts = [state.get(k) for k in ("bit_generator", "key", "pos", "has_gauss", "gauss")]
    elif isinstance(state, tuple) and len(state) == 5:
        parts = list(state)
    else:
        raise ValueError(f"not a numpy generator state ({type(state).__name__})")
    name, key, pos, has_gauss, gauss = parts
    key = torch.from_numpy(key.astype(np.int64)) if isinstance(key, np.ndarray) else key
    if name != "MT19937" or not (torch.is_tensor(key) and key.shape == (624,) and not key.is_floating_point()) \
            or not all(isinstance(v, int) for v in (pos, has_gauss)) or not isinstance(gauss, float):
        raise ValueError("not an MT19937 state (MT19937, 624 integer keys, pos, has_gauss, gauss)")
    return {"bit_generator": name, "key": key.to(torch.int64), "pos": pos, "has_gauss": has_gauss, "gauss": gauss}


def set_rng_state(state: dict) -> None:
    """Restore what `rng_state` saved, as far as this process can: the CUDA states of devices it does not see
    (it resumes with fewer GPUs visible than the run that saved, or on CPU) are skipped. Training reseeds every
    draw from (seed, step) anyway, so nothing it draws depends on them."""
    torch.set_rng_state(state["torch"])
    numpy = numpy_state(state["numpy"])
    np.random.set_state((numpy["bit_generator"], numpy["key"].numpy().astype(np.uint32), numpy["pos"],
                         numpy["has_gauss"], numpy["gauss"]))
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
