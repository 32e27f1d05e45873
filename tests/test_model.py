"""Tests of memgen.model: the improved-diffusion UNet (Nichol & Dhariwal 2021).

The parameter counts are the reference repository's, measured by instantiating its UNetModel
(anchors.md section 1.3); they pin the architecture exactly. Large nets are built on the meta device,
so counting 210M parameters allocates nothing.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from memgen.errors import MemgenError
from memgen.model import UNet, UNetConfig, count_parameters, timestep_embedding
from memgen.model.unet import AttentionBlock

# The tiny net of the forward tests: two levels (16, 8), attention at 8 and in the middle.
TINY = dict(image_size=16, width=16, norm_groups=8, channel_mult=(1, 2), attention_resolutions=(8,),
            num_res_blocks=1, dropout=0.0)


def _meta_count(**kwargs) -> int:
    with torch.device("meta"):
        return count_parameters(UNet(UNetConfig(**kwargs)))


def _tiny(seed: int = 0, **overrides) -> UNet:
    torch.manual_seed(seed)
    return UNet(UNetConfig(**{**TINY, **overrides}))


def _perturb(model: UNet, seed: int = 1, scale: float = 0.05) -> UNet:
    """Add noise to every parameter, so the zero-initialized residual branches (ResBlock out conv,
    attention proj_out, final conv) stop blocking signal and gradient."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=gen))
    return model


def _inputs(batch: int = 3, size: int = 16, seed: int = 2):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 3, size, size, generator=gen)
    t = torch.rand(batch, generator=gen) * 1000
    return x, t


# --- parameter counts (anchors.md 1.3, measured from openai/improved-diffusion) ---

@pytest.mark.parametrize("overrides, expected", [
    (dict(width=64), 13_161_926),
    (dict(width=128), 52_546_438),
    (dict(width=256), 209_983_238),
    (dict(width=64, num_classes=1000), 13_417_926),
    (dict(width=128, num_classes=1000), 53_058_438),
    (dict(width=256, num_classes=1000), 211_007_238),
    (dict(width=128, num_classes=10), 52_551_558),
    (dict(width=128, num_res_blocks=2), 39_629_062),
    (dict(width=128, learn_sigma=False), 52_542_979),
    (dict(width=32), 3_303_142),
])
def test_parameter_count_matches_reference(overrides, expected):
    assert _meta_count(image_size=32, **overrides) == expected


def test_parameter_split_matches_reference_width_128():
    with torch.device("meta"):
        model = UNet(UNetConfig(image_size=32, width=128))
    parts = {name: count_parameters(getattr(model, name))
             for name in ("time_embed", "input_blocks", "middle_block", "output_blocks", "out")}
    assert parts == dict(time_embed=328_704, input_blocks=16_926_848, middle_block=3_151_360,
                         output_blocks=32_132_352, out=7_174)


def test_demo_net_parameter_count():
    # Measured here (not a reference number): the smoke-test net with L_simple (3 output channels).
    count = _meta_count(image_size=16, width=32, channel_mult=(1, 2, 2), num_res_blocks=1,
                        attention_resolutions=(), norm_groups=8, learn_sigma=False)
    assert count == 1_142_083


def test_default_channel_mult_and_resolutions():
    cfg = UNetConfig(image_size=32, width=128)
    assert cfg.resolved_channel_mult == (1, 2, 2, 2)
    assert cfg.resolutions == (32, 16, 8, 4)
    assert cfg.level_channels == (128, 256, 256, 256)
    assert UNetConfig(image_size=64, width=64).resolved_channel_mult == (1, 2, 3, 4)
    assert UNetConfig(image_size=256, width=64).resolved_channel_mult == (1, 1, 2, 2, 4, 4)


def test_config_lists_become_tuples():
    cfg = UNetConfig(image_size=16, width=16, channel_mult=[1, 2], attention_resolutions=[8])
    assert cfg.channel_mult == (1, 2) and cfg.attention_resolutions == (8,)
    hash(cfg)


# --- validate() ---

@pytest.mark.parametrize("kwargs, fragment", [
    (dict(image_size=32, width=48), "model.width=48: channel count 48 is not divisible by norm_groups=32"),
    # 20 -> 10 -> 5 -> 2.5: three downsamplings need a multiple of 8.
    (dict(image_size=20, width=32, channel_mult=(1, 2, 2, 2), attention_resolutions=()),
     "model.image_size=20"),
    (dict(image_size=20, width=32), "model.image_size=20: no default channel_mult"),
    (dict(image_size=32, width=32, attention_resolutions=(12,)), "model.attention_resolutions="),
    (dict(image_size=32, width=32, num_heads=3), "model.num_heads=3"),
    (dict(image_size=32, width=32, dropout=1.0), "model.dropout=1.0"),
    (dict(image_size=32, width=0), "model.width=0"),
    (dict(image_size=32, width=32, num_res_blocks=0), "model.num_res_blocks=0"),
    (dict(image_size=32, width=32, num_classes=-1), "model.num_classes=-1"),
    (dict(image_size=32, width=32, channel_mult=(1, 0)), "model.channel_mult="),
])
def test_validate_rejects_bad_config(kwargs, fragment):
    with pytest.raises(MemgenError) as info:
        UNetConfig(**kwargs).validate()
    message = str(info.value)
    assert fragment in message and "\n" not in message


