"""Snapshots carry the raw weights beside the EMA (the dynamics study samples both), in the plain format every memgen
checkpoint has; a snapshot of an earlier version (EMA only) still reads, and a run interrupted after a snapshot
resumes to the same weights and snapshot."""

import shutil

import pytest
import torch

from memgen import checkpoint, io
from memgen.config import load_config
from memgen.data.materialize import build_training_set
from memgen.errors import MemgenError
from memgen.train import train

CONFIG = {"image_size": 8, "model": {"channel_mult": [1, 2], "num_res_blocks": 1, "norm_groups": 8},
          "diffusion": {"steps": 50}, "sample": {"steps": 10}, "train": {"steps": 6, "batch_size": 4, "checkpoint_every": 3, "log_every": 1,
                                                "ema_rate": 0.9, "precision": "fp32", "compile": "off"}}


class _Stop(Exception):
    pass


def _run(d, steps, snapshots=None, log=lambda msg: None):
    images, labels, _ = build_training_set("mondrian", 4, 0, 8)
    config = load_config({**CONFIG, "train": {**CONFIG["train"], "steps": steps}})
    return train(config, images, labels, width=16, seed=0, out=d / "model.pt", loss_log=d / "loss.parquet",
                 device="cpu", snapshots=snapshots, log=log)


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A 6-step run with a snapshot at step 2, a 2-step run of the same cell, and the 6-step run stopped after
    step 4 (past its snapshot) and resumed."""
    root = tmp_path_factory.mktemp("snap")
    full, short, resumed = root / "full", root / "short", root / "resumed"
    for d in (full, short, resumed):
        d.mkdir()
    _run(full, 6, {2: full / "snapshots" / "step0000002.pt"})
    _run(short, 2)

    def stop(msg):
        if msg.startswith("step 4/"):
            raise _Stop

    with pytest.raises(_Stop):
        _run(resumed, 6, {2: resumed / "snapshots" / "step0000002.pt"}, log=stop)
    _run(resumed, 6, {2: resumed / "snapshots" / "step0000002.pt"})
    return full, short, resumed


def test_a_snapshot_holds_the_raw_and_the_ema_weights_of_its_step(runs):
    full, short, _ = runs
    snap = checkpoint.load(full / "snapshots" / "step0000002.pt")
    at_two = checkpoint.load(short / "model.pt")
    assert snap["step"] == 2 and "optimizer" not in snap
    assert _same(snap["model"], at_two["model"]) and _same(snap["ema"], at_two["ema"])
    assert not _same(snap["model"], snap["ema"])  # two different sets of weights, both kept
    raw, ema = checkpoint.build_model(snap, "model"), checkpoint.build_model(snap, "ema")
    assert _same(raw.state_dict(), at_two["model"]) and _same(ema.state_dict(), at_two["ema"])


def test_resume_after_a_snapshot_is_exact(runs):
    full, _, resumed = runs
    for name in ("model.pt", "snapshots/step0000002.pt"):
        a, b = checkpoint.load(full / name), checkpoint.load(resumed / name)
        assert _same(a["model"], b["model"]) and _same(a["ema"], b["ema"]), name


def test_a_snapshot_of_an_earlier_version_reads_its_ema_and_names_what_it_lacks(runs, tmp_path):
    full, _, _ = runs
    old = checkpoint.load(full / "snapshots" / "step0000002.pt")
    del old["model"]  # what snapshots held before: the EMA weights alone
    io.torch_save(tmp_path / "old.pt", old)
    loaded = checkpoint.load(tmp_path / "old.pt")
    assert _same(checkpoint.build_model(loaded, "ema").state_dict(), old["ema"])
    with pytest.raises(MemgenError, match="no 'model' weights .*keeps only the EMA"):
        checkpoint.build_model(loaded, "model")
    shutil.rmtree(tmp_path)
