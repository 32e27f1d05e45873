"""Thin I/O shell: every file memgen writes goes through here, and every write is atomic.

Atomic means: the bytes go to a temporary file in the destination's directory, named
``.<name>.tmp-<pid>-<random hex>``, which is flushed, fsynced and then moved over the destination with
``os.replace``. A reader (or a Snakemake job killed midway) therefore sees either the old file or the complete
new one, never a half-written file; on any exception the temporary file is removed and the destination is left
untouched. Parent directories are created as needed.

Image sets use the layout of DESIGN.md: an ``.npz`` with ``images`` uint8 ``[N, H, W, 3]`` and ``labels`` int64
``[N]``. ``save_images_npz`` writes that zip itself (fixed timestamps, stored entries) so identical arrays give a
byte-identical file on every run; ``np.savez`` would embed the current time. ``load_images_npz`` also reads the
improved-diffusion sample layout (``arr_0`` images, optional ``arr_1`` labels) so its sample files can be scored
directly.

Bad input raises :class:`memgen.errors.MemgenError` with a one-line message naming the file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import zipfile
import zlib
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from memgen.errors import MemgenError

PathLike = str | os.PathLike

# Fixed zip-entry metadata: the DOS epoch as timestamp, Unix as creator, mode 0644, so bytes do not depend on
# the clock or the platform.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_ZIP_MODE = 0o100644 << 16


# ----------------------------------------------------------------------------------------------- atomic writes
@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on clean exit it is fsynced and moved onto ``path``.

    The block must create the file at exactly the yielded path (beware writers that append a suffix, such as
    ``np.savez``). On any exception the temporary file is deleted and ``path`` keeps its old content (or stays
    absent); an ``OSError`` (disk full, a parent that is a file) becomes a one-line `MemgenError` naming ``path``.
    Parent directories of ``path`` are created.
    """
    dest = Path(path)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a parent is a file, no permission, ...
        raise MemgenError(f"{dest}: cannot create its directory ({_one_line(e)})") from None
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        yield tmp
        if not tmp.is_file():
            raise MemgenError(f"{dest}: the writer did not create its temporary file {tmp.name}")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(e, OSError):  # disk full, read-only file system, ...: one line naming the destination
            raise MemgenError(f"{dest}: cannot write ({_one_line(e)})") from None
        raise
    _fsync_dir(dest.parent)


def _fsync_dir(directory: Path) -> None:
    """Best effort: persist the directory entry written by ``os.replace`` (not possible on every OS)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ---------------------------------------------------------------------------------------------------- images
def _check_images(images: Any, where: str) -> np.ndarray:
    if not isinstance(images, np.ndarray):
        raise MemgenError(f"{where}: images must be a numpy array, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise MemgenError(f"{where}: images must have dtype uint8, got {images.dtype}")
    if images.ndim != 4 or images.shape[-1] != 3:
        raise MemgenError(f"{where}: images must have shape [N, H, W, 3], got {list(images.shape)}")
    if images.shape[0] == 0 or images.shape[1] == 0 or images.shape[2] == 0:
        raise MemgenError(f"{where}: images must be non-empty, got shape {list(images.shape)}")
    return images


def _check_labels(labels: Any, n: int, where: str) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise MemgenError(f"{where}: labels must be integers, got dtype {labels.dtype}")
    if labels.ndim != 1 or labels.shape[0] != n:
        raise MemgenError(f"{where}: labels must have shape [{n}] to match the images, got {list(labels.shape)}")
    if labels.size and labels.min() < 0:
        raise MemgenError(f"{where}: labels must be >= 0, found {int(labels.min())}")
    return labels.astype(np.int64, copy=False)


def save_images_npz(path: PathLike, images: np.ndarray, labels: np.ndarray) -> None:
    """Atomically write ``images`` uint8 ``[N, H, W, 3]`` and ``labels`` (integers ``[N]``, stored as int64).

    The file is a zip of two stored (uncompressed) ``.npy`` entries, ``images.npy`` and ``labels.npy``, with
    fixed metadata, readable with ``np.load``. Identical arrays give byte-identical files across runs.
    """
    where = str(path)
    images = np.ascontiguousarray(_check_images(images, where))
    labels = np.ascontiguousarray(_check_labels(labels, images.shape[0], where))
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for key, array in (("images", images), ("labels", labels)):
                info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_STORED
                info.create_system = 3
                info.external_attr = _ZIP_MODE
                with zf.open(info, mode="w", force_zip64=True) as entry:
                    np.lib.format.write_array(entry, array, allow_pickle=False)


def load_images_npz(path: PathLike, require_labels: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Read an image set; return ``(images uint8 [N, H, W, 3], labels int64 [N])``.

    Keys ``images``/``labels`` are read, or else the improved-diffusion sample keys ``arr_0``/``arr_1``. When
    the file has no labels, ``require_labels=False`` returns zeros (for unconditional samples); the default
    raises, since a training set must say which class each image is. H and W may differ; N must be >= 1.
    """
    p = Path(path)
    if not p.is_file():
        raise MemgenError(f"{p}: no such image file")
    if not zipfile.is_zipfile(p):
        with open(p, "rb") as f:
            truncated = f.read(4) == b"PK\x03\x04"  # a zip's start without its central directory
        what = "truncated or corrupt .npz (zip directory missing)" if truncated else "not an .npz (zip) file"
        raise MemgenError(f"{p}: {what}")
    try:
        with np.load(p, allow_pickle=False) as data:
            keys = set(data.files)
            image_key, label_key = ("images", "labels") if "images" in keys else ("arr_0", "arr_1")
            if image_key not in keys:
                raise MemgenError(f"{p}: no 'images' (or 'arr_0') array; keys are {sorted(keys)}")
            images = data[image_key]
            labels = data[label_key] if label_key in keys else None
    except MemgenError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError, zlib.error) as e:
        raise MemgenError(f"{p}: corrupt or truncated .npz ({type(e).__name__}: {_one_line(e)})") from None
    images = _check_images(images, f"{p} [{image_key}]")
    if labels is None:
        if require_labels:
            raise MemgenError(f"{p}: no '{label_key}' array, but this image set needs class labels")
        return images, np.zeros(images.shape[0], dtype=np.int64)
    return images, _check_labels(labels, images.shape[0], f"{p} [{label_key}]")


