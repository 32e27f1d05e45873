"""Kaiser & Kollmann: the denoising loss per noise level on training vs held-out images at snapshots of one
training run, beside the replicate fraction of the same snapshots (when does the model start to copy?)."""

from __future__ import annotations

from memgen.errors import MemgenError
from memgen.studies.cell import Cell
from memgen.studies.common import num_samples, replicates, train_settings
from memgen.studies.figure_inputs import seed_tables
from memgen.studies.paths import path
from memgen.studies.record import Plot, Study, Table, register


def expand(name: str, block, cfg) -> list[Cell]:
    """One cell per snapshot step of one run per width and seed, each with the loss gap of its weights. The run
    trains for the study's own ``train.steps`` when set (its final weights are then a snapshot too), else up to
    the last snapshot; a snapshot beyond that budget is refused."""
    _, batch = train_settings(cfg, block)
    budget = block.train.steps or max(block.snapshots)
    late = sorted(s for s in block.snapshots if s > budget)
    if late:
        raise MemgenError(f"{name}.snapshots: step {late[0]} is beyond the run's step budget {name}.train.steps="
                          f"{budget}")
    return [Cell(name, block.dataset, w, block.size, "none", 0, step, batch, False, s, num_samples(cfg, block),
                 train_steps=budget, heldout=block.heldout, levels=block.levels)
            for w in block.widths for s in cfg.seeds for step in sorted({*block.snapshots, budget})]


def cell_losses(grid, study: str) -> dict:
    return {"tables": [path("cell_losses", **c.wildcards()) for c in grid.cells(study)]}


def figure_inputs(grid, study: str) -> dict:
    return {"table": path("table", study=study, table="losses"), "replicates": replicates(grid, study)["table"]}


def losses(grid, study: str) -> dict:
    return {"table": path("table", study=study, table="losses")}


def comparisons(grid, study: str) -> list[dict]:
    """Kaiser & Kollmann per width: held-out minus train loss at its peak noise level is positive at each
    snapshot (one-sample), and larger at the last snapshot than at the first (paired: one run per seed)."""
    block = grid.cfg.block(study)
    steps = sorted({c.steps for c in grid.cells(study)})
    out = []
    for w in block.widths:
        out += [{"name": "held-out loss above train loss at the peak level", "a": {"width": w, "step": s},
                 "b": None, "measure": "gap", "expected": 1, "table": "gap_at_peak"} for s in steps]
        if len(steps) > 1:
            out.append({"name": "the gap grows with training", "a": {"width": w, "step": steps[0]},
                        "b": {"width": w, "step": steps[-1]}, "measure": "gap", "expected": 1, "paired": True,
                        "table": "gap_at_peak"})
    return out


STUDY = register(Study(
    "loss_gap", "Train vs held-out loss per noise level over training (Kaiser & Kollmann)", expand,
    tables=(Table("losses", "memgen.analysis.tables:concat", cell_losses),
            Table("gap_at_peak", "memgen.analysis.gap_peak:gap_at_peak", losses)),
    figures=(Plot("onset", "memgen.analysis.study_figures:onset_figure", seed_tables),
             Plot("loss_gap", "memgen.analysis.study_figures:loss_gap_figure", figure_inputs)),
    comparisons=comparisons,
))
