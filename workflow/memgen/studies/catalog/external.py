"""Bring your own model: checkpoints trained elsewhere (openai/improved-diffusion or memgen), each with the training
set it saw, imported, sampled, scored four ways, drawn as galleries and measured for the loss gap per noise level.

Its own kinds of jobs (`memgen.studies.job.Job`): importing each file, its loss per noise level and that loss's
figure per cell with held-out images. Several checkpoints of one run (same training set and seed, e.g.
improved-diffusion's ema_0.9999_050000.pt, ema_0.9999_100000.pt, ...) are its snapshots: the onset and stopping
tables and the dynamics figure of the dynamics study (`memgen.studies.catalog.dynamics`), on the EMA weights."""

from __future__ import annotations

from memgen.data.cifar import pool_size
from memgen.errors import MemgenError
from memgen.interop.facts import cache_dir, checkpoint_facts, facts_name
from memgen.studies.cell import Cell
from memgen.studies.cell_jobs import CELL_LOSSES
from memgen.studies.common import num_samples
from memgen.studies.job import Job, Outside
from memgen.studies.paths import CELL, PATHS
from memgen.studies.catalog.dynamics import ONSET_FIGURE, ONSET_TABLES
from memgen.studies.record import Study, register

NAME = "external"


def import_keywords(entry: dict, image_size: int) -> dict:
    """The keywords of `memgen.jobs.import_checkpoint` for what a state dict cannot tell (a null num_heads or
    norm_groups is left out: the reference's default applies); none for a memgen checkpoint."""
    if entry["source"] == "memgen":
        return {}
    flags = {"image_size": image_size, "diffusion_steps": entry["diffusion_steps"],
             "noise_schedule": entry["noise_schedule"]}
    flags |= {key: entry[key] for key in ("num_heads", "norm_groups") if entry[key] is not None}
    return flags | ({"class_names": list(entry["class_names"])} if entry["class_names"] else {})


def _cell(name: str, i: int, m: dict, cfg) -> Cell:
    limit = pool_size(m["dataset"]) if m["heldout"] else None
    if limit is not None and m["size"] + m["heldout"] > limit:  # held-out images would be training images
        raise MemgenError(f"{name}.models[{i}]: size {m['size']} + heldout {m['heldout']} images of "
                          f"{m['dataset']}, which has {limit}: lower heldout (0 = no loss gap)")
    facts = checkpoint_facts(m["checkpoint"], m["source"], cache_dir(cfg.results))
    return Cell(name, m["dataset"], facts["width"], m["size"], "none", 0, facts["step"], m["batch_size"],
                facts["conditional"], m["seed"], num_samples(cfg, cfg.block(name)), checkpoint=m["checkpoint"],
                extras={"entry": i, "heldout": m["heldout"], "levels": m["levels"]})


def expand(name: str, block, cfg) -> list[Cell]:
    """One cell per listed checkpoint: its width, step and conditioning from the file's facts
    (`memgen.interop.facts`), its training set from the entry; sampled from every trained class."""
    cells = [_cell(name, i, m, cfg) for i, m in enumerate(block.models)]
    names = [c.name for c in cells]
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise MemgenError(f"{name}.models: two checkpoints make the cell {twice} (same width, size, step and seed); "
                          "give them different seeds")
    return cells


def import_inputs(grid, wildcards: dict) -> dict:
    """The file of a model trained elsewhere."""
    return {"checkpoint": Outside(grid.cell_of_model(wildcards).checkpoint)}


def import_params(grid, wildcards: dict) -> dict:
    """How to read the file (what it cannot tell), and where to cache its facts for the next plan."""
    cell = grid.cell_of_model(wildcards)
    entry = grid.cfg.block(cell.study).models[cell.extra("entry")]
    facts = str(cache_dir(grid.cfg.results) / facts_name(cell.checkpoint))
    return {"source": entry["source"], "facts": facts, **import_keywords(entry, grid.cfg.image_size)}


def loss_figure_inputs(grid, wildcards: dict) -> dict:
    return {"table": CELL_LOSSES.path("table", **wildcards)}


IMPORT = Job("import_model", "memgen.jobs:import_checkpoint", outputs={"model": PATHS["imported"]},
             inputs=import_inputs, params=import_params)
LOSS_FIGURE = Job("cell_loss_figure", "memgen.analysis.study_figures:loss_gap_figure",
                  outputs={"out_path": f"{{study}}/{CELL}/loss_gap.png"}, inputs=loss_figure_inputs,
                  read_inputs=True, targets=CELL_LOSSES.targets, report="out_path")

STUDY = register(Study(
    NAME, "Checkpoints trained elsewhere, audited with every measure (bring your own model)", expand,
    galleries=True, jobs=(IMPORT, CELL_LOSSES, LOSS_FIGURE), tables=ONSET_TABLES, figures=(ONSET_FIGURE,),
))
