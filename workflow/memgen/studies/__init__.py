"""The studies: one registry record per study, the cells they expand into, the path grammar, the expanded grid."""

from memgen.studies.cell import Cell, dataset_token, epochs_per_image, presentations
from memgen.studies.grid import Grid
from memgen.studies.paths import PATHS, path
from memgen.studies.registry import REGISTRY, Study, get, register

__all__ = ["PATHS", "REGISTRY", "Cell", "Grid", "Study", "dataset_token", "epochs_per_image", "get", "path",
           "presentations", "register"]
