"""What the study modules share: a study's step budget and batch size, its samples per model, its replicate table."""

from __future__ import annotations

from memgen.studies.paths import path


def train_settings(cfg, block) -> tuple[int, int]:
    """(steps, batch_size) of a study's cells: its own ``train`` override where set, else the config's ``train``."""
    over = getattr(block, "train", None)
    steps = getattr(over, "steps", None) if over is not None else None
    batch = getattr(over, "batch_size", None) if over is not None else None
    return steps or cfg.train.steps, batch or cfg.train.batch_size


def num_samples(cfg, block) -> int:
    """Samples per model (per sampled class): the study's ``num_samples`` where set, else ``sample.num_samples``."""
    return getattr(block, "num_samples", 0) or cfg.sample.num_samples


def replicates(grid, study: str) -> dict:
    """A table or figure input: the study's own replicate table, as ``table``."""
    return {"table": path("table", study=study, table="replicates")}
