# memgen: is my diffusion model copying its training data, and when does it start to generalize?
# Table of contents: config + validation, the path grammar, one rule file per stage, the named targets.
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")
sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))  # the memgen package, also without pip install

from memgen.config import validate_config
from memgen.errors import MemgenError


configfile: "config.yaml"


try:
    validate_config(config)  # schema (unknown keys refused) + defaults + semantic checks, before any job
except MemgenError as err:
    sys.exit(f"memgen: config error: {err}")


include: "workflow/rules/common.smk"
include: "workflow/rules/datasets.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/sample.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/studies.smk"


rule all:
    input:
        all_targets(),
    default_target: True


rule capacity:
    input:
        experiment_targets("capacity"),


rule dummies_mondrian:
    input:
        experiment_targets("dummies_mondrian"),


rule dummies_cifar:
    input:
        experiment_targets("dummies_cifar"),


rule classes:
    input:
        experiment_targets("classes"),


rule dummy_kinds:
    input:
        experiment_targets("dummy_kinds"),


rule unconditional_dummies:
    input:
        experiment_targets("unconditional_dummies"),


rule loss_gap_study:
    input:
        experiment_targets("loss_gap"),


rule optimal:
    input:
        study_targets("optimal"),


rule criterion:
    input:
        study_targets("criterion_pairs"),


rule table1_study:
    input:
        study_targets("table1"),
