"""The follow-up's dummy kinds: shapes, GM + car Fourier hybrids, held-out real images; training and held-out
sets built from the fixture CIFAR archive (tests/cifar_fixture.py, md5 table swapped for the fixture's)."""

import math

import numpy as np
import pytest

import cifar_fixture
from memgen import io
from memgen.data import hybrid, materialize, shapes, synthetic
from memgen.errors import MemgenError


# ---------------------------------------------------------------------------------------------------- shapes
def test_shapes_pure_prefix_stable_and_cover_every_type():
    a = shapes.shapes(60, 1, 16)
    assert a.dtype == np.uint8 and a.shape == (60, 16, 16, 3)
    np.testing.assert_array_equal(a, shapes.shapes(60, 1, 16))
    np.testing.assert_array_equal(a[:7], shapes.shapes(7, 1, 16))
    assert not np.array_equal(a, shapes.shapes(60, 2, 16))
    types = shapes.shape_types(60, 1)
    assert set(types) == set(range(len(shapes.SHAPE_TYPES)))
    assert len(materialize.exact_duplicates(a)) == 0
    for kind, image in zip(types, a):
        colours = len(np.unique(image.reshape(-1, 3), axis=0))
        if shapes.SHAPE_TYPES[kind] in ("circle", "grid"):
            assert colours <= 2  # background + one colour, hard edges
        elif shapes.SHAPE_TYPES[kind] == "gradient":
            assert colours > 2 or (image == image[0, 0]).all()


@pytest.mark.parametrize("size", [4, 7, 32])
def test_shapes_sizes_and_bad_args(size):
    assert shapes.shapes(10, 0, size).shape == (10, size, size, 3)
    with pytest.raises(MemgenError, match="image_size"):
        shapes.shapes(2, 0, 3)
    with pytest.raises(MemgenError, match="n must"):
        shapes.shapes(0, 0, size)


# ---------------------------------------------------------------------------------------------------- hybrid
def test_default_cutoff_is_a_quarter_of_the_plane():
    assert hybrid.DEFAULT_CUTOFF == pytest.approx(1 / math.sqrt(math.pi))
    assert math.pi * hybrid.DEFAULT_CUTOFF ** 2 / 4 == pytest.approx(0.25)
    assert hybrid.low_band_fraction(32) == 253 / 1024 and hybrid.low_band_fraction(16) == 69 / 256
    mask = hybrid.low_pass_mask(8, 8, 0.5)
    np.testing.assert_array_equal(mask, mask[(-np.arange(8)) % 8][:, (-np.arange(8)) % 8])  # f -> -f symmetric
    assert mask[0, 0] and mask[0, 2] and not mask[0, 3] and not mask[4, 4]  # radius 0.5 Nyquist = 2 bins of 8


def test_fourier_hybrid_takes_each_band_from_its_source():
    rng = np.random.default_rng(0)
    high, low = rng.normal(size=(3, 16, 16, 3)), rng.normal(size=(3, 16, 16, 3)) * 50
    out = hybrid.fourier_hybrid(high, low)
    mask = hybrid.low_pass_mask(16, 16, hybrid.DEFAULT_CUTOFF)[:, :, None]
    f = lambda a: np.fft.fft2(a, axes=(-3, -2))  # noqa: E731
    spec, spec_low, spec_high = f(out), f(low), f(high)
    np.testing.assert_allclose(spec[..., mask[..., 0], :], spec_low[..., mask[..., 0], :], atol=1e-9)
    np.testing.assert_allclose(spec[..., ~mask[..., 0], :], spec_high[..., ~mask[..., 0], :], atol=1e-9)
    np.testing.assert_allclose(hybrid.fourier_hybrid(high, low, cutoff=0.0) - high,
                               np.broadcast_to((low - high).mean(axis=(1, 2), keepdims=True), high.shape),
                               atol=1e-9)  # cutoff 0: only the DC term comes from the low source
    np.testing.assert_allclose(hybrid.fourier_hybrid(high, low, cutoff=1.5), low, atol=1e-9)  # all of the plane
    with pytest.raises(MemgenError, match="shape"):
        hybrid.fourier_hybrid(high, low[:2])
    with pytest.raises(MemgenError, match="cutoff"):
        hybrid.fourier_hybrid(high, low, cutoff=-1)


def test_hybrid_dummies_pure_and_checked():
    cars = synthetic.mondrian(5, 0, 8)
    a = hybrid.hybrid_dummies(5, 3, 8, cars)
    assert a.dtype == np.uint8 and a.shape == (5, 8, 8, 3)
    np.testing.assert_array_equal(a, hybrid.hybrid_dummies(5, 3, 8, cars.copy()))
    gm = synthetic.gaussian_mixture(5, 3, 8).astype(float)
    expected = np.rint(np.clip(hybrid.fourier_hybrid(gm, cars), 0, 255))
    np.testing.assert_array_equal(a, expected)
    with pytest.raises(MemgenError, match=r"car_images must be uint8 \[4, 8, 8, 3\]"):
        hybrid.hybrid_dummies(4, 3, 8, cars)


# ------------------------------------------------------------------------------------------- training sets
archive, root = cifar_fixture.archive_fixtures(16, 4)


def _rows(images, source):
    """The row of ``source`` equal to each image (-1 if none)."""
    flat = source.reshape(len(source), -1)
    return [next((i for i, row in enumerate(flat) if np.array_equal(row, im.ravel())), -1) for im in images]


