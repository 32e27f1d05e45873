"""What a SLURM cluster's accounting, partitions and preemption mean for memgen's jobs, checked by the submitting
Snakemake (the rules' resource callables and `on_start`, called from common.smk's ``onstart``).

snakemake-executor-plugin-slurm 2.8 (the version envs/constraints.txt pins) gets three things wrong on some
clusters, each seen on the test cluster of tests/test_slurm.py (Slurm 22.05):

- **No accounting.** The plugin polls ``sacct`` wherever sacct is installed. Without slurmdbd sacct fails ("Slurm
  accounting storage is disabled"), the plugin logs that at debug level only and waits forever once the first jobs
  end. `status_command` notices at start and switches to ``squeue`` when squeue can be trusted (`SQUEUE_MIN_AGE_S`),
  else stops with one line.
- **Time limits past a partition's MaxTime.** SLURM keeps such a job pending for ever (Reason=PartitionTimeLimit).
  `runtime_cap` reads the MaxTime of the partition a rule's jobs go to (``scontrol show partition``), and the rules
  ask for at most that.
- **PreemptMode=CANCEL.** A job preempted that way ends in state PREEMPTED; the plugin takes PREEMPTED for "SLURM
  will requeue it" and waits for ever. `fail_cancelled_preemptions` reports such a job as failed, so Snakemake's
  retry resubmits it (training resumes from the checkpoint it wrote on SLURM's SIGTERM). A job preempted with
  PreemptMode=REQUEUE can stay PREEMPTED for tens of seconds before SLURM requeues it (seen under load on the
  test cluster: 30 s), so a job on a partition whose PreemptMode says REQUEUE is left to SLURM.

Every SLURM command has a timeout; when one is missing or fails the cluster is left to the plugin's defaults.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from typing import NamedTuple

from memgen.errors import MemgenError

EXECUTOR = "slurm"  # the plugin's name: `--executor slurm` (jobs run Snakemake again as "slurm-jobstep")
# The plugin waits up to this long between two status polls when no job finished (its max_sleep_time, 2.8.0).
MAX_POLL_S = 180
# squeue reports a job for MinJobAge seconds after it ends; a poll must come in between, so MinJobAge must exceed
# the longest wait between polls, with a minute to spare (SLURM's default MinJobAge, 300 s, passes).
SQUEUE_MIN_AGE_S = MAX_POLL_S + 60
SQUEUE_FLAGS = "--slurm-status-command squeue"
TIMEOUT_S = 30


class Partition(NamedTuple):
    """A partition as ``scontrol show partition -o`` describes it: MaxTime in minutes (None: UNLIMITED), what
    happens to its jobs when a higher tier preempts them (OFF, CANCEL, REQUEUE, SUSPEND, ...), whether jobs
    that name no partition go there."""

    max_minutes: int | None
    preempt_mode: str
    default: bool


def _run(*cmd: str) -> subprocess.CompletedProcess | None:
    """The command's result, or None when it is not installed or does not answer within TIMEOUT_S."""
    if shutil.which(cmd[0]) is None:
        return None
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return None


def slurm_minutes(text: str) -> int | None:
    """A SLURM duration in whole minutes, rounded up: ``UNLIMITED``/``INFINITE`` -> None; ``M``, ``M:S``,
    ``H:M:S``, ``D-H``, ``D-H:M``, ``D-H:M:S`` (sbatch(1), option --time)."""
    text = text.strip()
    if text.upper() in ("UNLIMITED", "INFINITE"):
        return None
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
    if m is None:
        raise MemgenError(f"SLURM time {text!r}: expected minutes, H:M:S or D-H:M:S")
    days, a, b, c = (int(g) if g is not None else None for g in m.groups())
    if days is None:  # M, M:S or H:M:S
        h, mins, secs = (0, a, b or 0) if c is None else (a, b, c)
    else:  # D-H, D-H:M, D-H:M:S
        h, mins, secs = a, b or 0, c or 0
    return (days or 0) * 1440 + h * 60 + mins + (1 if secs else 0)


