"""A small binary image classifier: which generated samples are Mondrians (Yoon et al. 2023, Appendix C.1).

An unconditional model trained on a mixture of Mondrian (MO) and Gaussian-mixture (GM) images gives unlabelled
samples; "using a separately trained binary classifier discriminating MO images from GM images" the paper picks
the MO ones and scores only those. The paper does not describe its classifier; ours is a three-layer CNN with
global average pooling (works at any image size; ~14k parameters), trained with AdamW on balanced batches
(half class a, half class b) with the logistic loss, and checked on a seeded held-out split.

The returned state carries its ``ClassifierConfig`` beside the weights (nanoGPT style), so ``classify``
rebuilds the network from the state alone. Training is deterministic given the seed (CPU): all randomness
(split, batches, initial weights) comes from generators seeded by (seed, stream).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from memgen.errors import MemgenError
from memgen.runtime import STREAM, check_int, hashed_seed, resolve_device, to_model_scale

FORMAT = "memgen-classifier-1"


@dataclass(frozen=True)
class ClassifierConfig:
    """Architecture: 3x3 convs with ``channels`` (all but the first stride 2), ReLU, global mean pool, one logit."""

    image_size: int
    channels: tuple[int, ...] = (16, 32, 32)
    class_names: tuple[str, str] = ("a", "b")  # names of class a (probability returned) and class b

    def __post_init__(self) -> None:
        for name in ("channels", "class_names"):  # lists from a round trip through a dict
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.image_size < 4 or not self.channels or min(self.channels) < 1 or len(self.class_names) != 2:
            raise MemgenError(f"ClassifierConfig: invalid {self}")


class SmallCNN(nn.Module):
    """[B, 3, H, W] in [-1, 1] -> logit [B] of class a."""

    def __init__(self, cfg: ClassifierConfig) -> None:
        super().__init__()
        layers, c_in = [], 3
        for i, c in enumerate(cfg.channels):
            layers += [nn.Conv2d(c_in, c, 3, stride=1 if i == 0 else 2, padding=1), nn.ReLU()]
            c_in = c
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The head as a per-row reduction, not a GEMM (``self.head`` holds its weights): a GEMM's kernel depends on
        the row count, so an image's logit would depend on how many share its batch (1 ulp on an Intel CPU)."""
        pooled = self.features(x).mean(dim=(2, 3))  # [B, C]
        return (pooled * self.head.weight[0]).sum(dim=1) + self.head.bias[0]


def _images(name: str, images, image_size: int | None = None) -> np.ndarray:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        desc = f"{images.dtype} {list(images.shape)}" if isinstance(images, np.ndarray) else type(images).__name__
        raise MemgenError(f"{name}: expected uint8 images [N, H, W, 3], got {desc}")
    if images.shape[1] != images.shape[2] or (image_size is not None and images.shape[1] != image_size):
        want = f"{image_size}x{image_size}" if image_size is not None else "square"
        raise MemgenError(f"{name}: images are {images.shape[1]}x{images.shape[2]}, expected {want}")
    return images


def build(state: dict) -> SmallCNN:
    """The network of a classifier state (its config and weights), in eval mode on CPU."""
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise MemgenError(f"classifier state: not a memgen classifier (format {FORMAT!r} expected)")
    net = SmallCNN(ClassifierConfig(**state["config"]))
    net.load_state_dict(state["model"])
    return net.eval()


def _labels(n_a: int, n_b: int, device: torch.device) -> torch.Tensor:
    """n_a ones (class a) then n_b zeros (class b), int64."""
    return torch.cat([torch.ones(n_a, dtype=torch.long), torch.zeros(n_b, dtype=torch.long)]).to(device)


