"""Stopping a training run on a signal (SLURM's preemption, scancel, ``sbatch --signal``): `Preempted`, the
handlers that catch SIGTERM/SIGUSR1 between steps or at once during the run's first step (`StopSignals`), and
the decorator that puts the caller's handlers back. Used by `memgen.train`."""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Callable


class Preempted(Exception):
    """Training stopped on a signal; exit status 128 + the signal number. ``saved``: the checkpoint at ``step``
    was written now (False: the signal came before this run's first step finished, and the checkpoint on disk,
    if any, is already at ``step``)."""

    def __init__(self, signum: int, step: int, path: Path, saved: bool = True):
        self.signum, self.step, self.path, self.saved = signum, step, path, saved
        self.exit_code = 128 + signum
        name = signal.Signals(signum).name
        if saved:
            message = f"preempted by {name} at step {step}: checkpoint written to {path}; rerun to resume"
        else:
            where = f"{path} is already at that step" if path.exists() else "no checkpoint yet, a rerun starts over"
            message = f"preempted by {name} at step {step}, before this run's first step finished: {where}"
        super().__init__(message)


_STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)  # SLURM's preemption and scancel; `sbatch --signal=USR1@secs`


class StopBeforeFirstStep(BaseException):
    """Raised by the signal handler while this run's first step is in flight. A BaseException, like
    KeyboardInterrupt, so that it unwinds torch.compile and no ``except Exception`` fallback swallows it."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


class StopSignals:
    """SIGTERM/SIGUSR1 while training, caught instead of dying (handlers need the main thread; elsewhere nothing is
    caught). After the first step of this run, a signal is recorded in ``caught`` and acted on between steps
    (checkpoint at that step, `Preempted`). Before it, nothing exists that the checkpoint on disk (or, without one,
    a fresh start) lacks, and the first step can take minutes (torch.compile, about 90 s for the paper's UNet on a
    GPU; SLURM kills after KillWait, 30 s by default), so a signal stops the run at once: the handler raises
    `StopBeforeFirstStep` in the main thread; should that thread sit in native code that does not return to
    Python for GRACE_S (the backward graph is compiled lazily, on CUDA's autograd thread), a watcher thread, woken
    through ``signal.set_wakeup_fd``, ends the process with status 128 + signal. `close` restores the wakeup fd."""

    GRACE_S = 5.0

    def __init__(self, log: Callable[[str], None]):
        self.caught: list[int] = []
        self.log, self._first_done, self._watch_fds = log, threading.Event(), None
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in _STOP_SIGNALS:
            signal.signal(signum, self._handle)
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        self._previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        self._watch_fds = (read_fd, write_fd)
        threading.Thread(target=self._watch, args=(read_fd,), name="memgen-stop-watcher", daemon=True).start()

    def _handle(self, signum: int, frame) -> None:
        self.caught.append(signum)
        if not self._first_done.is_set():
            raise StopBeforeFirstStep(signum)

    def _watch(self, read_fd: int) -> None:
        try:
            while data := os.read(read_fd, 64):  # signal numbers, one byte each; b"" once close() closed the pipe
                for signum in data:
                    if signum in _STOP_SIGNALS and not self._first_done.wait(self.GRACE_S):
                        self.log(f"{signal.Signals(signum).name} before this run's first step finished, and the "
                                 f"main thread did not stop within {self.GRACE_S:.0f} s (in native code, e.g. "
                                 f"compiling): exiting {128 + signum}; the checkpoint on disk (if any) is current")
                        for stream in (sys.stdout, sys.stderr):
                            stream.flush()
                        os._exit(128 + signum)
        finally:
            os.close(read_fd)

    def first_step_done(self) -> None:
        self._first_done.set()

    def close(self) -> None:
        self._first_done.set()
        if self._watch_fds is not None:
            signal.set_wakeup_fd(self._previous_fd)
            os.close(self._watch_fds[1])  # the watcher reads b"", closes its end and returns
            self._watch_fds = None


def restoring_signal_handlers(fn: Callable) -> Callable:
    """Decorator: the SIGTERM/SIGUSR1 handlers in force when ``fn`` is called are in force again when it ends."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            return fn(*args, **kwargs)
        previous = {signum: signal.getsignal(signum) for signum in _STOP_SIGNALS}
        try:
            return fn(*args, **kwargs)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, signal.SIG_DFL if handler is None else handler)  # None: set outside Python

    return wrapped
