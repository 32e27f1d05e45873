"""Bring your own model: checkpoints trained elsewhere (openai/improved-diffusion or memgen), each with the training
set it saw, imported, sampled, scored four ways, drawn as galleries and measured for the loss gap per noise level."""

from __future__ import annotations

from memgen.data.cifar import pool_size
from memgen.errors import MemgenError
from memgen.interop.facts import cache_dir, checkpoint_facts
from memgen.studies.cell import Cell
from memgen.studies.common import num_samples
from memgen.studies.record import Study, register


def import_flags(entry: dict, image_size: int) -> str:
    """The flags of `memgen import-checkpoint` for what a state dict cannot tell."""
    flags = (f"--from {entry['source']} --image-size {image_size} --diffusion-steps {entry['diffusion_steps']}"
             f" --noise-schedule {entry['noise_schedule']}")
    for key in ("num_heads", "norm_groups"):  # null: the reference's (memgen.model.config.reference_default)
        flags += f" --{key.replace('_', '-')} {entry[key]}" if entry[key] is not None else ""
    return flags + (" --class-names " + " ".join(entry["class_names"]) if entry["class_names"] else "")


def expand(name: str, block, cfg) -> list[Cell]:
    """One cell per listed checkpoint: its width, step and conditioning from the file's facts
    (`memgen.interop.facts`), its training set from the entry; sampled from every trained class."""
    cells = []
    for i, m in enumerate(block.models):
        limit = pool_size(m["dataset"]) if m["heldout"] else None
        if limit is not None and m["size"] + m["heldout"] > limit:  # held-out images would be training images
            raise MemgenError(f"{name}.models[{i}]: size {m['size']} + heldout {m['heldout']} images of "
                              f"{m['dataset']}, which has {limit}: lower heldout (0 = no loss gap)")
        facts = checkpoint_facts(m["checkpoint"], m["source"], cache_dir(cfg.results))
        cells.append(Cell(name, m["dataset"], facts["width"], m["size"], "none", 0, facts["step"], m["batch_size"],
                          facts["conditional"], m["seed"], num_samples(cfg, block), checkpoint=m["checkpoint"],
                          source=m["source"], import_flags=import_flags(m, cfg.image_size), heldout=m["heldout"],
                          levels=m["levels"]))
    names = [c.name for c in cells]
    if len(set(names)) != len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise MemgenError(f"{name}.models: two checkpoints make the cell {twice} (same width, size, step and seed); "
                          "give them different seeds")
    return cells


STUDY = register(Study(
    "external", "Checkpoints trained elsewhere, audited with every measure (bring your own model)", expand,
    galleries=True, cell_outputs=("cell_losses", "cell_loss_figure"),
))
