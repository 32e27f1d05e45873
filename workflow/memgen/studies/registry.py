"""The registry: every study is one record here, its parameters one block of the config schema.

A record says how the study expands into cells (trained models that are sampled and scored), which figures and
galleries it draws from its tables, and which further outputs it makes under ``results/{name}/``. Its name is
its config key, its Snakemake target and its results folder. The rule files ask the registry (through
`memgen.studies.grid.Grid`) and never name a study.

Adding a study: one `Study` record (here, or `register` from a plugin or test), one schema block (the top-level
key of the same name in ``workflow/schemas/config.schema.yaml`` marked ``x-study: true``, or
`memgen.config.register_study_schema`), its pure functions (an expander in `memgen.studies.expand`, figures in
`memgen.analysis`), and a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from memgen.errors import MemgenError
from memgen.studies import expand
from memgen.studies.cell import Cell

Expander = Callable[[str, object, object], "list[Cell]"]


@dataclass(frozen=True)
class Study:
    """One study of the pipeline.

    expand: (name, block, Config) -> cells, each a trained model sampled and scored; None if it trains nothing.
        Such a study makes ``replicates.parquet``/``.md`` (one row per cell x class) and the figures listed.
    figures: figure kinds drawn by ``memgen figure KIND`` from the study's tables (`FIGURE_INPUTS` says which).
    galleries: a gallery of samples beside their nearest training images per cell.
    select: the samples are labelled by a base-vs-dummy classifier trained by the pipeline before scoring
        (an unconditional model trained on base + dummies, Appendix C.1).
    outputs: further path kinds (`memgen.studies.paths.PATHS`) the study makes under ``results/{name}/``.
    source: the study whose cells this one reads instead of its own (the optimal denoiser and the criterion
        read the capacity grid).
    per_training_set: ``outputs`` are made once per distinct training set of the source study's cells.
    cell_outputs: path kinds made per cell that has held-out images (``Cell.heldout``): the loss gap of a model.
    """

    name: str
    title: str
    expand: Expander | None = None
    figures: tuple[str, ...] = ()
    galleries: bool = False
    select: bool = False
    outputs: tuple[str, ...] = ()
    source: str | None = None
    per_training_set: bool = False
    cell_outputs: tuple[str, ...] = ()


REGISTRY: dict[str, Study] = {}


def register(study: Study) -> Study:
    """Add (or replace) a study record; returns it."""
    REGISTRY[study.name] = study
    return study


def get(name: str) -> Study:
    try:
        return REGISTRY[name]
    except KeyError:
        raise MemgenError(f"{name}: unknown study (known: {', '.join(REGISTRY)})") from None


for _study in (
    Study("capacity", "Memorization capacity vs training-set size and width (Yoon et al. Hypothesis 1, Figure 1)",
          expand.capacity, figures=("capacity",), outputs=("capacity_estimates",)),
    Study("dummies_mondrian", "Dummy data on Mondrian: base alone vs base + GM dummies (Hypothesis 2, Figures 3-4)",
          expand.dummies, figures=("dummies",), galleries=True),
    Study("dummies_cifar", "Dummy data on CIFAR-10 cars (Hypothesis 2, Figures 5-6)", expand.dummies,
          figures=("dummies",), galleries=True),
    Study("unconditional_dummies", "Base + dummies trained unconditionally, samples classified (Appendix C.1)",
          expand.single, galleries=True, select=True),
    Study("classes", "Majority vs minority class in one conditional model (Hypothesis 3, Figures 7-8)",
          expand.classes, figures=("classes",), galleries=True),
    Study("dummy_kinds", "Four kinds of dummy data (the follow-up report)", expand.dummy_kinds,
          figures=("dummy_kinds",)),
    Study("loss_gap", "Train vs held-out loss per noise level over training (Kaiser & Kollmann)", expand.snapshots,
          figures=("onset", "loss_gap"), outputs=("losses",)),
    Study("external", "Checkpoints trained elsewhere, audited with every measure (bring your own model)",
          expand.external, galleries=True, cell_outputs=("cell_losses", "cell_loss_figure")),
    Study("disjoint_split", "Two models on disjoint training sets, sampled from the same noise (Kadkhodaie et al.)",
          expand.disjoint_split, figures=("agreement",), outputs=("agreement",)),
    Study("dichotomy", "Memorized vs generalizing fraction of every scored cell (Yoon et al.'s dichotomy)",
          figures=("dichotomy",), outputs=("dichotomy_table",)),
    Study("optimal", "The closed-form empirical-optimal denoiser of each capacity training set",
          outputs=("opt_summary",), source="capacity", per_training_set=True),
    Study("criterion", "The ratio criterion's flagged and not-flagged pairs and a threshold sweep (Appendix D)",
          outputs=("pairs_figure", "sweep_figure"), source="capacity"),
    Study("table1", "The hyperparameters used, with measured parameter counts (Table 1)",
          outputs=("hyperparameters", "hyperparameters_md")),
):
    register(_study)
