"""Counter-based sampling noise (memgen.diffusion.noise): Philox4x32 against its published known answers, normal
draws that look like N(0, 1), and the property sampling relies on: sample i's noise depends on (seed, i, step)
only, never on the batch it is drawn in."""

import math

import numpy as np
import pytest
import torch

from memgen.diffusion import GaussianDiffusion, LossType, cosine_betas, p_sample_loop
from memgen.diffusion.noise import (MASK32, CounterNoise, _box_muller, counter_normal, counter_normals, philox4x32,
                                   run_key, step_noise)
from memgen.errors import MemgenError

# Random123's known-answer vectors (D. E. Shaw Research, Random123 distribution, file tests/kat_vectors; the
# philox4x32 lines as reproduced in DEShawResearch/fs123, core123/ut/ut_philox.cpp): rounds, counter[4], key[2],
# expected output[4].
KAT = [
    (7, [0, 0, 0, 0], [0, 0], [0x5F6FB709, 0x0D893F64, 0x4F121F81, 0x4F730A48]),
    (7, [MASK32] * 4, [MASK32] * 2, [0x5207DDC2, 0x45165E59, 0x4D8EE751, 0x8C52F662]),
    (7, [0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0],
     [0x4DFCCABA, 0x190A87F0, 0xC47362BA, 0xB6B5242A]),
    (10, [0, 0, 0, 0], [0, 0], [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]),
    (10, [MASK32] * 4, [MASK32] * 2, [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]),
    (10, [0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0],
     [0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]),
]


def philox_python(ctr, key, rounds=10):
    """Philox4x32 in plain Python integers (exact, no overflow anywhere): the reference for many lanes."""
    c, (k0, k1) = list(ctr), key
    for r in range(rounds):
        if r:
            k0, k1 = (k0 + 0x9E3779B9) & MASK32, (k1 + 0xBB67AE85) & MASK32
        p0, p1 = 0xD2511F53 * c[0], 0xCD9E8D57 * c[2]
        c = [(p1 >> 32) ^ c[1] ^ k0, p1 & MASK32, (p0 >> 32) ^ c[3] ^ k1, p0 & MASK32]
    return c


@pytest.mark.parametrize("rounds, ctr, key, expected", KAT)
def test_philox_known_answers(rounds, ctr, key, expected):
    out = philox4x32([torch.tensor(w) for w in ctr], key, rounds=rounds)
    assert [int(w) for w in out] == expected
    assert philox_python(ctr, key, rounds) == expected


def test_philox_matches_exact_integers_on_many_lanes():
    rng = np.random.default_rng(0)
    words = rng.integers(0, 2**32, (4, 5000), dtype=np.uint64).astype(np.int64)
    key = (int(rng.integers(2**32)), int(rng.integers(2**32)))
    out = torch.stack(philox4x32([torch.from_numpy(w) for w in words], key)).numpy()
    for lane in rng.choice(5000, 200, replace=False):
        assert out[:, lane].tolist() == philox_python(words[:, lane].tolist(), key)
    assert out.min() >= 0 and out.max() <= MASK32


def test_box_muller_tail_and_range():
    """u1 = (a + 1) / 2^32: a = 0 gives the largest radius sqrt(64 ln 2) = 6.66; a = 2^32 - 1 gives 0."""
    out = torch.empty(3, 2)
    _box_muller(torch.tensor([0, MASK32, 0]), torch.tensor([0, 123, 2**30]), out)
    assert out[0, 0].item() == pytest.approx(math.sqrt(64 * math.log(2)), rel=1e-6) and out[0, 1].item() == 0.0
    assert out[1].abs().max().item() == 0.0
    assert out[2, 0].item() == pytest.approx(0.0, abs=1e-6) and out[2, 1].item() == pytest.approx(6.6604, rel=1e-4)


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.vectorize(math.erf)(x / math.sqrt(2.0)))


def test_moments_and_kolmogorov_smirnov():
    z = counter_normal(run_key(0), torch.arange(64), 1, 3 * 16 * 16).double().numpy().ravel()
    n = z.size  # 49,152
    assert z.dtype == np.float64 and np.isfinite(z).all()
    assert abs(z.mean()) < 4 / math.sqrt(n)
    assert abs(z.var() - 1) < 4 * math.sqrt(2 / n)
    assert abs(((z - z.mean()) ** 3).mean()) < 4 * math.sqrt(6 / n)
    assert abs(((z - z.mean()) ** 4).mean() - 3) < 4 * math.sqrt(96 / n)
    s = np.sort(z)
    cdf = _normal_cdf(s)
    ks = max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))
    assert ks < 1.63 / math.sqrt(n)  # Kolmogorov's asymptotic 1% critical value


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([a.double().ravel(), b.double().ravel()]))[0, 1])


def test_independent_across_samples_steps_and_elements():
    key = run_key(3)
    draws = [counter_normal(key, torch.arange(32), d, 768) for d in range(4)]  # 4 draws of 32 samples x 768
    n = draws[0].numel()
    bound = 4.5 / math.sqrt(n)
    assert abs(_corr(draws[0], draws[1])) < bound  # same samples, consecutive steps
    assert abs(_corr(draws[2][:-1], draws[2][1:])) < 4.5 / math.sqrt(draws[2][1:].numel())  # neighbouring samples
    z = draws[3]
    for lag in (1, 2, 3, 4):  # lag 1: the two normals of one Box-Muller pair; 4: the next Philox block
        assert abs(_corr(z[:, :-lag], z[:, lag:])) < 4.5 / math.sqrt(z[:, lag:].numel())
    # and the correlation check has teeth: a shifted copy is detected
    assert _corr(z[:, 1:], z[:, 1:] + 0.1 * z[:, :-1]) > 0.9


