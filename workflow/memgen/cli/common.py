"""What every subcommand shares: the memgen logger, the device/threads/seed arguments, --meta columns."""

from __future__ import annotations

import argparse
import logging

from memgen.errors import MemgenError

LOG = logging.getLogger("memgen")


def add_compute_args(s: argparse.ArgumentParser) -> None:
    """--device and --threads, on every command that runs a network."""
    s.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="auto: CUDA when available (default)")
    s.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")


def add_seed_arg(s: argparse.ArgumentParser, required: bool = True, default: int | None = None) -> None:
    s.add_argument("--seed", type=int, required=required, default=default,
                   help="the run's seed (with the named seed streams of memgen.runtime)")


def prepare(args) -> None:
    """Before a command touches torch: claim a GPU no other memgen job holds (`memgen.gpus`; a no-op under SLURM,
    with CUDA_VISIBLE_DEVICES set, on --device cpu or without a GPU), then apply --threads."""
    from memgen.gpus import claim_gpu
    from memgen.runtime import set_threads

    if args.device != "cpu":
        claim_gpu(log=LOG.info)
    set_threads(args.threads)


def parse_meta(pairs: list[str] | None) -> dict:
    """--meta KEY=VALUE pairs as a dict; values become int or float where they parse as one."""
    meta = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise MemgenError(f"--meta {pair!r}: expected KEY=VALUE")
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                continue
        meta[key] = value
    return meta


def add_meta(table, meta: dict) -> None:
    """Add each --meta KEY=VALUE as a constant column; a KEY that is already a column is refused, not overwritten."""
    from memgen.jobs import add_columns

    add_columns(table, meta)
