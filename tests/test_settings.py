"""Every setting is honoured: a non-default value set in the config arrives where it acts, and a default has one
home (the schema, or the reference architecture in memgen.model.config)."""

import subprocess
import sys

import numpy as np
import pytest
import yaml
from tiny import tiny

from memgen import cli
from memgen.config import load_config, schema_default
from memgen.data.materialize import build_training_set, write_dataset
from memgen.errors import MemgenError
from memgen.evaluation import assess
from memgen.io import save_images_npz
from memgen.model.config import UNetConfig, reference_default
from memgen.studies import Grid
from memgen.studies.catalog.external import import_keywords


def test_the_threshold_reaches_the_partial_copies(tmp_path, monkeypatch):
    """`memgen score --threshold` is the threshold of the partial copies too (the four-way outcome)."""
    images, labels, card = build_training_set("mondrian", 6, 0, 8)
    write_dataset(tmp_path / "train.npz", tmp_path / "card.json", images, labels, card)
    save_images_npz(tmp_path / "samples.npz", images[:3], np.zeros(3, dtype=np.int64))
    seen = []
    real = assess.mondrian_partial_copies

    def spy(*args, **kwargs):
        seen.append(kwargs["threshold"])
        return real(*args, **kwargs)

    monkeypatch.setattr(assess, "mondrian_partial_copies", spy)
    for value in (0.25, 0.5):
        args = ["score", "--train", str(tmp_path / "train.npz"), "--samples", str(tmp_path / "samples.npz"),
                "--card", str(tmp_path / "card.json"), "--threshold", str(value), "--out", str(tmp_path / "s.parquet")]
        assert cli.main(args) == 0
    assert seen == [0.25, 0.5]


def test_the_threshold_reaches_every_rule_that_uses_it(tmp_path, repo_root):
    """score.threshold: 0.25 in the config is what scoring, the galleries, the disjoint-split agreement and the
    criterion's figures are given."""
    config = tiny(20, 10, 10, studies=["capacity", "dummies_mondrian", "disjoint_split", "criterion"],
                  score={"threshold": 0.25}, capacity={"widths": [16], "sizes": [2, 6]},
                  dummies_mondrian={"widths": [16], "size": 4, "ndummy": [0]})
    (tmp_path / "t.yaml").write_text(yaml.safe_dump(config))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-p", "-s", str(repo_root / "Snakefile"), "-d",
                           str(tmp_path), "--configfile", str(tmp_path / "t.yaml")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    shell = [line for line in proc.stdout.splitlines() if "python -m memgen" in line]
    score = [line for line in shell if "memgen score" in line]
    gallery = [line for line in shell if "memgen gallery" in line]
    assert score and all("--threshold 0.25" in line for line in score)
    assert gallery and all("--threshold 0.25" in line for line in gallery)
    derived = [line for line in shell if "memgen derive disjoint_split agreement_pairs" in line
               or "memgen figure threshold_sweep" in line or "memgen figure criterion_pairs" in line]
    assert len(derived) == 3 and all('"threshold": 0.25' in line for line in derived)
    # 1/3 appears only as one point of the criterion's sweep of thresholds (criterion.thresholds)
    assert [line for line in shell if "0.3333" in line] == [line for line in shell if "derive criterion" in line]


def test_the_threshold_has_one_home():
    assert schema_default("score.threshold") == pytest.approx(1 / 3)
    assert load_config({"score": {"threshold": 0.2}}).score.threshold == 0.2


def test_loss_gap_train_steps_is_the_budget_of_its_run():
    default = Grid(load_config({"studies": ["loss_gap"]})).cells("loss_gap")
    assert [c.steps for c in default] == [200, 400, 800] and {c.train_steps for c in default} == {800}
    longer = Grid(load_config({"studies": ["loss_gap"], "loss_gap": {"train": {"steps": 5000}}})).cells("loss_gap")
    assert [c.steps for c in longer] == [200, 400, 800, 5000] and {c.train_steps for c in longer} == {5000}
    with pytest.raises(MemgenError, match=r"loss_gap.snapshots: step 800 is beyond .* loss_gap.train.steps=500"):
        Grid(load_config({"studies": ["loss_gap"], "loss_gap": {"train": {"steps": 500}}})).cells("loss_gap")


def test_reference_architecture_defaults_have_one_home():
    assert reference_default("num_heads") == UNetConfig(image_size=32, width=64).num_heads == 4
    assert reference_default("norm_groups") == 32
    entry = {"source": "improved-diffusion", "diffusion_steps": 4000, "noise_schedule": "cosine", "num_heads": None,
             "norm_groups": None, "class_names": []}
    assert "num_heads" not in import_keywords(entry, 32) and "norm_groups" not in import_keywords(entry, 32)
    assert {"num_heads": 8, "norm_groups": 16}.items() <= import_keywords({**entry, "num_heads": 8, "norm_groups": 16},
                                                                          32).items()
    assert cli.build_parser().parse_args(["import-checkpoint", "--from", "memgen", "x.pt", "--out", "y.pt"]
                                         ).norm_groups == 32
