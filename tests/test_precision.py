"""memgen.precision: which fast path a device gets, FLOP counts, and the IEEE float32 guard that keeps the exact
search exact whatever matmul precision the process was set to."""

import numpy as np
import pytest
import torch
from test_score import add_noise, brute_force

from memgen import precision
from memgen.errors import MemgenError
from memgen.model import UNet, UNetConfig
from memgen.precision import PLAIN, FastPath, ieee_float32_matmul, lowest_float32_matmul_precision, resolve_fast_path
from memgen.nearest import nearest_two

MATMUL_BACKENDS = ("cuda.matmul", "mkldnn.matmul")


def _modes() -> dict:
    return {p: precision._backend(p).fp32_precision for p in MATMUL_BACKENDS if precision._backend(p) is not None}


@pytest.fixture
def lowest_precision():
    """Every float32 matmul backend at its least precise mode for the test, then the previous modes back."""
    saved = _modes()
    lowest_float32_matmul_precision()
    yield
    for path, mode in saved.items():
        precision._backend(path).fp32_precision = mode


def test_fp32_request_is_the_plain_path():
    assert resolve_fast_path("cpu", "fp32") == PLAIN == FastPath()
    assert resolve_fast_path("cpu", "fp32", compile=True) == FastPath(compile=True)


def test_auto_on_cpu_follows_bf16_support_and_work_size(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    big = resolve_fast_path("cpu", "auto", flops=precision.CPU_BF16_MIN_FLOPS)
    assert big == FastPath("bf16", channels_last=True, compile=False, fused_adamw=precision.fused_adamw_supported(
        torch.device("cpu")))
    assert resolve_fast_path("cpu", "auto", flops=1e8).precision == "fp32"  # too little work to pay for casts
    assert resolve_fast_path("cpu", "bf16", flops=1e8).precision == "bf16"  # asked for explicitly
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)
    assert resolve_fast_path("cpu", "auto").precision == "fp32"
    with pytest.raises(MemgenError, match="bf16"):
        resolve_fast_path("cpu", "bf16")
    with pytest.raises(MemgenError, match="bf16"):
        resolve_fast_path("cpu", FastPath("bf16"))


def test_auto_on_cuda(monkeypatch):
    monkeypatch.setattr(precision, "device_supports_bf16", lambda device: True)
    monkeypatch.setattr(precision, "fused_adamw_supported", lambda device: True)
    fast = resolve_fast_path("cuda", "auto", flops=1e3)  # no work-size threshold on a GPU
    # compiled with CUDA graphs: 2.2x the fp32 eager step of UNet-128 on one H100 (benchmarks/results)
    assert fast == FastPath("bf16", channels_last=False, compile=True, fused_adamw=True, compile_mode="reduce-overhead")
    assert not resolve_fast_path("cuda", "auto", compile=False).compile
    assert not resolve_fast_path("cuda", "auto", compile="off").compile
    assert resolve_fast_path("cuda", "auto", compile="default").compile_mode == "default"
    assert not resolve_fast_path("cpu", "auto", compile="auto").compile  # never by default on a CPU


def test_bad_requests_raise_one_line():
    for bad in ("fp16", "", None):
        with pytest.raises(MemgenError, match="precision"):
            resolve_fast_path("cpu", bad)
    with pytest.raises(MemgenError, match="precision"):
        FastPath("fp16")


def test_cpu_bf16_detection_reads_cpu_flags(monkeypatch):
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert not precision.cpu_has_bf16()
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    assert precision.cpu_has_bf16()


def test_unet_flops_counts_forward_and_backward():
    from torch.utils.flop_counter import FlopCounterMode

    cfg = UNetConfig(image_size=8, width=16, channel_mult=(1, 2), num_res_blocks=1, attention_resolutions=(4,),
                     norm_groups=8)
    net = UNet(cfg)
    x, t = torch.randn(4, 3, 8, 8), torch.rand(4) * 1000
    with FlopCounterMode(display=False) as fwd, torch.no_grad():
        net(x, t)
    with FlopCounterMode(display=False) as both:
        net(x, t).sum().backward()
    assert precision.unet_flops(cfg, 4, backward=False) == fwd.get_total_flops() > 0
    # x3 for forward + backward; the first conv needs no input gradient, so the true count is a little lower
    assert 0.9 < both.get_total_flops() / precision.unet_flops(cfg, 4, backward=True) <= 1.0


