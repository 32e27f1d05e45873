"""Table 1 of Yoon et al.: the hyperparameters the selected studies actually use, with parameter counts measured
from the models built."""

from __future__ import annotations

from memgen.studies.record import Study, Table, register


def config(grid, study: str) -> dict:
    return {"config": grid.cfg.to_dict()}


STUDY = register(Study(
    "table1", "The hyperparameters used, with measured parameter counts (Table 1)",
    tables=(Table("table1", "memgen.analysis.table1:table1_frame", params=config,
                  markdown="memgen.analysis.table1:table1_markdown"),),
))
