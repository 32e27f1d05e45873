"""Measured GPU speeds of memgen's numeric paths: the table that ``auto`` chooses from and the planner prices with.

``rates.json`` (next to this file) is written by ``benchmarks/rates.py`` from the result files of
``benchmarks/gpu.sh`` (never by hand); each row names the file it comes from. Rows::

    train   chip, width, image_size, batch, path, s_per_call (one training step), compile_s, source
    sample  chip, width, image_size, batch, path, s_per_call (one reverse step of the batch, noise included), ...
    pack    chip, width, image_size, batch, path, k, mode, gain, source

``path`` is `memgen.precision.FastPath.describe()` ("fp32", "bf16+fused_adamw",
"bf16+compile(reduce-overhead)+fused_adamw", ...); ``compile_s`` the first call's extra seconds (compiling), or
null; ``gain`` the cells per GPU-hour of ``k`` trainings sharing one GPU (``mode``: "processes", "mps" or "vmap")
over one at a time. ``chip`` is `chip_of` the device name. ``plan_chip``: the chip whose rates `memgen.cost` uses.

The choice (`choose_path`): among the paths measured at the measured width nearest the job's (log scale) and then
the nearest batch, the one with the least ``compile_s + calls x s_per_call`` (``calls``: the job's steps, or
batches x sampling steps), but only where the default path (`CUDA_DEFAULT`) was measured there too: a path replaces
the default only when a measurement shows it faster; with nothing measured, the default stays. Pure data, no torch:
the Snakefile imports the planner.
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

TABLE_PATH = Path(__file__).with_name("rates.json")
KINDS = ("train", "sample")
# What "auto" runs on CUDA where nothing measured says otherwise (memgen.precision.resolve_fast_path; its test
# checks that the two agree).
CUDA_DEFAULT = {"train": "bf16+compile(reduce-overhead)+fused_adamw", "sample": "bf16+compile(reduce-overhead)"}
# The default without compiling: what it runs if compiling fails (the eager fallback), so a bound on its time.
CUDA_EAGER = {"train": "bf16+fused_adamw", "sample": "bf16"}


@dataclass(frozen=True)
class Workload:
    """A job to choose a path for. kind: "train" or "sample"; width: the UNet's; image_size: its side; batch:
    images per call; calls: training steps, or batches x sampling steps (0: compile time is not weighed)."""

    kind: str
    width: int
    image_size: int
    batch: int
    calls: int = 0


def chip_of(device_name: str) -> str:
    """The chip in a device name: "NVIDIA H100 80GB HBM3" -> "H100", "NVIDIA A100-SXM4-80GB" -> "A100";
    the whole name where no such token is found."""
    found = re.search(r"\b[A-Z]{1,2}\d{2,4}\b", device_name)
    return found.group(0) if found else device_name


@functools.lru_cache(maxsize=4)
def load_table(path: Path = TABLE_PATH) -> dict:
    """The table (``{"plan_chip": str | None, "train": [...], "sample": [...], "pack": [...]}``); empty lists
    where the file is missing."""
    empty = {"plan_chip": None, "train": [], "sample": [], "pack": []}
    if not Path(path).is_file():
        return empty
    with open(path) as handle:
        return {**empty, **json.load(handle)}


def _nearest(rows: list[dict], key: str, value: float) -> list[dict]:
    """The rows whose ``key`` is nearest ``value`` on a log scale (ties: the larger)."""
    if not rows:
        return []
    best = min({r[key] for r in rows}, key=lambda v: (abs(math.log(v / value)), -v))
    return [r for r in rows if r[key] == best]


def measured(kind: str, chip: str, width: int, image_size: int, batch: int, table: dict | None = None) -> list[dict]:
    """The rows of one kind and chip measured at the nearest image size, then width, then batch."""
    rows = [r for r in (table or load_table())[kind] if r["chip"] == chip]
    rows = _nearest(rows, "image_size", image_size)
    return _nearest(_nearest(rows, "width", width), "batch", batch)


def _cost(row: dict, calls: int) -> float:
    return max(calls, 1) * row["s_per_call"] + ((row.get("compile_s") or 0.0) if calls else 0.0)


def choose_path(chip: str, workload: Workload, table: dict | None = None) -> str | None:
    """The path to run for ``workload`` on ``chip`` by the rule above, or None (the default was not measured
    there: keep it)."""
    rows = measured(workload.kind, chip, workload.width, workload.image_size, workload.batch, table)
    if CUDA_DEFAULT[workload.kind] not in {r["path"] for r in rows}:
        return None
    return min(rows, key=lambda r: _cost(r, workload.calls))["path"]


def plan_rates(kind: str, image_size: int, batch: int, table: dict | None = None) -> dict[int, dict]:
    """Per measured width of ``table["plan_chip"]``: ``{"s": seconds per call at ``batch``, "compile_s",
    "path", "image_size"}`` of the path the planner assumes: the one `choose_path` picks for a long job; where the
    default was not measured, its eager twin (`CUDA_EAGER`: what it runs if compiling fails, so no faster than the
    default is expected to be), else the slowest measured path (time limits stay safe). Seconds at another batch
    than the measured b0: s0 x max(1, batch / b0) (a launch-bound step does not get faster with fewer images)."""
    table = table or load_table()
    chip = table["plan_chip"]
    out = {}
    for width in sorted({r["width"] for r in table[kind] if r["chip"] == chip}):
        rows = measured(kind, chip, width, image_size, batch, table)
        if not rows or rows[0]["width"] != width:
            continue
        chosen = choose_path(chip, Workload(kind, width, image_size, batch, calls=10**6), table) or CUDA_EAGER[kind]
        row = next((r for r in rows if r["path"] == chosen), max(rows, key=lambda r: r["s_per_call"]))
        out[width] = {"s": row["s_per_call"] * max(1.0, batch / row["batch"]), "compile_s": row.get("compile_s"),
                      "path": row["path"], "image_size": row["image_size"]}
    return out


def pack_gain(width: int, k: int, mode: str = "processes", table: dict | None = None) -> float | None:
    """Cells per GPU-hour of ``k`` trainings sharing one GPU over one at a time, measured on the plan chip at the
    nearest width with exactly ``k`` and ``mode``; None where not measured."""
    table = table or load_table()
    rows = [r for r in table["pack"] if r["chip"] == table["plan_chip"] and r["k"] == k and r["mode"] == mode]
    rows = _nearest(rows, "width", width)
    return max(r["gain"] for r in rows) if rows else None
