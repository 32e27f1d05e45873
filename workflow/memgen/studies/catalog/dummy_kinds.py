"""The dummy-kinds follow-up report: base images + {1,2,4}k dummies of four kinds (Gaussian mixture, GM + base
Fourier hybrid, held-out base images, geometric shapes)."""

from __future__ import annotations

from memgen.studies.cell import Cell
from memgen.studies.common import num_samples, replicates, train_settings
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


STUDY = register(Study(
    "dummy_kinds", "Four kinds of dummy data (the follow-up report)", expand,
    figures=(Plot("dummy_kinds", "memgen.analysis.study_figures:dummy_kinds_figure", replicates),),
))
