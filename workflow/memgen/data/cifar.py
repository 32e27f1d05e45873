"""CIFAR-10 from a local copy, and seeded disjoint pools of one class's images.

The data are read from ``root``, the directory that contains ``cifar-10-batches-py/`` (the extracted
https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz). Every file's md5 sum is checked against torchvision's
table (``torchvision.datasets.CIFAR10``) before any is read; a missing, partial or corrupt copy stops with one
MemgenError line naming the root and the failing files. The batch files are pickles: they are read by
`memgen.data.cifar_batches`, whose unpickler builds arrays and strings and calls nothing else, not by torchvision's
unrestricted unpickler. Nothing is downloaded unless ``download=True`` (torchvision's downloader).

``load_cifar10`` concatenates the 50000 training images and then the 10000 test images, so CIFAR-10 index ``i``
of this module is training image ``i`` for ``i < 50000`` and test image ``i - 50000`` otherwise; each class has
6000 images over both splits (Yoon et al. 2023 and the follow-up draw their 2000 "car" images from those).

Pools (``disjoint_pools``): one seeded permutation of the candidate indices, stream
``SeedSequence(seed, spawn_key=(stream, ...))``, is cut into disjoint slices. ``"base"`` is the first ``n_base``
positions; every other named pool follows in the order given, except the evaluation pool ``"heldout_eval"``,
which is cut from the END of the permutation. So the base of a seed never depends on the other pools, the first
k images of any front pool do not depend on its size, and evaluation images stay put whatever the training
pools are: they are disjoint from a training set of the same seed whenever both fit in the class together.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from memgen.data.cifar_batches import read_batch, read_label_names
from memgen.errors import MemgenError
from memgen.runtime import STREAM, check_int, spawn_rng

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
BASE_FOLDER = "cifar-10-batches-py"
BASE_POOL = "base"
EVAL_POOL = "heldout_eval"

# Errors of a file that passed (or skipped) the md5 check but is not a CIFAR pickle.
_FORMAT_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, KeyError, TypeError, AttributeError, IndexError,
                  ImportError, OSError)


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())[:200] or type(e).__name__


def _failing_files(root: Path) -> list[str]:
    """The files of ``root/cifar-10-batches-py`` that torchvision's md5 table rejects (missing or corrupt)."""
    import torchvision.datasets.cifar as tv

    expected = [*tv.CIFAR10.train_list, *tv.CIFAR10.test_list, [tv.CIFAR10.meta["filename"], tv.CIFAR10.meta["md5"]]]
    return [name for name, md5 in expected if not tv.check_integrity(os.path.join(root, BASE_FOLDER, name), md5)]


def _download(root: Path) -> None:
    """Fetch and extract the archive into ``root`` (torchvision's downloader; its md5 is checked)."""
    import torchvision.datasets.cifar as tv

    tv.download_and_extract_archive(tv.CIFAR10.url, str(root), filename=tv.CIFAR10.filename, md5=tv.CIFAR10.tgz_md5)


