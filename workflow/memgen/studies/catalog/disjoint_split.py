"""Kadkhodaie et al. (ICLR 2024): beside each capacity model, a second model trained on a training set of the same
size disjoint from its own, both sampled from the same noise. Models that memorize copy their own sets and
disagree; models that generalize draw the same image from the same noise."""

from __future__ import annotations

from memgen.data.cifar import pool_size
from memgen.errors import MemgenError
from memgen.studies.catalog import capacity
from memgen.studies.cell import Cell
from memgen.studies.common import replicates
from memgen.studies.paths import path
from memgen.studies.record import Plot, Study, Table, register

NAME = "disjoint_split"
PARTNER = capacity.STUDY.name  # the study whose models are side A of the pairs


def expand(name: str, block, cfg) -> list[Cell]:
    """Side B of each pair: per capacity cell of the listed widths and sizes, a model of the same width, step
    budget and seed trained on ``split:<dataset>`` (a set of the same size disjoint from the capacity cell's),
    sampled with the same seed, so sample i of both models starts from the same noise. The name of a side-B cell
    equals its partner's (only the dataset differs)."""
    grid = cfg.block(PARTNER)
    widths = block.widths or (min(grid.widths),)
    sizes = block.sizes or grid.sizes
    missing = sorted(set(widths) - set(grid.widths)) or sorted(set(sizes) - set(grid.sizes))
    if missing:
        raise MemgenError(f"{name}: widths/sizes {missing} are not in the {PARTNER} grid, whose models are side A")
    return [Cell(name, f"split:{c.dataset}", c.width, c.size, "none", 0, c.steps, c.batch_size, False, c.seed,
                 c.num_samples)
            for c in capacity.expand(PARTNER, grid, cfg) if c.width in widths and c.size in sizes]


def partner(grid, cell: Cell) -> Cell:
    """Side A of a side-B cell: the partner study's cell of the same name."""
    return grid.find({**cell.wildcards(), "study": PARTNER})


def pair_inputs(grid, study: str) -> dict:
    """Per pair (in cell order): both sides' samples, training sets and scores."""
    sides = [(partner(grid, c), c) for c in grid.cells(study)]
    files = {}
    for side, pick in (("a", 0), ("b", 1)):
        cells = [pair[pick] for pair in sides]
        files |= {f"samples_{side}": [path("samples", **c.wildcards()) for c in cells],
                  f"train_{side}": [path("data", **c.model_wildcards()) for c in cells],
                  f"scores_{side}": [path("scores", **c.wildcards()) for c in cells]}
    return files


def pair_grid(grid, study: str) -> dict:
    """The grid columns of each pair, in the order of `pair_inputs`, and the ratio that makes two samples the same
    image (the replicate threshold)."""
    return {"pairs": [{"width": c.width, "size": c.size, "seed": c.seed} for c in grid.cells(study)],
            "threshold": grid.cfg.score.threshold}


def agreement_pairs(grid, study: str) -> dict:
    return {"pairs": path("table", study=study, table="agreement_pairs")}


def figure_inputs(grid, study: str) -> dict:
    """The agreement table, and the replicate tables of both sides."""
    return {"table": path("table", study=study, table="agreement"),
            "replicates": [replicates(grid, study)["table"], replicates(grid, PARTNER)["table"]]}


def check(config: dict) -> None:
    """On a real-image base the two sides of a split of size n are 2n distinct images of the pool (slots [0, n) and
    [n, 2n) of its seeded permutation): they must fit in it."""
    partner, block = config[PARTNER], config[NAME]
    limit = pool_size(partner["dataset"])
    largest = max(block["sizes"] or partner["sizes"])
    if limit is not None and 2 * largest > limit:
        raise MemgenError(f"{NAME}.sizes: {largest} needs 2 x {largest} distinct images of {partner['dataset']}, "
                          f"which has {limit}")


STUDY = register(Study(
    NAME, "Two models on disjoint training sets, sampled from the same noise (Kadkhodaie et al.)",
    expand,
    tables=(Table("agreement_pairs", "memgen.evaluation.agreement:agreement_pairs", pair_inputs, pair_grid),
            Table("agreement", "memgen.evaluation.agreement:agreement_summary", agreement_pairs)),
    figures=(Plot("agreement", "memgen.analysis.dichotomy:agreement_figure", figure_inputs),),
    check=check,
))
