"""Dummy data (Yoon et al. Hypothesis 2): base images alone against base + dummies, on Mondrian (Figures 3-4) and
on CIFAR-10 cars (Figures 5-6), and trained unconditionally with the samples classified (Appendix C.1)."""

from __future__ import annotations

import math

from memgen.studies import quotes
from memgen.studies.cell import Cell
from memgen.studies.classify import CLASSIFIER_JOBS, labelled_samples
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
    lower the base class's replicates AND raise its novel-and-valid samples (a generalization claim: "induce
    conceptual learning"); so does the exposure-matched twin (its base images seen as often as without dummies) if
    the dummies' effect is more than fewer presentations; the twin's extra steps raise replicates (memgen's
    control, a claim about training itself: no trained guard, since the shorter run's unfinished training is what
    it measures)."""
    block = grid.cfg.block(study)
    if 0 not in block.ndummy:
        return []
    out = []
    h2 = {"expected": -1, "paired": True, "table": "replicates", "claim": "generalization", "quote": quotes.H2}
    for w in block.widths:
        base = {"width": w, "ndummy": 0, "label": 0}
        for k in (k for k in block.ndummy if k):
            with_dummies = {"width": w, "ndummy": k, "exposure": "equal_steps", "label": 0}
            out.append({"name": "dummies lower replicates (Figures 3-6)", "a": base, "b": with_dummies, **h2})
            if block.exposure_matched:
                twin = with_dummies | {"exposure": "matched"}
                out += [{"name": "... also at matched base-image exposure", "a": base, "b": twin, **h2},
                        {"name": "the twin's extra steps raise replicates", "a": with_dummies, "b": twin,
                         "expected": 1, "paired": True, "table": "replicates", "claim": "measure",
                         "quote": quotes.TWIN}]
    return out


def unconditional_comparisons(grid, study: str) -> list[dict]:
    """Appendix C.1 against the base-alone cell of a selected dummies study with the same base images, width and
    steps (paired by seed): the unconditional base + dummies model's base class copies less and generalizes more
    (Hypothesis 2 again); and, against that study's conditional base + dummies cell on the same training set, it
    copies as much (no change within the equivalence margin: conditioning adds < 1% parameters). None when no such
    cell is planned."""
    mine = grid.cells(study)
    out = []
    for other in (s for s in grid.cfg.studies if s != study and get(s).expand is expand):
        theirs = grid.cells(other)
        alone = {(c.dataset, c.width, c.size, c.steps, c.batch_size) for c in theirs if c.ndummy == 0}
        same_set = {(c.dataset, c.width, c.size, c.dummy, c.ndummy, c.steps, c.batch_size) for c in theirs
                    if c.ndummy and c.exposure == "equal_steps"}
        both = {"paired": True, "table": ["replicates", f"{other}/replicates"]}
        for c in {c.width: c for c in mine}.values():  # one cell per width (the seeds share everything else)
            b = {"study": study, "width": c.width, "label": 0}
            if (c.dataset, c.width, c.size, c.steps, c.batch_size) in alone:
                out.append({"name": "unconditional dummies lower replicates (Appendix C.1)", "b": b, "expected": -1,
                            "a": {"study": other, "width": c.width, "ndummy": 0, "label": 0},
                            "claim": "generalization", "quote": quotes.C1, **both})
            if (c.dataset, c.width, c.size, c.dummy, c.ndummy, c.steps, c.batch_size) in same_set:
                out.append({"name": "unconditional and conditional models copy alike (Appendix C.1)", "b": b,
                            "a": {"study": other, "width": c.width, "ndummy": c.ndummy, "exposure": "equal_steps",
                                  "label": 0}, "expected": 0, "claim": "replication",
                            "quote": quotes.C1_CONDITIONAL, **both})
    return out


FIGURE = Plot("dummies", "memgen.analysis.study_figures:dummies_figure", outcome_inputs)

for _record in (
    Study("dummies_mondrian", "Dummy data on Mondrian: base alone vs base + GM dummies (Hypothesis 2, Figures 3-4)",
          expand, figures=(FIGURE,), galleries=True, comparisons=comparisons),
    Study("dummies_cifar", "Dummy data on CIFAR-10 cars (Hypothesis 2, Figures 5-6)", expand, figures=(FIGURE,),
          galleries=True, comparisons=comparisons),
    Study("unconditional_dummies", "Base + dummies trained unconditionally, samples classified (Appendix C.1)",
          expand_unconditional, galleries=True, jobs=CLASSIFIER_JOBS, score_input=labelled_samples,
          comparisons=unconditional_comparisons),
):
    register(_record)
