"""The C2F-SDF model: shapes, eq. (4), gradients, one training step, checkpoints."""

import json
import pathlib

import pytest
import torch

from c2f_sdf_ros.model import heads
from c2f_sdf_ros.model.c2f_sdf import C2FSDF, ModelInput
from c2f_sdf_ros.model.checkpoint import load_model, save_model
from c2f_sdf_ros.model.config import VARIANTS, ModelConfig
from c2f_sdf_ros.model.decoders import SdfDecoder
from c2f_sdf_ros.model.encoder import RgbdEncoder, RgbdFusion
from c2f_sdf_ros.model.heads import HeatmapHead, JointHead, ObjectCenterHead
from c2f_sdf_ros.model.pifu import (
    PointAlignedFeature,
    PointEmbedding,
    nearest_points,
    pifu_weights,
)

SAMPLE = pathlib.Path(__file__).resolve().parents[1] / 'data' / 'sample'
SMALL = dict(image_size=64, base_channels=8, feature_channels=16, global_channels=16,
             decoder_width=32, num_points=64, neighbours=4, heatmap_size=8, center_bins=8)


def small_config(variant='full', **overrides):
    return ModelConfig(variant=variant, **{**SMALL, **overrides})


def make_inputs(config, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    s, n = config.image_size, config.num_points
    K = torch.tensor([[80.0, 0.0, s / 2 - 0.5], [0.0, 80.0, s / 2 - 0.5], [0.0, 0.0, 1.0]])
    points = torch.rand(batch, n, 3, generator=g) * 2 - 1
    valid = torch.ones(batch, n, dtype=torch.bool)
    valid[:, -5:] = False
    return ModelInput(rgb=torch.randn(batch, 3, s, s, generator=g),
                      depth=torch.rand(batch, 1, s, s, generator=g) * 2 - 1,
                      crop_K=K.expand(batch, 3, 3).clone(),
                      root=torch.tensor([0.0, 0.0, 0.5]).expand(batch, 3).clone(),
                      points=points, points_valid=valid)


def test_module_shapes():
    encoder = RgbdEncoder(8, 16, 12)
    feature_map, global_feature = encoder(torch.randn(2, 3, 64, 64), torch.randn(2, 1, 64, 64))
    assert feature_map.shape == (2, 16, 16, 16) and global_feature.shape == (2, 12)
    rgb_only = RgbdEncoder(8, 16, 12, use_depth=False)
    assert rgb_only(torch.randn(1, 3, 64, 64))[0].shape == (1, 16, 16, 16)
    fused = RgbdFusion(4)(torch.randn(2, 4, 5, 5), torch.randn(2, 4, 5, 5))
    assert [t.shape for t in fused] == [(2, 4, 5, 5)] * 3
    assert SdfDecoder(10, 32, 5)(torch.randn(2, 7, 10)).shape == (2, 7)
    assert JointHead(12)(torch.randn(2, 12)).shape == (2, 21, 3)
    assert ObjectCenterHead(12, 8)(torch.randn(2, 12)).shape == (2, 3)
    assert HeatmapHead(12, 16)(torch.randn(2, 12)).shape == (2, 2, 16, 16, 16)
    embed = PointEmbedding(16)
    assert embed(torch.randn(2, 9, 16), torch.randn(2, 9, 3),
                 torch.randn(2, 9, 2)).shape == (2, 9, 16)
    pifu = PointAlignedFeature(4)
    out = pifu(torch.randn(2, 5, 3), torch.randn(2, 9, 3), torch.randn(2, 9, 16),
               torch.randn(2, 9), torch.ones(2, 9, dtype=torch.bool))
    assert out.shape == (2, 5, 16)


def test_full_resolution_feature_map_is_64x64():
    encoder = RgbdEncoder(8, 16, 16)
    assert encoder(torch.randn(1, 3, 256, 256), torch.randn(1, 1, 256, 256))[0].shape == \
        (1, 16, 64, 64)


@pytest.mark.parametrize('variant', VARIANTS)
def test_every_variant_outputs(variant):
    config = small_config(variant)
    model = C2FSDF(config).eval()
    out = model(make_inputs(config), torch.rand(2, 11, 3) * 2 - 1)
    for key in ('coarse_hand', 'coarse_object', 'fine_hand', 'fine_object'):
        assert out[key].shape == (2, 11) and torch.isfinite(out[key]).all()
    assert out['joints'].shape == (2, 21, 3)
    assert out['object_center'].shape == (2, 3)
    assert out['heatmap'].shape == (2, 2, 8, 8, 8)
    assert ('point_sdf' in out) == (variant == 'full')
    assert hasattr(model.encoder, 'depth') == (variant != 'pixel_rgb')


def test_eq4_weights_match_a_hand_computation():
    d = torch.tensor([[[0.1, 0.2, 0.4]]])
    D = torch.tensor([[[0.05, -0.1, 0.0]]])
    alpha = 2.0
    raw = [1 / (0.1 + 2 * 0.05), 1 / (0.2 + 2 * 0.1), 1 / (0.4 + 0.0)]  # [5, 2.5, 2.5]
    expected = torch.tensor(raw) / sum(raw)
    torch.testing.assert_close(pifu_weights(d, D, alpha, eps=0.0)[0, 0], expected)
    torch.testing.assert_close(pifu_weights(d, None, alpha, eps=0.0)[0, 0],
                               torch.tensor([1 / 0.1, 1 / 0.2, 1 / 0.4]) / 17.5)


def test_pifu_picks_the_nearest_valid_points_in_3d():
    pifu = PointAlignedFeature(neighbours=2, use_sdf=False)
    points = torch.tensor([[[0.0, 0.0, 0.0], [0.0, 0.0, 1.0], [5.0, 0.0, 0.0],
                            [0.0, 0.0, 0.1]]])
    features = torch.tensor([[[1.0], [2.0], [100.0], [3.0]]])
    valid = torch.tensor([[True, True, True, False]])   # the nearest (0.1) is masked
    out = pifu(torch.zeros(1, 1, 3), points, features, None, valid)
    # Neighbours at distances 0 (feature 1) and 1 (feature 2): weights ~1/eps and 1.
    assert 1.0 <= out.item() < 1.01


def test_pifu_aggregation_equals_the_explicit_weighted_sum():
    g = torch.Generator().manual_seed(3)
    pifu = PointAlignedFeature(neighbours=5, use_sdf=True)
    with torch.no_grad():
        pifu.raw_alpha.fill_(0.7)
    queries, points = torch.rand(2, 40, 3, generator=g), torch.rand(2, 30, 3, generator=g)
    features, sdf = torch.randn(2, 30, 8, generator=g), torch.randn(2, 30, generator=g)
    valid = torch.rand(2, 30, generator=g) > 0.2
    out = pifu(queries, points, features, sdf, valid)
    # Explicit: cdist, the 5 nearest valid points, eq. (4) weights, weighted sum.
    distance = torch.cdist(queries, points).masked_fill(~valid[:, None], float('inf'))
    nearest, index = distance.topk(5, dim=-1, largest=False)
    for b in range(2):
        weights = pifu_weights(nearest[b], sdf[b][index[b]], pifu.alpha)
        expected = (weights[..., None] * features[b][index[b]]).sum(1)
        torch.testing.assert_close(out[b], expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('valid_count', [30, 3, 0])
def test_kdtree_neighbours_equal_the_ranked_matrix(valid_count):
    # Inference on the CPU takes the k-d tree; training (gradients) ranks the matrix.
    g = torch.Generator().manual_seed(4)
    queries, points = torch.rand(2, 50, 3, generator=g), torch.rand(2, 40, 3, generator=g)
    valid = torch.zeros(2, 40, dtype=torch.bool)
    valid[:, torch.randperm(40, generator=g)[:valid_count]] = True
    with torch.no_grad():
        tree_distance, tree_index = nearest_points(queries, points, valid, 5)
    queries.requires_grad_(True)
    matrix_distance, matrix_index = nearest_points(queries, points, valid, 5)
    assert tree_index.dtype == torch.int64 and tree_distance.dtype == torch.float32
    torch.testing.assert_close(tree_distance, matrix_distance.detach(), rtol=1e-4,
                               atol=1e-4)
    finite = torch.isfinite(matrix_distance.detach())
    assert torch.equal(tree_index[finite], matrix_index[finite])
    assert int(finite.sum(-1).max()) == min(valid_count, 5)


def test_query_of_one_branch_equals_that_branch_of_both():
    config = small_config()
    model = C2FSDF(config).eval()
    queries = torch.rand(2, 50, 3) * 2 - 1
    with torch.no_grad():
        encoding = model.encode(make_inputs(config))
        both = model.query(encoding, queries, coarse=False)
        hand = model.query(encoding, queries, coarse=False, branches=('hand',))
        obj = model.query(encoding, queries, coarse=False, branches=('object',))
    assert set(hand) == {'fine_hand'} and set(obj) == {'fine_object'}
    torch.testing.assert_close(hand['fine_hand'], both['fine_hand'])
    torch.testing.assert_close(obj['fine_object'], both['fine_object'])
    with pytest.raises(ValueError, match='branches'):
        model.query(encoding, queries, branches=('foot',))


@pytest.mark.parametrize('variant', VARIANTS)
def test_gradient_reaches_every_parameter(variant):
    # Every parameter must get a gradient: DistributedDataParallel requires it.
    config = small_config(variant, semantic_threshold=10.0)
    model = C2FSDF(config).train()
    out = model(make_inputs(config), torch.rand(2, 11, 3) * 2 - 1)
    loss = sum(v.float().pow(2).mean() for v in out.values())
    loss.backward()
    missing = [name for name, p in model.named_parameters()
               if p.grad is None or not torch.any(p.grad != 0)]
    assert missing == []


def test_safetensors_round_trip_is_bit_exact(tmp_path):
    config = small_config('full')
    torch.manual_seed(3)
    model = C2FSDF(config).eval()
    inputs, queries = make_inputs(config), torch.rand(2, 11, 3) * 2 - 1
    with torch.no_grad():
        before = model(inputs, queries)
    save_model(tmp_path / 'model', model, info={'command': 'test'})
    loaded, info = load_model(tmp_path / 'model.safetensors')
    assert info == {'command': 'test'}
    with torch.no_grad():
        after = loaded.eval()(inputs, queries)
    for key in before:
        assert torch.equal(before[key], after[key]), key


def test_corrupt_missing_and_mismatched_checkpoints_fail_clearly(tmp_path):
    model = C2FSDF(small_config('full'))
    save_model(tmp_path / 'model', model)
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_model(tmp_path / 'nothing')
    weights = tmp_path / 'model.safetensors'
    data = weights.read_bytes()
    weights.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match='corrupt or not a safetensors file'):
        load_model(tmp_path / 'model')
    save_model(tmp_path / 'model', model)
    config = json.loads((tmp_path / 'model.json').read_text())
    config['model']['decoder_width'] = 64
    (tmp_path / 'model.json').write_text(json.dumps(config))
    with pytest.raises(ValueError, match='does not match its config.*wrong shape'):
        load_model(tmp_path / 'model')
    config['model']['no_such_key'] = 1
    (tmp_path / 'model.json').write_text(json.dumps(config))
    with pytest.raises(ValueError, match='not a c2f_sdf_ros model config'):
        load_model(tmp_path / 'model')


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match='variant must be one of'):
        ModelConfig(variant='rgb')
    with pytest.raises(ValueError, match='multiple of 32'):
        ModelConfig(image_size=100)


