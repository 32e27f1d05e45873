"""The CIFAR-10 python batch files, read with nothing in them run.

Each file of ``cifar-10-batches-py`` is a Python 2 pickle of a dict: a batch holds ``data`` (uint8 ``[n, 3072]``,
each row the 1024 red, then green, then blue values of a 32 x 32 image, row-major), ``labels`` (n ints),
``batch_label`` and ``filenames``; ``batches.meta`` holds ``label_names``. Python's unpickler (torchvision's reader)
calls whatever callable a file names; `read_pickle` hands its unpickler only the globals such a file names
(numpy's ``_reconstruct``, ``ndarray`` and ``dtype``, and ``_codecs.encode`` with latin1, which Python 3 pickles of bytes use)
and refuses every other one: the "Restricting Globals" recipe of the `pickle` documentation. Those four build
arrays, dtypes and byte strings from plain data and call nothing of the file's choosing.

Keys load as ``str`` (``encoding="latin1"``, as torchvision reads them).
"""

from __future__ import annotations

import codecs
import pickle
from pathlib import Path

import numpy as np


def _latin1_bytes(text: str, encoding: str) -> bytes:
    """``_codecs.encode`` as protocol-2 pickles of ``bytes`` call it (``encode(text, "latin1")``), and no other."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r}: not a pickled byte string")
    return codecs.encode(text, encoding)


def _allowed() -> dict[tuple[str, str], object]:
    reconstruct = np.ndarray.__reduce__(np.zeros(1, np.uint8))[0]  # numpy's own, under either major version
    return {("numpy.core.multiarray", "_reconstruct"): reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): reconstruct,
            ("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype, ("_codecs", "encode"): _latin1_bytes}


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that finds only the globals of `_allowed` (module docstring)."""

    def __init__(self, handle, name: str):
        super().__init__(handle, encoding="latin1")
        self.name = name

    def find_class(self, module: str, name: str):
        found = _allowed().get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"{self.name} asks for {module}.{name}, which a CIFAR-10 batch never "
                                         "holds; refused without calling it")
        return found


def read_pickle(path: Path) -> dict:
    """The dict pickled in one batch file, unpickled with `_BatchUnpickler`; pickle's own errors propagate."""
    with open(path, "rb") as handle:
        obj = _BatchUnpickler(handle, path.name).load()
    if not isinstance(obj, dict):
        raise ValueError(f"{path.name} holds a {type(obj).__name__}, not a dict")
    return obj


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [n, 32, 32, 3], labels [n]) of one batch file; a file of another layout raises ValueError
    (KeyError for a missing key)."""
    batch = read_pickle(path)
    data, labels = batch["data"], batch["labels"] if "labels" in batch else batch["fine_labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        got = f"{data.dtype} {list(data.shape)}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"{path.name}: data is not uint8 [n, 3072] (got {got})")
    if not isinstance(labels, list) or not all(type(v) is int for v in labels):
        raise ValueError(f"{path.name}: labels are not a list of integers")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), np.asarray(labels, dtype=np.int64)


def read_label_names(path: Path) -> tuple[str, ...]:
    """The ``label_names`` of ``batches.meta``."""
    names = read_pickle(path)["label_names"]
    if not isinstance(names, list) or not all(isinstance(v, str) for v in names):
        raise ValueError(f"{path.name}: label_names is not a list of strings")
    return tuple(names)

