"""GPU choice on a local multi-GPU box, without a GPU: the GPU count is injected, the locks are real.

Each holder is a separate process (flock locks belong to open files, and the kernel frees them when the process
ends), so the tests cover what matters in a pipeline: distinct GPUs for concurrent jobs, waiting when all are
held, and reuse of a GPU whose job ended normally or was SIGKILLed.
"""

from __future__ import annotations

import errno
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from memgen import gpus
from memgen.errors import MemgenError
from memgen.gpus import LOCK_DIR_ENV, SLOTS_ENV, claim_gpu

WORKFLOW = Path(__file__).resolve().parents[1] / "workflow"
HOLDER = """
import os, sys
from memgen.gpus import claim_gpu
index = claim_gpu(int(sys.argv[1]), poll_s=0.05, log=lambda m: print(m, flush=True))
print("claimed", index, os.environ.get("CUDA_VISIBLE_DEVICES"), flush=True)
sys.stdin.read()  # hold the GPU until the test closes stdin
"""


class Holder:
    """A process that claims one of ``count`` GPUs and holds it until `release` (or a kill)."""

    def __init__(self, count: int, locks: Path, slots: int | None = None):
        env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", SLOTS_ENV)}
        env.update({LOCK_DIR_ENV: str(locks), "PYTHONPATH": str(WORKFLOW)})
        if slots:
            env[SLOTS_ENV] = str(slots)
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(count)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(line) for line in self.proc.stdout], daemon=True).start()

    def next_line(self, timeout: float = 30) -> str:
        return self.lines.get(timeout=timeout)

    def claimed(self) -> tuple[str, str]:
        """(index, CUDA_VISIBLE_DEVICES) from the 'claimed' line, skipping log lines."""
        while not (line := self.next_line()).startswith("claimed"):
            pass
        _, index, visible = line.split()
        return index, visible

    def release(self) -> None:
        self.proc.stdin.close()
        assert self.proc.wait(timeout=30) == 0

    def crash(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)


def test_concurrent_jobs_get_distinct_gpus_wait_when_all_are_held_and_reuse_freed_ones(tmp_path):
    a, b = Holder(2, tmp_path), None
    holders = [a]
    try:
        assert a.claimed() == ("0", "0")
        b = Holder(2, tmp_path)
        holders.append(b)
        assert b.claimed() == ("1", "1")
        c = Holder(2, tmp_path)  # both held: it says so once and waits
        holders.append(c)
        waiting = c.next_line()
        assert waiting.startswith("all 2 GPUs are held by other memgen jobs") and str(tmp_path) in waiting
        assert c.lines.empty() and c.proc.poll() is None
        a.release()  # a normal exit frees GPU 0 ...
        assert c.claimed() == ("0", "0")
        b.crash()  # ... and so does a SIGKILL (the kernel drops the lock with the process)
        d = Holder(2, tmp_path)
        holders.append(d)
        assert d.claimed() == ("1", "1")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["gpu0.lock", "gpu1.lock"]
    finally:
        for holder in holders:
            if holder.proc.poll() is None:
                holder.crash()


def test_a_set_cuda_visible_devices_is_left_alone(tmp_path):
    env = {"CUDA_VISIBLE_DEVICES": "3", LOCK_DIR_ENV: str(tmp_path / "locks")}
    assert claim_gpu(4, env=env, log=lambda m: None) is None
    assert env["CUDA_VISIBLE_DEVICES"] == "3"
    assert not (tmp_path / "locks").exists()  # SLURM chose the GPU: no lock is taken


def test_no_gpu_no_claim(tmp_path):
    env = {LOCK_DIR_ENV: str(tmp_path / "locks")}
    assert claim_gpu(0, env=env, log=lambda m: None) is None
    assert "CUDA_VISIBLE_DEVICES" not in env and not (tmp_path / "locks").exists()


def test_one_gpu_claimed_in_process_sets_the_variable(tmp_path):
    env = {LOCK_DIR_ENV: str(tmp_path / "locks")}
    logged: list[str] = []
    assert claim_gpu(1, env=env, log=logged.append) == 0
    assert env["CUDA_VISIBLE_DEVICES"] == "0" and "using GPU 0 of 1" in logged[0]
    assert (tmp_path / "locks").stat().st_mode & 0o1777 == 0o1777  # shared by every user, like /tmp


# --- a lock directory shared by every user (fs.protected_regular) ---------------------------------------------

