"""The compiled sampling chain (memgen.sample_compiled): the step index travels as a device tensor, so one compiled
(and, on CUDA, captured) step draws each step's own noise; traced without Inductor it gives the eager chain's
samples bit for bit; a failure falls back to the eager chain; on a CPU nothing compiles unless asked."""

import copy

import numpy as np
import pytest
import torch

from memgen import checkpoint
from memgen.data import build_training_set
from memgen.diffusion import sample_seeded
from memgen.precision import FastForward, FastPath
from memgen.sample import sample
from memgen.sample_compiled import CompiledSampler
from memgen.train import train
from test_train import tiny_config

REAL_COMPILE = torch.compile


def _eager_backend(fn, **kwargs):
    """torch.compile with Dynamo's tracing but no Inductor: the traced graph runs the eager kernels."""
    return REAL_COMPILE(fn, **{**kwargs, "backend": "eager"})


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    images, labels, _ = build_training_set("mondrian", 3, 0, 8, "gm", 2)  # 2 classes: conditional
    out = tmp_path_factory.mktemp("ckpt") / "m.pt"
    return train(tiny_config(steps=10), images, labels, width=16, seed=0, out=out, loss_log=out.with_suffix(".pq"),
                 device="cpu", log=lambda m: None)


def _parts(ckpt, steps=6):
    model = checkpoint.build_model(ckpt).eval()
    with torch.no_grad():  # a 10-step EMA is close to the fresh UNet, whose output layer is zero: perturb it
        for p in model.parameters():
            p.add_(torch.randn_like(p, generator=torch.Generator().manual_seed(0)), alpha=0.05)
    return model, checkpoint.build_diffusion_for(ckpt["config"]).respaced(str(steps))


@pytest.mark.parametrize("fast", [None, FastPath("bf16", channels_last=True)], ids=["fp32", "bf16-cl"])
def test_traced_chain_is_the_eager_chain_bit_for_bit(ckpt, monkeypatch, fast):
    monkeypatch.setattr(torch, "compile", _eager_backend)
    model, diffusion = _parts(ckpt)
    net = model if fast is None else FastForward(copy.deepcopy(model).to(memory_format=torch.channels_last), fast,
                                                 "cpu")
    idx, y = np.array([3, 0, 7]), torch.tensor([1, 0, 1])
    sampler = CompiledSampler(diffusion, net, seed=4, shape_chw=(3, 8, 8), batch_size=3, device="cpu",
                              log=pytest.fail)
    got = sampler(idx, y)
    want = sample_seeded(diffusion, net, 4, idx, (3, 8, 8), y=y)
    assert sampler.compiled and torch.equal(got, want)
    # a shorter last batch: the eager chain of those samples (not want[:2]: a CPU's convolution may round a sample
    # differently in another batch size, ~1e-6 in fp32 on an AMX Xeon; the noise never depends on it)
    assert torch.equal(sampler(idx[:2], y[:2]), sample_seeded(diffusion, net, 4, idx[:2], (3, 8, 8), y=y[:2]))
    assert not torch.equal(got, sample_seeded(diffusion, net, 5, idx, (3, 8, 8), y=y))  # the seed matters


def test_the_step_compiles_once_for_every_step_and_batch(ckpt):
    """One graph serves every reverse step and every batch of the same size: the schedule's device tensors exist
    before the first trace (`GaussianDiffusion.on_device`), so no guard sees them appear and nothing recompiles
    (it did: every compiled sampling job compiled its step twice)."""
    graphs = []

    def counting_backend(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    model, diffusion = _parts(ckpt)
    idx, y = np.array([3, 0, 7]), torch.tensor([1, 0, 1])
    sampler = CompiledSampler(diffusion, model, seed=4, shape_chw=(3, 8, 8), batch_size=3, device="cpu",
                              backend=counting_backend, log=pytest.fail)
    first = sampler(idx, y)
    assert torch.equal(sampler(np.array([1, 2, 5]), y), sample_seeded(diffusion, model, 4, [1, 2, 5], (3, 8, 8), y=y))
    assert len(graphs) == 1 and torch.equal(first, sample_seeded(diffusion, model, 4, idx, (3, 8, 8), y=y))


def test_a_failing_compiler_falls_back_to_the_eager_chain(ckpt, monkeypatch):
    def broken(fn, **kwargs):
        def run(*args):
            raise RuntimeError("inductor exploded\nsecond line")
        return run

    monkeypatch.setattr(torch, "compile", broken)
    model, diffusion = _parts(ckpt)
    logged = []
    sampler = CompiledSampler(diffusion, model, seed=1, shape_chw=(3, 8, 8), batch_size=2, device="cpu",
                              log=logged.append)
    got = sampler(np.array([0, 1]), torch.tensor([0, 1]))
    assert torch.equal(got, sample_seeded(diffusion, model, 1, [0, 1], (3, 8, 8), y=torch.tensor([0, 1])))
    assert len(logged) == 1 and "inductor exploded" in logged[0] and "\n" not in logged[0]
    assert not sampler.compiled
    sampler(np.array([0, 1]), torch.tensor([0, 1]))
    assert len(logged) == 1  # said once


def test_sample_compiles_on_a_cpu_only_when_asked(ckpt, monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "compile", lambda fn, **kw: calls.append(kw) or _eager_backend(fn, **kw))
    kwargs = dict(num_samples=3, steps=5, seed=2, batch_size=4, device="cpu")
    plain, labels = sample(ckpt, **kwargs)
    assert calls == []  # auto: never on a CPU
    compiled, labels2 = sample(ckpt, **kwargs, compile="reduce-overhead")
    assert len(calls) == 1 and calls[0]["mode"] == "default"  # no CUDA graphs on a CPU
    assert np.array_equal(plain, compiled) and np.array_equal(labels, labels2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graph_replays_each_steps_noise(ckpt, monkeypatch):
    """Captured once and replayed per step: traced without Inductor the kernels are the eager chain's, so the
    samples match it to float rounding (a graph that replayed step 0's noise at every step would be off by O(1));
    with Inductor, close."""
    model, diffusion = _parts(ckpt, steps=20)
    model = model.cuda()
    idx, y = np.arange(5), torch.tensor([0, 1, 0, 1, 0], device="cuda")
    want = sample_seeded(diffusion, model, 7, idx, (3, 8, 8), device="cuda", y=y)
    with monkeypatch.context() as patch:
        patch.setattr(torch, "compile", _eager_backend)
        traced = CompiledSampler(diffusion, model, seed=7, shape_chw=(3, 8, 8), batch_size=8, device="cuda",
                                 log=pytest.fail)
        got = traced(idx, y)
        shorter = traced(idx[:3], y[:3])  # padded to the captured batch, cut
    assert traced.capture and traced.compiled
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(shorter, want[:3], rtol=1e-5, atol=1e-5)
    inductor = CompiledSampler(diffusion, model, seed=7, shape_chw=(3, 8, 8), batch_size=8, device="cuda",
                               log=pytest.fail)
    torch.testing.assert_close(inductor(idx, y), want, rtol=5e-3, atol=5e-3)  # fused: another rounding
