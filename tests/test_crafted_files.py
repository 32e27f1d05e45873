"""Crafted files: a file of each kind memgen reads, carrying a pickled payload (`crafted.Payload`, an ``os.mkdir``
of a marker directory), is refused in one line naming it, and the payload never runs (the marker never appears).

Rows C1-C16 of docs/bad-input.md ("Crafted files") are the cases here: the ``python -m memgen`` subcommands
(run through the real ``main()``: exit code, the one stderr line, its prefix, no ``results/`` written) and
Snakemake's planning and running of the external study (``snakemake [-n]`` in a subprocess: exit 1 and one
``memgen: config error:`` line). Each crafted file's payload is first shown to fire when read unsafely.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import crafted
from memgen.cli import main

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "bad-input.md"
SAMPLE = ["sample", "--num-samples", "2", "--steps", "5", "--seed", "0", "--out", "results/samples.npz", "--device",
          "cpu", "--threads", "1", "--checkpoint"]
TRAIN = ["train", "--data", "inputs/train.npz", "--width", "16", "--seed", "0", "--config", "inputs/tiny.json",
         "--out", "results/model.pt", "--loss-log", "results/loss.parquet", "--device", "cpu", "--threads", "1"]
LOSS_GAP = ["loss-gap", "--train", "inputs/train.npz", "--heldout", "inputs/heldout.npz", "--levels", "2", "--out",
            "results/losses.parquet", "--device", "cpu", "--threads", "1", "--checkpoints"]
MATERIALIZE = ["materialize", "--base", "cifar:automobile", "--n", "2", "--seed", "0", "--image-size", "8", "--out",
               "results/train.npz", "--card", "results/card.json", "--cifar-root", "inputs/cifar"]
REF = crafted.REFERENCE_NAME

# row -> (how it runs, argv or (source, snakemake flags), the crafted file: (kind, file, built from, key)).
# kind: torch (key replaced by the payload), legacy (the same in torch's pre-1.6 format), pickle, array (a numpy
# array at key, no payload), npz, yaml, cifar. "cli": main(argv); "cli-md5": the same with torchvision's md5 table
# set to the crafted archive's sums (files that pass the check); "smk": snakemake on the external study.
CASES = {
    "C1": ("cli", [*SAMPLE, "inputs/model.pt"], ("torch", "model.pt", "model", "config.note")),
    "C2": ("cli", [*TRAIN, "--state", "inputs/state.pt"], ("torch", "state.pt", "state", "rng.numpy")),
    "C3": ("cli", [*LOSS_GAP, "inputs/snapshot.pt"], ("torch", "snapshot.pt", "snapshot", "loss_log")),
    "C4": ("cli", ["select", "--classifier", "inputs/classifier.pt", "--samples", "inputs/samples.npz", "--out",
                   "results/selected.npz"], ("torch", "classifier.pt", "classifier", "config.class_names")),
    "C5": ("cli", ["import-checkpoint", "--from", "improved-diffusion", f"inputs/{REF}", "--out", "results/m.pt",
                   "--image-size", "8", "--norm-groups", "8"], ("torch", REF, "reference", "out.2.bias")),
    "C6": ("cli", ["import-checkpoint", "--from", "memgen", "inputs/model.pt", "--out", "results/m.pt"],
           ("torch", "model.pt", "model", "config.note")),
    "C7": ("cli", [*SAMPLE, "inputs/old_format.pt"], ("legacy", "old_format.pt", "model", "config.note")),
    "C8": ("cli", [*SAMPLE, "inputs/bare.pkl"], ("pickle", "bare.pkl", None, None)),
    "C9": ("cli", [*SAMPLE, "inputs/array.pt"], ("array", "array.pt", "model", "config.note")),
    "C10": ("cli", [*TRAIN[:1], "--data", "inputs/pickled.npz", *TRAIN[3:]], ("npz", "pickled.npz", None, None)),
    "C11": ("cli", ["validate-config", "inputs/config.yaml"], ("yaml", "config.yaml", None, None)),
    "C12": ("cli", MATERIALIZE, ("cifar", "cifar", None, None)),
    "C13": ("cli-md5", MATERIALIZE, ("cifar", "cifar", None, None)),
    "C14": ("smk", ("memgen", ["-n"]), ("torch", "model.pt", "model", "config.note")),
    "C15": ("smk", ("improved-diffusion", ["-n"]), ("torch", REF, "reference", "out.2.bias")),
    "C16": ("smk", ("memgen", ["--cores", "1"]), ("torch", "model.pt", "model", "config.note")),
}


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> dict[str, Path]:
    return crafted.valid_files(tmp_path_factory.mktemp("valid"))


def _craft(spec, inputs: Path, marker: Path, valid: dict[str, Path]) -> Path:
    """Write the crafted file of a row into ``inputs``; its payload creates ``marker``."""
    kind, name, base, key = spec
    dst = inputs / name
    if kind in ("torch", "legacy"):
        return crafted.crafted_torch(valid[base], dst, key, marker, legacy_format=kind == "legacy")
    if kind == "array":
        import torch

        obj = torch.load(valid[base], weights_only=True)
        obj["config"]["note"] = np.zeros(3, np.uint32)  # numpy globals the legacy allowance admits, out of place
        torch.save(obj, dst)
        return dst
    return {"pickle": crafted.crafted_pickle, "npz": crafted.crafted_npz, "yaml": crafted.crafted_yaml,
            "cifar": crafted.crafted_cifar}[kind](dst, marker)


def _work(tmp_path: Path, row: str, valid: dict[str, Path]) -> tuple[Path, Path]:
    """A directory with ``inputs/`` (the valid files, then the row's crafted one) and the row's marker path."""
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for name, path in valid.items():
        (inputs / path.name).write_bytes(path.read_bytes())
    marker = tmp_path / f"marker-{row}"
    _craft(CASES[row][2], inputs, marker, valid)
    return inputs, marker


def _doc_rows() -> dict[str, tuple[str, int]]:
    """Row id -> (documented error prefix, exit code), from the "Crafted files" section of docs/bad-input.md."""
    section = DOC.read_text().split("## Crafted files", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        if m := re.match(r"^\|\s*(C\d+)\s*\|.*\|\s*`([^`]+)`\s*\|\s*(\d+)\s*\|\s*$", line):
            rows[m.group(1)] = (m.group(2), int(m.group(3)))
    return rows


def test_the_doc_and_the_cases_list_the_same_rows():
    assert sorted(_doc_rows()) == sorted(CASES)


LIVE = {"torch": "torch", "legacy": "torch", "pickle": "pickle", "npz": "npz", "yaml": "yaml"}


@pytest.mark.parametrize("kind", sorted(set(LIVE) | {"cifar"}))
def test_each_payload_fires_when_read_unsafely(kind, valid, tmp_path):
    """The crafted files are real attacks: torch.load(weights_only=False), pickle, np.load(allow_pickle=True) and
    yaml.unsafe_load run the payload."""
    row = next(r for r, (_, _, spec) in CASES.items() if spec[0] == kind)
    inputs, marker = _work(tmp_path, row, valid)
    path = inputs / CASES[row][2][1]
    if kind == "cifar":
        path, kind = path / "cifar-10-batches-py" / "data_batch_1", "pickle"
    assert crafted.live(LIVE.get(kind, kind), path, marker)


def _snakemake(work: Path, source: str, flags: list[str], checkpoint: str) -> subprocess.CompletedProcess:
    config = {"studies": ["external"], "image_size": 8, "diffusion": {"steps": 100},
              "sample": {"num_samples": 4, "batch_size": 4, "steps": 5},
              "model": {"channel_mult": [1, 2], "num_res_blocks": 1, "norm_groups": 8},
              "external": {"models": [{"checkpoint": checkpoint, "source": source, "dataset": "mondrian", "size": 6,
                                       "seed": 0, "heldout": 6, "levels": 2, "diffusion_steps": 100,
                                       "noise_schedule": "cosine", "norm_groups": 8}]}}
    (work / "audit.yaml").write_text(yaml.safe_dump(config))
    return subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(work),
                           *flags, "--configfile", str(work / "audit.yaml")], capture_output=True, text=True,
                          timeout=600)


@pytest.mark.parametrize("row", sorted(CASES, key=lambda r: int(r[1:])))
def test_a_crafted_file_is_refused_and_its_payload_never_runs(row, valid, tmp_path, monkeypatch, capsys):
    how, argv, spec = CASES[row]
    inputs, marker = _work(tmp_path, row, valid)
    prefix, exit_code = _doc_rows()[row]
    monkeypatch.chdir(tmp_path)
    if how == "smk":
        source, flags = argv
        proc = _snakemake(tmp_path, source, flags, f"inputs/{spec[1]}")
        rc, ours = proc.returncode, [line for line in proc.stderr.splitlines() if line.startswith("memgen:")]
        assert len(ours) == 1, proc.stderr[-3000:]
        assert not (tmp_path / "results").exists() or not any((tmp_path / "results").rglob("*.pt"))
    else:
        if how == "cli-md5":
            from cifar_fixture import use_fixture_checksums

            use_fixture_checksums(monkeypatch, inputs / "cifar")
        rc = main(argv)
        err = capsys.readouterr().err
        assert err.endswith("\n") and err.count("\n") == 1, err  # exactly one line
        ours = [err.rstrip("\n")]
        assert not (tmp_path / "results").exists()
    assert rc == exit_code != 0, ours
    assert ours[0].startswith(prefix), (ours[0], prefix)
    assert f"inputs/{spec[1]}" in ours[0]  # the line names the file
    assert not marker.exists(), "the payload ran"


def test_a_crafted_config_never_runs_under_snakemake(valid, tmp_path):
    """Snakemake reads --configfile itself (JSON, else YAML through yte with PyYAML's FullLoader, which refuses
    python/object tags): its own error, not memgen's one line, and the payload does not run."""
    marker = tmp_path / "marker"
    crafted.crafted_yaml(tmp_path / "config.yaml", marker)
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path),
                           "--configfile", str(tmp_path / "config.yaml")], capture_output=True, text=True, timeout=300)
    said = proc.stdout + proc.stderr  # Snakemake prints this error on stdout
    assert proc.returncode != 0 and "not valid JSON or YAML" in said, said[-2000:]
    assert not marker.exists()


def test_the_import_job_refuses_what_planning_did_not_read(valid, tmp_path, monkeypatch):
    """Planning takes a checkpoint's facts from the cache the import step writes when they match the file's size
    and modification time (memgen.interop.facts), without opening it (a file swapped keeping both is planned so):
    the import job is then the first to read the crafted file. It refuses it with the one line in its log, the run
    stops, the payload never runs."""
    from memgen.interop.facts import cache_dir, facts_name, write_facts

    inputs, marker = _work(tmp_path, "C1", valid)
    path = inputs / "model.pt"
    write_facts(path, "memgen", cache_dir(tmp_path / "results") / facts_name(path),
                {"width": 16, "step": 30, "conditional": True})
    monkeypatch.chdir(tmp_path)
    proc = _snakemake(tmp_path, "memgen", ["--cores", "1", "--until", "import_model"], str(path))
    assert proc.returncode == 1, proc.stderr[-3000:]
    (log,) = (tmp_path / "results" / "logs").rglob("imported.log")
    assert log.read_text().splitlines()[-1].startswith(f"memgen: error: {path}: holds Python objects")
    assert not marker.exists() and not list((tmp_path / "results").rglob("imported.pt"))
