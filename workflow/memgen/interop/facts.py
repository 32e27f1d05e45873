"""What the study grid needs to know of a checkpoint it did not train, read when the DAG is planned: its width,
its step and whether it is class-conditional (an openai/improved-diffusion state dict, or a memgen checkpoint)."""

from __future__ import annotations

from pathlib import Path

from memgen.errors import MemgenError

SOURCES = ("improved-diffusion", "memgen")


def checkpoint_facts(path: str | Path, source: str) -> dict:
    """``{"width", "step", "conditional"}`` of a checkpoint file; a missing or foreign file is a one-line error."""
    path = Path(path)
    if source not in SOURCES:
        raise MemgenError(f"{path}: source {source!r} must be one of {', '.join(SOURCES)}")
    if not path.is_file():
        raise MemgenError(f"{path}: checkpoint not found")
    if source == "memgen":
        from memgen import checkpoint

        ckpt = checkpoint.load(path)
        return {"width": int(ckpt["width"]), "step": int(ckpt["step"]), "conditional": ckpt["num_classes"] > 0}
    from memgen.interop import improved_diffusion as idf
    from memgen.interop.convert import read_state_dict

    shapes = {k: tuple(v.shape) for k, v in read_state_dict(path).items()}
    try:
        arch = idf.infer_architecture(shapes)
    except MemgenError as err:
        raise MemgenError(f"{path}: {err}") from None
    return {"width": arch.width, "step": idf.parse_step(path.name)[0], "conditional": arch.label_rows > 0}
