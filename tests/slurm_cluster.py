"""A throwaway single-node SLURM for tests: Debian's slurmctld/slurmd 22.05 and munge, on 127.0.0.1, with or
without accounting (slurmdbd + MariaDB).

`Cluster` installs the packages when they are missing (apt-get, as root), writes its own slurm.conf, gres.conf
(fake GPUs: ``gpu:fake:N`` backed by char devices, so a ``--gpus=1`` job schedules) and munge key under one
temporary directory, and points every SLURM command at it through ``SLURM_CONF``: /etc/slurm is never written,
because a slurm.conf left pointing at a stopped controller adds ~10 s to every later snakemake call (the SLURM
plugin runs ``scontrol show config`` while it builds its command line). munged, slurmctld and slurmd (and, with
accounting, mariadbd and slurmdbd) run in the foreground as children of this process, on free ports and private
sockets, so they cannot clash with a system SLURM or MariaDB, and `Cluster.stop` ends them by PID and deletes
the directory.

Two kinds of cluster, as users meet them:
- ``accounting=True``, like every production cluster: MariaDB (its own data directory, 127.0.0.1 only) and
  slurmdbd; `sacctmgr` registers the cluster, an account ``memgen`` and root as its user, and
  ``AccountingStorageEnforce=associations`` makes SLURM refuse jobs of users it does not know. ``sacct`` answers.
- ``accounting=False``: ``sacct`` fails ("Slurm accounting storage is disabled"); only ``squeue`` can report on
  jobs, for ``MinJobAge`` seconds after they end.

Partitions (`PARTITIONS`): ``debug`` (the default; preempted jobs are requeued), ``cancel`` (preempted jobs are
cancelled) and ``urgent`` (a higher priority tier whose jobs preempt the other two's). ``max_time`` sets the
MaxTime of ``debug``.

When the cluster cannot be had (not root, no apt-get, the install fails, a daemon does not come up) the methods
raise `Unavailable` with one line saying why; tests turn it into a skip.
"""

from __future__ import annotations

import importlib.util
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import yaml
from apt import SBIN_PATH, Unavailable, apt_install
from apt import which as _which
from tiny import tiny

from memgen import checkpoint

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "srun", "sinfo", "sacct")
ACCOUNTING_PACKAGES = ("slurmdbd", "mariadb-server")
ACCOUNTING_BINARIES = ("slurmdbd", "sacctmgr", "mariadbd", "mariadb-install-db", "mariadb")
# name -> slurm.conf options. With PreemptType=preempt/partition_prio a pending job of a higher PriorityTier takes
# the resources of running jobs of lower tiers; each partition's PreemptMode says what happens to them.
PARTITIONS = {
    "debug": "Default=YES PriorityTier=1 PreemptMode=REQUEUE",
    "cancel": "PriorityTier=1 PreemptMode=CANCEL",
    "urgent": "PriorityTier=2 PreemptMode=OFF",
}
ACCOUNT = "memgen"  # the account sacctmgr creates on a cluster with accounting; root's default account


REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "workflow" / "profiles" / "slurm"
PREEMPTED = re.compile(r"preempted by (SIG\w+) at step (\d+): checkpoint written to (\S+); rerun to resume")


def tiny_config(steps: int, sizes=(2, 6), log_every: int = 10, checkpoint_every: int = 50, **blocks) -> dict:
    """The capacity study at toy scale (tests/test_pipeline.py's TINY): width 16, ``sizes`` Mondrians of 8x8,
    ``steps`` AdamW steps of batch 8, 24 samples of 10 respaced steps; ``blocks`` add top-level keys."""
    return tiny(steps, checkpoint_every, log_every, results="results", seeds=[0],
                sample={"num_samples": 24, "batch_size": 12, "steps": 10},
                capacity={"widths": [16], "sizes": list(sizes)}, **blocks)


def workdir_with(path: Path, config: dict) -> Path:
    """``path`` with the config written to tiny.yaml in it."""
    (path / "tiny.yaml").write_text(yaml.safe_dump(config))
    return path


