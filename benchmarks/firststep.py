"""The first training step as a fresh job pays it, and what a whole training costs per core (bench_train.py
--first-step).

Per (variant, batch) a child process (this file) builds the variant's TrainStep and times its first step, then a
second one; it runs twice with one new compile cache directory (``TORCHINDUCTOR_CACHE_DIR``, or memgen's
``MEMGEN_COMPILE_CACHE`` where memgen.train sets it up): "cold" finds it empty, as on a fresh machine, "warm" finds
what the cold run left, as every later job of that shape on the machine. The first step's CPU seconds include
Inductor's compile workers and the C++ compilers they run (processes under the child, read from /proc).

`add_ratios` turns a bench_train result into the table of the issue: per row images per core against the
baseline row, and with ``train_images`` the core-seconds of a training of that many images from its first step to
its last, cold and warm, and the break-even: the steps after which the row has spent no more core-seconds than the
baseline would for the same images.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tree_cpu_s() -> float:
    """CPU seconds of this process and every process under it, alive (Inductor's compile workers) or reaped (the
    C++ compilers they ran): utime + stime + cutime + cstime of each, from /proc."""
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), sum(int(v) for v in fields[11:15]))  # ppid; 4 times in ticks
    tree, frontier = {os.getpid()}, [os.getpid()]
    while frontier:
        parent = frontier.pop()
        for pid, (ppid, _) in stats.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    return sum(stats[pid][1] for pid in tree if pid in stats) / os.sysconf("SC_CLK_TCK")


def run_child(args, name: str, batch: int, cache: Path) -> dict:
    """One fresh process: its first two steps (wall and CPU seconds, compile workers included)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--preset", args.preset, "--width", str(args.width),
           "--batch", str(batch), "--variant", name, "--device", args.device, "--compile-backend",
           args.compile_backend]
    cmd += ["--image-size", str(args.image_size)] if args.image_size else []
    cmd += ["--threads", str(args.threads)] if args.threads else []
    path = os.pathsep.join(p for p in (str(ROOT / "workflow"), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "TORCHINDUCTOR_CACHE_DIR": str(cache / "inductor"),
           "MEMGEN_COMPILE_CACHE": str(cache)}
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"firststep: {' '.join(cmd)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "job_wall_s": time.perf_counter() - start}


def first_steps(args, keys: list, into: Path) -> dict:
    """{(variant, batch): first_step_{cold,warm}_{s,cpu_s}, ...} from fresh processes (cold, then warm), each key
    with a cache of its own; what they compiled is then copied into ``into`` (the caller's cache: warm for it)."""
    found = {}
    for name, batch in keys:
        with tempfile.TemporaryDirectory(prefix="memgen-firststep-") as tmp:
            cold = run_child(args, name, batch, Path(tmp))
            warm = run_child(args, name, batch, Path(tmp))
            shutil.copytree(tmp, into, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.lock", "locks"))
        found[name, batch] = {"first_step_cold_s": cold["first_step_s"], "first_step_cold_cpu_s":
                              cold["first_step_cpu_s"], "first_step_warm_s": warm["first_step_s"],
                              "first_step_warm_cpu_s": warm["first_step_cpu_s"],
                              "fresh_job_compiled": cold["compiled"] and warm["compiled"]}
        print(f"first step {name} b{batch}: cold {cold['first_step_s']:.2f} s ({cold['first_step_cpu_s']:.2f} "
              f"CPU s), warm {warm['first_step_s']:.2f} s ({warm['first_step_cpu_s']:.2f} CPU s)", flush=True)
    return found


def _training(row: dict, when: str, images: int) -> float | None:
    """Core-seconds of a training of ``images`` images: the first step (CPU, compile included), then the rest."""
    first = row.get(f"first_step_{when}_cpu_s")
    if first is None:
        return None
    steps = math.ceil(images / row["batch"])
    return first + (steps - 1) * row["cpu_s_per_step"]  # CPU time counts every thread: core-seconds


def add_ratios(result: dict, baseline: str, train_images: int | None) -> None:
    """Adds ``ratio_to_baseline`` (images per core over the baseline row's) to every row; with first steps and
    ``train_images``: ``train_core_s_{cold,warm}``, ``train_ratio_{cold,warm}`` (images per core of the whole
    training over the baseline's) and ``break_even_steps_{cold,warm}``: the variant's steps after which it stays
    ahead of the baseline in core-seconds for the same images (0: from the start; None: never for good)."""
    name, _, batch = baseline.rpartition(":")
    base = next((r for r in result["rows"] if r["variant"] == name and r["batch"] == int(batch)), None)
    if base is None:
        raise SystemExit(f"bench_train: --baseline {baseline}: no such row")
    result.update(baseline=baseline, train_images=train_images)
    for row in result["rows"]:
        row["ratio_to_baseline"] = row["images_per_cpu_s"] / base["images_per_cpu_s"]
        for when in ("cold", "warm"):
            if train_images is None or row.get(f"first_step_{when}_cpu_s") is None:
                continue
            mine, theirs = _training(row, when, train_images), _training(base, when, train_images)
            row[f"train_core_s_{when}"], row[f"train_ratio_{when}"] = mine, theirs / mine
            extra = row[f"first_step_{when}_cpu_s"] - base[f"first_step_{when}_cpu_s"]
            saved = 1 / base["images_per_cpu_s"] - 1 / row["images_per_cpu_s"]  # core-seconds saved per image
            if saved > 0:  # ahead from the break-even on
                images = max(extra, 0.0) / saved
            else:  # never ahead for good (None), or never behind (0)
                images = 0.0 if saved == 0 and extra <= 0 else None
            row[f"break_even_steps_{when}"] = None if images is None else math.ceil(images / row["batch"])


def child_main() -> None:
    """Build one variant as bench_train does, time its first and second step; print one JSON line."""
    parser = argparse.ArgumentParser()
    for flag, kind in (("--preset", str), ("--width", int), ("--image-size", int), ("--batch", int),
                       ("--variant", str), ("--device", str), ("--compile-backend", str), ("--threads", int)):
        parser.add_argument(flag, type=kind, default=None)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import torch
    from bench_train import batches, build_variant, is_compiled, runner
    from benchlib import model_setup, timed

    device, config = model_setup(args)
    step = build_variant(config, args.width, device, args.variant, args.batch, compile_backend=args.compile_backend)
    run = runner(step, batches(config, args.batch, device), args.variant)
    cpu = tree_cpu_s()
    first = timed(run, device)
    first_cpu = tree_cpu_s() - cpu
    second = timed(run, device)
    print(json.dumps({"first_step_s": first, "first_step_cpu_s": first_cpu, "second_step_s": second,
                      "compiled": is_compiled(step), "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    child_main()


def markdown(result: dict) -> str:
    """The table of a bench_train result as Markdown: per row images per core, the ratio to the baseline, the
    first step cold and warm (wall and CPU seconds) and, with ``train_images``, the whole training's ratio and the
    break-even steps, cold and warm."""
    def num(v, fmt):
        return "-" if v is None else format(v, fmt)

    images = result.get("train_images")
    head = ["batch", "variant", "path", "s/step (CPU)", "images/s/core", f"vs {result['baseline']}",
            "first step cold: s (CPU s)", "warm: s (CPU s)"]
    if images:
        head += [f"training of {images} images vs baseline: cold / warm", "break-even steps: cold / warm"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in result["rows"]:
        cells = [str(r["batch"]), r["variant"], r["path"], num(r["cpu_s_per_step"], ".4f"),
                 num(r["images_per_cpu_s"], ".0f"), num(r.get("ratio_to_baseline"), ".2f") + "x"]
        for when in ("cold", "warm"):
            cells.append(f"{num(r.get(f'first_step_{when}_s'), '.1f')} ({num(r.get(f'first_step_{when}_cpu_s'), '.1f')})")
        if images:
            cells.append(" / ".join(num(r.get(f"train_ratio_{w}"), ".2f") + "x" for w in ("cold", "warm")))
            cells.append(" / ".join("never" if r.get(f"break_even_steps_{w}", 0) is None and
                                    f"train_ratio_{w}" in r else num(r.get(f"break_even_steps_{w}"), "d")
                                    for w in ("cold", "warm")))
        lines.append("| " + " | ".join(cells) + " |")
    where = (f"{result['device_name']}, torch {result['torch']}, {result['torch_threads']} thread(s), width "
             f"{result['width']}, {result['image_size']}x{result['image_size']}, load average {result['load_avg_1min']}")
    return f"{where}\n\n" + "\n".join(lines) + "\n"
