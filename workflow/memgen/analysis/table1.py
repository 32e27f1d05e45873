"""The paper's Table 1 (model hyperparameters and training configuration), one column per model.

Yoon et al. 2023, Appendix B, Table 1 lists num_channels, num_res_blocks, learn_sigma, drop_out,
diffusion_steps, noise_scheduler, optimizer and lr for UNet-64/128/256; batch size and iterations are given in
the text (B.1-B.3). Here every setting of a run sits in one table, with the parameter count measured from the
model rather than quoted.
"""

from __future__ import annotations

import numbers

import pandas as pd

from memgen.errors import MemgenError

# (key in the caller's dicts, row label in the table), in the paper's order, then the settings from its text.
ROWS = [
    ("num_channels", "num_channels"),
    ("num_res_blocks", "num_res_blocks"),
    ("learn_sigma", "learn_sigma"),
    ("dropout", "dropout"),
    ("diffusion_steps", "diffusion_steps"),
    ("noise_scheduler", "noise_scheduler"),
    ("optimizer", "optimizer"),
    ("lr", "lr"),
    ("batch_size", "batch_size"),
    ("train_steps", "train steps"),
    ("ema_rate", "EMA"),
    ("parameters", "parameters (measured)"),
]
ALIASES = {"drop_out": "dropout", "noise_schedule": "noise_scheduler", "steps": "train_steps",
           "ema": "ema_rate", "n_params": "parameters", "learning_rate": "lr"}
SEPARATED = {"parameters", "train_steps"}  # integers printed with thousands separators


def _format(key: str, value) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}" if key in SEPARATED else str(int(value))
    if isinstance(value, numbers.Real):
        if key in SEPARATED and float(value).is_integer():
            return f"{int(value):,}"
        return f"{float(value):g}"
    if isinstance(value, str) and value:
        return value
    raise MemgenError(f"table1: {key} must be a number, bool or non-empty string, got {value!r}")


def _normalize(row: dict, i: int) -> dict:
    if not isinstance(row, dict):
        raise MemgenError(f"table1: row {i} must be a dict, got {type(row).__name__}")
    out = {}
    for key, value in row.items():
        canon = ALIASES.get(key, key)
        if canon != "model" and canon not in dict(ROWS):
            allowed = ", ".join(k for k, _ in ROWS)
            raise MemgenError(f"table1: row {i}: unknown key {key!r} (allowed: model, {allowed})")
        if canon in out:
            raise MemgenError(f"table1: row {i}: {canon!r} given twice (through an alias)")
        out[canon] = value
    missing = [k for k in ["model", *dict(ROWS)] if k not in out]
    if missing:
        raise MemgenError(f"table1: row {i} ({out.get('model', '?')}) lacks {missing}")
    return out


def table1(rows: list[dict]) -> tuple[pd.DataFrame, str]:
    """Table 1 from one dict per model, e.g. ``{"model": "UNet-64", "num_channels": 64, ..., "parameters": 13161926}``.

    Keys: model plus every key of ``ROWS`` (aliases: drop_out, noise_schedule, steps, ema, n_params,
    learning_rate). Returns (DataFrame with a ``setting`` column and one string column per model, in input
    order; Markdown of the same table). Numbers print as given (``0.0001``, ``0.3``); parameters and train steps
    carry thousands separators (``13,161,926``). Duplicate model names or unknown/missing keys raise MemgenError.
    """
    if not isinstance(rows, (list, tuple)) or not rows:
        raise MemgenError("table1: rows must be a non-empty list of dicts")
    models = [_normalize(r, i) for i, r in enumerate(rows)]
    names = [str(m["model"]) for m in models]
    if len(set(names)) != len(names):
        raise MemgenError(f"table1: model names must be distinct, got {names}")
    data = {"setting": [label for _, label in ROWS]}
    for name, m in zip(names, models):
        data[name] = [_format(key, m[key]) for key, _ in ROWS]
    frame = pd.DataFrame(data)
    return frame, table1_markdown(frame)


def table1_frame(config: dict, models: list[dict]) -> pd.DataFrame:
    """Table 1 of a resolved config (the rows of `table1_rows`), one string column per model."""
    from memgen.config import load_config

    return table1(table1_rows(load_config(config), models))[0]


def table1_markdown(frame: pd.DataFrame) -> str:
    """The Markdown of a `table1` frame: the settings down, the models across, numbers right-aligned."""
    names = list(frame.columns[1:])
    lines = ["| setting | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    lines += ["| " + " | ".join(frame.iloc[i].tolist()) + " |" for i in range(len(frame))]
    return "\n".join(lines) + "\n"


def table1_rows(cfg, models: list[dict]) -> list[dict]:
    """One `table1` row per distinct model (dicts of width, num_classes, train_steps, batch_size: the models the
    selected studies train, listed by the study record's params hook), with its parameter count measured from the
    model built at that width. ``cfg``: a `memgen.config.Config`."""
    from memgen.model import UNet, count_parameters

    rows, seen = [], set()
    for m in models:
        key = (m["width"], m["num_classes"], m["train_steps"], m["batch_size"])
        if key in seen:
            continue
        seen.add(key)
        width, classes, steps, batch = key
        tag = f"UNet-{width}" + (" cond" if classes else "") + f" {steps} steps x {batch}"
        rows.append({"model": tag, "num_channels": width, "num_res_blocks": cfg.model.num_res_blocks,
                     "learn_sigma": cfg.model.learn_sigma, "dropout": cfg.model.dropout,
                     "diffusion_steps": cfg.diffusion.steps, "noise_scheduler": cfg.diffusion.schedule,
                     "optimizer": "AdamW", "lr": cfg.train.lr, "batch_size": batch,
                     "train_steps": steps, "ema_rate": cfg.train.ema_rate,
                     "parameters": count_parameters(UNet(cfg.unet(width, num_classes=classes)))})
    return rows
