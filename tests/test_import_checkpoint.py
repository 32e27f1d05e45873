"""`import-checkpoint --from improved-diffusion`: reference-format files in, memgen checkpoints out.

The reference files are built here: a memgen UNet (same module names as improved-diffusion's UNetModel) with
every parameter perturbed away from the zero init, saved as the reference saves (``torch.save(state_dict)``,
named ``model<step>.pt`` / ``ema_<rate>_<step>.pt``). The imported model must reproduce the original's outputs
exactly (same float32 ops), its UNetConfig must equal the original's, and bad inputs must stop with the one line
documented in docs/bad-input.md ("Imported checkpoints") without writing the output.
"""

from __future__ import annotations

import argparse
import copy
import re
from pathlib import Path

import pytest
import torch

from memgen import checkpoint
from memgen.config import validate_config
from memgen.config import load_config
from memgen.errors import MemgenError
from memgen.cli import build_parser, configure_logging, main
from memgen.interop.improved_diffusion import parse_step
from memgen.model import UNet, UNetConfig
from memgen.sample import sample

DOC = Path(__file__).resolve().parents[1] / "docs" / "bad-input.md"
NAN_KEY, INF_KEY = "input_blocks.1.0.in_layers.2.weight", "middle_block.1.qkv.weight"  # poisoned in rows I15, I16
# The reference's CIFAR-10 flags (num_res_blocks 3, channel_mult (1,2,2,2), attention 16 and 8, 4 heads,
# scale-shift norm, learned sigma) at width 32, the smallest width its GroupNorm(32) takes.
CIFAR = dict(image_size=32, width=32, num_res_blocks=3, channel_mult=(1, 2, 2, 2), attention_resolutions=(16, 8),
             num_heads=4, dropout=0.0, norm_groups=32, learn_sigma=True, num_classes=0, use_scale_shift_norm=True)
ARCHS = {
    "cifar": (CIFAR, []),
    "cifar-class-cond": ({**CIFAR, "num_classes": 1000}, ["--class-names", "airplane", "automobile", "bird"]),
    "fixed-sigma-no-film": ({**CIFAR, "learn_sigma": False, "use_scale_shift_norm": False}, []),
    "64px-(1,2,3,4)": ({**CIFAR, "image_size": 64, "channel_mult": (1, 2, 3, 4), "num_res_blocks": 2,
                        "num_heads": 2}, ["--num-heads", "2"]),
    "16px-(1,2)-att8": ({**CIFAR, "image_size": 16, "channel_mult": (1, 2), "attention_resolutions": (8,),
                         "num_res_blocks": 1}, ["--image-size", "16"]),
}


def _reference_model(arch: dict, seed: int = 0) -> UNet:
    torch.manual_seed(seed)
    model = UNet(UNetConfig(**arch))
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # off the zero init, so every residual branch carries signal
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    return model.eval()


def _run(*argv: str) -> None:
    """The subcommand, as `python -m memgen import-checkpoint ...` parses and runs it (errors raised, not printed)."""
    configure_logging()
    args = build_parser().parse_args(["import-checkpoint", "--from", "improved-diffusion", *argv])
    args.func(args)


def _outputs(model, size: int, conditional: bool) -> torch.Tensor:
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(3, 3, size, size, generator=gen)
    t = torch.rand(3, generator=gen) * 1000  # float timesteps already rescaled to [0, 1000)
    y = torch.tensor([0, 2, 1]) if conditional else None
    with torch.no_grad():
        return model(x, t, y)


