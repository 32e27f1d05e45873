# Shared by the stage files: the results directory, the job environment, path, log and resource helpers, and the
# wildcard constraints. The path grammar itself is written once, in memgen/studies/paths.py; the studies, their
# cells, tables and figures come from their records through GRID (memgen/studies/grid.py): no study is named here.
import json
import os
import shlex
import signal
import sys

from memgen import slurm
from memgen.studies import PATHS, REGISTRY, figure_kinds, table_kinds
from memgen.studies.job import Outside
from memgen.studies.front import front_figures, front_tables
from memgen.studies.sample_set import SampleSet
from memgen.studies.plan import job_estimate

RESULTS = CFG.results.rstrip("/")
# Jobs run `python -m memgen ...` with the interpreter that runs Snakemake (a venv need not be activated;
# SLURM jobs re-run this file through the same interpreter, so they get the same PATH).
shell.prefix(f"set -euo pipefail; export PATH={shlex.quote(os.path.dirname(sys.executable))}:\"$PATH\"; ")
ENV = "../../envs/memgen.yaml"
if os.environ.get("SLURM_JOB_ID"):  # in a SLURM job, the profile's --signal=USR1@300 is for `memgen train` alone:
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # Snakemake and the job's shell ignore it (train handles it)


onstart:
    slurm.on_start(workflow)  # SLURM only: no accounting -> squeue; PreemptMode=CANCEL -> retry (memgen/slurm.py)


def out(kind):
    """The output pattern of a path kind, under the results directory."""
    return f"{RESULTS}/{PATHS[kind]}"


def results(paths):
    """Relative paths from the grid, under the results directory."""
    return [f"{RESULTS}/{p}" for p in ([paths] if isinstance(paths, str) else paths)]


class StudyTargets:
    """Input of a study's target rule: its outputs, listed when the target is asked for."""

    def __init__(self, study):
        self.study = study

    def __call__(self, wildcards):
        return results(GRID.targets(self.study))


def log_path(kind):
    """The log of the job writing PATHS[kind]: the same path under logs/, suffix .log."""
    return f"{RESULTS}/logs/{PATHS[kind].rsplit('.', 1)[0]}.log"


def bench_path(kind):
    return f"{RESULTS}/benchmarks/{PATHS[kind].rsplit('.', 1)[0]}.tsv"


def stage_resources(stage):
    """Snakemake resources of a stage's jobs (threads are declared apart): the GPU from config resources.<stage>;
    the time limit (minutes) and memory (MB) fixed there, or else estimated per cell by memgen.cost, so a
    UNet-256 training asks for more than a UNet-64 one, and a retry asks for the attempt number times the time;
    every time limit at most the MaxTime of the job's SLURM partition."""
    res = getattr(CFG.resources, stage)
    return {"gpu": res.gpu, "runtime": Runtime(res.runtime) if res.runtime else CellEstimate(stage, "runtime_min"),
            "mem_mb": res.mem_mb or CellEstimate(stage, "mem_mb")}


class CellEstimate:
    """A resource callable: one field of memgen.studies.plan.job_estimate for the job's cell (its time limit
    capped at the SLURM partition's MaxTime)."""

    def __init__(self, stage, field):
        self.stage, self.field = stage, field

    def __call__(self, wildcards, attempt, rulename):
        cap = slurm.runtime_cap(workflow, rulename) if self.field == "runtime_min" else None
        return getattr(job_estimate(GRID, self.stage, wildcards, attempt, cap), self.field)


class Runtime:
    """A resource callable: a fixed time limit (minutes), at most the MaxTime of the job's SLURM partition."""

    def __init__(self, minutes):
        self.minutes = minutes

    def __call__(self, wildcards, rulename):
        return slurm.capped(self.minutes, slurm.runtime_cap(workflow, rulename))


def fixed_resources(stage):
    """Jobs of a stage that are not a cell's training, sampling or scoring (the optimal denoiser's matrix products,
    a model's loss per noise level: minutes): the stage's GPU, fixed limits."""
    res = getattr(CFG.resources, stage)
    return {"gpu": res.gpu, "runtime": Runtime(res.runtime or 60), "mem_mb": res.mem_mb or 4000}


def stage_threads(stage):
    return getattr(CFG.resources, stage).threads


