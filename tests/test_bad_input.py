"""Every row of docs/bad-input.md, run through the real command line.

Each row runs `python -m memgen ...` (or `snakemake -n` for config rows) in its own directory, whose `results/`
folder is pre-filled with a few files (for the checkpoint rows, the resumable checkpoint the run refuses), and
checks: a non-zero exit, stderr holding exactly one `memgen: error:` line (`memgen: config error:` from
Snakemake) that starts with the documented prefix and names the culprit, and `results/` byte-for-byte unchanged.

The commands cost 2 s each, nearly all of it importing torch, so they run two at a time in a module fixture and
each parametrized case checks its own outcome. The table and `CASES` must list the same rows (tested).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from memgen import checkpoint, io
from memgen.config import load_config
from memgen.data import build_training_set
from memgen.train import train
from tiny import tiny

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "bad-input.md"
PY = sys.executable

# The model config of the tiny checkpoints (8x8 images, width 16) and of the config rows.
TINY = tiny(30, 10, 5, capacity={"widths": [16], "sizes": [4]})
TRAIN = ["train", "--data", "inputs/train.npz", "--width", "16", "--seed", "0", "--config", "inputs/tiny.json",
         "--out", "results/cell/model.pt", "--loss-log", "results/cell/loss.parquet", "--device", "cpu",
         "--threads", "1"]
SAMPLE = ["sample", "--checkpoint", "inputs/cond.pt", "--num-samples", "2", "--steps", "5", "--seed", "0",
          "--out", "results/cell/samples.npz", "--device", "cpu", "--threads", "1"]
SCORE = ["score", "--train", "inputs/train.npz", "--samples", "inputs/samples.npz", "--out",
         "results/cell/scores.parquet", "--summary", "results/cell/summary.parquet", "--device", "cpu",
         "--threads", "1"]
STATE = "results/cell/model.pt.state"


def _with(argv: list[str], **flags) -> list[str]:
    """`argv` with each --flag's value replaced (or the flag appended): _with(TRAIN, data="x.npz")."""
    argv = list(argv)
    for name, value in flags.items():
        flag = "--" + name.replace("_", "-")
        values = value if isinstance(value, list) else [str(value)]
        if flag in argv:
            i = argv.index(flag)
            argv[i + 1 : i + 2] = values
        else:
            argv += [flag, *values]
    return argv


def _patched(config: dict, patch: dict) -> dict:
    out = json.loads(json.dumps(config))
    for key, value in patch.items():
        node, parts = out, key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


# NaN from the 13th loss on: training must stop at step 13 and keep the checkpoint of step 10.
_NAN_CHILD = """
import sys
from memgen.diffusion import GaussianDiffusion
real, calls = GaussianDiffusion.training_losses, [0]
def poisoned(self, *args, **kwargs):
    calls[0] += 1
    out = real(self, *args, **kwargs)
    if calls[0] >= 13:
        out["loss"] = out["loss"] * float("nan")
    return out
GaussianDiffusion.training_losses = poisoned
from memgen.cli import main
sys.exit(main(sys.argv[1:]))
"""

# row -> (kind, argv or config patch, culprit the line must name). kind: "cli" (python -m memgen), "smk"
# (snakemake -n with the config TINY + patch), "nan" (the CLI with a poisoned loss). A row whose argv touches
# STATE gets the resumable checkpoint (step 20 of TINY, seed 0, inputs/train.npz) copied there first.
MATERIALIZE = ["materialize", "--n", "4", "--seed", "0", "--image-size", "8", "--out", "results/x/train.npz",
               "--card", "results/x/card.json"]
