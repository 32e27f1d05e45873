"""memgen on a real single-node SLURM WITH accounting (tests/slurm_cluster.py: slurmctld, slurmd, slurmdbd and
MariaDB), through `workflow/profiles/slurm` exactly as shipped: the command is the README's, run for a work
directory (`snakemake --workflow-profile workflow/profiles/slurm --configfile tiny.yaml`), no flag added.

One run of the tiny capacity config goes through SLURM while the same config runs locally in another directory.
While the cluster run trains, a job submitted to a higher-priority partition makes SLURM preempt what runs in
the default partition (PreemptMode=REQUEUE): SLURM sends SIGTERM and requeues the jobs. Checked: every job went
through sbatch (the accounting database lists them), the preempted training wrote its checkpoint at the step in
flight and, requeued by SLURM, resumed there and ended bit-identical to the local model, the tables and scores
equal the local run's, and Snakemake learned every job's end from sacct: the cluster forgets an ended job after
MinJobAge = 10 s, so squeue polling (a first poll 10 s after a submission, growing by 10 s) would miss them and
never end.

Skipped, with one line, where no cluster can be had (not root, no apt-get, no plugin, a daemon that does not
start); on a Debian machine where we are root (CI), it installs slurm, munge, slurmdbd and MariaDB with apt-get
and runs. With MEMGEN_REQUIRE_SLURM=1 (set by .ci/run) a cluster that cannot be had fails the tests instead.
The cluster without accounting, time limits, the partition's MaxTime and PreemptMode=CANCEL:
tests/test_slurm_no_accounting.py.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from slurm_cluster import (ACCOUNT, PROFILE, REPO, Preempter, model_name, needs_plugin, snakemake_cmd, started, tiny_config,
                           workdir_with)
from test_preemption import assert_same_state

from memgen import checkpoint

STEPS = 120  # long enough to preempt a training mid-run (~5-10 s at 12-25 steps/s on a busy core)
SIZES = (2, 6)
CELLS = [model_name(n, STEPS) for n in SIZES]
VICTIM = CELLS[1]  # the training whose log triggers the preemption; its Snakemake wildcards, as in its comment:
VICTIM_COMMENT = f"rule_train_wildcards_mondrian_16_6_none_0_{STEPS}_8_uncond_0"
MIN_JOB_AGE = 10  # seconds slurmctld (and squeue) keeps an ended job: too short for squeue polling

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


def test_a_plain_run_never_selects_the_slurm_executor(tmp_path):
    """No profile is picked up by default, from the repository or from elsewhere: plain runs stay local."""
    for cwd in (REPO, tmp_path):
        assert chosen_executor(cwd, "--cores", "2") == "None"


def test_the_profile_selects_slurm_and_its_resources_evaluate(tmp_path):
    """Only the named profile selects SLURM; a dry run through it needs no SLURM binaries."""
    needs_plugin()
    for cwd in (REPO, tmp_path):
        assert chosen_executor(cwd, "--workflow-profile", str(PROFILE)) == "'slurm'"
    d = workdir_with(tmp_path, tiny_config(STEPS))
    dry = subprocess.run(snakemake_cmd(d, "-n", "--workflow-profile", str(PROFILE)), capture_output=True, text=True,
                         timeout=300)
    assert dry.returncode == 0, dry.stderr[-2000:]
    out = dry.stdout + dry.stderr
    assert "cpus_per_gpu=1" in out  # "threads" became the rule's thread count
    assert "slurm_extra=--signal=USR1@300" in out  # the trainings' early warning


# ------------------------------------------------------------------------------------------- the real cluster
@pytest.fixture(scope="module")
def cluster():
    c = started(gpus=2, accounting=True, min_job_age=MIN_JOB_AGE)
    yield c
    c.stop()


def timeline(jobs: list[dict]) -> str:
    """One line per run of an sbatch job (sacct): submitted, started, ended (seconds from the first submission),
    state, rule."""
    def at(stamp: str) -> float:
        return time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S")) if stamp[:1].isdigit() else float("nan")

    t0 = min(at(j["Submit"]) for j in jobs)
    return "\n".join(f"  job {j['JobIDRaw']:>3} submit {at(j['Submit']) - t0:5.0f} s  start {at(j['Start']) - t0:5.0f}"
                     f" s  end {at(j['End']) - t0:5.0f} s  {j['Partition']:<7} {j['State']:<10} "
                     f"{j['Comment'].removeprefix('rule_')}" for j in jobs)


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory):
    """The tiny config run locally (--cores 2) and on the cluster with the shipped profile, side by side."""
    config = tiny_config(STEPS, SIZES, log_every=5)
    local_dir = workdir_with(tmp_path_factory.mktemp("local"), config)
    slurm_dir = workdir_with(tmp_path_factory.mktemp("slurm"), config)

    t0 = time.monotonic()
    local = subprocess.Popen(snakemake_cmd(local_dir, "--cores", "2"), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    model_dir = slurm_dir / "results" / "models" / "mondrian" / VICTIM
    preempter = Preempter(cluster, slurm_dir / "results" / "logs" / "models" / "mondrian" / VICTIM / "model.log",
                          model_dir / "model.pt.state", expedite=True)
    preempter.start()
    slurm = subprocess.run(snakemake_cmd(slurm_dir, "--workflow-profile", str(PROFILE)),
                           env=cluster.env(), capture_output=True, text=True, timeout=600)
    slurm_s = time.monotonic() - t0
    preempter.done.set()
    local_out = local.communicate(timeout=300)[0]
    preempter.join(timeout=5)
    jobs = cluster.accounted_jobs()
    cluster.timings.update(slurm_run_s=round(slurm_s, 1), sbatch_runs=len(jobs), preempted_at_step=preempter.seen,
                           checkpoint_step=preempter.saved_step)
    print(f"\nSLURM (accounting) test timings: {cluster.timings}\n{timeline(jobs)}")
    assert local.returncode == 0, local_out[-3000:]
    assert slurm.returncode == 0, (slurm.stdout + slurm.stderr)[-5000:]
    return local_dir, slurm_dir, slurm.stdout + slurm.stderr, preempter, jobs


def test_every_job_went_through_sbatch_and_was_followed_by_sacct(runs):
    _, _, log, preempter, runs_ = runs
    planned = int(re.search(r"^total\s+(\d+)", log, re.M).group(1))  # Snakemake's job stats, `all` included
    ours = [j for j in runs_ if j["JobIDRaw"] != preempter.urgent]
    final = {j["JobIDRaw"]: j for j in ours}  # sacct lists a requeued job's earlier runs first
    rules = [j["Comment"].removeprefix("rule_").split("_wildcards_")[0] for j in final.values()]
    # Every job but the target rule `all` (no command: Snakemake marks it done itself), each submitted once:
    # a preempted job was requeued by SLURM under its own id, not resubmitted by Snakemake.
    assert len(final) == planned - 1, rules
    assert "all" not in rules and rules.count("train") == 2 and rules.count("materialize") == 2
    assert {j["State"] for j in final.values()} == {"COMPLETED"}, timeline(runs_)
    # SLURM's default partition and the user's default account: the profile names neither (sbatch got no -A)
    assert all(j["Partition"] == "debug" and j["Account"] == ACCOUNT for j in ours)
    assert "polls squeue instead" not in log  # memgen left the plugin's sacct polling alone: accounting works
    assert "slurm-status-command" not in yaml.safe_load((PROFILE / "config.yaml").read_text())  # sacct: default


def test_slurm_preempted_the_training_which_checkpointed_and_resumed_when_requeued(runs):
    local_dir, slurm_dir, log, preempter, jobs = runs
    assert preempter.urgent is not None, "the victim's training never reached the preemption point"
    victim = [j for j in jobs if j["Comment"] == VICTIM_COMMENT]
    assert [j["State"] for j in victim] == ["PREEMPTED", "COMPLETED"], timeline(jobs)  # one job id, two runs
    assert len({j["JobIDRaw"] for j in victim}) == 1
    assert preempter.line is not None, "no 'preempted by' line after the preemption"
    assert preempter.line.startswith("preempted by SIGTERM at step ")
    assert preempter.saved_step == preempter.step >= preempter.seen  # the checkpoint holds the step in flight
    final_log = (slurm_dir / "results" / "logs" / "models" / "mondrian" / VICTIM / "model.log").read_text()
    assert f"at step {preempter.step}/{STEPS}" in final_log  # the requeued run resumed there
    for cell in CELLS:  # every training, preempted or not, equals the local one
        model = Path("results") / "models" / "mondrian" / cell / "model.pt"
        assert_same_state(checkpoint.load(slurm_dir / model), checkpoint.load(local_dir / model))


def test_results_equal_a_local_run(runs):
    local_dir, slurm_dir, _, _, _ = runs
    local, slurm = local_dir / "results" / "capacity", slurm_dir / "results" / "capacity"
    pd.testing.assert_frame_equal(pd.read_parquet(slurm / "replicates.parquet"),
                                  pd.read_parquet(local / "replicates.parquet"))
    for cell in CELLS:
        pd.testing.assert_frame_equal(pd.read_parquet(slurm / cell / "scores.parquet"),
                                      pd.read_parquet(local / cell / "scores.parquet"))
