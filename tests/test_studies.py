"""The study registry: a study is one record, selected by one list, and its config resolves the same inside and
outside Snakemake."""

import json
import subprocess
import sys
import textwrap

import pytest
import yaml

from memgen.config import load_config, register_study_schema, study_names
from memgen.errors import MemgenError
from memgen.studies import REGISTRY, Grid, Study, expand, get, register

TOY_SCHEMA = {
    "description": "A toy copy of the capacity study, registered by a test.",
    "type": "object",
    "additionalProperties": False,
    "default": {},
    "properties": {
        "dataset": {"$ref": "#/$defs/base_dataset"},
        "widths": {"$ref": "#/$defs/widths", "default": [16]},
        "num_samples": {"$ref": "#/$defs/num_samples"},
        "train": {"$ref": "#/$defs/train_override"},
        "sizes": {"description": "Sizes.", "type": "array", "items": {"type": "integer", "minimum": 2},
                  "default": [4, 6]},
    },
}


def test_every_record_has_a_schema_block_and_the_other_way_round():
    assert list(REGISTRY) == study_names()


def test_unknown_study_is_one_line_naming_it():
    with pytest.raises(MemgenError, match=r"studies\[1\]=capacty: unknown study \(known: capacity, "):
        load_config({"studies": ["classes", "capacty"]})


def test_selecting_one_study_needs_one_line():
    cfg = load_config({"studies": ["classes"]})
    assert cfg.studies == ("classes",)
    assert [t.split("/")[0] for t in Grid(cfg).all_targets()] == ["classes"] * len(Grid(cfg).all_targets())


def test_a_study_added_by_one_record_is_a_target(tmp_path, repo_root):
    """One record and one schema block, registered from outside the package: Snakemake plans it end to end."""
    (tmp_path / "Snakefile").write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(repo_root / "workflow")!r})
        from memgen.config import register_study_schema
        from memgen.studies import Study, expand, register
        register_study_schema("toy", {TOY_SCHEMA!r})
        register(Study("toy", "a toy copy of capacity", expand.capacity, figures=("capacity",)))
        include: {str(repo_root / "Snakefile")!r}
    """))
    config = {"studies": ["toy"], "image_size": 8, "diffusion": {"steps": 100}, "sample": {"steps": 10},
              "model": {"channel_mult": [1, 2], "num_res_blocks": 1, "norm_groups": 8}, "toy": {"sizes": [4, 6]}}
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(config))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-s", str(tmp_path / "Snakefile"), "-d",
                           str(tmp_path), "toy", "--quiet", "rules", "--configfile", str(tmp_path / "toy.yaml")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = dict(line.split() for line in proc.stdout.splitlines() if len(line.split()) == 2
                and line.split()[1].isdigit())
    assert jobs["toy"] == "1" and jobs["train"] == jobs["sample"] == jobs["score"] == "2"
    assert jobs["aggregate"] == jobs["figure"] == "1"


def test_register_in_process():
    register_study_schema("toy2", TOY_SCHEMA)
    register(Study("toy2", "another toy", expand.capacity))
    try:
        cfg = load_config({"studies": ["toy2"], "toy2": {"sizes": [8]}})
        grid = Grid(cfg)
        assert [c.name for c in grid.cells("toy2")] == ["w16-n8-none0-it1600-b64-uncond-s0"]
        assert grid.targets("toy2") == ["toy2/replicates.parquet", "toy2/replicates.md"]
        assert get("toy2").expand is expand.capacity
    finally:
        REGISTRY.pop("toy2")
        from memgen import config

        config._EXTRA_STUDIES.pop("toy2")


def test_partial_config_resolves_the_same_inside_and_outside_snakemake(tmp_path, repo_root):
    partial = {"capacity": {"widths": [32], "sizes": [8, 16]}, "train": {"steps": 10}}
    (tmp_path / "partial.yaml").write_text(yaml.safe_dump(partial))
    out = tmp_path / "resolved.json"
    (tmp_path / "Snakefile").write_text(textwrap.dedent(f"""
        include: {str(repo_root / "Snakefile")!r}
        import json
        with open({str(out)!r}, "w") as f:
            json.dump(CFG.to_dict(), f)
    """))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-s", str(tmp_path / "Snakefile"), "-d",
                           str(tmp_path), "--configfile", str(repo_root / "config.yaml"),
                           str(tmp_path / "partial.yaml"), "--quiet"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    inside = json.loads(out.read_text())
    outside = load_config(tmp_path / "partial.yaml").to_dict()
    assert inside == outside
    assert inside["capacity"]["sizes"] == [8, 16] and inside["train"]["steps"] == 10
    assert inside["train"]["batch_size"] == 64  # the schema default


def test_config_yaml_sets_only_what_differs_from_nothing():
    """The schema is the one home of defaults: the shipped config.yaml resolves to the defaults exactly."""
    from pathlib import Path

    shipped = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text())
    assert set(shipped) == {"studies"}
    assert load_config(shipped) == load_config(None)
