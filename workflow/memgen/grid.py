"""The experiment grid: each study of the seeds expands into cells, one trained model each.

A cell is named by the path grammar ``w{width}-n{size}-{dummy}{ndummy}-it{steps}-b{batch}-{cond}-s{seed}``: UNet
width, base training images, dummy kind and count (``none0`` without dummies), optimizer steps, batch size,
``cond``/``uncond`` and seed. Everything that changes the trained model is in the name, so a model is trained once
under ``models/{dataset}/`` and shared by every experiment that uses it (the capacity cell at N=32 is also the
dummy-free baseline of the dummies study). Steps are in the name because an exposure-matched twin differs from its
dummy cell only by its step budget. What only sampling needs (how many samples, which classes) follows from the
experiment's config and is looked up with `find_cell`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from memgen.errors import MemgenError


@dataclass(frozen=True)
class Cell:
    experiment: str
    width: int
    size: int
    dummy: str
    ndummy: int
    steps: int
    seed: int
    dataset: str
    conditional: bool
    batch_size: int
    num_samples: int
    sample_classes: tuple[int, ...] | None = None  # None: every trained class
    exposure: str = "equal_steps"  # or "matched": steps scaled so base images are seen as often as without dummies
    train_steps: int | None = None  # the model's step budget when this cell evaluates an earlier snapshot of it

    @property
    def budget(self) -> int:
        return self.train_steps or self.steps

    @property
    def is_snapshot(self) -> bool:
        return self.budget != self.steps

    def model_wildcards(self) -> dict:
        """Wildcards of the trained model this cell samples (its snapshot's full run for a snapshot cell)."""
        return {**self.wildcards(), "steps": self.budget}

    @property
    def cond(self) -> str:
        return "cond" if self.conditional else "uncond"

    @property
    def name(self) -> str:
        return (f"w{self.width}-n{self.size}-{self.dummy}{self.ndummy}-it{self.steps}-b{self.batch_size}"
                f"-{self.cond}-s{self.seed}")

    @property
    def dataset_token(self) -> str:
        return dataset_token(self.dataset)

    def wildcards(self) -> dict:
        return {"experiment": self.experiment, "dataset": self.dataset_token, "width": self.width, "size": self.size,
                "dummy": self.dummy, "ndummy": self.ndummy, "steps": self.steps, "batch": self.batch_size,
                "cond": self.cond, "seed": self.seed}

    @property
    def n_train(self) -> int:
        return self.size + self.ndummy

    @property
    def epochs_per_image(self) -> float:
        """Passes over each training image (uniform sampling): steps * batch / (base + dummy images)."""
        return self.steps * self.batch_size / self.n_train

    @property
    def base_presentations(self) -> float:
        """Draws of base images in the whole run: steps * batch * (base share of the set). An exposure-matched
        twin has as many as its dummy-free cell."""
        return self.steps * self.batch_size * self.size / self.n_train


def dataset_token(dataset: str) -> str:
    """A path-safe name of a base dataset spec: ``cifar:automobile`` -> ``cifar-automobile``; an image folder
    becomes ``folder-<hash of its path>``."""
    import hashlib

    if dataset.startswith("folder:"):
        return "folder-" + hashlib.sha256(dataset[7:].encode()).hexdigest()[:10]
    return dataset.replace(":", "-")


def dataset_specs(config: dict) -> dict[str, str]:
    """token -> dataset spec for every dataset an experiment uses."""
    return {dataset_token(e["dataset"]): e["dataset"] for e in config["experiments"].values() if "dataset" in e}


def _train(config: dict, exp: dict) -> tuple[int, int]:
    """(steps, batch_size) of an experiment: its own `train` overrides, else the global train section."""
    over = exp.get("train") or {}
    steps, batch = over.get("steps"), over.get("batch_size")
    return steps or config["train"]["steps"], batch or config["train"]["batch_size"]


def _num_samples(config: dict, exp: dict) -> int:
    return exp.get("num_samples") or config["sample"]["num_samples"]


def _capacity(name: str, exp: dict, config: dict) -> list[Cell]:
    steps, batch = _train(config, exp)
    return [Cell(name, w, n, "none", 0, steps, s, exp["dataset"], False, batch, _num_samples(config, exp))
            for w in exp["widths"] for n in exp["sizes"] for s in config["seeds"]]


def _dummies(name: str, exp: dict, config: dict) -> list[Cell]:
    """Base alone (unconditional) vs base + k dummies (class-conditional, sampling the base class), plus an
    exposure-matched twin per dummy cell trained until base images are seen as often as without dummies."""
    steps, batch = _train(config, exp)
    out = []
    for s in config["seeds"]:
        for w in exp["widths"]:
            for k in exp["counts"]:
                cond = k > 0 and exp.get("conditional", True)
                classes = (0,) if cond else None
                base = Cell(name, w, exp["size"], exp["dummy"] if k else "none", k, steps, s, exp["dataset"], cond,
                            batch, _num_samples(config, exp), classes)
                out.append(base)
                if k and exp.get("exposure_matched", False):
                    matched = math.ceil(steps * (exp["size"] + k) / exp["size"])
                    out.append(Cell(name, w, exp["size"], exp["dummy"], k, matched, s, exp["dataset"], cond, batch,
                                    _num_samples(config, exp), classes, exposure="matched"))
    return out


def _classes(name: str, exp: dict, config: dict) -> list[Cell]:
    """Majority + minority classes, class-conditional, samples from every class (Hypothesis 3)."""
    steps, batch = _train(config, exp)
    return [Cell(name, w, total - exp["minority_size"], exp["minority"], exp["minority_size"], steps, s,
                 exp["dataset"], True, batch, _num_samples(config, exp))
            for w in exp["widths"] for total in exp["totals"] for s in config["seeds"]]


def _dummy_kinds(name: str, exp: dict, config: dict) -> list[Cell]:
    """Base alone + base with each dummy kind and count (the follow-up report). Held-out real images are the
    base's own class, so that model is unconditional, as in the report."""
    steps, batch = _train(config, exp)
    out = []
    for s in config["seeds"]:
        for w in exp["widths"]:
            out.append(Cell(name, w, exp["size"], "none", 0, steps, s, exp["dataset"], False, batch,
                            _num_samples(config, exp)))
            for kind in exp["kinds"]:
                for k in exp["counts"]:
                    cond = kind != "heldout"
                    out.append(Cell(name, w, exp["size"], kind, k, steps, s, exp["dataset"], cond, batch,
                                    _num_samples(config, exp), (0,) if cond else None))
    return out


def _single(name: str, exp: dict, config: dict) -> list[Cell]:
    """One base (+ optional dummies) cell per width and seed: the loss gap and unconditional-dummies studies."""
    steps, batch = _train(config, exp)
    k = exp.get("count", 0)
    return [Cell(name, w, exp["size"], exp.get("dummy", "none") if k else "none", k, steps, s, exp["dataset"],
                 False, batch, _num_samples(config, exp))
            for w in exp["widths"] for s in config["seeds"]]


def _snapshots(name: str, exp: dict, config: dict) -> list[Cell]:
    """One cell per snapshot step of one training run (trained to the last snapshot): memorization onset and the
    loss gap over training time (Kaiser & Kollmann)."""
    _, batch = _train(config, exp)
    budget = max(exp["snapshots"])
    return [Cell(name, w, exp["size"], "none", 0, step, s, exp["dataset"], False, batch, _num_samples(config, exp),
                 train_steps=budget)
            for w in exp["widths"] for s in config["seeds"] for step in sorted(exp["snapshots"])]


def snapshot_steps(config: dict, model_wildcards) -> list[int]:
    """Steps at which the model named by these wildcards must save snapshots (for enabled loss-gap studies)."""
    get = (lambda k: model_wildcards[k]) if isinstance(model_wildcards, dict) else (lambda k: getattr(model_wildcards, k))
    keys = ("dataset", "width", "size", "dummy", "ndummy", "steps", "batch", "cond", "seed")
    want = {k: str(get(k)) for k in keys}
    steps = set()
    if config["experiments"]["loss_gap"]["enabled"]:
        for cell in cells(config, "loss_gap"):
            have = cell.model_wildcards()
            if all(str(have[k]) == want[k] for k in keys) and cell.is_snapshot:
                steps.add(cell.steps)
    return sorted(steps)


EXPANDERS: dict[str, Callable[[str, dict, dict], list[Cell]]] = {
    "capacity": _capacity,
    "dummies_mondrian": _dummies,
    "dummies_cifar": _dummies,
    "classes": _classes,
    "dummy_kinds": _dummy_kinds,
    "unconditional_dummies": _single,
    "loss_gap": _snapshots,
}


def cells(config: dict, experiment: str) -> list[Cell]:
    """Every cell of one experiment of a validated config, in a stable order."""
    if experiment not in EXPANDERS:
        raise MemgenError(f"experiments.{experiment}: no cells are trained for this experiment")
    return EXPANDERS[experiment](experiment, config["experiments"][experiment], config)


def enabled_trained_experiments(config: dict) -> list[str]:
    return [name for name, exp in config["experiments"].items() if exp.get("enabled") and name in EXPANDERS]


def find_cell(config: dict, wildcards) -> Cell:
    """The cell whose path wildcards these are (a Snakemake `wildcards` object or a dict)."""
    get = (lambda k: wildcards[k]) if isinstance(wildcards, dict) else (lambda k: getattr(wildcards, k))
    exp = get("experiment")
    keys = ("width", "size", "dummy", "ndummy", "steps", "batch", "cond", "seed")
    want = {k: str(get(k)) for k in keys}
    for cell in cells(config, exp):
        have = cell.wildcards()
        if all(str(have[k]) == want[k] for k in keys):
            return cell
    raise MemgenError(f"no cell {exp}/w{want['width']}-n{want['size']}-{want['dummy']}{want['ndummy']}-it{want['steps']}"
                      f"-b{want['batch']}-{want['cond']}-s{want['seed']} in the config")


def train_spec(config: dict, steps: int, batch_size: int) -> dict:
    """The training-relevant config of one model: the global sections with the cell's steps and batch size."""
    from memgen.config import training_spec

    spec = training_spec(config)
    spec["train"]["steps"] = int(steps)
    spec["train"]["batch_size"] = int(batch_size)
    return spec
