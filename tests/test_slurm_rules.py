"""memgen.slurm and the retry arithmetic without a cluster: SLURM time formats, partition tables, the time limit a
retry asks for, the status-command switch and the handling of PREEMPTED jobs, on hand-made inputs.
(The same behaviour on a real cluster: tests/test_slurm.py and tests/test_slurm_no_accounting.py.)"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from memgen import slurm
from memgen.cost import CEILING_MIN, FLOOR_MIN, Job, job_resources
from memgen.errors import MemgenError

# The UNet-256, 500k-step training of the issue: one retry once asked for 85.5 h (attempt x the clamped limit).
UNET256 = Job("train", 256, 32, "gpu", batch=128, steps=500_000, train_images=1000)
SMALL = Job("train", 64, 32, "gpu", batch=128, steps=20_000, train_images=1000)

SCONTROL = """\
PartitionName=gpu AllowGroups=ALL Default=NO MaxTime=2-00:00:00 PreemptMode=OFF State=UP
PartitionName=debug AllowGroups=ALL Default=YES MaxTime=00:30:00 PreemptMode=REQUEUE State=UP
PartitionName=scavenger Default=NO MaxTime=UNLIMITED PreemptMode=CANCEL State=UP
"""


@pytest.mark.parametrize("text, minutes", [
    ("UNLIMITED", None), ("INFINITE", None), ("30", 30), ("7:30", 8), ("01:00:00", 60), ("00:07:00", 7),
    ("2-00:00:00", 2880), ("1-12", 2160), ("1-12:30", 2190), ("3-00:00:01", 4321)])
def test_slurm_times_in_minutes(text, minutes):
    assert slurm.slurm_minutes(text) == minutes


def test_a_slurm_time_it_cannot_read_is_one_line():
    with pytest.raises(MemgenError, match="SLURM time '3 days'"):
        slurm.slurm_minutes("3 days")


def test_partitions_are_read_from_scontrol():
    parts = slurm.parse_partitions(SCONTROL)
    assert parts == {"gpu": slurm.Partition(2880, "OFF", False), "debug": slurm.Partition(30, "REQUEUE", True),
                     "scavenger": slurm.Partition(None, "CANCEL", False)}


def test_a_retry_multiplies_the_limit_before_the_ceiling_and_never_passes_a_cap():
    first, second, third = (job_resources(SMALL, attempt=a).runtime_min for a in (1, 2, 3))
    assert FLOOR_MIN < first < CEILING_MIN and second == 2 * first and third == 3 * first
    # A retry that would pass the ceiling asks for the ceiling (it asked for 2 x 42.8 h = 85.5 h before).
    big = [job_resources(UNET256, attempt=a).runtime_min for a in (1, 2, 3)]
    assert big[0] < CEILING_MIN < 2 * big[0] and big[1:] == [CEILING_MIN, CEILING_MIN]
    # A partition's MaxTime below everything wins, over the floor too: SLURM starts no job asking for more.
    assert job_resources(SMALL, attempt=2, ceiling_min=first).runtime_min == first
    assert job_resources(SMALL, ceiling_min=FLOOR_MIN - 3).runtime_min == FLOOR_MIN - 3
    assert slurm.capped(600, None) == 600 and slurm.capped(600, 30) == 30 and slurm.capped(10, 30) == 10


def workflow(executor: str, default=None, rules=None) -> SimpleNamespace:
    """Just what memgen.slurm reads of Snakemake's workflow object."""
    return SimpleNamespace(executor_plugin=SimpleNamespace(name=executor),
                           resource_settings=SimpleNamespace(overwrite_resources=rules or {},
                                                             default_resources=default or {}))