def snakemake_cmd(workdir: Path, *args: str, targets: tuple[str, ...] = ()) -> list[str]:
    """The command a user types in the repository (`snakemake [targets] --configfile ...`), run for ``workdir``
    (targets come first: --configfile would take them for config files)."""
    return [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir), *targets,
            "--configfile", str(workdir / "tiny.yaml"), *args]


def model_name(n: int, steps: int) -> str:
    """The model directory of the tiny config's cell with ``n`` images (memgen/studies/paths.py)."""
    return f"w16-n{n}-none0-it{steps}-b8-uncond-s0"


LIVE_STATES = ("PENDING", "RUNNING", "COMPLETING", "REQUEUED", "CONFIGURING")  # a job scancel still has to end


def stop_run(run: subprocess.Popen, cluster: "Cluster", before: set[str], grace: float = 60) -> str:
    """Stop a Snakemake run that a test no longer needs, and every job it left on the cluster; its output.

    Ctrl-C first (Snakemake cancels its jobs and exits); a run still alive ``grace`` seconds later is killed, and
    then every job submitted since ``before`` that is still queued or running is cancelled, so the next test
    meets an empty cluster. (Seen once in a full suite run: Snakemake was still running 120 s after the Ctrl-C,
    the test failed on that timeout, and a training the run submitted afterwards sat in the next test's queue.)"""
    run.send_signal(signal.SIGINT)
    try:
        out = run.communicate(timeout=grace)[0]
    except subprocess.TimeoutExpired:
        run.kill()
        out = run.communicate()[0] + f"\n[test: Snakemake still running {grace:.0f} s after Ctrl-C; killed]\n"
    live = [j["JobId"] for j in cluster.jobs() if j["JobId"] not in before
            and j["JobState"] in LIVE_STATES]
    if live:
        cluster.run("scancel", "--full", *live)
    return out


def unavailable(reason: str) -> None:
    """Skip, or fail where the cluster is required (CI: MEMGEN_REQUIRE_SLURM=1)."""
    if os.environ.get("MEMGEN_REQUIRE_SLURM") == "1":
        pytest.fail(f"MEMGEN_REQUIRE_SLURM=1 but {reason}")
    pytest.skip(reason)


def needs_plugin() -> None:
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        unavailable("snakemake-executor-plugin-slurm is not installed (pip install -e .[slurm])")


def started(**kwargs) -> "Cluster":
    """A started `Cluster(**kwargs)` (installing SLURM first when needed) with ``timings``; skips (or fails,
    see `unavailable`) when none can be had."""
    needs_plugin()
    t0 = time.monotonic()
    try:
        installed = ensure_installed(accounting=kwargs.get("accounting", False))
        cluster = Cluster(**kwargs)
        start_s = cluster.start()
    except Unavailable as err:
        unavailable(f"no SLURM test: {err}")
    cluster.timings = {"install_s": round(installed, 1), "start_s": round(start_s, 1),
                       "fixture_s": round(time.monotonic() - t0, 1)}
    return cluster


class Preempter(threading.Thread):
    """Preemption as SLURM does it: once the training log at ``log`` shows ``after`` steps, submits a job to the
    higher-tier partition ``urgent`` that needs every CPU of the node, so SLURM preempts what runs in the lower
    tiers (their jobs get SIGTERM, then are requeued or cancelled by their partition's PreemptMode). Keeps the
    training's "preempted by" line and its checkpoint's step before a rerun overwrites the log.

    ``expedite``: SLURM holds a requeued job for ~2 minutes (its EligibleTime, seen on the test cluster) before
    it may start again; like an administrator, the thread releases every requeued job at once
    (``scontrol update JobId=... StartTime=now``) to keep the test short."""

    def __init__(self, cluster: "Cluster", log: Path, state: Path, after: int = 10, expedite: bool = False,
                 timeout: float = 480):
        super().__init__(daemon=True)
        self.cluster, self.log, self.state, self.after = cluster, log, state, after
        self.expedite, self.timeout, self.done = expedite, timeout, threading.Event()
        self.seen = self.line = self.step = self.saved_step = self.urgent = None
        self.expedited: set[str] = set()

    def run(self) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline and not self.done.is_set():
            text = self.log.read_text() if self.log.exists() else ""
            steps = [int(s) for s in re.findall(r"^step (\d+)/", text, re.M)]
            if self.urgent is None and steps and steps[-1] >= self.after:
                self.seen = steps[-1]
                out = self.cluster.run("sbatch", "--parsable", "-p", "urgent", "-c", str(self.cluster.cpus),
                                       "--mem=500", "-t", "5", "-o", "/dev/null", "--wrap", "sleep 2")
                self.urgent = out.stdout.strip().split(";")[0] or out.stderr.strip()
            elif self.urgent is not None and self.line is None and (m := PREEMPTED.search(text)):
                self.line, self.step = m.group(0), int(m.group(2))
                self.saved_step = checkpoint.load(self.state)["step"]
            if self.expedite and self.urgent is not None:
                held = self.cluster.run("squeue", "-h", "-t", "PD", "-o", "%i %r").stdout.split("\n")
                for job, reason in (line.split() for line in held if len(line.split()) == 2):
                    if reason == "BeginTime":
                        self.cluster.run("scontrol", "update", f"JobId={job}", "StartTime=now")
                        self.expedited.add(job)
            time.sleep(0.05)