def test_one_training_step_lowers_the_loss_on_a_fixed_batch():
    from c2f_sdf_ros.train.losses import c2f_sdf_loss

    torch.manual_seed(0)
    config = small_config('full', decoder_dropout=0.0)
    model = C2FSDF(config).train()
    inputs, queries = make_inputs(config), torch.rand(2, 32, 3) * 2 - 1
    g = torch.Generator().manual_seed(1)
    targets = {'sdf_hand': torch.randn(2, 32, generator=g) * 0.05,
               'sdf_object': torch.randn(2, 32, generator=g) * 0.05,
               'joints': torch.randn(2, 21, 3, generator=g) * 0.3,
               'object_center': torch.randn(2, 3, generator=g) * 0.3,
               'heatmap': torch.rand(2, 2, 8, 8, 8, generator=g)}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(2):
        optimizer.zero_grad()
        loss, terms = c2f_sdf_loss(model(inputs, queries), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        assert set(terms) == {'coarse_hand', 'coarse_object', 'fine_hand', 'fine_object',
                              'joints', 'object_center', 'heatmap'}
    assert losses[1] < losses[0]


def test_clamped_l1_is_deepsdfs_within_the_clamp_and_keeps_a_gradient_beyond_it():
    from c2f_sdf_ros.train.losses import clamped_l1

    prediction = torch.tensor([0.5, 0.01, -0.2, 0.3], requires_grad=True)
    target = torch.tensor([0.06, 0.02, -0.01, -0.2])
    # clamp 0.05: beyond on the target's side: 0; inside: |0.01 - 0.02|; beyond, target
    # inside: |-0.2 + 0.01| (DeepSDF: |-0.05 + 0.01|, flat); opposite sides: |0.3 + 0.05|.
    loss = clamped_l1(prediction, target, 0.05)
    torch.testing.assert_close(loss, torch.tensor((0.01 + 0.19 + 0.35) / 4))
    loss.backward()
    assert prediction.grad[0] == 0.0      # further out than an outside target: no penalty
    assert (prediction.grad[1:] != 0).all()
    # Within the clamp it is DeepSDF's |clamp(p) - clamp(t)|.
    generator = torch.Generator().manual_seed(0)
    inside = (torch.rand(256, generator=generator) - 0.5) * 0.099
    targets = (torch.rand(256, generator=generator) - 0.5) * 0.4
    reference = (inside.clamp(-0.05, 0.05) - targets.clamp(-0.05, 0.05)).abs().mean()
    torch.testing.assert_close(clamped_l1(inside, targets, 0.05), reference)
    # A decoder stuck beyond +clamp everywhere is pulled back by the targets near the surface
    # (DeepSDF's loss gives it no gradient at all).
    stuck = torch.full((256,), 0.3, requires_grad=True)
    clamped_l1(stuck, targets, 0.05).backward()
    assert stuck.grad[targets.abs() < 0.05].gt(0).all()


def test_shipped_weights_load_and_record_how_they_were_made():
    from c2f_sdf_ros.model.checkpoint import SHIPPED_WEIGHTS
    assert SHIPPED_WEIGHTS.with_suffix('.safetensors').stat().st_size < 50e6
    model, info = load_model(SHIPPED_WEIGHTS)
    assert model.config.variant == 'full'
    assert info['command'].startswith('c2f-sdf train') and info['train_seconds'] > 0
    assert info['data']['seed'] == 2026 and 'c2f-sdf synth' in info['data']['train']
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_soft_argmax_finds_the_peak_of_a_heatmap_within_half_a_pixel():
    # Gaussian bumps at known sub-pixel positions, one per joint, on a 32 x 24 map.
    rows, columns = torch.meshgrid(torch.arange(24.0), torch.arange(32.0), indexing='ij')
    peaks = torch.tensor([[5.3, 7.8], [20.0, 12.0], [27.6, 3.2], [11.45, 19.9]])
    logits = torch.stack([-((columns - u) ** 2 + (rows - v) ** 2) / (2 * 1.5 ** 2)
                          for u, v in peaks])[None] * 4.0
    uv, probabilities = heads.SoftArgmax2d()(logits.to(torch.bfloat16))
    assert uv.shape == (1, 4, 2) and probabilities.shape == (1, 4, 24, 32)
    assert uv.dtype == torch.float32
    assert (uv[0] - peaks).abs().max() < 0.5
    torch.testing.assert_close(probabilities.sum((2, 3)), torch.ones(1, 4))
    # A flat map: the centre of the map.
    torch.testing.assert_close(heads.SoftArgmax2d()(torch.zeros(1, 1, 24, 32))[0][0, 0],
                               torch.tensor([15.5, 11.5]))


def test_dense_joints_back_project_to_the_3d_joints_they_were_made_from():
    # 3D joints -> crop pixels -> heatmaps peaked there and depth maps holding their
    # relative depth -> the head's integration and back-projection -> the joints again.
    size, cells, scale = 64, 16, 6.2
    crop_K = torch.tensor([[[150.0, 0.0, 31.5], [0.0, 140.0, 30.0], [0.0, 0.0, 1.0]]])
    root = torch.tensor([[0.03, -0.02, 0.55]])
    g = torch.Generator().manual_seed(0)
    joints = torch.rand(1, heads.NUM_JOINTS, 3, generator=g) * 0.5 - 0.25     # normalised
    camera = joints * (2 / scale) + root[:, None]
    uv = torch.einsum('ij,bqj->bqi', crop_K[0, :2, :2], camera[..., :2] / camera[..., 2:]) \
        + crop_K[0, :2, 2]
    cell_uv = (uv + 0.5) / (size / cells) - 0.5                         # map pixels
    rows, columns = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing='ij')
    logits = -((columns - cell_uv[0, :, :1, None]) ** 2
               + (rows - cell_uv[0, :, 1:, None]) ** 2) * 2.0
    head = heads.DenseJointHead(8, size)
    maps = torch.cat([logits[None], joints[0, :, 2, None, None].expand(-1, 16, 16)[None]], 1)
    head.out = torch.nn.Identity()       # feed the maps in directly
    head.block = torch.nn.Identity()
    uvz = head(maps)
    assert uvz.shape == (1, heads.NUM_JOINTS, 3)
    stride_px = size / cells
    assert (uvz[0, :, :2] - uv[0]).abs().max() < 0.5 * stride_px
    torch.testing.assert_close(uvz[..., 2], joints[..., 2])
    back = heads.JointBackProjection(scale)(torch.cat([uv, joints[..., 2:]], -1), crop_K, root)
    torch.testing.assert_close(back, joints, atol=1e-5, rtol=0)


