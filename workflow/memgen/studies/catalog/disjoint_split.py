"""Kadkhodaie et al. (ICLR 2024): beside each cell of the studies listed, a second model trained on a disjoint
training set of the same make, both sampled from the same noise. Models that memorize copy their own sets and
disagree; models that generalize draw the same novel, valid image from the same noise."""

from __future__ import annotations

from memgen.data.materialize import synthetic_kinds
from memgen.data.source_counts import available
from memgen.errors import MemgenError
from memgen.studies.cell import Cell
from memgen.studies.claims import claim
from memgen.studies.common import ladder, replicates
from memgen.studies.paths import path
from memgen.studies.record import Plot, Study, Table, get, register

NAME = "disjoint_split"
SPLIT = "split:"


def pairable(cell: Cell) -> bool:
    """A cell gets a partner unless it is an exposure-matched twin (the same question at a longer run), a snapshot,
    a model trained elsewhere, or its second component cannot be drawn afresh (held-out or hybrid dummies)."""
    return (cell.exposure != "matched" and not cell.is_snapshot and not cell.checkpoint
            and (cell.dummy == "none" or cell.dummy in synthetic_kinds()))


def side_a(cfg, block) -> list[Cell]:
    """The cells that get a partner, in the order of the studies listed, each model once."""
    out: dict[str, Cell] = {}
    for study in block.studies:
        rec = get(study)
        if not rec.trains or rec.name == NAME:
            raise MemgenError(f"{NAME}.studies: {study} has no models of its own to pair")
        cells = [c for c in rec.expand(study, cfg.block(study), cfg) if pairable(c)]
        missing = sorted(set(block.widths or ()) - {c.width for c in cells})
        if missing:
            raise MemgenError(f"{NAME}.widths: {missing[0]} is not a width of {study}'s cells")
        widths = block.widths or ([min(c.width for c in cells)] if cells else [])
        for c in cells:
            if c.width not in widths or (block.sizes and c.size not in block.sizes):
                continue
            if c.name in out and out[c.name].dataset != c.dataset:  # one folder per cell name in a study
                raise MemgenError(f"{NAME}.studies: {out[c.name].study} and {study} both have a cell {c.name}, on "
                                  f"other data sets; pair them in two runs")
            out.setdefault(c.name, c)
    missing = sorted(set(block.sizes or ()) - {c.size for c in out.values()})
    if missing:
        raise MemgenError(f"{NAME}.sizes: {missing[0]} is not a size of the cells of {', '.join(block.studies)}")
    return list(out.values())


def expand(name: str, block, cfg) -> list[Cell]:
    """Side B of each pair: a model of the same width, steps, batch, conditioning and seed as its side-A cell,
    trained on ``split:<dataset>`` (a set of the same make, disjoint from the cell's), sampled with the same seed
    and classes, so sample i of both models starts from the same noise. Its name equals its partner's. On a
    real-image base both sides are slots of one seeded permutation of the pool ([0, n) and [n, 2n)): they must
    fit in what the source holds (the CIFAR-10 archive or the folder as found now)."""
    cells = side_a(cfg, block)
    for c in cells:
        limit = available(c.dataset, cfg.data.cifar_root)
        if limit is not None and 2 * c.size > limit:
            raise MemgenError(f"{name}.sizes: {c.size} needs 2 x {c.size} distinct images of {c.dataset}, "
                              f"which has {limit}")
    return [Cell(name, SPLIT + c.dataset, c.width, c.size, c.dummy, c.ndummy, c.steps, c.batch_size, c.conditional,
                 c.seed, c.num_samples, c.sample_classes) for c in cells]


def partner(grid, cell: Cell) -> Cell:
    """Side A of a side-B cell: the first cell of the same name and base among the studies listed."""
    for study in grid.cfg.block(NAME).studies:
        found = [c for c in grid.cells(study) if c.name == cell.name and SPLIT + c.dataset == cell.dataset]
        if found:
            return found[0]
    raise MemgenError(f"{NAME}: no partner of {cell.name} in {', '.join(grid.cfg.block(NAME).studies)}")


def pair_inputs(grid, study: str) -> dict:
    """Per pair (in cell order): both sides' samples, training sets and scores."""
    sides = [(partner(grid, c), c) for c in grid.cells(study)]
    files = {}
    for side, pick in (("a", 0), ("b", 1)):
        cells = [pair[pick] for pair in sides]
        files |= {f"samples_{side}": [grid.samples_of(c) for c in cells],
                  f"train_{side}": [path("data", **c.model_wildcards()) for c in cells],
                  f"scores_{side}": [path("scores", **c.wildcards()) for c in cells]}
    return files


def pair_grid(grid, study: str) -> dict:
    """The model columns of each pair, in the order of `pair_inputs`, and the ratio that makes two samples the
    same image (the replicate threshold)."""
    keys = ("dataset", "width", "size", "dummy", "ndummy", "steps", "conditional", "seed")
    return {"pairs": [{k: partner(grid, c).meta()[k] for k in keys} for c in grid.cells(study)],
            "threshold": grid.cfg.score.threshold}


def agreement_pairs(grid, study: str) -> dict:
    return {"pairs": path("table", study=study, table="agreement_pairs")}


def agreement_table(grid, study: str) -> dict:
    return {"table": path("table", study=study, table="agreement")}


def figure_inputs(grid, study: str) -> dict:
    """The agreement table, and the replicate tables of both sides."""
    sides = [study, *grid.cfg.block(study).studies]
    return {"table": path("table", study=study, table="agreement"),
            "replicates": [replicates(grid, s)["table"] for s in sides]}


KADKHODAIE = ("we show that two denoisers trained on non-overlapping training sets converge to essentially the same "
              "denoising function. As a result, when used for image generation, these networks produce nearly "
              "identical samples.")


def claims(grid, study: str) -> list[dict]:
    """Kadkhodaie et al. (ICLR 2024), the measure fixed before any run: the pairs that are the same image while both
    samples are novel (and valid, where the kind has a rule; ``frac_same_novel``) rise with N, per base and model of
    the paired cells (Welch: two sizes are two pairs of training sets). Whether a cell reaches the regime where most
    pairs agree is the ``agreement_regime`` table (`memgen.analysis.agreement_regime`).

    The median similarity of all pairs is not a claim: it replaced this measure in bfda26a after the demo's values
    were seen (no pair was the same novel image; the similarity rose 0.03 / 0.21 / 0.66 with N), and it is highest
    for two untrained models (zero-initialized output layers, shared noise). Those "supported" verdicts were
    exploratory; the similarity stays in the agreement table as a description."""
    sides = [partner(grid, c) for c in grid.cells(study)]
    specs = ladder("the same novel, valid image from the same noise rises with N (Kadkhodaie et al.)", sides, "size",
                   ("dataset", "width", "dummy", "ndummy"), 1, False, measure="frac_same_novel", table="agreement")
    return [claim(s, "measure", KADKHODAIE) for s in specs]



STUDY = register(Study(
    NAME, "Two models on disjoint training sets, sampled from the same noise (Kadkhodaie et al.)", expand,
    tables=(Table("agreement_pairs", "memgen.evaluation.agreement:agreement_pairs", pair_inputs, pair_grid),
            Table("agreement", "memgen.evaluation.agreement:agreement_summary", agreement_pairs),
            Table("agreement_regime", "memgen.analysis.agreement_regime:agreement_regime", agreement_table,
                  markdown="memgen.analysis.agreement_regime:agreement_regime_markdown")),
    figures=(Plot("agreement", "memgen.analysis.dichotomy:agreement_figure", figure_inputs),),
    comparisons=claims,
))