def test_the_cap_is_the_maxtime_of_the_rule_s_partition_and_only_on_slurm(monkeypatch):
    monkeypatch.setattr(slurm, "partitions", lambda: slurm.parse_partitions(SCONTROL))
    assert slurm.runtime_cap(workflow("slurm"), "train") == 30  # SLURM's default partition
    assert slurm.runtime_cap(workflow("slurm", {"slurm_partition": "gpu"}), "train") == 2880
    rules = {"train": {"slurm_partition": "scavenger"}}
    assert slurm.runtime_cap(workflow("slurm", {"slurm_partition": "gpu"}, rules), "train") is None
    assert slurm.runtime_cap(workflow("slurm", {"slurm_partition": "gpu"}, rules), "sample") == 2880
    assert slurm.runtime_cap(workflow("slurm", {"slurm_partition": "nosuch"}), "train") is None
    for local in ("local", "dryrun", "slurm-jobstep"):
        assert slurm.runtime_cap(workflow(local), "train") is None


def settings(command: str = "sacct", init: int = 10) -> SimpleNamespace:
    return SimpleNamespace(status_command=command, init_seconds_before_status_checks=init)


def test_without_accounting_the_status_command_becomes_squeue_when_squeue_can_see_every_end(monkeypatch):
    monkeypatch.setattr(slurm, "accounting_disabled", lambda: "sacct: error: Slurm accounting storage is disabled")
    monkeypatch.setattr(slurm, "min_job_age", lambda: 300)  # SLURM's default
    s = settings()
    line = slurm.status_command(s)
    assert s.status_command == "squeue" and "polls squeue instead" in line and "\n" not in line
    s = settings(init=200)  # the plugin itself trusts squeue only when MinJobAge >= 3 x its first delay
    with pytest.raises(MemgenError, match=r"MinJobAge=300 s, .* MinJobAge >= 600 s"):
        slurm.status_command(s)
    monkeypatch.setattr(slurm, "min_job_age", lambda: 120)
    with pytest.raises(MemgenError, match="no status command can see every job end"):
        slurm.status_command(settings())


def test_with_accounting_or_a_chosen_squeue_nothing_changes(monkeypatch):
    monkeypatch.setattr(slurm, "accounting_disabled", lambda: None)
    s = settings()
    assert slurm.status_command(s) is None and s.status_command == "sacct"
    monkeypatch.setattr(slurm, "accounting_disabled", lambda: pytest.fail("sacct need not be asked"))
    s = settings("squeue")
    assert slurm.status_command(s) is None and s.status_command == "squeue"


class FakeExecutor:
    """The plugin's executor as memgen.slurm sees it: a status check that keeps every job (as the plugin does for
    PREEMPTED and PENDING ones), a run id and report_job_error."""

    run_uuid = "run-1"

    def __init__(self):
        self.errors = []

    async def check_active_jobs(self, active_jobs):
        for job in active_jobs:
            yield job

    def report_job_error(self, job, msg=None):
        self.errors.append((job.external_jobid, msg))


def test_a_job_preempted_by_cancellation_is_reported_failed_on_the_second_poll(monkeypatch):
    polls = iter([{"7": ("PREEMPTED", "cancel"), "8": ("PENDING", "cancel"), "9": ("PREEMPTED", "debug")},
                  {"7": ("PREEMPTED", "cancel"), "8": ("RUNNING", "cancel"), "9": ("PREEMPTED", "debug")}])
    monkeypatch.setattr(slurm, "_job_states", lambda command, run: next(polls))
    monkeypatch.setattr(slurm, "partitions", lambda: {"cancel": slurm.Partition(7, "CANCEL", False),
                                                      "debug": slurm.Partition(7, "REQUEUE", True)})
    executor = FakeExecutor()
    slurm.fail_cancelled_preemptions(executor, settings("squeue"))
    jobs = [SimpleNamespace(external_jobid=i) for i in ("7", "8", "9")]

    async def poll():
        return [j.external_jobid async for j in executor.check_active_jobs(jobs)]

    assert asyncio.run(poll()) == ["7", "8", "9"] and executor.errors == []  # one PREEMPTED poll: maybe a requeue
    # 9 waits for SLURM's requeue however long it stays PREEMPTED: its partition requeues (PreemptMode=REQUEUE)
    assert asyncio.run(poll()) == ["8", "9"] and len(executor.errors) == 1
    assert executor.errors[0][0] == "7" and "preempted and cancelled" in executor.errors[0][1]
