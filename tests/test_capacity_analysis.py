"""Tests of memgen.analysis.capacity (interpolated memorization capacity, bootstrap) and memgen.analysis.table1."""

import numpy as np
import pandas as pd
import pytest

from memgen.analysis.capacity import crossing, memorization_capacity
from memgen.analysis.table1 import table1
from memgen.errors import MemgenError


def curve(fractions, sizes=(8, 32, 128, 512), width=16, n=200, **extra):
    return pd.DataFrame({"width": width, "size": list(sizes), "replicate_fraction": list(fractions),
                         "n_samples": n, **extra})


def test_interpolation_in_log_size_hand_computed():
    out = memorization_capacity(curve([1.0, 0.5, 0.0, 0.0]), level=0.9, n_boot=0)
    expected = np.exp(np.log(8) + (1.0 - 0.9) / (1.0 - 0.5) * (np.log(32) - np.log(8)))  # = 8 * 4**0.2
    row = out.iloc[0]
    assert row["capacity"] == pytest.approx(expected, rel=1e-12)
    assert (row["bracket_low"], row["bracket_high"]) == (8, 32)
    assert pd.isna(row["censored"]) and np.isnan(row["ci_low"])


def test_capacity_is_the_largest_size_at_or_above_the_level():
    # non-monotone: 0.95 at 128 counts, so the crossing is between 128 and 512
    cap, code = crossing(np.array([8, 32, 128, 512.0]), np.array([[1.0, 0.5, 0.95, 0.0]]), 0.9)
    assert code[0] == 0
    assert cap[0] == pytest.approx(np.exp(np.log(128) + 0.05 / 0.95 * np.log(4)))
    cap, code = crossing(np.array([8, 32.0]), np.array([[0.9, 0.0]]), 0.9)  # exactly at the level
    assert code[0] == 0 and cap[0] == pytest.approx(8.0)


def test_censoring_all_above_and_all_below():
    table = pd.concat([curve([1.0, 0.99, 0.95, 0.92], width=32), curve([0.5, 0.1, 0.0, 0.0], width=16)])
    out = memorization_capacity(table, n_boot=50).set_index("width")
    assert out.loc[32, "censored"] == "all above" and out.loc[32, "capacity"] == 512
    assert out.loc[32, "bracket_low"] == 512 and np.isnan(out.loc[32, "bracket_high"])
    assert out.loc[16, "censored"] == "all below" and out.loc[16, "capacity"] == 8
    assert ">=" in out.loc[32, "note"] and "<" in out.loc[16, "note"]


def test_bootstrap_interval_contains_estimate_and_is_reproducible():
    table = curve([1.0, 0.95, 0.6, 0.1, 0.0], sizes=(8, 16, 32, 64, 128), n=256)
    first = memorization_capacity(table, n_boot=400, seed=3)
    again = memorization_capacity(table, n_boot=400, seed=3)
    pd.testing.assert_frame_equal(first, again)
    row = first.iloc[0]
    assert row["ci_low"] <= row["capacity"] <= row["ci_high"]
    assert 16 <= row["ci_low"] < row["ci_high"] <= 32  # the level is crossed between 16 and 32 in every draw


def test_groups_by_grid_columns_and_pools_seeds():
    seeds = pd.concat([curve([1.0, 0.6, 0.0, 0.0], seed=0, n_replicates=[200, 120, 0, 0]),
                       curve([1.0, 0.4, 0.0, 0.0], seed=1, n_replicates=[200, 80, 0, 0])])
    table = pd.concat([seeds.assign(dummy="none"), seeds.assign(dummy="gm")])
    out = memorization_capacity(table, n_boot=0)
    assert out.columns[:2].tolist() == ["width", "dummy"] and len(out) == 2
    pooled = np.exp(np.log(8) + 0.1 / 0.5 * np.log(4))  # (120 + 80) / 400 = 0.5 at size 32
    np.testing.assert_allclose(out["capacity"], pooled)


def test_exposure_at_the_capacity_and_step_budgets_kept_apart():
    short = curve([1.0, 0.5, 0.0, 0.0], steps=1600, batch_size=64)
    long = curve([1.0, 1.0, 0.5, 0.0], steps=6400, batch_size=64)
    out = memorization_capacity(pd.concat([short, long]), n_boot=0).set_index("steps")
    assert len(out) == 2  # one capacity per step budget, never pooled across budgets
    assert out.loc[1600, "capacity"] == pytest.approx(8 * 4 ** 0.2)
    assert out.loc[6400, "capacity"] == pytest.approx(32 * 4 ** 0.2)
    assert out.loc[1600, "base_image_presentations"] == 1600 * 64
    assert out.loc[6400, "epochs_per_image"] == pytest.approx(6400 * 64 / (32 * 4 ** 0.2))
    # without the step budget in the table the exposure is unknown, not invented
    assert np.isnan(memorization_capacity(curve([1.0, 0.5, 0.0, 0.0]), n_boot=0)["epochs_per_image"]).all()


@pytest.mark.parametrize(
    "table, kwargs, message",
    [(curve([1.0, 0.5, 0, 0]).drop(columns="n_samples"), {}, "lacks column"),
     (curve([1.0, 0.5, 0, 0]), {"level": 1.0}, "level"),
     (curve([1.0, 0.5, 0, 0]), {"n_boot": -1}, "n_boot"),
     (curve([1.5, 0.5, 0, 0]), {}, "replicate_fraction in"),
     (curve([], sizes=()), {}, "no rows")],
)
def test_capacity_rejects_bad_input(table, kwargs, message):
    with pytest.raises(MemgenError, match=message):
        memorization_capacity(table, **kwargs)


def paper_row(width, params, **over):
    row = {"model": f"UNet-{width}", "num_channels": width, "num_res_blocks": 3, "learn_sigma": True,
           "dropout": 0.3, "diffusion_steps": 4000, "noise_scheduler": "cosine", "optimizer": "Adam", "lr": 1e-4,
           "batch_size": 128, "train_steps": 500_000, "ema_rate": 0.9999, "parameters": params}
    return row | over


def test_table1_layout_and_separators():
    frame, md = table1([paper_row(64, 13_161_926), paper_row(128, 52_546_438)])
    assert frame.columns.tolist() == ["setting", "UNet-64", "UNet-128"]
    assert frame["setting"].tolist()[0] == "num_channels" and frame["setting"].tolist()[-1] == "parameters (measured)"
    assert "| parameters (measured) | 13,161,926 | 52,546,438 |" in md
    assert "| lr | 0.0001 | 0.0001 |" in md and "| train steps | 500,000 | 500,000 |" in md
    assert "| num_channels | 64 | 128 |" in md and "| dropout | 0.3 | 0.3 |" in md


def test_table1_accepts_aliases_and_rejects_bad_rows():
    row = paper_row(32, 1_140_000)
    row["steps"] = row.pop("train_steps")
    frame, _ = table1([row])
    assert frame.set_index("setting").loc["train steps", "UNet-32"] == "500,000"
    with pytest.raises(MemgenError, match="unknown key"):
        table1([paper_row(32, 1, widht=3)])
    with pytest.raises(MemgenError, match="lacks"):
        table1([{k: v for k, v in paper_row(32, 1).items() if k != "lr"}])
    with pytest.raises(MemgenError, match="distinct"):
        table1([paper_row(32, 1), paper_row(32, 2)])
    with pytest.raises(MemgenError, match="non-empty"):
        table1([])
