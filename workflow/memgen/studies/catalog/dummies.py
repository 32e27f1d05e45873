"""Dummy data (Yoon et al. Hypothesis 2): base images alone against base + dummies, on Mondrian (Figures 3-4) and
on CIFAR-10 cars (Figures 5-6), and trained unconditionally with the samples classified (Appendix C.1)."""

from __future__ import annotations

import math

from memgen.studies.cell import Cell
from memgen.studies.common import num_samples, train_settings
from memgen.studies.figure_inputs import outcome_inputs
from memgen.studies.record import Plot, Study, get, register


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


def comparisons(grid, study: str) -> list[dict]:
    """Hypothesis 2 per width and dummy count, each pair of cells sharing a seed's base images (paired): dummies
    lower the base class's replicates; so does the exposure-matched twin (its base images seen as often as
    without dummies) if the dummies' effect is more than fewer presentations; the twin's extra steps raise them."""
    block = grid.cfg.block(study)
    if 0 not in block.ndummy:
        return []
    out = []
    for w in block.widths:
        base = {"width": w, "ndummy": 0, "label": 0}
        for k in (k for k in block.ndummy if k):
            with_dummies = {"width": w, "ndummy": k, "exposure": "equal_steps", "label": 0}
            out.append({"name": "dummies lower replicates (Figures 3-6)", "a": base, "b": with_dummies,
                        "expected": -1, "paired": True, "table": "replicates"})
            if block.exposure_matched:
                twin = with_dummies | {"exposure": "matched"}
                out += [{"name": "... also at matched base-image exposure", "a": base, "b": twin, "expected": -1,
                         "paired": True, "table": "replicates"},
                        {"name": "the twin's extra steps raise replicates", "a": with_dummies, "b": twin,
                         "expected": 1, "paired": True, "table": "replicates"}]
    return out


def unconditional_comparisons(grid, study: str) -> list[dict]:
    """Appendix C.1: the base class's replicates of the unconditional base + dummies model against the base-alone
    cell of a selected dummies study with the same base images, width and steps (paired by seed); none when no
    such cell is planned."""
    mine = grid.cells(study)
    out = []
    for other in (s for s in grid.cfg.studies if s != study and get(s).expand is expand):
        alone = {(c.dataset, c.width, c.size, c.steps, c.batch_size) for c in grid.cells(other) if c.ndummy == 0}
        for w in sorted({c.width for c in mine if (c.dataset, c.width, c.size, c.steps, c.batch_size) in alone}):
            out.append({"name": "unconditional dummies lower replicates (Appendix C.1)",
                        "a": {"study": other, "width": w, "ndummy": 0, "label": 0},
                        "b": {"study": study, "width": w, "label": 0}, "expected": -1, "paired": True,
                        "table": ["replicates", f"{other}/replicates"]})
    return out


FIGURE = Plot("dummies", "memgen.analysis.study_figures:dummies_figure", outcome_inputs)

for _record in (
    Study("dummies_mondrian", "Dummy data on Mondrian: base alone vs base + GM dummies (Hypothesis 2, Figures 3-4)",
          expand, figures=(FIGURE,), galleries=True, comparisons=comparisons),
    Study("dummies_cifar", "Dummy data on CIFAR-10 cars (Hypothesis 2, Figures 5-6)", expand, figures=(FIGURE,),
          galleries=True, comparisons=comparisons),
    Study("unconditional_dummies", "Base + dummies trained unconditionally, samples classified (Appendix C.1)",
          expand_unconditional, galleries=True, classify=True, comparisons=unconditional_comparisons),
):
    register(_record)
