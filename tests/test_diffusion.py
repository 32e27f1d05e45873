"""Closed-form checks of memgen.diffusion: schedules, KL and likelihood terms, the posterior, the losses,
respacing, the sampler's seeding contract and the empirical-optimal denoiser."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from memgen.diffusion import (
    EmpiricalOptimalDenoiser,
    GaussianDiffusion,
    LossType,
    PerSampleNoise,
    cosine_alpha_bar,
    cosine_betas,
    discretized_gaussian_log_likelihood,
    linear_betas,
    mean_flat,
    normal_kl,
    p_sample_loop,
    respace_betas,
    sample_seeded,
    space_timesteps,
)
from memgen.errors import MemgenError


def hybrid(T: int = 100) -> GaussianDiffusion:
    return GaussianDiffusion(cosine_betas(T), learn_sigma=True, loss_type=LossType.HYBRID)


def simple(T: int = 100) -> GaussianDiffusion:
    return GaussianDiffusion(cosine_betas(T), learn_sigma=False, loss_type=LossType.SIMPLE)


def images(n: int, seed: int = 0, shape=(3, 8, 8)) -> torch.Tensor:
    """Random images on the 256-level grid of [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, *shape), generator=g).double() / 127.5 - 1.0


# -- schedules ---------------------------------------------------------------------------------------
def test_cosine_alpha_bar_formula_and_table():
    t = np.linspace(0, 1, 7)
    np.testing.assert_allclose(cosine_alpha_bar(t), np.cos((t + 0.008) / 1.008 * np.pi / 2) ** 2, rtol=1e-15)
    betas = cosine_betas(4000)
    assert betas.shape == (4000,) and betas.dtype == np.float64 and betas.max() <= 0.999 and betas.min() > 0
    abar = np.cumprod(1 - betas)
    assert [round(abar[k], 3) for k in (1000, 2000, 3000)] == [0.847, 0.493, 0.144]
    # unclipped steps reproduce f(t/T) / f(0) exactly (Improved DDPM eq. 17)
    exact = cosine_alpha_bar(np.arange(1, 3001) / 4000) / cosine_alpha_bar(0.0)
    np.testing.assert_allclose(abar[:3000], exact, rtol=1e-10)


def test_linear_betas_scale_with_T():
    np.testing.assert_allclose(linear_betas(1000)[[0, -1]], [1e-4, 0.02])
    np.testing.assert_allclose(linear_betas(4000)[[0, -1]], [0.25e-4, 0.005])


def test_space_timesteps_semantics():
    steps = space_timesteps(4000, 100)
    assert len(steps) == 100 and {0, 3999} <= steps and steps == space_timesteps(4000, "100")
    assert space_timesteps(1000, "10") == set(range(0, 1000, 111))
    assert space_timesteps(10, "2,3") == {0, 4, 5, 7, 9}  # sections [0..4] and [5..9], ends kept
    sec = sorted(space_timesteps(300, "10,15,20"))
    parts = [[s for s in sec if lo <= s < lo + 100] for lo in (0, 100, 200)]
    assert [len(p) for p in parts] == [10, 15, 20]
    assert all(p[0] == lo and p[-1] == lo + 99 for p, lo in zip(parts, (0, 100, 200)))
    assert space_timesteps(1000, "ddim10") == set(range(0, 1000, 100))
    with pytest.raises(MemgenError):
        space_timesteps(10, 11)
    with pytest.raises(MemgenError):
        space_timesteps(10, "a,b")


def test_respace_keeps_alpha_bar():
    abar = np.cumprod(1 - cosine_betas(1000))
    keep = space_timesteps(1000, "10,15,20")
    betas, tmap = respace_betas(abar, keep)
    assert list(tmap) == sorted(keep)
    np.testing.assert_allclose(np.cumprod(1 - betas), abar[tmap], rtol=1e-9)
    d = simple(1000).respaced(50)
    assert d.num_timesteps == 50 and d.original_num_steps == 1000
    np.testing.assert_allclose(d.alphas_cumprod, abar[d.timestep_map], rtol=1e-9)
    twice = d.respaced(10)  # composing respacings keeps mapping to original steps
    np.testing.assert_allclose(twice.alphas_cumprod, abar[twice.timestep_map], rtol=1e-9)


