"""Memorization capacity (Yoon et al. Hypothesis 1, Figure 1): the replicate fraction against the training-set
size, per UNet width; the capacity (Definition 3.1) is the largest size whose seed-averaged replicate fraction is
still >= 90%, given with the grid sizes that bracket it and the training budget it was read at."""

from __future__ import annotations

from memgen.studies import quotes
from memgen.studies.cell import Cell
from memgen.studies.common import ladder, num_samples, replicates, train_settings
from memgen.studies.figure_inputs import outcome_inputs
from memgen.studies.paths import path
from memgen.studies.record import Plot, Study, Table, get, register

MARKDOWN = "memgen.analysis.capacity_markdown:capacity_markdown"


def expand(name: str, block, cfg) -> list[Cell]:
    """Every width x training-set size x seed, unconditional."""
    steps, batch = train_settings(cfg, block)
    return [Cell(name, block.dataset, w, n, "none", 0, steps, batch, False, s, num_samples(cfg, block))
            for w in block.widths for n in block.sizes for s in cfg.seeds]


def figure_inputs(grid, study: str) -> dict:
    """The outcome figure's tables and strips (`memgen.studies.figure_inputs.outcome_inputs`), and the summaries
    of the closed-form optimal denoiser of its training sets when a selected study makes them (one that reads this
    study's cells and scores the optimal denoiser per set)."""
    readers = [s for s in grid.cfg.studies if get(s).reads == study and "opt_summary" in get(s).per_training_set]
    return {**outcome_inputs(grid, study),
            "optimal": [path("opt_summary", **wc) for s in readers for wc in grid.training_sets(s)]}


def comparisons(grid, study: str) -> list[dict]:
    """Figure 1's two claims between neighbouring cells: replicates fall with N at each width (Welch: two sizes
    are two training sets), and rise with width at each N (paired: the widths of a seed share its training set).
    Replication claims (Hypothesis 1 and Definition 3.1 are about replicates alone), with the trained guard."""
    cells = grid.cells(study)
    return (ladder("replicates fall as N grows (Figure 1)", cells, "size", ("width",), -1, False,
                   claim="replication", quote=quotes.H1_DROP)
            + ladder("replicates rise with width (Figure 1)", cells, "width", ("size",), 1, True,
                     claim="replication", quote=quotes.H1_WIDTH))


STUDY = register(Study(
    "capacity", "Memorization capacity vs training-set size and width (Yoon et al. Hypothesis 1, Figure 1)",
    expand,
    tables=(Table("memorization_capacity", "memgen.analysis.capacity:memorization_capacity", replicates,
                  markdown=MARKDOWN),
            Table("capacity_across_seeds", "memgen.analysis.capacity:capacity_seed_summary", replicates,
                  markdown=MARKDOWN)),
    figures=(Plot("capacity", "memgen.analysis.figures:capacity_figure", figure_inputs),),
    comparisons=comparisons,
))