def _tail(*paths: Path, lines: int = 3) -> str:
    """The last lines of the first of ``paths`` that has any, joined on one line."""
    for path in paths:
        text = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
        if text:
            return " | ".join(text[-lines:])
    return "(no log)"


def ensure_installed(accounting: bool = False, timeout: float = 900) -> float:
    """Install `PACKAGES` (and, for ``accounting``, `ACCOUNTING_PACKAGES`) with apt-get unless their binaries are
    all there (`apt.apt_install`); returns the seconds it took (0: present)."""
    packages = PACKAGES + (ACCOUNTING_PACKAGES if accounting else ())
    return apt_install(packages, BINARIES + (ACCOUNTING_BINARIES if accounting else ()), timeout)


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 4096


class Cluster:
    """One node (this machine, as many CPUs as it has, at least 2) with ``gpus`` fake GPUs and the `PARTITIONS`.

    ``accounting``: slurmdbd + MariaDB beside slurmctld (see the module's docstring). ``min_job_age``: seconds
    slurmctld (and so squeue) keeps an ended job. ``max_time``: MaxTime of partition ``debug`` in minutes
    (None: INFINITE). ``kill_wait``: seconds between a job's SIGTERM and its SIGKILL (KillWait)."""

    def __init__(self, gpus: int = 2, accounting: bool = False, min_job_age: int = 600,
                 max_time: int | None = None, kill_wait: int = 30):
        self.gpus, self.accounting, self.min_job_age = gpus, accounting, min_job_age
        self.max_time, self.kill_wait = max_time, kill_wait
        self.cpus = max(2, os.cpu_count() or 1)
        self.root = Path(tempfile.mkdtemp(prefix="memgen-slurm-"))
        self.host = socket.gethostname().split(".")[0]
        self.procs: dict[str, subprocess.Popen] = {}
        self.outs: dict[str, Path] = {}  # each daemon's stdout and stderr
        self.conf = self.root / "slurm.conf"
        self.munge_socket = self.root / "munge" / "munge.socket"
        self.db_socket = self.root / "mysql" / "mysqld.sock"

    # --- environment -----------------------------------------------------------------------------------
    def env(self, **extra: str) -> dict[str, str]:
        """os.environ with SLURM_CONF set and this Python's bin directory (the venv) first on PATH: jobs are
        submitted with --export=ALL and re-run the submitting interpreter."""
        path = f"{self.root / 'bin'}:{Path(sys.executable).parent}:{os.environ.get('PATH', '')}:{SBIN_PATH}"
        # MARK travels into every job (--export=ALL), so stop() can find the jobs' processes however they end
        return {**os.environ, "SLURM_CONF": str(self.conf), "PATH": path, MARK: str(self.root), **extra}

    def run(self, *cmd: str, timeout: float = 30) -> subprocess.CompletedProcess:
        return subprocess.run(cmd, env=self.env(), capture_output=True, text=True, timeout=timeout)

    # --- start ---------------------------------------------------------------------------------------------
    def start(self, timeout: float = 90) -> float:
        """Write the configuration, start munged, (with accounting: mariadbd, slurmdbd, then register cluster,
        account and user), slurmctld (until `scontrol ping` says UP), then slurmd (until the node is idle).
        Returns the seconds it took; `Unavailable` (after stopping what started) on failure."""
        t0 = time.monotonic()
        missing = [b for b in BINARIES + (ACCOUNTING_BINARIES if self.accounting else ()) if not _which(b)]
        if missing:
            raise Unavailable(f"not installed: {', '.join(missing)}")
        try:
            self._write_config()
            self._start_munge(timeout)
            if self.accounting:
                self._start_accounting(timeout)
            self._spawn("slurmctld", ["slurmctld", "-D", "-c", "-i"])
            self._wait(lambda: "is UP" in self.run("scontrol", "ping").stdout, timeout, "slurmctld", "ctld.log")
            self._spawn("slurmd", ["slurmd", "-D", "-N", self.host])
            self._wait(self._node_idle, timeout, "slurmd", "slurmd.log")
        except BaseException:
            self.stop()
            raise
        return time.monotonic() - t0

    def _write_config(self) -> None:
        for sub in ("munge", "state", "spool", "bin", "mysql"):
            (self.root / sub).mkdir()
        # Inside a job the plugin's jobstep runs `srun` with every SLURM_* variable removed, SLURM_CONF too (real
        # nodes read /etc/slurm/slurm.conf), so the jobs find an srun on PATH that puts it back.
        srun = self.root / "bin" / "srun"
        srun.write_text(f'#!/bin/sh\nSLURM_CONF={self.conf} exec {_which("srun")} "$@"\n')
        srun.chmod(0o755)
        devices = []
        for i in range(self.gpus):  # char devices (like /dev/null): gres/gpu needs a File= per GPU
            dev = self.root / f"fakegpu{i}"
            os.mknod(dev, 0o666 | 0o020000, os.makedev(1, 3))
            devices.append(str(dev))
        ctld_port, slurmd_port, self.dbd_port, self.db_port = _free_ports(4)
        cpus = self.cpus
        memory = max(1000, _memory_mb() - 1024)
        r = self.root
        # With accounting, AccountingStoragePass names the munge socket for slurmdbd connections (the default,
        # /run/munge, does not exist here); job_comment makes sacct report Snakemake's rule_<rule>_wildcards_<...>.
        if self.accounting:
            accounting = (f"AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=127.0.0.1\n"
                          f"AccountingStoragePort={self.dbd_port}\nAccountingStoragePass={self.munge_socket}\n"
                          f"AccountingStorageEnforce=associations\n"
                          f"AccountingStorageTRES=gres/gpu\nAccountingStoreFlags=job_comment\n")
        else:
            accounting = "AccountingStorageType=accounting_storage/none\n"
        partitions = "\n".join(
            f"PartitionName={name} Nodes={self.host} MaxTime="
            f"{self.max_time if name == 'debug' and self.max_time else 'INFINITE'} {options} State=UP"
            for name, options in PARTITIONS.items())
        self.conf.write_text(f"""\
ClusterName=memgentest
SlurmctldHost={self.host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd.pid
SlurmctldLogFile={r}/ctld.log
SlurmdLogFile={r}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
{accounting}JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
DefMemPerCPU=512
ReturnToService=2
MinJobAge={self.min_job_age}
KillWait={self.kill_wait}
InactiveLimit=0
MailProg=/bin/true
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
GresTypes=gpu
NodeName={self.host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} Gres=gpu:fake:{self.gpus} State=UNKNOWN
{partitions}
""")
        (r / "gres.conf").write_text(f"NodeName={self.host} Name=gpu Type=fake File={','.join(devices)}\n")

    def _start_munge(self, timeout: float) -> None:
        """munged with its own key and socket in our directory (the Debian service would need /etc/munge's key,
        owned by user munge, and /run/munge, which no init system creates in a container)."""
        key = self.root / "munge" / "munge.key"
        key.write_bytes(secrets.token_bytes(1024))
        key.chmod(0o600)
        m = self.root / "munge"
        self._spawn("munged", ["munged", "--foreground", "--force", f"--socket={self.munge_socket}",
                               f"--key-file={key}", f"--pid-file={m}/munged.pid", f"--log-file={m}/munged.log",
                               f"--seed-file={m}/munged.seed"], log="munge/munged.out")
        self._wait(self._munge_works, timeout, "munged", "munge/munged.log")

    def _start_accounting(self, timeout: float) -> None:
        """MariaDB in our directory (127.0.0.1 and a private socket), a database user for slurmdbd, slurmdbd,
        then the cluster, account `ACCOUNT` and root as its user (sacctmgr), as an administrator would."""
        db, password = self.root / "mysql", secrets.token_hex(12)
        install = subprocess.run([_which("mariadb-install-db"), "--no-defaults", "--user=root",
                                  f"--datadir={db}/data", "--auth-root-authentication-method=normal",
                                  "--skip-test-db", "--skip-name-resolve"],
                                 capture_output=True, text=True, timeout=timeout)
        if install.returncode != 0:
            raise Unavailable(f"mariadb-install-db failed: {(install.stderr or install.stdout).strip()[-300:]}")
        self._spawn("mariadbd", ["mariadbd", "--no-defaults", "--user=root", f"--datadir={db}/data",
                                 f"--socket={self.db_socket}", f"--port={self.db_port}", "--bind-address=127.0.0.1",
                                 "--skip-name-resolve", f"--pid-file={db}/mariadbd.pid",
                                 f"--log-error={db}/error.log", "--innodb-buffer-pool-size=64M"], log="mysql/out.log")
        self._wait(lambda: self._sql("SELECT 1").returncode == 0, timeout, "mariadbd", "mysql/error.log")
        grant = self._sql(f"CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '{password}'; "
                          "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';")
        if grant.returncode != 0:
            raise Unavailable(f"MariaDB refused the slurm user: {grant.stderr.strip()[-300:]}")
        dbd_conf = self.root / "slurmdbd.conf"  # slurmdbd reads it beside $SLURM_CONF; it must be 0600
        dbd_conf.touch(mode=0o600)
        dbd_conf.write_text(f"""\
AuthType=auth/munge
AuthInfo=socket={self.munge_socket}
DbdAddr=127.0.0.1
DbdHost={self.host}
DbdPort={self.dbd_port}
SlurmUser=root
LogFile={self.root}/slurmdbd.log
PidFile={self.root}/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={self.db_port}
StorageUser=slurm
StoragePass={password}
StorageLoc=slurm_acct_db
""")
        self._spawn("slurmdbd", ["slurmdbd", "-D"])
        self._wait(lambda: self.run("sacctmgr", "-n", "show", "cluster").returncode == 0, timeout, "slurmdbd",
                   "slurmdbd.log")
        for args in (("cluster", "memgentest"), ("account", ACCOUNT, "Description=memgen-tests", "Organization=memgen"),
                     ("user", "root", f"DefaultAccount={ACCOUNT}")):
            added = self.run("sacctmgr", "-i", "add", *args)
            if added.returncode != 0:
                raise Unavailable(f"sacctmgr add {args[0]} failed: {(added.stderr or added.stdout).strip()[-300:]}")

    def _sql(self, statement: str) -> subprocess.CompletedProcess:
        return subprocess.run([_which("mariadb"), "--no-defaults", f"--socket={self.db_socket}", "-u", "root", "-e",
                               statement], capture_output=True, text=True, timeout=30)

    def _munge_works(self) -> bool:
        if not self.munge_socket.exists():
            return False
        cred = self.run("munge", "-n", f"--socket={self.munge_socket}")
        check = subprocess.run(["unmunge", f"--socket={self.munge_socket}"], input=cred.stdout, capture_output=True,
                               text=True, timeout=30)
        return cred.returncode == 0 and check.returncode == 0

    def _node_idle(self) -> bool:
        state = self.run("sinfo", "-h", "-N", "-o", "%T").stdout.strip()
        if state.startswith(("inval", "drain", "down")) and not state.endswith("*"):
            reason = self.run("sinfo", "-h", "-R", "-o", "%E").stdout.strip()
            raise Unavailable(f"node is {state}: {reason or _tail(self.root / 'slurmd.log', lines=1)}")
        return state.splitlines()[0] == "idle" if state else False

    def _spawn(self, name: str, cmd: list[str], log: str | None = None) -> None:
        binary = _which(cmd[0])
        if binary is None:
            raise Unavailable(f"{cmd[0]} is not installed")
        self.outs[name] = self.root / (log or f"{name}.out")
        out = open(self.outs[name], "w")
        env = {k: v for k, v in self.env().items() if k != MARK}  # daemons are not jobs: stop() ends them in order
        self.procs[name] = subprocess.Popen([binary, *cmd[1:]], env=env, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        out.close()

    def _wait(self, ready, timeout: float, name: str, log: str) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            proc, logs = self.procs[name], (self.root / log, self.outs[name])
            if proc.poll() is not None:
                raise Unavailable(f"{name} exited with {proc.returncode}: {_tail(*logs)}")
            if time.monotonic() > deadline:
                raise Unavailable(f"{name} not ready after {timeout:.0f} s: {_tail(*logs)}")
            time.sleep(0.2)

    # --- jobs ------------------------------------------------------------------------------------------------
    def jobs(self) -> list[dict[str, str]]:
        """Every job slurmctld still knows (all states; MinJobAge keeps ended ones that long), as the key=value
        fields of `scontrol show job`: JobId, JobName, JobState, ExitCode, Comment (Snakemake's
        ``rule_<rule>_wildcards_<values>``), TresPerJob (``gres:gpu:1`` for ``--gpus=1``), TimeLimit, Partition,
        Restarts (how often SLURM requeued it), StdOut, ..."""
        out = self.run("scontrol", "show", "job", "-o").stdout
        return [dict(f.split("=", 1) for f in line.split() if "=" in f) for line in out.splitlines() if "JobId=" in line]

    SACCT_FIELDS = ("JobIDRaw", "JobName", "Partition", "Account", "State", "ExitCode", "TimelimitRaw", "Comment", "ReqTRES",
                    "Submit", "Start", "End")

    def accounted_jobs(self) -> list[dict[str, str]]:
        """Every job in the accounting database (a cluster with accounting), one row per run of a job: a job that
        SLURM requeued has a row per start (``sacct --duplicates``), the earlier ones in state REQUEUED or
        PREEMPTED. Keys: `SACCT_FIELDS` (TimelimitRaw in minutes, ReqTRES has ``gres/gpu=1`` for ``--gpus=1``)."""
        proc = self.run("sacct", "-X", "--duplicates", "--allusers", "-P", "-n", "-S", "2000-01-01",
                        "-o", ",".join(f"{f}%300" for f in self.SACCT_FIELDS))
        if proc.returncode != 0:
            raise RuntimeError(f"sacct failed: {proc.stderr.strip()}")
        return [dict(zip(self.SACCT_FIELDS, line.split("|"))) for line in proc.stdout.splitlines() if line.strip()]

    # --- stop ------------------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Cancel every job, end slurmd, slurmctld, slurmdbd, mariadbd and munged by PID (SIGTERM, then SIGKILL
        after 15 s) and delete the configuration, state and database."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            try:
                live = [j["JobId"] for j in self.jobs() if j["JobState"] in LIVE_STATES]
                if live:
                    self.run("scancel", "--full", *live)
            except (subprocess.SubprocessError, OSError):
                pass
        _kill_marked(str(self.root), grace=15)  # the jobs' processes, before their daemons go
        for name in ("slurmd", "slurmctld", "slurmdbd", "mariadbd", "munged"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
        _kill_marked(str(self.root), grace=0)  # whatever a dying slurmd left behind (a job step's snakemake)
        shutil.rmtree(self.root, ignore_errors=True)


MARK = "MEMGEN_SLURM_TEST"  # environment variable naming the cluster a process belongs to


def _marked(root: str) -> list[int]:
    """PIDs (not this process) whose environment carries MARK=root: the processes of this cluster's jobs."""
    needle = f"{MARK}={root}".encode() + b"\0"
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if needle in (proc / "environ").read_bytes():
                out.append(int(proc.name))
        except OSError:  # gone, or not ours to read
            continue
    return out


def _kill_marked(root: str, grace: float) -> None:
    """SIGTERM the cluster's job processes, wait up to ``grace`` seconds, then SIGKILL what is left."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 0)):
        pids = _marked(root)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        deadline = time.monotonic() + wait
        while pids and time.monotonic() < deadline and _marked(root):
            time.sleep(0.5)
