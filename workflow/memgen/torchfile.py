"""Reading a torch file that someone else may have written, with nothing in it run.

Every torch file memgen reads (checkpoints, training states, snapshots, classifiers, imported state dicts) goes
through `load`: ``torch.load(weights_only=True)``, whose unpickler builds tensors and plain containers (dict, list,
tuple, str, int, float, bool, None) and nothing else, so a callable pickled into the file (a ``__reduce__``
payload) is refused before it can run. What memgen writes is made of those alone (`memgen.checkpoint`).

One allowance, for the files of earlier memgen versions, whose numpy RNG state (``np.random.get_state()``) is a
tuple holding a uint32 array: the numpy globals that rebuild it (`legacy_numpy`: ``_reconstruct`` under its
numpy 2 and numpy 1 names, ``ndarray``, ``dtype`` and the uint32 dtype's class). They rebuild an array from
plain data and call nothing of the file's choosing; `check_plain` then refuses any array but that one (the
caller converts it first), so what a load returns is plain data.

A refusal (`Refused`) is one line naming the file and the globals its pickle asks for, read from the pickle's
opcodes (`torch.serialization.get_unsafe_globals_in_checkpoint`, nothing unpickled), or from torch's message.
Any other failure (a truncated or non-torch file) is re-raised for the caller to phrase.
"""

from __future__ import annotations

import contextlib
import pickle
import re
from pathlib import Path

from memgen.errors import MemgenError

# The names under which a pickle of np.random.get_state() refers to what rebuilds its uint32 array.
LEGACY_NAMES = ("numpy._core.multiarray._reconstruct", "numpy.core.multiarray._reconstruct", "numpy.ndarray",
                "numpy.dtype", "numpy.dtypes.UInt32DType")
# What torch says a weights-only pickle asked for (torch.serialization / torch._weights_only_unpickler).
_ASKED = (re.compile(r"GLOBAL (\S+) "), re.compile(r"but got <class '([^']+)'>"),
          re.compile(r"unrecognized function (\S+)"))


class Refused(MemgenError):
    """A torch file whose pickle asks for more than tensors and plain data: ``names`` are the globals it wants."""

    def __init__(self, path: Path, names: list[str], text: str | None = None):
        self.path, self.names = path, names
        if text is None and set(names) <= set(LEGACY_NAMES):
            text = (f"{path}: holds an earlier memgen's numpy RNG state ({', '.join(names)}), which this torch "
                    "cannot read safely; upgrade torch to >= 2.6 (torch.serialization.safe_globals)")
        elif text is None:
            text = (f"{path}: holds Python objects besides tensors and plain data ({', '.join(names[:3])}); "
                    "refused without unpickling them")
        super().__init__(text)


def legacy_numpy() -> tuple[list, set[str]]:
    """(the entries ``torch.serialization.safe_globals`` takes, the global names they allow) for an earlier memgen's
    numpy RNG state on this torch: none before torch 2.5 (no ``safe_globals``); numpy's objects under their own
    names before 2.6; from 2.6 (``(object, name)`` entries) also ``_reconstruct`` under the other numpy major's
    name, so a file written under numpy 1 reads under numpy 2 and back."""
    import numpy as np
    import torch

    if not hasattr(torch.serialization, "safe_globals"):
        return [], set()
    reconstruct = np.ndarray.__reduce__(np.zeros(1, np.uint32))[0]  # numpy's own _reconstruct
    objects = [reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]
    names = {f"{o.__module__}.{o.__qualname__}" for o in objects}
    if tuple(int(part) for part in re.findall(r"\d+", torch.__version__)[:2]) >= (2, 6):
        aliases = [(reconstruct, name) for name in LEGACY_NAMES[:2]]
        return objects + aliases, names | set(LEGACY_NAMES[:2])
    return objects, names


def asked_globals(path: Path, err: Exception) -> list[str]:
    """The globals beyond tensors and plain data that ``path``'s pickle asks for (sorted; the legacy numpy ones
    this torch allows left out), read without unpickling; empty when ``err`` is another failure."""
    import torch

    allowed = legacy_numpy()[1]
    try:
        names = set(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # not a zip (a legacy torch file, or not torch at all), or torch < 2.6
        names = set()
    if not names - allowed and isinstance(err, pickle.UnpicklingError):
        names = {m.group(1) for pattern in _ASKED for m in pattern.finditer(str(err))}
    return sorted(names - allowed)


def load(path: str | Path, *, mmap: bool = False):
    """``torch.load(path, weights_only=True)`` on CPU (``mmap``: map the tensors' storage, read none), with the
    legacy numpy RNG state allowed (module docstring). Raises `Refused` when the pickle asks for anything else;
    a truncated or non-torch file raises torch's own exception, for the caller to phrase."""
    import torch

    path = Path(path)
    allow = legacy_numpy()[0]
    try:
        with torch.serialization.safe_globals(allow) if allow else contextlib.nullcontext():
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as err:
        names = asked_globals(path, err)
        if names:
            raise Refused(path, names) from None
        raise


def reason(err: Exception) -> str:
    """The informative part of a torch.load error, on one line."""
    msg = str(err)
    if "WeightsUnpickler error:" in msg:
        msg = msg.split("WeightsUnpickler error:", 1)[1]
    lines = [line.strip() for line in msg.splitlines() if line.strip()]
    return lines[0].split(". ")[0] if lines else type(err).__name__


PLAIN = (str, int, float, bool, type(None))


def check_plain(path: Path, obj, where: str = "") -> None:
    """Refuse (`Refused`, naming the first offending entry) anything in ``obj`` but tensors and plain containers of
    plain values: what `load` may return besides them (a numpy array of the legacy allowance) has no place in it."""
    import torch

    if isinstance(obj, dict):
        for key, value in obj.items():
            _check_one(path, key, where)
            check_plain(path, value, f"{where}[{key!r}]")
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            check_plain(path, value, f"{where}[{i}]")
    elif not isinstance(obj, torch.Tensor):
        _check_one(path, obj, where)


def _check_one(path: Path, obj, where: str) -> None:
    if not isinstance(obj, PLAIN):
        name = f"{type(obj).__module__}.{type(obj).__qualname__}"
        raise Refused(path, [name], f"{path}: holds a {name} at {where or 'the top level'}, not plain data; refused")
