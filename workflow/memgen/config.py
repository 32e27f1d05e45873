"""The configuration: one JSON schema, the one home of defaults, validated before anything runs.

``workflow/schemas/config.schema.yaml`` describes, types and defaults every key. `validate_config` checks a config
dict against it (unknown keys refused), fills every default in place (Snakemake's ``config`` is that dict), then
checks what a schema cannot express (a width the UNet cannot take, a hybrid loss without a learned variance, an
unknown study). Every failure is a `MemgenError` whose one-line message names the key, e.g.
``train.stepz: unknown key (allowed: batch_size, ...)``.

`load_config` turns the validated dict into a frozen `Config` once, at the boundary (the CLI, the Snakefile);
modules below take it, not dicts. Its sections are frozen dataclasses generated from the schema, so a key is
declared in one place only. A study's parameters are the top-level block of the same name (``x-study: true`` in
the schema); `register_study_schema` adds one at run time (a plugin or a test).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from memgen.data.cifar import check_cifar_counts
from memgen.data.source_counts import check_source_counts
from memgen.errors import MemgenError
from memgen.model.config import UNetConfig

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"
TRAINING_KEYS = ("image_size", "model", "diffusion", "train")  # what determines a trained model
_EXTRA_STUDIES: dict[str, dict] = {}  # study blocks registered at run time


@functools.lru_cache(maxsize=1)
def _file_schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))


def load_schema() -> dict:
    """The config JSON schema (a fresh dict): the file's, plus study blocks registered at run time."""
    schema = copy.deepcopy(_file_schema())
    schema["properties"].update(copy.deepcopy(_EXTRA_STUDIES))
    return schema


def register_study_schema(name: str, block: dict) -> None:
    """Add the schema block of a study defined outside the schema file (marked as a study)."""
    _EXTRA_STUDIES[name] = {**block, "x-study": True}


def study_names(schema: dict | None = None) -> list[str]:
    """Every study the schema knows, in schema order."""
    schema = schema or load_schema()
    return [key for key, sub in schema["properties"].items() if sub.get("x-study")]


def _resolve(sub: dict, root: dict) -> dict:
    """A property schema with its $ref merged in (siblings of $ref override the referenced keys)."""
    if "$ref" not in sub:
        return sub
    ref = root["$defs"][sub["$ref"].rsplit("/", 1)[-1]]
    return {**ref, **{k: v for k, v in sub.items() if k != "$ref"}}