def device_for(stage):
    return "cuda" if getattr(CFG.resources, stage).gpu else "cpu"


def gpu_slots(stage):
    """Jobs of a stage that may share one GPU (MEMGEN_GPU_SLOTS for memgen.gpus; 1 = a GPU each)."""
    return getattr(CFG.resources, stage).slots_per_gpu


SMALL_JOB = {"mem_mb": 2000, "runtime": Runtime(10)}  # data sets, tables, figures


wildcard_constraints:
    study="|".join(REGISTRY),
    dataset=r"[a-z][a-z0-9_-]*",
    width=r"\d+",
    size=r"\d+",
    dummy=r"[a-z][a-z_]*",
    ndummy=r"\d+",
    steps=r"\d+",
    batch=r"\d+",
    cond=r"cond|uncond",
    seed=r"\d+",
    ckpt=r"final|imported|step\d+",
    weights=r"ema|raw",
    labels=r"all|y\d+(-\d+)*",
    num_samples=r"\d+",
    sample_steps=r"\d+",
    sample_seed=r"\d+",
    figure="|".join(sorted(figure_kinds())),
    table="|".join(sorted(table_kinds())),
    side=r"base|dummy",


# -- per-cell inputs and parameters (a cell is found from its wildcards; a sample set is named by its own) --------
def cell_checkpoint(wildcards):
    """The checkpoint file a cell evaluates (a model, or one snapshot inside the snapshot directory)."""
    return results(GRID.model_of(GRID.find(wildcards)))[0]


def cell_data(wildcards):
    return results(PATHS["data"].format(**GRID.find(wildcards).model_wildcards()))


def cell_samples(wildcards):
    """The sample set a cell scores (shared with the cells of other studies that score the same)."""
    return results(GRID.samples_of(GRID.find(wildcards)))[0]


def cell_sample_set(wildcards):
    """The name of a cell's sample set in its scores: its path relative to the results directory."""
    return GRID.samples_of(GRID.find(wildcards))


def cell_meta(wildcards):
    """The grid columns every table of the cell carries, as --meta KEY=VALUE."""
    return " ".join(f"--meta {k}={v}" for k, v in GRID.find(wildcards).meta().items())


def cell_card(wildcards):
    return results(GRID.card_of(GRID.find(wildcards)))


def cell_heldout(wildcards):
    """Held-out images for the data-copying test (real-image cells only), else nothing."""
    return results(GRID.heldout_of(GRID.find(wildcards)))


def heldout_arg(wildcards, input):
    return f"--heldout {input.heldout}" if input.heldout else ""


def cell_samples_to_score(wildcards):
    """The cell's sample set, or what its study's record has it score instead (e.g. its samples labelled by a
    classifier: Appendix C.1)."""
    return results(GRID.score_input(GRID.find(wildcards)))[0]


def sample_model(wildcards):
    """What a sampling job waits for: the model, the snapshot directory of its run, or the imported file."""
    return results(GRID.sample_checkpoint(wildcards)[1])


def sample_checkpoint(wildcards):
    """The checkpoint file a sample set is drawn from."""
    return results(GRID.sample_checkpoint(wildcards)[0])[0]


def sample_args(wildcards):
    """--num-samples, --steps, --seed, --weights and (some classes only) --classes: what the path names (the
    `memgen.studies.sample_set.SampleSet` of the job)."""
    return SampleSet.from_wildcards(wildcards).sample_args()


# -- models ----------------------------------------------------------------------------------------------------
def training_spec_json(wildcards):
    """The training-relevant config, inline JSON: only a change here reruns training (params trigger)."""
    return json.dumps(CFG.training_spec(wildcards.steps, wildcards.batch), sort_keys=True)


def snapshot_args(wildcards):
    steps = GRID.snapshot_steps(wildcards)
    return ("--snapshots " + " ".join(map(str, steps))) if steps else ""


def conditional_flag(wildcards):
    return "yes" if wildcards.cond == "cond" else "no"


def dataset_spec(wildcards):
    return GRID.dataset_spec(wildcards.dataset)


# Scheduling: Snakemake runs the ready job of highest priority first and does not pass priorities upstream. Data
# sets (seconds each) go first so that every training is ready early; then the longest training first (cost ~
# steps x batch x width^2), ahead of every sampling job (priority 0), so a run does not end on one long training
# alone while the other cores idle. Measured on the default config, 2 cores: without the data priority the three
# width-32 trainings were started last.
DATA_PRIORITY = 1e6


