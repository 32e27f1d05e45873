"""The expanded grid of one config: every selected study's cells and targets, and the lookups the rules need.

`Grid` is built once per Snakemake parse from the frozen `memgen.config.Config`; every method returns paths
relative to the results directory (the rule files prefix it) or cells. No rule file names a study: they ask this.
"""

from __future__ import annotations

from functools import cached_property

from memgen.errors import MemgenError
from memgen.studies import registry
from memgen.studies.cell import Cell, dataset_token
from memgen.studies.paths import path

# Which tables a figure kind is drawn from: the study's replicate table unless listed here.
FIGURE_TABLE = {"loss_gap": "losses"}  # drawn from the loss table, with the replicate table as reference


class Grid:
    def __init__(self, cfg):
        self.cfg = cfg
        self._cells: dict[str, list[Cell]] = {}

    # -- cells -------------------------------------------------------------------------------------------
    def cells(self, study: str) -> list[Cell]:
        """Every cell of a study (its own, or its source study's), in a stable order."""
        if study not in self._cells:
            rec = registry.get(study)
            if rec.source:
                return self.cells(rec.source)
            if rec.expand is None:
                raise MemgenError(f"{study}: this study trains no models of its own")
            self._cells[study] = rec.expand(study, self.cfg.block(study), self.cfg)
        return self._cells[study]

    @cached_property
    def _by_name(self) -> dict[tuple[str, str], Cell]:
        return {(c.study, c.name): c for s in self.trained_studies for c in self.cells(s)}

    @cached_property
    def trained_studies(self) -> list[str]:
        """Every registered study with cells of its own, selected or not: each is a target (``snakemake NAME``),
        and what a model saves (its snapshots) must not depend on which studies are selected."""
        return [name for name, rec in registry.REGISTRY.items() if rec.expand is not None]

    def find(self, wildcards) -> Cell:
        """The cell whose path wildcards these are (a Snakemake ``wildcards`` object or a dict)."""
        get = (lambda k: wildcards[k]) if isinstance(wildcards, dict) else (lambda k: getattr(wildcards, k))
        name = (f"w{get('width')}-n{get('size')}-{get('dummy')}{get('ndummy')}-it{get('steps')}-b{get('batch')}"
                f"-{get('cond')}-s{get('seed')}")
        cell = self._by_name.get((get("study"), name))
        if cell is None:
            raise MemgenError(f"no cell {get('study')}/{name} in the config")
        return cell

    def snapshot_steps(self, model_wildcards) -> list[int]:
        """Steps at which the model named by these wildcards saves EMA snapshots (for snapshot cells)."""
        get = (lambda k: model_wildcards[k]) if isinstance(model_wildcards, dict) \
            else (lambda k: getattr(model_wildcards, k))
        keys = ("dataset", "width", "size", "dummy", "ndummy", "steps", "batch", "cond", "seed")
        want = {k: str(get(k)) for k in keys}
        return sorted({c.steps for s in self.trained_studies for c in self.cells(s) if c.is_snapshot
                       and all(str(c.model_wildcards()[k]) == want[k] for k in keys)})

    def dataset_spec(self, token: str) -> str:
        """The base dataset spec (e.g. ``cifar:automobile``) of a path token (``cifar-automobile``)."""
        for name in self.trained_studies:
            block = self.cfg.block(name)
            if getattr(block, "dataset", None) and dataset_token(block.dataset) == token:
                return block.dataset
        raise MemgenError(f"dataset {token}: no selected study uses it")

    # -- targets -------------------------------------------------------------------------------------------
    def training_sets(self, study: str) -> list[dict]:
        """Wildcards of each distinct training set (without dummies) of a study's cells, in order."""
        seen = {}
        for c in self.cells(study):
            seen.setdefault((c.dataset_token, c.size, c.seed),
                            {"study": study, "dataset": c.dataset_token, "size": c.size, "dummy": "none",
                             "ndummy": 0, "seed": c.seed})
        return list(seen.values())

    def cell_paths(self, study: str, kind: str) -> list[str]:
        return [path(kind, **c.wildcards()) for c in self.cells(study)]

    def targets(self, study: str) -> list[str]:
        """Every final output of one study."""
        rec = registry.get(study)
        out = []
        if rec.expand is not None:
            out += [path("table", study=study), path("table_md", study=study)]
            out += [path("figure", study=study, figure=f) for f in rec.figures]
            if rec.galleries:
                out += self.cell_paths(study, "gallery")
        for kind in rec.outputs:
            if rec.per_training_set:
                out += [path(kind, **wc) for wc in self.training_sets(study)]
            else:
                out.append(path(kind, study=study))
        return out

    def all_targets(self) -> list[str]:
        return [t for s in self.cfg.studies for t in self.targets(s)]

    # -- inputs of the rules that are not per cell -----------------------------------------------------------
    def figure_inputs(self, study: str, figure: str) -> dict:
        """A figure's table and its reference tables (the optimal denoiser beside the capacity figure)."""
        table = path(FIGURE_TABLE.get(figure, "table"), study=study)
        reference = [path("table", study=study)] if figure in FIGURE_TABLE else []
        if figure == "capacity" and "optimal" in self.cfg.studies:
            reference = [path("opt_summary", **wc) for wc in self.training_sets("optimal")]
        return {"table": table, "reference": reference}

    def model_of(self, cell: Cell) -> str:
        """The checkpoint file a cell samples: its model, or a snapshot of its full run."""
        if cell.is_snapshot:
            return f"{path('snapshots', **cell.model_wildcards())}/step{cell.steps:07d}.pt"
        return path("model", **cell.model_wildcards())

    def model_dependency(self, cell: Cell) -> str:
        """What a cell's sampling waits for: the model, or the snapshot directory of its full run."""
        return path("snapshots" if cell.is_snapshot else "model", **cell.model_wildcards())

    def loss_inputs(self, study: str) -> dict:
        """Checkpoints (snapshot dirs and models) of a loss-gap study, its training sets and held-out sets."""
        block, out = self.cfg.block(study), {"models": [], "train": [], "heldout": []}
        for c in self.cells(study):
            wc = c.model_wildcards()
            out["models"].append(self.model_dependency(c))
            out["train"].append(path("data", **wc))
            out["heldout"].append(path("heldout", **{**wc, "size": block.heldout}))
        return {k: sorted(set(v), key=v.index) for k, v in out.items()}

    def loss_checkpoints(self, study: str) -> list[str]:
        return [self.model_of(c) for c in self.cells(study)]

    def classifier_of(self, study: str, seed) -> str:
        block = self.cfg.block(study)
        return path("classifier", study=study, dataset=dataset_token(block.dataset), dummy=block.dummy, seed=seed)

    def classifier_sets(self, study: str, dataset: str, dummy: str, seed) -> dict:
        """Fresh images of the base and the dummy kind (disjoint from any training set) for the classifier."""
        n = max(self.cfg.block(study).size, 256)
        return {side: path("classifier_data", dataset=dataset, dummy=dummy, size=n, seed=seed, side=side)
                for side in ("base", "dummy")}

    def source_cells(self, study: str, kind: str) -> list[str]:
        """Per-cell files of the cells a study reads (the criterion reads the capacity grid)."""
        return self.cell_paths(study, kind)

    def source_data(self, study: str) -> list[str]:
        return [path("data", **c.model_wildcards()) for c in self.cells(study)]
