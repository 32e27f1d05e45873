"""Training and sampling: tiny nets, real code paths. Resume must be exact; bad states must be refused."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from memgen import checkpoint, io
from memgen.config import load_config
from memgen.data import build_training_set
from memgen.errors import MemgenError
from memgen.precision import cpu_has_bf16
from memgen.sample import plan_labels, sample
from memgen.train import BatchStream, train
from tiny import tiny

TINY = tiny(30, 10, 5, dropout=0.1)


def tiny_config(**train):
    cfg = {**TINY, "train": {**TINY["train"], **train}}
    return load_config(cfg)


@pytest.fixture(scope="module")
def data():
    images, labels, _ = build_training_set("mondrian", 3, 0, 8, "gm", 2)  # 5 images < batch 8
    return images, labels


def _equal_states(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _opt_tensors(opt_state: dict):
    return [t for s in opt_state["state"].values() for t in s.values() if torch.is_tensor(t)]


class _Interrupt(Exception):
    pass


def test_batch_stream_cycles_small_sets_and_covers_every_image():
    stream = BatchStream(n=3, batch_size=8, seed=0)
    batch = stream.indices(0)
    assert len(batch) == 8 and set(batch) == {0, 1, 2}
    # every window of n consecutive positions of the stream is a permutation
    flat = np.concatenate([stream.indices(s) for s in range(3)])
    for e in range(len(flat) // 3):
        assert sorted(flat[3 * e : 3 * e + 3]) == [0, 1, 2]
    assert np.array_equal(BatchStream(3, 8, 0).indices(2), stream.indices(2))  # stateless


@pytest.mark.parametrize("n, batch, chunk", [(3, 8, 2), (5, 4, 16), (40, 8, 3), (7, 7, None)])
def test_device_indices_are_the_batch_indices_across_blocks(n, batch, chunk):
    """The loop slices its batches from blocks of steps copied to the device at once: the same numbers as
    `indices`, whatever the block boundaries and wherever a (resumed) run starts."""
    for start in (0, 5):
        stream = BatchStream(n, batch, seed=3, chunk_steps=chunk)
        for s in range(start, start + 70):
            got = stream.device_indices(s, torch.device("cpu"))
            assert got.dtype == torch.int64 and np.array_equal(got.numpy(), stream.indices(s)), s


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_batch_indices_do_not_synchronise_the_host():
    stream = BatchStream(50_000, 128, seed=0)
    torch.cuda.set_sync_debug_mode("error")  # raises on any operation that makes the host wait for the device
    try:
        got = [stream.device_indices(s, torch.device("cuda")) for s in range(40)]  # crosses two blocks
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert all(np.array_equal(g.cpu().numpy(), stream.indices(s)) for s, g in enumerate(got))


def test_train_writes_checkpoint_and_loss_log(tmp_path, data):
    images, labels = data
    cfg = tiny_config()
    final = train(cfg, images, labels, width=16, seed=0, out=tmp_path / "m.pt", loss_log=tmp_path / "l.parquet",
                  device="cpu", log=lambda m: None)
    assert final["step"] == 30 and final["num_classes"] == 2  # two classes -> conditional
    assert not (tmp_path / "m.pt.state").exists()
    ckpt = checkpoint.load(tmp_path / "m.pt")
    assert {"model", "ema", "optimizer", "rng", "config", "step", "unet"} <= set(ckpt)
    assert ckpt["config"]["train"]["steps"] == 30
    log = io.read_parquet(tmp_path / "l.parquet")
    assert list(log["step"]) == [5, 10, 15, 20, 25, 30]
    assert {"loss", "mse", "vb", "loss_q0", "loss_q1", "loss_q2", "loss_q3"} <= set(log.columns)
    assert np.allclose(log["loss"], log["mse"] + log["vb"], rtol=1e-6)
    # EMA differs from the raw weights after training
    assert not _equal_states(ckpt["model"], ckpt["ema"])


@pytest.mark.parametrize("precision", ["auto", "bf16"])
def test_interrupted_run_resumes_bit_identically(tmp_path, data, precision):
    """On both numeric paths: auto (fp32 at this size) and bf16 autocast (where the CPU computes bf16)."""
    if precision == "bf16" and not cpu_has_bf16():
        pytest.skip("this CPU has no native bf16")
    images, labels = data
    cfg = tiny_config(precision=precision)
    ref = train(cfg, images, labels, width=16, seed=1, out=tmp_path / "ref.pt", loss_log=tmp_path / "ref.parquet",
                device="cpu", log=lambda m: None)

    def die_after_step_25(msg):
        if msg.startswith("step 25/"):
            raise _Interrupt

    with pytest.raises(_Interrupt):
        train(cfg, images, labels, width=16, seed=1, out=tmp_path / "run.pt", loss_log=tmp_path / "run.parquet",
              device="cpu", log=die_after_step_25)
    assert checkpoint.load(tmp_path / "run.pt.state")["step"] == 20
    lines = []
    got = train(cfg, images, labels, width=16, seed=1, out=tmp_path / "run.pt", loss_log=tmp_path / "run.parquet",
                device="cpu", log=lines.append)
    assert any("resumed from" in l and "step 20/30" in l for l in lines)
    assert any(f"precision={'bf16' if precision == 'bf16' else 'fp32'}" in l for l in lines)  # the path it ran
    assert _equal_states(ref["model"], got["model"])
    assert _equal_states(ref["ema"], got["ema"])
    assert all(torch.equal(a, b) for a, b in zip(_opt_tensors(ref["optimizer"]), _opt_tensors(got["optimizer"])))
    assert io.read_parquet(tmp_path / "run.parquet")["step"].tolist() == [5, 10, 15, 20, 25, 30]


def test_checkpoint_from_another_config_is_refused(tmp_path, data):
    images, labels = data
    state = tmp_path / "m.pt.state"

    def stop_at_15(msg):
        if msg.startswith("step 15/"):
            raise _Interrupt

    with pytest.raises(_Interrupt):
        train(tiny_config(), images, labels, width=16, seed=0, out=tmp_path / "m.pt", loss_log=tmp_path / "l.pq",
              device="cpu", log=stop_at_15)
    before = state.read_bytes()
    with pytest.raises(MemgenError, match=r"differs at train\.lr"):
        train(tiny_config(lr=0.01), images, labels, width=16, seed=0, out=tmp_path / "m.pt",
              loss_log=tmp_path / "l.pq", device="cpu")
    with pytest.raises(MemgenError, match="seed=0, this run has seed=5"):
        train(tiny_config(), images, labels, width=16, seed=5, out=tmp_path / "m.pt", loss_log=tmp_path / "l.pq",
              device="cpu", log=lambda m: None)
    assert state.read_bytes() == before  # nothing damaged
    # a longer step budget is a legitimate resume
    final = train(tiny_config(steps=40), images, labels, width=16, seed=0, out=tmp_path / "m.pt",
                  loss_log=tmp_path / "l.pq", device="cpu")
    assert final["step"] == 40


def test_truncated_checkpoint_is_one_line_error(tmp_path):
    path = tmp_path / "bad.pt"
    path.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(MemgenError) as err:
        checkpoint.load(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_non_finite_loss_stops_with_step_and_keeps_last_checkpoint(tmp_path, data, monkeypatch):
    from memgen.diffusion import GaussianDiffusion

    images, labels = data
    real = GaussianDiffusion.training_losses
    calls = {"n": 0}

    def poisoned(self, *args, **kwargs):
        calls["n"] += 1
        out = real(self, *args, **kwargs)
        if calls["n"] == 13:
            out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(GaussianDiffusion, "training_losses", poisoned)
    with pytest.raises(MemgenError, match=r"non-finite loss at step 13; last good checkpoint kept at .*m\.pt\.state"):
        train(tiny_config(), images, labels, width=16, seed=0, out=tmp_path / "m.pt", loss_log=tmp_path / "l.pq",
              device="cpu", log=lambda m: None)
    assert checkpoint.load(tmp_path / "m.pt.state")["step"] == 10
    assert not (tmp_path / "m.pt").exists()


def test_sigkill_during_training_then_rerun_resumes(tmp_path, data, repo_root):
    images, labels = data
    io.save_images_npz(tmp_path / "train.npz", images, labels)
    cfg = dict(TINY, train={**TINY["train"], "steps": 400, "checkpoint_every": 20, "log_every": 20})
    import json

    cmd = [sys.executable, "-m", "memgen", "train", "--config", json.dumps(cfg), "--data", str(tmp_path / "train.npz"),
           "--width", "16", "--seed", "0", "--out", str(tmp_path / "m.pt"), "--loss-log", str(tmp_path / "l.pq"),
           "--device", "cpu", "--threads", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    state = tmp_path / "m.pt.state"
    deadline = time.time() + 120
    while time.time() < deadline and not state.exists():
        time.sleep(0.05)
    time.sleep(0.3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert state.exists() and not (tmp_path / "m.pt").exists()
    killed_at = checkpoint.load(state)["step"]
    assert 0 < killed_at < 400
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    resumed = [l for l in done.stdout.splitlines() if l.startswith("resumed from")]
    assert len(resumed) == 1
    step = int(resumed[0].split("at step ")[1].split("/")[0])
    assert step >= killed_at and step % 20 == 0
    assert checkpoint.load(tmp_path / "m.pt")["step"] == 400


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory, data):
    images, labels = data
    out = tmp_path_factory.mktemp("ckpt") / "m.pt"
    return train(tiny_config(steps=10), images, labels, width=16, seed=0, out=out, loss_log=out.with_suffix(".pq"),
                 device="cpu", log=lambda m: None)


def test_samples_do_not_depend_on_batch_size(tiny_ckpt):
    """Sample i's noise is a function of (seed, i) alone, bit for bit (tests/test_noise.py), so a seed gives the same
    samples whatever the batch size up to the network's float rounding, which is not a function of the image alone:
    the UNet's GEMMs and convolutions take other kernels for other batch sizes (its output moves by ~1e-6 between
    batches of 1, 2, 3 and 10 on this project's Intel CPU), which moves a value that sits at a rounding boundary of
    the uint8 output by one level."""
    a, la = sample(tiny_ckpt, num_samples=5, steps=10, seed=3, batch_size=2, device="cpu")
    b, lb = sample(tiny_ckpt, num_samples=5, steps=10, seed=3, batch_size=10, device="cpu")
    assert a.dtype == np.uint8 and a.shape == (10, 8, 8, 3)  # 5 per trained class x 2 classes
    assert np.abs(a.astype(np.int16) - b).max() <= 1 and np.array_equal(la, lb)
    assert la.tolist() == [0] * 5 + [1] * 5
    c, _ = sample(tiny_ckpt, num_samples=5, steps=10, seed=4, batch_size=10, device="cpu")
    assert not np.array_equal(a, c)


def test_labels_only_from_trained_classes(tiny_ckpt):
    assert plan_labels(2, 3, [1]).tolist() == [1, 1, 1]
    assert plan_labels(0, 4, None).tolist() == [0, 0, 0, 0]
    with pytest.raises(MemgenError, match=r"classes 0\.\.1 only"):
        sample(tiny_ckpt, num_samples=2, steps=10, seed=0, classes=[7], device="cpu")
    with pytest.raises(MemgenError, match="--steps 500"):
        sample(tiny_ckpt, num_samples=2, steps=500, seed=0, device="cpu")
