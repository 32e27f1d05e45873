"""The train/held-out denoising-loss gap: noise grid, CRN, and the optimal memorizer's gap."""

import numpy as np
import pandas as pd
import pytest
import torch

from memgen.data.synthetic import mondrian
from memgen.diffusion import EmpiricalOptimalDenoiser, GaussianDiffusion, LossType, cosine_betas
from memgen.errors import MemgenError
from memgen.evaluation.loss_gap import (
    TABLE_COLUMNS,
    crn_noise,
    denoising_loss_by_level,
    log_snr,
    loss_gap,
    noise_levels,
    per_image_losses,
)

T = 1000


@pytest.fixture(scope="module")
def setup():
    diffusion = GaussianDiffusion(cosine_betas(T), learn_sigma=False, loss_type=LossType.SIMPLE)
    train, heldout = mondrian(8, 0, 16), mondrian(8, 1, 16)
    x = torch.from_numpy(train).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    return diffusion, EmpiricalOptimalDenoiser(x, diffusion), train, heldout


@pytest.mark.parametrize("T_, k", [(1000, 20), (4000, 30), (100, 20), (50, 10)])
def test_noise_levels_sorted_in_range_and_spread(T_, k):
    levels = noise_levels(T_, k)
    assert levels.dtype == np.int64 and np.all(np.diff(levels) > 0)
    assert levels[0] == 0 and levels[-1] < T_ and len(levels) <= k
    abar = np.cumprod(1.0 - cosine_betas(T_))[levels]
    snr = log_snr(abar)
    assert snr.min() < -5 and snr.max() > 5  # high and low noise
    assert np.any(np.abs(snr) < 1.5)  # intermediate noise (sigma_equiv ~ 1)
    if T_ >= 1000:  # fine enough to resolve the grid: K distinct, evenly spaced in log-SNR
        assert len(levels) == k
        gaps = -np.diff(snr)
        assert gaps.max() / gaps.min() < 1.5


def test_noise_levels_bad_input():
    with pytest.raises(MemgenError, match="k must"):
        noise_levels(100, 1)
    with pytest.raises(MemgenError, match="T must"):
        noise_levels(1, 2)
    with pytest.raises(MemgenError, match="unknown noise schedule"):
        noise_levels(100, 5, schedule="quadratic")


def test_optimal_denoiser_memorizes_a_gap_at_low_noise(setup):
    diffusion, model, train, heldout = setup
    levels = noise_levels(T, 10)
    table = denoising_loss_by_level(model, diffusion, train, heldout, levels, seed=0)
    assert list(table.columns) == TABLE_COLUMNS and len(table) == 2 * len(levels)
    assert np.array_equal(table["t"].to_numpy(), np.repeat(levels, 2))
    assert (table["n"] == 8).all()
    tr = table[table.split == "train"].set_index("t")
    ho = table[table.split == "heldout"].set_index("t")
    low = levels[levels < 300]
    assert (tr.loss[low] < 1e-6).all()  # eps recovered exactly: x_t identifies its training image
    assert (ho.loss[low] > 1.0).all()  # a held-out image is pulled onto a training image
    gap = loss_gap(table).set_index("t")
    assert (gap.gap[low] > 3 * gap.gap_sem[low]).all()
    assert abs(gap.gap.iloc[-1]) < 1e-3  # at the highest noise both splits look alike
    assert np.allclose(tr.alpha_bar, diffusion.alphas_cumprod[levels])


def test_x0_space_loss_equals_the_directly_computed_x0_error(setup):
    diffusion, model, train, heldout = setup
    levels = np.array([50, 400, 800])
    table = denoising_loss_by_level(model, diffusion, train, heldout, levels, seed=3)
    x0 = torch.from_numpy(heldout).permute(0, 3, 1, 2).double() / 127.5 - 1.0
    for t in levels:
        noise = crn_noise(3, np.full(len(x0), t), np.zeros(len(x0), int), np.arange(len(x0)), (3, 16, 16)).double()
        abar = float(diffusion.alphas_cumprod[t])
        xt = (abar ** 0.5 * x0 + (1 - abar) ** 0.5 * noise).float()
        tt = torch.full((len(x0),), int(t))
        eps_hat = model(xt, diffusion.scale_timesteps(tt), None)[:, :3].double()
        x0_hat = (xt.double() - (1 - abar) ** 0.5 * eps_hat) / abar ** 0.5
        direct = ((x0 - x0_hat) ** 2).mean(dim=(1, 2, 3)).mean().item()
        row = table[(table.t == t) & (table.split == "heldout")].iloc[0]
        assert row.loss_x0 == pytest.approx(direct, rel=1e-4)
        assert row.loss_x0 == pytest.approx(row.loss * (1 - abar) / abar, rel=1e-12)
    gap = loss_gap(table)
    assert np.allclose(gap.gap_x0, gap.gap * (1 - gap.alpha_bar) / gap.alpha_bar)


