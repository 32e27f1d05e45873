"""Sampling the empirical-optimal denoiser: ~100% replicates, batch-size independent, memgen.sample's semantics."""

import numpy as np
import pytest

from memgen.config import DiffusionConfig
from memgen.data.synthetic import gaussian_mixture, mondrian
from memgen.errors import MemgenError
from memgen.sample import sample_optimal
from memgen.score import score_samples

THRESHOLD = 1 / 3  # Yoon et al.'s ratio criterion (the schema's score.threshold)

CFG = DiffusionConfig(steps=1000, schedule="cosine", loss="hybrid")  # the loss is ignored: the optimum is SIMPLE


@pytest.mark.parametrize("n", [8, 64])
def test_optimal_samples_are_replicates_and_batch_independent(n):
    train = mondrian(n, 0, 16)
    images, labels = sample_optimal(train, np.zeros(n, np.int64), CFG, num_samples=32, steps=50, seed=0)
    assert images.shape == (32, 16, 16, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and (labels == 0).all()
    scores = score_samples(images, train, threshold=THRESHOLD)
    assert scores.is_replicate.mean() >= 0.95
    again, _ = sample_optimal(train, np.zeros(n, np.int64), CFG, num_samples=32, steps=50, seed=0, batch_size=7)
    np.testing.assert_array_equal(images, again)
    other, _ = sample_optimal(train, np.zeros(n, np.int64), CFG, num_samples=32, steps=50, seed=1)
    assert not np.array_equal(images, other)


def test_config_dict_forms_agree():
    train = mondrian(8, 0, 16)
    zeros = np.zeros(8, np.int64)
    ref, _ = sample_optimal(train, zeros, CFG, num_samples=4, steps=10, seed=2)
    section = {"steps": 1000, "schedule": "cosine", "loss": "hybrid"}
    for cfg in (section, {"image_size": 16, "diffusion": section}):
        np.testing.assert_array_equal(ref, sample_optimal(train, zeros, cfg, num_samples=4, steps=10, seed=2)[0])


def test_conditional_restricts_to_the_class():
    train = np.concatenate([mondrian(6, 0, 16), gaussian_mixture(6, 0, 16)])
    labels = np.repeat(np.arange(2, dtype=np.int64), 6)
    images, out = sample_optimal(train, labels, CFG, num_samples=8, steps=20, seed=0, classes=[1])
    assert (out == 1).all() and len(out) == 8
    scores = score_samples(images, train, out, labels, threshold=THRESHOLD)
    assert (scores.nn1_label == 1).all() and scores.is_replicate.all()
    _, both = sample_optimal(train, labels, CFG, num_samples=3, steps=5, seed=0)  # all classes, in class order
    assert both.tolist() == [0, 0, 0, 1, 1, 1]
    _, uncond = sample_optimal(train, labels, CFG, num_samples=3, steps=5, seed=0, conditional=False)
    assert uncond.tolist() == [0, 0, 0]


def test_bad_input_names_the_culprit():
    train, zeros = mondrian(4, 0, 16), np.zeros(4, np.int64)
    with pytest.raises(MemgenError, match="steps: 2000"):
        sample_optimal(train, zeros, CFG, num_samples=2, steps=2000, seed=0)
    with pytest.raises(MemgenError, match="train_labels"):
        sample_optimal(train, zeros[:3], CFG, num_samples=2, steps=5, seed=0)
    with pytest.raises(MemgenError, match="train_images"):
        sample_optimal(train.astype(np.float32), zeros, CFG, num_samples=2, steps=5, seed=0)
    with pytest.raises(MemgenError, match="diffusion_config"):
        sample_optimal(train, zeros, {"steps": 10}, num_samples=2, steps=5, seed=0)
    with pytest.raises(MemgenError, match="--classes"):
        sample_optimal(train, np.array([0, 0, 1, 1]), CFG, num_samples=2, steps=5, seed=0, classes=[3])
