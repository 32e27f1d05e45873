"""The Mondrian-vs-GM classifier of Yoon et al. Appendix C.1: accurate on fresh images, seeded, self-describing."""

import numpy as np
import pytest
import torch

from memgen.classifier import ClassifierConfig, build, classify, train_classifier
from memgen.data.synthetic import gaussian_mixture, mondrian
from memgen.errors import MemgenError

S = 16


@pytest.fixture(scope="module")
def trained():
    return train_classifier(mondrian(600, 0, S), gaussian_mixture(600, 0, S), seed=0, steps=120)


def test_accurate_on_fresh_images(trained):
    state, metrics = trained
    assert metrics["val_accuracy"] > 0.99 and metrics["n_val_a"] == 120 and metrics["n_train_b"] == 480
    # fresh draws from other seeds (the GM means differ too)
    p_mo, p_gm = classify(state, mondrian(500, 7, S)), classify(state, gaussian_mixture(500, 7, S))
    assert p_mo.dtype == np.float64 and p_mo.shape == (500,)
    assert ((p_mo > 0.5).mean() + (p_gm < 0.5).mean()) / 2 > 0.99


def test_deterministic_given_the_seed(trained):
    state, _ = trained
    again, _ = train_classifier(mondrian(600, 0, S), gaussian_mixture(600, 0, S), seed=0, steps=120)
    assert state["model"].keys() == again["model"].keys()
    assert all(torch.equal(state["model"][k], again["model"][k]) for k in state["model"])
    other, _ = train_classifier(mondrian(600, 0, S), gaussian_mixture(600, 0, S), seed=1, steps=5)
    assert not torch.equal(state["model"]["head.weight"], other["model"]["head.weight"])


def test_state_rebuilds_from_itself(trained):
    state, _ = trained
    cfg = ClassifierConfig(**state["config"])
    assert cfg.image_size == S and cfg.class_names == ("mondrian", "gm")
    net = build(state)
    assert not net.training



def test_an_images_probability_does_not_depend_on_its_batch(trained):
    """A sample's probability is a function of the image alone, bit for bit: the head is a per-row reduction. As a
    Linear layer (a GEMM with one row per image) it gave 1 ulp another value at batch 1 than at batch 1024 on this
    project's Intel CPU: the kernel depends on the row count."""
    state, _ = trained
    images = np.concatenate([mondrian(150, 9, S), gaussian_mixture(150, 9, S)])
    whole = classify(state, images)
    for batch_size in (1, 7, 64):
        np.testing.assert_array_equal(classify(state, images, batch_size=batch_size), whole)


def test_bad_input_names_the_culprit(trained):
    state, _ = trained
    with pytest.raises(MemgenError, match="images: images are 32x32, expected 16x16"):
        classify(state, mondrian(2, 0, 32))
    with pytest.raises(MemgenError, match="images_b"):
        train_classifier(mondrian(4, 0, S), mondrian(4, 0, S).astype(np.float32), seed=0)
    with pytest.raises(MemgenError, match="format"):
        classify({"model": {}}, mondrian(2, 0, S))
    with pytest.raises(MemgenError, match="steps"):
        train_classifier(mondrian(4, 0, S), gaussian_mixture(4, 0, S), seed=0, steps=0)
