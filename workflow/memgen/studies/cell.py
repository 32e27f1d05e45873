"""A cell: one point of a study's grid, one trained model (or one snapshot of it), sampled and scored.

A cell is named by the path grammar ``w{width}-n{size}-{dummy}{ndummy}-it{steps}-b{batch}-{cond}-s{seed}``: UNet
width, base training images, the kind and number of the training set's second component (``none0`` without one),
optimizer steps, batch size, ``cond``/``uncond`` and seed. Everything that changes the trained model is in the
name, so a model is trained once under ``models/{dataset}/`` and shared by every study that uses it.

The second component (label 1) is called the dummy: dummy data in the dummies studies, the minority class in the
classes study.

A cell holds what names its model and what the generic pipeline needs to sample and score it; whatever else a
study attaches to its cells (held-out images for a loss gap, the flags a model trained elsewhere is imported with)
is in ``extras``, read by the study's own hooks (`extra`).

Steps: ``steps`` is the training step of the weights the cell samples (the ``it{steps}`` of its name and the
``steps`` column of its tables); ``train_steps`` the step budget of the run that produced them (equal, except for
a snapshot cell, which evaluates an earlier snapshot of a longer run). A study's ``train.steps`` (or the config's)
sets that budget.
"""

from __future__ import annotations

from dataclasses import dataclass

from memgen.exposure import dataset_token, epochs_per_image, presentations  # noqa: F401  (re-exported)
from memgen.studies.paths import CELL


@dataclass(frozen=True)
class Cell:
    study: str
    dataset: str  # base dataset spec (mondrian, cifar:automobile, folder:...)
    width: int
    size: int  # base images (label 0)
    dummy: str  # kind of the second component (label 1), "none" without one
    ndummy: int  # its images
    steps: int  # the step whose weights are sampled
    batch_size: int
    conditional: bool
    seed: int
    num_samples: int  # per sampled class
    sample_classes: tuple[int, ...] | None = None  # None: every trained class
    exposure: str = "equal_steps"  # or "matched": steps scaled so base images are seen as often as without dummies
    train_steps: int = 0  # the run's step budget; 0 = steps
    checkpoint: str = ""  # a model trained elsewhere: its file, imported instead of trained
    weights: str = "ema"  # the weights sampled and scored: ema or raw (the model's own, un-averaged)
    sample_steps: int = 0  # respaced reverse steps of its samples; 0 = the config's sample.steps
    extras: tuple[tuple[str, object], ...] = ()  # the study's own values (a dict is accepted), read by `extra`

    def __post_init__(self) -> None:
        if not self.train_steps:
            object.__setattr__(self, "train_steps", self.steps)
        if isinstance(self.extras, dict):
            object.__setattr__(self, "extras", tuple(sorted(self.extras.items())))

    def extra(self, key: str, default=None):
        """A value the study attached to the cell (``extras``), or ``default``."""
        return dict(self.extras).get(key, default)

    @property
    def is_snapshot(self) -> bool:
        return self.train_steps != self.steps

    @property
    def cond(self) -> str:
        return "cond" if self.conditional else "uncond"

    @property
    def name(self) -> str:
        return CELL.format(**self.wildcards())

    @property
    def dataset_token(self) -> str:
        return dataset_token(self.dataset)

    def wildcards(self) -> dict:
        """The path wildcards of this cell's samples and scores."""
        return {"study": self.study, "dataset": self.dataset_token, "width": self.width, "size": self.size,
                "dummy": self.dummy, "ndummy": self.ndummy, "steps": self.steps, "batch": self.batch_size,
                "cond": self.cond, "seed": self.seed}

    def model_wildcards(self) -> dict:
        """Wildcards of the trained model this cell samples (for a snapshot cell, its full run)."""
        return {**self.wildcards(), "steps": self.train_steps}

    @property
    def n_sampled(self) -> int:
        """Samples drawn for the cell: ``num_samples`` per sampled class (a conditional cell has two classes, the
        base and the second component)."""
        classes = len(self.sample_classes) if self.sample_classes else (2 if self.conditional else 1)
        return self.num_samples * classes

    @property
    def n_train_total(self) -> int:
        """Images in the training set: base + second component (the tables' ``n_train`` counts one label's)."""
        return self.size + self.ndummy

    @property
    def epochs_per_image(self) -> float:
        return epochs_per_image(self.steps, self.batch_size, self.n_train_total)

    def meta(self) -> dict:
        """The grid columns every table of this cell carries."""
        return {"study": self.study, "dataset": self.dataset_token, "width": self.width, "size": self.size,
                "dummy": self.dummy, "ndummy": self.ndummy, "seed": self.seed, "steps": self.steps,
                "batch_size": self.batch_size, "conditional": int(self.conditional), "exposure": self.exposure,
                "weights": self.weights, "n_train_total": self.n_train_total,
                "epochs_per_image": self.epochs_per_image}

