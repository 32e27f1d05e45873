"""Appendix C.1 of Yoon et al.: an unconditional model of base + dummy images does not say which kind a sample is,
so a binary classifier, trained by the pipeline on fresh images of both kinds, labels the samples (0 = base) before
they are scored. Three kinds of jobs (`memgen.studies.job.Job`) and the hook that makes a cell's score read the
labelled samples; a study opts in with ``jobs=CLASSIFIER_JOBS, score_input=labelled_samples``."""

from __future__ import annotations

from memgen.studies.cell import dataset_token
from memgen.studies.job import Job
from memgen.studies.paths import CELL

SETS = "data/{dataset}/classifier-{dummy}-n{size}-s{seed}/{side}"
MODEL = "{study}/classifier/{dataset}-vs-{dummy}-s{seed}"
SEED_OFFSET = 1000003  # the dummy kind's images come from a seed no training set uses


def classifier_of(grid, study: str, seed) -> dict:
    """The wildcards of a study's classifier for one seed."""
    block = grid.cfg.block(study)
    return {"study": study, "dataset": dataset_token(block.dataset), "dummy": block.dummy, "seed": seed}


def set_params(grid, wildcards: dict) -> dict:
    """Held-out base images, or dummy-kind images from a seed no training set uses."""
    common = {"n": int(wildcards["size"]), "seed": int(wildcards["seed"]), "image_size": grid.cfg.image_size,
              "cifar_root": grid.cfg.data.cifar_root}
    if wildcards["side"] == "base":
        return {**common, "base": grid.dataset_spec(wildcards["dataset"]), "heldout": True}
    return {**common, "base": wildcards["dummy"], "seed_offset": SEED_OFFSET}


def training_inputs(grid, wildcards: dict) -> dict:
    """Fresh images of the base and the dummy kind (disjoint from any training set): ``a`` and ``b``."""
    n = max(grid.cfg.block(wildcards["study"]).size, 256)
    sets = {side: SETS.format(**wildcards, size=n, side=side) + ".npz" for side in ("base", "dummy")}
    return {"a": sets["base"], "b": sets["dummy"]}


def training_params(grid, wildcards: dict) -> dict:
    return {"name_a": wildcards["dataset"], "name_b": wildcards["dummy"], "seed": int(wildcards["seed"])}


def select_inputs(grid, wildcards: dict) -> dict:
    """The cell's sample set and its study's classifier of the cell's seed."""
    cell = grid.find(wildcards)
    return {"samples": grid.samples_of(cell),
            "classifier": TRAIN.path("model", **classifier_of(grid, cell.study, cell.seed))}


def labelled_samples(grid, cell) -> str:
    """A cell's samples labelled by its study's classifier: what its score job reads."""
    return SELECT.path("selected", **cell.wildcards())


SETS_JOB = Job("classifier_data", "memgen.jobs:materialize",
               outputs={"data": SETS + ".npz", "card": SETS + ".json"}, params=set_params)
TRAIN = Job("train_classifier", "memgen.jobs:train_classifier",
            outputs={"model": MODEL + ".pt", "metrics": MODEL + ".json"}, inputs=training_inputs,
            params=training_params, stage="score")
SELECT = Job("select", "memgen.jobs:select", outputs={"selected": f"{{study}}/{CELL}/selected.npz"},
             inputs=select_inputs)
CLASSIFIER_JOBS = (SETS_JOB, TRAIN, SELECT)
