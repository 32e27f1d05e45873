"""The dummy-kinds follow-up report: base images + {1,2,4}k dummies of four kinds (Gaussian mixture, GM + base
Fourier hybrid, held-out base images, geometric shapes)."""

from __future__ import annotations

from memgen.studies import quotes
from memgen.studies.cell import Cell
from memgen.studies.common import num_samples, train_settings
from memgen.studies.figure_inputs import outcome_inputs
from memgen.studies.record import Plot, Study, register


def expand(name: str, block, cfg) -> list[Cell]:
    """Base alone + base with each dummy kind and count. Held-out real images are the base's own class, so that
    model is unconditional, as in the report."""
    steps, batch = train_settings(cfg, block)
    n = num_samples(cfg, block)
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


# The report's ordering (2k cars) of each kind against Gaussian-mixture dummies: the hybrid best (fewer
# replicates), held-out cars catching up only with more, shapes not helping (more replicates than GM).
AGAINST_GM = {"hybrid": -1, "heldout": 1, "shapes": 1}


def comparisons(grid, study: str) -> list[dict]:
    """Per width and dummy count (paired: every cell of a seed shares its base images), generalization claims as
    the report frames them ("motivating IDDPM to generalize"): each kind lowers the base class's replicates below
    the base alone and raises its novel-and-valid samples; each other kind against GM in the report's direction."""
    block = grid.cfg.block(study)
    out = []
    claim = {"paired": True, "table": "replicates", "claim": "generalization"}
    for w in block.widths:
        none = {"width": w, "dummy": "none", "label": 0}
        for k in block.ndummy:
            cell = {kind: {"width": w, "dummy": kind, "ndummy": k, "label": 0} for kind in block.kinds}
            out += [{"name": f"{kind} dummies lower replicates", "a": none, "b": cell[kind], "expected": -1,
                     "quote": quotes.REPORT_KINDS.get(kind, quotes.H2), **claim} for kind in block.kinds]
            if "gm" in cell:
                out += [{"name": f"{kind} vs GM dummies (the report)", "a": cell["gm"], "b": cell[kind],
                         "expected": AGAINST_GM[kind], "quote": quotes.REPORT_KINDS.get(kind, quotes.H2),
                         **claim}
                        for kind in block.kinds if kind in AGAINST_GM]
    return out


STUDY = register(Study(
    "dummy_kinds", "Four kinds of dummy data (the follow-up report)", expand,
    figures=(Plot("dummy_kinds", "memgen.analysis.study_figures:dummy_kinds_figure", outcome_inputs),),
    comparisons=comparisons,
))
