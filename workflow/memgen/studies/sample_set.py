"""A sample set: the samples drawn once from one checkpoint, shared by every cell (of any study) that scores them.

Samples depend only on the checkpoint, the weights sampled (EMA or raw), the labels asked for, the count, the
respaced steps and the sampling seed (`memgen.sample`: sample i draws its noise from a counter keyed by the seed
and i, whatever its batch), and on the sampler's numerics, which the config sets once for every job. So they are
drawn once per ``samples/{dataset}/{CELL}/{ckpt}-{weights}-{labels}-x{num_samples}-t{sample_steps}-s{sample_seed}/``
(`memgen.studies.paths`), CELL naming the trained model as under ``models/``, and each study's cell folder holds
what the study makes of them (its scores, its classifier's labels, its gallery). Tokens:

    ckpt          final (the model's last weights, model.pt), step{N} (the snapshot at step N of a longer run,
                  snapshots/step{N:07d}.pt) or imported (a model trained elsewhere, imported.pt)
    weights       ema or raw (``memgen sample --weights model``)
    labels        all (every class the model was trained on; the one class of an unconditional model) or
                  y{c}[-{c}...] (those classes, in order)
    num_samples   samples per sampled class
    sample_steps  respaced reverse steps; sample_seed: the sampling seed (a cell samples with its training seed)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from memgen.errors import MemgenError

MODEL_FIELDS = ("dataset", "width", "size", "dummy", "ndummy", "steps", "batch", "cond", "seed")
WEIGHTS = {"ema": "ema", "raw": "model"}  # path token -> `memgen sample --weights`


def labels_token(classes) -> str:
    """``all`` for None (every trained class), else ``y`` and the classes joined by ``-``: (0,) -> ``y0``."""
    return "all" if classes is None else "y" + "-".join(str(int(c)) for c in classes)


def parse_labels(token: str) -> tuple[int, ...] | None:
    """The inverse of `labels_token`."""
    if token == "all":
        return None
    try:
        return tuple(int(c) for c in token.removeprefix("y").split("-"))
    except ValueError:
        raise MemgenError(f"labels {token!r}: expected 'all' or y<class>[-<class>...]") from None


@dataclass(frozen=True)
class SampleSet:
    """The identity of one sample set: the model (its path wildcards, ``steps`` being its run's step budget),
    the checkpoint of it, and how it is sampled (see the module docstring for the tokens)."""

    dataset: str
    width: int
    size: int
    dummy: str
    ndummy: int
    steps: int
    batch: int
    cond: str
    seed: int
    ckpt: str
    weights: str
    labels: str
    num_samples: int
    sample_steps: int
    sample_seed: int

    def __post_init__(self) -> None:
        if self.weights not in WEIGHTS:
            raise MemgenError(f"weights {self.weights!r}: expected one of {', '.join(WEIGHTS)}")
        if self.ckpt not in ("final", "imported") and not (self.ckpt.startswith("step")
                                                          and self.ckpt[4:].isdigit()):
            raise MemgenError(f"checkpoint {self.ckpt!r}: expected final, imported or step<N>")
        if self.cond == "uncond" and self.labels != "all":
            raise MemgenError(f"labels {self.labels!r}: an unconditional model has one class (labels 'all')")
        parse_labels(self.labels)

    @classmethod
    def of(cls, cell, sample_steps: int, weights: str = "ema") -> SampleSet:
        """The samples a `memgen.studies.cell.Cell` scores: ``num_samples`` per class of its checkpoint (the final
        model, the snapshot at its ``steps`` or the imported file), sampled with its seed."""
        model = cell.model_wildcards()
        ckpt = "imported" if cell.checkpoint else (f"step{cell.steps}" if cell.is_snapshot else "final")
        labels = labels_token(cell.sample_classes if cell.conditional else None)
        return cls(**{k: model[k] for k in MODEL_FIELDS}, ckpt=ckpt, weights=weights, labels=labels,
                   num_samples=cell.num_samples, sample_steps=sample_steps, sample_seed=cell.seed)

    @classmethod
    def from_wildcards(cls, wildcards) -> SampleSet:
        """From the path wildcards of a sample set (a Snakemake ``wildcards`` object or a dict)."""
        get = (lambda k: wildcards[k]) if isinstance(wildcards, dict) else (lambda k: getattr(wildcards, k))
        ints = {"width", "size", "ndummy", "steps", "batch", "seed", "num_samples", "sample_steps", "sample_seed"}
        return cls(**{k: int(get(k)) if k in ints else str(get(k)) for k in cls.__dataclass_fields__})

    def wildcards(self) -> dict:
        return asdict(self)

    def model_wildcards(self) -> dict:
        """The wildcards of the model's folder under ``models/``."""
        return {k: getattr(self, k) for k in MODEL_FIELDS}

    @property
    def classes(self) -> tuple[int, ...] | None:
        """The classes sampled, in order; None = every class the model was trained on."""
        return parse_labels(self.labels)

    @property
    def snapshot_step(self) -> int | None:
        """The step of the snapshot sampled, or None for the final or imported weights."""
        return int(self.ckpt[4:]) if self.ckpt.startswith("step") else None

    @property
    def n_sampled(self) -> int:
        """Samples in the set: ``num_samples`` per sampled class (all classes of a conditional model: its two, the base
        and the second component, as `memgen.studies.cell.Cell.n_sampled` counts)."""
        classes = self.classes
        return self.num_samples * (len(classes) if classes else (2 if self.cond == "cond" else 1))

    def sample_args(self) -> str:
        """The `memgen sample` arguments that this identity fixes (the checkpoint file aside)."""
        classes = self.classes
        args = (f"--num-samples {self.num_samples} --steps {self.sample_steps} --seed {self.sample_seed}"
                f" --weights {WEIGHTS[self.weights]}")
        return args + (" --classes " + " ".join(map(str, classes)) if classes else "")
