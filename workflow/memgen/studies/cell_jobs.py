"""Jobs per cell that more than one study brings (`memgen.studies.job.Job`): a model's denoising loss per noise
level on its training images vs held-out ones (Kaiser & Kollmann), for the cells that carry ``heldout`` and
``levels`` in their extras (the loss-gap study's snapshots, a checkpoint trained elsewhere)."""

from __future__ import annotations

from memgen.studies.job import Job
from memgen.studies.paths import CELL, path


def loss_inputs(grid, wildcards: dict) -> dict:
    """The cell's model (or the snapshot directory of its run), its training set and held-out images of the same
    source (the checkpoint file itself is a parameter: `loss_params`)."""
    cell = grid.find(wildcards)
    return {"model": grid.model_dependency(cell), "train": path("data", **cell.model_wildcards()),
            "heldout": path("heldout", dataset=cell.dataset_token, size=cell.extra("heldout"), seed=cell.seed)}


def loss_params(grid, wildcards: dict) -> dict:
    cell = grid.find(wildcards)
    return {"checkpoint": grid.result(grid.model_of(cell)), "levels": cell.extra("levels"), "seed": cell.seed,
            "meta": cell.meta()}


def cells_with_heldout(grid, study: str) -> list[dict]:
    """The wildcards of every cell of a study that has held-out images."""
    return [c.wildcards() for c in grid.cells(study) if c.extra("heldout")]


CELL_LOSSES = Job(
    "loss_by_level_cell", "memgen.jobs:loss_gap",
    outputs={"table": f"{{study}}/{CELL}/losses.parquet",  # per noise level and split
             "images": f"{{study}}/{CELL}/image_losses.parquet"},  # per image, for its permutation test
    inputs=loss_inputs, params=loss_params, stage="sample", targets=cells_with_heldout)
