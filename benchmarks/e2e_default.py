"""The default path end to end through Snakemake: a real cell of the paper's UNet trained by `memgen train` with the
defaults (on CUDA: bf16 + torch.compile with CUDA graphs), stopped by SIGTERM mid-run and resumed, stopped again
while its resumed run compiles, resumed to the end, then sampled (compiled reverse step) and scored.

Usage (from the repository root; benchmarks/gpu.sh runs it):
    PYTHONPATH=workflow python benchmarks/e2e_default.py --workdir DIR --configfile benchmarks/gpu-smoke.yaml \
        --cores 16 --out OUT/e2e.json
    ... --configfile benchmarks/gpu-smoke.yaml benchmarks/cpu-smoke.yaml --cores 2 --stop-at 50   (on a CPU)

Snakemake runs the smoke DAG with ``--retries 2``, as a SLURM profile would. The training job's log is watched:
1. once it shows step ``--stop-at``, the `memgen train` process (found in /proc: its command line and its working
   directory, Snakemake's) gets SIGTERM: it must checkpoint that step and exit 143, and Snakemake retries it;
2. ``--second-after`` seconds after the retry logs "resumed from" (its first step compiling, on a GPU), it gets
   SIGTERM again: it must exit 143 promptly, without a new checkpoint (memgen.preemption `StopSignals`);
3. the third attempt resumes and finishes; sampling and scoring follow.
Written to ``--out``: per signal the step, the seconds from signal to exit and the line the run logged; the paths
the training and sampling logs name (their precision lines), any eager fallback, the replicate table's rows, the
wall seconds, and ``checks`` (each true or false; ``ok`` = all true). Exit 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from benchlib import ROOT, write_result

from memgen import io


def pids_in(workdir: Path) -> list[tuple[int, list[str]]]:
    """(pid, argv) of the processes whose working directory is ``workdir`` (Snakemake runs its jobs there)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = [a.decode(errors="replace") for a in Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")]
            cwd = Path(os.readlink(f"/proc/{entry}/cwd"))
        except OSError:
            continue
        if cwd == workdir:
            found.append((int(entry), argv))
    return found


def train_pids(workdir: Path) -> list[int]:
    """PIDs of the `python -m memgen train` jobs running in ``workdir``."""
    return [pid for pid, argv in pids_in(workdir) if argv[1:4] == ["-m", "memgen", "train"]]


def kill_jobs(workdir: Path) -> None:
    """SIGKILL whatever still runs in ``workdir`` (the jobs of a Snakemake this script gave up on)."""
    for pid, _ in pids_in(workdir):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def stop(workdir: Path, step_hint: str, snakemake: int, read_log) -> dict:
    """SIGTERM to the training process; the seconds until it is gone. Snakemake is held (SIGSTOP) from before the
    signal until ``read_log()`` has read the dying attempt's log: its retry truncates that log (``> {log}``), and
    on a loaded machine it did so before this script read the preemption line."""
    pids = train_pids(workdir)
    if len(pids) != 1:
        return {"error": f"expected one training process, found {pids}", "when": step_hint}
    os.kill(snakemake, signal.SIGSTOP)
    try:
        sent = time.perf_counter()
        os.kill(pids[0], signal.SIGTERM)
        while alive(pids[0]) and time.perf_counter() - sent < 120:
            time.sleep(0.05)
        exit_s = round(time.perf_counter() - sent, 2)
        read_log()
    finally:
        os.kill(snakemake, signal.SIGCONT)
    return {"pid": pids[0], "when": step_hint, "exit_s": exit_s}


def read(path: Path | None) -> str:
    try:
        return path.read_text() if path else ""
    except OSError:
        return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--configfile", nargs="+", required=True, help="relative to the repository")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--stop-at", type=int, default=100, help="first SIGTERM once the log shows this step")
    parser.add_argument("--second-after", type=float, default=3.0, help="seconds after 'resumed from'")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--expect-compile", action="store_true",
                        help="a GPU run: check that training compiled and the second signal came while it did")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir), "--configfile",
           *[str(ROOT / c) for c in args.configfile], "--cores", str(args.cores), "--resources", "gpu=1",
           "--retries", "2", "--printshellcmds"]
    t0 = time.perf_counter()
    attempts: list[str] = []  # the training log of each attempt (a retry truncates the file: `> {log}`)

    def poll_log() -> str:
        text = read(model_log)
        if text and (not attempts or len(text) < len(attempts[-1])):
            attempts.append(text)
        elif text:
            attempts[-1] = text
        return text

    with open(workdir / "snakemake.txt", "w") as console:  # Snakemake's console, in the scratch directory
        dag = subprocess.Popen(cmd, stdout=console, stderr=subprocess.STDOUT, cwd=ROOT)
        signals, model_log, resumed_seen_at = [], None, None
        while dag.poll() is None and time.perf_counter() - t0 < args.timeout:
            time.sleep(0.2)
            if model_log is None:
                logs = sorted(workdir.glob("results-smoke/logs/models/**/model.log"))
                model_log = logs[0] if logs else None
            text = poll_log()
            steps = [int(m) for m in re.findall(r"^step (\d+)/", text, re.M)]
            if not signals and steps and steps[-1] >= args.stop_at:
                signals.append(stop(workdir, f"after step {steps[-1]}", dag.pid, poll_log))
            elif len(signals) == 1 and "resumed from" in text:
                resumed_seen_at = resumed_seen_at or time.perf_counter()
                if time.perf_counter() - resumed_seen_at >= args.second_after:
                    signals.append(stop(workdir, f"{args.second_after} s after 'resumed from'", dag.pid,
                                        poll_log))
        if dag.poll() is None:  # out of time: Snakemake and its jobs go
            dag.kill()
            kill_jobs(workdir)
        code = dag.wait()
    wall = time.perf_counter() - t0
    console = read(workdir / "snakemake.txt")
    poll_log()
    train_log = "\n".join(attempts)
    sample_logs = sorted(workdir.glob("results-smoke/logs/**/samples.log"))
    sample_log = read(sample_logs[0] if sample_logs else None)
    preempted = [re.findall(r"^(preempted by SIGTERM at step \d+.*)$", text, re.M) for text in attempts]
    table_path = workdir / "results-smoke" / "capacity" / "replicates.parquet"
    table = json.loads(io.read_parquet(table_path).to_json(orient="records")) if table_path.is_file() else []
    paths = re.findall(r"precision[= ](\S+)", train_log + "\n" + sample_log)
    result = {
        "benchmark": "e2e", "configfiles": args.configfile, "snakemake_exit": code, "wall_s": round(wall, 1),
        "signals": signals, "attempts": len(attempts), "preempted_lines": preempted, "paths": paths,
        "train_log_tail": attempts[-1].strip().splitlines()[-4:] if attempts else [],
        "sample_log_tail": sample_log.strip().splitlines()[-3:],
        "fallbacks": re.findall(r"^.*(?:torch.compile failed|compiled sampling failed).*$", train_log + sample_log,
                                re.M),
        "replicates": table,
    }
    first = preempted[0] if preempted else []
    second = preempted[1] if len(preempted) > 1 else []
    result["checks"] = {
        "dag_finished": code == 0 and bool(table),
        "three_attempts": len(attempts) == 3,
        "first_signal_checkpointed": len(first) == 1 and "checkpoint written" in first[0],
        "resumed_after_it": len(attempts) > 1 and "resumed from" in attempts[1],
        "second_signal_stopped_it": len(second) == 1 and all("exit_s" in s for s in signals) and len(signals) == 2,
        "no_eager_fallback": not result["fallbacks"],
    }
    if args.expect_compile:  # on a GPU the resumed run was compiling when the second signal came
        result["checks"]["second_signal_during_compile_exits_promptly"] = (
            len(second) == 1 and "before this run's first step finished" in second[0]
            and signals[1].get("exit_s", 1e9) < 10)
        result["checks"]["default_path_compiled"] = any("compile(reduce-overhead)" in p for p in paths[:1])
    result["ok"] = all(result["checks"].values())
    write_result(args.out, result)
    print(json.dumps({k: result[k] for k in ("snakemake_exit", "wall_s", "signals", "preempted_lines", "paths",
                                             "checks")}, indent=1))
    if not result["ok"]:
        print(console[-3000:])
        sys.exit(1)


if __name__ == "__main__":
    main()
