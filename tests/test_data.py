"""memgen.data: the procedural generators (Yoon et al. 2023, Sec. 3.2, 3.3, App. B) and materialization."""

import math

import numpy as np
import pytest

from memgen import io
from memgen.data import materialize, synthetic
from memgen.errors import MemgenError

KINDS = sorted(synthetic.GENERATORS)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("size", [4, 5, 16])
def test_shape_dtype_purity(kind, size):
    generate = synthetic.get_generator(kind)
    a = generate(7, 3, size)
    assert a.dtype == np.uint8 and a.shape == (7, size, size, 3)
    np.testing.assert_array_equal(a, generate(7, 3, size))
    assert not np.array_equal(a, generate(7, 4, size))
    np.testing.assert_array_equal(a[:3], generate(3, 3, size))  # image i does not depend on n


def test_gm_prefix_stable_across_chunks():
    big = synthetic.gaussian_mixture(1100, 5, 4)
    np.testing.assert_array_equal(big[:1030], synthetic.gaussian_mixture(1030, 5, 4))


def test_kinds_with_same_seed_are_independent():
    mo, ri = synthetic.mondrian(50, 0, 8), synthetic.random_ink(50, 0, 8)
    assert not np.array_equal(mo, ri)
    # Random Ink bits against Mondrian cross noise of the same seed: no correlation.
    assert abs(np.corrcoef(mo.ravel() > 127, ri.ravel() > 127)[0, 1]) < 0.05


@pytest.mark.parametrize("bad", [dict(n=0), dict(n=-1), dict(seed=-1), dict(image_size=3), dict(n=2.0),
                                 dict(n=True), dict(seed="1")])
@pytest.mark.parametrize("kind", KINDS)
def test_bad_arguments(kind, bad):
    args = dict(n=2, seed=0, image_size=8) | bad
    with pytest.raises(MemgenError) as excinfo:
        synthetic.get_generator(kind)(**args)
    assert next(iter(bad)) in str(excinfo.value)


def test_registry():
    assert set(synthetic.GENERATORS) == {"mondrian", "gm", "random_ink"}
    with pytest.raises(MemgenError, match="mondrian"):
        synthetic.get_generator("mondrain")


