"""Preemption loses at most the step in flight: SIGTERM/SIGUSR1 (SLURM's preemption, scancel, `sbatch --signal`)
finish the current step, write the resumable checkpoint at that step and exit 128 + signal, and a rerun ends
bit-identical to an uninterrupted run (model, EMA, optimizer and the loss log).

The real-SLURM version (scancel a training job, Snakemake's retry resumes it) is in test_slurm.py.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from memgen import checkpoint, io
from memgen.config import load_config
from memgen.data import build_training_set
from memgen.train import Preempted, train
from tiny import tiny

STEPS = 120
# checkpoints every 50 steps, log rows every 7: a preemption lands between both, so neither hides a loss
TINY = tiny(STEPS, 50, 7, dropout=0.1)
PREEMPTED = re.compile(r"preempted by (SIG\w+) at step (\d+): checkpoint written to (\S+); rerun to resume")


def assert_same_state(a: dict, b: dict) -> None:
    """Every tensor of the model, EMA and optimizer state equal (torch.equal), and the same step."""
    assert a["step"] == b["step"]
    for key in ("model", "ema"):
        assert a[key].keys() == b[key].keys()
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key]), key
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    assert sa.keys() == sb.keys() and len(sa) > 0
    for p in sa:
        assert sa[p].keys() == sb[p].keys()
        assert all(torch.equal(torch.as_tensor(sa[p][k]), torch.as_tensor(sb[p][k])) for k in sa[p]), p


def loss_table(path: Path) -> pd.DataFrame:
    return io.read_parquet(path).drop(columns=["steps_per_s"])  # wall-clock rate; every other column exact


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    images, labels, _ = build_training_set("mondrian", 3, 0, 8, "gm", 2)  # 5 images, 2 classes
    path = tmp_path_factory.mktemp("data") / "train.npz"
    io.save_images_npz(path, images, labels)
    return path, images, labels


def train_cmd(d: Path, data: Path) -> list[str]:
    return [sys.executable, "-m", "memgen", "train", "--config", json.dumps(TINY), "--data", str(data),
            "--width", "16", "--seed", "1", "--out", str(d / "model.pt"), "--loss-log", str(d / "loss.parquet"),
            "--device", "cpu", "--threads", "1"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data):
    """An uninterrupted CLI run: its final checkpoint and loss log."""
    d = tmp_path_factory.mktemp("ref")
    proc = subprocess.run(train_cmd(d, data[0]), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return checkpoint.load(d / "model.pt"), loss_table(d / "loss.parquet")


def signal_after_steps(cmd: list[str], signum: int, after: int) -> tuple[int, str, int]:
    """Run ``cmd``, send ``signum`` once its log shows step ``after``; return (exit code, output, last step seen)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines, seen = [], 0
    for line in proc.stdout:
        lines.append(line)
        if m := re.match(r"step (\d+)/", line):
            seen = int(m.group(1))
            if seen >= after:
                proc.send_signal(signum)
                break
    out = "".join(lines) + proc.stdout.read()
    return proc.wait(timeout=120), out, seen


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1], ids=["SIGTERM", "SIGUSR1"])
def test_signal_checkpoints_the_current_step_and_rerun_is_bit_identical(tmp_path, data, reference, signum):
    ref, ref_losses = reference
    code, out, seen = signal_after_steps(train_cmd(tmp_path, data[0]), signum, after=40)
    assert code == 128 + signum, out[-2000:]
    found = PREEMPTED.findall(out)
    assert len(found) == 1, out[-2000:]
    name, step, path = found[0]
    step = int(step)
    assert name == signum.name and Path(path) == tmp_path / "model.pt.state"
    assert seen <= step < STEPS  # the step in flight when the signal came, or the one after it
    saved = checkpoint.load(path)
    assert saved["step"] == step  # zero steps lost: the checkpoint is at the step the log reports
    assert not (tmp_path / "model.pt").exists() and not (tmp_path / "loss.parquet").exists()
    assert "Traceback" not in out

    rerun = subprocess.run(train_cmd(tmp_path, data[0]), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"at step {step}/{STEPS}" in rerun.stdout
    assert_same_state(checkpoint.load(tmp_path / "model.pt"), ref)
    pd.testing.assert_frame_equal(loss_table(tmp_path / "loss.parquet"), ref_losses)


def test_in_process_preemption_raises_at_that_step_and_restores_the_handlers(tmp_path, data):
    """The handler only records the signal: the step that was running completes, its checkpoint is written,
    `Preempted` carries step, path and exit code, and the caller's own SIGTERM handler is back afterwards."""
    _, images, labels = data
    config = load_config({**TINY, "train": {**TINY["train"], "steps": 30}})
    kwargs = dict(width=16, seed=2, device="cpu")
    ref = train(config, images, labels, out=tmp_path / "ref.pt", loss_log=tmp_path / "ref.pq", log=lambda m: None,
                **kwargs)

    def kill_self_at_step_14(msg: str) -> None:
        if msg.startswith("step 14/"):
            os.kill(os.getpid(), signal.SIGTERM)

    mine: list = []
    sentinel = lambda *args: mine.append(args)  # noqa: E731  the caller's own handler
    previous = signal.signal(signal.SIGTERM, sentinel)
    try:
        with pytest.raises(Preempted) as info:
            train(config, images, labels, out=tmp_path / "m.pt", loss_log=tmp_path / "m.pq",
                  log=kill_self_at_step_14, **kwargs)
        assert signal.getsignal(signal.SIGTERM) is sentinel and not mine  # restored, and never called by train
    finally:
        signal.signal(signal.SIGTERM, previous)
    err = info.value
    assert (err.step, err.exit_code, err.path) == (14, 128 + signal.SIGTERM, tmp_path / "m.pt.state")
    assert str(err) == f"preempted by SIGTERM at step 14: checkpoint written to {err.path}; rerun to resume"
    assert checkpoint.load(err.path)["step"] == 14
    got = train(config, images, labels, out=tmp_path / "m.pt", loss_log=tmp_path / "m.pq", log=lambda m: None,
                **kwargs)
    assert_same_state(got, ref)
    pd.testing.assert_frame_equal(loss_table(tmp_path / "m.pq"), loss_table(tmp_path / "ref.pq"))
