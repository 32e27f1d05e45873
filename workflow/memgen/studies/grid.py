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

MODEL_KEYS = ("dataset", "width", "size", "dummy", "ndummy", "steps", "batch", "cond", "seed")  # a model's path


def model_key(wildcards: dict) -> tuple:
    """What names a trained model (shared by every cell and study that samples it)."""
    return tuple(str(wildcards[k]) for k in MODEL_KEYS)


# Which tables a figure kind is drawn from: the study's replicate table unless listed here.
FIGURE_TABLE = {"loss_gap": "losses", "agreement": "agreement", "dichotomy": "dichotomy_table"}
PAIRED_WITH = "capacity"  # the study whose models are side A of the disjoint-split pairs


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
    def trained_studies(self) -> list[str]:
        """Every registered study with cells of its own whose grid expands: each is a target (``snakemake NAME``,
        selected or not), and what a model saves (its snapshots) must not depend on which studies are selected.
        A study that is not selected and whose block cannot expand (say, sizes its partner lacks) is left out;
        a selected one raises instead (`all_targets`)."""
        out = []
        for name, rec in registry.REGISTRY.items():
            if rec.expand is None:
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
        get = (lambda k: wildcards[k]) if isinstance(wildcards, dict) else (lambda k: getattr(wildcards, k))
        name = (f"w{get('width')}-n{get('size')}-{get('dummy')}{get('ndummy')}-it{get('steps')}-b{get('batch')}"
                f"-{get('cond')}-s{get('seed')}")
        cell = self._by_name.get((get("study"), name))
        if cell is None:
            raise MemgenError(f"no cell {get('study')}/{name} in the config")
        return cell

    @cached_property
    def _by_model(self) -> dict[tuple, Cell]:
        return {model_key(c.model_wildcards()): c for s in self.trained_studies for c in reversed(self.cells(s))}

    def cell_of_model(self, wildcards) -> Cell:
        """A cell that samples the model named by these wildcards (models are shared by cells and studies)."""
        get = (lambda k: wildcards[k]) if isinstance(wildcards, dict) else (lambda k: getattr(wildcards, k))
        cell = self._by_model.get(model_key({k: get(k) for k in MODEL_KEYS}))
        if cell is None:
            raise MemgenError(f"no cell in the config trains the model {dict((k, get(k)) for k in MODEL_KEYS)}")
        return cell

    def snapshot_steps(self, model_wildcards) -> list[int]:
        """Steps at which the model named by these wildcards saves EMA snapshots (for snapshot cells)."""
        get = (lambda k: model_wildcards[k]) if isinstance(model_wildcards, dict) \
            else (lambda k: getattr(model_wildcards, k))
        want = model_key({k: get(k) for k in MODEL_KEYS})
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
        if rec.expand is not None:
            if rec.galleries:
                out += self.cell_paths(study, "gallery")
            out += [path(kind, **c.wildcards()) for c in self.cells(study) if c.heldout for kind in rec.cell_outputs]
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
        """A figure's table and its reference tables (the optimal denoiser beside the capacity figure; the replicate
        tables of both sides beside the agreement)."""
        table = path(FIGURE_TABLE.get(figure, "table"), study=study)
        reference = [path("table", study=study)] if figure in ("loss_gap", "agreement") else []
        if figure == "agreement":
            reference.append(path("table", study=PAIRED_WITH))
        if figure == "capacity" and "optimal" in self.cfg.studies:
            reference = [path("opt_summary", **wc) for wc in self.training_sets("optimal")]
        return {"table": table, "reference": reference}

    def partner(self, cell: Cell) -> Cell:
        """Side A of a disjoint-split cell: the capacity cell of the same name."""
        return self._by_name[(PAIRED_WITH, cell.name)]

    def agreement_inputs(self, study: str) -> dict:
        """Per pair (in cell order): both sides' samples and training sets."""
        cells = self.cells(study)
        sides = [(self.partner(c), c) for c in cells]
        return {"samples_a": [path("samples", **a.wildcards()) for a, _ in sides],
                "samples_b": [path("samples", **b.wildcards()) for _, b in sides],
                "train_a": [path("data", **a.model_wildcards()) for a, _ in sides],
                "train_b": [path("data", **b.model_wildcards()) for _, b in sides],
                "scores_a": [path("scores", **a.wildcards()) for a, _ in sides],
                "scores_b": [path("scores", **b.wildcards()) for _, b in sides]}

    def scored_tables(self) -> list[str]:
        """The replicate tables of every selected study with cells, and the agreement tables: the dichotomy's input."""
        out = [path("table", study=s) for s in self.cfg.studies if registry.get(s).expand is not None]
        return out + [path(k, study=s) for s in self.cfg.studies for k in registry.get(s).outputs if k == "agreement"]

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

    def import_args(self, wildcards) -> tuple[str, str]:
        """(checkpoint file, import-checkpoint flags) of the model trained elsewhere that these wildcards name."""
        cell = self.cell_of_model(wildcards)
        m = next(m for m in self.cfg.block(cell.study).models if m["checkpoint"] == cell.checkpoint)
        flags = (f"--from {m['source']} --image-size {self.cfg.image_size} --num-heads {m['num_heads']}"
                 f" --norm-groups {m['norm_groups']} --diffusion-steps {m['diffusion_steps']}"
                 f" --noise-schedule {m['noise_schedule']}")
        if m["class_names"]:
            flags += " --class-names " + " ".join(m["class_names"])
        return m["checkpoint"], flags

    def cell_loss_inputs(self, wildcards) -> dict:
        """A model's checkpoint, training set and held-out images of the same source (the external study)."""
        cell = self.find(wildcards)
        return {"model": self.model_of(cell), "train": path("data", **cell.model_wildcards()),
                "heldout": path("heldout", dataset=cell.dataset_token, size=cell.heldout, seed=cell.seed)}

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
        from memgen.data.cifar import pool_size

        from_base = cell.size * (2 if split else 1) + (cell.ndummy if cell.dummy in ("heldout", "hybrid") else 0)
        limit = pool_size(base)  # held-out images are cut from the far end of the pool: they must not reach
        if limit is not None and from_base + n > limit:  # the training set's slots at its start
            return []
        return [path("heldout", dataset=dataset_token(base), size=n, seed=cell.seed)]  # shared by a split's sides

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
