"""The expanded grid of one config: every study's cells and targets, and the lookups the rules need.

`Grid` is built once per Snakemake parse from the frozen `memgen.config.Config`. Its methods are generic: what a
study does of its own is on its record (`memgen.studies.record.Study`), whose hooks the grid calls. Paths are
relative to the results directory (the rule files prefix it).
"""

from __future__ import annotations

from functools import cached_property

from memgen.data.cifar import pool_size
from memgen.errors import MemgenError
from memgen.studies import record
from memgen.studies.cell import Cell, dataset_token
from memgen.studies.paths import CELL, path
from memgen.studies.sample_set import SampleSet

MODEL_KEYS = ("dataset", "width", "size", "dummy", "ndummy", "steps", "batch", "cond", "seed")  # a model's path


def _getter(wildcards):
    """Wildcard lookup on a Snakemake ``wildcards`` object or a dict."""
    return (lambda k: wildcards[k]) if isinstance(wildcards, dict) else (lambda k: getattr(wildcards, k))


def _plain(wildcards) -> dict:
    """Snakemake's ``wildcards`` object (or a dict) as a plain dict of strings."""
    items = wildcards.items() if hasattr(wildcards, "items") else vars(wildcards).items()
    return {str(k): str(v) for k, v in items if not str(k).startswith("_")}


def model_key(wildcards) -> tuple:
    """What names a trained model (shared by every cell and study that samples it)."""
    get = _getter(wildcards)
    return tuple(str(get(k)) for k in MODEL_KEYS)


