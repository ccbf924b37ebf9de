"""Training-time joint guidance: perturbed ground truth replaces the head's joints per image."""

import pytest
import torch

from c2f_sdf_ros.model.c2f_sdf import C2FSDF, ModelInput
from c2f_sdf_ros.model.config import ModelConfig
from c2f_sdf_ros.train.guidance import GuidanceConfig, perturbed_guidance

SMALL = dict(image_size=64, base_channels=8, feature_channels=16, global_channels=16,
             decoder_width=32, num_points=64, neighbours=4, heatmap_size=8, center_bins=8)


def _inputs(batch=3):
    g = torch.Generator().manual_seed(1)
    K = torch.tensor([[80.0, 0.0, 31.5], [0.0, 80.0, 31.5], [0.0, 0.0, 1.0]])
    return ModelInput(rgb=torch.randn(batch, 3, 64, 64, generator=g),
                      depth=torch.rand(batch, 1, 64, 64, generator=g) * 2 - 1,
                      crop_K=K.expand(batch, 3, 3).clone(),
                      root=torch.tensor([0.0, 0.0, 0.5]).expand(batch, 3).clone(),
                      points=torch.rand(batch, 64, 3, generator=g) * 2 - 1,
                      points_valid=torch.ones(batch, 64, dtype=torch.bool))


def test_noise_has_the_configured_spread_in_normalised_units():
    joints = torch.zeros(4000, 21, 3)
    config = GuidanceConfig(probability=1.0, joint_sigma=0.01, offset_sigma=0.0)
    guidance, use = perturbed_guidance(joints, config, 6.2, torch.Generator().manual_seed(0))
    assert use.all()
    # 1 cm per axis is 0.031 normalised at DexYCB's scale 6.2.
    assert guidance.std().item() == pytest.approx(0.031, rel=0.02)
    offset_only = GuidanceConfig(probability=0.0, joint_sigma=0.0, offset_sigma=0.02)
    guidance, use = perturbed_guidance(joints[:50], offset_only, 6.2,
                                       torch.Generator().manual_seed(0))
    assert not use.any()
    # A common offset moves every joint of a hand alike.
    assert torch.allclose(guidance - guidance[:, :1], torch.zeros_like(guidance), atol=1e-7)
    assert guidance[:, 0].std().item() == pytest.approx(0.062, rel=0.3)


def test_same_seed_same_noise_and_bad_input_is_refused():
    joints = torch.randn(2, 21, 3)
    config = GuidanceConfig(probability=0.5)
    a = perturbed_guidance(joints, config, 6.2, torch.Generator().manual_seed(3))
    b = perturbed_guidance(joints, config, 6.2, torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(ValueError, match='21, 3'):
        perturbed_guidance(torch.zeros(2, 20, 3), config, 6.2, torch.Generator())
    with pytest.raises(ValueError, match='norm_scale'):
        perturbed_guidance(joints, config, 0.0, torch.Generator())
    with pytest.raises(ValueError, match='probability'):
        GuidanceConfig(probability=1.5)


def test_guided_images_use_the_given_joints_and_the_output_keeps_the_heads():
    torch.manual_seed(0)
    model = C2FSDF(ModelConfig(variant='full', **SMALL)).eval()
    inputs, queries = _inputs(), torch.rand(3, 20, 3) * 2 - 1
    given = torch.randn(3, 21, 3) * 0.3
    use = torch.tensor([True, False, True])
    with torch.no_grad():
        mixed = model(inputs, queries, given, use)
        own = model(inputs, queries)
        forced = model(inputs, queries, given)
    # The joints output is the head's whatever guided the decoders (the joints loss).
    assert torch.equal(mixed['joints'], own['joints'])
    for key in ('fine_hand', 'fine_object'):
        torch.testing.assert_close(mixed[key][use], forced[key][use])
        torch.testing.assert_close(mixed[key][~use], own[key][~use])
        assert not torch.allclose(forced[key][1], own[key][1])
    with pytest.raises(ValueError, match='use_joints'):
        model(inputs, queries, given, torch.tensor([True, False]))
