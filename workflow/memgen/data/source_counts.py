"""What the real-image sources hold, checked when the DAG is planned: the CIFAR-10 archive in ``data.cifar_root``
as it is, and image folders.

`memgen.data.cifar.check_cifar_counts` checks a study against the real data set's constants (6,000 images per class,
50,000 in the training split). An archive may hold fewer (a subset, a rebuilt copy), and a folder holds what it
holds: a job drawing more would stop at run time, after other jobs started. `check_source_counts` counts the
sources once at plan time and checks every selected study's draws and (CIFAR-10) the held-out set of
``score.copying_heldout`` against them (`available` gives the count to the studies' own checks, e.g. the two
sides of a disjoint split). (A folder too small for ``score.copying_heldout`` is
not an error: such cells get no data-copying test, as the schema says; the listed checkpoints of ``external`` are
checked against their sources where the grid is built.)

Only the labels are read, opcode by opcode with `pickletools` (nothing is unpickled, so nothing in the file runs):
in the real batch files the ``labels`` list precedes the 30 MB of pixels, so planning reads some 20 KB per file.
Where the archive is absent or unreadable the constants stand and the job that reads it reports why (md5 check
included: every file's md5 sum is checked when the images are read).
"""

from __future__ import annotations

import functools
import os
import pickletools
from pathlib import Path

import numpy as np

from memgen.data.cifar import ALL, BASE_FOLDER, CIFAR10_CLASSES, images_needed, pool_size
from memgen.errors import MemgenError

TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILE = "test_batch"
_STRINGS = {"SHORT_BINSTRING", "BINSTRING", "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "SHORT_BINBYTES",
            "BINBYTES", "UNICODE", "STRING"}
_INTS = {"BININT1", "BININT2", "BININT", "INT", "LONG1"}
_LIST_PARTS = {"EMPTY_LIST", "MARK", "APPEND", "APPENDS", "BINPUT", "LONG_BINPUT", "PUT", "MEMOIZE"}


def batch_labels(path: Path) -> list[int]:
    """The ``labels`` list of one CIFAR-10 batch file (a Python 2 pickle of a dict), read from its opcodes.

    Raises ValueError when the file holds no such list (not a CIFAR batch, or a broken pickle)."""
    with open(path, "rb") as handle:
        ops = pickletools.genops(handle)
        for op, arg, _ in ops:
            if op.name in _STRINGS and arg in ("labels", b"labels"):
                break
        else:
            raise ValueError(f"{path}: no labels")
        labels = []
        for op, arg, _ in ops:
            if op.name in _INTS:
                labels.append(int(arg))
            elif op.name not in _LIST_PARTS:  # the next key: the list is complete
                return labels
    raise ValueError(f"{path}: truncated")


@functools.lru_cache(maxsize=8)
def _archive_counts(folder: str, stamp: tuple) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    try:
        train = np.concatenate([batch_labels(Path(folder) / name) for name in TRAIN_FILES])
        test = np.asarray(batch_labels(Path(folder) / TEST_FILE))
    except (OSError, ValueError, EOFError):
        return None
    if train.size == 0 or min(train.min(initial=0), test.min(initial=0)) < 0 or \
            max(train.max(initial=0), test.max(initial=0)) >= len(CIFAR10_CLASSES):
        return None  # not CIFAR-10 labels: the job's own checks name the problem
    return tuple(np.bincount(train, minlength=10).tolist()), tuple(np.bincount(test, minlength=10).tolist())


def archive_counts(root: str | os.PathLike) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """(images per class in the training split, in the test split) of the archive in ``root``, or None when no
    complete, readable set of batch files is there. Cached per process while the files stay unchanged."""
    folder = Path(root) / BASE_FOLDER
    try:
        stamp = tuple((name, (folder / name).stat().st_mtime_ns, (folder / name).stat().st_size)
                      for name in (*TRAIN_FILES, TEST_FILE))
    except OSError:
        return None
    return _archive_counts(str(folder), stamp)


def _available(dataset: str, counts) -> int:
    """Images of ``dataset`` (cifar:<class> over both splits, cifar:all the training split) in the archive."""
    train, test = counts
    cls = dataset[len("cifar:"):]
    if cls == ALL:
        return sum(train)
    index = CIFAR10_CLASSES.index(cls)
    return train[index] + test[index]


def _held(dataset: str, counts) -> int | None:
    """Images ``dataset`` holds as found now (None: not a real-image source, or not readable yet)."""
    if dataset.startswith("folder:"):
        try:
            return pool_size(dataset)
        except MemgenError:  # a missing folder: the job that reads it names it
            return None
    return _available(dataset, counts) if counts and dataset.startswith("cifar:") else None


def available(dataset: str, cifar_root) -> int | None:
    """Images a real-image source holds as found now: a folder's files, a CIFAR-10 class (or its training split) in
    the archive at ``cifar_root``, else the data set's constant (`memgen.data.cifar.pool_size`); None for a
    procedural kind, which draws as many as asked."""
    if not isinstance(dataset, str) or not dataset.startswith(("cifar:", "folder:")):
        return None
    counts = archive_counts(cifar_root) if cifar_root and dataset.startswith("cifar:") else None
    held = _held(dataset, counts)
    return held if held is not None else pool_size(dataset)


def check_source_counts(config: dict) -> None:
    """Plan-time check of the selected studies on real images: what each draws from its source (training set,
    dummy and held-out pools) and (CIFAR-10) the ``score.copying_heldout`` held-out
    images of the data-copying test, against what the source holds now. Raises a one-line MemgenError naming the
    key, the source and both counts."""
    known = {"cifar:" + ALL, *("cifar:" + c for c in CIFAR10_CLASSES)}  # an unknown class is reported elsewhere
    real = lambda d: isinstance(d, str) and (d in known or d.startswith("folder:"))  # noqa: E731
    draws = []  # (key, dataset, images drawn from it together, what is asked)
    for name in config["studies"]:
        if real(config[name].get("dataset")):
            need = images_needed(config[name])
            draws.append((name, config[name]["dataset"], need, f"draws {need} images"))
    if not draws:
        return
    root = config["data"]["cifar_root"]
    counts = archive_counts(root) if root and any(d[1].startswith("cifar:") for d in draws) else None
    heldout = config["score"]["copying_heldout"]
    for key, dataset, need, asked in draws:
        have = _held(dataset, counts)
        source = f"data.cifar_root={root}" if dataset.startswith("cifar:") else "the folder"
        if have is None:
            continue
        if need > have:
            raise MemgenError(f"{key}: {asked} of {dataset}; {source} holds {have}")
        if heldout > have and dataset.startswith("cifar:"):
            raise MemgenError(f"score.copying_heldout={heldout}: more held-out images than {source} holds of "
                              f"{dataset} ({have}, for {key}); lower it (0 = no data-copying test)")
