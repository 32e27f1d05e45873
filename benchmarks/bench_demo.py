"""The default demo, timed and recorded: the README's demo section is written from the files this script writes.

    python benchmarks/bench_demo.py --run              # rm -rf results, ./run pipeline, then record
    python benchmarks/bench_demo.py                    # record a finished run of results/ (its newest Snakemake log)

Wall time is read from the run's Snakemake log (the first and the last timestamp it prints), so a run started
by hand is timed by the same rule as one started here; the tables are read from results/ as they are now (after
any incremental rerun, which ``--log`` keeps out of the timing). Written to ``--out`` (default
benchmarks/results/demo-<date of the run>/): ``demo.json`` (wall seconds, jobs, seeds, CPU, load, the verdicts
of every study's comparisons counted, where the core-seconds went per rule, and the sample sets drawn more than
once) and a copy of each study's across-seed and comparison tables, its capacity and agreement tables, the
dichotomy and the dynamics study's onset, stopping and exponent tables, as the pipeline wrote them (Markdown and
Parquet). A run of some studies only (``snakemake dynamics``) is recorded the same way.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

from benchlib import ROOT, cpu_model, write_result

STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
DONE = re.compile(r"^(\d+) of (\d+) steps \(100%\) done$")
RULE = re.compile(r"^(?:local)?rule (\w+):$")
JOBID = re.compile(r"^jobid: (\d+)$")
THREADS = re.compile(r"^threads: (\d+)$")
FINISHED = re.compile(r"^Finished jobid: (\d+)")
TABLES = ("replicates", "across_seeds", "comparisons", "capacity_across_seeds", "memorization_capacity", "agreement",
          "agreement_regime", "gap_at_peak", "gap_test", "gap_bands", "dichotomy", "threshold_sweep",
          "snapshots", "onset", "onset_across_seeds", "stopping", "exponents", "exponent")  # the last six: dynamics


def newest_log(workdir: Path) -> Path:
    """The newest Snakemake log of a finished run (a dry run, --report or --unlock writes logs too)."""
    logs = sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log"), key=lambda p: p.stat().st_mtime)
    for log in reversed(logs):
        if any(DONE.match(line.strip()) for line in log.read_text().splitlines()):
            return log
    sys.exit(f"bench_demo: no log of a finished run under {workdir}/.snakemake/log (run the demo, or --run)")


def timing(log: Path) -> dict:
    """Wall seconds between the log's first and last timestamps, and the jobs it finished."""
    stamps, jobs = [], None
    for line in log.read_text().splitlines():
        if m := STAMP.match(line.strip()):
            stamps.append(dt.datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y"))
        if m := DONE.match(line.strip()):
            jobs = int(m.group(2))
    if len(stamps) < 2 or jobs is None:
        sys.exit(f"bench_demo: {log} is not the log of a finished run (no 100% line)")
    return {"log": str(log), "started": stamps[0].isoformat(), "finished": stamps[-1].isoformat(),
            "wall_seconds": (stamps[-1] - stamps[0]).total_seconds(), "jobs": jobs}


def core_seconds(log: Path) -> dict:
    """Per rule: jobs and core-seconds (each job's seconds from its start to its "Finished" line, times its
    threads; the log stamps whole seconds), largest first."""
    stamp, rule, job, start, threads = None, None, None, {}, {}
    per_rule = collections.defaultdict(lambda: {"jobs": 0, "core_seconds": 0.0})
    for line in log.read_text().splitlines():
        line = line.strip()
        if m := STAMP.match(line):
            stamp = dt.datetime.strptime(m.group(1), "%a %b %d %H:%M:%S %Y")
        elif m := RULE.match(line):
            rule = m.group(1)
        elif (m := JOBID.match(line)) and rule:
            job, start[m.group(1)], rule = m.group(1), (rule, stamp), None
        elif (m := THREADS.match(line)) and job:
            threads[job] = int(m.group(1))
        elif (m := FINISHED.match(line)) and m.group(1) in start:
            name, began = start[m.group(1)]
            per_rule[name]["jobs"] += 1
            per_rule[name]["core_seconds"] += (stamp - began).total_seconds() * threads.get(m.group(1), 1)
    return dict(sorted(per_rule.items(), key=lambda kv: -kv[1]["core_seconds"]))


def repeated_samples(results: Path) -> dict:
    """Sample files anywhere under results/ that are byte-identical to another (a set drawn twice: before the
    sample sets were shared, under each study's cell folder; now each set once, under samples/): their number, and
    each group."""
    groups = collections.defaultdict(list)
    for f in sorted(results.rglob("samples.npz"), key=lambda p: str(p.relative_to(results))):
        groups[hashlib.sha256(f.read_bytes()).hexdigest()].append(str(f.relative_to(results)))
    repeated = [g for g in groups.values() if len(g) > 1]
    return {"files": sum(map(len, groups.values())), "distinct": len(groups),
            "repeats": sum(len(g) - 1 for g in repeated), "groups": repeated}


def verdict_counts(results: Path) -> dict:
    """Each study's verdicts counted (by their full text), and ``distinct``: the verdict classes over all studies
    with a claim that tests the same samples as one before it counted once (the same measure and expected sign on
    the same models, seeds and samples on both sides: the comparisons' ``cells_a``/``cells_b``; dummies_mondrian's
    "dummies lower replicates" and dummy_kinds' "gm dummies lower replicates" read the same sample files), and
    ``repeats``: which claims were not counted again."""
    from memgen.analysis.seeds import verdict_class

    out, seen, classes, repeats = {}, {}, collections.Counter(), []
    for table in sorted(results.glob("*/comparisons.parquet")):
        claims = pd.read_parquet(table)
        out[table.parent.name] = {str(k): int(v) for k, v in claims["verdict"].value_counts().items()}
        for _, c in claims.iterrows():
            key = (c["measure"], c["expected"], c.get("cells_a") or f"{table}:{c['a']}", c.get("cells_b") or c["b"])
            if key[2] == key[3]:  # one set of samples on both sides (e.g. two noise bands of one model): the filters differ
                key += (c["a"], c["b"])
            if key in seen:
                repeats.append(f"{table.parent.name}: {c['name']} = {seen[key]}")
                continue
            seen[key] = f"{table.parent.name}: {c['name']}"
            classes[verdict_class(c["verdict"])] += 1
    return {**out, "distinct": dict(sorted(classes.items())), "repeats": repeats}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", action="store_true", help="remove results/ and run ./run pipeline first")
    p.add_argument("--results", default="results", help="the demo's results directory (relative to the repo)")
    p.add_argument("--out", help="where to record (default benchmarks/results/demo-<date>)")
    p.add_argument("--configfile", default="config.yaml",
                   help="the config the run used on top of config.yaml (relative to the repo; recorded with its seeds)")
    p.add_argument("--log", help="the Snakemake log of the full run (default: the newest log of a finished run; "
                   "name it when an incremental rerun came after the full one)")
    args = p.parse_args(argv)
    results = ROOT / args.results
    if args.run:
        shutil.rmtree(results, ignore_errors=True)
        subprocess.run([str(ROOT / "run"), "pipeline"], cwd=ROOT, check=True)
    run = timing(Path(args.log) if args.log else newest_log(ROOT))
    out = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / f"demo-{run['started'][:10]}"
    out.mkdir(parents=True, exist_ok=True)
    copied = []
    for study in sorted(d for d in results.iterdir() if d.is_dir()):
        for name in TABLES:
            for ext in (".md", ".parquet"):
                src = study / f"{name}{ext}"
                if src.is_file():
                    (out / study.name).mkdir(exist_ok=True)
                    shutil.copyfile(src, out / study.name / src.name)
                    copied.append(f"{study.name}/{src.name}")
        for src in sorted((study / "figures").glob("*")) if (study / "figures").is_dir() else []:
            if src.suffix in (".png", ".parquet"):  # each figure and the table it draws, for the README to show
                (out / study.name / "figures").mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, out / study.name / "figures" / src.name)
                copied.append(f"{study.name}/figures/{src.name}")
    config = (ROOT / args.configfile).read_text()
    if not re.search(r"^seeds: ", config, re.M):
        config = (ROOT / "config.yaml").read_text()
    commit = subprocess.run(["git", "-C", str(results.parent), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()  # the checkout the run's code came from
    result = {**run, "commit": commit, "configfile": args.configfile, "cpu": cpu_model(), "cpu_count": os.cpu_count(), "load_avg_1min_now": os.getloadavg()[0],
              "seeds": re.search(r"^seeds: (.*)$", config, re.M).group(1), "verdicts": verdict_counts(results),
              "core_seconds_by_rule": core_seconds(Path(run["log"])), "repeated_samples": repeated_samples(results),
              "tables": copied}
    write_result(out / "demo.json", result)
    print(f"demo: {run['jobs']} jobs in {run['wall_seconds'] / 60:.1f} min wall; verdicts: {result['verdicts']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
