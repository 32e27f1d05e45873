"""The registry: one `Study` record per study, and the derived tables and figures a study declares.

A record is the one home of what its study does beyond the generic cell pipeline (materialize -> train ->
sample -> score -> the ``replicates`` table): its cells (``expand``), its further tables (`Table`, made by the
generic ``derive`` rule into ``results/{study}/{name}.parquet`` + ``.md``), its figures (`Plot`, made by the
generic ``figure`` rule into ``results/{study}/figures/{name}.png`` + the drawn table beside it), its own kinds
of jobs (`memgen.studies.job.Job`, one generated rule per kind), and the config checks the schema cannot
express. Rule files and `memgen.studies.grid.Grid` ask the records and never
name a study; the study modules under `memgen.studies.catalog` are where each study lives.

A table's ``build``, a figure's ``draw`` and a job's ``run`` are named as ``"module:function"`` references,
resolved only when a job runs (`resolve`): the Snakefile imports this registry on every parse, and the drawing modules import
seaborn and matplotlib (seconds). A plugin or a test may pass the callable itself.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from dataclasses import dataclass
from typing import Any, Callable

from memgen.errors import MemgenError
from memgen.studies.common import replicates
from memgen.studies.job import Job
from memgen.studies.paths import path

Ref = "str | Callable[..., Any]"  # "package.module:function", or the function itself
Hook = Callable[[Any, str], Any]  # (grid, study) -> value


def no_inputs(grid, study: str) -> dict:
    return {}


def no_params(grid, study: str) -> dict:
    return {}


def resolve(ref) -> Callable[..., Any]:
    """The function a reference names (``"memgen.analysis.figures:capacity_figure"``), or the callable given."""
    if callable(ref):
        return ref
    module, _, name = str(ref).partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise MemgenError(f"{ref}: no such function (expected 'package.module:function')") from None


@dataclass(frozen=True)
class Table:
    """A table a study derives from files of the pipeline: ``results/{study}/{name}.parquet`` and its Markdown.

    build: ``build(**inputs, **params) -> pandas.DataFrame``. Each input is what its files hold, read by their
        extension (.parquet: a DataFrame; .npz: (images, labels); .json: a dict; anything else: its path): a
        single file when the hook gives a string, a list in the hook's order when it gives a list.
    inputs: ``(grid, study) -> {name: path or [paths]}``, relative to the results directory.
    params: ``(grid, study) -> {name: JSON value}``, keyword arguments of ``build``.
    markdown: ``markdown(table) -> str``; None: a plain rendering of every column.
    """

    name: str
    build: Any
    inputs: Hook = no_inputs
    params: Hook = no_params
    markdown: Any = None


@dataclass(frozen=True)
class Plot:
    """A figure of a study: ``results/{study}/figures/{name}.png``, and beside it ``{name}.parquet``, the table it
    drew (what ``draw`` returns, else its ``table`` input).

    draw: ``draw(out_path=..., **inputs, **params) -> DataFrame | None``; inputs and params as for `Table`.
    front: also shown on the report's first page, beside every study's comparisons (`memgen.studies.front`).
    """

    name: str
    draw: Any
    inputs: Hook
    params: Hook = no_params
    front: bool = False


@dataclass(frozen=True)
class Study:
    """One study of the pipeline.

    expand: ``(name, block, Config) -> [Cell]``, each a model sampled and scored; such a study gets the table
        ``replicates`` (one row per cell x sampled class) before its own ``tables``. None: it trains nothing.
    reads: a study whose cells this one reads instead of its own (the criterion and the optimal denoiser read
        the capacity grid); its targets are then only its own tables, figures and ``per_training_set`` outputs.
    tables, figures: what the study derives (`Table`, `Plot`); a figure may read any table of any study.
    galleries: a gallery of samples beside their nearest training images per cell.
    jobs: the study's own kinds of jobs (`memgen.studies.job.Job`); those its ``targets`` hooks list are outputs of
        the study, the others run when something reads their files.
    score_input: ``(grid, cell) -> path``: what a cell's score job reads instead of its sample set (e.g. the
        samples labelled by a classifier the study trains: Appendix C.1), made by one of its jobs.
    per_training_set: path kinds (`memgen.studies.paths.PATHS`) made once per distinct training set of its cells.
    also_sampled: ``(grid, cell) -> [Cell]``: variants of a cell (e.g. its raw weights) whose sample sets its own
        jobs draw and score; `memgen.studies.plan` prices a sampling and a scoring job for each.
    check: ``check(resolved config dict)`` for what the schema cannot say, run when the grid of a config that
        selects the study is built; raises `MemgenError`.
    comparisons: ``(grid, study) -> [dict]``, the claims of the seed papers this study tests across training
        seeds: each dict holds the fields of `memgen.analysis.claims.Comparison` and ``table``, the table(s) its
        cells are read from (a table name of this study, ``"other_study/table"``, or a list of them, concatenated).
        The study then gets the table ``comparisons`` (one row and a verdict per claim, Holm over them all).
    """

    name: str
    title: str
    expand: Callable | None = None
    reads: str | None = None
    tables: tuple[Table, ...] = ()
    figures: tuple[Plot, ...] = ()
    galleries: bool = False
    jobs: tuple[Job, ...] = ()
    score_input: Callable | None = None
    per_training_set: tuple[str, ...] = ()
    also_sampled: Callable | None = None
    check: Callable[[dict], None] | None = None
    comparisons: Hook | None = None

    @property
    def trains(self) -> bool:
        return self.expand is not None

    def table(self, name: str) -> Table:
        found = next((t for t in self.tables if t.name == name), None)
        if found is None:
            raise MemgenError(f"{self.name}: no table {name!r} (its tables: {', '.join(t.name for t in self.tables)})")
        return found

    def figure(self, name: str) -> Plot:
        found = next((f for f in self.figures if f.name == name), None)
        if found is None:
            raise MemgenError(f"{self.name}: no figure {name!r} (its figures: "
                              f"{', '.join(f.name for f in self.figures)})")
        return found


REGISTRY: dict[str, Study] = {}


def study_summaries(grid, study: str) -> dict:
    """The ``replicates`` table's input: every cell's summary, in cell order."""
    return {"summaries": grid.cell_paths(study, "summary")}


def comparison_sources(specs) -> list[str]:
    """The distinct tables the comparison specs read, in first-seen order (``table``: a name or a list)."""
    names: list[str] = []
    for spec in specs:
        source = spec.get("table", "replicates")
        for name in ([source] if isinstance(source, str) else source):
            if name not in names:
                names.append(name)
    return names


def _sources(grid, study: str) -> tuple[list[dict], list[str]]:
    """The study's comparison specs and the tables they read; the replicate table at least, so the (possibly
    empty) comparisons table is made after the cells, like every other table of the study."""
    specs = get(study).comparisons(grid, study)
    return specs, comparison_sources(specs) or ["replicates"]


def comparison_inputs(grid, study: str) -> dict:
    """The tables the claims read and the training-set cards of the cells of every study they read from (a paired
    claim is checked on them: `memgen.analysis.pairing`)."""
    readers = [other or study for other, _, _ in (n.rpartition("/") for n in _sources(grid, study)[1])]
    cards = {grid.card_of(c) for s in dict.fromkeys(readers) if get(s).trains for c in grid.cells(s)}
    return {"tables": [path("table", study=other or study, table=name)
                       for other, _, name in (n.rpartition("/") for n in _sources(grid, study)[1])],
            "cards": sorted(cards)}


def comparison_params(grid, study: str) -> dict:
    """The specs, the names of the tables they read, and the schema's ``verdicts`` settings."""
    specs, names = _sources(grid, study)
    return {"names": names, "comparisons": specs, "verdicts": dict(grid.cfg.raw["verdicts"])}


