"""The train/held-out denoising-loss gap: noise grid, CRN, and the optimal memorizer's gap; the gap tested per image
(memgen.analysis.gap_peak: peak chosen on other images, sign-flip permutation, the bands of 'intermediate noise')
and the loss-gap claims."""

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
    from memgen.evaluation.loss_gap_checkpoints import checkpoints_table, checkpoints_tables, loss_gap_table
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
    # the per-image losses kept beside it: their means per level and split are the table's losses
    summary, per_image = checkpoints_tables([tmp_path / "m.pt"], images, mondrian(4, 1, 8), k=5)
    pd.testing.assert_frame_equal(summary, table)
    assert list(per_image.columns) == ["step", "batch_size", "epochs_per_image", "base_image_presentations", "seed",
                                       "t", "alpha_bar", "log_snr", "split", "index", "loss"]
    means = per_image.groupby(["t", "split"]).loss.mean()
    np.testing.assert_allclose(means.loc[list(zip(table.t, table.split))].to_numpy(), table.loss.to_numpy())


def test_single_image_splits_give_nan_sem_and_a_gap(setup):
    diffusion, model, train, heldout = setup
    table = denoising_loss_by_level(model, diffusion, train[:1], heldout[:1], [0, 500], seed=0, device="auto")
    assert (table.n == 1).all() and table.loss_sem.isna().all()
    gap = loss_gap(table)
    assert list(gap.columns) == ["t", "alpha_bar", "log_snr", "gap", "gap_sem", "gap_x0", "gap_x0_sem"]
    assert len(gap) == 2 and (gap.gap > 0).all() and gap.gap_sem.isna().all() and gap.gap_x0_sem.isna().all()
    with pytest.raises(MemgenError, match="device"):
        denoising_loss_by_level(model, diffusion, train, heldout, [0], seed=0, device="tpu")


# --------------------------------------------------- the gap tested per image: common noise, permutation, bands
def test_index_i_of_both_splits_sees_the_same_noise_and_level(setup):
    """The exactness of the permutation test: a model that predicts eps = 0 has loss mean(eps^2), a function of the
    noise alone, so equal per-image losses of train i and held-out i (different images) mean equal noise and t; and
    swapping the two image sets flips each image pair's gap d_i exactly."""
    diffusion, model, train, heldout = setup
    zero = lambda x, t, y: torch.zeros_like(x)  # noqa: E731
    per = per_image_losses(zero, diffusion, train, heldout, [10, 400, 900], seed=2, batch_size=5)
    a, b = (per[per.split == s].sort_values(["t", "index"]) for s in ("train", "heldout"))
    assert np.array_equal(a.loss.to_numpy(), b.loss.to_numpy()) and len(a) == 3 * len(train)
    fwd = per_image_losses(model, diffusion, train, heldout, [10, 400], seed=2)
    rev = per_image_losses(model, diffusion, heldout, train, [10, 400], seed=2)
    d = lambda p: (p[p.split == "heldout"].loss.to_numpy() - p[p.split == "train"].loss.to_numpy())  # noqa: E731
    assert np.array_equal(d(fwd), -d(rev)) and (d(fwd) != 0).any()


def _image_table(gap, seeds=(0, 1, 2), steps=(100,), noise=0.0, rng=None):
    """A per-image loss table: gap(t_index, image index) added to held-out image i's loss, plus optional noise."""
    rows = []
    for seed in seeds:
        for step in steps:
            for k in range(gap.shape[0]):
                for i in range(gap.shape[1]):
                    base = 0.5 + 0.01 * k
                    extra = noise * rng.normal() if noise else 0.0
                    for split, loss in (("train", base), ("heldout", base + gap[k, i] + extra)):
                        rows.append(dict(step=step, width=16, seed=seed, t=k * 100, log_snr=5.0 - k, split=split,
                                         index=i, loss=loss))
    return pd.DataFrame(rows)


def test_peak_chosen_on_even_images_and_read_on_odd_ones():
    from memgen.analysis.gap_peak import gap_at_peak, image_losses_markdown

    gap = np.zeros((4, 6))
    gap[1, 0::2] = 0.5  # the even images peak at level 1 (t = 100)
    gap[1, 1::2] = 0.1
    gap[2, 1::2] = 0.9  # the odd images alone would peak at level 2, the mean over all images too
    out = gap_at_peak(_image_table(gap))
    assert set(out.t) == {100} and (out.n_images == 3).all() and len(out) == 3
    np.testing.assert_allclose(out.gap, 0.1)  # read on the odd images only, at the level chosen on the even ones
    assert list(out.columns) == ["step", "width", "seed", "t", "log_snr", "gap", "n_images"]
    md = image_losses_markdown(_image_table(gap))
    assert md.splitlines()[2] == "| 16 | 100 | 0 | 4 | 6 / 6 | 0.515 | 0.7025 |" and len(md.splitlines()) == 5
    with pytest.raises(MemgenError, match="at least 2 paired images"):
        gap_at_peak(_image_table(gap[:, :1]))


