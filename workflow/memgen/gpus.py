"""One GPU per memgen job on a local multi-GPU box.

Snakemake never sets ``CUDA_VISIBLE_DEVICES`` for local jobs: ``snakemake --cores all --resources gpu=4`` lets
four GPU jobs run at once, and each would use GPU 0. So every GPU job claims a GPU that no other memgen job holds:
the lowest index ``i`` whose lock file ``<lock dir>/gpu<i>.lock`` it can ``flock`` exclusively without blocking.
The lock is held as long as the process lives and is released by the kernel when it ends, however it ends
(exit, crash, SIGKILL), so there is nothing to clean up. Under SLURM (or when the user chose a device) the
variable is already set and nothing happens. With ``$MEMGEN_GPU_SLOTS`` = K > 1 (resources.<stage>.slots_per_gpu;
run Snakemake with ``--resources gpu=<GPUs x K>``) up to K such jobs share a GPU (`try_claim_slot`).

It must run before CUDA is initialised: the CUDA runtime reads ``CUDA_VISIBLE_DEVICES`` once, at its first call
(``torch.cuda.is_available()`` is such a call), so the GPUs are counted with ``nvidia-smi`` instead.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, MutableMapping

from memgen.errors import MemgenError

LOCK_DIR_ENV = "MEMGEN_GPU_LOCK_DIR"
SLOTS_ENV = "MEMGEN_GPU_SLOTS"  # jobs that may share one GPU (the rules set it from resources.<stage>.slots_per_gpu)
DEFAULT_LOCK_DIR = Path(tempfile.gettempdir()) / "memgen-gpu-locks"
_HELD: dict[Path, int] = {}  # lock file -> open descriptor, kept open (and locked) for the process lifetime
_SHARED: list[int] = []  # descriptors holding shared locks on gpu<i>.lock (try_claim_slot)


def count_gpus() -> int:
    """NVIDIA GPUs on this machine without touching CUDA: ``nvidia-smi -L`` lines, else the entries of
    /proc/driver/nvidia/gpus, else 0."""
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30).stdout
            return sum(line.startswith("GPU ") for line in out.splitlines())
        except (OSError, subprocess.SubprocessError):
            pass
    proc = Path("/proc/driver/nvidia/gpus")
    return len(list(proc.iterdir())) if proc.is_dir() else 0


def lock_dir(env: MutableMapping[str, str] = os.environ) -> Path:
    """The directory of the GPU lock files: ``$MEMGEN_GPU_LOCK_DIR``, else <tmp>/memgen-gpu-locks (shared by
    every user of the machine: world-writable with the sticky bit, like /tmp)."""
    path = Path(env.get(LOCK_DIR_ENV) or DEFAULT_LOCK_DIR)
    if not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        try:
            path.chmod(0o1777)
        except PermissionError:  # made by someone else meanwhile
            pass
    return path


def open_lock(path: Path) -> int:
    """A read-only descriptor of the lock file ``path`` (flock needs no more), created readable by all if absent.

    An existing file is opened without O_CREAT: in a world-writable sticky directory Linux refuses O_CREAT on
    another user's file when ``fs.protected_regular`` is set (systemd's default since v241), with EACCES even
    though the file is readable. A new file is made with O_EXCL (two jobs creating it at once: the loser opens
    the winner's) and chmod 0644 whatever the umask, so other users' jobs can open it. A lock file this user may
    not read (another user's, mode 0600) is a one-line error naming the way out.
    """
    while True:
        try:
            return os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            pass
        except PermissionError:
            raise MemgenError(f"{path}: GPU lock file of another user that this user may not read; ask them to "
                              f"chmod a+r it, or set {LOCK_DIR_ENV} to a directory of your own") from None
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:  # created by another job meanwhile: open it as it is
            continue
        os.fchmod(fd, 0o644)
        return fd


def try_claim(count: int, directory: Path) -> int | None:
    """The lowest index in ``range(count)`` whose lock this process could take now (it keeps it), or None when
    all are held. A lock this process already holds is not taken twice."""
    for index in range(count):
        path = directory / f"gpu{index}.lock"
        if path in _HELD:
            continue
        fd = open_lock(path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        _HELD[path] = fd
        return index
    return None


def _flock(path: Path, mode: int) -> int | None:
    """An open descriptor of ``path`` holding a ``mode`` flock taken without blocking, or None (held elsewhere)."""
    fd = open_lock(path)  # without O_CREAT on an existing file (fs.protected_regular, see open_lock)
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def try_claim_slot(count: int, directory: Path, slots: int) -> int | None:
    """A place for this process on one of ``count`` GPUs shared by up to ``slots`` jobs, or None when all are
    taken: a shared lock on ``gpu<i>.lock`` (so a job that wants a GPU alone waits until no sharing job is left
    on it, and no sharing job joins it) and an exclusive lock on one ``gpu<i>.slot<j>.lock``, j < slots. Slot 0
    of every GPU is filled before slot 1 of any, so jobs spread over the GPUs first."""
    for slot in range(slots):
        for index in range(count):
            slot_path = directory / f"gpu{index}.slot{slot}.lock"
            if slot_path in _HELD:
                continue
            gpu_fd = _flock(directory / f"gpu{index}.lock", fcntl.LOCK_SH)
            if gpu_fd is None:
                continue
            slot_fd = _flock(slot_path, fcntl.LOCK_EX)
            if slot_fd is None:
                os.close(gpu_fd)
                continue
            _HELD[slot_path] = slot_fd
            _SHARED.append(gpu_fd)  # both kept open (and locked) for the process lifetime
            return index
    return None


def claim_gpu(
    count: int | None = None,
    *,
    env: MutableMapping[str, str] = os.environ,
    poll_s: float = 10.0,
    log: Callable[[str], None] = print,
) -> int | None:
    """Pin this process to one GPU that no other memgen job holds, by setting ``CUDA_VISIBLE_DEVICES``.

    Args:
        count: GPUs visible to this process (None: `count_gpus()`; tests inject it).
        env: the environment to read and set (os.environ; tests inject a dict).
        poll_s: seconds between tries while every GPU is held.
    Returns: the claimed index, or None when ``CUDA_VISIBLE_DEVICES`` was already set (SLURM sets it for each
    job; a user may set it by hand) or the machine has no GPU; then nothing is changed.
    """
    if env.get("CUDA_VISIBLE_DEVICES") is not None:
        return None
    count = count_gpus() if count is None else count
    if count <= 0:
        return None
    directory = lock_dir(env)
    slots = int(env.get(SLOTS_ENV) or 1)
    claim = (lambda: try_claim(count, directory)) if slots <= 1 else (lambda: try_claim_slot(count, directory, slots))
    waited = False
    while (index := claim()) is None:
        if not waited:
            log(f"all {count} GPUs are held by other memgen jobs (locks in {directory}); waiting for one to be freed")
            waited = True
        time.sleep(poll_s)
    env["CUDA_VISIBLE_DEVICES"] = str(index)
    shared = f", shared by up to {slots} jobs" if slots > 1 else ""
    log(f"using GPU {index} of {count} (CUDA_VISIBLE_DEVICES={index}; lock {directory / f'gpu{index}.lock'}{shared})")
    return index
