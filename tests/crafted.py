"""Valid tiny files of every kind memgen reads, and crafted copies whose pickles carry a payload, for tests only.

The payload (`Payload`) unpickles to ``os.mkdir(marker)``: read by an unrestricted unpickler it leaves a directory
behind, the trace the tests look for. `live` proves each crafted file's payload fires when read unsafely, so a
test that finds no trace after memgen read the file is a test that could have failed.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import torch
import yaml

from memgen import checkpoint, classifier, io
from memgen.config import load_config
from memgen.data import build_training_set
from memgen.model import UNet, UNetConfig
from memgen.train import train
from tiny import tiny

CONFIG = tiny(30, 10, 5, capacity={"widths": [16], "sizes": [4]})
TINY_UNET = UNetConfig(image_size=8, width=16, num_res_blocks=1, channel_mult=(1, 2), attention_resolutions=(),
                       num_heads=4, dropout=0.0, norm_groups=8, learn_sigma=True)
REFERENCE_NAME = "ema_0.9999_000200.pt"  # an improved-diffusion file name: step 200


class Payload:
    """Unpickled, calls ``os.mkdir(marker)`` (the pickle names the global ``posix.mkdir``)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


class _Stop(Exception):
    pass


def valid_files(d: Path) -> dict[str, Path]:
    """Write valid tiny inputs under ``d``: training/held-out/sample sets, a model with its resumable state (step
    20 of 30) and snapshot (step 10), a classifier and an improved-diffusion state dict. Returns name -> path."""
    d.mkdir(parents=True, exist_ok=True)
    images, labels, _ = build_training_set("mondrian", 3, 0, 8, "gm", 2)  # 5 images, 2 classes
    held, held_labels, _ = build_training_set("mondrian", 3, 7, 8, "gm", 2)
    io.save_images_npz(d / "train.npz", images, labels)
    io.save_images_npz(d / "heldout.npz", held, held_labels)
    io.save_images_npz(d / "samples.npz", held, np.zeros(len(held), np.int64))
    (d / "tiny.json").write_text(json.dumps(CONFIG))

    def stop_at_25(msg):
        if msg.startswith("step 25/"):
            raise _Stop

    run = dict(width=16, seed=0, out=d / "model.pt", loss_log=d / "loss.parquet", device="cpu",
               snapshots={10: d / "snapshot.pt"})
    try:
        train(load_config(CONFIG), images, labels, log=stop_at_25, **run)
    except _Stop:
        shutil.copy(d / "model.pt.state", d / "state.pt")  # step 20; the run below resumes from it and ends
    train(load_config(CONFIG), images, labels, log=lambda msg: None, **run)

    state, _ = classifier.train_classifier(images, held, seed=0, steps=2, class_names=("mondrian", "gm"),
                                           device="cpu")
    io.torch_save(d / "classifier.pt", state)
    torch.manual_seed(0)
    torch.save(UNet(TINY_UNET).state_dict(), d / REFERENCE_NAME)
    return {"train": d / "train.npz", "heldout": d / "heldout.npz", "samples": d / "samples.npz",
            "config": d / "tiny.json", "model": d / "model.pt", "state": d / "state.pt", "snapshot": d / "snapshot.pt",
            "classifier": d / "classifier.pt", "reference": d / REFERENCE_NAME}


# ------------------------------------------------------------------------------ crafted copies, one per kind
def _with_payload(obj: dict, key: str, marker: Path) -> dict:
    """``obj`` with the entry ``key`` (a state-dict key, else a dotted path into nested dicts) replaced."""
    node = obj
    *parents, last = [key] if key in obj else key.split(".")
    for part in parents:
        node = node[part]
    node[last] = Payload(marker)
    return obj


def crafted_torch(src: Path, dst: Path, key: str, marker: Path, *, legacy_format: bool = False) -> Path:
    """``src`` (a torch file of memgen's) loaded as memgen loads it, ``key`` (dotted) replaced by the payload, saved
    to ``dst`` (torch's zip format, or its pre-1.6 format with ``legacy_format``)."""
    obj = torch.load(src, map_location="cpu", weights_only=True)
    torch.save(_with_payload(obj, key, marker), dst, _use_new_zipfile_serialization=not legacy_format)
    return dst


def crafted_pickle(dst: Path, marker: Path) -> Path:
    """A bare pickle (not a torch file) of the payload."""
    dst.write_bytes(pickle.dumps(Payload(marker), protocol=2))
    return dst


def crafted_npz(dst: Path, marker: Path) -> Path:
    """An .npz whose images are an object array holding the payload."""
    np.savez(dst, images=np.array([Payload(marker)], dtype=object), labels=np.zeros(1, np.int64))
    return dst


def crafted_yaml(dst: Path, marker: Path) -> Path:
    """A config whose image_size is a YAML python tag calling os.mkdir."""
    dst.write_text(f"image_size: !!python/object/apply:os.mkdir [{json.dumps(str(marker))}]\n")
    return dst


def crafted_cifar(root: Path, marker: Path) -> Path:
    """A CIFAR-10 archive in the real format whose first training batch pickles the payload as its data."""
    from cifar_fixture import Py2Str, _dump, write_cifar_archive

    write_cifar_archive(root, train_per_class=2, test_per_class=1)
    batch = root / "cifar-10-batches-py" / "data_batch_1"
    _dump(batch, {Py2Str(b"batch_label"): Py2Str(b"training batch 1 of 5"), Py2Str(b"labels"): [0, 1],
                  Py2Str(b"data"): Payload(marker)})
    return root


def live(kind: str, path: Path, marker: Path) -> bool:
    """Read the crafted ``path`` the unsafe way (what memgen must never do) and say whether ``marker`` appeared."""
    assert not marker.exists()
    try:
        if kind == "torch":
            torch.load(path, map_location="cpu", weights_only=False)
        elif kind == "pickle":
            with open(path, "rb") as handle:
                pickle.Unpickler(handle, encoding="latin1").load()
        elif kind == "npz":
            np.load(path, allow_pickle=True)["images"]
        elif kind == "yaml":
            yaml.unsafe_load(path.read_text())
    except Exception:  # noqa: BLE001 - the payload ran before whatever failed after it
        pass
    return marker.exists()
