"""Table 1 of Yoon et al.: the hyperparameters the selected studies actually use, with parameter counts measured
from the models built."""

from __future__ import annotations

from memgen.studies.record import Study, Table, get, register


def config(grid, study: str) -> dict:
    """The resolved config and each kind of model the selected studies train (width, classes, step budget, batch),
    once, in the order of the studies and their cells (`memgen.analysis.table1.table1_rows`)."""
    kinds = dict.fromkeys((c.width, 2 if c.conditional else 0, c.train_steps, c.batch_size)
                          for s in grid.cfg.studies if get(s).trains for c in grid.cells(s))
    models = [dict(zip(("width", "num_classes", "train_steps", "batch_size"), k)) for k in kinds]
    return {"config": grid.cfg.to_dict(), "models": models}


STUDY = register(Study(
    "table1", "The hyperparameters used, with measured parameter counts (Table 1)",
    tables=(Table("table1", "memgen.analysis.table1:table1_frame", params=config,
                  markdown="memgen.analysis.table1:table1_markdown"),),
))
