# Shared by the stage files: the results directory, the job environment, path, log and resource helpers, and the
# wildcard constraints. The path grammar itself is written once, in memgen/studies/paths.py; the studies and their
# cells come from the registry through GRID (memgen/studies/grid.py), so no study is named here.
import json
import os
import shlex
import sys

from memgen.studies import PATHS, REGISTRY
from memgen.studies.plan import job_estimate

RESULTS = CFG.results.rstrip("/")
# Jobs run `python -m memgen ...` with the interpreter that runs Snakemake (a venv need not be activated;
# SLURM jobs re-run this file through the same interpreter, so they get the same PATH).
shell.prefix(f"set -euo pipefail; export PATH={shlex.quote(os.path.dirname(sys.executable))}:\"$PATH\"; ")
ENV = "../../envs/memgen.yaml"


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
    UNet-256 training asks for more than a UNet-64 one, and a retry asks for twice the time."""
    res = getattr(CFG.resources, stage)
    return {"gpu": res.gpu, "runtime": res.runtime or CellEstimate(stage, "runtime_min"),
            "mem_mb": res.mem_mb or CellEstimate(stage, "mem_mb")}


class CellEstimate:
    """A resource callable: one field of memgen.studies.plan.job_estimate for the job's cell."""

    def __init__(self, stage, field):
        self.stage, self.field = stage, field

    def __call__(self, wildcards, attempt):
        return getattr(job_estimate(GRID, self.stage, wildcards, attempt), self.field)


def optimal_resources(stage):
    """The optimal denoiser's jobs (a matrix product per step, minutes): the stage's GPU, fixed limits."""
    res = getattr(CFG.resources, stage)
    return {"gpu": res.gpu, "runtime": res.runtime or 60, "mem_mb": res.mem_mb or 4000}


def stage_threads(stage):
    return getattr(CFG.resources, stage).threads


def device_for(stage):
    return "cuda" if getattr(CFG.resources, stage).gpu else "cpu"


def gpu_slots(stage):
    """Jobs of a stage that may share one GPU (MEMGEN_GPU_SLOTS for memgen.gpus; 1 = a GPU each)."""
    return getattr(CFG.resources, stage).slots_per_gpu


SMALL_JOB = {"mem_mb": 2000, "runtime": 10}  # data sets, tables, figures


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
    figure="|".join(sorted({f for s in REGISTRY.values() for f in s.figures})),
    side=r"base|dummy",


# -- per-cell inputs and parameters (a cell is found from its wildcards) ----------------------------------------
def cell_model(wildcards):
    """What a cell's sampling waits for: its model, or the snapshot directory of its full run."""
    return results(GRID.model_dependency(GRID.find(wildcards)))


def cell_checkpoint(wildcards):
    """The checkpoint file a cell samples (a model, or one snapshot inside the snapshot directory)."""
    return results(GRID.model_of(GRID.find(wildcards)))[0]


def cell_data(wildcards):
    return results(PATHS["data"].format(**GRID.find(wildcards).model_wildcards()))


def cell_sample_args(wildcards):
    """--num-samples and, for class-conditional cells, --classes."""
    cell = GRID.find(wildcards)
    args = f"--num-samples {cell.num_samples}"
    if cell.conditional and cell.sample_classes:
        args += " --classes " + " ".join(map(str, cell.sample_classes))
    return args


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
    """The samples, or (Appendix C.1) the samples labelled by the base-vs-dummy classifier."""
    kind = "selected" if REGISTRY[wildcards.study].select else "samples"
    return out(kind).format(**wildcards)


def study_summaries(wildcards):
    return results(GRID.cell_paths(wildcards.study, "summary"))


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


# -- inputs and parameters of the per-study jobs -------------------------------------------------------------
def classifier_data_args(wildcards):
    """Held-out base images, or dummy-kind images from a seed no training set uses."""
    if wildcards.side == "base":
        return f"--heldout --base {shlex.quote(dataset_spec(wildcards))}"
    return f"--base {wildcards.dummy} --seed-offset 1000003"


def classifier_sets(wildcards):
    """Fresh base and dummy images (disjoint from every training set): {"base": ..., "dummy": ...}."""
    sets = GRID.classifier_sets(wildcards.study, wildcards.dataset, wildcards.dummy, wildcards.seed)
    return {side: results(p)[0] for side, p in sets.items()}


def cell_classifier(wildcards):
    return results(GRID.classifier_of(wildcards.study, wildcards.seed))


def loss_inputs(wildcards):
    """Snapshot directories and models of the study's run, its training sets and held-out sets of its size."""
    return {k: results(v) for k, v in GRID.loss_inputs(wildcards.study).items()}


def loss_args(wildcards):
    block = CFG.block(wildcards.study)
    return f"--levels {block.levels} --checkpoints " + " ".join(results(GRID.loss_checkpoints(wildcards.study)))


def figure_inputs(wildcards):
    """A figure's table and its reference tables (e.g. the optimal denoiser beside the capacity figure)."""
    spec = GRID.figure_inputs(wildcards.study, wildcards.figure)
    return {"table": results(spec["table"]), "reference": results(spec["reference"])}


def reference_arg(wildcards, input):
    return f"--reference {input.reference}" if input.reference else ""


def criterion_inputs(wildcards):
    """The samples, training sets and scores of the cells the criterion study reads (the capacity grid)."""
    return {kind: results(GRID.source_cells(wildcards.study, kind)) for kind in ("samples", "scores")} | {
        "train": results(GRID.source_data(wildcards.study))}


def criterion_thresholds(wildcards):
    return " ".join(map(str, CFG.block(wildcards.study).thresholds))


def agreement_inputs(wildcards):
    return {k: results(v) for k, v in GRID.agreement_inputs(wildcards.study).items()}


def agreement_grid(wildcards):
    """--widths/--sizes/--seeds of the pairs, in the order of agreement_inputs."""
    cells = GRID.cells(wildcards.study)
    return " ".join(f"--{k}s " + " ".join(str(getattr(c, k)) for c in cells) for k in ("width", "size", "seed"))


def dichotomy_inputs(wildcards):
    return results(GRID.scored_tables())


def import_source(wildcards):
    """The file of a model trained elsewhere (external study)."""
    return GRID.import_args(wildcards)[0]


def import_flags(wildcards):
    return GRID.import_args(wildcards)[1]


def cell_loss_inputs(wildcards):
    return {k: results(v)[0] for k, v in GRID.cell_loss_inputs(wildcards).items()}


def cell_loss_levels(wildcards):
    cell = GRID.find(wildcards)
    return next(m["levels"] for m in CFG.block(cell.study).models if m["checkpoint"] == cell.checkpoint)
