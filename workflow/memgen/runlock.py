"""Snakemake's directory lock, checked by ``./run pipeline`` before it starts Snakemake.

A run holds ``<workdir>/.snakemake/locks/*.lock`` while it works; a run killed hard (SIGKILL, OOM killer, power
cut) leaves them behind, and the next run stops with Snakemake's ``LockException`` until ``--unlock``. This check
turns that into one line: when lock files exist and no Snakemake or memgen process of this machine works in the
directory, the lock is stale, and the line says to run ``./run pipeline --unlock`` once.

It never unlocks by itself. The one thing the lock prevents, two runs writing the same files (two trainings of one
model racing on its checkpoint), can come from a process this check cannot see: a Snakemake on another login
node sharing the filesystem (a cluster's home or project directory), in a container, or of another user whose
working directory is unreadable. Unlocking costs the user one command; a wrong unlock costs results.
``./run pipeline --unlock`` itself is refused while a process of this machine visibly works in the directory.

Usage (what ``run`` does): ``python -m memgen.runlock [snakemake args...]``; exit 0: go ahead, 1: the one line
was printed to stderr.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Snakemake options that neither take nor need the lock (a dry run, --nolock, the listings and reports).
NO_LOCK = {"-n", "--dry-run", "--dryrun", "--nolock", "--list-rules", "--list", "-l", "--list-target-rules",
           "--lt", "--summary", "-S", "--detailed-summary", "-D", "--dag", "--rulegraph", "--filegraph",
           "--lint", "--help", "-h", "--version", "-v"}


def workdir_of(args: list[str], cwd: Path) -> Path:
    """The working directory a Snakemake command line works in: ``-d/--directory`` (relative to ``cwd``) or ``cwd``."""
    for i, arg in enumerate(args):
        if arg in ("-d", "--directory") and i + 1 < len(args):
            return (cwd / args[i + 1]).resolve()
        if arg.startswith("--directory="):
            return (cwd / arg.split("=", 1)[1]).resolve()
    return cwd.resolve()


def lock_files(workdir: Path) -> list[Path]:
    return sorted((workdir / ".snakemake" / "locks").glob("*.lock"))


def _is_pipeline_process(argv: list[str]) -> bool:
    """Snakemake itself (``snakemake ...``, ``python -m snakemake ...``) or a memgen job (``python -m memgen ...``)."""
    names = [os.path.basename(a) for a in argv[:3]]
    return "snakemake" in names or any(argv[i] == "-m" and argv[i + 1].split(".")[0] in ("snakemake", "memgen")
                                       for i in range(min(len(argv) - 1, 3)))


def processes_in(workdir: Path, proc: Path = Path("/proc")) -> list[int]:
    """PIDs of this machine's Snakemake and memgen processes whose working directory (or ``-d``) is ``workdir``.

    Only processes whose /proc entries this user may read are seen (others' working directories are private).
    """
    found = []
    for entry in proc.iterdir() if proc.is_dir() else []:
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = [a.decode(errors="replace") for a in (entry / "cmdline").read_bytes().split(b"\0") if a]
            if not argv or not _is_pipeline_process(argv):
                continue
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:  # ended meanwhile, or another user's
            continue
        if workdir_of(argv, cwd) == workdir:
            found.append(int(entry.name))
    return found


def check(args: list[str], cwd: Path) -> str | None:
    """The one line to print before ``snakemake args`` runs in ``cwd``, or None when it may go ahead."""
    workdir = workdir_of(args, cwd)
    if "--unlock" in args:
        busy = processes_in(workdir)
        if busy:
            return (f"memgen: not unlocking {workdir}: process {busy[0]} (Snakemake or a memgen job) is working "
                    "there; wait for it to end or stop it first")
        return None
    if NO_LOCK & set(args) or not lock_files(workdir) or processes_in(workdir):
        return None  # nothing to say; a live run's lock is Snakemake's to report
    return (f"memgen: {workdir} is locked by a Snakemake run that is no longer running on this machine (killed?); "
            "if no run uses it from another machine either, run `./run pipeline --unlock` once, then start again")


def main(argv: list[str] | None = None) -> int:
    line = check(sys.argv[1:] if argv is None else argv, Path.cwd())
    if line:
        print(line, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
