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


def ladder(name: str, cells, along: str, fixed: tuple[str, ...], expected: int, paired: bool, *,
           measure: str = "replicate_fraction", table: str = "replicates", label: int | None = 0,
           claim: str | None = None, quote: str = "") -> list[dict]:
    """Comparison specs (`memgen.studies.record.Study.comparisons`) between neighbours along one grid column:
    for every combination of the ``fixed`` columns among ``cells`` (Cell attributes, also table columns), each
    value of ``along`` against the next larger one, ``expected`` +1 when the claim says the measure rises with
    it, -1 when it falls; ``label`` pins the sampled class (None: the table has no label column). ``claim`` and
    ``quote``: the claim's kind and the paper's sentence (`memgen.analysis.claims.Comparison`)."""
    groups: dict[tuple, set] = {}
    for cell in cells:
        groups.setdefault(tuple(getattr(cell, k) for k in fixed), set()).add(getattr(cell, along))
    specs = []
    for key, values in sorted(groups.items()):
        pinned = dict(zip(fixed, key)) | ({} if label is None else {"label": label})
        ordered = sorted(values)
        specs += [{"name": name, "a": pinned | {along: lo}, "b": pinned | {along: hi}, "measure": measure,
                   "expected": expected, "paired": paired, "table": table, "quote": quote}
                  | ({"claim": claim} if claim else {}) for lo, hi in zip(ordered, ordered[1:])]
    return specs