def parse_partitions(text: str) -> dict[str, Partition]:
    """``scontrol show partition -o`` (one partition per line of KEY=VALUE fields) -> name -> Partition."""
    out = {}
    for line in text.splitlines():
        fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
        if "PartitionName" in fields:
            out[fields["PartitionName"]] = Partition(slurm_minutes(fields.get("MaxTime", "UNLIMITED")),
                                                     fields.get("PreemptMode", "OFF").upper(),
                                                     fields.get("Default") == "YES")
    return out


@functools.cache
def partitions() -> dict[str, Partition]:
    """This cluster's partitions (asked once per process); empty when scontrol is missing or fails."""
    proc = _run("scontrol", "show", "partition", "-o")
    return parse_partitions(proc.stdout) if proc is not None and proc.returncode == 0 else {}


def _is_slurm(workflow) -> bool:
    plugin = getattr(workflow, "executor_plugin", None)
    return plugin is not None and plugin.name == EXECUTOR


def _resource(mapping, name: str):
    """One resource of a Snakemake resource mapping (plain values or Resource objects), else None. A profile's
    value is a Python expression Snakemake evaluates per job (``gpu``, ``"'gpu'"``): its text, unquoted."""
    if mapping is None or name not in mapping:
        return None
    value = mapping[name]
    if not hasattr(value, "is_evaluable"):
        return value
    return str(value.raw).strip("'\"") if value.is_evaluable() else value.value


def job_partition(workflow, rulename: str) -> str | None:
    """The partition a rule's jobs are submitted to: its ``set-resources`` slurm_partition, else the
    ``default-resources`` one, else SLURM's default partition (None when there is none)."""
    settings = workflow.resource_settings
    for mapping in (settings.overwrite_resources.get(rulename), settings.default_resources):
        name = _resource(mapping, "slurm_partition")
        if name:
            return str(name)
    return next((name for name, p in partitions().items() if p.default), None)


def runtime_cap(workflow, rulename: str) -> int | None:
    """The most minutes a rule's job may ask for: the MaxTime of its partition when Snakemake submits to SLURM,
    else None (no cap: local runs, dry runs, a partition without MaxTime, no scontrol)."""
    if not _is_slurm(workflow):
        return None
    partition = partitions().get(job_partition(workflow, rulename) or "")
    return partition.max_minutes if partition else None


def capped(minutes: int, cap: int | None) -> int:
    """``minutes``, or ``cap`` when that is smaller: a time limit the partition accepts."""
    return minutes if cap is None else min(minutes, cap)


def accounting_disabled() -> str | None:
    """sacct's one-line complaint when this cluster keeps no job accounting, else None (accounting works, or sacct
    is not installed: then the plugin polls squeue by itself)."""
    proc = _run("sacct", "-X", "-n", "-o", "JobID", "-S", "now")
    if proc is None or proc.returncode == 0:
        return None
    text = (proc.stderr or proc.stdout).strip()
    return text.splitlines()[-1] if "accounting storage is disabled" in text.lower() else None


def min_job_age() -> int | None:
    """MinJobAge in seconds (``scontrol show config``), or None."""
    proc = _run("scontrol", "show", "config")
    m = re.search(r"^MinJobAge\s*=\s*(\d+)", proc.stdout if proc else "", re.M)
    return int(m.group(1)) if m else None


