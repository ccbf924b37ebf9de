"""Freezing a loaded model for inference keeps its predictions and drops the reparametrisation."""

import pytest
import torch
from torch.nn.utils import parametrize

from c2f_sdf_ros.model.c2f_sdf import C2FSDF
from c2f_sdf_ros.model.config import ModelConfig
from c2f_sdf_ros.model.inference import freeze_for_inference

SMALL = dict(image_size=64, base_channels=8, feature_channels=16, global_channels=16,
             decoder_width=32, num_points=64, neighbours=4, heatmap_size=8, center_bins=8)


def test_frozen_model_predicts_the_same_signed_distances():
    torch.manual_seed(0)
    model = C2FSDF(ModelConfig(variant='pixel_rgbd', **SMALL)).eval()
    # Give the weight-norm gains values other than their initial |v|, so a frozen weight
    # that forgot g (or v's norm) would show.
    with torch.no_grad():
        for module in model.modules():
            if parametrize.is_parametrized(module):
                module.parametrizations.weight.original0.mul_(1.7)
    rgb, depth = torch.randn(1, 3, 64, 64), torch.rand(1, 1, 64, 64)
    features = torch.randn(1, 50, model.fine_hand.layers[0].in_features)
    before = model.fine_hand(features)
    frozen = freeze_for_inference(model)
    assert frozen is model and not model.training
    assert not any(parametrize.is_parametrized(m) for m in model.modules())
    torch.testing.assert_close(model.fine_hand(features), before, rtol=1e-5, atol=1e-6)
    assert model.encoder(rgb, depth)[0].shape[0] == 1


def test_freeze_rejects_what_is_not_a_module():
    with pytest.raises(ValueError, match='torch.nn.Module'):
        freeze_for_inference({'weight': torch.zeros(2)})
