"""A study's own kind of job, as a record: what it runs, what it reads and writes, on what resources.

The generic cell pipeline (materialize -> train -> sample -> score) and the derived tables and figures (`Table`,
`Plot`) serve every study. What only some studies do (a classifier that labels samples before scoring, importing
a model trained elsewhere, a model's loss per noise level) is a `Job` on their record: workflow/rules/jobs.smk
makes one Snakemake rule per kind from the records (named after the job), and ``memgen job NAME`` runs it by
calling the function the record names. The rule files never name a kind.

A job's files are named by its ``outputs`` patterns (relative to the results directory, in the path grammar's
wildcards, `memgen.studies.paths`): a job of this kind is planned for every set of wildcards some other job, table
or target asks for. Its hooks take the grid and those wildcards (a dict of strings).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from memgen.errors import MemgenError

STAGES = ("small", "train", "sample", "score")  # small: 2 GB, 10 minutes, one thread, no GPU


class Outside(str):
    """A job input outside the results directory (a user's checkpoint), passed as it is written."""


def no_job_inputs(grid, wildcards: dict) -> dict:
    return {}


def no_job_params(grid, wildcards: dict) -> dict:
    return {}


def no_job_targets(grid, study: str) -> list[dict]:
    return []


@dataclass(frozen=True)
class Job:
    """One kind of job of a study (see the module docstring).

    name: the Snakemake rule's name; two studies that share a kind share the record (`memgen.studies.record`).
    run: ``"package.module:function"`` (or the function), called as ``run(**inputs, **outputs, **params)``: each
        input a path (a list of paths for a list), or its content when ``read_inputs`` (read by extension as a
        `Table`'s inputs); each output a path. A job of a compute stage also gets ``device`` and ``prepare`` (call
        it before the network: it claims a GPU and sets the threads).
    outputs: ``((name, pattern), ...)``: each file the job writes, relative to the results directory; the first
        one's pattern names the job's log. Every pattern holds the same wildcards.
    inputs: ``(grid, wildcards) -> {name: path or [paths]}``, relative to the results directory (`Outside`: a
        user's file, as written).
    params: ``(grid, wildcards) -> {name: JSON value}``.
    stage: "small", or the stage of `resources` (train, sample, score) whose threads, GPU and fixed limits it gets.
    targets: ``(grid, study) -> [wildcards]``: the jobs of this kind that are outputs of the study itself (others
        run when a table, another job or the cell pipeline reads their files).
    report: the name of an output shown in the Snakemake report as a figure of the study, or "".
    """

    name: str
    run: Any
    outputs: tuple[tuple[str, str], ...]
    inputs: Callable[[Any, dict], dict] = no_job_inputs
    params: Callable[[Any, dict], dict] = no_job_params
    stage: str = "small"
    read_inputs: bool = False
    targets: Callable[[Any, str], list[dict]] = no_job_targets
    report: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.outputs, dict):
            object.__setattr__(self, "outputs", tuple(self.outputs.items()))
        if self.stage not in STAGES:
            raise MemgenError(f"job {self.name}: stage {self.stage!r} is not one of {', '.join(STAGES)}")
        if not self.outputs:
            raise MemgenError(f"job {self.name}: no outputs")
        if self.report and self.report not in dict(self.outputs):
            raise MemgenError(f"job {self.name}: report {self.report!r} is not one of its outputs")

    @property
    def patterns(self) -> dict[str, str]:
        return dict(self.outputs)

    @property
    def computes(self) -> bool:
        """A job that runs a network: it gets ``device`` and ``prepare``."""
        return self.stage != "small"

    def path(self, output: str, **wildcards) -> str:
        """One output's path for these wildcards (relative to the results directory)."""
        return self.patterns[output].format(**wildcards)

    def paths(self, **wildcards) -> list[str]:
        return [pattern.format(**wildcards) for _, pattern in self.outputs]
