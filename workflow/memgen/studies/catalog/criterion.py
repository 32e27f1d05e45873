"""Appendix D / Figure 14 of Yoon et al.: the ratio criterion seen from both sides of its threshold on the capacity
grid's samples (flagged and not-flagged pairs nearest the threshold), and a sweep of the threshold."""

from __future__ import annotations

from memgen.studies.paths import path
from memgen.studies.record import Plot, Study, Table, register


def scores(grid, study: str) -> dict:
    return {"scores": grid.cell_paths(study, "scores")}


def pair_files(grid, study: str) -> dict:
    """Samples, training sets and scores of every cell read, aligned."""
    cells = grid.cells(study)
    return {**scores(grid, study), "samples": grid.cell_paths(study, "samples"),
            "train": [path("data", **c.model_wildcards()) for c in cells]}


def thresholds(grid, study: str) -> dict:
    return {"thresholds": list(grid.cfg.block(study).thresholds)}


def threshold(grid, study: str) -> dict:
    return {"threshold": grid.cfg.score.threshold}


def sweep(grid, study: str) -> dict:
    return {"table": path("table", study=study, table="threshold_sweep")}


STUDY = register(Study(
    "criterion", "The ratio criterion's flagged and not-flagged pairs and a threshold sweep (Appendix D)",
    reads="capacity",
    tables=(Table("threshold_sweep", "memgen.analysis.galleries:cells_threshold_sweep", scores, thresholds),),
    figures=(Plot("criterion_pairs", "memgen.analysis.galleries:cells_criterion_pairs", pair_files, threshold),
             Plot("threshold_sweep", "memgen.analysis.galleries:threshold_sweep_figure", sweep, threshold)),
))
