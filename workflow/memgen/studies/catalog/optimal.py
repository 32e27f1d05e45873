"""The closed-form empirical-optimal denoiser (Kaiser & Kollmann; Yoon et al.'s reference point) of every training
set of the capacity grid: sampled and scored like a model, drawn as the reference line of the capacity figure."""

from __future__ import annotations

from memgen.studies.record import Study, register

STUDY = register(Study(
    "optimal", "The closed-form empirical-optimal denoiser of each capacity training set", reads="capacity",
    per_training_set=("opt_summary",),
))