def _key_path(path) -> str:
    """jsonschema's deque path as ``a.b[2].c``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _fill_defaults(instance: dict, schema: dict, root: dict) -> None:
    """Insert schema defaults for absent keys, recursing into objects (including $ref'd ones)."""
    for key, sub in schema.get("properties", {}).items():
        sub = _resolve(sub, root)
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if isinstance(instance.get(key), dict) and sub.get("type") == "object":
            _fill_defaults(instance[key], sub, root)
        items = _resolve(sub.get("items", {}), root)
        if isinstance(instance.get(key), list) and items.get("type") == "object":  # objects listed in an array
            for item in instance[key]:
                if isinstance(item, dict):
                    _fill_defaults(item, items, root)


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
    _semantic_checks(config, study_names(schema))
    return config


def _semantic_checks(config: dict, known: list[str]) -> None:
    """What the schema cannot say: known studies, the UNet must accept every width, the loss must fit the model.
    What a study's grid itself needs is checked by its record when the grid is built (`memgen.studies.grid`)."""
    for i, name in enumerate(config["studies"]):
        if name not in known:
            raise MemgenError(f"studies[{i}]={name}: unknown study (known: {', '.join(known)})")
    if config["diffusion"]["loss"] == "hybrid" and not config["model"]["learn_sigma"]:
        raise MemgenError("diffusion.loss=hybrid needs model.learn_sigma=true (the vb term trains the variance)")
    if config["diffusion"]["loss"] == "simple" and config["model"]["learn_sigma"]:
        raise MemgenError("diffusion.loss=simple needs model.learn_sigma=false (nothing would train the variance)")
    if config["sample"]["steps"] > config["diffusion"]["steps"]:
        raise MemgenError(
            f"sample.steps={config['sample']['steps']}: more than diffusion.steps={config['diffusion']['steps']}"
        )
    for name in known:  # a CIFAR class name is checked in every block; sizes and widths where the study runs
        check_cifar_counts(name, config[name], counts=name in config["studies"])
    check_source_counts(config)  # the same counts against the CIFAR-10 archive and image folders as they are
    for name in config["studies"]:
        for width in config[name].get("widths") or []:
            try:
                UNetConfig(image_size=config["image_size"], width=width, **_unet_fields(config["model"])).validate()
            except MemgenError as err:
                raise MemgenError(f"{name}.widths: width {width}: {err}") from None


def merge_configs(*raws: dict) -> dict:
    """Raw configs layered in order as Snakemake layers its config files (``configfile:``, then each
    ``--configfile``): mappings merge key by key, any other value (a list too) replaces the earlier one."""
    out: dict = {}
    for raw in raws:
        for key, value in raw.items():
            both = isinstance(value, dict) and isinstance(out.get(key), dict)
            out[key] = merge_configs(out[key], value) if both else copy.deepcopy(value)
    return out


def read_config_source(source: str | Path | dict | None) -> dict:
    """The raw (unvalidated) config of a YAML/JSON file, an inline JSON object string or a dict; None -> {}."""
    if source is None:
        return {}
    if isinstance(source, dict):
        return copy.deepcopy(source)
    if isinstance(source, str) and source.lstrip().startswith("{"):
        try:
            return json.loads(source)
        except json.JSONDecodeError as err:
            raise MemgenError(f"--config: inline JSON is malformed: {err}") from None
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
    return raw


def load_config(source: str | Path | dict | None, training_only: bool = False) -> Config:
    """Read (`read_config_source`), validate and freeze a config; ``None`` gives the all-defaults config.

    ``training_only``: the source is a training spec (what the train rule passes: image_size, model, diffusion,
    train), so no study is selected unless it says so: the studies' grids, whose widths need not suit this
    model, are not checked."""
    raw = read_config_source(source)
    if training_only:
        raw.setdefault("studies", [])
    return Config.from_dict(validate_config(raw))


# ---------------------------------------------------------------------------------------------- frozen sections
def _frozen(value: Any) -> Any:
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else value  # hashable sections


@functools.lru_cache(maxsize=None)
def _section_type(path: str, keys: tuple[str, ...]) -> type:
    name = "".join(part.title() for part in path.replace(".", "_").split("_")) + "Config"
    return dataclasses.make_dataclass(name, keys, frozen=True)


def section(path: str, values: dict) -> Any:
    """A frozen dataclass of one config section (nested objects become sections too); ``path`` names its type."""
    fields = {}
    for key, value in values.items():
        fields[key] = section(f"{path}.{key}", value) if isinstance(value, dict) else _frozen(value)
    return _section_type(path, tuple(fields))(**fields)


def _unet_fields(model: dict) -> dict:
    return {k: (tuple(v) if isinstance(v, list) else v) for k, v in model.items()}


DiffusionConfig = _section_type("diffusion", ("steps", "schedule", "loss"))


@dataclasses.dataclass(frozen=True)
class Config:
    """A validated, resolved config: its sections as frozen dataclasses, and the plain dict it came from."""

    raw: dict
    studies: tuple[str, ...]
    results: str
    seeds: tuple[int, ...]
    image_size: int
    data: Any
    model: Any
    diffusion: Any
    train: Any
    sample: Any
    score: Any
    resources: Any

    @classmethod
    def from_dict(cls, resolved: dict) -> Config:
        """From a dict already passed through `validate_config`."""
        plain = {k: section(k, resolved[k]) if isinstance(resolved[k], dict) else _frozen(resolved[k])
                 for k in ("studies", "results", "seeds", "image_size", "data", "model", "train", "sample", "score",
                           "resources")}
        return cls(raw=copy.deepcopy(resolved), diffusion=DiffusionConfig(**resolved["diffusion"]), **plain)

    def block(self, study: str) -> Any:
        """The parameters of one study (a frozen section named after it)."""
        if study not in self.raw or not isinstance(self.raw[study], dict):
            raise MemgenError(f"{study}: no such study block in the config")
        return section(study, self.raw[study])

    def to_dict(self) -> dict:
        """The resolved config as a plain dict (JSON-able; what checkpoints carry)."""
        return copy.deepcopy(self.raw)

    def training_spec(self, steps: int | None = None, batch_size: int | None = None) -> dict:
        """The part of the config that determines a trained model, with a cell's step budget and batch size."""
        spec = training_spec(self)
        spec["train"].update({k: int(v) for k, v in (("steps", steps), ("batch_size", batch_size)) if v is not None})
        return spec

    def unet(self, width: int, num_classes: int):
        """The `UNetConfig` at one width (the width comes from the study grid)."""
        return UNetConfig(image_size=self.image_size, width=width, num_classes=num_classes,
                          **_unet_fields(self.raw["model"]))


def training_spec(config: Config | dict) -> dict:
    """The training-relevant part of a Config or of a resolved config dict (a checkpoint's)."""
    return {k: copy.deepcopy((config.raw if isinstance(config, Config) else config)[k]) for k in TRAINING_KEYS}


def _node(key: str) -> dict:
    """The schema entry of a dotted key, its $ref resolved; an unknown key is a one-line error."""
    schema = load_schema()
    node, path = schema, []
    for part in key.split("."):
        props = node.get("properties", {})
        if part not in props:
            where = ".".join(path) or "the top level"
            raise MemgenError(f"{key}: no key {part!r} at {where} (keys: {', '.join(props)})")
        node = _resolve(props[part], schema)
        path.append(part)
    return node


def schema_default(key: str) -> Any:
    """The default of a dotted key (``score.threshold``), from the schema: what a command-line flag of the same
    meaning defaults to, so the value has one home."""
    return copy.deepcopy(_node(key).get("default"))


def explain(key: str) -> str:
    """The schema entry of a dotted key (``train.ema_rate``, ``capacity.sizes``): description, type, default."""
    node = _node(key)
    kind = node.get("type", "?")
    lines = [f"{key}: {' '.join(str(node.get('description', '')).split())}", f"  type: {kind}",
             f"  default: {json.dumps(node.get('default'))}"]
    if "enum" in node or "enum" in node.get("items", {}):
        lines.append(f"  one of: {', '.join(map(str, node.get('enum', node.get('items', {}).get('enum', []))))}")
    if node.get("type") == "object" and node.get("properties"):
        lines.append(f"  keys: {', '.join(node['properties'])}")
    return "\n".join(lines)
