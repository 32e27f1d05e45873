"""The config schema and its validation: every key described/typed/defaulted, bad keys stopped with one line."""

import subprocess
import sys

import pytest
import yaml

from memgen.config import load_config, load_schema, training_spec, validate_config
from memgen.errors import MemgenError


def _walk(schema, root, path="config"):
    """Yield (path, property schema) for every key in the schema, following $refs."""
    for key, sub in schema.get("properties", {}).items():
        if "$ref" in sub:
            sub = {**root["$defs"][sub["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in sub.items() if k != "$ref"}}
        yield f"{path}.{key}", sub
        if sub.get("type") == "object":
            yield from _walk(sub, root, f"{path}.{key}")


def test_every_key_has_description_type_default_and_objects_refuse_unknown_keys():
    schema = load_schema()
    assert schema["additionalProperties"] is False
    keys = list(_walk(schema, schema))
    assert len(keys) > 30
    for path, sub in keys:
        assert sub.get("description"), path
        assert "type" in sub, path
        assert "default" in sub, path
        if sub["type"] == "object":
            assert sub.get("additionalProperties") is False, path


def test_defaults_fill_an_empty_config_and_config_yaml_adds_only_the_run_lists(repo_root):
    defaults = load_config(None)
    shipped = load_config(repo_root / "config.yaml")
    assert defaults.studies == () and shipped.studies  # the schema selects no study; config.yaml selects the demo's
    assert defaults.seeds == (0,) and shipped.seeds == (0, 1, 2)  # and its three training seeds
    # and restates no other default
    assert defaults.to_dict() == {**shipped.to_dict(), "studies": [], "seeds": [0]}


@pytest.mark.parametrize(
    "patch, culprit",
    [
        ({"train": {"stepz": 10}}, "train.stepz: unknown key"),
        ({"colour": 1}, "colour: unknown key"),
        ({"train": {"steps": "many"}}, "train.steps: 'many' is not of type 'integer'"),
        ({"train": {"steps": 0}}, "train.steps: 0 is less than the minimum of 1"),
        ({"train": {"batch_size": -4}}, "train.batch_size"),
        ({"capacity": {"sizes": [1]}}, "capacity.sizes[0]"),
        ({"studies": ["capacity"], "capacity": {"widths": [20]}}, "capacity.widths: width 20"),
        ({"diffusion": {"loss": "hybrid"}, "model": {"learn_sigma": False}}, "diffusion.loss=hybrid"),
        ({"diffusion": {"loss": "simple"}}, "diffusion.loss=simple"),
        ({"sample": {"steps": 5000}}, "sample.steps=5000"),
        ({"score": {"threshold": 0}}, "score.threshold"),
        ({"resources": {"train": {"gpu": 2}}}, "resources.train.gpu"),
    ],
)
def test_bad_config_is_one_line_naming_the_key(patch, culprit):
    with pytest.raises(MemgenError) as err:
        validate_config(patch)
    msg = str(err.value)
    assert culprit in msg
    assert "\n" not in msg


def test_training_spec_excludes_sampling_and_scoring():
    spec = training_spec(load_config(None))
    assert set(spec) == {"image_size", "model", "diffusion", "train"}


def test_snakemake_dry_run_stops_on_misspelt_key(tmp_path, repo_root):
    cfg = yaml.safe_load((repo_root / "config.yaml").read_text())
    cfg["train"] = {"stepz": 5}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(cfg))
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-s", str(repo_root / "Snakefile"), "-d", str(tmp_path),
         "--configfile", str(tmp_path / "bad.yaml")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode != 0
    lines = [l for l in proc.stderr.splitlines() if "stepz" in l]
    assert lines == ["memgen: config error: train.stepz: unknown key (allowed: batch_size, checkpoint_every, "
                     "compile, ema_rate, log_every, lr, precision, steps, weight_decay)"]
    assert not (tmp_path / "results").exists()


def test_snakemake_dry_run_plans_the_default_grid(tmp_path, repo_root):
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-s", str(repo_root / "Snakefile"), "-d", str(tmp_path),
         "--configfile", str(repo_root / "config.yaml"), "--quiet", "rules"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    counts = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    # Per seed (3 seeds), trained models: capacity 2 widths x 3 sizes; dummies_mondrian the 16-dummy cell and its
    # twin (its base is capacity's w16/N=16); unconditional_dummies 1; classes 1 total; dummy_kinds hybrid,
    # heldout, shapes (its gm cell is dummies_mondrian's, its base capacity's); loss_gap snapshots capacity's
    # w16/N=64 run; disjoint_split one side-B model per width-16 capacity size (side A is capacity's model).
    assert counts["train"] == 3 * (6 + 2 + 1 + 1 + 3 + 3)
    # Scored cells, per study: 6 + 3 + 1 + 1 + (1 + 4) + 3 snapshots + 3 side B. Sample sets, one per checkpoint
    # and sampling: capacity 6; dummies_mondrian the 16-dummy cell and its twin (its base is capacity's set);
    # unconditional_dummies 1; classes 1; dummy_kinds hybrid, heldout, shapes (gm: dummies_mondrian's, base:
    # capacity's); loss_gap its 2 earlier snapshots (the last is capacity's w16/N=64 model); 3 side B.
    assert counts["score"] == 3 * (6 + 3 + 1 + 1 + 5 + 3 + 3)
    assert counts["sample"] == 3 * (6 + 2 + 1 + 1 + 3 + 2 + 3)
    # Data sets: capacity's 3 sizes (shared across widths and with loss_gap), 16 + 16 GM (dummies and
    # unconditional_dummies), classes' total, dummy_kinds' hybrid/heldout/shapes sets, 3 split sets.
    assert counts["materialize"] == 3 * (3 + 1 + 1 + 3 + 3)
    # Tables: 7 studies with cells, each a replicate, an across-seeds and a comparisons table; capacity's two
    # estimates, the loss gap (per level and per image), its peak, permutation test and bands, the agreement (pairs,
    # summary, regime), the dichotomy, the criterion's threshold sweep and Table 1. Figures: 8 of the studies + the
    # criterion's 2. Galleries: the first seed's.
    assert counts["derive"] == 7 * 3 + 2 + 5 + 3 + 3 and counts["figure"] == 8 + 2
    assert counts["gallery"] == 3 + 1 + 1
    assert counts["loss_by_level_cell"] == 3 * 3  # one per loss-gap snapshot and seed
    assert counts["sample_optimal"] == 3 * 3 and counts["train_classifier"] == 3


def test_configs_layer_as_snakemake_layers_them():
    """memgen plan layers ./config.yaml under --configfile as Snakemake layers its configfile and --configfile:
    mappings merge key by key, lists and scalars replace."""
    from memgen.config import merge_configs

    shipped = {"studies": ["capacity", "classes"], "seeds": [0, 1, 2], "train": {"steps": 800, "lr": 0.001}}
    mine = {"studies": ["capacity"], "train": {"steps": 100}}
    merged = merge_configs(shipped, mine)
    assert merged == {"studies": ["capacity"], "seeds": [0, 1, 2], "train": {"steps": 100, "lr": 0.001}}
    assert shipped["train"]["steps"] == 800  # the inputs are not changed
