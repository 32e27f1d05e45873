"""Debian packages that a test needs, installed with apt-get when their binaries are missing (as root,
non-interactive), so a fresh CI machine runs the test instead of skipping it: SLURM (tests/slurm_cluster.py),
Chromium (tests/browser.py). Where nothing can be installed, `Unavailable` says why in one line."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Unavailable(RuntimeError):
    """What a test needs cannot be had here; the message is one line saying why."""


def which(name: str) -> str | None:
    return shutil.which(name, path=f"{os.environ.get('PATH', '')}:{SBIN_PATH}")


def apt_install(packages: tuple[str, ...], binaries: tuple[str, ...], timeout: float = 900) -> float:
    """Install ``packages`` with apt-get unless every one of ``binaries`` is on the PATH; returns the seconds it
    took (0: present). A temporary policy-rc.d keeps the packages' init scripts from starting system daemons (an
    existing one is left as it is). Raises `Unavailable` when not root, without apt-get, when a step fails or
    times out, or when a binary is still missing afterwards."""
    if all(which(b) for b in binaries):
        return 0.0
    if os.geteuid() != 0:
        raise Unavailable(f"{' '.join(packages)} not installed and we are not root (cannot apt-get install them)")
    if not which("apt-get"):
        raise Unavailable(f"{' '.join(packages)} not installed and there is no apt-get")
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
                     "-o", "Dpkg::Options::=--force-confold", *packages]):
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
    missing = [b for b in binaries if not which(b)]
    if missing:
        raise Unavailable(f"apt-get installed {' '.join(packages)} but {', '.join(missing)} is missing")
    return time.monotonic() - t0
