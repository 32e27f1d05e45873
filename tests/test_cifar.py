"""memgen.data.cifar: CIFAR-10 read through torchvision from a local root, class pools, clean errors.

The archive is a small one written in the real format by tests/cifar_fixture.py; its md5 sums cannot match the
real ones, so each test swaps torchvision's md5 table for the fixture's (or skips the check) via monkeypatch.
"""

import numpy as np
import pytest

import cifar_fixture
from memgen.data import cifar
from memgen.errors import MemgenError

PER_CLASS = 20 + 4


archive, checked_root = cifar_fixture.archive_fixtures(20, 4)


@pytest.fixture
def loaded(checked_root):
    return cifar.load_cifar10(checked_root)


def _one_line_error(excinfo):
    message = str(excinfo.value)
    assert "\n" not in message
    return message


def test_fixture_archive_loads(archive, loaded):
    _, (images, labels, split) = archive
    got_images, got_labels, got_split = loaded
    assert got_images.dtype == np.uint8 and got_images.shape == (240, 32, 32, 3)
    assert got_labels.dtype == np.int64 and got_split.dtype == np.int8
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    np.testing.assert_array_equal(got_split, split)
    assert (got_split[:200] == 0).all() and (got_split[200:] == 1).all()


def test_full_bypass_loads_too(archive, monkeypatch):
    root, (images, _, _) = archive
    cifar_fixture.bypass_integrity(monkeypatch)
    np.testing.assert_array_equal(cifar.load_cifar10(root)[0], images)


def test_production_md5_check_rejects_the_fixture(archive):
    root, _ = archive  # no monkeypatch: torchvision compares against the real archive's md5 sums
    with pytest.raises(MemgenError) as excinfo:
        cifar.load_cifar10(root)
    message = _one_line_error(excinfo)
    assert str(root) in message and "corrupted" in message and "data_batch_1" in message


def test_missing_root_is_one_line_naming_it(tmp_path):
    root = tmp_path / "nowhere"
    with pytest.raises(MemgenError) as excinfo:
        cifar.load_cifar10(root)
    message = _one_line_error(excinfo)
    assert f"data.cifar_root={root}" in message and "cifar-10-python.tar.gz" in message
    assert "cifar_download" in message
    with pytest.raises(MemgenError, match="cifar_root is not set"):
        cifar.load_cifar10(None)


@pytest.fixture
def truncated(tmp_path):
    root = tmp_path / "broken"
    cifar_fixture.write_cifar_archive(root, train_per_class=3, test_per_class=1)
    return root, root / "cifar-10-batches-py" / "data_batch_3"


def test_truncated_batch_fails_md5(truncated, monkeypatch):
    root, batch = truncated
    cifar_fixture.use_fixture_checksums(monkeypatch, root)  # sums of the intact files
    batch.write_bytes(batch.read_bytes()[:500])
    with pytest.raises(MemgenError) as excinfo:
        cifar.load_cifar10(root)
    message = _one_line_error(excinfo)
    assert str(root) in message and "md5 check failed: data_batch_3" in message


def test_truncated_batch_fails_unpickling(truncated, monkeypatch):
    root, batch = truncated
    cifar_fixture.bypass_integrity(monkeypatch)
    batch.write_bytes(batch.read_bytes()[:500])
    with pytest.raises(MemgenError) as excinfo:
        cifar.load_cifar10(root)
    message = _one_line_error(excinfo)
    assert str(root) in message and "not in the CIFAR-10 python format" in message


def test_wrong_label_names_are_refused(truncated, monkeypatch):
    root, _ = truncated
    meta = root / "cifar-10-batches-py" / "batches.meta"
    cifar_fixture._dump(meta, {cifar_fixture.Py2Str(b"label_names"): [cifar_fixture.Py2Str(b"x")] * 10})
    cifar_fixture.bypass_integrity(monkeypatch)
    with pytest.raises(MemgenError, match="label_names"):
        cifar.load_cifar10(root)


def test_class_names():
    assert cifar.CIFAR10_CLASSES[1] == "automobile" and cifar.cifar_class_index("truck") == 9
    with pytest.raises(MemgenError) as excinfo:
        cifar.cifar_class_index("car")
    assert "'car'" in str(excinfo.value) and "automobile" in str(excinfo.value)


def test_class_pools_disjoint_and_deterministic(loaded):
    images, labels, _ = loaded
    asked = {"extra": 6, "hybrid_source": 5, "heldout_eval": 4}
    pools = cifar.cifar_class_pools(images, labels, "automobile", 8, asked, seed=3)
    assert list(pools) == ["base", "extra", "hybrid_source", "heldout_eval"]
    assert {k: len(v) for k, v in pools.items()} == {"base": 8, **asked}
    every = np.concatenate(list(pools.values()))
    assert len(np.unique(every)) == len(every) and (labels[every] == 1).all()
    again = cifar.cifar_class_pools(images, labels, "automobile", 8, asked, seed=3)
    assert all(np.array_equal(pools[k], again[k]) for k in pools)
    other = cifar.cifar_class_pools(images, labels, "automobile", 8, asked, seed=4)
    assert not np.array_equal(pools["base"], other["base"])
    # base does not depend on the other pools; heldout_eval comes from the end whatever the front pools are
    alone = cifar.cifar_class_pools(images, labels, "automobile", 8, {}, seed=3)
    np.testing.assert_array_equal(alone["base"], pools["base"])
    evaluation = cifar.cifar_class_pools(images, labels, "automobile", 0, {"heldout_eval": 4}, seed=3)
    np.testing.assert_array_equal(evaluation["heldout_eval"], pools["heldout_eval"])
    bigger = cifar.cifar_class_pools(images, labels, "automobile", 8, {"extra": 10}, seed=3)
    np.testing.assert_array_equal(bigger["extra"][:6], pools["extra"])  # prefix-stable in the pool size


def test_class_pools_over_asking(loaded):
    images, labels, _ = loaded
    cifar.cifar_class_pools(images, labels, "cat", 20, {"extra": PER_CLASS - 20}, seed=0)  # exactly all
    with pytest.raises(MemgenError) as excinfo:
        cifar.cifar_class_pools(images, labels, "cat", 20, {"extra": 4, "heldout_eval": 1}, seed=0)
    message = _one_line_error(excinfo)
    assert message == f"cifar:cat: asked for 20 base + 4 extra + 1 heldout_eval = 25 images, the class has {PER_CLASS}"
    with pytest.raises(MemgenError, match="valid names"):
        cifar.cifar_class_pools(images, labels, "kitten", 1, {}, seed=0)
    with pytest.raises(MemgenError, match="used twice"):
        cifar.cifar_class_pools(images, labels, "cat", 1, {"base": 1}, seed=0)
    with pytest.raises(MemgenError, match="pool extra"):
        cifar.cifar_class_pools(images, labels, "cat", 1, {"extra": -1}, seed=0)


def test_cifar_all_draws_from_the_training_split(tmp_path, monkeypatch):
    from cifar_fixture import use_fixture_checksums, write_cifar_archive

    from memgen.data.materialize import build_training_set

    root = tmp_path / "cifar"
    write_cifar_archive(root)
    use_fixture_checksums(monkeypatch, root)
    images, labels, card = build_training_set("cifar:all", 12, 0, 32, cifar_root=root)
    assert images.shape == (12, 32, 32, 3) and card["source"]["class"] == "all (training split)"
    again, _, _ = build_training_set("cifar:all", 12, 0, 32, cifar_root=root)
    assert (again == images).all()