CASES: dict[int, tuple[str, object, str]] = {
    # --- config
    1: ("smk", {"train.stepz": 5}, "train.stepz"),
    2: ("smk", {"train.steps": "many"}, "train.steps"),
    3: ("smk", {"capacity.sizes": [-4]}, "capacity.sizes[0]"),
    4: ("smk", {"train.batch_size": 0}, "train.batch_size"),
    5: ("smk", {"image_size": 2}, "image_size"),
    6: ("smk", {"capacity.widths": [20]}, "width 20"),
    7: ("smk", {"image_size": 10, "model.channel_mult": [1, 2, 2]}, "model.image_size=10"),
    8: ("smk", {"sample.steps": 500}, "sample.steps=500"),
    9: ("smk", {"model.learn_sigma": False}, "diffusion.loss=hybrid"),
    10: ("cli", ["validate-config", "inputs/bad.yaml"], "inputs/bad.yaml"),
    11: ("cli", ["validate-config", "inputs/missing.yaml"], "inputs/missing.yaml"),
    12: ("cli", ["validate-config", "inputs/list.yaml"], "inputs/list.yaml"),
    13: ("cli", ["validate-config", "inputs/binary.yaml"], "inputs/binary.yaml"),
    14: ("cli", _with(TRAIN, config='{"image_size": 8,'), "--config"),
    63: ("smk", {"studies": ["capacity", "capacty"]}, "studies[1]=capacty"),
    # --- data
    15: ("cli", _with(TRAIN, data="inputs/missing.npz"), "inputs/missing.npz"),
    16: ("cli", _with(TRAIN, data="inputs/corrupt.npz"), "inputs/corrupt.npz"),
    17: ("cli", _with(TRAIN, data="inputs/truncated.npz"), "inputs/truncated.npz"),
    18: ("cli", _with(TRAIN, data="inputs/float.npz"), "inputs/float.npz"),
    19: ("cli", _with(TRAIN, data="inputs/gray.npz"), "inputs/gray.npz"),
    20: ("cli", _with(TRAIN, data="inputs/nokey.npz"), "inputs/nokey.npz"),
    21: ("cli", _with(TRAIN, data="inputs/empty.npz"), "inputs/empty.npz"),
    22: ("cli", _with(TRAIN, data="inputs/neglabels.npz"), "inputs/neglabels.npz"),
    23: ("cli", _with(TRAIN, data="inputs/nolabels.npz"), "inputs/nolabels.npz"),
    24: ("cli", _with(TRAIN, data="inputs/badlen.npz"), "inputs/badlen.npz"),
    25: ("cli", _with(TRAIN, data="inputs/pickled.npz"), "inputs/pickled.npz"),
    26: ("cli", _with(TRAIN, data="inputs/big16.npz"), "image_size=8"),
    27: ("cli", _with(TRAIN, card="inputs/list.json"), "inputs/list.json"),
    # --- checkpoints
    28: ("cli", _with(SAMPLE, checkpoint="inputs/missing.pt"), "inputs/missing.pt"),
    29: ("cli", _with(SAMPLE, checkpoint="inputs/truncated.pt"), "inputs/truncated.pt"),
    30: ("cli", _with(SAMPLE, checkpoint="inputs/foreign.pt"), "inputs/foreign.pt"),
    31: ("cli", _with(TRAIN, config="inputs/tiny_lr.json", state=STATE), "train.lr"),
    32: ("cli", _with(TRAIN, seed=5, state=STATE), "seed=0, this run has seed=5"),
    33: ("cli", _with(TRAIN, data="inputs/other.npz", state=STATE), "data_sha256"),
    34: ("cli", _with(TRAIN, config="inputs/tiny_short.json", state=STATE), "train.steps=10"),
    35: ("cli", _with(TRAIN, state="results/cell/truncated.pt.state"), "results/cell/truncated.pt.state"),
    # --- command line
    36: ("cli", _with(SCORE, samples="inputs/samples16.npz"), "inputs/samples16.npz"),
    37: ("cli", _with(SCORE, samples="inputs/zero.npz"), "inputs/zero.npz"),
    38: ("cli", ["materialize", "--base", "mondrian", "--n", "4", "--seed", "0", "--image-size", "2",
                 "--out", "results/data/train.npz", "--card", "results/data/card.json"], "image_size"),
    39: ("cli", _with(SCORE, train="inputs/one.npz"), "inputs/one.npz"),
    40: ("cli", _with(SCORE, threshold=1.5), "1.5"),
    41: ("cli", _with(SCORE, meta="width"), "--meta 'width'"),
    42: ("cli", _with(SCORE, meta="ratio=1"), "ratio"),
    43: ("cli", _with(SAMPLE, classes=7), "--classes [7]"),
    44: ("cli", _with(SAMPLE, checkpoint="inputs/uncond.pt", classes=1), "--classes [1]"),
    45: ("cli", _with(SAMPLE, steps=500), "--steps 500"),
    46: ("cli", _with(SAMPLE, num_samples=0), "--num-samples must be an integer >= 1, got 0"),
    47: ("cli", _with(SAMPLE, batch_size=0), "--batch-size must be an integer >= 1, got 0"),
    48: ("cli", _with(SAMPLE, threads=0), "--threads must be an integer >= 1, got 0"),
    49: ("cli", _with(TRAIN, seed=-1), "seed must be an integer >= 0, got -1"),
    50: ("cli", ["params", "--width", "20", "--image-size", "8", "--channel-mult", "1", "2", "--norm-groups", "8"],
         "model.width=20"),
    51: ("cli", ["params", "--width", "32", "--image-size", "48"], "model.image_size=48"),
    52: ("cli", ["materialize", "--base", "mondrian", "--n", "0", "--seed", "0", "--image-size", "8",
                 "--out", "results/data/train.npz", "--card", "results/data/card.json"], "n must be"),
    53: ("cli", _with(SAMPLE, out="results/capacity/replicates.md/samples.npz"), "results/capacity/replicates.md"),
    # --- training
    54: ("nan", TRAIN, "step 13"),
    # --- CIFAR-10 and image folders
    55: ("smk", {"studies": ["dummy_kinds"], "dummy_kinds.dataset": "cifar:automobile", "dummy_kinds.size": 2000,
                 "dummy_kinds.kinds": ["heldout"], "dummy_kinds.ndummy": [4500]}, "dummy_kinds"),
    56: ("smk", {"dummies_cifar.dataset": "cifar:car"}, "cifar:car"),
    64: ("smk", {"studies": ["capacity", "disjoint_split"], "capacity.dataset": "cifar:automobile",
                 "capacity.sizes": [4000]}, "disjoint_split.sizes"),
    65: ("smk", {"capacity.dataset": "cifar:automobile", "data.cifar_root": "inputs/cifar_partial"},
         "inputs/cifar_partial"),
    66: ("smk", {"capacity.dataset": "cifar:automobile", "capacity.sizes": [20], "score.copying_heldout": 0,
                 "data.cifar_root": "inputs/cifar_partial"}, "capacity"),
    67: ("smk", {"studies": ["capacity", "disjoint_split"], "capacity.dataset": "folder:inputs/folder_small",
                 "capacity.sizes": [2]}, "disjoint_split.sizes"),
    57: ("cli", [*MATERIALIZE, "--base", "cifar:automobile", "--cifar-root", "inputs/nocifar"], "inputs/nocifar"),
    58: ("cli", [*MATERIALIZE, "--base", "cifar:automobile", "--cifar-root", "inputs/cifar_partial"],
         "inputs/cifar_partial"),
    59: ("cli", [*MATERIALIZE, "--base", "folder:inputs/folder_mixed"], "inputs/folder_mixed/notes.txt"),
    60: ("cli", [*MATERIALIZE, "--base", "folder:inputs/folder_empty"], "inputs/folder_empty"),
    61: ("cli", [*MATERIALIZE, "--base", "folder:inputs/nofolder"], "inputs/nofolder"),
    62: ("cli", _with(TRAIN, data="inputs/gaplabels.npz", snapshots="10", snapshot_dir="results/cell/snapshots"),
         "inputs/gaplabels.npz"),
}


