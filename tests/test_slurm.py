"""memgen on a real single-node SLURM (tests/slurm_cluster.py), through the shipped profile.

One run of the tiny capacity config goes through `workflow/profiles/slurm` (plus the flags of a cluster without
accounting, and one fake GPU per training job) while the same config runs locally in another directory. Checked:
every job went through sbatch, the tables and scores equal the local run's, and the training job that the test
scancels mid-run (SIGTERM to its processes) wrote its checkpoint at the step in flight, was resubmitted by
Snakemake's retry and ended bit-identical to the local model.

Skipped, with one line, where no cluster can be had (not root, no apt-get, no plugin, a daemon that does not
start); on a Debian machine where we are root (CI), it installs slurm + munge with apt-get and runs. With
MEMGEN_REQUIRE_SLURM=1 (set by .ci/run) a cluster that cannot be had fails the tests instead of skipping them.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from slurm_cluster import SNAKEMAKE_FLAGS, Cluster, Unavailable, ensure_installed, tiny_config
from test_preemption import PREEMPTED, assert_same_state

from memgen import checkpoint

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "workflow" / "profiles" / "slurm"
STEPS = 120  # long enough to scancel a training mid-run (~10 s at 12 steps/s on a busy core)
CELLS = [f"w16-n{n}-none0-it{STEPS}-b8-uncond-s0" for n in (2, 6)]
VICTIM = CELLS[1]  # the training that gets scancelled; its Snakemake wildcards, as in the job's comment:
VICTIM_COMMENT = f"rule_train_wildcards_mondrian_16_6_none_0_{STEPS}_8_uncond_0"


def snakemake(workdir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir),
            "--configfile", str(workdir / "tiny.yaml"), *args]


def workdir_with_config(path: Path) -> Path:
    config = tiny_config(steps=STEPS, log_every=5, checkpoint_every=50)
    (path / "tiny.yaml").write_text(yaml.safe_dump(config))
    return path


EXECUTOR = """
import sys
from snakemake.cli import parse_args
print("executor:", repr(parse_args(sys.argv[1:])[1].executor))
"""


def chosen_executor(cwd: Path, *args: str) -> str:
    """The executor Snakemake's command line resolves to, profiles applied (None: local)."""
    proc = subprocess.run([sys.executable, "-c", EXECUTOR, "-s", str(REPO / "Snakefile"), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return re.search(r"executor: (\S+)", proc.stdout).group(1)


def unavailable(reason: str) -> None:
    """Skip, or fail where the cluster is required (CI: MEMGEN_REQUIRE_SLURM=1)."""
    if os.environ.get("MEMGEN_REQUIRE_SLURM") == "1":
        pytest.fail(f"MEMGEN_REQUIRE_SLURM=1 but {reason}")
    pytest.skip(reason)


def needs_plugin() -> None:
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        unavailable("snakemake-executor-plugin-slurm is not installed (pip install -e .[slurm])")


def test_a_plain_run_never_selects_the_slurm_executor(tmp_path):
    """No profile is picked up by default, from the repository or from elsewhere: plain runs stay local."""
    for cwd in (REPO, tmp_path):
        assert chosen_executor(cwd, "--cores", "2") == "None"


def test_the_profile_selects_slurm_and_its_resources_evaluate(tmp_path):
    """Only the named profile selects SLURM; a dry run through it needs no SLURM binaries."""
    needs_plugin()
    for cwd in (REPO, tmp_path):
        assert chosen_executor(cwd, "--workflow-profile", str(PROFILE)) == "'slurm'"
    d = workdir_with_config(tmp_path)
    dry = subprocess.run(snakemake(d, "-n", "--workflow-profile", str(PROFILE)), capture_output=True, text=True,
                         timeout=300)
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "cpus_per_gpu=1" in dry.stdout + dry.stderr  # "threads" became the rule's thread count


# ------------------------------------------------------------------------------------------- the real cluster
class Preempter(threading.Thread):
    """Watches the victim's training log; once it shows `after` steps, scancels that job (SLURM sends SIGTERM to
    every process of the job), then keeps the 'preempted by' line and the checkpoint's step before the retry
    overwrites the log."""

    def __init__(self, cluster: Cluster, log: Path, state: Path, after: int = 10, timeout: float = 500):
        super().__init__(daemon=True)
        self.cluster, self.log, self.state, self.after, self.timeout = cluster, log, state, after, timeout
        self.job = self.seen = self.line = self.step = self.saved_step = None

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline and self.saved_step is None:
            text = self.log.read_text() if self.log.exists() else ""
            steps = [int(s) for s in re.findall(r"^step (\d+)/", text, re.M)]
            if self.job is None and steps and steps[-1] >= self.after:
                running = [j for j in self.cluster.jobs()
                           if j.get("Comment") == VICTIM_COMMENT and j["JobState"] == "RUNNING"]
                if running:
                    self.job, self.seen = running[0], steps[-1]
                    self.cluster.run("scancel", running[0]["JobId"])
            elif self.job is not None and (m := PREEMPTED.search(text)):
                self.line, self.step = m.group(0), int(m.group(2))
                self.saved_step = checkpoint.load(self.state)["step"]
            time.sleep(0.05)


def timeline(jobs: list[dict]) -> str:
    """One line per sbatch job: submitted, started, ended (seconds from the first submission), state, rule."""
    def at(stamp: str) -> float:
        return time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S"))

    t0 = min(at(j["SubmitTime"]) for j in jobs)
    return "\n".join(f"  job {j['JobId']:>3} submit {at(j['SubmitTime']) - t0:5.0f} s  start "
                     f"{at(j['StartTime']) - t0:5.0f} s  end {at(j['EndTime']) - t0:5.0f} s  {j['JobState']:<9} "
                     f"{j['Comment'].removeprefix('rule_')}" for j in jobs)


@pytest.fixture(scope="module")
def cluster():
    needs_plugin()
    t0 = time.monotonic()
    try:
        installed = ensure_installed()
        c = Cluster(gpus=2)
        started = c.start()
    except Unavailable as err:
        unavailable(f"no SLURM test: {err}")
    c.timings = {"install_s": installed, "start_s": started, "fixture_s": time.monotonic() - t0}
    yield c
    c.stop()


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory):
    """The tiny config run locally (--cores 2) and on the cluster (one GPU per training), side by side."""
    local_dir = workdir_with_config(tmp_path_factory.mktemp("local"))
    slurm_dir = workdir_with_config(tmp_path_factory.mktemp("slurm"))
    # The shipped profile, plus one (fake) GPU per training: the test's jobs still train on the CPU.
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    profile["set-resources"]["train"]["gpu"] = 1
    profile_dir = tmp_path_factory.mktemp("profile")
    (profile_dir / "config.yaml").write_text(yaml.safe_dump(profile))

    t0 = time.monotonic()
    local = subprocess.Popen(snakemake(local_dir, "--cores", "2"), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    model_dir = slurm_dir / "results" / "models" / "mondrian" / VICTIM
    preempter = Preempter(cluster, slurm_dir / "results" / "logs" / "models" / "mondrian" / VICTIM / "model.log",
                          model_dir / "model.pt.state")
    preempter.start()
    slurm = subprocess.run(snakemake(slurm_dir, "--workflow-profile", str(profile_dir), *SNAKEMAKE_FLAGS,
                                     "--slurm-keep-successful-logs"),
                           env=cluster.env(), capture_output=True, text=True, timeout=540)
    slurm_s = time.monotonic() - t0
    local_out = local.communicate(timeout=300)[0]
    preempter.join(timeout=5)
    cluster.timings.update(slurm_run_s=round(slurm_s, 1), sbatch_jobs=len(cluster.jobs()),
                           scancel_at_step=preempter.seen, checkpoint_step=preempter.saved_step)
    print(f"\nSLURM test timings: {cluster.timings}\n{timeline(cluster.jobs())}")
    assert local.returncode == 0, local_out[-3000:]
    assert slurm.returncode == 0, (slurm.stdout + slurm.stderr)[-5000:]
    return local_dir, slurm_dir, slurm.stdout + slurm.stderr, preempter


def test_every_job_went_through_sbatch(cluster, runs):
    _, slurm_dir, log, _ = runs
    planned = int(re.search(r"^total\s+(\d+)", log, re.M).group(1))  # Snakemake's job stats, `all` included
    jobs = cluster.jobs()
    rules = [j["Comment"].removeprefix("rule_").split("_wildcards_")[0] for j in jobs]
    # Every job but the target rule `all` (no command: Snakemake marks it done itself), plus the retry.
    assert len(jobs) == planned - 1 + 1, rules
    assert "all" not in rules and rules.count("train") == 3 and rules.count("materialize") == 2
    assert sorted(j["JobState"] for j in jobs) == ["CANCELLED"] + ["COMPLETED"] * (len(jobs) - 1)
    logs = sorted((slurm_dir / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert sorted(p.stem for p in logs) == sorted(j["JobId"] for j in jobs)  # one SLURM log per sbatch
    for j in jobs:  # the portable `gpu` resource became --gpus=1 for the trainings, and nothing for the rest
        assert (j.get("TresPerJob") == "gres:gpu:1") == j["Comment"].startswith("rule_train_"), j


def test_results_equal_a_local_run(runs):
    local_dir, slurm_dir, _, _ = runs
    local, slurm = local_dir / "results" / "capacity", slurm_dir / "results" / "capacity"
    pd.testing.assert_frame_equal(pd.read_parquet(slurm / "replicates.parquet"),
                                  pd.read_parquet(local / "replicates.parquet"))
    for cell in CELLS:
        pd.testing.assert_frame_equal(pd.read_parquet(slurm / cell / "scores.parquet"),
                                      pd.read_parquet(local / cell / "scores.parquet"))


def test_scancelled_training_checkpointed_its_step_and_the_retry_resumed_it_bit_identical(runs):
    local_dir, slurm_dir, log, preempter = runs
    assert preempter.job is not None, "the victim's training never reached the scancel point"
    assert preempter.line is not None, "no 'preempted by' line after scancel (SIGKILLed before the checkpoint?)"
    assert preempter.line.startswith("preempted by SIGTERM at step ")
    assert preempter.saved_step == preempter.step >= preempter.seen  # the checkpoint holds the step in flight
    final_log = (slurm_dir / "results" / "logs" / "models" / "mondrian" / VICTIM / "model.log").read_text()
    assert f"at step {preempter.step}/{STEPS}" in final_log  # the retry resumed there
    model = Path("results") / "models" / "mondrian" / VICTIM / "model.pt"
    assert_same_state(checkpoint.load(slurm_dir / model), checkpoint.load(local_dir / model))