def status_command(settings) -> str | None:
    """Switch the plugin's status polling from sacct to squeue on a cluster without accounting; returns the line
    to log (None: nothing changed). `MemgenError` when squeue cannot be trusted either (MinJobAge too short)."""
    if getattr(settings, "status_command", None) != "sacct":
        return None
    complaint = accounting_disabled()
    if complaint is None:
        return None
    age, init = min_job_age(), settings.init_seconds_before_status_checks or 40
    need = max(SQUEUE_MIN_AGE_S, 3 * init)  # 3 x init: the plugin's own condition before it trusts squeue
    if age is None or age < need:
        raise MemgenError(
            f"this cluster keeps no job accounting ({complaint}) and squeue forgets an ended job after MinJobAge="
            f"{age} s, while Snakemake may poll only every {max(MAX_POLL_S, init)} s: no status command can see "
            f"every job end (ask for slurmdbd or MinJobAge >= {need} s; {SQUEUE_FLAGS} would wait for ever)")
    settings.status_command = "squeue"
    return (f"memgen: this cluster keeps no job accounting ({complaint}): Snakemake polls squeue instead "
            f"(MinJobAge {age} s >= {need} s), as {SQUEUE_FLAGS} would")


def _job_states(command: str, run_uuid: str) -> dict[str, tuple[str, str]]:
    """SLURM job id -> (state, partition) of this run's jobs, by the same command the plugin polls with (sacct
    lists a requeued job's earlier runs first: the last line of an id is its current state)."""
    if command == "sacct":
        since = f"{datetime.now() - timedelta(days=2):%Y-%m-%dT%H:%M}"
        proc = _run("sacct", "-X", "-n", "-P", "-o", "JobIDRaw,State,Partition", "-S", since, "--name", run_uuid)
    else:
        proc = _run("squeue", "-h", "--states=all", "-o", "%i|%T|%P", "--name", run_uuid)
    if proc is None or proc.returncode != 0:
        return {}
    rows = (line.split("|") + ["", ""] for line in proc.stdout.splitlines() if "|" in line)
    return {row[0]: (row[1], row[2]) for row in rows}


def _requeues(partition: str) -> bool:
    """Whether SLURM requeues a job preempted on this partition itself (PreemptMode includes REQUEUE)."""
    return "REQUEUE" in partitions().get(partition, Partition(None, "", False)).preempt_mode


def fail_cancelled_preemptions(executor, settings) -> None:
    """Wrap the plugin's status check: a job it keeps waiting on that is PREEMPTED in two polls in a row, on a
    partition that does not requeue preempted jobs itself, is reported failed, so Snakemake's retry resubmits
    it."""
    check, preempted = executor.check_active_jobs, {}

    async def check_active_jobs(active_jobs):
        waiting = [job async for job in check(active_jobs)]
        states = _job_states(settings.status_command, executor.run_uuid) if waiting else {}
        for job in waiting:
            job_id = job.external_jobid
            state, partition = states.get(job_id, ("", ""))
            cancelled = state == "PREEMPTED" and not _requeues(partition)
            preempted[job_id] = preempted.get(job_id, 0) + 1 if cancelled else 0
            if preempted[job_id] >= 2:
                executor.report_job_error(job, msg=f"memgen: SLURM job {job_id} was preempted and cancelled "
                                                   "(PreemptMode=CANCEL); a retry resubmits it. ")
            else:
                yield job

    executor.check_active_jobs = check_active_jobs


def on_start(workflow) -> None:
    """Called once by the submitting Snakemake when the workflow starts (common.smk's ``onstart``): nothing unless
    it submits to SLURM; then the status command (`status_command`) and the handling of preemption by
    cancellation (`fail_cancelled_preemptions`). Exits with one ``memgen: error:`` line when no status command
    can work."""
    if not _is_slurm(workflow):
        return
    try:
        line = status_command(workflow.executor_settings)
    except MemgenError as err:
        sys.exit(f"memgen: error: {err}")
    if line:
        print(line, file=sys.stderr, flush=True)
    executor = getattr(getattr(workflow, "scheduler", None), "_executor", None)  # Snakemake's JobScheduler
    if executor is not None and hasattr(executor, "check_active_jobs") and hasattr(executor, "run_uuid"):
        fail_cancelled_preemptions(executor, workflow.executor_settings)
