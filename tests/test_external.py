"""Bring your own model: a checkpoint trained elsewhere, in the reference's format, audited end to end through
Snakemake (import, sampling, the four-way score, gallery, loss gap per noise level)."""

import subprocess
import sys

import pandas as pd
import pytest
import torch
import yaml

from memgen.config import load_config
from memgen.errors import MemgenError
from memgen.model import UNet, UNetConfig
from memgen.studies import Grid

TINY_UNET = UNetConfig(image_size=8, width=16, num_res_blocks=1, channel_mult=(1, 2), attention_resolutions=(),
                       num_heads=4, dropout=0.0, norm_groups=8, learn_sigma=True)


@pytest.fixture(scope="module")
def reference_file(tmp_path_factory):
    """A state dict saved the way openai/improved-diffusion saves its EMA weights (a bare state_dict)."""
    torch.manual_seed(0)
    model = UNet(TINY_UNET)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    path = tmp_path_factory.mktemp("ref") / "ema_0.9999_000200.pt"
    torch.save(model.state_dict(), path)
    return path


def audit_config(path) -> dict:
    return {"studies": ["external"], "image_size": 8, "diffusion": {"steps": 100},
            "sample": {"num_samples": 12, "batch_size": 12, "steps": 10},
            "model": {"channel_mult": [1, 2], "num_res_blocks": 1, "norm_groups": 8},
            "external": {"models": [{"checkpoint": str(path), "dataset": "mondrian", "size": 6, "seed": 0,
                                     "heldout": 6, "levels": 4, "diffusion_steps": 100, "noise_schedule": "cosine",
                                     "norm_groups": 8}]}}


def test_the_grid_reads_the_checkpoint(reference_file):
    (cell,) = Grid(load_config(audit_config(reference_file))).cells("external")
    assert (cell.width, cell.steps, cell.conditional, cell.extra("heldout")) == (16, 200, False, 6)
    assert cell.name == "w16-n6-none0-it200-b0-uncond-s0"


def test_heldout_beyond_the_source_is_refused(reference_file, tmp_path):
    """A folder of 8 images that trained the model on 6 leaves 2 held out: asking for 6 would hand training images
    to the loss gap as held-out ones."""
    from PIL import Image

    for i in range(8):
        Image.new("RGB", (8, 8), (30 * i, 0, 0)).save(tmp_path / f"{i}.png")
    config = audit_config(reference_file)
    config["external"]["models"][0]["dataset"] = f"folder:{tmp_path}"
    with pytest.raises(MemgenError, match=r"external.models\[0\]: size 6 \+ heldout 6 images of folder:.*has 8"):
        Grid(load_config(config)).cells("external")
    config["external"]["models"][0]["heldout"] = 2
    assert Grid(load_config(config)).cells("external")[0].extra("heldout") == 2


def test_a_missing_checkpoint_is_one_line(tmp_path):
    with pytest.raises(MemgenError, match="missing.pt: checkpoint not found"):
        Grid(load_config(audit_config(tmp_path / "missing.pt"))).cells("external")


def test_audit_end_to_end(reference_file, tmp_path, repo_root):
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(audit_config(reference_file)))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(repo_root / "Snakefile"), "-d", str(tmp_path),
                           "--cores", "2", "--configfile", str(tmp_path / "audit.yaml")],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    res, cell = tmp_path / "results" / "external", "w16-n6-none0-it200-b0-uncond-s0"
    table = pd.read_parquet(res / "replicates.parquet")
    assert len(table) == 1 and table["n_samples"].iloc[0] == 12 and pd.isna(table["epochs_per_image"].iloc[0])
    four = table[["frac_replicate", "frac_partial_copy", "frac_novel_valid", "frac_invalid"]].sum(axis=1)
    assert abs(float(four.iloc[0]) - 1.0) < 1e-12
    losses = pd.read_parquet(res / cell / "losses.parquet")
    assert set(losses["split"]) == {"train", "heldout"} and (losses["step"] == 200).all()
    for png in (res / cell / "gallery.png", res / cell / "loss_gap.png"):
        assert png.read_bytes()[:4] == b"\x89PNG", png
    log = (tmp_path / "results" / "logs" / "models" / "mondrian" / cell / "imported.log").read_text()
    assert "inferred from the state dict" in log and "width (num_channels)  16" in log


def test_checkpoints_of_one_run_give_its_onset_table(tmp_path, repo_root):
    """Several checkpoints of one improved-diffusion run (one training set and seed, the step in each file name)
    are its snapshots: the external study gives the dynamics study's onset and stopping tables and figure."""
    torch.manual_seed(1)
    model, files = UNet(TINY_UNET), []
    for step in (100, 200, 400):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.02 * torch.randn_like(p))
        files.append(tmp_path / f"ema_0.9999_{step:06d}.pt")
        torch.save(model.state_dict(), files[-1])
    config = audit_config(files[0])
    entry = {**config["external"]["models"][0], "heldout": 0}
    config["external"]["models"] = [{**entry, "checkpoint": str(f)} for f in files]
    (tmp_path / "audit.yaml").write_text(yaml.safe_dump(config))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "external", "-s", str(repo_root / "Snakefile"), "-d",
                           str(tmp_path), "--cores", "2", "--configfile", str(tmp_path / "audit.yaml")],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    res = tmp_path / "results" / "external"
    onset = pd.read_parquet(res / "onset.parquet")
    assert len(onset) == 1 and onset[["n_snapshots", "first_step", "last_step"]].values.tolist() == [[3, 100, 400]]
    assert onset["tau_mem_censoring"].isin(["interval", "left", "right"]).all()
    stop = pd.read_parquet(res / "stopping.parquet")
    assert len(stop) == 1 and (stop["stop_before"].isna() | stop["stop_before"].isin([100, 200, 400])).all()
    assert "tau_mem" in (res / "onset.md").read_text()
    assert (res / "figures" / "dynamics_ema.png").read_bytes()[:4] == b"\x89PNG"
