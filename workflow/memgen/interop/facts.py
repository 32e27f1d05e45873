"""What the study grid needs to know of a checkpoint it did not train: its width, its step and whether it is
class-conditional (an openai/improved-diffusion state dict, or a memgen checkpoint).

The grid asks while Snakemake parses the DAG, so the facts come from a small JSON file that the import step
writes (`write_facts`, called by ``memgen import-checkpoint --facts``), keyed by the checkpoint's path and checked
against its size and modification time. Until that file exists (the first plan of a new checkpoint) they are read
from the checkpoint's pickle with its tensors memory-mapped, so no weights are read either way, and with
``torch.load(weights_only=True)`` (`memgen.torchfile`), so nothing in a file from elsewhere runs while planning.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from memgen import io
from memgen.errors import MemgenError

SOURCES = ("improved-diffusion", "memgen")


def facts_name(path: str | Path) -> str:
    """The cache file name of a checkpoint's facts: a hash of its absolute path."""
    return hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:16] + ".json"


def _stamp(path: Path) -> dict:
    stat = path.stat()
    return {"checkpoint": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _check(path: Path, source: str) -> None:
    if source not in SOURCES:
        raise MemgenError(f"{path}: source {source!r} must be one of {', '.join(SOURCES)}")
    if not path.is_file():
        raise MemgenError(f"{path}: checkpoint not found")


def read_header_facts(path: str | Path, source: str) -> dict:
    """``{"width", "step", "conditional"}`` read from the file with its tensors memory-mapped (no weights read);
    a missing or foreign file is a one-line error."""
    path = Path(path)
    _check(path, source)
    if source == "memgen":
        from memgen import torchfile  # here, not at the top: the grid imports this module while Snakemake parses

        try:
            ckpt = torchfile.load(path, mmap=True)  # weights_only: nothing in the file runs, also while planning
        except torchfile.Refused:
            raise
        except Exception as err:  # truncated or not a torch zip file
            raise MemgenError(f"{path}: not a readable checkpoint ({type(err).__name__})") from None
        if not isinstance(ckpt, dict) or not {"width", "step", "num_classes"} <= set(ckpt):
            raise MemgenError(f"{path}: not a memgen checkpoint (width, step and num_classes expected)")
        if not all(type(ckpt[k]) is int for k in ("width", "step", "num_classes")):
            raise MemgenError(f"{path}: width, step and num_classes must be integers")
        return {"width": ckpt["width"], "step": ckpt["step"], "conditional": ckpt["num_classes"] > 0}
    from memgen.interop import improved_diffusion as idf
    from memgen.interop.convert import read_state_dict

    shapes = {k: tuple(v.shape) for k, v in read_state_dict(path, mmap=True).items()}
    try:
        arch = idf.infer_architecture(shapes)
    except MemgenError as err:
        raise MemgenError(f"{path}: {err}") from None
    return {"width": arch.width, "step": idf.parse_step(path.name)[0], "conditional": arch.label_rows > 0}


def checkpoint_facts(path: str | Path, source: str, cache_dir: str | Path | None = None) -> dict:
    """The facts of a checkpoint: from ``cache_dir/facts_name(path)`` when the import step wrote them for this
    very file (same size and modification time), else from its header (`read_header_facts`)."""
    path = Path(path)
    _check(path, source)
    if cache_dir is not None:
        cached = Path(cache_dir) / facts_name(path)
        if cached.is_file():
            facts = io.read_json(cached)
            stamp = {k: facts.get(k) for k in ("checkpoint", "size", "mtime_ns")} if isinstance(facts, dict) else {}
            if stamp == _stamp(path) and facts.get("source") == source:
                return {k: facts[k] for k in ("width", "step", "conditional")}
    return read_header_facts(path, source)


def write_facts(path: str | Path, source: str, out: str | Path, facts: dict) -> None:
    """Cache ``facts`` of the checkpoint ``path`` in ``out`` (atomically), stamped with its size and mtime."""
    io.write_json(out, {**_stamp(Path(path)), "source": source,
                        **{k: facts[k] for k in ("width", "step", "conditional")}})


def cache_dir(results: str | os.PathLike) -> Path:
    """Where a results directory keeps the facts of the checkpoints it imported."""
    return Path(results) / "imported" / "facts"
