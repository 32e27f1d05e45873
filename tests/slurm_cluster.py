"""A throwaway single-node SLURM for tests: Debian's slurmctld/slurmd 22.05 and munge, on 127.0.0.1.

`Cluster` installs the packages when they are missing (apt-get, as root), writes its own slurm.conf, gres.conf
(fake GPUs: ``gpu:fake:N`` backed by char devices, so a ``--gpus=1`` job schedules) and munge key under one
temporary directory, and points every SLURM command at it through ``SLURM_CONF``: /etc/slurm is never written,
because a slurm.conf left pointing at a stopped controller adds ~10 s to every later snakemake call (the SLURM
plugin runs ``scontrol show config`` while it builds its command line). munged, slurmctld and slurmd run in the
foreground as children of this process, on free ports and a private munge socket, so they cannot clash with a
system SLURM, and `Cluster.stop` ends them by PID and deletes the directory.

No accounting database: ``sacct`` fails ("accounting storage is disabled"), so Snakemake polls with
``squeue``, which sees a job for ``MinJobAge`` seconds after it ends (600 here, well above the 3 x init delay
that the plugin requires before it trusts squeue). `SNAKEMAKE_FLAGS` are the flags such a cluster needs.

When the cluster cannot be had (not root, no apt-get, the install fails, a daemon does not come up) the methods
raise `Unavailable` with one line saying why; tests turn it into a skip.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tiny import tiny

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")
BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "srun", "sinfo")
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# --slurm-init-seconds-before-status-checks: the first status poll comes this long after a submission, and each
# poll that finds nothing finished waits 10 s longer (the plugin's rule), so a DAG level of ~10 s jobs takes
# 2 + 12 = 14 s with 2, and 5 + 15 = 20 s with 5. MinJobAge (600) must be >= 3x this for squeue polling.
INIT_SECONDS = 2
SNAKEMAKE_FLAGS = ("--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks",
                   str(INIT_SECONDS), "--slurm-no-account")


def tiny_config(steps: int = 40, log_every: int = 10, checkpoint_every: int = 20) -> dict:
    """The capacity study at toy scale (tests/test_pipeline.py's TINY): width 16, 2 and 6 Mondrians of 8x8,
    ``steps`` AdamW steps of batch 8, 24 samples of 10 respaced steps."""
    return tiny(steps, checkpoint_every, log_every, results="results", seeds=[0],
                sample={"num_samples": 24, "batch_size": 12, "steps": 10}, capacity={"widths": [16], "sizes": [2, 6]})


class Unavailable(RuntimeError):
    """No SLURM cluster can be started here; the message is one line saying why."""


def _which(name: str) -> str | None:
    return shutil.which(name, path=f"{os.environ.get('PATH', '')}:{SBIN_PATH}")


def _tail(*paths: Path, lines: int = 3) -> str:
    """The last lines of the first of ``paths`` that has any, joined on one line."""
    for path in paths:
        text = path.read_text(errors="replace").strip().splitlines() if path.exists() else []
        if text:
            return " | ".join(text[-lines:])
    return "(no log)"


def ensure_installed(timeout: float = 900) -> float:
    """Install `PACKAGES` with apt-get unless `BINARIES` are all there; returns the seconds it took (0: present).

    Non-interactive; a temporary policy-rc.d keeps the packages' init scripts from starting system daemons."""
    if all(_which(b) for b in BINARIES):
        return 0.0
    if os.geteuid() != 0:
        raise Unavailable("SLURM is not installed and we are not root (cannot apt-get install it)")
    if not _which("apt-get"):
        raise Unavailable("SLURM is not installed and there is no apt-get")
    t0 = time.monotonic()
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive", "PATH": SBIN_PATH}
    policy = Path("/usr/sbin/policy-rc.d")
    own_policy = not policy.exists()
    if own_policy:
        policy.write_text("#!/bin/sh\nexit 101\n")  # 101: no init script may start a daemon
        policy.chmod(0o755)
    try:
        for cmd in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300",
                     "-o", "Dpkg::Options::=--force-confold", *PACKAGES]):
            try:
                proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                raise Unavailable(f"{' '.join(cmd[:2])} took more than {timeout:.0f} s") from None
            if proc.returncode != 0:
                last = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
                raise Unavailable(f"{' '.join(cmd[:2])} failed (exit {proc.returncode}): {last}")
    finally:
        if own_policy:
            policy.unlink(missing_ok=True)
    missing = [b for b in BINARIES if not _which(b)]
    if missing:
        raise Unavailable(f"apt-get installed {' '.join(PACKAGES)} but {', '.join(missing)} is missing")
    return time.monotonic() - t0


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
    """One node (this machine, as many CPUs as it has, at least 2) with ``gpus`` fake GPUs, partition ``debug``."""

    def __init__(self, gpus: int = 2):
        self.gpus = gpus
        self.root = Path(tempfile.mkdtemp(prefix="memgen-slurm-"))
        self.host = socket.gethostname().split(".")[0]
        self.procs: dict[str, subprocess.Popen] = {}
        self.outs: dict[str, Path] = {}  # each daemon's stdout and stderr
        self.conf = self.root / "slurm.conf"
        self.munge_socket = self.root / "munge" / "munge.socket"

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
        """Write the configuration, start munged, slurmctld (until `scontrol ping` says UP), then slurmd (until
        the node is idle). Returns the seconds it took; `Unavailable` (after stopping what started) on failure."""
        t0 = time.monotonic()
        missing = [b for b in BINARIES if not _which(b)]
        if missing:
            raise Unavailable(f"not installed: {', '.join(missing)}")
        try:
            self._write_config()
            self._start_munge(timeout)
            self._spawn("slurmctld", ["slurmctld", "-D", "-c", "-i"])
            self._wait(lambda: "is UP" in self.run("scontrol", "ping").stdout, timeout, "slurmctld", "ctld.log")
            self._spawn("slurmd", ["slurmd", "-D", "-N", self.host])
            self._wait(self._node_idle, timeout, "slurmd", "slurmd.log")
        except BaseException:
            self.stop()
            raise
        return time.monotonic() - t0

    def _write_config(self) -> None:
        for sub in ("munge", "state", "spool", "bin"):
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
        ctld_port, slurmd_port = _free_ports(2)
        cpus = max(2, os.cpu_count() or 1)
        memory = max(1000, _memory_mb() - 1024)
        r = self.root
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
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
DefMemPerCPU=512
ReturnToService=2
MinJobAge=600
KillWait=30
InactiveLimit=0
MailProg=/bin/true
GresTypes=gpu
NodeName={self.host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory} Gres=gpu:fake:{self.gpus} State=UNKNOWN
PartitionName=debug Nodes={self.host} Default=YES MaxTime=INFINITE State=UP
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
        return state == "idle"

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
        """Every job slurmctld still knows (all states; MinJobAge keeps ended ones 600 s), as the key=value
        fields of `scontrol show job`: JobId, JobName, JobState, ExitCode, Comment (Snakemake's
        ``rule_<rule>_wildcards_<values>``), TresPerJob (``gres:gpu:1`` for ``--gpus=1``), StdOut, ..."""
        out = self.run("scontrol", "show", "job", "-o").stdout
        return [dict(f.split("=", 1) for f in line.split() if "=" in f) for line in out.splitlines() if "JobId=" in line]

    # --- stop ------------------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Cancel every job, end slurmd, slurmctld and munged by PID (SIGTERM, then SIGKILL after 15 s) and
        delete the configuration and state."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            try:
                live = [j["JobId"] for j in self.jobs() if j["JobState"] in ("PENDING", "RUNNING", "COMPLETING")]
                if live:
                    self.run("scancel", "--full", *live)
            except (subprocess.SubprocessError, OSError):
                pass
        _kill_marked(str(self.root), grace=15)  # the jobs' processes, before their daemons go
        for name in ("slurmd", "slurmctld", "munged"):
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