class Grid:
    def __init__(self, cfg):
        """The grid of a validated `memgen.config.Config`; each selected study's record checks what its grid
        needs of the config (e.g. two disjoint splits that fit in their data set) first."""
        self.cfg = cfg
        self._cells: dict[str, list[Cell]] = {}
        for name in cfg.studies:
            check = record.get(name).check
            if check is not None:
                check(cfg.raw)

    # -- cells -------------------------------------------------------------------------------------------
    def cells(self, study: str) -> list[Cell]:
        """Every cell of a study (its own, or those of the study it reads), in a stable order."""
        if study not in self._cells:
            rec = record.get(study)
            if rec.reads:
                return self.cells(rec.reads)
            if not rec.trains:
                raise MemgenError(f"{study}: this study trains no models of its own")
            self._cells[study] = rec.expand(study, self.cfg.block(study), self.cfg)
        return self._cells[study]

    @cached_property
    def trained_studies(self) -> list[str]:
        """Every registered study with cells of its own whose grid expands: each is a target (``snakemake NAME``,
        selected or not), and what a model saves (its snapshots) must not depend on which studies are selected.
        A study that is not selected and whose block cannot expand (say, sizes its partner lacks) is left out;
        a selected one raises instead (`all_targets`)."""
        out = []
        for name, rec in record.REGISTRY.items():
            if not rec.trains:
                continue
            try:
                self.cells(name)
            except MemgenError:
                if name in self.cfg.studies:
                    raise
                continue
            out.append(name)
        return out

    @cached_property
    def _by_name(self) -> dict[tuple[str, str], Cell]:
        return {(c.study, c.name): c for s in self.trained_studies for c in self.cells(s)}

    def find(self, wildcards) -> Cell:
        """The cell whose path wildcards these are (a Snakemake ``wildcards`` object or a dict)."""
        get = _getter(wildcards)
        name = CELL.format(**{k: get(k) for k in ("width", "size", "dummy", "ndummy", "steps", "batch", "cond",
                                                   "seed")})
        cell = self._by_name.get((get("study"), name))
        if cell is None:
            raise MemgenError(f"no cell {get('study')}/{name} in the config")
        return cell

    @cached_property
    def _by_model(self) -> dict[tuple, Cell]:
        return {model_key(c.model_wildcards()): c for s in self.trained_studies for c in reversed(self.cells(s))}

    def cell_of_model(self, wildcards) -> Cell:
        """A cell that samples the model named by these wildcards (models are shared by cells and studies)."""
        cell = self._by_model.get(model_key(wildcards))
        if cell is None:
            get = _getter(wildcards)
            raise MemgenError(f"no cell in the config trains the model {dict((k, get(k)) for k in MODEL_KEYS)}")
        return cell

    def snapshot_steps(self, model_wildcards) -> list[int]:
        """Steps at which the model named by these wildcards saves EMA snapshots (for snapshot cells)."""
        want = model_key(model_wildcards)
        return sorted({c.steps for s in self.trained_studies for c in self.cells(s) if c.is_snapshot
                       and model_key(c.model_wildcards()) == want})

    @cached_property
    def _datasets(self) -> dict[str, str]:
        return {c.dataset_token: c.dataset for s in self.trained_studies for c in self.cells(s)}

    def dataset_spec(self, token: str) -> str:
        """The base dataset spec (e.g. ``cifar:automobile``) of a path token (``cifar-automobile``); the held-out
        images of a split's base are under the base's own token."""
        if token in self._datasets:
            return self._datasets[token]
        base = {t.removeprefix("split-"): d.removeprefix("split:") for t, d in self._datasets.items()}
        if token in base:
            return base[token]
        raise MemgenError(f"dataset {token}: no study uses it")

    def training_sets(self, study: str) -> list[dict]:
        """Wildcards of each distinct training set (without dummies) of a study's cells, in order."""
        seen = {}
        for c in self.cells(study):
            seen.setdefault((c.dataset_token, c.size, c.seed),
                            {"study": study, "dataset": c.dataset_token, "size": c.size, "dummy": "none",
                             "ndummy": 0, "seed": c.seed})
        return list(seen.values())

    def cell_paths(self, study: str, kind: str) -> list[str]:
        """The file of one path kind for every cell of a study, in cell order ("samples": the sample set each cell
        scores, shared with the cells of other studies that score the same)."""
        if kind in ("samples", "sample_card"):
            return [path(kind, **self.sample_set(c).wildcards()) for c in self.cells(study)]
        return [path(kind, **c.wildcards()) for c in self.cells(study)]

    # -- targets -------------------------------------------------------------------------------------------
    def targets(self, study: str) -> list[str]:
        """Every final output of one study: its tables (Parquet and Markdown), figures (PNG and the table drawn),
        galleries (of the first seed's cells), the outputs of the jobs its records list as targets, and its
        per-training-set outputs."""
        rec = record.get(study)
        out = [path(kind, study=study, table=t.name) for t in rec.tables for kind in ("table", "table_md")]
        out += [path(kind, study=study, figure=f.name) for f in rec.figures for kind in ("figure", "figure_table")]
        if rec.trains and rec.galleries:  # pictures, drawn for the first seed only (the tables hold every seed)
            out += [path("gallery", **c.wildcards()) for c in self.cells(study) if c.seed == self.cfg.seeds[0]]
        out += [p for job in rec.jobs for wc in job.targets(self, study) for p in job.paths(**wc)]
        out += [path(kind, **wc) for kind in rec.per_training_set for wc in self.training_sets(study)]
        return out

    def all_targets(self) -> list[str]:
        """The targets of every selected study, after expanding each one's cells: a grid that cannot be built (a
        disjoint split larger than its source) stops at parse time in one line, not inside a job's input function."""
        for study in self.cfg.studies:
            if record.get(study).trains:
                self.cells(study)
        return [t for s in self.cfg.studies for t in self.targets(s)]

    # -- the inputs and parameters of a study's tables and figures (its record's hooks) -----------------------
    def table_inputs(self, study: str, table: str) -> dict:
        return record.get(study).table(table).inputs(self, study)

    def table_params(self, study: str, table: str) -> dict:
        return record.get(study).table(table).params(self, study)

    def figure_inputs(self, study: str, figure: str) -> dict:
        return record.get(study).figure(figure).inputs(self, study)

    def figure_params(self, study: str, figure: str) -> dict:
        return record.get(study).figure(figure).params(self, study)

    def result(self, relative: str) -> str:
        """A path under the config's results directory (for a job's parameters; inputs and outputs are prefixed by
        the rules)."""
        return f"{self.cfg.results.rstrip('/')}/{relative}"

    # -- a study's own kinds of jobs (`memgen.studies.job.Job`): their inputs and parameters from the record's hooks --
    def job(self, name: str):
        kinds = record.job_kinds()
        if name not in kinds:
            raise MemgenError(f"job {name!r}: no study has it (known: {', '.join(sorted(kinds))})")
        return kinds[name]

    def job_inputs(self, name: str, wildcards) -> dict:
        return self.job(name).inputs(self, _plain(wildcards))

    def job_params(self, name: str, wildcards) -> dict:
        return self.job(name).params(self, _plain(wildcards))

    def score_input(self, cell: Cell) -> str:
        """What a cell's score job reads: its sample set, or what its study's ``score_input`` hook names."""
        hook = record.get(cell.study).score_input
        return hook(self, cell) if hook else self.samples_of(cell)

    # -- per-cell files ------------------------------------------------------------------------------------
    def model_of(self, cell: Cell) -> str:
        """The checkpoint file a cell samples: its model, a snapshot of its full run, or an imported one."""
        if cell.checkpoint:
            return path("imported", **cell.model_wildcards())
        if cell.is_snapshot:
            return f"{path('snapshots', **cell.model_wildcards())}/step{cell.steps:07d}.pt"
        return path("model", **cell.model_wildcards())

    def model_dependency(self, cell: Cell) -> str:
        """What a cell's sampling waits for: the model, the snapshot directory of its full run, or the import."""
        if cell.checkpoint:
            return path("imported", **cell.model_wildcards())
        return path("snapshots" if cell.is_snapshot else "model", **cell.model_wildcards())

    # -- sample sets (`memgen.studies.sample_set`): drawn once per checkpoint and sampling, shared by cells ---------
    def sample_set(self, cell: Cell) -> SampleSet:
        """The samples a cell scores: its weights (EMA unless the cell says raw), its respaced steps (the config's
        unless the cell says)."""
        return SampleSet.of(cell, cell.sample_steps or self.cfg.sample.steps, cell.weights)

    def samples_of(self, cell: Cell) -> str:
        return path("samples", **self.sample_set(cell).wildcards())

    def sample_checkpoint(self, wildcards) -> tuple[str, str]:
        """(the checkpoint file a sample set is drawn from, what its job waits for: the model, the snapshot
        directory of the run, or the imported file). A snapshot the model does not save is refused."""
        sset = SampleSet.from_wildcards(wildcards)
        model = sset.model_wildcards()
        step = sset.snapshot_step
        if step is None:
            kind = "imported" if sset.ckpt == "imported" else "model"
            return path(kind, **model), path(kind, **model)
        if step not in self.snapshot_steps(model):
            raise MemgenError(f"no cell in the config samples the snapshot at step {step} of "
                              f"{path('model', **model)}")
        return f"{path('snapshots', **model)}/step{step:07d}.pt", path("snapshots", **model)

    def card_of(self, cell: Cell) -> str:
        return path("card", **cell.model_wildcards())

    def heldout_of(self, cell: Cell) -> list[str]:
        """Held-out images for the data-copying test of a real-image cell ([] for procedural data, when C_T is off,
        or when the class has no images left beside the cell's base and dummy pools)."""
        n = self.cfg.score.copying_heldout
        split = cell.dataset.startswith("split:")
        base = cell.dataset[len("split:"):] if split else cell.dataset
        if not n or not base.startswith(("cifar:", "folder:")):
            return []
        from_base = cell.size * (2 if split else 1) + (cell.ndummy if cell.dummy in ("heldout", "hybrid") else 0)
        limit = pool_size(base)  # held-out images are cut from the far end of the pool: they must not reach
        if limit is not None and from_base + n > limit:  # the training set's slots at its start
            return []
        return [path("heldout", dataset=dataset_token(base), size=n, seed=cell.seed)]  # shared by a split's sides