def test_validate_accepts_image_20_with_three_levels():
    cfg = UNetConfig(image_size=20, width=32, channel_mult=(1, 2, 2), attention_resolutions=(10,))
    assert cfg.validate() is cfg and cfg.resolutions == (20, 10, 5)


def test_unet_constructor_validates():
    with pytest.raises(MemgenError, match="norm_groups"):
        UNet(UNetConfig(image_size=32, width=48))


# --- forward ---

@pytest.mark.parametrize("learn_sigma, out_ch", [(True, 6), (False, 3)])
@pytest.mark.parametrize("num_classes", [0, 10])
def test_forward_shape(learn_sigma, out_ch, num_classes):
    model = _tiny(learn_sigma=learn_sigma, num_classes=num_classes)
    x, t = _inputs()
    y = torch.tensor([0, 3, 9]) if num_classes else None
    out = model(x, t, y)
    assert out.shape == (3, out_ch, 16, 16) and out.dtype == torch.float32


def test_output_is_exactly_zero_at_init():
    x, t = _inputs()
    assert torch.equal(_tiny()(x, t), torch.zeros(3, 6, 16, 16))


def test_labels_must_match_conditioning():
    x, t = _inputs()
    with pytest.raises(MemgenError, match="unconditional"):
        _tiny()(x, t, torch.zeros(3, dtype=torch.long))
    with pytest.raises(MemgenError, match="needs class labels"):
        _tiny(num_classes=10)(x, t)


def test_gradient_reaches_every_parameter():
    model = _perturb(_tiny(num_classes=10))
    x, t = _inputs()
    model(x, t, torch.tensor([1, 2, 3])).square().mean().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_eval_mode_is_deterministic():
    model = _perturb(_tiny(dropout=0.3)).eval()
    x, t = _inputs()
    with torch.no_grad():
        assert torch.equal(model(x, t), model(x, t))


def test_dropout_active_in_train_mode():
    model = _perturb(_tiny(dropout=0.3)).train()
    x, t = _inputs()
    assert not torch.equal(model(x, t), model(x, t))


def test_class_embedding_changes_output():
    model = _perturb(_tiny(num_classes=10)).eval()
    x, t = _inputs()
    with torch.no_grad():
        a = model(x, t, torch.tensor([0, 0, 0]))
        b = model(x, t, torch.tensor([5, 5, 5]))
    assert (a - b).abs().max() > 1e-4


def test_timestep_changes_output():
    model = _perturb(_tiny()).eval()
    x, t = _inputs()
    with torch.no_grad():
        assert (model(x, t) - model(x, t + 100)).abs().max() > 1e-4


def test_timestep_embedding_values():
    emb = timestep_embedding(torch.tensor([0.0, 10.0]), 8)
    assert emb.shape == (2, 8)
    assert torch.equal(emb[0], torch.tensor([1.0] * 4 + [0.0] * 4))  # cos(0) then sin(0)
    freqs = torch.tensor([10000 ** (-i / 4) for i in range(4)])
    assert torch.allclose(emb[1], torch.cat([torch.cos(10 * freqs), torch.sin(10 * freqs)]), atol=1e-6)
    assert timestep_embedding(torch.tensor([1.0]), 7).shape == (1, 7)  # odd dim zero-padded


def test_attention_matches_explicit_softmax():
    """SDPA path equals per-head softmax(q k^T / sqrt(d)) v with the reference's (q, k, v)-per-head layout."""
    torch.manual_seed(0)
    block = _perturb(AttentionBlock(channels=16, num_heads=4, norm_groups=8))
    x = torch.randn(2, 16, 4, 4)
    with torch.no_grad():
        qkv = block.qkv(block.norm(x.reshape(2, 16, 16))).reshape(2 * 4, 12, 16)
        q, k, v = qkv.split(4, dim=1)  # [B*heads, d, T]
        w = torch.softmax(torch.einsum("bct,bcs->bts", q, k) / math.sqrt(4), dim=-1)
        h = torch.einsum("bts,bcs->bct", w, v).reshape(2, 16, 16)
        expected = (x.reshape(2, 16, 16) + block.proj_out(h)).reshape(2, 16, 4, 4)
        assert torch.allclose(block(x), expected, atol=1e-5)


def test_bf16_autocast_runs():
    model = _perturb(_tiny()).eval()
    x, t = _inputs()
    with torch.no_grad():
        ref = model(x, t)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(x, t)
    assert torch.isfinite(low).all()
    assert F.mse_loss(low.float(), ref) < 0.05 * ref.square().mean()
