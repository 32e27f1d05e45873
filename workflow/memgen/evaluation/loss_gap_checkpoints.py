"""The loss gap of memgen checkpoints: `memgen.evaluation.loss_gap`'s per-image and per-level tables for a
checkpoint (its model and process rebuilt from the file's config), with the exposure of each snapshot.

What `memgen loss-gap` runs; the per-image table is what the permutation test of the gap needs
(`memgen.analysis.gap_peak`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from memgen import checkpoint
from memgen.errors import MemgenError
from memgen.evaluation.loss_gap import log_snr, noise_levels, per_image_losses, summarize
from memgen.exposure import epochs_per_image
from memgen.runtime import resolve_device

LOG = logging.getLogger("memgen")


def loss_gap_tables(
    ckpt: dict,
    images_train: np.ndarray,
    images_heldout: np.ndarray,
    levels: Sequence[int] | np.ndarray | None = None,
    seed: int = 0,
    labels_train=None,
    labels_heldout=None,
    *,
    k: int = 20,
    weights: str = "ema",
    batch_size: int = 256,
    device: str = "cpu",
    n_noise: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(summary, per_image) for a memgen checkpoint dict, each with a leading ``step`` column (its training step):
    ``denoising_loss_by_level``'s table, and `per_image_losses`' rows (t, split, index, loss) with alpha_bar and
    log_snr, which the permutation test of the gap needs (`memgen.analysis.gap_peak`: train image i and held-out
    image i saw the same noise at the same t, so swapping them is exact).

    The model and process are rebuilt from the checkpoint (``weights`` "ema" or "model"); ``levels`` default
    to ``noise_levels(T, k, schedule)`` of its config. Labels are used only by a class-conditional model,
    which requires them.
    """

    if weights not in ("ema", "model"):
        raise MemgenError(f"weights: expected 'ema' or 'model', got {weights!r}")
    dev = resolve_device(device)
    diffusion = checkpoint.build_diffusion_for(ckpt["config"])
    if levels is None:
        levels = noise_levels(diffusion.num_timesteps, k, ckpt["config"]["diffusion"]["schedule"])
    conditional = ckpt["num_classes"] > 0
    if conditional and (labels_train is None or labels_heldout is None):
        raise MemgenError("labels_train / labels_heldout: the checkpoint is class-conditional and needs labels")
    model = checkpoint.build_model(ckpt, weights).to(dev)
    per_image = per_image_losses(model, diffusion, images_train, images_heldout, levels, seed,
                                 labels_train if conditional else None, labels_heldout if conditional else None,
                                 batch_size, dev, n_noise)
    table = summarize(per_image, diffusion)
    abar = diffusion.alphas_cumprod[per_image["t"].to_numpy()]
    per_image.insert(1, "alpha_bar", abar)
    per_image.insert(2, "log_snr", log_snr(abar))
    for frame in (table, per_image):
        frame.insert(0, "step", np.int64(ckpt["step"]))
    return table, per_image


def loss_gap_table(ckpt: dict, *args, **kwargs) -> pd.DataFrame:
    """The summary of `loss_gap_tables` (arguments as there)."""
    return loss_gap_tables(ckpt, *args, **kwargs)[0]


def _with_exposure(table: pd.DataFrame, ckpt: dict, n_train: int) -> pd.DataFrame:
    """The snapshot's batch size, passes over each training image and draws of training images so far
    (`memgen.exposure.epochs_per_image`), and the model's training ``seed`` (NA when imported), after ``step``."""
    batch = int(ckpt["config"]["train"]["batch_size"])
    table.insert(1, "batch_size", batch)
    table.insert(2, "epochs_per_image", epochs_per_image(ckpt["step"], batch, n_train))
    table.insert(3, "base_image_presentations", ckpt["step"] * batch)
    table.insert(4, "seed", pd.array([ckpt.get("seed")] * len(table), dtype="Int64"))  # <NA>: imported model
    return table


def checkpoints_tables(paths, images_train, images_heldout, labels_train=None, labels_heldout=None, *, seed: int = 0,
                       k: int = 20, device: str = "cpu") -> tuple[pd.DataFrame, pd.DataFrame]:
    """`loss_gap_tables` of every checkpoint file in ``paths`` (snapshots of one run, or models), each concatenated
    over the checkpoints, with the exposure of each snapshot (`_with_exposure`). Labels are passed only to
    class-conditional models."""
    tables, images = [], []
    for path in paths:
        ckpt = checkpoint.load(path)
        cond = ckpt["num_classes"] > 0
        table, per_image = loss_gap_tables(ckpt, images_train, images_heldout, seed=seed, k=k,
                                           labels_train=labels_train if cond else None,
                                           labels_heldout=labels_heldout if cond else None, device=device)
        tables.append(_with_exposure(table, ckpt, len(images_train)))
        images.append(_with_exposure(per_image, ckpt, len(images_train)))
        LOG.info(f"{path}: step {ckpt['step']} evaluated at {k} noise levels")
    return pd.concat(tables, ignore_index=True), pd.concat(images, ignore_index=True)


def checkpoints_table(paths, images_train, images_heldout, labels_train=None, labels_heldout=None, *, seed: int = 0,
                      k: int = 20, device: str = "cpu") -> pd.DataFrame:
    """The summary of `checkpoints_tables` (arguments as there)."""
    return checkpoints_tables(paths, images_train, images_heldout, labels_train, labels_heldout, seed=seed, k=k,
                              device=device)[0]
