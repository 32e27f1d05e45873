"""A small CIFAR-10 archive in the real ``cifar-10-batches-py`` format, for tests only.

The real files are Python 2 pickles of dicts whose keys (``data``, ``labels``, ``batch_label``, ``filenames``;
``label_names`` in ``batches.meta``) are Python 2 ``str``: they load as ``b'data'`` with
``pickle.load(f, encoding="bytes")`` (the snippet on the CIFAR page) and as ``'data'`` with ``encoding="latin1"``
(what torchvision uses). ``Py2Str`` keys written with the SHORT_BINSTRING opcode reproduce both. ``data`` is
uint8 ``[n, 3072]``, each row the 1024 red, then green, then blue values of a 32 x 32 image in row-major order.

memgen checks each file's md5 against the real archive's (torchvision's table, ``torchvision.datasets.CIFAR10``),
which the fixture cannot match. Tests choose: ``use_fixture_checksums`` (the check still runs, against the
fixture's own md5 sums) or ``bypass_integrity`` (no check at all, to reach the unpickling of a damaged file).
Production code never does either.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path

import numpy as np

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]


class Py2Str(bytes):
    """A byte string pickled as a Python 2 ``str`` (SHORT_BINSTRING / BINSTRING)."""


class _Py2Pickler(pickle._Pickler):  # the pure-Python pickler, whose dispatch table can be extended
    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2str(self, obj):
        data = bytes(obj)
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + len(data).to_bytes(4, "little") + data)
        self.memoize(obj)

    dispatch[Py2Str] = save_py2str


def _dump(path: Path, obj) -> None:
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(obj)
    path.write_bytes(buffer.getvalue())


def _batch(name: str, images: np.ndarray, labels: np.ndarray) -> dict:
    data = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)  # HWC -> CHW rows
    return {Py2Str(b"batch_label"): Py2Str(name.encode()), Py2Str(b"labels"): [int(v) for v in labels],
            Py2Str(b"data"): np.ascontiguousarray(data, dtype=np.uint8),
            Py2Str(b"filenames"): [Py2Str(f"img_{i}.png".encode()) for i in range(len(images))]}


def write_cifar_archive(root: Path, train_per_class: int = 10, test_per_class: int = 2, seed: int = 0):
    """Write ``root/cifar-10-batches-py`` with ``train_per_class`` / ``test_per_class`` images of each class.

    Returns ``(images [N, 32, 32, 3], labels [N], split [N])`` in ``memgen.data.load_cifar10``'s order (train
    batches 1..5, then the test batch). Every image is distinct: random values with its index in pixel 0.
    """
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    n_train, n_test = 10 * train_per_class, 10 * test_per_class
    images = rng.integers(0, 256, size=(n_train + n_test, 32, 32, 3), dtype=np.uint8)
    images[:, 0, 0, 0], images[:, 0, 0, 1] = np.arange(len(images)) % 256, np.arange(len(images)) // 256
    labels = np.concatenate([rng.permutation(np.repeat(np.arange(10), k)) for k in (train_per_class,
                                                                                   test_per_class)])
    for i, chunk in enumerate(np.array_split(np.arange(n_train), 5)):
        _dump(folder / TRAIN_FILES[i], _batch(f"training batch {i + 1} of 5", images[chunk], labels[chunk]))
    test = np.arange(n_train, n_train + n_test)
    _dump(folder / "test_batch", _batch("testing batch 1 of 1", images[test], labels[test]))
    _dump(folder / "batches.meta", {Py2Str(b"label_names"): [Py2Str(c.encode()) for c in CLASSES],
                                    Py2Str(b"num_cases_per_batch"): n_train // 5, Py2Str(b"num_vis"): 3072})
    split = np.repeat(np.array([0, 1], dtype=np.int8), [n_train, n_test])
    return images, labels.astype(np.int64), split


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def use_fixture_checksums(monkeypatch, root: Path) -> None:
    """Point torchvision's CIFAR10 md5 table at the fixture files' current md5 sums (the check still runs)."""
    from torchvision.datasets import CIFAR10

    folder = Path(root) / "cifar-10-batches-py"
    monkeypatch.setattr(CIFAR10, "train_list", [[f, _md5(folder / f)] for f in TRAIN_FILES])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", _md5(folder / "test_batch")]])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": _md5(folder / "batches.meta")})


def bypass_integrity(monkeypatch) -> None:
    """Skip torchvision's md5 checks entirely (files must only exist)."""
    import torchvision.datasets.cifar as tv_cifar

    monkeypatch.setattr(tv_cifar.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda path, md5=None: Path(path).is_file())


def archive_fixtures(train_per_class: int, test_per_class: int):
    """Two pytest fixtures for a test module: ``archive`` (root, arrays), written once per module, and ``root``, its
    directory with the fixture's md5 sums in force for the test. Use: ``archive, root = archive_fixtures(16, 4)``."""
    import pytest

    @pytest.fixture(scope="module")
    def archive(tmp_path_factory):
        path = tmp_path_factory.mktemp("cifar")
        return path, write_cifar_archive(path, train_per_class=train_per_class, test_per_class=test_per_class)

    @pytest.fixture
    def root(archive, monkeypatch):
        use_fixture_checksums(monkeypatch, archive[0])
        return archive[0]

    return archive, root