@pytest.mark.parametrize("name", list(ARCHS))
def test_imported_model_reproduces_the_original_exactly(name, tmp_path, capsys):
    arch, flags = ARCHS[name]
    original = _reference_model(arch)
    src, out = tmp_path / "ema_0.9999_250000.pt", tmp_path / "imported.pt"
    torch.save(original.state_dict(), src)
    _run(str(src), "--out", str(out), *flags)
    printed = capsys.readouterr().out
    ckpt = checkpoint.load(out)
    assert UNetConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in ckpt["unet"].items()}) \
        == UNetConfig(**arch)
    imported = checkpoint.build_model(ckpt).eval()
    conditional = arch["num_classes"] > 0
    assert torch.equal(_outputs(imported, arch["image_size"], conditional),
                       _outputs(original, arch["image_size"], conditional))
    assert all(torch.equal(ckpt["model"][k], ckpt["ema"][k]) for k in ckpt["model"])
    assert (ckpt["step"], ckpt["imported_from"]["ema_rate"]) == (250000, 0.9999)
    assert ckpt["config"]["diffusion"] == {"steps": 1000, "schedule": "linear",
                                           "loss": "hybrid" if arch["learn_sigma"] else "simple"}
    validate_config(copy.deepcopy(ckpt["config"]))  # the embedded config is a valid memgen config
    mult = arch["channel_mult"]
    for expected in (f"width (num_channels)  {arch['width']}",
                     f"levels                {len(mult)}, channel_mult {mult}",
                     f"num_res_blocks        {arch['num_res_blocks']} per level",
                     f"attention_resolutions {list(arch['attention_resolutions'])}",
                     f"learn_sigma           {arch['learn_sigma']}",
                     f"use_scale_shift_norm  {arch['use_scale_shift_norm']}",
                     f"image_size            {arch['image_size']}", f"num_heads             {arch['num_heads']}"):
        assert expected in printed, expected


def test_class_conditional_import_samples_only_the_trained_classes(tmp_path, capsys):
    arch, flags = ARCHS["cifar-class-cond"]
    src, out = tmp_path / "model000100.pt", tmp_path / "imported.pt"
    torch.save(_reference_model(arch).state_dict(), src)
    _run(str(src), "--out", str(out), "--diffusion-steps", "50", "--noise-schedule", "cosine", *flags)
    assert "label embedding       1000 rows" in capsys.readouterr().out
    ckpt = checkpoint.load(out)
    assert (ckpt["num_classes"], ckpt["unet"]["num_classes"], ckpt["step"]) == (3, 1000, 100)
    assert ckpt["class_names"] == {"0": "airplane", "1": "automobile", "2": "bird"}
    assert ckpt["config"]["sample"]["steps"] == 50  # the schema default (100) cut to T
    images, labels = sample(ckpt, num_samples=1, steps=2, seed=0, device="cpu")
    assert labels.tolist() == [0, 1, 2] and images.shape == (3, 32, 32, 3)


@pytest.mark.parametrize("filename, expected", [
    ("model500000.pt", (500000, None)), ("ema_0.9999_500000.pt", (500000, 0.9999)),
    ("ema_0.999_000120.pt", (120, 0.999)), ("cifar10_uncond.pt", (0, None)), ("opt500000.pt", (0, None)),
])
def test_step_and_ema_rate_come_from_the_reference_file_names(filename, expected):
    assert parse_step(filename) == expected


# --- bad input: one line naming the culprit, nothing written --------------------------------------------------

def _memgen_checkpoint(path: Path) -> None:
    """A checkpoint as memgen's training writes it (optimizer and RNG states included)."""
    cfg = UNetConfig(**CIFAR)
    model = UNet(cfg)
    checkpoint.save(path, checkpoint.make(step=1, model=model, ema=model, optimizer=torch.optim.AdamW(
        model.parameters()), config=load_config(None), unet_cfg=cfg, width=32, seed=0, class_names={}, data_sha256="0",
        loss_log=[]))


def _without(state: dict, *prefixes: str) -> dict:
    return {k: v for k, v in state.items() if not k.startswith(prefixes)}


def _bad_inputs(state: dict) -> dict:
    """Row id -> (writes inputs/<file>, extra flags). State: the CIFAR width-32 unconditional dict."""
    def save(obj):
        return lambda p: torch.save(obj, p)

    def truncated(p):
        torch.save(state, p)
        p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])

    resnet = {"conv1.weight": torch.zeros(64, 3, 7, 7), "bn1.weight": torch.ones(64), "fc.weight": torch.zeros(10, 512)}
    two_rows = {**state, "label_emb.weight": torch.zeros(2, 128)}
    nan, inf = dict(state), dict(state)
    nan[NAN_KEY] = state[NAN_KEY].clone()
    nan[NAN_KEY].view(-1)[:3] = float("nan")
    inf[INF_KEY] = state[INF_KEY].clone()
    inf[INF_KEY].view(-1)[:2] = torch.tensor([float("inf"), float("-inf")])
    return {
        "I1": (truncated, []),
        "I2": (lambda p: p.write_text("not a checkpoint\n"), []),
        "I3": (save(resnet), []),
        "I4": (_memgen_checkpoint, []),
        "I5": (save({"state_dict": state, "epoch": 3}), []),
        "I6": (save(_without(state, "input_blocks.6.1.qkv.")), []),
        "I7": (save(_without(state, "input_blocks.4.")), []),
        "I8": (save(_without(state, "out.2.")), []),
        "I9": (save({**state, "label_emb.weight": torch.zeros(1000, 64)}), []),
        "I10": (save(state), ["--num-heads", "3"]),
        "I11": (save(state), ["--image-size", "64"]),
        "I12": (save(state), ["--class-names", "airplane", "ship"]),
        "I13": (save(two_rows), ["--class-names", "a", "b", "c"]),
        "I14": (save({"args": argparse.Namespace(lr=1e-4), "model": state}), []),
        "I15": (save(nan), []),
        "I16": (save(inf), []),
    }


