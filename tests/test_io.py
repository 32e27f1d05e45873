"""memgen.io: deterministic .npz, clear one-line errors on bad files, atomic writes."""

import io as io_module
import json
import os
import zipfile

import numpy as np
import pandas as pd
import pytest

from memgen import io
from memgen.errors import MemgenError


def _images(n=5, h=8, w=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, h, w, 3), dtype=np.uint8), rng.integers(0, 3, size=n, dtype=np.int64)


def _one_line_error(excinfo, path):
    message = str(excinfo.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def test_roundtrip_and_byte_identical(tmp_path):
    images, labels = _images()
    a, b = tmp_path / "a.npz", tmp_path / "sub" / "dir" / "b.npz"
    io.save_images_npz(a, images, labels)
    io.save_images_npz(b, images.copy(order="F"), labels.astype(np.int32))
    assert a.read_bytes() == b.read_bytes()
    got_images, got_labels = io.load_images_npz(a)
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    assert got_labels.dtype == np.int64
    with np.load(a) as data:  # a plain npz for any numpy reader
        assert sorted(data.files) == ["images", "labels"]


def test_non_square_images_load(tmp_path):
    images, labels = _images(h=6, w=10)
    io.save_images_npz(tmp_path / "x.npz", images, labels)
    assert io.load_images_npz(tmp_path / "x.npz")[0].shape == (5, 6, 10, 3)


@pytest.mark.parametrize(
    "images, labels",
    [
        (np.zeros((2, 4, 4, 3), np.float32), np.zeros(2, np.int64)),
        (np.zeros((2, 4, 4), np.uint8), np.zeros(2, np.int64)),
        (np.zeros((2, 4, 4, 1), np.uint8), np.zeros(2, np.int64)),
        (np.zeros((0, 4, 4, 3), np.uint8), np.zeros(0, np.int64)),
        (np.zeros((2, 4, 4, 3), np.uint8), np.zeros(3, np.int64)),
        (np.zeros((2, 4, 4, 3), np.uint8), np.zeros(2, np.float64)),
        (np.zeros((2, 4, 4, 3), np.uint8), -np.ones(2, np.int64)),
    ],
)
def test_save_validates_before_writing(tmp_path, images, labels):
    path = tmp_path / "bad.npz"
    with pytest.raises(MemgenError) as excinfo:
        io.save_images_npz(path, images, labels)
    _one_line_error(excinfo, path)
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_improved_diffusion_layout(tmp_path):
    images, labels = _images()
    np.savez(tmp_path / "cond.npz", images, labels)  # arr_0, arr_1 as improved-diffusion writes them
    np.savez(tmp_path / "uncond.npz", images)
    got_images, got_labels = io.load_images_npz(tmp_path / "cond.npz")
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    got_images, got_labels = io.load_images_npz(tmp_path / "uncond.npz", require_labels=False)
    np.testing.assert_array_equal(got_images, images)
    assert got_labels.dtype == np.int64 and not got_labels.any() and len(got_labels) == len(images)
    with pytest.raises(MemgenError) as excinfo:
        io.load_images_npz(tmp_path / "uncond.npz")
    assert "arr_1" in _one_line_error(excinfo, tmp_path / "uncond.npz")


def _npy_bytes():
    buffer = io_module.BytesIO()
    np.save(buffer, np.zeros(3))
    return buffer.getvalue()


def _write_truncated(path):
    images, labels = _images(n=20)
    io.save_images_npz(path, images, labels)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _write_flipped_bytes(path):
    images, labels = _images(n=20)
    io.save_images_npz(path, images, labels)
    data = bytearray(path.read_bytes())
    data[200:260] = bytes(60)  # inside the images entry: CRC mismatch
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda p: None, "no such"),
        (_write_truncated, "truncated"),
        (_write_flipped_bytes, "corrupt"),
        (lambda p: p.write_text("hello, I am not a zip"), "not an .npz"),
        (lambda p: p.write_bytes(_npy_bytes()), "not an .npz"),
        (lambda p: np.savez(p, images=np.zeros((2, 4, 4, 3)), labels=np.zeros(2, np.int64)), "uint8"),
        (lambda p: np.savez(p, images=np.zeros((2, 4, 4), np.uint8), labels=np.zeros(2, np.int64)), "shape"),
        (lambda p: np.savez(p, images=np.zeros((0, 4, 4, 3), np.uint8), labels=np.zeros(0, np.int64)), "empty"),
        (lambda p: np.savez(p, pictures=np.zeros((2, 4, 4, 3), np.uint8)), "images"),
        (lambda p: np.savez(p, images=np.zeros((2, 4, 4, 3), np.uint8)), "labels"),
        (lambda p: np.savez(p, images=np.zeros((2, 4, 4, 3), np.uint8), labels=np.zeros(3, np.int64)), "[2]"),
        (lambda p: np.savez(p, images=np.zeros((2, 4, 4, 3), np.uint8), labels=np.zeros(2)), "integers"),
        (lambda p: np.savez(p, images=np.array([None, 1], dtype=object)), "npz"),
    ],
    ids=["missing", "truncated", "corrupt", "not-zip", "npy", "float", "shape", "empty", "no-images",
         "no-labels", "label-length", "label-dtype", "pickled"],
)
def test_load_errors_are_one_line_and_name_the_file(tmp_path, make, fragment):
    path = tmp_path / "data.npz"
    make(path)
    with pytest.raises(MemgenError) as excinfo:
        io.load_images_npz(path)
    assert fragment in _one_line_error(excinfo, path)