def train_priority(wildcards):
    return int(wildcards.steps) * int(wildcards.batch) * int(wildcards.width) ** 2 / 1e6


# -- a study's tables and figures: inputs and parameters from its record's hooks -------------------------------
def _located(path):
    """A hook's path under the results directory (an `Outside` path, a user's file, as written)."""
    return str(path) if isinstance(path, Outside) else results(path)[0]


def _files(spec):
    """{name: path or [paths]} from a record hook -> Snakemake inputs under the results directory."""
    return {k: _located(v) if isinstance(v, str) else [_located(p) for p in v] for k, v in spec.items()}


def _arguments(spec, params):
    """The command-line form of a hook's inputs and parameters: --input NAME=PATH for a single file, --inputs
    NAME=PATH per file of a list (in order), --params JSON."""
    args = []
    for name, value in _files(spec).items():
        if isinstance(value, str):
            args.append(f"--input {name}={shlex.quote(value)}")
        else:
            args += [f"--inputs {name}={shlex.quote(p)}" for p in value]
    return " ".join(args + [f"--params {shlex.quote(json.dumps(params, sort_keys=True))}"])


def table_inputs(wildcards):
    return _files(GRID.table_inputs(wildcards.study, wildcards.table))


def table_args(wildcards):
    study, table = wildcards.study, wildcards.table
    return _arguments(GRID.table_inputs(study, table), GRID.table_params(study, table))


def figure_inputs(wildcards):
    return _files(GRID.figure_inputs(wildcards.study, wildcards.figure))


def figure_args(wildcards):
    study, figure = wildcards.study, wildcards.figure
    return _arguments(GRID.figure_inputs(study, figure), GRID.figure_params(study, figure))


# -- a study's own kinds of jobs (its record's `Job`s; one rule each, made in jobs.smk) ----------------------------
class JobInputs:
    """Input of a job kind's rule: its files from the record's hook (under the results directory)."""

    def __init__(self, job):
        self.job = job

    def __call__(self, wildcards):
        return _files(GRID.job_inputs(self.job.name, wildcards))


class JobArgs:
    """The arguments of `memgen job`: the kind, its inputs and parameters, its outputs (--output NAME=PATH)."""

    def __init__(self, job):
        self.job = job

    def __call__(self, wildcards, output):
        name = self.job.name
        outputs = " ".join(f"--output {k}={shlex.quote(getattr(output, k))}" for k in self.job.patterns)
        return f"{name} {_arguments(GRID.job_inputs(name, wildcards), GRID.job_params(name, wildcards))} {outputs}"


def job_outputs(job):
    """A job kind's output patterns under the results directory, its report figure (if any) as a report item."""
    paths = {k: f"{RESULTS}/{p}" for k, p in job.patterns.items()}
    if job.report:
        category = "{study}" if "{study}" in job.patterns[job.report] else "Jobs"
        paths[job.report] = report(paths[job.report], caption="../report/figures.rst", category=category)
    return paths


def job_log(job):
    return f"{RESULTS}/logs/{job.outputs[0][1].rsplit('.', 1)[0]}.log"


def job_compute(job):
    """The --device of a job that runs a network (its stage's), nothing for a small job."""
    return f"--device {device_for(job.stage)}" if job.computes else ""


def job_resources(job):
    return fixed_resources(job.stage) if job.computes else SMALL_JOB


def job_threads(job):
    return stage_threads(job.stage) if job.computes else 1


def job_slots(job):
    return gpu_slots(job.stage) if job.computes else 1


# -- the report's first page: the selected studies' comparisons and the front figures (memgen/studies/front.py) --
def answers_inputs(wildcards):
    return {"tables": results([p for _, p in front_tables(GRID)]),
            "figures": results([p for _, p in front_figures(GRID)])}


def answers_args(wildcards):
    """--comparisons STUDY=PATH per study with claims and --figure STUDY=PATH per front figure, in config order."""
    pairs = [("--comparisons", s, p) for s, p in front_tables(GRID)]
    pairs += [("--figure", s, p) for s, p in front_figures(GRID)]
    return " ".join(f"{flag} {s}={shlex.quote(results(p)[0])}" for flag, s, p in pairs)
