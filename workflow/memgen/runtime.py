"""What every command needs at run time: the device, the thread count, the named seed streams, image scaling and
argument checks. One home for each, so no module invents its own.

torch is imported inside the functions that need it: the data generators and the config check import this module
and must stay fast.

Seed streams. Every random draw of memgen comes from a numpy ``SeedSequence`` fed with the run's seed and a stream
tag from ``STREAM`` below, so two purposes never share random numbers and a value never depends on the order in
which things ran. Two derivations are in use (both fixed forever, since changing either changes every data set or
model built with it):

- ``hashed_seed(seed, tag, *more)``: ``SeedSequence([seed, tag, *more])`` hashed to a 63-bit integer, for torch
  generators (training steps, classifier; the loss-gap noise takes the unreduced ``seed_state``);
- ``spawned_seed(seed, tag)`` and ``spawn_rng(seed, tag, part)``: ``SeedSequence(seed, spawn_key=(tag, ...))``, for
  the data generators and pools.

Sampling seeds sample ``i`` of run ``seed`` with ``seed_state(seed, i)`` (no tag; `memgen.diffusion.sampler`).
"""

from __future__ import annotations

import operator
from enum import IntEnum

import numpy as np

from memgen.errors import MemgenError


class STREAM(IntEnum):
    """The seed-stream tags. Values are part of every artifact's identity: never change one."""

    # hashed_seed streams
    TRAIN_EPOCH = 101  # epoch permutations of the training set
    TRAIN_STEP = 202  # everything random inside training step s (t, noise, dropout)
    TRAIN_INIT = 303  # the initial weights
    CLASSIFIER_SPLIT = 11  # the base-vs-dummy classifier's train/validation split
    CLASSIFIER_BATCH = 22  # ... its batches
    CLASSIFIER_INIT = 33  # ... its initial weights
    LOSS_GAP_NOISE = 404  # common random numbers of the train vs held-out loss gap
    SAMPLE_NOISE = 0x6E6F6973  # "nois": the Philox key of the sampling noise (memgen.diffusion.noise)
    SPLIT_B = 0x73706C62  # "splb": appended to the training streams of a model trained on a split's second side
    # spawned streams of the data generators and pools
    MONDRIAN = 1
    GM = 2
    RANDOM_INK = 3
    SHAPES = 4
    CIFAR_POOLS = 5  # class permutations of CIFAR-10
    FOLDER_POOLS = 6  # permutations of an image folder
    DUMMY = 0x64756D6D  # "dumm": the dummy component of a training set
    SPLIT_DUMMY = 0x73706C64  # "spld": the dummy component of a split's second side
    HYBRID_SOURCE = 0x68796272  # "hybr": the low band of GM + base hybrids
    HELDOUT = 0x68656C64  # "held": held-out evaluation images
    CIFAR_ALL = 0x616C6C  # pools cut from all of CIFAR-10's training split


def seed_state(*words: int) -> int:
    """The first 64-bit word of ``SeedSequence([*words])``: a torch generator seed hashed from integer words."""
    return int(np.random.SeedSequence([int(w) for w in words]).generate_state(1, dtype=np.uint64)[0])


def hashed_seed(*words: int) -> int:
    """``seed_state(*words)`` reduced to 63 bits, e.g. ``hashed_seed(seed, STREAM.TRAIN_STEP, step)``."""
    return seed_state(*words) % (2**63 - 1)


def spawned_seed(seed: int, tag: int) -> int:
    """A 63-bit seed of the spawned stream ``tag`` of ``seed``: ``SeedSequence(seed, spawn_key=(tag,))`` >> 1."""
    state = np.random.SeedSequence(seed, spawn_key=(int(tag),)).generate_state(1, np.uint64)
    return int(state[0]) >> 1


def spawn_rng(seed: int, *key: int) -> np.random.Generator:
    """The PCG64 generator of ``SeedSequence(seed, spawn_key=key)`` (a data generator's stream and part)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=tuple(int(k) for k in key))))


def check_int(name: str, value: object, minimum: int) -> int:
    """``value`` as an int >= ``minimum`` (bools refused), else a one-line MemgenError naming ``name``."""
    if isinstance(value, bool):
        raise MemgenError(f"{name} must be an integer >= {minimum}, got {value!r}")
    try:
        v = operator.index(value)
    except TypeError:
        raise MemgenError(f"{name} must be an integer >= {minimum}, got {value!r}") from None
    if v < minimum:
        raise MemgenError(f"{name} must be an integer >= {minimum}, got {v}")
    return v


def check_images(name: str, images: object, allow_empty: bool = False) -> np.ndarray:
    """``images`` if it is a uint8 array [N, H, W, 3] (N > 0 unless ``allow_empty``), else a one-line MemgenError
    naming ``name``."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3 \
            or (images.shape[0] == 0 and not allow_empty):
        desc = f"{images.dtype} {list(images.shape)}" if isinstance(images, np.ndarray) else type(images).__name__
        size = "" if allow_empty else "non-empty "
        raise MemgenError(f"{name}: expected {size}uint8 images [N, H, W, 3], got {desc}")
    return images


def resolve_device(device=None):
    """``None``/"auto" -> CUDA when available, else CPU; "cpu"/"cuda[:i]" as named (CUDA must then exist)."""
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise MemgenError(f"--device {device!r}: not a torch device (use cpu, cuda or auto)") from None
    if dev.type not in ("cpu", "cuda"):
        raise MemgenError(f"--device {device!r}: not supported (use cpu, cuda or auto)")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise MemgenError(f"--device {device}: no CUDA device is available here")
    return dev


def set_threads(threads: int | None) -> None:
    """torch's intra-op CPU threads (what Snakemake granted the job); None leaves torch's choice."""
    import torch

    if threads is not None:
        torch.set_num_threads(check_int("--threads", threads, 1))


def to_model_scale(images: np.ndarray, device="cpu"):
    """uint8 [N, H, W, 3] -> float32 [N, 3, H, W] in [-1, 1] on ``device``: x / 127.5 - 1 (the training scaling)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(images)).to(device).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def to_uint8(x) -> np.ndarray:
    """float [N, 3, H, W] in [-1, 1] -> uint8 [N, H, W, 3] by ROUNDING (x + 1) * 127.5 to the nearest level.

    improved-diffusion's sampler truncates instead (``((x + 1) * 127.5).clamp(0, 255).to(uint8)``), which shifts
    every pixel down by half a level on average; rounding is the unbiased inverse of ``to_model_scale``, so a
    training image run through both comes back exactly.
    """
    import torch

    return ((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