# --------------------------------------------------------------------------------------------------- inputs
def _npz(path: Path, **arrays) -> None:
    np.savez(path, **arrays)  # test fixtures only: np.savez writes the malformed sets io refuses to write


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """The shared input files of every row: valid tiny sets and checkpoints, and the broken ones."""
    d = tmp_path_factory.mktemp("inputs")
    images, labels, _ = build_training_set("mondrian", 3, 0, 8, "gm", 2)  # 5 images, 2 classes
    io.save_images_npz(d / "train.npz", images, labels)
    single, single_labels, _ = build_training_set("mondrian", 4, 0, 8)  # 1 class: unconditional
    io.save_images_npz(d / "train1.npz", single, single_labels)
    other, other_labels, _ = build_training_set("mondrian", 3, 7, 8, "gm", 2)
    io.save_images_npz(d / "other.npz", other, other_labels)
    io.save_images_npz(d / "samples.npz", single, single_labels)
    io.save_images_npz(d / "samples16.npz", np.zeros((3, 16, 16, 3), np.uint8), np.zeros(3, np.int64))
    io.save_images_npz(d / "one.npz", images[:1], labels[:1])
    io.save_images_npz(d / "big16.npz", np.zeros((4, 16, 16, 3), np.uint8), np.zeros(4, np.int64))
    (d / "corrupt.npz").write_text("this is not a zip file\n")
    (d / "truncated.npz").write_bytes((d / "train.npz").read_bytes()[:700])
    (d / "zero.npz").write_bytes(b"")
    zeros8 = np.zeros((4, 8, 8, 3), np.uint8)
    _npz(d / "float.npz", images=zeros8.astype(np.float32), labels=np.zeros(4, np.int64))
    _npz(d / "gray.npz", images=zeros8[..., 0], labels=np.zeros(4, np.int64))
    _npz(d / "nokey.npz", pixels=zeros8)
    _npz(d / "empty.npz", images=zeros8[:0], labels=np.zeros(0, np.int64))
    _npz(d / "neglabels.npz", images=zeros8, labels=np.array([0, 1, -1, 0]))
    _npz(d / "gaplabels.npz", images=zeros8, labels=np.array([0, 2, 2, 0]))
    _npz(d / "nolabels.npz", images=zeros8)
    _npz(d / "badlen.npz", images=zeros8, labels=np.zeros(3, np.int64))
    _npz(d / "pickled.npz", images=np.array([{"a": 1}], dtype=object), labels=np.zeros(1, np.int64))

    (d / "tiny.json").write_text(json.dumps(TINY))
    (d / "tiny_lr.json").write_text(json.dumps(_patched(TINY, {"train.lr": 0.01})))
    (d / "tiny_short.json").write_text(json.dumps(_patched(TINY, {"train.steps": 10})))
    (d / "bad.yaml").write_text("train: {steps: 10\n")
    (d / "list.yaml").write_text("- image_size\n- 8\n")
    (d / "binary.yaml").write_bytes(b"\xff\xfe\x00image_size: 8\n")
    (d / "list.json").write_text("[1, 2]\n")
    for row, (kind, patch, _) in CASES.items():
        if kind == "smk":
            (d / f"config{row}.yaml").write_text(yaml.safe_dump(_patched(TINY, patch)))

    cfg, quiet = load_config(TINY), (lambda msg: None)
    short = load_config(_patched(TINY, {"train.steps": 10}))
    train(short, images, labels, width=16, seed=0, out=d / "cond.pt", loss_log=d / "cond.parquet", device="cpu",
          log=quiet)
    train(short, single, single_labels, width=16, seed=0, out=d / "uncond.pt", loss_log=d / "uncond.parquet",
          device="cpu", log=quiet)

    class Stop(Exception):
        pass

    def stop_at_25(msg):
        if msg.startswith("step 25/"):
            raise Stop

    with pytest.raises(Stop):  # leaves the resumable checkpoint of step 20
        train(cfg, images, labels, width=16, seed=0, out=d / "model.pt", loss_log=d / "loss.parquet", device="cpu",
              log=stop_at_25)
    (d / "truncated.pt").write_bytes((d / "cond.pt").read_bytes()[:4000])
    torch.save({"weights": torch.zeros(3)}, d / "foreign.pt")
    # CIFAR-10 and image folders: an archive in the real format whose md5 sums are not CIFAR-10's (as a partial or
    # corrupted download would be), a folder holding a non-image beside a PNG, an empty folder.
    from cifar_fixture import write_cifar_archive
    from PIL import Image

    write_cifar_archive(d / "cifar_partial")
    (d / "folder_mixed").mkdir()
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(d / "folder_mixed" / "a.png")
    (d / "folder_mixed" / "notes.txt").write_text("not an image")
    (d / "folder_empty").mkdir()
    (d / "folder_small").mkdir()  # three images
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 60 * i, np.uint8)).save(d / "folder_small" / f"{i}.png")
    return d


