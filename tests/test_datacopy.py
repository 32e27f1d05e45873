"""Tests of memgen.evaluation.datacopy (Meehan et al. 2020, C_T) on planted cases with procedural data."""

import numpy as np
import pytest
from scipy.stats import mannwhitneyu, norm

from eval_images import add_gaussian_noise, smooth_fields
from memgen.data.synthetic import gaussian_mixture, mondrian
from memgen.errors import MemgenError
from memgen.evaluation.datacopy import CELL_COLUMNS, data_copying_test, z_u

S = 16


def three_samples(kind, seed):
    """Training set (1200), held-out draws (600), fresh draws (600) of one distribution; GM draws share means."""
    draw = {"gm": lambda n: gaussian_mixture(n, seed, S), "smooth": lambda n: smooth_fields(n, seed, S),
            "mondrian": lambda n: mondrian(n, seed, S)}[kind]
    images = draw(2400)
    return images[:1200], images[1200:1800], images[1800:]


def report(name, ct, table):
    print(f"C_T {name:40s} {ct:7.2f}   per-cell Z {np.round(table.z.to_numpy(), 1).tolist()}")


@pytest.mark.parametrize("kind", ["gm", "smooth", "mondrian"])
def test_planted_cases(kind):
    for seed in (0, 1):
        train, heldout, fresh = three_samples(kind, seed)
        ct, table = data_copying_test(train, heldout, fresh, seed=seed)
        report(f"{kind} s{seed} fresh draws as samples", ct, table)
        assert abs(ct) < 2.0
        rng = np.random.default_rng(seed)
        copies = add_gaussian_noise(train[rng.integers(0, len(train), 600)], 3, seed)
        ct_copy, table = data_copying_test(train, heldout, copies, seed=seed)
        report(f"{kind} s{seed} training + N(0, 3^2) as samples", ct_copy, table)
        assert ct_copy < -5.0 and (table.z[table.included] < -3).all()
        half = np.concatenate([fresh[:300], copies[:300]])
        ct_half, table = data_copying_test(train, heldout, half, seed=seed)
        report(f"{kind} s{seed} half copies", ct_half, table)
        assert ct_copy < ct_half < -2.0


def test_underfitting_is_positive():
    """Samples noisier than the data (GM with sigma 0.7, same means, noise independent of T: images 2400+ of the
    stream) sit farther from T than held-out draws."""
    train, heldout, _ = three_samples("gm", 0)
    ct, table = data_copying_test(train, heldout, gaussian_mixture(3000, 0, S, sigma=0.7)[2400:])
    report("gm sigma 0.7 as samples", ct, table)
    assert ct > 5.0


def test_table_and_weighting():
    train, heldout, fresh = three_samples("smooth", 2)
    ct, table = data_copying_test(train, heldout, fresh, n_cells=4, seed=3)
    assert list(table.columns) == CELL_COLUMNS and list(table.cell) == [0, 1, 2, 3]
    assert table.n_train.sum() == 1200 and table.n_heldout.sum() == 600 and table.n_samples.sum() == 600
    use = table[table.included]
    assert ct == pytest.approx(np.average(use.z, weights=use.n_heldout))
    assert (table.included == (table.n_samples > 20)).all()
    again, _ = data_copying_test(train, heldout, fresh, n_cells=4, seed=3)
    assert again == ct  # seeded k-means: deterministic


def test_tau_excludes_small_cells():
    train, heldout, fresh = three_samples("gm", 3)
    _, table = data_copying_test(train, heldout, fresh[:60], n_cells=5)
    assert (table.included == (table.n_samples > 20)).all() and not table.included.all()
    with pytest.raises(MemgenError, match="no cell"):
        data_copying_test(train, heldout, fresh[:15], n_cells=5)


def test_z_u_matches_scipy_normal_approximation():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 40), rng.normal(0.3, 1, 70)
    u, z = z_u(a, b)
    p = mannwhitneyu(a, b, alternative="less", method="asymptotic").pvalue
    assert z == pytest.approx(norm.ppf(p), rel=1e-9)
    assert u == pytest.approx(sum((x > y) for x in a for y in b))


def test_bad_input():
    x = np.zeros((10, 4, 4, 3), np.uint8)
    with pytest.raises(MemgenError, match="row shape"):
        data_copying_test(x, x, np.zeros((10, 5), np.float32))
    with pytest.raises(MemgenError, match="exceeds"):
        data_copying_test(x, x, x, n_cells=11)
    with pytest.raises(MemgenError, match="n_cells"):
        data_copying_test(x, x, x, n_cells=0)
    with pytest.raises(MemgenError, match="numeric"):
        data_copying_test(x, np.zeros((0, 4)), x)
    with pytest.raises(MemgenError, match="non-finite"):
        data_copying_test(x.reshape(10, -1).astype(float) * np.nan, x, x)