class _ProtectedRegular:
    """os.open as Linux runs it with fs.protected_regular=1 in a world-writable sticky directory: O_CREAT on an
    existing file of another user fails with EACCES, even read-only; ``unreadable`` files refuse any open."""

    def __init__(self, others: set[Path], unreadable: set[Path] = frozenset()):
        self.others, self.unreadable, self.real, self.calls = others, unreadable, os.open, []

    def __call__(self, path, flags, mode=0o777, **kwargs):
        path = Path(path)
        self.calls.append((path.name, bool(flags & os.O_CREAT)))
        if path in self.unreadable or (flags & os.O_CREAT and not flags & os.O_EXCL and path in self.others):
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return self.real(path, flags, mode, **kwargs)


def test_another_users_lock_file_is_opened_without_o_creat(tmp_path, monkeypatch):
    locks = tmp_path / "locks"
    locks.mkdir(mode=0o1777)
    (locks / "gpu0.lock").touch(mode=0o644)  # left by another user's job, which has ended
    kernel = _ProtectedRegular(others={locks / "gpu0.lock"})
    monkeypatch.setattr(gpus.os, "open", kernel)
    env = {LOCK_DIR_ENV: str(locks)}
    assert claim_gpu(2, env=env, log=lambda m: None) == 0
    assert ("gpu0.lock", False) in kernel.calls and ("gpu0.lock", True) not in kernel.calls


def test_a_new_lock_file_is_readable_by_every_user_whatever_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        assert claim_gpu(1, env={LOCK_DIR_ENV: str(tmp_path)}, log=lambda m: None) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "gpu0.lock").stat().st_mode & 0o777 == 0o644


def test_an_unreadable_lock_file_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "gpu0.lock").touch(mode=0o600)
    monkeypatch.setattr(gpus.os, "open", _ProtectedRegular(set(), unreadable={tmp_path / "gpu0.lock"}))
    with pytest.raises(MemgenError) as err:
        claim_gpu(1, env={LOCK_DIR_ENV: str(tmp_path)}, log=lambda m: None)
    assert "\n" not in str(err.value) and str(tmp_path / "gpu0.lock") in str(err.value) and LOCK_DIR_ENV in str(err.value)


PROTECTED_REGULAR = Path("/proc/sys/fs/protected_regular")


@pytest.fixture
def protected_regular():
    """The kernel rule switched on for the test where this process may (root, /proc/sys writable), restored after;
    systemd sets it on most desktops and servers, while containers and CI machines often leave it at 0."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to make a file of another user")
    try:
        before = PROTECTED_REGULAR.read_text()
        if int(before) < 1:
            PROTECTED_REGULAR.write_text("1")
    except (OSError, ValueError) as err:
        pytest.skip(f"fs.protected_regular cannot be read or set here: {err}")
    yield
    if int(before) < 1:
        PROTECTED_REGULAR.write_text(before)


def test_another_users_lock_file_under_the_real_kernel_rule(tmp_path, protected_regular):
    locks = tmp_path / "locks"
    locks.mkdir()
    locks.chmod(0o1777)
    (locks / "gpu0.lock").touch(mode=0o644)
    os.chown(locks / "gpu0.lock", 65534, 65534)  # nobody's
    with pytest.raises(PermissionError):  # the rule is in force: opening it with O_CREAT is refused, even to root
        os.close(os.open(locks / "gpu0.lock", os.O_RDWR | os.O_CREAT, 0o666))
    assert claim_gpu(1, env={LOCK_DIR_ENV: str(locks)}, log=lambda m: None) == 0


def test_slots_let_jobs_share_a_gpu_spread_first_and_keep_exclusive_jobs_apart(tmp_path):
    """MEMGEN_GPU_SLOTS=2 on 2 GPUs: the first two jobs spread over both GPUs, the next two double up, a fifth
    waits; a job that wants a GPU alone (no slots) waits until no sharing job is left on one, and then sharing jobs
    keep off that GPU while it holds it."""
    holders = []
    try:
        for expected in ("0", "1", "0", "1"):
            holders.append(Holder(2, tmp_path, slots=2))
            assert holders[-1].claimed() == (expected, expected)
        fifth = Holder(2, tmp_path, slots=2)
        alone = Holder(2, tmp_path)
        holders += [fifth, alone]
        assert fifth.next_line().startswith("all 2 GPUs are held") and alone.next_line().startswith("all 2 GPUs")
        holders[0].release()  # a slot on GPU 0 frees: the sharing job takes it, the exclusive one still waits
        assert fifth.claimed() == ("0", "0")
        holders[1].release()
        holders[3].release()  # GPU 1 has no sharing job left: the exclusive job gets it
        assert alone.claimed() == ("1", "1") and alone.lines.empty()
        late = Holder(2, tmp_path, slots=2)  # GPU 0 is full (2 sharing), GPU 1 is held alone
        holders.append(late)
        assert late.next_line().startswith("all 2 GPUs are held")
        alone.crash()
        assert late.claimed() == ("1", "1")
    finally:
        for holder in holders:
            if holder.proc.poll() is None:
                holder.crash()
