"""memgen.compile_cache: a compiled TrainStep compiles into one on-disk cache per machine kind, which a second
process reuses (same kernels, same numbers bit for bit), two processes compiling one shape at once both succeed,
and another shape or another CPU is another entry. Real Inductor on a net of one convolution (compiles in seconds)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from memgen import compile_cache

ROOT = Path(__file__).resolve().parents[1]

# One process: a compiled TrainStep on a one-conv net, two steps of fixed draws; prints the losses (hex, exact), the
# cache directory it used and Inductor's / AOTAutograd's cache counters.
SCRIPT = """
import json, sys, torch
from torch import nn
from torch._dynamo.utils import counters
from memgen.diffusion import GaussianDiffusion, LossType, cosine_betas
from memgen.precision import FastPath
from memgen.step import TrainStep

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)

    def forward(self, x, t, y=None):
        return torch.nn.functional.silu(self.conv(x)) * (1 + t.float()[:, None, None, None] / 100)

batch = int(sys.argv[1])
torch.manual_seed(0)
net, ema = Net(), Net().requires_grad_(False)
step = TrainStep(net, ema, GaussianDiffusion(cosine_betas(100), learn_sigma=True, loss_type=LossType.HYBRID),
                 lr=1e-3, weight_decay=0.0, ema_rate=0.99, device="cpu", fast=FastPath(compile=True), log=print)
gen = torch.Generator().manual_seed(1)
losses = []
for _ in range(2):
    x0 = torch.rand(batch, 3, 4, 4, generator=gen) * 2 - 1
    t, noise = torch.randint(0, 100, (batch,), generator=gen), torch.randn(batch, 3, 4, 4, generator=gen)
    losses += [v.hex() for v in step(x0, t, noise)["loss"].tolist()]
print(json.dumps({"losses": losses, "cache": str(step.compile_cache), "compiled": step.compiled,
                  "hit": counters["inductor"]["fxgraph_cache_hit"] + counters["aot_autograd"]["autograd_cache_hit"],
                  "miss": counters["inductor"]["fxgraph_cache_miss"] + counters["aot_autograd"]["autograd_cache_miss"]}))
"""


def start(root: Path, batch: int = 4) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "workflow"), "MEMGEN_COMPILE_CACHE": str(root),
           "OMP_NUM_THREADS": "1", "TORCHINDUCTOR_COMPILE_THREADS": "1"}
    env.pop("TORCHINDUCTOR_CACHE_DIR", None)
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(batch)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def test_two_processes_share_the_cache_and_compute_the_same(tmp_path):
    """A job compiles into the shared cache and a second finds its entries (hits, no miss) and computes the same
    losses bit for bit; two jobs of one shape started together on an empty cache: one compiles while the other
    waits (memgen's first-compile lock), then loads (no miss), both the same losses; a job of another batch size
    misses (a new entry, never the other shape's kernel)."""
    first = result(start(tmp_path))
    pair = [start(tmp_path / "together"), start(tmp_path / "together")]
    together = [result(p) for p in pair]
    second = result(start(tmp_path))
    other = result(start(tmp_path, batch=6))
    cache = Path(first["cache"])
    assert cache.parent == tmp_path and cache == compile_cache.cache_dir(tmp_path) and any(cache.rglob("*"))
    assert first["compiled"] and first["miss"] > 0 and first["hit"] == 0
    assert second["compiled"] and second["hit"] > 0 and second["miss"] == 0
    assert second["losses"] == first["losses"] == together[0]["losses"] == together[1]["losses"]
    assert all(t["compiled"] for t in together) and sorted(t["miss"] == 0 for t in together) == [False, True]
    assert other["compiled"] and other["miss"] > 0 and len(other["losses"]) == 12


def test_the_directory_is_per_cpu_and_torch_version(tmp_path, monkeypatch):
    """Inductor does not key CPU entries by instruction set: another CPU (model or flags) gets another directory."""
    here = compile_cache.cache_dir(tmp_path)
    monkeypatch.setattr(compile_cache, "cpu_identity", lambda: "model name : another CPU\nflags : sse2")
    there = compile_cache.cache_dir(tmp_path)
    assert here.parent == there.parent == tmp_path and here != there
    import torch

    assert here.name.startswith(f"torch-{torch.__version__.replace('+', '_')}-cpu-")


def test_use_shared_cache_sets_inductor_and_keeps_an_explicit_choice(tmp_path, monkeypatch):
    monkeypatch.delenv(compile_cache.ENV, raising=False)
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "mine"))
    assert compile_cache.use_shared_cache() == tmp_path / "mine"  # the user's own directory stays
    monkeypatch.setenv(compile_cache.ENV, str(tmp_path / "shared"))
    used = compile_cache.use_shared_cache()
    assert used == compile_cache.cache_dir(tmp_path / "shared") and os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(used)
    assert used.is_dir()


@pytest.mark.parametrize("home", ["xdg", "home"])
def test_default_root_is_the_users_cache(tmp_path, monkeypatch, home):
    monkeypatch.delenv(compile_cache.ENV, raising=False)
    if home == "xdg":
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert compile_cache.cache_dir().parent == tmp_path / "xdg" / "memgen" / "compile"
    else:
        monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
        monkeypatch.setenv("HOME", str(tmp_path))
        assert compile_cache.cache_dir().parent == tmp_path / ".cache" / "memgen" / "compile"


def test_first_compile_lock_excludes_another_process(tmp_path):
    probe = ("import fcntl, sys\nf = open(sys.argv[1], 'a+')\ntry:\n    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
             "    print('free')\nexcept BlockingIOError:\n    print('held')\n")
    path = tmp_path / "memgen-locks" / "k.lock"

    def other() -> str:
        return subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True).stdout.strip()

    with compile_cache.first_compile_lock(tmp_path, "k"):
        assert other() == "held"
    assert other() == "free"