def test_sign_flip_p_exact_and_calibrated():
    from memgen.analysis.gap_peak import sign_flip_p

    rng = np.random.default_rng(0)
    p_max, p_level = sign_flip_p(np.array([[1.0], [2.0], [3.0]]), 100, rng)
    assert float(p_max) == p_level[0] == 0.25  # 2 of the 8 sign patterns reach |sum| = 6
    # two levels: max-T over both, one sign per row at every level
    p_max, p_level = sign_flip_p(np.array([[1.0, 0.0], [1.0, 0.0]]), 100, rng)
    assert float(p_max) == 0.5 and list(p_level) == [0.5, 1.0]
    # under the null (symmetric d) the Monte Carlo test rejects at most about 5%
    rejections = [float(sign_flip_p(rng.standard_t(3, size=(40, 5)), 200, rng)[0]) <= 0.05 for _ in range(300)]
    assert np.mean(rejections) <= 0.08


def test_gap_test_supported_unresolved_reversed():
    from memgen.analysis.gap_peak import gap_test

    rng = np.random.default_rng(3)
    gap = np.zeros((5, 40))
    gap[2] = 0.2
    planted = gap_test(_image_table(gap, noise=0.3, rng=rng), n_perm=2000).iloc[0]
    assert planted.verdict == "supported" and planted.t == 200 and planted.n_pairs == 60  # 20 odd images x 3 seeds
    assert planted.p_permutation < 0.01 and planted.t_curve == 200 and planted.p_curve < 0.01
    null = gap_test(_image_table(np.zeros((5, 40)), noise=0.3, rng=rng), n_perm=2000).iloc[0]
    assert null.verdict.startswith("unresolved") and null.p_permutation > 0.01
    reversed_ = gap_test(_image_table(-gap - 0.05, noise=0.1, rng=rng), n_perm=2000).iloc[0]
    assert reversed_.verdict == "reversed" and reversed_.gap < 0
    again = gap_test(_image_table(gap, noise=0.3, rng=np.random.default_rng(3)), n_perm=2000).iloc[0]
    assert again.p_permutation == planted.p_permutation  # seeded: reproducible


def test_bands_fixed_by_the_level_grid():
    from memgen.analysis.gap_peak import band_of_levels, gap_bands

    bands = band_of_levels(range(16))  # 16 levels: 5 low-noise, 6 middle, 5 high-noise
    assert [bands[t] for t in (0, 4, 5, 10, 11, 15)] == ["low noise", "low noise", "middle", "middle", "high noise",
                                                           "high noise"]
    gap = np.zeros((6, 4))
    gap[2:4] = 0.3  # the middle two of six levels
    gap[0] = 0.1
    out = gap_bands(_image_table(gap, seeds=(0, 1)))
    assert list(out.band[:3]) == ["low noise", "middle", "high noise"] and len(out) == 6
    by = out[out.seed == 0].set_index("band").gap
    assert by["low noise"] == pytest.approx(0.05) and by["middle"] == pytest.approx(0.3) and by["high noise"] == 0
    assert out.levels.iloc[0] == "t = 0-100 (2 levels)"
    with pytest.raises(MemgenError, match=">= 3"):
        band_of_levels([0, 1])
    assert gap_bands(_image_table(np.zeros((2, 4)))).empty  # two levels: no bands, the claim is not run


@pytest.mark.parametrize("key, value", [("heldout", 1), ("levels", 2)])
def test_config_refuses_a_loss_gap_grid_the_claims_cannot_use(key, value):
    from memgen.config import load_config

    with pytest.raises(MemgenError, match=f"loss_gap.{key}"):
        load_config({"studies": ["loss_gap"], "loss_gap": {key: value}})


def test_loss_gap_claims_fixed_before_the_run(repo_root):
    """Each claim names its kind and the paper's sentence; 'largest at intermediate noise' is a claim of its own
    at the last snapshot, against each end."""
    from memgen.config import load_config
    from memgen.studies import REGISTRY, Grid
    from memgen.studies.catalog.loss_gap import INTERMEDIATE, claims

    grid = Grid(load_config(repo_root / "config.yaml"))
    specs = claims(grid, "loss_gap")
    assert {s["claim"] for s in specs} == {"measure"} and all(s["quote"] for s in specs)
    shape = [s for s in specs if s["table"] == "gap_bands"]
    assert len(shape) == 2 and all(s["quote"] == INTERMEDIATE and s["paired"] and s["expected"] == 1 for s in shape)
    assert {s["a"]["band"] for s in shape} == {"low noise", "high noise"} and {s["b"]["band"] for s in shape} == {
        "middle"}
    assert {s["a"]["step"] for s in shape} == {max(s["a"]["step"] for s in specs)}
    tables = [t.name for t in REGISTRY["loss_gap"].tables]
    assert {"image_losses", "gap_at_peak", "gap_test", "gap_bands"} <= set(tables)