def test_model_time_is_rescaled_original_step():
    d = simple(4000).respaced(100)
    seen = []

    def model(x, t, y):
        seen.append(t.clone())
        return torch.zeros_like(x)

    t = torch.tensor([0, 1, 99])
    d.p_mean_variance(model, torch.zeros(3, 3, 4, 4), t)
    expected = torch.tensor(d.timestep_map[[0, 1, 99]] * 1000 / 4000, dtype=torch.float32)
    assert seen[0].dtype == torch.float32 and torch.equal(seen[0], expected) and expected[-1] == 999.75


# -- KL and likelihood -------------------------------------------------------------------------------
def test_normal_kl():
    m, lv = torch.randn(5, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    assert torch.allclose(normal_kl(m, lv, m, lv), torch.zeros(5, dtype=torch.float64), atol=1e-15)
    m2, lv2 = torch.randn(5, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    p, q = torch.distributions.Normal(m, (0.5 * lv).exp()), torch.distributions.Normal(m2, (0.5 * lv2).exp())
    torch.testing.assert_close(normal_kl(m, lv, m2, lv2), torch.distributions.kl_divergence(p, q))


@pytest.mark.parametrize("mean, log_scale", [(0.0, -3.0), (0.3, -1.0), (-0.99, -5.0), (1.2, 0.5), (0.0, -8.0)])
def test_discretized_likelihood_normalizes(mean, log_scale):
    grid = torch.arange(256, dtype=torch.float64) / 127.5 - 1.0
    logp = discretized_gaussian_log_likelihood(grid, torch.tensor(mean).double(), torch.tensor(log_scale).double())
    assert logp.max() <= 0 and abs(logp.exp().sum().item() - 1.0) < 1e-6


# -- forward process and posterior -------------------------------------------------------------------
def test_posterior_matches_gaussian_conditioning():
    d = simple(100)
    t = torch.tensor([0, 1, 50, 99])
    x0, xt = images(4).double(), torch.randn(4, 3, 8, 8, dtype=torch.float64)
    mean, var, logvar = d.q_posterior_mean_variance(x0, xt, t)
    a, ab, abp = 1 - d.betas[t], d.alphas_cumprod[t], d.alphas_cumprod_prev[t]
    np.testing.assert_allclose(var.flatten(), d.betas[t] * (1 - abp) / (1 - ab))  # beta~_t
    # Condition the jointly Gaussian (x_{t-1}, x_t) given x_0: Cov = sqrt(a_t)(1 - abar_{t-1}), Var(x_t) = 1 - abar_t
    gain = torch.tensor(np.sqrt(a) * (1 - abp) / (1 - ab)).view(-1, 1, 1, 1)
    sqrt_abp, sqrt_ab = (torch.tensor(np.sqrt(v)).view(-1, 1, 1, 1) for v in (abp, ab))
    cond_mean = sqrt_abp * x0 + gain * (xt - sqrt_ab * x0)
    torch.testing.assert_close(mean, cond_mean)
    np.testing.assert_allclose(var.flatten(), (1 - abp) - a * (1 - abp) ** 2 / (1 - ab), atol=1e-15)
    assert logvar[0].item() == pytest.approx(math.log(d.posterior_variance[1]))  # clipped at t = 0
    # q_sample has the marginal N(sqrt(abar) x0, 1 - abar): check on many draws of one pixel
    x = d.q_sample(torch.full((20000, 1, 1, 1), 0.5, dtype=torch.float64), torch.full((20000,), 50))
    assert abs(x.mean().item() - 0.5 * math.sqrt(d.alphas_cumprod[50])) < 0.03
    assert abs(x.var().item() - (1 - d.alphas_cumprod[50])) < 0.03


@pytest.mark.parametrize("v, which", [(-1.0, "posterior_log_variance_clipped"), (1.0, "log_betas")])
def test_learned_range_endpoints(v, which):
    d = hybrid(100)
    t = torch.tensor([0, 1, 37, 99])
    model = lambda x, s, y: torch.cat([torch.zeros_like(x), torch.full_like(x, v)], 1)  # noqa: E731
    out = d.p_mean_variance(model, torch.randn(4, 3, 4, 4), t)
    expected = torch.tensor(getattr(d, which)[t], dtype=torch.float32).view(-1, 1, 1, 1).expand(4, 3, 4, 4)
    torch.testing.assert_close(out["log_variance"], expected)


# -- training losses ---------------------------------------------------------------------------------
def perfect_model(noise: torch.Tensor, learn_sigma: bool):
    """A noise predictor that knows the noise; its variance channels are an arbitrary v in [-1, 1]."""
    v = torch.linspace(-1, 1, noise[0].numel()).view(noise[0].shape).expand_as(noise)
    return lambda x, t, y: torch.cat([noise, v], 1) if learn_sigma else noise


def test_perfect_predictor_losses():
    x0, noise, t = images(4).float(), torch.randn(4, 3, 8, 8), torch.tensor([0, 3, 50, 99])
    d = hybrid(100)
    out = d.training_losses(perfect_model(noise, True), x0, t, noise=noise)
    assert torch.all(out["mse"] == 0) and torch.equal(out["loss"], out["vb"]) and out["vb"][0] > 0
    out = simple(100).training_losses(perfect_model(noise, False), x0, t, noise=noise)
    assert torch.all(out["loss"] == 0) and torch.all(out["vb"] == 0)


def test_vb_at_t0_is_decoder_nll():
    d = hybrid(100)
    x0, noise, t = images(2).float(), torch.randn(2, 3, 8, 8), torch.zeros(2, dtype=torch.long)
    model = perfect_model(noise, True)
    xt = d.q_sample(x0, t, noise)
    vb = d.vb_terms_bpd(model, x0, xt, t)["output"]
    p = d.p_mean_variance(model, xt, t, clip_denoised=False)
    nll = -mean_flat(discretized_gaussian_log_likelihood(x0, p["mean"], 0.5 * p["log_variance"])) / math.log(2)
    torch.testing.assert_close(vb, nll)
    losses = d.training_losses(model, x0, t, noise=noise)
    torch.testing.assert_close(losses["vb"], nll * 100 / 1000)  # (T/1000) rescaling


def test_hybrid_gradients_split_between_channels():
    d = hybrid(100)
    x0, t = images(3).float(), torch.tensor([0, 10, 80])
    raw = torch.randn(3, 6, 8, 8)
    out = (raw * 0.5).requires_grad_(True)
    losses = d.training_losses(lambda x, s, y: torch.cat([out[:, :3], torch.tanh(out[:, 3:])], 1), x0, t)
    (grad_vb,) = torch.autograd.grad(losses["vb"].sum(), out, retain_graph=True)
    (grad_mse,) = torch.autograd.grad(losses["mse"].sum(), out)
    assert torch.all(grad_vb[:, :3] == 0) and grad_vb[:, 3:].abs().sum() > 0
    assert torch.all(grad_mse[:, 3:] == 0) and grad_mse[:, :3].abs().sum() > 0


def test_bad_configuration_raises():
    with pytest.raises(MemgenError):
        GaussianDiffusion(cosine_betas(10), learn_sigma=False, loss_type=LossType.HYBRID)
    with pytest.raises(MemgenError):
        simple(10).training_losses(lambda x, t, y: torch.cat([x, x], 1), images(1).float(), torch.tensor([1]))


# -- sampler -----------------------------------------------------------------------------------------
def test_per_sample_noise_is_batch_invariant_and_ordered():
    big, one = PerSampleNoise(7, [0, 1, 2, 3], (3, 4, 4)), PerSampleNoise(7, [2], (3, 4, 4))
    assert torch.equal(big.initial()[2], one.initial()[0])
    step_big, step_one = big(0), one(0)
    assert torch.equal(step_big[2], step_one[0]) and not torch.equal(step_big[2], step_big[1])
    assert not torch.equal(PerSampleNoise(8, [2], (3, 4, 4)).initial(), PerSampleNoise(7, [2], (3, 4, 4)).initial())
    with pytest.raises(MemgenError):
        one(5)
    with pytest.raises(MemgenError):
        PerSampleNoise(7, [0], (3, 4, 4))(0)  # step noise before initial()


def test_sampler_batch_invariance():
    d = GaussianDiffusion(cosine_betas(200), learn_sigma=True, loss_type=LossType.HYBRID).respaced(20)
    w = torch.Generator().manual_seed(0)
    scale = torch.randn(6, 1, 1, generator=w)

    def model(x, t, y):  # a deterministic pixelwise toy network with learned-range output
        h = torch.cat([x, x], 1) * scale + (t / 1000).view(-1, 1, 1, 1)
        return torch.cat([torch.tanh(h[:, :3]), torch.tanh(h[:, 3:])], 1)

    calls = []
    batch = sample_seeded(d, model, 3, [0, 1, 2, 3], (3, 8, 8), progress=lambda i, n: calls.append((i, n)))
    alone = sample_seeded(d, model, 3, [2], (3, 8, 8))
    torch.testing.assert_close(batch[2:3], alone, rtol=0, atol=1e-6)
    assert calls[-1] == (20, 20) and len(calls) == 20


def test_optimal_denoiser_sampler_memorizes():
    train = images(5).float()
    base = simple(1000)
    d = base.respaced(50)
    model = EmpiricalOptimalDenoiser(train, base, chunk_size=2)
    noise = PerSampleNoise(0, range(6), (3, 8, 8))
    samples = p_sample_loop(d, model, noise.initial(), noise)
    dist = torch.cdist(samples.flatten(1), train.flatten(1)) / math.sqrt(train[0].numel())  # RMS per pixel
    assert dist.min(dim=1).values.max() < 1e-3


def test_optimal_denoiser_posterior_and_classes():
    train, labels = images(6, seed=1).float(), torch.tensor([0, 0, 1, 1, 2, 2])
    d = simple(1000)
    model = EmpiricalOptimalDenoiser(train, d, labels=labels, chunk_size=4)
    # at small noise the posterior mean is the nearest training image (of the requested class)
    abar = torch.tensor([d.alphas_cumprod[5]] * 2, dtype=torch.float64)
    x = math.sqrt(d.alphas_cumprod[5]) * train[[1, 1]].double()
    mean = model.posterior_mean(x, abar, y=torch.tensor([0, 2]))
    torch.testing.assert_close(mean[0], train[1].double())
    assert torch.cdist(mean[1:].flatten(1).float(), train[4:].flatten(1)).min() < 1e-3
    # at huge noise it is the (class) average; chunked streaming softmax matches the dense one
    t = torch.full((3,), 999)
    xt = torch.randn(3, 3, 8, 8)
    eps = model(xt, d.scale_timesteps(t))
    ab = d.alphas_cumprod[999]
    logits = -torch.cdist(xt.double().flatten(1), math.sqrt(ab) * train.double().flatten(1)) ** 2 / (2 * (1 - ab))
    dense = (logits.softmax(1) @ train.double().flatten(1)).view(3, 3, 8, 8)
    expected = (xt.double() - math.sqrt(ab) * dense) / math.sqrt(1 - ab)
    torch.testing.assert_close(eps.double(), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(MemgenError):
        model(xt, torch.full((3,), 0.4))  # not a step of the diffusion
    with pytest.raises(MemgenError):
        model.posterior_mean(x, abar, y=torch.tensor([0, 7]))  # class 7 has no training image
