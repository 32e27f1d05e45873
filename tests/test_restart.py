"""Restart after a hard kill, with the README's commands: SIGKILL of the whole `./run pipeline` process group
mid-training (a power cut, the OOM killer), then `./run pipeline` (one line: the lock is stale), `./run pipeline
--unlock`, `./run pipeline`; every table must equal an uninterrupted run's.

The runs use the real `run` script in a scratch copy of the repository (its files symlinked, a tiny config.yaml)
whose .venv is this interpreter, stamped as installed, so `./run pipeline` starts Snakemake at once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from tiny import tiny

from memgen import io, runlock

ROOT = Path(__file__).resolve().parents[1]
# One training of 300 steps (a checkpoint every 10): long enough to be killed in, a few seconds in all.
CONFIG = tiny(300, 10, 10, results="results", seeds=[0], sample={"num_samples": 8, "batch_size": 8, "steps": 10},
              capacity={"widths": [16], "sizes": [4]})
MODEL = "results/models/mondrian/w16-n4-none0-it300-b8-uncond-s0"
SAMPLES = "results/samples/mondrian/w16-n4-none0-it300-b8-uncond-s0/final-ema-all-x8-t10-s0"
WALL_CLOCK = ["steps_per_s"]  # the loss log's training speed: the one column that measures time, not the model


def scratch_repo(path: Path) -> Path:
    """A copy of the repository as `./run pipeline` sees it, with CONFIG as its config.yaml."""
    path.mkdir(parents=True)
    for name in ("Snakefile", "workflow", "envs", "pyproject.toml"):
        (path / name).symlink_to(ROOT / name)
    shutil.copy(ROOT / "run", path / "run")
    (path / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    venv = path / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    snakemake = venv / "bin" / "snakemake"
    snakemake.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m snakemake "$@"\n')
    snakemake.chmod(0o755)
    stamp = hashlib.sha256((ROOT / "envs" / "constraints.txt").read_bytes() + (ROOT / "pyproject.toml").read_bytes())
    (venv / ".memgen-installed").write_text(stamp.hexdigest()[:16] + "\n")  # as `run` computes it: no install
    return path


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "workflow"), os.environ.get("PYTHONPATH", "")])}


def run_pipeline(repo: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["./run", "pipeline", *args], cwd=repo, env=_env(), capture_output=True, text=True,
                          timeout=timeout)


def tables(repo: Path) -> dict[str, pd.DataFrame]:
    """Every Parquet table under results/ (logs and Snakemake's benchmark timings aside), by relative path."""
    found = {}
    for path in sorted((repo / "results").rglob("*.parquet")):
        rel = str(path.relative_to(repo / "results"))
        if not rel.startswith(("logs/", "benchmarks/")):
            table = pd.read_parquet(path)
            found[rel] = table.drop(columns=[c for c in WALL_CLOCK if c in table])
    return found


def _wait_for(condition, proc: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, f"the run ended (rc {proc.returncode}) before the training was killed"
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(uninterrupted repo, killed-and-restarted repo, the three restart commands' results)."""
    base = tmp_path_factory.mktemp("restart")
    whole = subprocess.Popen(["./run", "pipeline"], cwd=scratch_repo(base / "whole"), env=_env(),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    killed = scratch_repo(base / "killed")
    proc = subprocess.Popen(["./run", "pipeline"], cwd=killed, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # its own process group
    try:
        _wait_for(lambda: (killed / MODEL / "model.pt.state").is_file(), proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # Snakemake and every job it started, at once
        proc.wait()
    deadline = time.monotonic() + 30
    while runlock.processes_in(killed) and time.monotonic() < deadline:  # the killed group is reaped
        time.sleep(0.1)
    restarted = {"left": runlock.processes_in(killed), "trained": (killed / MODEL / "model.pt").exists(),
                 "locks": runlock.lock_files(killed)}
    restarted["stale"] = run_pipeline(killed)
    restarted["unlock"] = run_pipeline(killed, "--unlock")
    restarted["again"] = run_pipeline(killed)
    out, _ = whole.communicate(timeout=300)
    assert whole.returncode == 0, out[-3000:]
    return base / "whole", killed, restarted


def test_the_kill_left_a_stale_lock_and_an_unfinished_training(runs):
    _, _, got = runs
    assert got["left"] == [] and not got["trained"] and got["locks"]


def test_a_stale_lock_is_one_line_naming_the_unlock_command(runs):
    _, killed, got = runs
    stale = got["stale"]
    assert stale.returncode == 1 and stale.stdout == ""
    assert stale.stderr.splitlines() == [stale.stderr.strip()], stale.stderr  # one line, no traceback
    assert stale.stderr.startswith(f"memgen: {killed.resolve()} is locked") and "./run pipeline --unlock" in stale.stderr
    assert got["unlock"].returncode == 0, got["unlock"].stderr[-3000:]


def test_the_restarted_run_resumes_training_and_every_table_equals_an_uninterrupted_run(runs):
    whole, killed, got = runs
    assert got["again"].returncode == 0, got["again"].stderr[-3000:]
    log = (killed / "results" / "logs" / MODEL.removeprefix("results/") / "model.log").read_text()
    assert "resumed from" in log, log[-2000:]
    expected, restarted = tables(whole), tables(killed)
    assert expected and sorted(restarted) == sorted(expected)
    for name, table in expected.items():
        pd.testing.assert_frame_equal(restarted[name], table, obj=name)
    samples = [io.load_images_npz(repo / SAMPLES / "samples.npz") for repo in (whole, killed)]
    assert all(np.array_equal(a, b) for a, b in zip(*samples))  # the resumed model draws the same samples
    assert runlock.lock_files(killed) == []


def test_workdir_comes_from_snakemakes_directory_flag(tmp_path):
    assert runlock.workdir_of(["--cores", "2"], tmp_path) == tmp_path.resolve()
    assert runlock.workdir_of(["-d", "sub", "-n"], tmp_path) == (tmp_path / "sub").resolve()
    assert runlock.workdir_of(["--directory=/x/y"], tmp_path) == Path("/x/y")


@pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="needs /proc (Linux) to see processes")
def test_a_live_run_is_seen_and_not_unlocked(tmp_path):
    """A process named snakemake working in the directory (a real process, as /proc shows it) holds its lock:
    no stale-lock line, and --unlock is refused in one line."""
    (tmp_path / ".snakemake" / "locks").mkdir(parents=True)
    (tmp_path / ".snakemake" / "locks" / "0.input.lock").write_text("results/x\n")
    line = runlock.check([], tmp_path)
    assert line is not None and "no longer running" in line  # nothing alive: stale
    live = subprocess.Popen(["bash", "-c", "exec -a snakemake sleep 60"], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 10
        while live.pid not in runlock.processes_in(tmp_path.resolve()) and time.monotonic() < deadline:
            time.sleep(0.05)  # until exec has renamed it
        assert live.pid in runlock.processes_in(tmp_path.resolve())
        assert runlock.check([], tmp_path) is None  # Snakemake reports a live run's lock itself
        refused = runlock.check(["--unlock"], tmp_path)
        assert refused is not None and refused.startswith("memgen: not unlocking") and str(live.pid) in refused
    finally:
        live.kill()
        live.wait()
    assert runlock.check(["--unlock"], tmp_path) is None
    assert runlock.check(["-n"], tmp_path) is None  # a dry run takes no lock
