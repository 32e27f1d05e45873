"""An openai/improved-diffusion checkpoint file -> a memgen checkpoint (`memgen.checkpoint`, format 1).

The file is loaded with ``torch.load(weights_only=True)`` (`memgen.torchfile`), which unpickles tensors and
containers only, so a foreign pickle cannot run code; a file that needs more is refused naming what it asks for,
and a memgen checkpoint torch cannot read is recognised by reading its pickle's opcodes without executing them
(`pickletools`).

The memgen checkpoint holds the file's weights as both ``model`` and ``ema`` (one storage), no optimizer and no
RNG state (it cannot be resumed), ``step`` from the file name, and a config that `memgen.config.validate_config`
accepts: the inferred model, the diffusion from flags (``loss`` hybrid iff learned sigma, as memgen's schema
ties them), no study selected, the other sections at their defaults (memgen did not train it).
``unet`` is authoritative for the network (it also holds ``use_scale_shift_norm`` and the label-embedding rows);
``num_classes`` counts the *trained* classes, the labels 0..K-1 that sampling draws (`memgen.sample.plan_labels`),
which may be fewer than the embedding's rows (the reference hard-codes 1000). ``imported_from`` records the source.
"""

from __future__ import annotations

import dataclasses
import hashlib
import pickletools
import zipfile
from pathlib import Path
from typing import Sequence

from memgen import torchfile
from memgen.errors import MemgenError
from memgen.interop import improved_diffusion as idf
from memgen.model.config import reference_default
from memgen.runtime import check_int

MEMGEN_MARKERS = {"format", "unet", "ema", "config"}  # top-level keys of a memgen checkpoint (checkpoint.py)


def _pickle_strings(path: Path) -> set[str]:
    """The string constants of a torch zip file's pickle, read without unpickling (empty if not a zip)."""
    try:
        with zipfile.ZipFile(path) as z:
            name = next((n for n in z.namelist() if n.endswith("data.pkl")), None)
            data = z.read(name) if name else b""
        return {arg for _, arg, _ in pickletools.genops(data) if isinstance(arg, str)}
    except Exception:  # not a zip, or a broken pickle: nothing recognisable
        return set()


def _load_refusal(path: Path, err: Exception) -> str:
    """Why ``torch.load(path, weights_only=True)`` failed, named without unpickling anything."""
    if zipfile.is_zipfile(path) and MEMGEN_MARKERS <= _pickle_strings(path):
        return f"{path}: already a memgen checkpoint; sample from it directly"
    with open(path, "rb") as f:
        if f.read(4) == b"PK\x03\x04":
            return f"{path}: truncated or corrupted torch file ({torchfile.reason(err)})"
    return f"{path}: not a torch file ({torchfile.reason(err)})"