@pytest.mark.parametrize("dummy", ["none", "gm", "random_ink", "mondrian", "shapes", "hybrid", "heldout"])
def test_cifar_training_set_for_each_dummy(root, archive, dummy):
    _, (all_images, all_labels, _) = archive
    k = 0 if dummy == "none" else 6
    images, labels, card = materialize.build_training_set("cifar:automobile", 8, 1, 32, dummy, k, cifar_root=root)
    assert images.shape == (8 + k, 32, 32, 3) and labels.dtype == np.int64
    base_rows = _rows(images[:8], all_images)
    assert min(base_rows) >= 0 and (all_labels[base_rows] == 1).all() and len(set(base_rows)) == 8
    source = card["source"]
    assert source["kind"] == "cifar10" and source["class"] == "automobile" and source["root"] == str(root)
    assert source["class_size"] == 20 and source["pools"]["base"]["positions"] == [0, 8]
    assert card["sha256"] == {"images": io.sha256_array(images), "labels": io.sha256_array(labels)}
    if dummy == "heldout":
        assert (labels == 0).all() and card["counts"] == {"0": 14} and card["num_classes"] == 1
        extra_rows = _rows(images[8:], all_images)
        assert min(extra_rows) >= 0 and not set(extra_rows) & set(base_rows) and (all_labels[extra_rows] == 1).all()
        assert card["dummy_seed"] is None and source["pools"]["extra"]["positions"] == [8, 14]
    elif dummy != "none":
        assert (labels[8:] == 1).all() and card["class_names"] == {"0": "cifar:automobile", "1": dummy}
        assert max(_rows(images[8:], all_images)) == -1
    if dummy == "hybrid":
        assert card["hybrid"]["cutoff"] == hybrid.DEFAULT_CUTOFF and card["hybrid"]["low_band_fraction"] == 253 / 1024
        pool = source["pools"]["hybrid_source"]
        assert pool["positions"] == [8, 14]
        from memgen.data import cifar
        idx = cifar.cifar_class_pools(all_images, all_labels, "automobile", 8, {"hybrid_source": 6}, 1)
        assert pool["sha256"] == io.sha256_array(idx["hybrid_source"])
        cars = all_images[idx["hybrid_source"]]  # held-out cars: the low band of each hybrid
        np.testing.assert_array_equal(images[8:], hybrid.hybrid_dummies(6, card["dummy_seed"], 32, cars))


def test_cifar_resized_base_and_heldout_set(root, archive):
    images, _, card = materialize.build_training_set("cifar:cat", 6, 2, 16, "heldout", 10, cifar_root=root)
    assert images.shape == (16, 16, 16, 3) and "bicubic 32->16" in card["source"]["resample"]
    held, held_labels, held_card = materialize.build_heldout_set("cifar:cat", 4, 2, 16, cifar_root=root)
    assert held.shape == (4, 16, 16, 3) and (held_labels == 0).all()
    assert held_card["source"]["pools"]["heldout_eval"]["positions"] == [16, 20]  # the class's last 4 slots
    assert max(_rows(held, images)) == -1  # disjoint from base + extra (6 + 10 + 4 = 20 = the class)
    with pytest.raises(MemgenError, match="cifar:cat: asked for 6 base \\+ 15 extra = 21 images, the class has 20"):
        materialize.build_training_set("cifar:cat", 6, 2, 16, "heldout", 15, cifar_root=root)


def test_synthetic_heldout_and_hybrid_bases():
    held, _, card = materialize.build_heldout_set("mondrian", 5, 3, 8)
    np.testing.assert_array_equal(held, synthetic.mondrian(5, materialize.heldout_seed(3), 8))
    train, labels, _ = materialize.build_training_set("mondrian", 5, 3, 8, "heldout", 4)
    assert (labels == 0).all() and max(_rows(held, train)) == -1
    np.testing.assert_array_equal(train[5:], synthetic.mondrian(4, materialize.dummy_seed(3), 8))
    hyb, _, card = materialize.build_training_set("shapes", 5, 3, 8, "hybrid", 4)
    np.testing.assert_array_equal(hyb[:5], shapes.shapes(5, 3, 8))
    assert card["dummy_seed"] == materialize.dummy_seed(3) and "hybrid_source" in card["source"]["pool_seeds"]


def test_errors(root):
    with pytest.raises(MemgenError, match="cifar_root"):
        materialize.build_training_set("cifar:automobile", 5, 0, 32)
    with pytest.raises(MemgenError, match="valid names"):
        materialize.build_training_set("cifar:car", 5, 0, 32, cifar_root=root)
    with pytest.raises(MemgenError, match="valid kinds: .*hybrid, heldout"):
        materialize.build_training_set("mondrian", 5, 0, 8, "cars", 2)
    with pytest.raises(MemgenError, match="folder:<path>"):
        materialize.build_training_set("folder:", 5, 0, 8)


def test_cifar_materialization_is_byte_identical(root, tmp_path):
    outputs = []
    for run in ("a", "b"):
        images, labels, card = materialize.build_training_set("cifar:automobile", 8, 0, 32, "hybrid", 5,
                                                              cifar_root=root)
        npz, card_path = tmp_path / run / "train.npz", tmp_path / run / "card.json"
        materialize.write_dataset(npz, card_path, images, labels, card)
        outputs.append((npz.read_bytes(), card_path.read_bytes()))
    assert outputs[0] == outputs[1]
