"""The inputs of the outcome figures (`memgen.analysis.outcome_figure`), as `Plot` hooks ``(grid, study) -> {name:
path or [paths]}``: a study's replicates, across_seeds and comparisons tables, and for the gallery strips the
samples, scores and training sets of its first seed's cells."""

from __future__ import annotations

from memgen.studies.paths import path
from memgen.studies.record import get

MAX_STRIPS = 12  # cells shown in strips at most: the files are read by the figure job (a 2 GB small job)


def strip_cells(grid, study: str) -> list:
    """The first seed's cells of a study, at most ``MAX_STRIPS`` of them, spread evenly over its cell order."""
    first = [c for c in grid.cells(study) if c.seed == grid.cfg.seeds[0]]
    if len(first) <= MAX_STRIPS:
        return first
    step = (len(first) - 1) / (MAX_STRIPS - 1)
    return [first[round(i * step)] for i in range(MAX_STRIPS)]


def strip_files(grid, study: str) -> dict:
    """Samples, scores and training sets of the strip cells, aligned."""
    cells = strip_cells(grid, study)
    return {"samples": [grid.samples_of(c) for c in cells],
            "scores": [path("scores", **c.wildcards()) for c in cells],
            "train": [path("data", **c.model_wildcards()) for c in cells]}


def seed_tables(grid, study: str) -> dict:
    """The replicates table (``table``: each seed's model) and the across_seeds table (``across``)."""
    return {"table": path("table", study=study, table="replicates"),
            "across": path("table", study=study, table="across_seeds")}


def outcome_inputs(grid, study: str) -> dict:
    """Everything an outcome figure draws: the seed tables, the comparisons table when the study has claims, and
    the strip files."""
    claims = {"comparisons": path("table", study=study, table="comparisons")} if get(study).comparisons else {}
    return {**seed_tables(grid, study), **claims, **strip_files(grid, study)}
