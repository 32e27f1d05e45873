"""memgen.step.TrainStep: the plain path is memgen.train's step bit for bit; the fast path (bf16 autocast,
channels_last, fused AdamW, torch.compile) keeps the loss in float32, tracks the fp32 loss curve, is
deterministic, and leaves plain state dicts for checkpoints."""

import copy
import os

import numpy as np
import pytest
import torch
from test_train import tiny_config

from memgen import checkpoint
from memgen.data import build_training_set
from memgen.diffusion import GaussianDiffusion, LossType, cosine_betas
from memgen.model import UNet, UNetConfig
from memgen.model.unet import GroupNorm32
from memgen.precision import PLAIN, FastForward, FastPath
from memgen.step import TrainStep
from memgen.runtime import STREAM, hashed_seed
from memgen.train import BatchStream, label_classes, train

TINY_UNET = UNetConfig(image_size=8, width=16, channel_mult=(1, 2), num_res_blocks=1, attention_resolutions=(4,),
                       dropout=0.0, norm_groups=8)
FAST = FastPath("bf16", channels_last=True, compile=False, fused_adamw=True)


@pytest.fixture(scope="module")
def mondrians():
    images, _, _ = build_training_set("mondrian", 32, 0, 8, "none", 0)
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def _diffusion():
    return GaussianDiffusion(cosine_betas(100), learn_sigma=True, loss_type=LossType.HYBRID)


def _step(fast, cfg=TINY_UNET, **kwargs):
    torch.manual_seed(0)
    model = UNet(cfg)
    ema = copy.deepcopy(model).requires_grad_(False)
    return TrainStep(model, ema, _diffusion(), lr=1e-3, weight_decay=0.0, ema_rate=0.99, device="cpu", fast=fast,
                     **kwargs)


def _loss_curve(step: TrainStep, x_all: torch.Tensor, steps: int, batch: int = 16) -> np.ndarray:
    gen = torch.Generator().manual_seed(1)
    out = []
    for _ in range(steps):
        idx = torch.randint(0, len(x_all), (batch,), generator=gen)
        t = torch.randint(0, 100, (batch,), generator=gen)
        noise = torch.randn(batch, 3, 8, 8, generator=gen)
        out.append(step(x_all[idx], t, noise)["loss"].mean())
    return torch.stack(out).double().numpy()


def test_plain_step_is_memgen_train_bit_for_bit(tmp_path):
    """Six steps of memgen.train (class-conditional, dropout 0.1) vs TrainStep fed the same seeded draws."""
    config = tiny_config(steps=6, checkpoint_every=100, log_every=3, precision="fp32")
    images, labels, _ = build_training_set("mondrian", 3, 0, 8, "gm", 2)
    final = train(config, images, labels, width=16, seed=0, out=tmp_path / "m.pt", loss_log=tmp_path / "l.parquet",
                  device="cpu", log=lambda _: None)
    num_labels, conditional = label_classes(labels, None)
    tc = config.train
    torch.manual_seed(hashed_seed(0, STREAM.TRAIN_INIT))
    model, ema = UNet(config.unet(16, num_labels)), UNet(config.unet(16, num_labels))
    ema.load_state_dict(model.state_dict())
    ema.requires_grad_(False)
    step = TrainStep(model, ema, checkpoint.build_diffusion(config.diffusion), lr=tc.lr, weight_decay=tc.weight_decay,
                     ema_rate=tc.ema_rate, device="cpu")
    x_all = torch.from_numpy(images).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
    y_all = torch.from_numpy(labels.astype(np.int64))
    stream = BatchStream(len(images), tc.batch_size, 0)
    for s in range(tc.steps):
        torch.manual_seed(hashed_seed(0, STREAM.TRAIN_STEP, s))
        idx = torch.from_numpy(stream.indices(s))
        x0 = x_all[idx]
        t = torch.randint(0, step.diffusion.num_timesteps, (len(idx),))
        step(x0, t, torch.randn_like(x0), y_all[idx])
    for name, mine in (("model", model.state_dict()), ("ema", ema.state_dict())):
        assert mine.keys() == final[name].keys()
        assert all(torch.equal(mine[k], final[name][k]) for k in mine), name
    theirs = final["optimizer"]["state"]
    for key, state in step.optimizer.state_dict()["state"].items():
        assert all(torch.equal(state[k], theirs[key][k]) for k in ("exp_avg", "exp_avg_sq", "step"))


