"""Dummy data (Yoon et al. Hypothesis 2): base images alone against base + dummies, on Mondrian (Figures 3-4) and
on CIFAR-10 cars (Figures 5-6), and trained unconditionally with the samples classified (Appendix C.1)."""

from __future__ import annotations

import math

from memgen.studies.cell import Cell
from memgen.studies.common import num_samples, replicates, train_settings
from memgen.studies.record import Plot, Study, register


def expand(name: str, block, cfg) -> list[Cell]:
    """Base alone (unconditional) vs base + k dummies (class-conditional, sampling the base class), plus an
    exposure-matched twin per dummy cell trained until base images are seen as often as without dummies."""
    steps, batch = train_settings(cfg, block)
    out = []
    for s in cfg.seeds:
        for w in block.widths:
            for k in block.ndummy:
                cond = k > 0 and block.conditional
                classes = (0,) if cond else None
                common = dict(study=name, dataset=block.dataset, width=w, size=block.size,
                              dummy=block.dummy if k else "none", ndummy=k, batch_size=batch, conditional=cond,
                              seed=s, num_samples=num_samples(cfg, block), sample_classes=classes)
                out.append(Cell(steps=steps, **common))
                if k and block.exposure_matched:
                    matched = math.ceil(steps * (block.size + k) / block.size)
                    out.append(Cell(steps=matched, exposure="matched", **common))
    return out


def expand_unconditional(name: str, block, cfg) -> list[Cell]:
    """One base + dummies cell per width and seed, unconditional (Appendix C.1)."""
    steps, batch = train_settings(cfg, block)
    k = block.ndummy
    return [Cell(name, block.dataset, w, block.size, block.dummy if k else "none", k, steps, batch, False, s,
                 num_samples(cfg, block))
            for w in block.widths for s in cfg.seeds]


FIGURE = Plot("dummies", "memgen.analysis.study_figures:dummies_figure", replicates)

for _record in (
    Study("dummies_mondrian", "Dummy data on Mondrian: base alone vs base + GM dummies (Hypothesis 2, Figures 3-4)",
          expand, figures=(FIGURE,), galleries=True),
    Study("dummies_cifar", "Dummy data on CIFAR-10 cars (Hypothesis 2, Figures 5-6)", expand, figures=(FIGURE,),
          galleries=True),
    Study("unconditional_dummies", "Base + dummies trained unconditionally, samples classified (Appendix C.1)",
          expand_unconditional, galleries=True, classify=True),
):
    register(_record)