def test_sample_is_independent_of_its_batch():
    shape = (3, 8, 8)
    alone = CounterNoise(5, [7], shape)
    small = CounterNoise(5, [2, 7, 9], shape)
    large = CounterNoise(5, range(40), shape)
    draws = [(n.initial(), n(0), n(1)) for n in (alone, small, large)]
    for step in range(3):
        assert torch.equal(draws[0][step][0], draws[1][step][1])
        assert torch.equal(draws[0][step][0], draws[2][step][7])
    assert not torch.equal(draws[0][0][0], draws[0][1][0])  # x_T and step 0 differ


def test_repeated_calls_are_bit_identical_and_seeds_differ():
    shape = (3, 4, 4)
    a, b, c = CounterNoise(11, range(6), shape), CounterNoise(11, range(6), shape), CounterNoise(12, range(6), shape)
    xa, xb, xc = a.initial(), b.initial(), c.initial()
    assert torch.equal(xa, xb) and not torch.equal(xa, xc)
    assert torch.equal(a(0), b(0))
    words = [philox4x32([torch.arange(100)] * 4, run_key(11)) for _ in range(2)]
    assert all(torch.equal(u, v) for u, v in zip(*words))
    assert run_key(11) != run_key(12)
    assert xa.shape == (6, 3, 4, 4) and xa.dtype == torch.float32


def test_draws_computed_ahead_equal_draws_computed_alone():
    noise = CounterNoise(2, [3, 1], (3, 4, 4))  # small: draws come in blocks of 16
    assert noise._block == 16
    got = [noise.initial()] + [noise(i) for i in range(40)]  # crosses two block boundaries
    for draw, z in enumerate(got):
        assert torch.equal(z.reshape(2, -1), counter_normal(run_key(2), torch.tensor([3, 1]), draw, 48))


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs CUDA"))])
def test_draw_index_as_a_device_tensor_gives_the_int_paths_noise(device):
    """A captured or compiled step gets its draw index as a 0-dim device tensor: the same noise, bit for bit, as
    the int index and as CounterNoise's stream (blocks of draws computed ahead included)."""
    shape, idx = (3, 5, 5), torch.tensor([4, 0, 2**40 + 3], device=device)  # 75 numbers: not a multiple of 4
    key = run_key(3)
    stream = CounterNoise(3, idx.cpu(), shape, device=device)
    stream.initial()
    for i in range(20):
        i_t = torch.tensor(i, device=device)
        assert torch.equal(step_noise(key, idx, i_t, shape), stream(i))
        assert torch.equal(counter_normals(key, idx, i_t + 1, 3, 75), counter_normals(key, idx, i + 1, 3, 75))
    x_t = counter_normal(key, idx, torch.tensor(0, device=device), 75)
    assert torch.equal(x_t, counter_normal(key, idx, 0, 75))


def test_shape_not_a_multiple_of_four():
    z = counter_normal(run_key(0), torch.arange(3), 0, 7)
    assert z.shape == (3, 7)
    assert torch.equal(z, counter_normal(run_key(0), torch.arange(3), 0, 8)[:, :7])


def test_order_checks_and_bad_arguments():
    noise = CounterNoise(0, [0, 1], (3, 4, 4))
    with pytest.raises(MemgenError, match="out of order"):
        noise(0)
    noise.initial()
    with pytest.raises(MemgenError, match="already drawn"):
        noise.initial()
    with pytest.raises(MemgenError, match="out of order"):
        noise(1)
    with pytest.raises(MemgenError, match="differs"):
        CounterNoise(0, [0], (3, 4, 4)).initial((3, 8, 8))
    for seed in (-1, True, 1.5):
        with pytest.raises(MemgenError, match="seed"):
            CounterNoise(seed, [0], (3, 4, 4))
    with pytest.raises(MemgenError, match="indices"):
        CounterNoise(0, [], (3, 4, 4))


def test_drives_p_sample_loop_like_per_sample_noise():
    diffusion = GaussianDiffusion(cosine_betas(20), learn_sigma=False, loss_type=LossType.SIMPLE).respaced("5")
    model = lambda x, t, y=None: 0.1 * x  # noqa: E731
    out = {}
    for indices in ([0, 1, 2, 3], [2, 3]):
        noise = CounterNoise(9, indices, (3, 4, 4))
        out[len(indices)] = p_sample_loop(diffusion, model, noise.initial(), noise)
    assert torch.equal(out[4][2:], out[2])  # samples 2 and 3 whatever the batch


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_words_equal_cpu_and_normals_agree():
    rng = np.random.default_rng(1)
    words = [torch.from_numpy(rng.integers(0, 2**32, 10000, dtype=np.uint64).astype(np.int64)) for _ in range(4)]
    cpu = philox4x32(words, (7, 8))
    gpu = philox4x32([w.cuda() for w in words], (7, 8))
    assert all(torch.equal(a, b.cpu()) for a, b in zip(cpu, gpu))
    z_cpu = CounterNoise(4, range(16), (3, 32, 32)).initial()
    z_gpu = CounterNoise(4, range(16), (3, 32, 32), device="cuda").initial()
    assert z_gpu.device.type == "cuda"
    torch.testing.assert_close(z_gpu.cpu(), z_cpu, rtol=1e-5, atol=1e-5)