def test_crn_repeatable_and_split_symmetric(setup):
    diffusion, model, train, heldout = setup
    levels = [0, 300, 700]
    a = denoising_loss_by_level(model, diffusion, train, heldout, levels, seed=3)
    pd.testing.assert_frame_equal(a, denoising_loss_by_level(model, diffusion, train, heldout, levels, seed=3))
    b = denoising_loss_by_level(model, diffusion, heldout, train, levels, seed=3)
    for x, y in (("train", "heldout"), ("heldout", "train")):
        assert np.array_equal(a[a.split == x].loss.to_numpy(), b[b.split == y].loss.to_numpy())
    c = denoising_loss_by_level(model, diffusion, train, heldout, levels, seed=4)
    assert not np.array_equal(a.loss.to_numpy(), c.loss.to_numpy())


def test_crn_same_noise_for_both_splits_and_batch_independent(setup):
    diffusion, model, train, heldout = setup
    # with heldout == train the two splits see the same noise, so their losses are identical
    per = per_image_losses(model, diffusion, train, train.copy(), [10, 500], seed=1, batch_size=3, n_noise=2)
    assert np.array_equal(per[per.split == "train"].loss.to_numpy(), per[per.split == "heldout"].loss.to_numpy())
    big = per_image_losses(model, diffusion, train, train.copy(), [10, 500], seed=1, batch_size=256, n_noise=2)
    np.testing.assert_allclose(per.loss, big.loss, rtol=1e-9, atol=1e-12)
    e1 = crn_noise(1, [10, 10], [0, 1], [5, 5], (3, 4, 4))
    assert not torch.equal(e1[0], e1[1])  # draws differ
    assert torch.equal(crn_noise(1, [10], [1], [5], (3, 4, 4))[0], e1[1])


def test_eval_mode_restored_and_six_channel_output(setup):
    diffusion, _, train, heldout = setup

    class Half(torch.nn.Module):  # 6 channels like a learned-sigma UNet: eps = x / 2
        def forward(self, x, t, y=None):
            assert not self.training
            return torch.cat([x / 2, torch.zeros_like(x)], dim=1)

    net = Half().train()
    table = denoising_loss_by_level(net, diffusion, train, heldout, [999], seed=0)
    assert net.training
    assert np.allclose(table.loss, 0.25, atol=0.05)  # at t = T-1, x_t ~ eps, so (eps - eps/2)^2 ~ 1/4


def test_bad_input_names_the_culprit(setup):
    diffusion, model, train, heldout = setup
    with pytest.raises(MemgenError, match="levels"):
        denoising_loss_by_level(model, diffusion, train, heldout, [0, T], seed=0)
    with pytest.raises(MemgenError, match="images_heldout"):
        denoising_loss_by_level(model, diffusion, train, heldout.astype(np.float32), [0], seed=0)
    with pytest.raises(MemgenError, match="labels_train"):
        denoising_loss_by_level(model, diffusion, train, heldout, [0], seed=0, labels_train=np.zeros(8, int))
    with pytest.raises(MemgenError, match="seed"):
        denoising_loss_by_level(model, diffusion, train, heldout, [0], seed=-1)


def test_loss_gap_table_from_a_checkpoint(tmp_path):
    from memgen.config import load_config
    from memgen.evaluation.loss_gap import checkpoints_table, loss_gap_table
    from memgen.train import train

    cfg = load_config({
        "image_size": 8, "model": {"channel_mult": [1, 2], "num_res_blocks": 1, "norm_groups": 8},
        "diffusion": {"steps": 100}, "train": {"steps": 2, "batch_size": 4, "log_every": 1},
        "sample": {"steps": 10}, "capacity": {"widths": [8]},
    })
    images = mondrian(4, 0, 8)
    ckpt = train(cfg, images, np.zeros(4, np.int64), width=8, seed=0, out=tmp_path / "m.pt",
                 loss_log=tmp_path / "l.pq", device="cpu", log=lambda m: None)
    table = loss_gap_table(ckpt, images, mondrian(4, 1, 8), seed=0, k=5)
    assert list(table.columns) == ["step"] + TABLE_COLUMNS
    assert (table.step == 2).all() and len(table) == 10 and np.isfinite(table.loss).all()
    assert "step" in loss_gap(table).columns
    table = checkpoints_table([tmp_path / "m.pt"], images, mondrian(4, 1, 8), k=5)
    assert (table.seed == 0).all() and list(table.columns[:5]) == ["step", "batch_size", "epochs_per_image",
                                                                   "base_image_presentations", "seed"]


def test_single_image_splits_give_nan_sem_and_a_gap(setup):
    diffusion, model, train, heldout = setup
    table = denoising_loss_by_level(model, diffusion, train[:1], heldout[:1], [0, 500], seed=0, device="auto")
    assert (table.n == 1).all() and table.loss_sem.isna().all()
    gap = loss_gap(table)
    assert list(gap.columns) == ["t", "alpha_bar", "log_snr", "gap", "gap_sem", "gap_x0", "gap_x0_sem"]
    assert len(gap) == 2 and (gap.gap > 0).all() and gap.gap_sem.isna().all() and gap.gap_x0_sem.isna().all()
    with pytest.raises(MemgenError, match="device"):
        denoising_loss_by_level(model, diffusion, train, heldout, [0], seed=0, device="tpu")