def test_atomic_write_failure_keeps_old_content(tmp_path):
    dest = tmp_path / "out.json"
    io.write_json(dest, {"old": 1})
    before = dest.read_bytes()
    with pytest.raises(RuntimeError):
        with io.atomic_path(dest) as tmp:
            assert tmp.parent == dest.parent and tmp.name.startswith(f".{dest.name}.tmp-{os.getpid()}-")
            tmp.write_bytes(b"half of a new fi")
            raise RuntimeError("writer died midway")
    assert dest.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_atomic_write_failure_in_library_writer(tmp_path, monkeypatch):
    dest = tmp_path / "set.npz"
    images, labels = _images()
    io.save_images_npz(dest, images, labels)
    before = dest.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np.lib.format, "write_array", boom)
    with pytest.raises(MemgenError, match=r"set\.npz: cannot write \(disk full\)"):
        io.save_images_npz(dest, images[::-1], labels)
    assert dest.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["set.npz"]


def test_atomic_path_requires_the_file(tmp_path):
    with pytest.raises(MemgenError):
        with io.atomic_path(tmp_path / "x.bin"):
            pass
    assert list(tmp_path.iterdir()) == []


def test_json(tmp_path):
    path = tmp_path / "a" / "card.json"
    io.write_json(path, {"b": np.int64(2), "a": [np.float32(0.5)], "c": np.arange(2)})
    text = path.read_text()
    assert text.endswith("}\n") and text.index('"a"') < text.index('"b"')
    assert json.loads(text) == {"a": [0.5], "b": 2, "c": [0, 1]}
    assert io.read_json(path) == {"a": [0.5], "b": 2, "c": [0, 1]}
    with pytest.raises(MemgenError):
        io.write_json(tmp_path / "nan.json", {"x": float("nan")})
    assert not (tmp_path / "nan.json").exists()
    (tmp_path / "bad.json").write_text("{not json")
    for bad in (tmp_path / "bad.json", tmp_path / "missing.json"):
        with pytest.raises(MemgenError) as excinfo:
            io.read_json(bad)
        _one_line_error(excinfo, bad)


def test_parquet(tmp_path):
    df = pd.DataFrame({"width": [32, 64], "ratio": [0.2, 0.5], "kind": ["mo", "gm"]}, index=[7, 9])
    path = tmp_path / "t" / "table.parquet"
    io.write_parquet(path, df)
    back = io.read_parquet(path)
    pd.testing.assert_frame_equal(back, df.reset_index(drop=True))
    (tmp_path / "bad.parquet").write_text("nope")
    for bad in (tmp_path / "bad.parquet", tmp_path / "missing.parquet"):
        with pytest.raises(MemgenError) as excinfo:
            io.read_parquet(bad)
        _one_line_error(excinfo, bad)


def test_torch_save(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "ckpt" / "model.pt"
    io.torch_save(path, {"w": torch.arange(3), "step": 5})
    back = torch.load(path)
    assert back["step"] == 5 and torch.equal(back["w"], torch.arange(3))
    assert [p.name for p in path.parent.iterdir()] == ["model.pt"]


def test_sha256_array():
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert io.sha256_array(a) == io.sha256_array(a.copy(order="F"))
    assert io.sha256_array(a) == io.sha256_array(a.T.T)
    assert io.sha256_array(a) != io.sha256_array(a.reshape(4, 3))
    assert io.sha256_array(a) != io.sha256_array(a.astype(np.int64))
    assert io.sha256_array(a.astype(">i8")) == io.sha256_array(a.astype("<i8"))
    b = a.copy()
    b[0, 0] = 1
    assert io.sha256_array(a) != io.sha256_array(b)
    assert len(io.sha256_array(a)) == 64


def test_zip_metadata_is_fixed(tmp_path):
    images, labels = _images()
    io.save_images_npz(tmp_path / "x.npz", images, labels)
    with zipfile.ZipFile(tmp_path / "x.npz") as zf:
        assert [i.date_time for i in zf.infolist()] == [(1980, 1, 1, 0, 0, 0)] * 2
        assert zf.testzip() is None