# Every study with cells aggregates them into these tables first (`register` puts them in front of its own):
# the replicate table (one row per cell x label x seed) and its summary across training seeds.
REPLICATES = Table("replicates", "memgen.analysis.tables:aggregate_summaries", study_summaries,
                   markdown="memgen.analysis.tables:to_markdown")
ACROSS_SEEDS = Table("across_seeds", "memgen.analysis.seeds:across_seeds", replicates,
                     markdown="memgen.analysis.seeds:across_seeds_markdown")
COMPARISONS = Table("comparisons", "memgen.analysis.claims:comparisons_table", comparison_inputs, comparison_params,
                    markdown="memgen.analysis.claims_markdown:comparisons_markdown")


def register(study: Study) -> Study:
    """Add (or replace) a study record, with the ``replicates`` table in front when it has cells. A table or figure
    name that another study uses must name the same function there (`table_kinds`, `figure_kinds`). Returns the
    record as registered."""
    if study.trains and REPLICATES not in study.tables:
        study = dataclasses.replace(study, tables=(REPLICATES, ACROSS_SEEDS, *study.tables))
    if study.comparisons is not None and COMPARISONS not in study.tables:
        study = dataclasses.replace(study, tables=(*study.tables, COMPARISONS))
    others = [s for s in REGISTRY.values() if s.name != study.name]
    for kind, own in (("table", {t.name: t.build for t in study.tables}),
                      ("figure", {f.name: f.draw for f in study.figures})):
        theirs = {t.name: t.build for s in others for t in s.tables} if kind == "table" else \
            {f.name: f.draw for s in others for f in s.figures}
        clash = [n for n, ref in own.items() if n in theirs and theirs[n] != ref]
        if clash:
            raise MemgenError(f"{study.name}: the {kind} {clash[0]!r} of another study draws on another function")
    theirs = {j.name: j for s in others for j in s.jobs}
    clash = [j.name for j in study.jobs if j.name in theirs and theirs[j.name] != j]
    if clash:
        raise MemgenError(f"{study.name}: the job {clash[0]!r} of another study is another record (share the record)")
    REGISTRY[study.name] = study
    return study


PLUGINS_ENV = "MEMGEN_PLUGINS"


def load_plugins() -> list[str]:
    """Import the modules named in ``$MEMGEN_PLUGINS`` (comma-separated, importable from ``sys.path``): each
    registers its studies and their schema blocks on import (`register`, `memgen.config.register_study_schema`).
    The Snakefile and the command line call this once, so a study defined outside the package is planned by
    Snakemake and known to the jobs it runs, which inherit the environment. Returns the modules imported."""
    names = [n.strip() for n in os.environ.get(PLUGINS_ENV, "").split(",") if n.strip()]
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as err:
            raise MemgenError(f"{PLUGINS_ENV}: cannot import {name!r} ({err})") from None
    return names


def get(name: str) -> Study:
    try:
        return REGISTRY[name]
    except KeyError:
        raise MemgenError(f"{name}: unknown study (known: {', '.join(REGISTRY)})") from None


def table_kinds() -> dict[str, Any]:
    """Every table name of the registered studies -> its build function (reference)."""
    return {t.name: t.build for s in REGISTRY.values() for t in s.tables}


def job_kinds() -> dict[str, Job]:
    """Every kind of job of the registered studies, by name (one rule each: workflow/rules/jobs.smk)."""
    return {j.name: j for s in REGISTRY.values() for j in s.jobs}


def figure_kinds() -> dict[str, Any]:
    """Every figure name of the registered studies -> its draw function (reference): ``memgen figure``'s kinds."""
    return {f.name: f.draw for s in REGISTRY.values() for f in s.figures}
