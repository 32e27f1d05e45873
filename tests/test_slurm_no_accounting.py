"""memgen on a real single-node SLURM WITHOUT accounting (no slurmdbd: `sacct` answers "Slurm accounting storage
is disabled"), whose default partition has MaxTime = 7 minutes (tests/slurm_cluster.py), through
`workflow/profiles/slurm` as shipped.

1. The README's command, no flag added: memgen notices at start that sacct cannot answer and polls squeue (the
   plugin alone would poll sacct for ever); every job asks for at most the partition's 7 minutes (the estimates
   say 10 minutes or more: SLURM would never start them); the tables equal a local run's.
2. Time limits: a training far longer than 7 minutes. The profile's ``--signal=USR1@300`` makes SLURM signal the
   training 5-5.5 minutes before its limit; it writes its checkpoint at the step in flight and stops, the job
   fails, and Snakemake's retry, asking again for the partition's 7 minutes (not the attempt x estimate), resumes
   at that step. The test stops the run once the retry has resumed.
3. PreemptMode=CANCEL (the profile with ``slurm_partition: cancel``, as a user sets their partition): a job of a
   higher-priority partition preempts the training; SLURM cancels it (state PREEMPTED, which the plugin alone
   would wait on for ever); memgen reports it failed and Snakemake's retry resumes it, bit-identical to an
   uninterrupted local training.

Skipped or failed like tests/test_slurm.py when no cluster can be had.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from slurm_cluster import (PREEMPTED, PROFILE, Preempter, model_name, snakemake_cmd, started, stop_run, tiny_config,
                           workdir_with)
from test_preemption import assert_same_state

from memgen import checkpoint
from memgen.config import Config, validate_config
from memgen.studies import Grid
from memgen.studies.plan import job_estimate

MAX_TIME = 7  # minutes, the default partition's MaxTime: above the profile's 5-minute warning, below the estimates
STEPS = 120
LONG = 100_000  # steps: hours of training, cut by the time limit


def test_a_cluster_whose_squeue_forgets_too_soon_stops_at_once_in_one_line(tmp_path):
    """MinJobAge 60 s: squeue forgets an ended job before the plugin's next poll may come; nothing is submitted.
    (Its own small cluster, started and stopped before the module's.)"""
    small = started(accounting=False, min_job_age=60)
    try:
        d = workdir_with(tmp_path, tiny_config(STEPS, sizes=(2,)))
        run = subprocess.run(snakemake_cmd(d, "--workflow-profile", str(PROFILE)), env=small.env(),
                             capture_output=True, text=True, timeout=300)
        jobs = small.jobs()
    finally:
        small.stop()
    out = run.stdout + run.stderr
    errors = [line for line in out.splitlines() if line.startswith("memgen: error:")]
    assert run.returncode != 0 and len(errors) == 1, out[-3000:]
    assert "Slurm accounting storage is disabled" in errors[0] and "MinJobAge=60 s" in errors[0]
    assert "Traceback" not in out and jobs == []


@pytest.fixture(scope="module")
def cluster():
    c = started(gpus=2, accounting=False, max_time=MAX_TIME)
    yield c
    c.stop()


def minutes(limit: str) -> int:
    """scontrol's TimeLimit (``00:07:00``, ``1-00:00:00``) in minutes."""
    days, _, hms = limit.rpartition("-")
    h, m, s = (int(x) for x in hms.split(":"))
    return int(days or 0) * 1440 + h * 60 + m + (s > 0)


def train_jobs(cluster) -> list[dict]:
    return [j for j in cluster.jobs() if j.get("Comment", "").startswith("rule_train_")]


# --------------------------------------------------------------------------------------- 1. as shipped
@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory):
    config = tiny_config(STEPS, sizes=(2,))
    local_dir = workdir_with(tmp_path_factory.mktemp("local"), config)
    slurm_dir = workdir_with(tmp_path_factory.mktemp("slurm"), config)
    t0 = time.monotonic()
    local = subprocess.Popen(snakemake_cmd(local_dir, "--cores", "2"), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    slurm = subprocess.run(snakemake_cmd(slurm_dir, "--workflow-profile", str(PROFILE)), env=cluster.env(),
                           capture_output=True, text=True, timeout=600)
    cluster.timings["slurm_run_s"] = round(time.monotonic() - t0, 1)
    local_out = local.communicate(timeout=300)[0]
    jobs = cluster.jobs()
    print(f"\nSLURM (no accounting) timings: {cluster.timings}; {len(jobs)} sbatch jobs")
    assert local.returncode == 0, local_out[-3000:]
    assert slurm.returncode == 0, (slurm.stdout + slurm.stderr)[-5000:]
    return local_dir, slurm_dir, slurm.stdout + slurm.stderr, jobs


def test_without_accounting_memgen_polls_squeue_and_every_job_fits_the_partition(runs):
    _, _, log, jobs = runs
    assert "Slurm accounting storage is disabled" in log and "Snakemake polls squeue instead" in log
    planned = int(re.search(r"^total\s+(\d+)", log, re.M).group(1))
    assert len(jobs) == planned - 1 and {j["JobState"] for j in jobs} == {"COMPLETED"}
    assert all(minutes(j["TimeLimit"]) <= MAX_TIME for j in jobs), [j["TimeLimit"] for j in jobs]
    trainings = [j for j in jobs if j["Comment"].startswith("rule_train_")]
    assert [minutes(j["TimeLimit"]) for j in trainings] == [MAX_TIME]  # its estimate: 10 minutes (the floor)


def test_results_equal_a_local_run(runs):
    local_dir, slurm_dir, _, _ = runs
    local, slurm = local_dir / "results" / "capacity", slurm_dir / "results" / "capacity"
    pd.testing.assert_frame_equal(pd.read_parquet(slurm / "replicates.parquet"),
                                  pd.read_parquet(local / "replicates.parquet"))
    cell = model_name(2, STEPS)
    pd.testing.assert_frame_equal(pd.read_parquet(slurm / cell / "scores.parquet"),
                                  pd.read_parquet(local / cell / "scores.parquet"))


# ------------------------------------------------------------------------------------------ 2. time limit
def estimated_minutes(config: dict, attempt: int) -> int:
    """The time limit the rules would ask for the tiny config's training, uncapped (memgen.studies.plan)."""
    grid = Grid(Config.from_dict(validate_config(config)))
    wildcards = dict(dataset="mondrian", width="16", size="2", dummy="none", ndummy="0", steps=str(LONG),
                     batch="8", cond="uncond", seed="0")
    return job_estimate(grid, "train", wildcards, attempt).runtime_min


def test_a_training_near_its_time_limit_checkpoints_and_the_retry_resumes(cluster, tmp_path):
    config = tiny_config(LONG, sizes=(2,), log_every=5, checkpoint_every=1000)
    d = workdir_with(tmp_path, config)
    cell = model_name(2, LONG)
    model = d / "results" / "models" / "mondrian" / cell / "model.pt"
    log = d / "results" / "logs" / "models" / "mondrian" / cell / "model.log"
    before = {j["JobId"] for j in cluster.jobs()}
    run = subprocess.Popen(snakemake_cmd(d, "--workflow-profile", str(PROFILE), targets=(str(model.relative_to(d)),)),
                           env=cluster.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = saved = resumed = None
    deadline = time.monotonic() + 420
    try:
        while time.monotonic() < deadline and resumed is None and run.poll() is None:
            text = log.read_text() if log.exists() else ""
            if line is None and (m := PREEMPTED.search(text)):
                line, saved = m, checkpoint.load(m.group(3) if Path(m.group(3)).is_absolute()
                                                 else d / m.group(3))["step"]
            elif line is not None and (r := re.search(r"^resumed from .* at step (\d+)/", text, re.M)):
                resumed = int(r.group(1))
            time.sleep(0.1)
        # The jobs as they stand when the retry has resumed, before the run is stopped (stopping cancels the retry).
        trainings = [j for j in train_jobs(cluster) if j["JobId"] not in before]
    finally:
        out = stop_run(run, cluster, before)
    print(f"\ntime-limit test: {line and line.group(0)}; resumed at {resumed}; jobs "
          f"{[(j['JobId'], j['JobState'], j['TimeLimit']) for j in trainings]}")
    assert line is not None, f"the training was never signalled before its time limit:\n{out[-3000:]}"
    assert line.group(1) == "SIGUSR1"  # the profile's --signal, not the limit's SIGTERM
    assert saved == int(line.group(2)) == resumed  # checkpoint at the step in flight; the retry resumed there
    assert len(trainings) == 2 and trainings[0]["JobState"] == "FAILED"
    # Both attempts asked for the partition's MaxTime; uncapped they would ask for more and never start.
    assert [minutes(j["TimeLimit"]) for j in trainings] == [MAX_TIME, MAX_TIME]
    assert estimated_minutes(config, 1) > MAX_TIME and estimated_minutes(config, 2) > estimated_minutes(config, 1)


# ------------------------------------------------------------------------------------ 3. PreemptMode=CANCEL
def test_a_training_preempted_by_cancellation_is_retried_and_resumes(cluster, tmp_path_factory):
    steps = 400
    config = tiny_config(steps, sizes=(2,), log_every=5)
    cell = model_name(2, steps)
    target = Path("results") / "models" / "mondrian" / cell / "model.pt"
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    profile["default-resources"]["slurm_partition"] = "cancel"  # a user's partition: preempted jobs are cancelled
    profile_dir = tmp_path_factory.mktemp("profile")
    (profile_dir / "config.yaml").write_text(yaml.safe_dump(profile))
    local_dir = workdir_with(tmp_path_factory.mktemp("local"), config)
    d = workdir_with(tmp_path_factory.mktemp("cancel"), config)
    local = subprocess.Popen(snakemake_cmd(local_dir, "--cores", "1", targets=(str(target),)), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    before = {j["JobId"] for j in cluster.jobs()}
    preempter = Preempter(cluster, d / "results" / "logs" / "models" / "mondrian" / cell / "model.log",
                          d / target.parent / "model.pt.state")
    preempter.start()
    run = subprocess.run(snakemake_cmd(d, "--workflow-profile", str(profile_dir), targets=(str(target),)), env=cluster.env(),
                         capture_output=True, text=True, timeout=420)
    preempter.done.set()
    local_out = local.communicate(timeout=300)[0]
    log = run.stdout + run.stderr
    trainings = [j for j in train_jobs(cluster) if j["JobId"] not in before]
    print(f"\nCANCEL test: {preempter.line}; jobs {[(j['JobId'], j['Partition'], j['JobState']) for j in trainings]}")
    assert local.returncode == 0, local_out[-3000:]
    assert run.returncode == 0, log[-5000:]
    assert [j["JobState"] for j in trainings] == ["PREEMPTED", "COMPLETED"]
    assert {j["Partition"] for j in trainings} == {"cancel"}
    assert f"memgen: SLURM job {trainings[0]['JobId']} was preempted and cancelled" in log
    assert preempter.line is not None and preempter.line.startswith("preempted by SIGTERM at step ")
    assert preempter.saved_step == preempter.step >= preempter.seen
    final_log = (d / "results" / "logs" / "models" / "mondrian" / cell / "model.log").read_text()
    assert f"at step {preempter.step}/{steps}" in final_log
    assert_same_state(checkpoint.load(d / target), checkpoint.load(local_dir / target))
