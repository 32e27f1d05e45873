"""Snakemake planning overhead: a dry run of the paper preset, and a no-op rerun of a tiny finished DAG.

Usage (from the repository root):
    PYTHONPATH=workflow .venv/bin/python benchmarks/bench_dag.py --out benchmarks/out/bench_dag.json
    ... --workdir DIR --configfile A.yaml B.yaml   (time the no-op rerun of a DAG already finished in DIR)

1. ``snakemake -n`` with ``--configfile workflow/presets/paper.yaml`` (208 jobs; target about 1 s): wall seconds
   of the whole process, the median of ``--repeats`` runs.
2. ``snakemake --cores 1`` in a finished working directory, which must answer "Nothing to be done" (target under
   10 s). Without ``--workdir`` the tiny DAG of benchmarks/gpu-smoke.yaml + cpu-smoke.yaml (8 jobs, about 20 s on
   one CPU core) is run first in a temporary directory, untimed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import ROOT, print_table, write_result

TINY = ["benchmarks/gpu-smoke.yaml", "benchmarks/cpu-smoke.yaml"]


def snakemake(workdir: Path, configfiles: list[str], *args: str) -> tuple[float, subprocess.CompletedProcess]:
    """Run snakemake on the repository's Snakefile; (wall seconds, the finished process)."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
           "--configfile", *[str(ROOT / c) for c in configfiles], *args]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"bench_dag: {' '.join(cmd)} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return elapsed, proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None, help="a finished DAG's working directory")
    parser.add_argument("--configfile", nargs="+", default=TINY, help="its config files (relative to the repo)")
    parser.add_argument("--out", default="benchmarks/out/bench_dag.json")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        dry = [snakemake(Path(tmp) / "paper", ["workflow/presets/paper.yaml"], "-n", "--quiet")[0]
               for _ in range(args.repeats)]
        rows.append({"what": "snakemake -n, paper preset", "s": statistics.median(dry), "target_s": 1.0,
                     "all_s": [round(t, 2) for t in dry]})
        workdir = args.workdir
        if workdir is None:
            workdir = Path(tmp) / "tiny"
            snakemake(workdir, args.configfile, "--cores", "2", "--resources", "gpu=1", "--quiet")
        noop = []
        for _ in range(args.repeats):
            elapsed, proc = snakemake(workdir, args.configfile, "--cores", "1", "--resources", "gpu=1")
            if "Nothing to be done" not in proc.stdout + proc.stderr:
                raise SystemExit(f"bench_dag: the rerun in {workdir} had work to do:\n{proc.stderr[-2000:]}")
            noop.append(elapsed)
        rows.append({"what": "no-op rerun of a finished tiny DAG", "s": statistics.median(noop), "target_s": 10.0,
                     "all_s": [round(t, 2) for t in noop]})
    print_table(rows, ["what", "s", "target_s"])
    write_result(args.out, {"benchmark": "dag", "python": sys.version.split()[0], "rows": rows})


if __name__ == "__main__":
    main()