def _doc_rows() -> dict[str, tuple[str, int]]:
    """Row id -> (documented error prefix, exit code), from the "Imported checkpoints" section of docs/bad-input.md."""
    section = DOC.read_text().split("## Imported checkpoints", 1)[1]
    rows = {}
    for line in section.splitlines():
        if m := re.match(r"^\|\s*(I\d+)\s*\|.*\|\s*`([^`]+)`\s*\|\s*(\d+)\s*\|\s*$", line):
            rows[m.group(1)] = (m.group(2), int(m.group(3)))
    return rows


@pytest.fixture(scope="module")
def cifar_state() -> dict:
    return _reference_model(CIFAR).state_dict()


def test_the_doc_and_the_cases_list_the_same_rows(cifar_state):
    assert sorted(_doc_rows()) == sorted(_bad_inputs(cifar_state))


@pytest.mark.parametrize("row", [f"I{i}" for i in range(1, 17)])
def test_bad_input_is_refused_with_the_documented_line(row, cifar_state, tmp_path, monkeypatch, capsys):
    """Run as `python -m memgen import-checkpoint` runs: the real main(), its exit code and its stderr line."""
    monkeypatch.chdir(tmp_path)
    write, flags = _bad_inputs(cifar_state)[row]
    Path("inputs").mkdir()
    write(Path("inputs/ckpt.pt"))
    prefix, exit_code = _doc_rows()[row]
    rc = main(["import-checkpoint", "--from", "improved-diffusion", "inputs/ckpt.pt", "--out", "results/model.pt",
               *flags])
    err = capsys.readouterr().err
    assert rc == exit_code == 2, err
    assert err.endswith("\n") and err.count("\n") == 1, err  # exactly one line
    assert err.startswith(prefix), (err, prefix)
    assert not Path("results").exists()


def test_a_memgen_checkpoint_with_non_finite_weights_is_refused(tmp_path, capsys):
    src = tmp_path / "model.pt"
    _memgen_checkpoint(src)
    ckpt = checkpoint.load(src)
    ckpt["ema"][NAN_KEY] = ckpt["ema"][NAN_KEY].clone()
    ckpt["ema"][NAN_KEY].view(-1)[0] = float("nan")
    checkpoint.save(src, ckpt)
    rc = main(["import-checkpoint", "--from", "memgen", str(src), "--out", str(tmp_path / "copy.pt")])
    err = capsys.readouterr().err
    assert rc == 2 and err == f"memgen: error: {src}: entry 'ema.{NAN_KEY}' holds 1 NaN and 0 infinite values of " \
                              f"{ckpt['ema'][NAN_KEY].numel()}; refused (weights of a diverged or damaged training)\n"
    assert not (tmp_path / "copy.pt").exists()


def test_the_output_may_not_overwrite_the_input(cifar_state, tmp_path):
    src = tmp_path / "model000010.pt"
    torch.save(cifar_state, src)
    before = src.read_bytes()
    with pytest.raises(MemgenError, match="is the input file"):
        _run(str(src), "--out", str(src))
    assert src.read_bytes() == before


def test_a_reimported_memgen_checkpoint_is_recognised(cifar_state, tmp_path, capsys):
    """An imported checkpoint (no optimizer, no RNG state): the dict's keys give it away too."""
    src, out = tmp_path / "model000010.pt", tmp_path / "imported.pt"
    torch.save(cifar_state, src)
    _run(str(src), "--out", str(out))
    with pytest.raises(MemgenError, match="already a memgen checkpoint"):
        _run(str(out), "--out", str(tmp_path / "again.pt"))
    assert not (tmp_path / "again.pt").exists()
