"""The class dichotomy (Yoon et al. Hypothesis 3, Figures 7-8): one class-conditional model on a majority class
and a small minority class; memorized per class?"""

from __future__ import annotations

from memgen.studies import quotes
from memgen.studies.cell import Cell
from memgen.studies.common import num_samples, train_settings
from memgen.studies.figure_inputs import outcome_inputs
from memgen.studies.record import Plot, Study, register


def expand(name: str, block, cfg) -> list[Cell]:
    """Majority + minority classes (the minority is the training set's second component), class-conditional,
    samples from every class."""
    steps, batch = train_settings(cfg, block)
    return [Cell(name, block.dataset, w, total - block.minority_size, block.minority, block.minority_size, steps,
                 batch, True, s, num_samples(cfg, block))
            for w in block.widths for total in block.totals for s in cfg.seeds]


def comparisons(grid, study: str) -> list[dict]:
    """Hypothesis 3, a generalization claim: in one model the small minority class is copied more than the
    majority, and the majority generalized more (novel and valid); paired: one model per seed samples both."""
    return [{"name": "the minority class is copied more (Figures 7-8)", "a": {"width": w, "size": n, "label": 0},
             "b": {"width": w, "size": n, "label": 1}, "expected": 1, "paired": True, "table": "replicates",
             "claim": "generalization", "quote": quotes.H3}
            for w, n in sorted({(c.width, c.size) for c in grid.cells(study)})]


STUDY = register(Study(
    "classes", "Majority vs minority class in one conditional model (Hypothesis 3, Figures 7-8)", expand,
    figures=(Plot("classes", "memgen.analysis.study_figures:classes_figure", outcome_inputs),), galleries=True,
    comparisons=comparisons,
))