def _accuracy(net: SmallCNN, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> tuple[float, float]:
    """(accuracy, mean logistic loss) of ``net`` on x [N, 3, H, W] with labels y [N] in {0, 1}."""
    with torch.no_grad():
        logits = torch.cat([net(x[s : s + batch_size]) for s in range(0, len(x), batch_size)])
    loss = nn.functional.binary_cross_entropy_with_logits(logits, y.float())
    return float(((logits > 0).long() == y).float().mean()), float(loss)


def train_classifier(
    images_a: np.ndarray,
    images_b: np.ndarray,
    seed: int,
    steps: int = 300,
    batch_size: int = 128,
    lr: float = 3e-3,
    val_fraction: float = 0.2,
    class_names: tuple[str, str] = ("mondrian", "gm"),
    device: str | torch.device = "cpu",
) -> tuple[dict, dict]:
    """Train the binary classifier of class a (e.g. MO, label 1) against class b (e.g. GM, label 0).

    Args:
        images_a, images_b: uint8 [N_a, S, S, 3] and [N_b, S, S, 3], each with at least 2 images.
        seed: the run's seed (split, batch order and initial weights); steps / batch_size / lr: AdamW.
        val_fraction: the share of each class held out (at least one image each) for the reported metrics.
    Returns:
        state: {"format", "config" (ClassifierConfig fields), "model" (CPU state dict)};
        metrics: val_accuracy, val_accuracy_a, val_accuracy_b, val_loss, train_accuracy, n_train_a, n_train_b,
        n_val_a, n_val_b, steps, seconds.
    """
    images_a, images_b = _images("images_a", images_a), _images("images_b", images_b)
    size = images_a.shape[1]
    _images("images_b", images_b, size)
    if len(images_a) < 2 or len(images_b) < 2:
        raise MemgenError(f"train_classifier: need at least 2 images per class, got {len(images_a)} and "
                          f"{len(images_b)}")
    if not 0.0 < val_fraction < 1.0:
        raise MemgenError(f"val_fraction: must lie in (0, 1), got {val_fraction!r}")
    check_int("seed", seed, 0)
    check_int("steps", steps, 1)
    check_int("batch_size", batch_size, 1)
    dev = resolve_device(device)
    cfg = ClassifierConfig(image_size=size, class_names=tuple(class_names))
    t0 = time.perf_counter()

    # 1. Seeded per-class split into training and validation images.
    split_rng = np.random.default_rng(hashed_seed(seed, STREAM.CLASSIFIER_SPLIT))
    parts = {}
    for name, imgs in (("a", images_a), ("b", images_b)):
        perm = split_rng.permutation(len(imgs))
        n_val = max(1, int(round(val_fraction * len(imgs))))
        parts[name] = (to_model_scale(imgs[perm[n_val:]], dev), to_model_scale(imgs[perm[:n_val]], dev))
    (xa, va), (xb, vb) = parts["a"], parts["b"]

    # 2. Network and AdamW; initial weights from the seed, the global RNG left untouched.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(hashed_seed(seed, STREAM.CLASSIFIER_INIT))
        net = SmallCNN(cfg).to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    batch_rng = np.random.default_rng(hashed_seed(seed, STREAM.CLASSIFIER_BATCH))
    half = max(1, batch_size // 2)
    target = torch.cat([torch.ones(half), torch.zeros(half)]).to(dev)

    # 3. Balanced batches: half class a, half class b, drawn with replacement.
    net.train()
    for _ in range(steps):
        ia = torch.from_numpy(batch_rng.integers(0, len(xa), half)).to(dev)
        ib = torch.from_numpy(batch_rng.integers(0, len(xb), half)).to(dev)
        logits = net(torch.cat([xa[ia], xb[ib]]))
        loss = nn.functional.binary_cross_entropy_with_logits(logits, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    net.eval()

    # 4. Metrics on the held-out split.
    acc_a, _ = _accuracy(net, va, _labels(len(va), 0, dev))
    acc_b, _ = _accuracy(net, vb, _labels(0, len(vb), dev))
    val_acc, val_loss = _accuracy(net, torch.cat([va, vb]), _labels(len(va), len(vb), dev))
    train_acc, _ = _accuracy(net, torch.cat([xa, xb]), _labels(len(xa), len(xb), dev))
    metrics = {
        "val_accuracy": val_acc, "val_accuracy_a": acc_a, "val_accuracy_b": acc_b, "val_loss": val_loss,
        "train_accuracy": train_acc, "n_train_a": len(xa), "n_train_b": len(xb), "n_val_a": len(va),
        "n_val_b": len(vb), "steps": int(steps), "seconds": time.perf_counter() - t0,
    }
    state = {
        "format": FORMAT,
        "config": dataclasses.asdict(cfg),
        "model": {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()},
    }
    return state, metrics


def classify(state: dict, images: np.ndarray, batch_size: int = 1024, device: str | torch.device = "cpu") -> np.ndarray:
    """Probability of class a (e.g. Mondrian) for each image: float64 [N] from uint8 images [N, S, S, 3].

    A function of the image alone, whatever ``batch_size`` and the other images: the head is a per-row reduction
    (`SmallCNN.forward`) and the sigmoid is taken one logit at a time in float64 (`_sigmoid`)."""
    dev = resolve_device(device)
    net = build(state).to(dev)
    images = _images("images", images, state["config"]["image_size"])
    logits = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = to_model_scale(images[start : start + batch_size], dev)
            logits.append(net(x).to(torch.float64).cpu())
    return _sigmoid(torch.cat(logits).numpy()) if logits else np.zeros(0, dtype=np.float64)


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)) of each float64 logit on its own, with ``math.exp`` (overflow-free form for z < 0): a
    vectorised sigmoid takes another code path for the elements past the last full SIMD vector, so the same logit
    got another float32 probability (1 ulp) at batch 1 than inside a batch of 300."""
    def one(z: float) -> float:
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)

    return np.fromiter((one(float(z)) for z in logits), dtype=np.float64, count=len(logits))


def load(path) -> dict:
    """A classifier state written by ``memgen train-classifier``, read with nothing in it run (`memgen.torchfile`);
    an unreadable or foreign file, or one whose pickle asks for more than tensors and plain data, is a one-line
    MemgenError naming it."""
    from memgen import torchfile

    try:
        state = torchfile.load(path)
    except torchfile.Refused:
        raise
    except Exception as err:
        raise MemgenError(f"{path}: not a readable torch file ({type(err).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise MemgenError(f"{path}: not a memgen classifier (format {FORMAT!r} expected)")
    torchfile.check_plain(path, state)
    return state


def label_samples(state: dict, images: np.ndarray) -> np.ndarray:
    """Appendix C.1: label 0 for the samples the classifier calls class a (the base kind), 1 for class b; int64 [N]."""
    return np.where(classify(state, images) >= 0.5, 0, 1).astype(np.int64)