def test_the_dense_joint_head_trains_and_round_trips(tmp_path):
    config = small_config('full', joint_head='dense', decoder_dropout=0.0,
                          semantic_threshold=10.0)
    torch.manual_seed(0)
    model = C2FSDF(config).train()
    assert isinstance(model.joint_head, heads.DenseJointHead)
    inputs = make_inputs(config)
    out = model(inputs, torch.rand(2, 11, 3) * 2 - 1)
    assert out['joints'].shape == (2, 21, 3) and torch.isfinite(out['joints']).all()
    # Untrained: near-flat heatmaps put every joint near the root's projection and depth.
    assert out['joints'].abs().max() < 0.2
    loss = sum(v.float().pow(2).mean() for v in out.values()) + out['joints'].sum()
    loss.backward()
    missing = [name for name, p in model.named_parameters()
               if p.grad is None or not torch.any(p.grad != 0)]
    assert missing == []
    save_model(tmp_path / 'dense', model.eval())
    loaded, _ = load_model(tmp_path / 'dense')
    assert loaded.config == config and loaded.config.joint_head == 'dense'
    queries = torch.rand(2, 7, 3) * 2 - 1
    with torch.no_grad():
        before, after = model(inputs, queries), loaded.eval()(inputs, queries)
    for key in before:
        assert torch.equal(before[key], after[key]), key
    with pytest.raises(ValueError, match='joint_head'):
        ModelConfig(joint_head='cnn')
    with pytest.raises(ValueError, match='decoder_dropout'):
        ModelConfig(decoder_dropout=1.0)


