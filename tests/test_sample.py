"""memgen.sample on the default config's UNet (16x16, width 16): the numeric path of a sampling job does not
depend on its batch size, and what the job drew is described (the card of `memgen sample --card`)."""

import numpy as np
import pytest

from memgen import io, precision
from memgen.config import load_config
from memgen.data import build_training_set
from memgen.precision import CPU_BF16_MIN_FLOPS, unet_flops
from memgen.sample import PATH_BATCH, sample_described
from memgen.train import train


@pytest.fixture(scope="module")
def demo_ckpt(tmp_path_factory):
    """A default-config (demo) checkpoint after one step: its network calls cost what the demo's do."""
    images, labels, _ = build_training_set("mondrian", 4, 0, 16)
    out = tmp_path_factory.mktemp("ckpt") / "m.pt"
    return train(load_config({"train": {"steps": 1, "batch_size": 4}}), images, labels, width=16, seed=0, out=out,
                 loss_log=out.with_suffix(".pq"), device="cpu", log=lambda m: None)


def test_the_numeric_path_does_not_depend_on_the_batch_size(demo_ckpt, monkeypatch):
    """On a CPU that computes bf16 natively, "auto" picks bf16 by the FLOPs of a network call. Priced at the job's
    own batch, a width-16 job ran fp32 at batch 8 and bf16 at 64 (and its samples differed); priced at PATH_BATCH
    both run the same path. The CPU is made to say it has native bf16, so the rule is tested on every machine."""
    monkeypatch.setattr(precision, "device_supports_bf16", lambda device: True)
    unet = load_config(None).unet(16, num_classes=0)
    assert unet_flops(unet, 8, backward=False) < CPU_BF16_MIN_FLOPS <= unet_flops(unet, 64, backward=False)
    about = {batch: sample_described(demo_ckpt, num_samples=64, steps=2, seed=1, batch_size=batch, device="cpu")[2]
             for batch in (8, 64)}
    assert about[8]["path"] == about[64]["path"] == "bf16+channels_last"
    assert (about[8]["batch_size"], about[64]["batch_size"]) == (8, 64)
    assert unet_flops(unet, PATH_BATCH, backward=False) >= CPU_BF16_MIN_FLOPS


def test_the_card_says_what_was_drawn_from_which_checkpoint(demo_ckpt):
    images, labels, about = sample_described(demo_ckpt, num_samples=3, steps=2, seed=5, batch_size=2, device="cpu",
                                             precision="fp32")
    assert (about["checkpoint_step"], about["checkpoint_seed"], about["width"], about["image_size"]) == (1, 0, 16, 16)
    assert about["data_sha256"] == demo_ckpt["data_sha256"] and about["weights"] == "ema"
    assert (about["seed"], about["steps"], about["diffusion_steps"], about["num_samples_per_class"]) == (5, 2, 1000, 3)
    assert (about["num_samples"], about["sampled_classes"], about["path"], about["compiled"]) == (3, [0], "fp32", False)
    assert about["images_sha256"] == io.sha256_array(images) and about["labels_sha256"] == io.sha256_array(labels)
    again, _, _ = sample_described(demo_ckpt, num_samples=3, steps=2, seed=6, batch_size=2, device="cpu",
                                   precision="fp32")
    assert not np.array_equal(images, again)  # the seed is what the card says drew them