def read_state_dict(path: str | Path, mmap: bool = False) -> dict:
    """The bare state dict (key -> float tensor) in ``path``; anything else is a one-line `MemgenError`.
    ``mmap``: map the tensors' storage instead of reading it (shapes only needed)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise MemgenError(f"{path}: checkpoint not found")
    try:
        obj = torchfile.load(path, mmap=mmap)
    except torchfile.Refused as err:
        if set(err.names) <= set(torchfile.LEGACY_NAMES):  # an earlier memgen's checkpoint on torch < 2.5
            raise
        raise MemgenError(f"{path}: holds Python objects besides tensors ({', '.join(err.names[:3])}), not a bare "
                          "state dict; refused without unpickling them") from None
    except Exception as err:  # truncated zip, non-torch bytes
        raise MemgenError(_load_refusal(path, err)) from None
    if isinstance(obj, dict) and MEMGEN_MARKERS <= set(obj):
        raise MemgenError(f"{path}: already a memgen checkpoint; sample from it directly")
    if not isinstance(obj, dict) or not obj:
        raise MemgenError(f"{path}: holds a {type(obj).__name__}, not a state dict (name -> tensor)")
    bad = next((k for k, v in obj.items() if not (torch.is_tensor(v) and v.is_floating_point())), None)
    if bad is not None:
        raise MemgenError(f"{path}: entry {bad!r} is not a float tensor; not a bare state dict (an "
                          "improved-diffusion model*.pt or ema_*.pt file is one)")
    check_finite(path, obj)
    return obj


def check_finite(path: str | Path, weights: dict) -> None:
    """Refuse weights holding NaN or Inf (a diverged or damaged training): one line naming the first such entry
    of ``weights`` (name -> float tensor) and how many of its values are NaN and infinite."""
    import torch

    for key, value in weights.items():
        if not bool(torch.isfinite(value).all()):
            nan, inf = int(torch.isnan(value).sum()), int(torch.isinf(value).sum())
            raise MemgenError(f"{path}: entry {key!r} holds {nan} NaN and {inf} infinite values of {value.numel()}; "
                              "refused (weights of a diverged or damaged training)")


def memgen_config(cfg, *, diffusion_steps: int, noise_schedule: str) -> dict:
    """A validated memgen config describing the imported UNet ``cfg`` and its diffusion process (no study runs)."""
    from memgen.config import load_schema, validate_config

    check_int("--diffusion-steps", diffusion_steps, 2)
    sample_steps = load_schema()["properties"]["sample"]["properties"]["steps"]["default"]
    return validate_config({
        "studies": [],
        "image_size": cfg.image_size,
        "model": {"channel_mult": list(cfg.channel_mult), "num_res_blocks": cfg.num_res_blocks,
                  "attention_resolutions": list(cfg.attention_resolutions), "num_heads": cfg.num_heads,
                  "dropout": cfg.dropout, "norm_groups": cfg.norm_groups, "learn_sigma": cfg.learn_sigma},
        "diffusion": {"steps": diffusion_steps, "schedule": noise_schedule,
                      "loss": "hybrid" if cfg.learn_sigma else "simple"},
        "sample": {"steps": min(sample_steps, diffusion_steps)},
    })


def trained_classes(label_rows: int, class_names: Sequence[str] | None) -> dict[str, str]:
    """Names of the trained labels 0..K-1 ({"0": name, ...}); all embedding rows when no names are given."""
    if not class_names:
        return {str(k): str(k) for k in range(label_rows)}
    if not label_rows:
        raise MemgenError(f"--class-names: the state dict has no {idf.LABEL_EMB} (an unconditional model)")
    if len(class_names) > label_rows:
        raise MemgenError(f"--class-names: {len(class_names)} names, but {idf.LABEL_EMB} has {label_rows} rows")
    if len(set(class_names)) != len(class_names):
        dup = next(n for n in class_names if list(class_names).count(n) > 1)
        raise MemgenError(f"--class-names: {dup!r} is named twice")
    return {str(k): str(name) for k, name in enumerate(class_names)}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def import_improved_diffusion(path: str | Path, *, image_size: int | None = None,
                              num_heads: int = reference_default("num_heads"),
                              norm_groups: int = reference_default("norm_groups"), dropout: float = 0.0,
                              diffusion_steps: int = 1000, noise_schedule: str = "linear",
                              class_names: Sequence[str] | None = None) -> tuple[dict, list[str]]:
    """(memgen checkpoint dict, lines describing what was inferred and assumed) for a reference file.

    Defaults are the reference's (script_util.model_and_diffusion_defaults: num_heads 4, dropout 0.0,
    diffusion_steps 1000, noise_schedule linear; GroupNorm 32 in nn.normalization); its CIFAR-10 runs used
    dropout 0.3, 4000 steps and the cosine schedule. Raises a one-line `MemgenError` naming the file and key.
    """
    from memgen.checkpoint import FORMAT
    from memgen.model import UNet

    path = Path(path)
    state = read_state_dict(path)
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    try:
        arch = idf.infer_architecture(shapes)
        cfg = idf.unet_config(arch, image_size=image_size, num_heads=num_heads, norm_groups=norm_groups,
                              dropout=dropout)
        idf.check_shapes(cfg, shapes)
    except MemgenError as err:
        raise MemgenError(f"{path}: {err}") from None
    names = trained_classes(arch.label_rows, class_names)
    config = memgen_config(cfg, diffusion_steps=diffusion_steps, noise_schedule=noise_schedule)
    model = UNet(cfg)
    model.load_state_dict(state)  # strict (shapes checked key by key above); casts e.g. float16 to float32
    weights = dict(model.state_dict())  # stored as both "model" and "ema": one storage in the file
    step, ema_rate = idf.parse_step(path.name)
    ckpt = {
        "format": FORMAT, "step": step, "width": cfg.width, "seed": None, "num_classes": len(names),
        "class_names": names, "data_sha256": None, "config": config, "unet": dataclasses.asdict(cfg),
        "model": weights, "ema": weights, "loss_log": [],
        "imported_from": {"code": "openai/improved-diffusion", "file": path.name, "sha256": _sha256(path),
                          "ema_rate": ema_rate},
    }
    return ckpt, _summary(path, ckpt, arch, cfg, named=bool(class_names))


def _summary(path: Path, ckpt: dict, arch, cfg, named: bool) -> list[str]:
    n_params = sum(v.numel() for v in ckpt["model"].values())
    rate = ckpt["imported_from"]["ema_rate"]
    d = ckpt["config"]["diffusion"]
    lines = [f"{path.name}: improved-diffusion state dict, {len(ckpt['model'])} tensors, {n_params:,} parameters, "
             f"step {ckpt['step']}" + (f", EMA rate {rate}" if rate is not None else "") + " (from the file name)"]
    lines += idf.describe(arch, cfg)
    lines.append(f"  diffusion             T={d['steps']} {d['schedule']} schedule, loss {d['loss']} "
                 "(--diffusion-steps, --noise-schedule; the paper's CIFAR-10 runs: 4000 cosine)")
    if not cfg.learn_sigma:
        lines.append("  variance              fixed small (memgen's choice; the reference samples fixed large "
                     "unless trained with --sigma_small True)")
    if arch.label_rows:
        names = list(ckpt["class_names"].values())
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        lines.append(f"sampling draws labels 0..{len(names) - 1} of {arch.label_rows} embedding rows ({shown})")
        if not named:
            lines.append("  (the reference embeds 1000 rows whatever the data; --class-names NAME... limits sampling "
                         "to the trained labels 0..K-1)")
    return lines