def test_shipped_weights_give_the_outputs_they_always_gave():
    # Fingerprint of the shipped (v2) model on the bundled frame, fed as it is (no
    # mirroring): code changes must not move it; new weights record a new one.
    import numpy as np

    from c2f_sdf_ros.data.synth_folder import SynthFolder
    from c2f_sdf_ros.model.checkpoint import SHIPPED_WEIGHTS
    from c2f_sdf_ros.model.inputs import input_config, make_sample, model_input

    model, info = load_model(SHIPPED_WEIGHTS)
    assert model.config.joint_head == 'mlp' and model.config.decoder_dropout == 0.0
    crop = input_config(model.config, info)
    assert crop.canonical_side == 'right' and crop.crop_half_extent == 0.16
    assert info['train']['guidance']['probability'] == 0.5
    frame = SynthFolder(SAMPLE).read(0)
    sample = make_sample(frame.color, frame.depth, frame.camera, frame.root, crop,
                         np.random.default_rng(0))
    queries = torch.from_numpy(
        np.random.default_rng(1).uniform(-0.5, 0.5, (1, 8, 3)).astype(np.float32))
    with torch.no_grad():
        out = model.eval()(model_input(sample), queries)
    expected = {
        'fine_hand': [0.838157, 0.440002, 0.436812, 0.843734, 0.771186, 0.117317, 0.232322,
                      0.627134],
        'fine_object': [0.053285, 0.644383, 0.587211, 0.865533, 0.473226, 0.686681,
                        0.452312, 0.397468],
        'coarse_hand': [0.484312, 0.284612, 0.148781, 0.248449, 0.245672, 0.027825,
                        0.139756, 0.255289],
        'coarse_object': [0.019162, 0.274807, 0.269684, 0.24883, 0.002882, 0.25164,
                          0.431194, 0.432249],
    }
    for key, values in expected.items():
        torch.testing.assert_close(out[key][0], torch.tensor(values), atol=2e-4, rtol=0)
    torch.testing.assert_close(out['joints'][0, [0, 8]], torch.tensor(
        [[-0.007756, -0.023328, -0.022599], [-0.088928, -0.160763, -0.264705]]), atol=2e-4,
        rtol=0)
    torch.testing.assert_close(out['object_center'][0],
                               torch.tensor([-0.051658, 0.045482, -0.278745]), atol=2e-4,
                               rtol=0)
    assert float(out['heatmap'].sum()) == pytest.approx(246.436, rel=1e-4)