def _hash_tree(root: Path) -> dict[str, str]:
    """relative path -> sha256 of every file under root (hidden files included), and every directory."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(root.rglob("*"))}


def _run_case(row: int, inputs: Path, base: Path) -> dict:
    kind, spec, _ = CASES[row]
    work = base / f"row{row}"
    (work / "results" / "capacity").mkdir(parents=True)
    (work / "inputs").symlink_to(inputs)
    (work / "results" / "capacity" / "replicates.md").write_text("| width | size |\n|---|---|\n| 16 | 4 |\n")
    (work / "results" / "cell").mkdir()
    (work / "results" / "cell" / "notes.bin").write_bytes(bytes(range(256)))
    if kind in ("cli", "nan") and STATE in spec:
        shutil.copy(inputs / "model.pt.state", work / STATE)
    if row == 35:
        (work / "results" / "cell" / "truncated.pt.state").write_bytes((inputs / "model.pt.state").read_bytes()[:5000])
    if kind == "smk":
        cmd = [PY, "-m", "snakemake", "-n", "-s", str(ROOT / "Snakefile"), "-d", ".", "--configfile",
               f"inputs/config{row}.yaml"]
    elif kind == "nan":
        cmd = [PY, "-c", _NAN_CHILD, *_with(spec, threads=1)]
    else:
        cmd = [PY, "-m", "memgen", *spec]
    before = _hash_tree(work / "results")
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=120)
    return {"rc": proc.returncode, "stderr": proc.stderr, "before": before, "after": _hash_tree(work / "results"),
            "work": work}


@pytest.fixture(scope="module")
def outcomes(inputs, tmp_path_factory) -> dict[int, dict]:
    base = tmp_path_factory.mktemp("rows")
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {row: pool.submit(_run_case, row, inputs, base) for row in CASES}
    return {row: f.result() for row, f in futures.items()}


def _doc_rows() -> dict[int, tuple[str, int]]:
    """row -> (documented error prefix, exit code), from the tables of docs/bad-input.md."""
    rows = {}
    for line in DOC.read_text().splitlines():
        m = re.match(r"^\|\s*(\d+)\s*\|.*\|\s*`([^`]+)`\s*\|\s*(\d+)\s*\|\s*$", line)
        if m:
            rows[int(m.group(1))] = (m.group(2), int(m.group(3)))
    return rows


def test_the_table_and_the_cases_list_the_same_rows():
    rows = _doc_rows()
    assert len(rows) >= 25
    assert sorted(rows) == sorted(CASES)


@pytest.mark.parametrize("row", sorted(CASES))
def test_bad_input_row(row, outcomes):
    kind, _, culprit = CASES[row]
    prefix, exit_code = _doc_rows()[row]
    got = outcomes[row]
    assert got["rc"] == exit_code != 0, got["stderr"][-2000:]
    assert "Traceback" not in got["stderr"], got["stderr"][-2000:]
    lines = got["stderr"].splitlines()
    tag = "memgen: config error:" if kind == "smk" else "memgen: error:"
    ours = [line for line in lines if line.startswith("memgen:")]
    assert len(ours) == 1 and ours[0].startswith(tag), got["stderr"][-2000:]
    if kind != "smk":  # Snakemake may add its own lines; memgen's stderr is the one line
        assert lines == ours, got["stderr"][-2000:]
    assert ours[0].startswith(prefix), (ours[0], prefix)
    assert culprit in ours[0], (ours[0], culprit)
    if kind == "nan":  # the checkpoint of step 10 is kept, nothing else is written
        new = {k: v for k, v in got["after"].items() if k not in got["before"]}
        assert set(new) == {"cell/model.pt.state"}, new
        assert checkpoint.load(got["work"] / STATE)["step"] == 10
        got["after"] = {k: v for k, v in got["after"].items() if k in got["before"]}
    assert got["after"] == got["before"], "results/ was changed"
