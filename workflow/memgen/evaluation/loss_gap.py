"""The denoising-loss gap between training and held-out images, per noise level.

Kaiser & Kollmann (arXiv 2603.13419) report that denoisers progressively overfit the denoising objective: the
loss on held-out images exceeds the loss on training images, most at intermediate noise. Operationally
(reference/anchors.md section 4), for a checkpoint and a grid of levels t_k,

    L(t_k; S) = mean over x_0 in S of  mean_pixels (eps - eps_theta(sqrt(abar_k) x_0 + sqrt(1 - abar_k) eps, t_k))^2

is L_simple (Ho et al. 2020 eq. 14) restricted to t_k, and gap(t_k) = L(t_k; heldout) - L(t_k; train).
The same error in x0-space, the denoiser's error on the clean image, is exactly

    L_x0(t_k; S) = (1 - abar_k) / abar_k * L(t_k; S)     (x0_hat = (x_t - sqrt(1 - abar) eps_theta) / sqrt(abar)),

since x0 - x0_hat = sqrt((1 - abar) / abar) (eps_theta - eps) per pixel. The two weight the noise levels very
differently: a memorizing network predicts the eps of a training image almost exactly at vanishing noise, so its
eps-space gap stays large there, while a network acts as the identity on x0 at vanishing noise, so its x0-space gap
shrinks toward both ends (the empirical optimum, which snaps every point onto a training image, keeps it).

Common random numbers: the noise eps of image i at level t (draw j of ``n_noise``) comes from its own CPU
generator seeded by ``SeedSequence([seed, STREAM.LOSS_GAP_NOISE, t, j, i])``, whichever split the image belongs to. So train
image i and held-out image i see the very same eps, the gap carries no noise-sampling difference between the
splits (exactly paired when both splits have the same size), and swapping the two arrays swaps the two splits'
rows exactly. Results do not depend on ``batch_size`` or ``device`` beyond floating-point kernel differences.

Pure functions: arrays and a model in, a pandas table out; `memgen.evaluation.loss_gap_checkpoints` runs them on
checkpoints, the CLI writes the Parquet.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from memgen.diffusion.gaussian import GaussianDiffusion, Model
from memgen.diffusion.schedule import named_betas
from memgen.errors import MemgenError
from memgen.runtime import STREAM, check_int, resolve_device, seed_state, to_model_scale

SPLITS = ("train", "heldout")
TABLE_COLUMNS = ["t", "alpha_bar", "log_snr", "split", "loss", "loss_sem", "loss_x0", "loss_x0_sem", "n"]


def log_snr(alpha_bar: np.ndarray) -> np.ndarray:
    """log SNR = log(abar / (1 - abar)) = -2 log sigma_equiv, float64, elementwise."""
    a = np.asarray(alpha_bar, dtype=np.float64)
    return np.log(a) - np.log1p(-a)


def noise_levels(T: int, k: int, schedule: str = "cosine", log_snr_min: float = -10.0) -> np.ndarray:
    """K steps of a T-step schedule spread evenly in log-SNR (i.e. log-spaced in sigma_equiv), sorted, int64.

    The targets run linearly from the log-SNR of step 0 (the least noise the schedule has: sigma_equiv 0.0064
    at T=1000, 0.0031 at T=4000) down to ``max(log_snr_min, log-SNR of step T-1)``; the default -10 is
    sigma_equiv ~ 150, where x_t is pure noise for any image (the cosine schedule's last step, whose beta is
    clipped at 0.999, lies near -20 and would waste levels). Each target goes to the step nearest in
    log-SNR, so step 0 is always included; duplicates are merged, so fewer than K steps come back only when T
    is too coarse to resolve the grid near t = 0.
    """
    check_int("noise_levels: T", T, 2)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 2 <= k <= T:
        raise MemgenError(f"noise_levels: k must be an integer in [2, T={T}], got {k!r}")
    abar = np.cumprod(1.0 - named_betas(schedule, int(T)))
    snr = log_snr(abar)  # decreasing in t
    low = max(float(log_snr_min), float(snr[-1]))
    if not low < snr[0]:
        raise MemgenError(f"noise_levels: log_snr_min={log_snr_min} is not below the least-noise level {snr[0]:.2f}")
    targets = np.linspace(snr[0], low, int(k))
    steps = np.abs(snr[None, :] - targets[:, None]).argmin(axis=1)
    return np.unique(steps).astype(np.int64)


def _images(name: str, images: np.ndarray) -> np.ndarray:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        desc = f"{images.dtype} {list(images.shape)}" if isinstance(images, np.ndarray) else type(images).__name__
        raise MemgenError(f"{name}: expected uint8 images [N, H, W, 3], got {desc}")
    if images.shape[0] == 0:
        raise MemgenError(f"{name}: no images")
    return images


def _labels(name: str, labels, n: int) -> np.ndarray | None:
    if labels is None:
        return None
    arr = np.asarray(labels)
    if arr.shape != (n,) or arr.dtype.kind not in "iu":
        raise MemgenError(f"{name}: expected integer labels of shape [{n}], got {arr.dtype} {list(arr.shape)}")
    return arr.astype(np.int64)


def _levels(levels: Sequence[int] | np.ndarray, T: int) -> np.ndarray:
    arr = np.asarray(levels)
    if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iu":
        raise MemgenError(f"levels: expected a non-empty 1-D list of integer steps, got {arr.dtype} {list(arr.shape)}")
    if arr.min() < 0 or arr.max() >= T or np.unique(arr).size != arr.size:
        raise MemgenError(f"levels: steps must be distinct and within [0, {T}), got {arr.tolist()}")
    return np.sort(arr.astype(np.int64))


def crn_noise(seed: int, steps, draws, indices, shape_chw: tuple[int, ...]) -> torch.Tensor:
    """Common-random-numbers eps [B, C, H, W] float32 (CPU): row b is draw ``draws[b]`` of image ``indices[b]``
    at step ``steps[b]``, from a generator seeded by ``SeedSequence([seed, STREAM.LOSS_GAP_NOISE, t, draw, index])``."""
    rows = []
    for t, j, i in zip(steps, draws, indices):
        state = seed_state(seed, STREAM.LOSS_GAP_NOISE, t, j, i)
        rows.append(torch.randn(tuple(shape_chw), generator=torch.Generator().manual_seed(state)))
    return torch.stack(rows)


def _split_losses(model, diffusion, images, labels, levels, seed, n_noise, batch_size, device) -> np.ndarray:
    """Per-pair eps-MSE [K, n_noise, N] float64 of one split."""
    n, shape = images.shape[0], (3, images.shape[1], images.shape[2])
    x_all = to_model_scale(images)
    # every (level, draw, image) pair, batched in this fixed order
    pairs = np.stack(np.meshgrid(np.arange(len(levels)), np.arange(n_noise), np.arange(n), indexing="ij"), -1)
    pairs = pairs.reshape(-1, 3)
    out = np.empty(len(pairs), dtype=np.float64)
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        noise = crn_noise(seed, levels[chunk[:, 0]], chunk[:, 1], chunk[:, 2], shape).to(device)
        x0 = x_all[torch.from_numpy(chunk[:, 2])].to(device)
        t = torch.from_numpy(levels[chunk[:, 0]]).to(device)
        y = None if labels is None else torch.from_numpy(labels[chunk[:, 2]]).to(device)
        xt = diffusion.q_sample(x0, t, noise)
        output = model(xt, diffusion.scale_timesteps(t), y)
        if output.ndim != 4 or output.shape[0] != len(chunk) or output.shape[1] not in (3, 6):
            raise MemgenError(f"model output has shape {tuple(output.shape)}; expected [B, 3 or 6, H, W]")
        eps_hat = output[:, :3].to(torch.float64)
        out[start : start + len(chunk)] = ((noise.to(torch.float64) - eps_hat) ** 2).mean(dim=(1, 2, 3)).cpu().numpy()
    return out.reshape(len(levels), n_noise, n)


def per_image_losses(
    model: Model,
    diffusion: GaussianDiffusion,
    images_train: np.ndarray,
    images_heldout: np.ndarray,
    levels: Sequence[int] | np.ndarray,
    seed: int,
    labels_train=None,
    labels_heldout=None,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    n_noise: int = 1,
) -> pd.DataFrame:
    """One row per (level, split, image): columns t, split, index, loss (eps-MSE averaged over ``n_noise`` draws).

    Arguments are described at `denoising_loss_by_level`.
    """
    images = {"train": _images("images_train", images_train), "heldout": _images("images_heldout", images_heldout)}
    if images["train"].shape[1:] != images["heldout"].shape[1:]:
        raise MemgenError(f"images_heldout: shape {images['heldout'].shape[1:]} differs from images_train's")
    labels = {"train": _labels("labels_train", labels_train, len(images_train)),
              "heldout": _labels("labels_heldout", labels_heldout, len(images_heldout))}
    if (labels["train"] is None) != (labels["heldout"] is None):
        raise MemgenError("labels_train / labels_heldout: give both (conditional model) or neither")
    check_int("seed", seed, 0)
    check_int("batch_size", batch_size, 1)
    check_int("n_noise", n_noise, 1)
    steps = _levels(levels, diffusion.num_timesteps)
    dev = resolve_device(str(device))
    was_training = isinstance(model, torch.nn.Module) and model.training
    if isinstance(model, torch.nn.Module):
        model.eval()
    frames = []
    try:
        with torch.no_grad():
            for split in SPLITS:
                loss = _split_losses(model, diffusion, images[split], labels[split], steps, seed, n_noise,
                                     batch_size, dev).mean(axis=1)  # [K, N]
                k, n = loss.shape
                frames.append(pd.DataFrame({"t": np.repeat(steps, n), "split": split,
                                            "index": np.tile(np.arange(n, dtype=np.int64), k), "loss": loss.ravel()}))
    finally:
        if was_training:
            model.train()
    return pd.concat(frames, ignore_index=True)


def summarize(per_image: pd.DataFrame, diffusion: GaussianDiffusion) -> pd.DataFrame:
    """Mean loss per (t, split) with its standard error over images: the ``TABLE_COLUMNS`` table."""
    grouped = per_image.groupby(["t", "split"], sort=False)["loss"]
    table = grouped.agg(loss="mean", loss_sd="std", n="count").reset_index()
    table["loss_sem"] = table["loss_sd"] / np.sqrt(table["n"])  # NaN for a single image
    abar = diffusion.alphas_cumprod[table["t"].to_numpy()]
    table["alpha_bar"], table["log_snr"] = abar, log_snr(abar)
    table["n"] = table["n"].astype(np.int64)
    to_x0 = (1.0 - abar) / abar  # sigma^2 of the equivalent variance-exploding process
    table["loss_x0"], table["loss_x0_sem"] = table["loss"] * to_x0, table["loss_sem"] * to_x0
    order = table["split"].map({s: i for i, s in enumerate(SPLITS)})
    table = table.assign(_o=order).sort_values(["t", "_o"], kind="stable").reset_index(drop=True)
    return table[TABLE_COLUMNS]


def denoising_loss_by_level(model: Model, diffusion: GaussianDiffusion, *args, **kwargs) -> pd.DataFrame:
    """L_simple per noise level and split, with common random numbers across the splits.

    Arguments as `per_image_losses` (images_train, images_heldout, levels, seed, labels_train=None,
    labels_heldout=None, batch_size=256, device="cpu", n_noise=1):
        model: ``model(x [B, 3, H, W], t [B] float, y [B] | None) -> [B, 3 or 6, H, W]``; the first 3 output
            channels are eps_theta. It receives ``diffusion.scale_timesteps(t)``. An ``nn.Module`` is run in
            eval mode under ``no_grad`` (its mode is restored afterwards).
        diffusion: the unrespaced process the model was trained with; ``levels`` index its steps.
        images_train, images_heldout: uint8 [N, H, W, 3] (scaled to [-1, 1] as in training).
        levels: distinct steps in [0, T), e.g. ``noise_levels(T, k)``.
        seed: the CRN seed (module docstring). labels_*: int [N] for a class-conditional model, else None.
        n_noise: eps draws per image and level, averaged per image before the SEM.
    Returns: rows sorted by (t, split), columns ``TABLE_COLUMNS``: t (int64), alpha_bar, log_snr, split
        ("train"/"heldout"), loss (mean over images of the per-image eps-MSE), loss_sem (its standard
        error over images, NaN when n = 1), n (images).
    """
    return summarize(per_image_losses(model, diffusion, *args, **kwargs), diffusion)


def loss_gap(table: pd.DataFrame) -> pd.DataFrame:
    """gap = loss(heldout) - loss(train) per t, with gap_sem = sqrt(sem_train^2 + sem_heldout^2); gap_x0 and
    gap_x0_sem the same in x0-space when the table has ``loss_x0``.

    The SEM treats the splits as independent, which is conservative: with CRN the two share their noise.
    """
    keys = [c for c in ("step", "t", "alpha_bar", "log_snr") if c in table.columns]
    values = [c for c in ("loss", "loss_sem", "loss_x0", "loss_x0_sem") if c in table.columns]
    wide = table.set_index(keys + ["split"])[values].unstack("split")
    out = pd.DataFrame({"gap": wide[("loss", "heldout")] - wide[("loss", "train")],
                        "gap_sem": np.hypot(wide[("loss_sem", "heldout")], wide[("loss_sem", "train")])})
    if "loss_x0" in values:
        out["gap_x0"] = wide[("loss_x0", "heldout")] - wide[("loss_x0", "train")]
        out["gap_x0_sem"] = np.hypot(wide[("loss_x0_sem", "heldout")], wide[("loss_x0_sem", "train")])
    return out.reset_index().rename_axis(columns=None)
