"""Checkpoints, training states and snapshots of earlier memgen versions load safely and behave as before.

Before memgen saved its numpy RNG state as plain data, every such file held ``np.random.get_state()``'s tuple (a
uint32 array inside). `legacy` rewrites today's file that way; its pickle then asks for the very globals that a
file trained by the code of commit c1b6f54 asks for (numpy's ``_reconstruct``, ``ndarray``, ``dtype``). They load
through exactly that allowance (docs/bad-input.md, "Checkpoints of earlier versions"), convert to today's form,
sample, import, plan and resume as today's files do; where torch lacks ``safe_globals`` they are refused in the
one line of row O1.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import crafted
from memgen import checkpoint
from memgen.cli import main
from memgen.interop.facts import read_header_facts

DOC = Path(__file__).resolve().parents[1] / "docs" / "bad-input.md"
WRITTEN_BY_C1B6F54 = ["numpy._core.multiarray._reconstruct", "numpy.dtype", "numpy.ndarray"]


def legacy(src: Path, dst: Path, numpy1: bool = False) -> Path:
    """``src`` with its numpy RNG state as the tuple earlier versions saved; ``numpy1``: its pickle names
    ``_reconstruct`` as numpy 1 did (``numpy.core.multiarray``)."""
    obj = torch.load(src, weights_only=True)
    s = obj["rng"]["numpy"]
    obj["rng"]["numpy"] = (s["bit_generator"], s["key"].numpy().astype(np.uint32), s["pos"], s["has_gauss"], s["gauss"])
    torch.save(obj, dst)
    if numpy1:  # rewrite the pickle's GLOBAL line, records kept aligned by torch's own writer
        reader, tmp = torch._C.PyTorchFileReader(str(dst)), dst.with_suffix(".np1")
        writer = torch._C.PyTorchFileWriter(str(tmp))
        for name in reader.get_all_records():
            data = reader.get_record(name)
            if name == "data.pkl":
                data = data.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
            writer.write_record(name, data, len(data))
        writer.write_end_of_file()
        del writer, reader
        tmp.replace(dst)
    return dst


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("old")
    valid = crafted.valid_files(d / "valid")
    old = {k: legacy(valid[k], d / f"old_{k}.pt") for k in ("model", "state", "snapshot")}
    old["model_numpy1"] = legacy(valid["model"], d / "old_model_numpy1.pt", numpy1=True)
    return {**valid, **{f"old_{k}": v for k, v in old.items()}}


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if torch.is_tensor(a):
        return torch.is_tensor(b) and a.dtype == b.dtype and torch.equal(a, b)
    return type(a) is type(b) and a == b


def test_the_old_files_ask_for_what_earlier_versions_wrote(files):
    for name in ("old_model", "old_state", "old_snapshot"):
        assert sorted(torch.serialization.get_unsafe_globals_in_checkpoint(files[name])) == WRITTEN_BY_C1B6F54
    numpy1 = sorted(torch.serialization.get_unsafe_globals_in_checkpoint(files["old_model_numpy1"]))
    assert numpy1 == ["numpy.core.multiarray._reconstruct", "numpy.dtype", "numpy.ndarray"]


@pytest.mark.parametrize("name", ["model", "state", "snapshot", "model_numpy1"])
def test_an_old_file_loads_as_todays(name, files):
    today = checkpoint.load(files[name.removesuffix("_numpy1")])
    old = checkpoint.load(files[f"old_{name}"])
    assert _same(old, today)


def test_an_old_model_samples_imports_and_plans(files, tmp_path, capsys):
    out = tmp_path / "samples.npz"
    assert main(["sample", "--checkpoint", str(files["old_model"]), "--num-samples", "2", "--steps", "5", "--seed",
                 "0", "--out", str(out), "--device", "cpu", "--threads", "1"]) == 0
    assert main(["import-checkpoint", "--from", "memgen", str(files["old_model"]), "--out",
                 str(tmp_path / "m.pt")]) == 0
    assert _same(checkpoint.load(tmp_path / "m.pt"), checkpoint.load(files["model"]))
    assert read_header_facts(files["old_model"], "memgen") == {"width": 16, "step": 30, "conditional": True}


def test_a_run_resumes_from_an_old_state_as_from_todays(files, tmp_path):
    """The same training resumed at step 20 from the old and from today's state ends in the same model and log."""
    ends = []
    for name in ("state", "old_state"):
        d = tmp_path / name
        d.mkdir()
        shutil.copy(files[name], d / "model.pt.state")
        assert main(["train", "--data", str(files["train"]), "--width", "16", "--seed", "0", "--config",
                     str(files["config"]), "--out", str(d / "model.pt"), "--loss-log", str(d / "loss.parquet"),
                     "--device", "cpu", "--threads", "1"]) == 0
        ends.append((checkpoint.load(d / "model.pt"), pd.read_parquet(d / "loss.parquet")))
    (a, log_a), (b, log_b) = ends
    assert a["step"] == 30 and _same({k: a[k] for k in ("model", "ema", "rng")}, {k: b[k] for k in ("model", "ema",
                                                                                                    "rng")})
    pd.testing.assert_frame_equal(log_a.drop(columns="steps_per_s"), log_b.drop(columns="steps_per_s"))


def _doc_rows() -> dict[str, tuple[str, int]]:
    section = DOC.read_text().split("## Checkpoints of earlier versions", 1)[1].split("\n## ", 1)[0]
    return {m.group(1): (m.group(2), int(m.group(3))) for line in section.splitlines()
            if (m := re.match(r"^\|\s*(O\d+)\s*\|.*\|\s*`([^`]+)`\s*\|\s*(\d+)\s*\|\s*$", line))}


def test_row_o1_an_old_file_under_a_torch_without_safe_globals(files, tmp_path, monkeypatch, capsys):
    assert sorted(_doc_rows()) == ["O1"]
    prefix, exit_code = _doc_rows()["O1"]
    (tmp_path / "inputs").mkdir()
    shutil.copy(files["old_model"], tmp_path / "inputs" / "old.pt")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delattr(torch.serialization, "safe_globals")
    rc = main(["sample", "--checkpoint", "inputs/old.pt", "--num-samples", "2", "--steps", "5", "--seed", "0",
               "--out", "results/samples.npz", "--device", "cpu", "--threads", "1"])
    err = capsys.readouterr().err
    assert rc == exit_code == 2 and err.count("\n") == 1 and err.startswith(prefix), (err, prefix)
    assert not (tmp_path / "results").exists()