def load_cifar10(root: str | os.PathLike, download: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All of CIFAR-10 from ``root`` (the directory holding ``cifar-10-batches-py/``).

    Returns ``(images uint8 [N, 32, 32, 3], labels int64 [N], split int8 [N])`` with the training set first
    (split 0) and the test set after it (split 1); N = 60000 for the real data set. Labels index
    ``CIFAR10_CLASSES``. With ``download=True`` torchvision fetches the archive when the files are missing
    (network needed); otherwise a missing copy is an error that says where to get it.
    """
    if root is None or str(root) == "":
        raise MemgenError("data.cifar_root is not set; point it at the directory that contains cifar-10-batches-py")
    root = Path(root)
    where = f"data.cifar_root={root}"
    if not download and not (root / BASE_FOLDER).is_dir():
        raise MemgenError(f"{where}: no {BASE_FOLDER} found; download {CIFAR10_URL} and extract it there, "
                          "or set data.cifar_download: true on a machine with network")
    import torchvision.datasets.cifar as tv

    try:
        if download and _failing_files(root):
            _download(root)
        failing = _failing_files(root)
        if failing:
            raise MemgenError(f"{where}: {BASE_FOLDER} is incomplete or corrupted (md5 check failed: "
                              f"{', '.join(failing)}); re-extract {CIFAR10_URL} there")
        folder = root / BASE_FOLDER
        parts = [_read_split(folder, [name for name, _ in files], where, split)
                 for files, split in ((tv.CIFAR10.train_list, "train"), (tv.CIFAR10.test_list, "test"))]
        names = read_label_names(folder / tv.CIFAR10.meta["filename"])
    except _FORMAT_ERRORS as e:
        what = ("download failed" if download else "cannot read the files" if isinstance(e, OSError)
                else f"{BASE_FOLDER} is not in the CIFAR-10 python format")
        raise MemgenError(f"{where}: {what} ({type(e).__name__}: {_one_line(e)}); "
                          f"re-extract {CIFAR10_URL} there") from None
    if names != CIFAR10_CLASSES:
        raise MemgenError(f"{where}: batches.meta label_names are {list(names)}, not CIFAR-10's")
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    split = np.concatenate([np.full(len(p[0]), i, dtype=np.int8) for i, p in enumerate(parts)])
    return images, labels, split


def _read_split(folder: Path, files: list[str], where: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The images and labels of one split's batch files (`cifar_batches.read_batch`), checked."""
    batches = [read_batch(folder / name) for name in files]
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    if len(labels) != len(images):
        raise MemgenError(f"{where}: {split} has {len(labels)} labels for {len(images)} images")
    if labels.size and (labels.min() < 0 or labels.max() >= len(CIFAR10_CLASSES)):
        raise MemgenError(f"{where}: {split} labels must be in 0..9, found {int(labels.min())}..{int(labels.max())}")
    return images, labels


ALL = "all"  # cifar:all = every class of the training split


def cifar_class_index(class_name: str) -> int:
    """The CIFAR-10 label of ``class_name``; an unknown name raises MemgenError listing the valid ones."""
    try:
        return CIFAR10_CLASSES.index(class_name)
    except ValueError:
        raise MemgenError(f"unknown CIFAR-10 class {class_name!r}; valid names: {', '.join(CIFAR10_CLASSES)}") \
            from None


def disjoint_pools(candidates: np.ndarray, n_base: int, pools: dict[str, int], seed: int,
                   stream: tuple[int, ...], what: str,
                   noun: str = "the source") -> tuple[dict[str, np.ndarray], dict[str, list[int]]]:
    """Cut one seeded permutation of ``candidates`` (int64 indices) into disjoint pools (module docstring).

    Returns ``(pools, positions)``: ``pools[name]`` int64 indices (``"base"`` first), ``positions[name]``
    ``[start, stop)`` in the permutation. ``what`` names the source in the error raised when the pools together
    ask for more than ``len(candidates)`` images.
    """
    n_base = check_int("n_base", n_base, 0)
    sizes = {BASE_POOL: n_base}
    for name, k in pools.items():
        if name == BASE_POOL or name in sizes:
            raise MemgenError(f"{what}: pool name {name!r} is used twice")
        sizes[name] = check_int(f"pool {name}", k, 0)
    total = sum(sizes.values())
    if total > len(candidates):
        asked = " + ".join(f"{k} {name}" for name, k in sizes.items())
        raise MemgenError(f"{what}: asked for {asked} = {total} images, {noun} has {len(candidates)}")
    seed = check_int("seed", seed, 0)
    perm = spawn_rng(seed, *stream).permutation(
        np.asarray(candidates, dtype=np.int64))
    out, positions, start = {}, {}, 0
    for name, k in sizes.items():
        lo, hi = (len(perm) - k, len(perm)) if name == EVAL_POOL else (start, start + k)
        start += 0 if name == EVAL_POOL else k
        out[name], positions[name] = perm[lo:hi], [lo, hi]
    return out, positions


def cifar_class_pools(images: np.ndarray, labels: np.ndarray, class_name: str, n_base: int,
                      n_heldout_pools: dict[str, int], seed: int) -> dict[str, np.ndarray]:
    """Disjoint index pools of one CIFAR-10 class: ``{"base": [n_base], name: [k], ...}`` (int64 indices into
    ``images``, i.e. into ``load_cifar10``'s order). Deterministic in ``seed``; layout in the module docstring.

    Asking for more images than the class has raises MemgenError naming the class, the request and the count.
    """
    return cifar_class_pools_with_positions(images, labels, class_name, n_base, n_heldout_pools, seed)[0]


def cifar_class_pools_with_positions(
    images: np.ndarray, labels: np.ndarray, class_name: str, n_base: int, n_heldout_pools: dict[str, int], seed: int
) -> tuple[dict[str, np.ndarray], dict[str, list[int]]]:
    """``cifar_class_pools`` plus each pool's ``[start, stop)`` in the class permutation (for the card)."""
    label = cifar_class_index(class_name)
    labels = np.asarray(labels)
    if len(labels) != len(images):
        raise MemgenError(f"cifar:{class_name}: {len(labels)} labels for {len(images)} images")
    members = np.flatnonzero(labels == label).astype(np.int64)
    what = f"cifar:{class_name}"
    return disjoint_pools(members, n_base, dict(n_heldout_pools), seed, (STREAM.CIFAR_POOLS, label), what,
                          "the class")


# -- config checks ---------------------------------------------------------------------------------------------
CIFAR10_PER_CLASS, CIFAR10_TRAIN = 6000, 50000  # train + test images per class; images in the training split


def pool_size(base: str) -> int | None:
    """Images a real-image base holds (cifar:all the 50,000 of the training split, cifar:<class> 6,000,
    folder:<dir> its files); None for a procedural kind, which draws as many as asked. Disjoint pools (training
    set, held-out images, a split's second side) must fit in it together."""
    if base == "cifar:" + ALL:
        return CIFAR10_TRAIN
    if base.startswith("cifar:"):
        return CIFAR10_PER_CLASS
    if base.startswith("folder:"):
        from memgen.data.folder import image_files

        return len(image_files(base[len("folder:"):]))
    return None


def images_needed(block: dict) -> int:
    """The most base-dataset images one cell of a study draws (training set + pools cut from the base)."""
    from_base = {"heldout", "hybrid"}
    if "sizes" in block:
        return max(block["sizes"])
    if "totals" in block:
        return max(block["totals"]) - block["minority_size"]
    extra = 0
    ndummy = block.get("ndummy", 0)
    if block.get("dummy") in from_base or from_base & set(block.get("kinds", [])):
        extra = max(ndummy) if isinstance(ndummy, list) else ndummy
    return block.get("size", 0) + extra + block.get("heldout", 0)


def check_cifar_counts(name: str, block: dict, counts: bool) -> None:
    """Config check of a study block: a CIFAR-10 class must exist, and (``counts``: the study is selected) the
    block must not draw more images than the class has."""
    dataset = block.get("dataset", "")
    if not dataset.startswith("cifar:"):
        return
    cls = dataset[len("cifar:"):]
    if cls != "all" and cls not in CIFAR10_CLASSES:
        raise MemgenError(f"{name}.dataset={dataset}: unknown CIFAR-10 class (valid: all, "
                          f"{', '.join(CIFAR10_CLASSES)})")
    limit = CIFAR10_TRAIN if cls == "all" else CIFAR10_PER_CLASS
    need = images_needed(block)
    if counts and need > limit:
        raise MemgenError(f"{name}: asks for {need} images of {dataset}, which has {limit}")
