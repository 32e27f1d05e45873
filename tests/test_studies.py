"""The study registry: a study is one record, selected by one list, and its config resolves the same inside and
outside Snakemake."""

import json
import os
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
import yaml

from memgen.config import load_config, merge_configs, register_study_schema, study_names
from memgen.errors import MemgenError
from memgen.studies import REGISTRY, Grid, Study, get, register
from memgen.studies.catalog import capacity

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


# A study defined outside the package, as the README's recipe has it: one record, one schema block, its pure
# functions (a table and a figure of its own). Nothing of memgen is edited.
TOY_MODULE = '''
import pandas as pd
from matplotlib.figure import Figure

from memgen.analysis.plotting import save_png_atomic
from memgen.config import register_study_schema
from memgen.studies import Plot, Study, Table, path, register
from memgen.studies.catalog import capacity

SCHEMA = {schema!r}


def spread(table):
    """Per width: the smallest and largest replicate fraction over the sizes."""
    g = table.groupby("width")["replicate_fraction"]
    return pd.DataFrame({{"width": g.min().index, "low": g.min().to_numpy(), "high": g.max().to_numpy()}})


def bars(table, out_path, title):
    fig = Figure(figsize=(3, 2))
    ax = fig.add_subplot()
    ax.bar(table["width"].astype(str), table["high"] - table["low"], bottom=table["low"])
    ax.set_title(title)
    save_png_atomic(fig, out_path)


def replicates(grid, study):
    return {{"table": path("table", study=study, table="replicates")}}


def own_table(grid, study):
    return {{"table": path("table", study=study, table="spread")}}


def title(grid, study):
    return {{"title": f"spread of {{study}}"}}


register_study_schema("toy", SCHEMA)
register(Study("toy", "a toy study with a table and a figure of its own", capacity.expand,
               tables=(Table("spread", "toy_study:spread", replicates),),
               figures=(Plot("spread", "toy_study:bars", own_table, title),)))
'''


def test_a_study_added_by_its_record_runs_through_snakemake(tmp_path, repo_root):
    """The recipe: a study with an output and a figure of its own, registered by a plugin module, is planned and
    run by Snakemake (every job, the table and the figure included, in processes of their own)."""
    (tmp_path / "toy_study.py").write_text(TOY_MODULE.format(schema=TOY_SCHEMA))
    config = {"studies": ["toy"], "image_size": 8, "diffusion": {"steps": 100}, "sample": {"steps": 5,
              "num_samples": 8}, "train": {"steps": 4, "batch_size": 4}, "toy": {"sizes": [4, 6]},
              "model": {"channel_mult": [1, 2], "num_res_blocks": 1, "norm_groups": 8}}
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "MEMGEN_PLUGINS": "toy_study",
           "PYTHONPATH": os.pathsep.join([str(tmp_path), str(repo_root / "workflow")])}
    cmd = [sys.executable, "-m", "snakemake", "-s", str(repo_root / "Snakefile"), "-d", str(tmp_path), "--cores", "2",
           "--configfile", str(tmp_path / "toy.yaml")]
    plan = subprocess.run([*cmd, "-n", "--quiet", "rules"], capture_output=True, text=True, timeout=120, env=env)
    assert plan.returncode == 0, plan.stderr[-3000:]
    jobs = dict(line.split() for line in plan.stdout.splitlines() if len(line.split()) == 2
                and line.split()[1].isdigit())
    assert jobs["train"] == jobs["sample"] == jobs["score"] == "2" and jobs["figure"] == "1"
    assert jobs["derive"] == "3"  # the replicate and across-seeds tables every study with cells gets, and its own
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    res = tmp_path / "results" / "toy"
    replicates = pd.read_parquet(res / "replicates.parquet")
    spread = pd.read_parquet(res / "spread.parquet")
    assert list(spread.columns) == ["width", "low", "high"] and len(replicates) == 2
    assert spread["low"].item() == replicates["replicate_fraction"].min()
    assert spread["high"].item() == replicates["replicate_fraction"].max()
    assert (res / "figures" / "spread.png").read_bytes()[:4] == b"\x89PNG"
    pd.testing.assert_frame_equal(pd.read_parquet(res / "figures" / "spread.parquet"), spread)
    header = (res / "spread.md").read_text().splitlines()[0]
    assert [c.strip() for c in header.split("|")[1:-1]] == ["width", "low", "high"]


def test_register_in_process():
    register_study_schema("toy2", TOY_SCHEMA)
    register(Study("toy2", "another toy", capacity.expand))
    try:
        cfg = load_config({"studies": ["toy2"], "toy2": {"sizes": [8]}})
        grid = Grid(cfg)
        assert [c.name for c in grid.cells("toy2")] == ["w16-n8-none0-it800-b32-uncond-s0"]
        assert grid.targets("toy2") == ["toy2/replicates.parquet", "toy2/replicates.md", "toy2/across_seeds.parquet",
                                        "toy2/across_seeds.md"]
        assert get("toy2").expand is capacity.expand
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
    outside = load_config(merge_configs(yaml.safe_load((repo_root / "config.yaml").read_text()), partial)).to_dict()
    assert inside == outside
    assert inside["capacity"]["sizes"] == [8, 16] and inside["train"]["steps"] == 10
    assert inside["train"]["batch_size"] == 32  # the schema default


def test_config_yaml_holds_only_the_default_lists_of_studies_and_seeds():
    """The schema is the one home of defaults and selects no study; config.yaml only says which studies and seeds
    the default run selects: every study except those that need files of the user's (a checkpoint, the CIFAR-10
    archive) and the dynamics study, whose sampling of every snapshot from two sets of weights would add half the
    default run's time (`memgen plan`; `snakemake dynamics` runs it), three seeds."""
    from pathlib import Path

    shipped = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text())
    assert set(shipped) == {"studies", "seeds"} and load_config(None).studies == ()
    assert load_config(shipped) == load_config({**load_config(None).to_dict(), **shipped})
    assert set(REGISTRY) - set(shipped["studies"]) == {"dummies_cifar", "external", "dynamics"}