def test_guard_sets_ieee_and_restores(lowest_precision):
    before = _modes()
    assert "ieee" not in before.values()
    with ieee_float32_matmul():
        assert set(_modes().values()) == {"ieee"}
    assert _modes() == before


@pytest.mark.skipif(not precision.cpu_has_bf16(), reason="the bf16 matmul mode needs a CPU with bf16")
def test_lowest_precision_really_lowers_cpu_matmuls(lowest_precision):
    """The setting has teeth on this CPU: a float32 matmul loses ~1e-3, and the guard brings back ~1e-7."""
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(256, 1024, generator=gen), torch.randn(1024, 256, generator=gen)
    ref = a.double() @ b.double()
    rel = lambda out: float((out.double() - ref).norm() / ref.norm())  # noqa: E731
    assert rel(a @ b) > 1e-4
    with ieee_float32_matmul():
        assert rel(a @ b) < 1e-6


def _near_duplicates(seed: int, size: int = 16):
    """Samples that are +-1-level copies of training images, which hold several +-1-level copies of each other:
    exact ranking needs every unit of the squared distance."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (12, size, size, 3), dtype=np.uint8)
    train = np.concatenate([add_noise(rng, np.repeat(base, 4, 0), levels=1), rng.integers(0, 256, (40, size, size, 3),
                                                                                           dtype=np.uint8)])
    samples = add_noise(rng, np.repeat(base, 2, 0), levels=1)
    return samples, train


def test_exact_search_under_lowest_global_precision(lowest_precision, monkeypatch):
    samples, train = _near_duplicates(0)
    seen = []
    real_addmm = torch.addmm

    def spy(*args, **kwargs):
        seen.append(_modes())
        return real_addmm(*args, **kwargs)

    monkeypatch.setattr(torch, "addmm", spy)
    idx, sq = nearest_two(samples, train, device="cpu", sample_chunk=5, train_chunk=16)
    ref_idx, ref_sq = brute_force(samples, train)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(sq, ref_sq)
    assert seen and all(set(m.values()) == {"ieee"} for m in seen)
    assert "ieee" not in _modes().values()  # the caller's setting is back


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_exact_search_under_tf32(lowest_precision):
    assert torch.backends.cuda.matmul.allow_tf32
    samples, train = _near_duplicates(1, size=32)
    idx, sq = nearest_two(samples, train, device="cuda", sample_chunk=7, train_chunk=20)
    ref_idx, ref_sq = brute_force(samples, train)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(sq, ref_sq)


@pytest.mark.parametrize("high", [1000, 3])  # 3: most values tied
def test_two_stage_smallest_k_is_exact(high):
    """score's grouped top-k (used for training chunks of >= 1024 rows) returns the true k smallest values."""
    from memgen.nearest import _smallest_k

    gen = torch.Generator().manual_seed(high)
    part = torch.randint(0, high, (64, 2048), generator=gen).float()
    values, cols = _smallest_k(part, 8)
    assert torch.equal(values.sort(1).values, part.topk(8, dim=1, largest=False).values.sort(1).values)
    assert torch.equal(part.gather(1, cols), values) and (cols.sort(1).values.diff(dim=1) > 0).all()


def test_exact_search_with_large_training_chunks():
    rng = np.random.default_rng(8)
    train = rng.integers(0, 4, (3000, 4, 4, 3), dtype=np.uint8)  # many exact ties
    samples = np.concatenate([add_noise(rng, train[:20], levels=1), rng.integers(0, 4, (20, 4, 4, 3), dtype=np.uint8)])
    idx, sq = nearest_two(samples, train, device="cpu", sample_chunk=16, train_chunk=2048)
    ref_idx, ref_sq = brute_force(samples, train)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(sq, ref_sq)
