# memgen: is my diffusion model copying its training data, and when does it start to generalize?
# Table of contents: config + validation, one rule file per stage, one target per study (from the registry).
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")
sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))  # the memgen package, also without pip install

from memgen.config import Config, validate_config
from memgen.errors import MemgenError
from memgen.studies import REGISTRY, Grid, load_plugins


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


try:
    load_plugins()  # studies defined outside the package ($MEMGEN_PLUGINS)
    CFG = Config.from_dict(validate_config(config))  # schema, defaults, semantic checks, before any job
    GRID = Grid(CFG)
    TARGETS = GRID.all_targets()  # expands every selected study: a grid it cannot build stops here too
except MemgenError as err:
    sys.exit(f"memgen: config error: {err}")


include: "workflow/rules/common.smk"
include: "workflow/rules/datasets.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/sample.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/jobs.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        results(TARGETS),
        out("answers"),  # the report's first page: every selected study's verdicts
    default_target: True


# One target per study, named as its config key: `snakemake capacity` builds that study, selected or not (its
# outputs are listed only when it is asked for, so an unselected study's block is not expanded otherwise).
for _study in REGISTRY:

    rule:
        name:
            _study
        input:
            StudyTargets(_study),
