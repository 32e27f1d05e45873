"""A stop signal during a run's first step (which compiles for about 90 s on a GPU: past SLURM's 30 s KillWait)
is acted on at once: nothing exists yet that the checkpoint on disk, or a fresh start, lacks. A slow first step is
simulated on CPU: in Python (the handler stops it) and in native code that does not return to Python (a watcher
thread ends the process)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from memgen import io
from memgen.config import load_config
from memgen.data import build_training_set
from memgen.step import TrainStep
from memgen.train import Preempted, train
from tiny import tiny

TINY = tiny(12, 4, 4)
WORKFLOW = Path(__file__).resolve().parents[1] / "workflow"


@pytest.fixture(scope="module")
def data():
    return build_training_set("mondrian", 3, 0, 8, "gm", 2)[:2]


def _slow_first_step(progress: dict):
    """A TrainStep whose first call signals its own process, then works in Python for up to 60 s."""

    class SlowFirst(TrainStep):
        calls = 0

        def __call__(self, *args, **kwargs):
            SlowFirst.calls += 1
            if SlowFirst.calls == 1:
                os.kill(os.getpid(), signal.SIGTERM)
                for _ in range(600):  # "compiling"
                    time.sleep(0.1)
                progress["finished"] = True
            return super().__call__(*args, **kwargs)

    return SlowFirst


def test_signal_in_the_first_step_stops_at_once_with_the_checkpoint_on_disk_current(tmp_path, data, monkeypatch):
    images, labels = data
    config = load_config(TINY)
    kwargs = dict(width=16, seed=0, device="cpu", out=tmp_path / "m.pt", loss_log=tmp_path / "l.pq")
    ref = train(config, images, labels, **{**kwargs, "out": tmp_path / "ref.pt"}, log=lambda m: None)

    def stop_at_8(msg: str) -> None:  # an ordinary preemption first: checkpoint at step 8
        if msg.startswith("step 8/"):
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(Preempted):
        train(config, images, labels, **kwargs, log=stop_at_8)
    state = tmp_path / "m.pt.state"
    before = state.read_bytes()

    progress: dict = {}
    monkeypatch.setattr("memgen.train.TrainStep", _slow_first_step(progress))
    logged: list[str] = []
    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Preempted) as info:
        train(config, images, labels, **kwargs, log=logged.append)
    err = info.value
    assert not progress  # the slow first step was abandoned, not finished
    assert (err.step, err.saved, err.exit_code) == (8, False, 143)
    assert str(err) == f"preempted by SIGTERM at step 8, before this run's first step finished: {state} is " \
                       "already at that step"
    assert logged[-1] == str(err) and state.read_bytes() == before  # nothing written
    assert signal.getsignal(signal.SIGTERM) == handler  # the handlers, and no wakeup fd, are left behind
    assert signal.set_wakeup_fd(-1) == -1

    monkeypatch.undo()
    final = train(config, images, labels, **kwargs, log=lambda m: None)  # resumes at 8 and ends as the reference
    assert all(torch.equal(final["ema"][k], ref["ema"][k]) for k in ref["ema"])


def test_signal_in_the_first_step_of_a_fresh_run_leaves_nothing(tmp_path, data, monkeypatch):
    images, labels = data
    progress: dict = {}
    monkeypatch.setattr("memgen.train.TrainStep", _slow_first_step(progress))
    with pytest.raises(Preempted) as info:
        train(load_config(TINY), images, labels, width=16, seed=0, device="cpu", out=tmp_path / "m.pt",
              loss_log=tmp_path / "l.pq", log=lambda m: None)
    assert info.value.step == 0 and "no checkpoint yet, a rerun starts over" in str(info.value)
    assert not progress and list(tmp_path.iterdir()) == []


# The first step blocks in native code (glibc's system() retries its waitpid on EINTR, so the interpreter never
# gets to run the Python handler), as the lazy compile of the backward does on CUDA's autograd thread.
_NATIVE = """
import json, os, sys
import numpy as np
import memgen.train
from memgen.config import load_config
from memgen.step import TrainStep

class NativeFirst(TrainStep):
    calls = 0
    def __call__(self, *args, **kwargs):
        NativeFirst.calls += 1
        if NativeFirst.calls == 1:
            os.system("echo first step running; exec sleep 20 >/dev/null")  # announced from inside the call
            print("NATIVE CALL RETURNED", flush=True)
        return super().__call__(*args, **kwargs)

memgen.train.TrainStep = NativeFirst
data = np.load(sys.argv[2])
memgen.train.train(load_config(json.loads(sys.argv[1])), data["images"], data["labels"], width=16, seed=0,
                   device="cpu", out=sys.argv[3], loss_log=sys.argv[4], log=lambda m: print(m, flush=True))
"""


def test_signal_while_the_first_step_is_in_native_code_exits_from_the_watcher(tmp_path, data):
    images, labels = data
    io.save_images_npz(tmp_path / "d.npz", images, labels)
    env = {**os.environ, "PYTHONPATH": str(WORKFLOW)}
    proc = subprocess.Popen([sys.executable, "-c", _NATIVE, json.dumps(TINY), str(tmp_path / "d.npz"),
                             str(tmp_path / "m.pt"), str(tmp_path / "l.pq")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("first step running"):
            proc.send_signal(signal.SIGTERM)
            break
    out = "".join(lines) + proc.stdout.read()
    assert proc.wait(timeout=60) == 143, out
    assert "NATIVE CALL RETURNED" not in out
    assert "SIGTERM before this run's first step finished, and the main thread did not stop within 5 s" in out
    assert not (tmp_path / "m.pt.state").exists() and not (tmp_path / "m.pt").exists()