def test_fast_forward_runs_bf16_inside_and_returns_float32():
    net = UNet(TINY_UNET)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(torch.randn_like(p), alpha=0.05)
    x, t = torch.randn(4, 3, 8, 8), torch.rand(4) * 1000
    seen = []
    handle = net.input_blocks[0][0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    fast = FastForward(net.to(memory_format=torch.channels_last), FAST, "cpu")
    out = fast(x, t)
    handle.remove()
    with torch.no_grad():
        ref = net(x, t)
        out = out.detach()
    assert seen == [torch.bfloat16] and out.dtype == torch.float32 and out.is_contiguous()
    rel = float((out - ref).norm() / ref.norm())
    assert 1e-4 < rel < 5e-2  # bf16 really ran, and is close


def test_group_norm_stays_float32_under_autocast():
    norm = GroupNorm32(4, 16)
    x = torch.randn(2, 16, 4, 4).bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = norm(x)
    ref = torch.nn.functional.group_norm(x.float(), 4, norm.weight, norm.bias, norm.eps).bfloat16()
    assert out.dtype == torch.bfloat16 and torch.equal(out, ref)


def test_fast_step_losses_are_float32_device_tensors(mondrians):
    losses = _step(FAST)(mondrians[:8], torch.arange(8) * 12, torch.randn(8, 3, 8, 8))
    assert set(losses) == {"loss", "mse", "vb"}
    for value in losses.values():
        assert value.dtype == torch.float32 and value.shape == (8,) and not value.requires_grad


def test_fast_path_tracks_the_fp32_loss_curve(mondrians):
    """200 steps, same draws: every 20-step mean loss of the fast path within 3% of fp32's, and the mean over the
    last 100 steps within 1.5% (measured on a Xeon with AMX: at most 1.03% and 0.64%, growing with the step as
    the weights drift apart; fp32 + channels_last alone: below 1e-4)."""
    plain = _loss_curve(_step(PLAIN), mondrians, 200)
    fast = _loss_curve(_step(FAST), mondrians, 200)
    windows = lambda curve: curve.reshape(10, 20).mean(1)  # noqa: E731
    rel = np.abs(windows(fast) - windows(plain)) / windows(plain)
    assert np.isfinite(fast).all() and rel.max() < 0.03, rel
    assert abs(fast[100:].mean() - plain[100:].mean()) < 0.015 * plain[100:].mean()
    assert windows(plain)[-1] < 0.5 * windows(plain)[0]  # it trains: the comparison is not of two flat lines
    assert not np.array_equal(fast, plain)  # and the paths differ


def test_fast_path_is_deterministic(mondrians):
    runs = [_step(FAST) for _ in range(2)]
    curves = [_loss_curve(step, mondrians, 5) for step in runs]
    assert np.array_equal(curves[0], curves[1])
    a, b = (s.model.state_dict() for s in runs)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_state_dicts_are_the_plain_models(mondrians, monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda module, **kw: module)  # no real compilation needed here
    step = _step(FastPath("bf16", channels_last=True, compile=True, fused_adamw=True))
    step(mondrians[:4], torch.arange(4), torch.randn(4, 3, 8, 8))
    keys = set(UNet(TINY_UNET).state_dict())
    assert set(step.model.state_dict()) == set(step.ema.state_dict()) == keys
    fresh = UNet(TINY_UNET)
    fresh.load_state_dict(step.ema.state_dict())  # loads into a plain, contiguous model
    assert all(torch.equal(p, q) for p, q in zip(fresh.parameters(), step.ema.parameters()))


def test_compile_failure_falls_back_to_eager(mondrians, monkeypatch):
    class Broken:
        def __init__(self, module):
            self.module = module

        def __call__(self, *args, **kwargs):
            torch.randn(100)  # consumes random numbers before failing, as a half-traced graph might
            raise RuntimeError("inductor exploded\nsecond line")

    monkeypatch.setattr(torch, "compile", lambda module, **kw: Broken(module))
    logged = []
    fast = FastPath("bf16", channels_last=True, compile=True, fused_adamw=True)
    broken, eager = _step(fast, log=logged.append), _step(FAST)
    assert broken.compiled
    curves = [_loss_curve(s, mondrians, 3) for s in (broken, eager)]
    assert len(logged) == 1 and "inductor exploded" in logged[0] and "\n" not in logged[0]
    assert not broken.compiled and np.array_equal(*curves)


@pytest.mark.parametrize("failing_call", [2, 3], ids=["recording", "first-replay"])
def test_failure_while_cuda_graphs_are_recorded_falls_back_too(mondrians, monkeypatch, failing_call):
    """With CUDA graphs the second compiled call records and the third replays first: a failure there (after a
    compiled call that worked) also falls back to eager, with the draws of the failed step put back."""
    class FailsLater:
        def __init__(self, module):
            self.module, self.calls = module, 0

        def __call__(self, *args, **kwargs):
            self.calls += 1
            if self.calls == failing_call:
                torch.randn(100)  # consumes random numbers before failing
                raise RuntimeError("CUDA error: operation not permitted when stream is capturing")
            return self.module(*args, **kwargs)

    monkeypatch.setattr(torch, "compile", lambda module, **kw: FailsLater(module))
    logged = []
    fast = FastPath("bf16", channels_last=True, compile=True, fused_adamw=True, compile_mode="reduce-overhead")
    flaky, eager = _step(fast, log=logged.append), _step(FAST)
    curves = [_loss_curve(s, mondrians, 5) for s in (flaky, eager)]
    assert len(logged) == 1 and f"compiled call {failing_call}" in logged[0] and "capturing" in logged[0]
    assert not flaky.compiled and np.array_equal(*curves)


@pytest.mark.skipif(os.environ.get("MEMGEN_TEST_COMPILE") != "1",
                    reason="slow: compiles for 40-90 s on one CPU core; MEMGEN_TEST_COMPILE=1 runs it")
def test_compiled_step_runs_and_matches_eager_closely(mondrians):
    """Real torch.compile of the smallest UNet, forward and backward (measured 89 s on a loaded 2-core machine)."""
    cfg = UNetConfig(image_size=8, width=8, channel_mult=(1,), num_res_blocks=1, attention_resolutions=(),
                     dropout=0.0, norm_groups=4)
    compiled = _step(FastPath("fp32", compile=True), cfg=cfg, log=pytest.fail)
    eager = _step(PLAIN, cfg=cfg)
    curves = [_loss_curve(s, mondrians, 3, batch=4) for s in (compiled, eager)]
    assert compiled.compiled
    np.testing.assert_allclose(curves[0], curves[1], rtol=1e-4)
    assert "_orig_mod" not in "".join(compiled.model.state_dict())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fast_step_has_no_host_sync(mondrians):
    torch.manual_seed(0)
    model = UNet(TINY_UNET).cuda()
    step = TrainStep(model, copy.deepcopy(model).requires_grad_(False), _diffusion(), lr=1e-3, weight_decay=0.0,
                     ema_rate=0.99, device="cuda", fast=FastPath("bf16", True, False, True))
    x0, t, noise = mondrians[:8].cuda(), torch.arange(8, device="cuda") * 12, torch.randn(8, 3, 8, 8, device="cuda")
    step(x0, t, noise)  # first step: caches and optimizer state are created
    torch.cuda.set_sync_debug_mode("error")
    try:
        losses = step(x0, t, noise)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert losses["loss"].is_cuda and torch.isfinite(losses["loss"]).all()
