"""Yoon et al.'s dichotomy drawn for every scored cell of the selected studies: the memorized fraction (replicates
+ partial copies) against the generalizing fraction (novel and valid, or the disjoint-split agreement)."""

from __future__ import annotations

from memgen.studies.catalog import disjoint_split
from memgen.studies.paths import path
from memgen.studies.record import Plot, Study, Table, get, register


def scored_tables(grid, study: str) -> dict:
    """The replicate table of every selected study with cells, and the agreement of the disjoint splits."""
    tables = {"replicates": [path("table", study=s, table="replicates") for s in grid.cfg.studies if get(s).trains]}
    if disjoint_split.NAME in grid.cfg.studies:
        tables["agreement"] = path("table", study=disjoint_split.NAME, table="agreement")
    return tables


def table(grid, study: str) -> dict:
    return {"table": path("table", study=study, table="dichotomy")}


STUDY = register(Study(
    "dichotomy", "Memorized vs generalizing fraction of every scored cell (Yoon et al.'s dichotomy)",
    tables=(Table("dichotomy", "memgen.analysis.dichotomy:dichotomy_table", scored_tables),),
    figures=(Plot("dichotomy", "memgen.analysis.dichotomy:dichotomy_figure", table, front=True),),
))
