"""One on-disk cache of torch.compile's work for every job of a machine kind: the first job of a shape compiles,
the others load.

Inductor keeps compiled graphs on disk (the FX graph cache, and the AOTAutograd cache of forward + backward;
both on by default in torch >= 2.6) under ``TORCHINDUCTOR_CACHE_DIR``, by default ``$TMPDIR/torchinductor_<user>``:
a per-job TMPDIR (SLURM's, or a container's) makes every job compile cold again. `use_shared_cache` points it at
one directory per user and machine kind before the first compile, so a process finds what an earlier one compiled
(measured on a 2-core Xeon: the demo's width-16 step compiles in about 100-300 s cold, loads in a few seconds warm;
benchmarks/results/cpu-intel-*/).

Keys. An entry is found by its FX graph (the traced network, so memgen's code as traced), the shapes, dtypes and
strides of its inputs, torch's version, Inductor's configuration and, for CUDA, the device; a change of any of them
is a miss, never a wrong kernel. Inductor does not key its CPU entries by the instruction set it generated code
for (AVX-512 code found on a shared filesystem by an AVX2 node), so the directory is per CPU model and flags (and
torch version, for tidiness): ``<root>/<torch version>-<cpu hash>``.

Concurrency. Entries are written to a temporary file and renamed into place (``torch._inductor.codecache.
write_atomic``), C++ builds under file locks: two jobs compiling one shape at once would both compile and both write
the same entry (a reader never sees half a file). `first_compile_lock` lets the second wait instead and load what the
first wrote: on a 2-core machine that frees the core for the first job's compile workers, and the shape is compiled
once (an flock, so the kernel releases it when its holder dies; on filesystems without flock both just compile).

Where: ``MEMGEN_COMPILE_CACHE`` if set, else ``$XDG_CACHE_HOME/memgen/compile`` (``~/.cache/memgen/compile``).
An explicit ``TORCHINDUCTOR_CACHE_DIR`` is left alone (the user chose it).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import platform
from pathlib import Path

import torch

ENV = "MEMGEN_COMPILE_CACHE"


def cpu_identity() -> str:
    """The CPU as /proc/cpuinfo describes its first processor (model name and flags; the vendor where present),
    else the platform's processor string: what decides the instructions compiled code may use."""
    try:
        with open("/proc/cpuinfo") as handle:
            first = handle.read().split("\n\n")[0]
    except OSError:
        return f"{platform.machine()} {platform.processor()}"
    keep = ("vendor_id", "cpu family", "model", "model name", "flags", "Features", "CPU implementer", "CPU part")
    lines = [line for line in first.splitlines() if line.split(":")[0].strip() in keep]
    return "\n".join(lines) or first


def cache_dir(root: str | Path | None = None) -> Path:
    """The cache directory of this machine kind and torch version under ``root`` (default: see module doc)."""
    if root is None:
        root = os.environ.get(ENV) or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "memgen" / \
            "compile"
    cpu = hashlib.sha256(cpu_identity().encode()).hexdigest()[:12]
    return Path(root) / f"torch-{torch.__version__.replace('+', '_')}-cpu-{cpu}"


def use_shared_cache(root: str | Path | None = None) -> Path:
    """Point Inductor's on-disk caches at `cache_dir` (unless ``TORCHINDUCTOR_CACHE_DIR`` is set already) and make
    sure both are on; call before the first torch.compile of the process. Returns the directory in use."""
    current = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if current and root is None and not os.environ.get(ENV):
        path = Path(current)
    else:
        path = cache_dir(root)
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(path)  # read by Inductor (and its compile workers) when used
    path.mkdir(parents=True, exist_ok=True)
    import torch._functorch.config as functorch_config
    import torch._inductor.config as inductor_config

    inductor_config.fx_graph_cache = True
    functorch_config.enable_autograd_cache = True
    return path


@contextlib.contextmanager
def first_compile_lock(cache: Path, key: str):
    """Hold an exclusive lock named ``key`` (a digest of what is compiled) in ``cache`` for the block: the first
    compile of one graph, so that a job of the same shape started meanwhile waits and then loads the entries."""
    locks = Path(cache) / "memgen-locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{key}.lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError:  # no flock on this filesystem: compile without waiting
            yield
            return
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
