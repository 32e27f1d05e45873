"""How each kind of study expands into cells: pure functions of (study name, its config block, the Config).

The order of the returned cells is stable (it fixes the order of table rows and of jobs).
"""

from __future__ import annotations

import math

from memgen.studies.cell import Cell


def _train(cfg, block) -> tuple[int, int]:
    """(steps, batch_size) of a study: its own ``train`` overrides, else the global train section."""
    over = getattr(block, "train", None)
    steps = getattr(over, "steps", None) if over is not None else None
    batch = getattr(over, "batch_size", None) if over is not None else None
    return steps or cfg.train.steps, batch or cfg.train.batch_size


def _num_samples(cfg, block) -> int:
    return getattr(block, "num_samples", 0) or cfg.sample.num_samples


def capacity(name: str, block, cfg) -> list[Cell]:
    """Every width x training-set size x seed, unconditional (Figure 1)."""
    steps, batch = _train(cfg, block)
    return [Cell(name, block.dataset, w, n, "none", 0, steps, batch, False, s, _num_samples(cfg, block))
            for w in block.widths for n in block.sizes for s in cfg.seeds]


def dummies(name: str, block, cfg) -> list[Cell]:
    """Base alone (unconditional) vs base + k dummies (class-conditional, sampling the base class), plus an
    exposure-matched twin per dummy cell trained until base images are seen as often as without dummies."""
    steps, batch = _train(cfg, block)
    out = []
    for s in cfg.seeds:
        for w in block.widths:
            for k in block.ndummy:
                cond = k > 0 and block.conditional
                classes = (0,) if cond else None
                common = dict(study=name, dataset=block.dataset, width=w, size=block.size,
                              dummy=block.dummy if k else "none", ndummy=k, batch_size=batch, conditional=cond,
                              seed=s, num_samples=_num_samples(cfg, block), sample_classes=classes)
                out.append(Cell(steps=steps, **common))
                if k and block.exposure_matched:
                    matched = math.ceil(steps * (block.size + k) / block.size)
                    out.append(Cell(steps=matched, exposure="matched", **common))
    return out


def classes(name: str, block, cfg) -> list[Cell]:
    """Majority + minority classes, class-conditional, samples from every class (Hypothesis 3)."""
    steps, batch = _train(cfg, block)
    return [Cell(name, block.dataset, w, total - block.minority_size, block.minority, block.minority_size, steps,
                 batch, True, s, _num_samples(cfg, block))
            for w in block.widths for total in block.totals for s in cfg.seeds]


def dummy_kinds(name: str, block, cfg) -> list[Cell]:
    """Base alone + base with each dummy kind and count (the follow-up report). Held-out real images are the
    base's own class, so that model is unconditional, as in the report."""
    steps, batch = _train(cfg, block)
    n = _num_samples(cfg, block)
    out = []
    for s in cfg.seeds:
        for w in block.widths:
            out.append(Cell(name, block.dataset, w, block.size, "none", 0, steps, batch, False, s, n))
            for kind in block.kinds:
                for k in block.ndummy:
                    cond = kind != "heldout"
                    out.append(Cell(name, block.dataset, w, block.size, kind, k, steps, batch, cond, s, n,
                                    (0,) if cond else None))
    return out


def single(name: str, block, cfg) -> list[Cell]:
    """One base + dummies cell per width and seed, unconditional (Appendix C.1)."""
    steps, batch = _train(cfg, block)
    k = block.ndummy
    return [Cell(name, block.dataset, w, block.size, block.dummy if k else "none", k, steps, batch, False, s,
                 _num_samples(cfg, block))
            for w in block.widths for s in cfg.seeds]


def snapshots(name: str, block, cfg) -> list[Cell]:
    """One cell per snapshot step of one training run (trained to the last snapshot): memorization onset and the
    loss gap over training time (Kaiser & Kollmann)."""
    _, batch = _train(cfg, block)
    budget = max(block.snapshots)
    return [Cell(name, block.dataset, w, block.size, "none", 0, step, batch, False, s, _num_samples(cfg, block),
                 train_steps=budget)
            for w in block.widths for s in cfg.seeds for step in sorted(block.snapshots)]


def external(name: str, block, cfg) -> list[Cell]:
    """One cell per listed checkpoint: its width, step and conditioning read from the file (`memgen.interop.facts`),
    its training set from the entry; sampled from every trained class."""
    from memgen.errors import MemgenError
    from memgen.interop.facts import checkpoint_facts

    from memgen.data.cifar import pool_size

    cells = []
    for i, m in enumerate(block.models):
        limit = pool_size(m["dataset"]) if m["heldout"] else None
        if limit is not None and m["size"] + m["heldout"] > limit:  # held-out images would be training images
            raise MemgenError(f"{name}.models[{i}]: size {m['size']} + heldout {m['heldout']} images of "
                              f"{m['dataset']}, which has {limit}: lower heldout (0 = no loss gap)")
        facts = checkpoint_facts(m["checkpoint"], m["source"])
        cells.append(Cell(name, m["dataset"], facts["width"], m["size"], "none", 0, facts["step"], m["batch_size"],
                          facts["conditional"], m["seed"], _num_samples(cfg, block), checkpoint=m["checkpoint"],
                          source=m["source"], heldout=m["heldout"]))
    names = [c.name for c in cells]
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise MemgenError(f"{name}.models: two checkpoints make the cell {twice} (same width, size, step and seed); "
                          "give them different seeds")
    return cells


def disjoint_split(name: str, block, cfg) -> list[Cell]:
    """Side B of each disjoint-split pair: per capacity cell of the listed widths and sizes, a model of the same
    width, step budget and seed trained on ``split:<dataset>`` (a set of the same size disjoint from the capacity
    cell's), sampled with the same seed, so sample i of both models starts from the same noise. The name of a
    side-B cell equals its partner's (only the dataset differs)."""
    from memgen.errors import MemgenError

    grid = cfg.block("capacity")
    widths = block.widths or (min(grid.widths),)
    sizes = block.sizes or grid.sizes
    missing = sorted(set(widths) - set(grid.widths)) or sorted(set(sizes) - set(grid.sizes))
    if missing:
        raise MemgenError(f"{name}: widths/sizes {missing} are not in the capacity grid, whose models are side A")
    return [Cell(name, f"split:{c.dataset}", c.width, c.size, "none", 0, c.steps, c.batch_size, False, c.seed,
                 c.num_samples)
            for c in capacity("capacity", grid, cfg) if c.width in widths and c.size in sizes]
