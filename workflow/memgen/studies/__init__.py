"""The studies: one record per study (`record`), one module per study (`catalog`), their own kinds of jobs (`job`), the cells they expand into
(`cell`), the path grammar (`paths`), the expanded grid (`grid`) and its cost (`plan`)."""

from memgen.studies import catalog  # noqa: F401  (registers every built-in study)
from memgen.studies.cell import Cell, dataset_token, epochs_per_image, presentations
from memgen.studies.grid import Grid
from memgen.studies.paths import PATHS, path
from memgen.studies.job import Job, Outside
from memgen.studies.record import (REGISTRY, Plot, Study, Table, figure_kinds, get, job_kinds, load_plugins, register,
                                   resolve, table_kinds)

__all__ = ["PATHS", "REGISTRY", "Cell", "Grid", "Job", "Outside", "Plot", "Study", "Table", "dataset_token",
           "epochs_per_image", "figure_kinds", "get", "job_kinds", "load_plugins", "path", "presentations", "register",
           "resolve", "table_kinds"]
