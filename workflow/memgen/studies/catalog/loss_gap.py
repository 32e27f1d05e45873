"""Kaiser & Kollmann: the denoising loss per noise level on training vs held-out images at snapshots of one
training run, beside the replicate fraction of the same snapshots (when does the model start to copy?); the gap at
its peak level tested by permutation on images it was not chosen on, and its shape over the noise levels
(`memgen.analysis.gap_peak`)."""

from __future__ import annotations

from memgen.errors import MemgenError
from memgen.studies.cell import Cell
from memgen.studies.cell_jobs import CELL_LOSSES
from memgen.studies.claims import claim
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
                 train_steps=budget, extras={"heldout": block.heldout, "levels": block.levels})
            for w in block.widths for s in cfg.seeds for step in sorted({*block.snapshots, budget})]


def cell_losses(grid, study: str) -> dict:
    return {"tables": [CELL_LOSSES.path("table", **c.wildcards()) for c in grid.cells(study)]}


def cell_image_losses(grid, study: str) -> dict:
    return {"tables": [CELL_LOSSES.path("images", **c.wildcards()) for c in grid.cells(study)]}


def figure_inputs(grid, study: str) -> dict:
    return {"table": path("table", study=study, table="losses"), "replicates": replicates(grid, study)["table"]}


def image_losses(grid, study: str) -> dict:
    return {"table": path("table", study=study, table="image_losses")}


# Kaiser & Kollmann's abstract (arXiv 2603.13419), the sentences each claim tests.
OVERFIT = ("diffusion models progressively overfit the denoising training objective and thereby create a "
           "generalization gap between the performance on validation and training samples.")
INTERMEDIATE = "This gap is most pronounced at intermediate noise levels."


def claims(grid, study: str) -> list[dict]:
    """Kaiser & Kollmann per width, fixed before any run (`memgen.analysis.gap_peak`): held-out minus train loss at
    the peak level is positive at each snapshot (one-sample across seeds, on the images the level was not chosen on;
    the permutation test of the same gap is the ``gap_test`` table); it is larger at the last snapshot than at the
    first (paired: one run per seed); and at the last snapshot the gap over the middle noise levels exceeds the gap
    over each end (paired by seed; the claim needs both)."""
    block = grid.cfg.block(study)
    steps = sorted({c.steps for c in grid.cells(study)})
    out = []
    for w in block.widths:
        out += [claim({"name": "held-out loss above train loss at the peak level", "a": {"width": w, "step": s},
                       "b": None, "measure": "gap", "expected": 1, "table": "gap_at_peak"}, "measure", OVERFIT)
                for s in steps]
        if len(steps) > 1:
            out.append(claim({"name": "the gap grows with training", "a": {"width": w, "step": steps[0]},
                              "b": {"width": w, "step": steps[-1]}, "measure": "gap", "expected": 1, "paired": True,
                              "table": "gap_at_peak"}, "measure", OVERFIT))
        last = {"width": w, "step": steps[-1]}
        for end in ("low noise", "high noise"):
            name = f"the gap is largest at intermediate noise: middle vs the {end.replace(' ', '-')} end"
            out.append(claim({"name": name, "a": last | {"band": end}, "b": last | {"band": "middle"},
                              "measure": "gap", "expected": 1, "paired": True, "table": "gap_bands"}, "measure",
                             INTERMEDIATE))
    return out



STUDY = register(Study(
    "loss_gap", "Train vs held-out loss per noise level over training (Kaiser & Kollmann)", expand,
    tables=(Table("losses", "memgen.analysis.tables:concat", cell_losses),
            Table("image_losses", "memgen.analysis.tables:concat", cell_image_losses,
                  markdown="memgen.analysis.gap_peak:image_losses_markdown"),
            Table("gap_at_peak", "memgen.analysis.gap_peak:gap_at_peak", image_losses),
            Table("gap_test", "memgen.analysis.gap_peak:gap_test", image_losses),
            Table("gap_bands", "memgen.analysis.gap_peak:gap_bands", image_losses)),
    figures=(Plot("onset", "memgen.analysis.study_figures:onset_figure", seed_tables),
             Plot("loss_gap", "memgen.analysis.study_figures:loss_gap_figure", figure_inputs)),
    jobs=(CELL_LOSSES,), comparisons=claims,
))