@pytest.mark.parametrize("size", [4, 7, 8, 16, 32])
def test_mondrian_structure(size):
    n = 200
    images = synthetic.mondrian(n, 11, size)
    rows, cols, t = synthetic.mondrian_layout(n, 11, size)
    q = size // 4
    assert t == max(1, size // 8)
    for band in (rows, cols):
        assert band.min() >= q and band.max() <= size - q - t
    cross_values = []
    for img, r, c in zip(images, rows, cols):
        quadrants = [img[:r, :c], img[:r, c + t:], img[r + t:, :c], img[r + t:, c + t:]]
        for quad in quadrants:
            assert quad.shape[0] >= q and quad.shape[1] >= q
            assert (quad == quad[0, 0]).all()  # one flat colour per quadrant
        cross = np.ones((size, size), bool)
        cross[:r, :c] = cross[:r, c + t:] = cross[r + t:, :c] = cross[r + t:, c + t:] = False
        assert cross.sum() == 2 * t * size - t * t  # bands exactly t thick
        cross_values.append(img[cross])
    values = np.concatenate(cross_values).astype(float)
    # iid uniform 0..255: mean 127.5, sd 73.9; the mean of m values has sd 73.9 / sqrt(m).
    assert abs(values.mean() - 127.5) < 6 * 73.9 / math.sqrt(values.size)
    assert abs(values.std() - 73.9) < 2.5
    if size >= 16:  # band positions spread over their whole range
        assert rows.min() == q and rows.max() == size - q - t


def test_mondrian_quadrant_colours_uniform():
    images = synthetic.mondrian(2000, 1, 8)
    corners = images[:, 0, 0].astype(float)  # always the upper-left quadrant's colour
    assert abs(corners.mean() - 127.5) < 3 and len(np.unique(corners)) == 256


def _expected_clip_fraction(sigma):
    """P(mu + sigma z < 0) for mu ~ U[0, 1]: (sigma / 1) * int_0^{1/sigma} Phi(-v) dv, in closed form."""
    a = 1.0 / sigma
    phi = lambda v: math.exp(-v * v / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda v: 0.5 * (1 + math.erf(v / math.sqrt(2)))  # noqa: E731
    return sigma * (a * cdf(-a) - phi(a) + phi(0))


def test_gm_clipping_matches_sigma():
    images = synthetic.gaussian_mixture(400, 2, 16)
    expected = _expected_clip_fraction(0.5)  # about 0.195; rounding adds about 0.001
    assert expected == pytest.approx(0.1953, abs=1e-3)
    assert abs((images == 0).mean() - expected) < 0.005
    assert abs((images == 255).mean() - expected) < 0.005
    narrow = synthetic.gaussian_mixture(400, 2, 16, sigma=0.1)
    assert abs((narrow == 0).mean() - _expected_clip_fraction(0.1)) < 0.005


def test_gm_means_and_components():
    n, size = 600, 8
    images = synthetic.gaussian_mixture(n, 9, size).reshape(n, -1) / 255.0
    means = synthetic.gm_means(9, size)
    components = synthetic.gm_components(n, 9)
    assert means.shape == (100, size, size, 3) and means.min() >= 0 and means.max() <= 1
    assert len(np.unique(means.reshape(100, -1), axis=0)) == 100
    assert len(np.unique(components)) > 90 and components.max() < 100
    np.testing.assert_array_equal(means, synthetic.gm_means(9, size))  # shared by every image of the seed
    dist = ((images[:, None, :] - means.reshape(100, -1)[None]) ** 2).sum(-1)  # [n, 100]
    assert (dist.argmin(1) == components).mean() > 0.99
    own = dist[np.arange(n), components]
    assert own.mean() < 0.75 * dist.mean()
    # Residual around the own mean: the clipped N(0, 0.5^2) has sd near 0.3 for uniform means, far above 0.
    resid = images - means.reshape(100, -1)[components]
    assert 0.25 < resid.std() < 0.4


def test_gm_options():
    few = synthetic.gaussian_mixture(50, 0, 8, num_means=2, sigma=0.0)
    assert len(np.unique(few.reshape(50, -1), axis=0)) == 2  # sigma 0: every image is a quantized mean
    with pytest.raises(MemgenError, match="sigma"):
        synthetic.gaussian_mixture(5, 0, 8, sigma=-1.0)
    with pytest.raises(MemgenError, match="num_means"):
        synthetic.gaussian_mixture(5, 0, 8, num_means=0)


def test_random_ink():
    images = synthetic.random_ink(100, 4, 16)
    assert set(np.unique(images)) == {0, 255}
    assert abs((images == 255).mean() - 0.5) < 0.01


# ------------------------------------------------------------------------------------------------- materialize
def test_build_training_set_card():
    images, labels, card = materialize.build_training_set("mondrian", 30, 2, 8, dummy="gm", ndummy=20)
    assert images.shape == (50, 8, 8, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and (labels[:30] == 0).all() and (labels[30:] == 1).all()
    assert card["format"] == 1 and card["num_images"] == 50 and card["image_size"] == 8
    assert card["class_names"] == {"0": "mondrian", "1": "gm"} and card["counts"] == {"0": 30, "1": 20}
    assert card["sha256"] == {"images": io.sha256_array(images), "labels": io.sha256_array(labels)}
    assert card["exact_duplicates"] == 0 and "duplicate_pairs" not in card
    np.testing.assert_array_equal(images[:30], synthetic.mondrian(30, 2, 8))
    np.testing.assert_array_equal(images[30:], synthetic.gaussian_mixture(20, card["dummy_seed"], 8))


def test_base_unchanged_by_dummies_and_dummies_independent_of_base():
    plain, plain_labels, card = materialize.build_training_set("mondrian", 25, 7, 8)
    assert card["class_names"] == {"0": "mondrian"} and card["counts"] == {"0": 25} and card["ndummy"] == 0
    assert (plain_labels == 0).all()
    for dummy in ("gm", "random_ink", "mondrian"):
        mixed, _, _ = materialize.build_training_set("mondrian", 25, 7, 8, dummy=dummy, ndummy=10)
        np.testing.assert_array_equal(mixed[:25], plain)
        assert not any(np.array_equal(mixed[25 + i], plain[i]) for i in range(10))
    none_count, _, _ = materialize.build_training_set("mondrian", 25, 7, 8, dummy="gm", ndummy=0)
    np.testing.assert_array_equal(none_count, plain)


def test_build_errors():
    with pytest.raises(MemgenError, match="cifar"):
        materialize.build_training_set("cifar", 5, 0, 8)
    with pytest.raises(MemgenError, match="dummy kind"):
        materialize.build_training_set("mondrian", 5, 0, 8, dummy="noise", ndummy=3)
    with pytest.raises(MemgenError, match="ndummy"):
        materialize.build_training_set("mondrian", 5, 0, 8, dummy="none", ndummy=3)
    with pytest.raises(MemgenError, match="ndummy"):
        materialize.build_training_set("mondrian", 5, 0, 8, dummy="gm", ndummy=-1)


def test_materialize_is_byte_identical(tmp_path):
    paths = []
    for run in ("a", "b"):
        images, labels, card = materialize.build_training_set("mondrian", 40, 3, 8, dummy="random_ink",
                                                              ndummy=10)
        npz, card_path = tmp_path / run / "train.npz", tmp_path / run / "train.json"
        materialize.write_dataset(npz, card_path, images, labels, card)
        paths.append((npz, card_path))
    (npz_a, card_a), (npz_b, card_b) = paths
    assert npz_a.read_bytes() == npz_b.read_bytes()
    assert card_a.read_bytes() == card_b.read_bytes()
    loaded_images, loaded_labels = io.load_images_npz(npz_a)
    card = io.read_json(card_a)
    assert card["sha256"] == {"images": io.sha256_array(loaded_images), "labels": io.sha256_array(loaded_labels)}


def test_write_dataset_refuses_mismatched_card(tmp_path):
    images, labels, card = materialize.build_training_set("random_ink", 5, 0, 8)
    with pytest.raises(MemgenError, match="sha256"):
        materialize.write_dataset(tmp_path / "x.npz", tmp_path / "x.json", images[::-1], labels, card)
    assert list(tmp_path.iterdir()) == []


def test_exact_duplicates():
    images = synthetic.random_ink(30, 0, 8)
    assert materialize.exact_duplicates(images) == []
    images[7] = images[2]
    images[20] = images[2]
    images[25] = images[11]
    assert materialize.exact_duplicates(images) == [(2, 7), (2, 20), (11, 25)]


def test_card_reports_duplicates(monkeypatch):
    def repeated(n, seed, image_size):  # every image a copy of the first
        return np.repeat(synthetic.random_ink(1, seed, image_size), n, axis=0)

    monkeypatch.setitem(synthetic.GENERATORS, "random_ink", repeated)
    _, _, card = materialize.build_training_set("random_ink", 30, 0, 8)
    assert card["exact_duplicates"] == 29
    assert card["duplicate_pairs"] == [[0, j] for j in range(1, 21)]
