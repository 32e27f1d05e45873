"""The configuration: one JSON schema, one home for defaults, validated before anything runs.

`validate_config` checks a config dict against ``workflow/schemas/config.schema.yaml`` (unknown keys refused),
fills every default in place, then checks what a schema cannot express (a width the UNet cannot take, a hybrid
loss without a learned variance, more sampling steps than diffusion steps). Every failure is a `MemgenError`
whose one-line message names the key, e.g. ``train.stepz: unknown key (allowed: batch_size, ...)``.

The validated dict is turned into frozen dataclasses per component (`TrainConfig`, `DiffusionConfig`) and
`memgen.model.UNetConfig` by `unet_config`.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from memgen.errors import MemgenError

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"


def load_schema() -> dict:
    """The config JSON schema (a dict)."""
    with open(SCHEMA_PATH) as f:
        return yaml.safe_load(f)


def _key_path(path) -> str:
    """jsonschema's deque path as ``a.b[2].c``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _fill_defaults(instance: dict, schema: dict, root: dict) -> None:
    """Insert schema defaults for absent keys, recursing into objects (including $ref'd ones)."""
    for key, sub in schema.get("properties", {}).items():
        if "$ref" in sub:
            ref = root["$defs"][sub["$ref"].rsplit("/", 1)[-1]]
            sub = {**ref, **{k: v for k, v in sub.items() if k != "$ref"}}
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if isinstance(instance.get(key), dict) and sub.get("type") == "object":
            _fill_defaults(instance[key], sub, root)


def _schema_error_line(err: jsonschema.ValidationError) -> str:
    where = _key_path(err.absolute_path)
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        prefix = f"{where}." if err.absolute_path else ""
        return f"{prefix}{extra[0]}: unknown key (allowed: {', '.join(allowed)})"
    return f"{where}: {err.message}"


def validate_config(config: dict) -> dict:
    """Validate `config` in place against the schema, fill defaults, run semantic checks; return it.

    Raises:
        MemgenError: one line naming the offending key.
    """
    if not isinstance(config, dict):
        raise MemgenError(f"config: expected a mapping at the top level, got {type(config).__name__}")
    schema = load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        raise MemgenError(_schema_error_line(errors[0]))
    _fill_defaults(config, schema, schema)
    _semantic_checks(config)
    return config


def _semantic_checks(config: dict) -> None:
    """What the schema cannot say: the UNet must accept every width, the loss must fit the model, etc."""
    if config["diffusion"]["loss"] == "hybrid" and not config["model"]["learn_sigma"]:
        raise MemgenError("diffusion.loss=hybrid needs model.learn_sigma=true (the vb term trains the variance)")
    if config["diffusion"]["loss"] == "simple" and config["model"]["learn_sigma"]:
        raise MemgenError("diffusion.loss=simple needs model.learn_sigma=false (nothing would train the variance)")
    if config["sample"]["steps"] > config["diffusion"]["steps"]:
        raise MemgenError(
            f"sample.steps={config['sample']['steps']}: more than diffusion.steps={config['diffusion']['steps']}"
        )
    for name, exp in config["experiments"].items():
        _check_cifar_counts(name, exp)
        for width in exp.get("widths", []):
            try:
                unet_config(config, width, num_classes=0).validate()
            except MemgenError as err:
                raise MemgenError(f"experiments.{name}.widths: width {width}: {err}") from None


CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR10_PER_CLASS, CIFAR10_TRAIN = 6000, 50000  # train + test images per class; images in the training split


def _images_needed(exp: dict) -> int:
    """The most base-dataset images one cell of an experiment draws (training set + pools cut from the base)."""
    from_base = {"heldout", "hybrid"}
    if "sizes" in exp:
        return max(exp["sizes"])
    if "totals" in exp:
        return max(exp["totals"]) - exp["minority_size"]
    extra = 0
    if exp.get("dummy") in from_base:
        extra = max(exp.get("counts", [exp.get("count", 0)]))
    if from_base & set(exp.get("kinds", [])):
        extra = max(exp["counts"])
    return exp["size"] + extra + exp.get("heldout", 0)


def _check_cifar_counts(name: str, exp: dict) -> None:
    dataset = exp.get("dataset", "")
    if not dataset.startswith("cifar:"):
        return
    cls = dataset[len("cifar:"):]
    if cls != "all" and cls not in CIFAR10_CLASSES:
        raise MemgenError(f"experiments.{name}.dataset={dataset}: unknown CIFAR-10 class (valid: all, "
                          f"{', '.join(CIFAR10_CLASSES)})")
    limit = CIFAR10_TRAIN if cls == "all" else CIFAR10_PER_CLASS
    need = _images_needed(exp)
    if need > limit:
        raise MemgenError(f"experiments.{name}: asks for {need} images of {dataset}, which has {limit}")


def load_config(source: str | Path | dict | None) -> dict:
    """Read a config from a YAML/JSON file, an inline JSON object string or a dict; validate it.

    ``None`` gives the all-defaults config.
    """
    if source is None:
        raw: Any = {}
    elif isinstance(source, dict):
        raw = copy.deepcopy(source)
    elif isinstance(source, str) and source.lstrip().startswith("{"):
        try:
            raw = json.loads(source)
        except json.JSONDecodeError as err:
            raise MemgenError(f"--config: inline JSON is malformed: {err}") from None
    else:
        path = Path(source)
        if not path.is_file():
            raise MemgenError(f"{path}: config file not found")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            raise MemgenError(f"{path}: not valid YAML: {str(err).splitlines()[0]}") from None
        except UnicodeDecodeError as err:
            raise MemgenError(f"{path}: not a UTF-8 text file ({err.reason} at byte {err.start})") from None
        if not isinstance(raw, dict):
            raise MemgenError(f"{path}: expected a mapping of config keys at the top level, got {type(raw).__name__}")
    return validate_config(raw)


@dataclass(frozen=True)
class DiffusionConfig:
    steps: int
    schedule: str
    loss: str


@dataclass(frozen=True)
class TrainConfig:
    steps: int
    batch_size: int
    lr: float
    weight_decay: float
    ema_rate: float
    checkpoint_every: int
    log_every: int



def diffusion_config(config: dict) -> DiffusionConfig:
    return DiffusionConfig(**config["diffusion"])


def train_config(config: dict) -> TrainConfig:
    return TrainConfig(**config["train"])



def unet_config(config: dict, width: int, num_classes: int):
    """The `UNetConfig` of a validated config at one width (width comes from the experiment grid)."""
    from memgen.model.config import UNetConfig

    m = config["model"]
    return UNetConfig(
        image_size=config["image_size"],
        width=width,
        num_res_blocks=m["num_res_blocks"],
        channel_mult=None if m["channel_mult"] is None else tuple(m["channel_mult"]),
        attention_resolutions=tuple(m["attention_resolutions"]),
        num_heads=m["num_heads"],
        dropout=m["dropout"],
        norm_groups=m["norm_groups"],
        learn_sigma=m["learn_sigma"],
        num_classes=num_classes,
    )


def training_spec(config: dict) -> dict:
    """The part of the config that determines a trained model (what a checkpoint must match to be resumed)."""
    return {k: copy.deepcopy(config[k]) for k in ("image_size", "model", "diffusion", "train")}