def sha256_array(a: np.ndarray) -> str:
    """Hex SHA-256 of an array's dtype, shape and contents.

    The digest covers the ASCII header ``"dtype=<a.dtype.str>;shape=<d0,d1,...>;"`` (dtype in little-endian
    form, e.g. ``|u1``, ``<i8``) followed by the raw bytes in C order, so equal digests mean equal dtype, shape
    and values, independent of memory layout and host byte order.
    """
    a = np.asarray(a)
    a = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<") if a.dtype.byteorder == ">" else a.dtype)
    h = hashlib.sha256(f"dtype={a.dtype.str};shape={','.join(map(str, a.shape))};".encode("ascii"))
    h.update(memoryview(a).cast("B"))
    return h.hexdigest()


# ----------------------------------------------------------------------------------------- JSON, Parquet, torch
def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def write_json(path: PathLike, obj: Any) -> None:
    """Atomically write ``obj`` as strict JSON (sorted keys, indent 2, trailing newline, no NaN/inf).

    numpy scalars and arrays and ``Path`` objects are converted to plain JSON values.
    """
    try:
        text = json.dumps(obj, sort_keys=True, indent=2, allow_nan=False, default=_json_default) + "\n"
    except (TypeError, ValueError) as e:
        raise MemgenError(f"{path}: cannot write as JSON: {_one_line(e)}") from None
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_text(path: PathLike, text: str) -> None:
    """Atomically write a UTF-8 text file (Markdown tables, captions)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def read_json(path: PathLike) -> Any:
    """Read a JSON file; a missing or malformed file raises MemgenError naming it."""
    p = Path(path)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MemgenError(f"{p}: no such JSON file") from None
    except json.JSONDecodeError as e:
        raise MemgenError(f"{p}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise MemgenError(f"{p}: cannot read JSON ({_one_line(e)})") from None


def write_parquet(path: PathLike, df: Any) -> None:
    """Atomically write a pandas DataFrame as Parquet (pyarrow engine, the index dropped)."""
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise MemgenError(f"{path}: write_parquet needs a pandas DataFrame, got {type(df).__name__}")
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, engine="pyarrow", index=False)


def read_parquet(path: PathLike) -> Any:
    """Read a Parquet file into a pandas DataFrame; a missing or invalid file raises MemgenError naming it."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise MemgenError(f"{p}: no such Parquet file")
    try:
        return pd.read_parquet(p, engine="pyarrow")
    except (OSError, ValueError) as e:  # pyarrow.ArrowInvalid is a ValueError
        raise MemgenError(f"{p}: not a readable Parquet file ({_one_line(e)})") from None


def torch_save(path: PathLike, obj: Any) -> None:
    """Atomically ``torch.save`` ``obj`` (torch is imported only when this is called)."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _one_line(e: BaseException) -> str:
    """An exception's message squeezed onto one line."""
    return " ".join(str(e).split()) or type(e).__name__
