"""What a config will cost before it runs: one `memgen.cost.Job` per train, sample and score job of the DAG, each
job's SLURM time limit and memory (the rules ask `job_estimate`), and the plan per study (`plan_table`).

A model shared by several studies is one training job, and a sample set they share is one sampling job: a study's
rows count every job it needs, the total row counts each job once. The closed-form optimal denoiser, the classifier
and the tables are not counted (minutes).
"""

from __future__ import annotations

from memgen.cost import CEILING_MIN, Job, job_resources, plan_rows
from memgen.studies import record
from memgen.studies.cell import Cell
from memgen.studies.grid import model_key
from memgen.studies.sample_set import SampleSet


def _device(grid, stage: str) -> str:
    return "gpu" if getattr(grid.cfg.resources, stage).gpu else "cpu"


def train_job(grid, cell: Cell, params: int | None = None) -> Job:
    """The training of the model a cell samples (its full run for a snapshot cell). ``params``: the model's exact
    parameter count (None: the seeds' UNet at that width, which over-estimates a smaller model: safe limits)."""
    return Job("train", cell.width, grid.cfg.image_size, _device(grid, "train"), batch=cell.batch_size,
               steps=cell.train_steps, train_images=cell.n_train_total,
               snapshots=len(grid.snapshot_steps(cell.model_wildcards())), params=params,
               slots=grid.cfg.resources.train.slots_per_gpu if _device(grid, "train") == "gpu" else 1)


def sample_job(grid, samples: SampleSet, params: int | None = None) -> Job:
    """The drawing of one sample set (shared by every cell that scores it)."""
    return Job("sample", samples.width, grid.cfg.image_size, _device(grid, "sample"),
               batch=grid.cfg.sample.batch_size, samples=samples.n_sampled, sample_steps=samples.sample_steps,
               params=params)


def score_job(grid, cell: Cell) -> Job:
    return Job("score", cell.width, grid.cfg.image_size, _device(grid, "score"), samples=cell.n_sampled,
               train_images=cell.n_train_total)


def job_estimate(grid, stage: str, wildcards, attempt: int = 1, cap_min: int | None = None):
    """`memgen.cost.Estimate` of the job with these wildcards (a model's training, a sample set's drawing, a
    cell's scoring); a retry (attempt > 1) asks for ``attempt`` times the time limit, so a job cut at its limit
    resumes from its checkpoint with room to finish, but never more than cost.CEILING_MIN nor ``cap_min`` (the
    MaxTime of the job's SLURM partition: SLURM never starts a job asking for more)."""
    if stage == "train":
        job = train_job(grid, grid.cell_of_model(wildcards))
    elif stage == "sample":
        job = sample_job(grid, SampleSet.from_wildcards(wildcards))
    else:
        job = score_job(grid, grid.find(wildcards))
    return job_resources(job, attempt=attempt, ceiling_min=min(CEILING_MIN, cap_min or CEILING_MIN))


def unet_parameters(cfg, width: int) -> int:
    """Parameters of the config's unconditional UNet at one width, counted on the meta device (no memory, no
    weights initialised; the class embedding of a conditional model adds a few rows only)."""
    import torch

    from memgen.model import UNet, count_parameters

    with torch.device("meta"):
        return count_parameters(UNet(cfg.unet(width, num_classes=0)))


def _jobs(grid, cells: list[Cell], params: dict[int, int] | None = None) -> dict[tuple, Job]:
    """Every train/sample/score job of these cells, keyed so that a model trained once, and a sample set drawn
    once, count once. ``params``: width -> exact parameter count (the rules leave it out: the Snakefile does not
    import torch)."""
    jobs = {}
    for c in cells:
        n = params.get(c.width) if params and not c.checkpoint else None  # an imported model is not cfg's UNet
        jobs[("train", model_key(c.model_wildcards()))] = train_job(grid, c, n)
        hook = record.get(c.study).also_sampled
        for i, variant in enumerate([c, *(hook(grid, c) if hook else ())]):  # a study's own jobs may sample more
            samples = grid.sample_set(variant)
            jobs[("sample", samples)] = sample_job(grid, samples, n)
            jobs[("score", c.study, c.name, i)] = score_job(grid, variant)
    return jobs


def plan_table(grid):
    """One row per (study, job kind) of the selected studies and per job kind in total (each job once): jobs,
    compute hours, GPU-hours, time limits asked, attempts, output GB: a pandas DataFrame of estimates
    (`memgen.cost`). pandas is imported here only: the Snakefile imports this module for the job estimates."""
    import pandas as pd

    rows = []
    everything = {}
    studies = [s for s in grid.cfg.studies if record.get(s).trains]  # criterion, optimal, table1:
    widths = {c.width for s in studies for c in grid.cells(s) if not c.checkpoint}  # they read other studies' cells
    params = {w: unet_parameters(grid.cfg, w) for w in widths}
    for study in studies:
        jobs = _jobs(grid, grid.cells(study), params)
        everything.update(jobs)
        rows += [{"study": study, **row} for row in plan_rows(jobs.values())]
    rows += [{"study": "total", **row} for row in plan_rows(everything.values())]
    table = pd.DataFrame(rows)
    table["output_gb"] = table["output_gb"].round(3)
    return table
