"""Training time as a measured axis (Bonnaire, Urfin, Biroli & Mezard 2025; Favero, Sclocchi & Wyart 2025): one run
per width, training-set size and seed, sampled at log-spaced snapshots from its EMA and its raw weights and scored
four ways; when samples become valid (tau_gen), novel and valid (tau_novel) and copies (tau_mem), per run and across
seeds; the exponent of tau_mem(N) and the equivalence of tau_gen across N; "stop before step X" per cell
(`memgen.analysis.dynamics`, `memgen.analysis.exponent`, `memgen.analysis.dynamics_tables`).

A run is the model every study shares under ``models/{dataset}/``: with the config's step budget and batch size,
the capacity study's runs of the same width and size are this study's (they save the snapshots too), so only the
sizes capacity lacks train anew. The EMA samples are the generic cells'; the raw weights' samples of the same
snapshot are scored by this study's own job (`RAW`), since a cell's path names its model and step, not its
weights."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from memgen.errors import MemgenError
from memgen.studies.cell import Cell
from memgen.studies.claims import claim
from memgen.studies.common import num_samples, replicates, train_settings
from memgen.studies.job import Job
from memgen.studies.paths import CELL, path
from memgen.studies.record import Plot, Study, Table, get, register

NAME = "dynamics"
# Bonnaire et al. 2025 (arXiv 2505.17638), abstract: the two claims' sentence.
BONNAIRE = ("Bonnaire et al. 2025, abstract: \"we identify two distinct timescales: an early time tau_gen at which "
            "models begin to generate high-quality samples, and a later time tau_mem beyond which memorization "
            "emerges. Crucially, we find that tau_mem increases linearly with the training set size n, while "
            "tau_gen remains constant.\"")


def snapshot_steps(first: int, count: int, budget: int) -> list[int]:
    """``count`` steps log-spaced from ``first`` to the budget (rounded, distinct; the last is the final model)."""
    if first >= budget:
        raise MemgenError(f"{NAME}.first_snapshot: {first} is not below the run's step budget {budget}")
    return sorted({int(round(s)) for s in np.geomspace(first, budget, count)})


def expand(name: str, block, cfg) -> list[Cell]:
    """Every width x size x seed x snapshot step; EMA weights (the raw ones: `RAW`)."""
    budget, batch = train_settings(cfg, block)
    steps = snapshot_steps(block.first_snapshot, block.snapshots, budget)
    return [Cell(name, block.dataset, w, n, "none", 0, step, batch, False, s, num_samples(cfg, block),
                 train_steps=budget)
            for w in block.widths for n in block.sizes for s in cfg.seeds for step in steps]


def _raw(grid, wildcards: dict) -> tuple[Cell, Cell]:
    cell = grid.find(wildcards)
    return cell, replace(cell, weights="raw")


def raw_variant(grid, cell: Cell) -> list[Cell]:
    """What `RAW` samples beside a cell: its raw weights (priced by `memgen.studies.plan`)."""
    return [replace(cell, weights="raw")]


def raw_inputs(grid, wildcards: dict) -> dict:
    """The raw weights' sample set of a cell's snapshot, its training set and card (and held-out images for C_T)."""
    cell, raw = _raw(grid, wildcards)
    held = grid.heldout_of(cell)
    return {"train": path("data", **cell.model_wildcards()), "samples": grid.samples_of(raw),
            "card": grid.card_of(cell)} | ({"heldout": held[0]} if held else {})


def raw_params(grid, wildcards: dict) -> dict:
    cell, raw = _raw(grid, wildcards)
    return {"threshold": grid.cfg.score.threshold, "meta": raw.meta(), "sample_set": grid.samples_of(raw)}


RAW = Job("score_raw_weights", "memgen.jobs:score",
          outputs={"out": f"{{study}}/{CELL}/raw_scores.parquet", "summary": f"{{study}}/{CELL}/raw_summary.parquet"},
          inputs=raw_inputs, params=raw_params, stage="score")


def snapshot_inputs(grid, study: str) -> dict:
    return {"ema": replicates(grid, study)["table"],
            "raw": [RAW.path("summary", **c.wildcards()) for c in grid.cells(study)]}


def snapshots(grid, study: str) -> dict:
    """The snapshot table: this study's own, or (a study without one, e.g. checkpoints of a run imported by the
    external study) its replicates table."""
    name = "snapshots" if any(t.name == "snapshots" for t in get(study).tables) else "replicates"
    return {"table": path("table", study=study, table=name)}


def levels(grid, study: str) -> dict:
    block = grid.cfg.block(study)
    return {"gen_level": block.gen_level, "mem_level": block.mem_level}


def guarded_levels(grid, study: str) -> dict:
    """The onset levels and the verdicts' limit on a trained model's invalid fraction (schema
    ``verdicts.max_invalid``), which the exponents table applies per size."""
    return levels(grid, study) | {"max_invalid": grid.cfg.raw["verdicts"]["max_invalid"]}


def stop_level(grid, study: str) -> dict:
    return {"level": grid.cfg.block(study).stop_level}


def exponent_params(grid, study: str) -> dict:
    return guarded_levels(grid, study) | {"equivalence_margin": grid.cfg.block(study).equivalence_margin,
                                          "quote": BONNAIRE}


def claims(grid, study: str) -> list[dict]:
    """Bonnaire et al.'s two claims per width and weights, fixed before any run, tested across seeds on each
    seed's exponent (the ``exponents`` table): tau_mem grows with N (beta > 0; the paper's law is beta = 1, which
    the ``exponent`` table reads) and tau_gen does not depend on N (beta within +- the schema's margin: TOST)."""
    block = grid.cfg.block(study)
    out = []
    for w in block.widths:
        for weights in ("ema", "raw"):
            cell = {"width": w, "weights": weights}
            out += [claim({"name": "tau_mem grows with N", "a": cell | {"onset": "tau_mem"}, "b": None,
                           "measure": "beta", "expected": 1, "table": "exponents"}, "measure", BONNAIRE),
                    claim({"name": "tau_gen does not depend on N", "a": cell | {"onset": "tau_gen"}, "b": None,
                           "measure": "beta", "expected": 0, "margin": block.equivalence_margin,
                           "table": "exponents"}, "measure", BONNAIRE)]
    return out


def figure_inputs(grid, study: str) -> dict:
    return snapshots(grid, study) | {"onsets": path("table", study=study, table="onset_across_seeds"),
                                     "stopping": path("table", study=study, table="stopping")}


def figure_params(weights: str):
    def params(grid, study: str) -> dict:
        return {"weights": weights, "level": grid.cfg.block(study).mem_level}
    return params


TABLES = "memgen.analysis.dynamics_tables"
# What any study whose cells are snapshots of runs can add (the external study, for checkpoints of one run).
ONSET_TABLES = (Table("onset", f"{TABLES}:onset_table", snapshots, levels, markdown=f"{TABLES}:onset_markdown"),
                Table("onset_across_seeds", f"{TABLES}:onset_seeds_table", snapshots, levels,
                      markdown=f"{TABLES}:onset_seeds_markdown"),
                Table("stopping", f"{TABLES}:stopping_table", snapshots, stop_level,
                      markdown=f"{TABLES}:stopping_markdown"))
FIGURES = tuple(Plot(f"dynamics_{w}", "memgen.analysis.dynamics_figure:dynamics_figure", figure_inputs,
                     figure_params(w)) for w in ("ema", "raw"))
ONSET_FIGURE = FIGURES[0]
STUDY = register(Study(
    NAME, "Training dynamics: when a model generalizes, when it starts to copy, when to stop (Bonnaire et al.)",
    expand,
    tables=(Table("snapshots", f"{TABLES}:snapshot_table", snapshot_inputs), *ONSET_TABLES,
            Table("exponents", f"{TABLES}:per_seed_exponents", snapshots, guarded_levels),
            Table("exponent", f"{TABLES}:exponent_table", snapshots, exponent_params,
                  markdown=f"{TABLES}:exponent_markdown")),
    figures=FIGURES,
    jobs=(RAW,), also_sampled=raw_variant, comparisons=claims,
))
