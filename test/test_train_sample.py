"""Preprocessing of a frame into model inputs and targets."""

import dataclasses
import inspect
import json
import pathlib

from hypothesis import given, settings
from hypothesis import strategies as st
import numpy as np
from PIL import Image
import pytest

from c2f_sdf_ros.data.frame_folder import FrameFolder
from c2f_sdf_ros.geometry.camera import CameraIntrinsics
from c2f_sdf_ros.model.config import ModelConfig
from c2f_sdf_ros.model.inputs import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    CropConfig,
    crop_box,
    input_config,
    make_sample,
    model_input,
    normalise,
    resample_crop,
    to_camera,
)
from c2f_sdf_ros.train.targets import NEAR_ROWS, heatmap_target, make_targets

SAMPLE = pathlib.Path(__file__).resolve().parents[1] / 'data' / 'sample'
CAMERA = CameraIntrinsics(640, 480, 615.0, 615.0, 319.5, 239.5)
# A real camera: fx != fy and the principal point off the image centre (a ZED 2i at 720p).
ZED = CameraIntrinsics(1280, 720, 691.37, 692.51, 652.3, 356.8)


def test_crop_intrinsics_project_like_the_frame():
    config = CropConfig(image_size=256)
    root = np.array([0.05, -0.02, 0.6])
    crop = crop_box(CAMERA, root, config)
    point = np.array([[0.08, 0.01, 0.65]])
    u, v = CAMERA.project(point)[0]
    cu, cv = crop.camera.project(point)[0]
    scale = config.image_size / crop.side
    np.testing.assert_allclose([cu, cv], [(u - crop.u0) * scale - 0.5,
                                          (v - crop.v0) * scale - 0.5])
    # The root projects to the crop centre, and +-crop_half_extent spans the crop.
    np.testing.assert_allclose(crop.camera.project(root[None])[0], [127.5, 127.5])
    edge = crop.camera.project((root + [config.crop_half_extent, 0, 0])[None])[0, 0]
    assert edge == pytest.approx(255.5)  # the right edge of the last pixel


def test_crop_pixels_match_the_frame_pixels():
    # Depth encodes the column index (1 mm per column around 1 m), so the crop of a 1:1
    # region must read back exactly the frame columns its intrinsics say.
    camera = CameraIntrinsics(64, 64, 100.0, 100.0, 31.5, 31.5)
    columns = np.tile(np.arange(64, dtype=np.float32), (64, 1))
    root = np.array([0.0, 0.0, 1.0])
    config = CropConfig(image_size=32, crop_half_extent=0.16, num_points=8)
    depth_image = 1.0 + (columns - 32.0) * 0.001
    sample = make_sample(np.zeros((64, 64, 3), np.uint8), depth_image, camera, root,
                         config, np.random.default_rng(0))
    crop = crop_box(camera, root, config)
    assert crop.side == pytest.approx(32.0)   # 1:1 scale
    read_columns = (sample['depth'][0] * config.depth_half_range) / 0.001 + 32.0
    # Crop pixel i is frame column u0 + i + 0.5 (= 16 + i here).
    expected = np.broadcast_to(crop.u0 + 0.5 + np.arange(32), (32, 32))
    np.testing.assert_allclose(read_columns, expected, atol=1e-3)
    # And the crop intrinsics agree: frame column u projects to crop pixel u - 16.
    assert crop.camera.cx == pytest.approx(camera.cx - 16)


def test_sample_from_the_bundled_frame_is_consistent():
    folder = FrameFolder(SAMPLE)
    frame = folder.read(0)
    meta = json.loads((SAMPLE / 'meta' / f'{folder.ids[0]}.json').read_text())
    root = np.array(meta['hand_root'])
    config = CropConfig(image_size=128, num_points=256)
    sample = make_sample(frame.color, frame.depth, frame.camera, root, config,
                         np.random.default_rng(0))
    assert sample['rgb'].shape == (3, 128, 128) and sample['depth'].shape == (1, 128, 128)
    assert sample['points'].shape == (256, 3) and sample['points_valid'].all()
    assert np.abs(sample['depth']).max() <= 1.0
    # Depth points lie within the depth window around the root (normalised z).
    limit = config.depth_half_range * config.norm_scale / 2
    assert np.abs(sample['points'][:, 2]).max() <= limit + 1e-5
    # Lifted points project back into the crop.
    cam = sample['points'] * 2 / config.norm_scale + root
    uv = CameraIntrinsics.from_matrix(sample['crop_K'], 128, 128).project(cam)
    assert uv.min() > -1 and uv.max() < 129


def test_targets_normalise_distances_and_positions():
    rng = np.random.default_rng(0)
    samples = np.load(SAMPLE / 'sdf' / '000000.npy')
    meta = json.loads((SAMPLE / 'meta' / '000000.json').read_text())
    root = np.array(meta['hand_root'])
    center = np.array(meta['camera_T_object'])[:3, 3]
    targets = make_targets(samples, np.array(meta['joints_3d']), center, root, 6.2, 500, 16,
                           rng)
    assert targets['queries'].shape == (500, 3)
    np.testing.assert_allclose(targets['joints'][0], 0.0, atol=1e-6)   # root at origin
    assert targets['heatmap'].shape == (2, 16, 16, 16) and targets['heatmap'].max() == 1.0
    # Distances scale with positions: a surface point of the hand has sdf_hand ~ 0.
    np.testing.assert_allclose(normalise(root[None], root, 6.2), 0.0)
    assert np.abs(targets['sdf_hand']).max() <= np.abs(samples[:, 3]).max() * 3.1 + 1e-6


def test_heatmap_target_peaks_where_the_points_are():
    heatmap = heatmap_target(np.array([[0.0, 0.0, 0.0]] * 3 + [[0.9, 0.9, 0.9]]), 8, sigma=0.5)
    assert heatmap[4, 4, 4] == 1.0 and heatmap[7, 7, 7] > 0
    assert heatmap_target(np.zeros((0, 3)), 8).max() == 0.0


def test_root_behind_the_camera_is_rejected():
    with pytest.raises(ValueError, match='in front of the camera'):
        crop_box(CAMERA, np.array([0.0, 0.0, -0.1]), CropConfig())


def crop_pixel(frame_uv, crop, config):
    """Where a frame pixel coordinate lands in the crop (pixel centres at integers)."""
    scale = config.image_size / crop.side
    return (np.asarray(frame_uv) - [crop.u0, crop.v0]) * scale - 0.5


@pytest.mark.parametrize('jitter', [None, np.array([0.05, -0.08, 0.1])])
def test_crop_intrinsics_keep_fx_fy_and_the_principal_point_apart(jitter):
    config = CropConfig(image_size=256)
    root = np.array([-0.04, 0.03, 0.55])
    crop = crop_box(ZED, root, config, jitter)
    scale = config.image_size / crop.side
    assert crop.camera.fx == pytest.approx(ZED.fx * scale, rel=1e-12)
    assert crop.camera.fy == pytest.approx(ZED.fy * scale, rel=1e-12)
    assert crop.camera.cx == pytest.approx((ZED.cx - crop.u0) * scale - 0.5, rel=1e-12)
    assert crop.camera.cy == pytest.approx((ZED.cy - crop.v0) * scale - 0.5, rel=1e-12)
    # Points well off the root in x and y project where their frame pixels land.
    points = root + np.array([[0.1, 0.12, 0.05], [-0.12, -0.1, -0.05], [0.0, 0.15, 0.0]])
    np.testing.assert_allclose(crop.camera.project(points),
                               crop_pixel(ZED.project(points), crop, config), atol=1e-9)
    if jitter is None:
        np.testing.assert_allclose(crop.camera.project(root[None])[0], [127.5, 127.5])


def test_depth_points_of_an_anisotropic_camera_come_back_to_the_frame():
    # A depth image of a fronto-parallel plane at the root's depth: every lifted point,
    # taken back to the camera frame, projects (with the frame's fx != fy) onto the frame
    # pixel whose depth it read, within the half-pixel of nearest-neighbour resampling.
    root = np.array([0.05, -0.04, 0.6])
    depth = np.full((ZED.height, ZED.width), 0.6, np.float32)
    config = CropConfig(image_size=64, num_points=400)
    sample = make_sample(np.zeros((ZED.height, ZED.width, 3), np.uint8), depth, ZED, root,
                         config, np.random.default_rng(0))
    points = to_camera(sample['points'], root, config.norm_scale)
    np.testing.assert_allclose(points[:, 2], 0.6, atol=1e-6)
    crop = crop_box(ZED, root, config)
    uv_crop = crop_pixel(ZED.project(points), crop, config)
    # Lifted from crop pixel centres: integer crop coordinates.
    np.testing.assert_allclose(uv_crop, np.round(uv_crop), atol=1e-4)
    assert np.ptp(uv_crop, axis=0).min() > 40       # spread over the crop, both axes


finite = dict(allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(fx=st.floats(200.0, 2000.0), aspect=st.floats(0.8, 1.25),
       cx=st.floats(100.0, 1180.0), cy=st.floats(100.0, 620.0),
       root_xy=st.tuples(st.floats(-0.3, 0.3), st.floats(-0.3, 0.3)),
       root_z=st.floats(0.25, 2.0), offsets=st.lists(
           st.tuples(st.floats(-0.15, 0.15), st.floats(-0.15, 0.15), st.floats(-0.1, 0.1)),
           min_size=1, max_size=5))
def test_crop_projection_agrees_with_the_frame_for_any_pinhole(fx, aspect, cx, cy, root_xy,
                                                               root_z, offsets):
    camera = CameraIntrinsics(1280, 720, fx, fx * aspect, cx, cy)
    root = np.array([*root_xy, root_z])
    config = CropConfig(image_size=128)
    crop = crop_box(camera, root, config)
    points = root + np.array(offsets)
    points[:, 2] = np.maximum(points[:, 2], 0.05)
    expected = crop_pixel(camera.project(points), crop, config)
    np.testing.assert_allclose(crop.camera.project(points), expected, rtol=1e-9, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(points=st.lists(st.tuples(*[st.floats(-3.0, 3.0, **finite)] * 3), min_size=1,
                       max_size=20),
       root=st.tuples(st.floats(-1.0, 1.0), st.floats(-1.0, 1.0), st.floats(0.1, 3.0)),
       scale=st.floats(0.5, 20.0))
def test_to_camera_inverts_normalise(points, root, scale):
    points, root = np.array(points), np.array(root)
    normalised = normalise(points, root, scale)
    np.testing.assert_allclose(to_camera(normalised, root, scale), points, rtol=1e-12,
                               atol=1e-12)
    np.testing.assert_allclose(normalised, (points - root) * scale / 2, rtol=1e-12,
                               atol=1e-15)
    # The root is the origin of normalised space.
    np.testing.assert_array_equal(normalise(root[None], root, scale), 0.0)


def test_jitter_shifts_the_centre_by_a_fraction_of_the_side_and_scales_it():
    config = CropConfig(image_size=64)
    root = np.array([0.02, -0.01, 0.5])
    plain = crop_box(ZED, root, config)
    jittered = crop_box(ZED, root, config, np.array([0.1, -0.2, 0.25]))
    assert jittered.side == pytest.approx(plain.side * 1.25)
    centre = np.array([plain.u0, plain.v0]) + plain.side / 2 + np.array([0.1, -0.2]) * plain.side
    np.testing.assert_allclose([jittered.u0, jittered.v0], centre - jittered.side / 2)
    assert plain.side == pytest.approx(2 * config.crop_half_extent * ZED.fx / root[2])
    with pytest.raises(ValueError, match='in front of the camera'):
        crop_box(ZED, np.array([0.0, 0.0, 0.0]), config)


def test_resampling_reads_rows_and_columns_and_fills_outside_with_zero():
    # Each pixel holds its own (row, column): a 1:1 crop must read exactly the pixels its
    # box says, and zero where the box leaves the frame.
    camera = CameraIntrinsics(64, 48, 100.0, 100.0, 31.5, 23.5)
    rows, cols = np.indices((48, 64), dtype=np.float32)
    root = np.array([-0.15, -0.15, 1.0])                     # near the top left corner
    crop = crop_box(camera, root, CropConfig(image_size=32, crop_half_extent=0.16))
    assert crop.side == pytest.approx(32.0)
    read_rows = resample_crop(rows + 1, crop, 32, Image.Resampling.NEAREST)
    read_cols = resample_crop(cols + 1, crop, 32, Image.Resampling.NEAREST)
    i = np.arange(32)
    expected_rows = crop.v0 + 0.5 + i[:, None] + 0 * i + 1
    expected_cols = crop.u0 + 0.5 + i[None, :] + 0 * i[:, None] + 1
    inside = (expected_rows >= 1) & (expected_cols >= 1)
    assert 0 < inside.sum() < inside.size
    np.testing.assert_allclose(read_rows[inside], expected_rows[inside])
    np.testing.assert_allclose(read_cols[inside], expected_cols[inside])
    assert np.all(read_rows[~inside] == 0) and np.all(read_cols[~inside] == 0)


def test_colour_is_resampled_bilinearly():
    # Half-resolution crop of a two-colour checkerboard of single pixels: bilinear
    # resampling averages to grey, nearest would keep 0 or 255.
    camera = CameraIntrinsics(64, 64, 100.0, 100.0, 31.5, 31.5)
    checker = ((np.indices((64, 64)).sum(0) % 2) * 255).astype(np.uint8)
    color = np.repeat(checker[..., None], 3, axis=2)
    config = CropConfig(image_size=16, crop_half_extent=0.16, num_points=8)
    sample = make_sample(color, np.ones((64, 64), np.float32), camera,
                         np.array([0.0, 0.0, 1.0]), config, np.random.default_rng(0))
    grey = (sample['rgb'] * IMAGENET_STD[:, None, None] + IMAGENET_MEAN[:, None, None]) * 255
    assert np.all(np.abs(grey[:, 4:12, 4:12] - 127.5) < 40)


def test_sample_values_dtypes_and_point_validity():
    camera = CameraIntrinsics(64, 64, 100.0, 100.0, 31.5, 31.5)
    config = CropConfig(image_size=16, crop_half_extent=0.16, depth_half_range=0.25,
                        num_points=32)
    root = np.array([0.0, 0.0, 0.5])
    color = np.full((64, 64, 3), (200, 100, 50), np.uint8)
    # Depth exactly at the window's edge (0.5 + 0.25, dyadic) counts as near.
    depth = np.full((64, 64), 0.75, np.float32)
    sample = make_sample(color, depth, camera, root, config, np.random.default_rng(0))
    expected_rgb = (np.array([200, 100, 50], np.float32) / 255 - IMAGENET_MEAN) / IMAGENET_STD
    np.testing.assert_allclose(sample['rgb'][:, 5, 5], expected_rgb, rtol=1e-6)
    assert {k: v.dtype for k, v in sample.items()} == {
        'rgb': np.float32, 'depth': np.float32, 'crop_K': np.float32, 'root': np.float32,
        'points': np.float32, 'points_valid': bool}
    np.testing.assert_array_equal(sample['root'], root.astype(np.float32))
    np.testing.assert_allclose(sample['depth'], 1.0)
    assert sample['points_valid'].all()
    np.testing.assert_allclose(to_camera(sample['points'], root, config.norm_scale)[:, 2],
                               0.75, atol=1e-6)
    # 16 x 16 = 256 candidates for 32 points: drawn without repeats.
    assert len(np.unique(sample['points'], axis=0)) == 32


def test_few_depth_points_are_repeated_and_marked_invalid():
    camera = CameraIntrinsics(64, 64, 100.0, 100.0, 31.5, 31.5)
    config = CropConfig(image_size=16, crop_half_extent=0.16, num_points=32)
    root = np.array([0.0, 0.0, 0.2])        # closer than the window's half range (0.25)
    depth = np.zeros((64, 64), np.float32)  # holes (0) must never become points at z = 0
    depth[22:42, 22:42] = 0.2               # the crop reads a few of these (10 px apart)
    sample = make_sample(np.zeros((64, 64, 3), np.uint8), depth, camera, root, config,
                         np.random.default_rng(0))
    count = int(sample['points_valid'].sum())
    assert 0 < count < 32
    assert not sample['points_valid'][count:].any()
    points = to_camera(sample['points'], root, config.norm_scale)
    np.testing.assert_allclose(points[:, 2], 0.2, atol=1e-6)
    # No depth near the root at all: zero points, none valid.
    far = make_sample(np.zeros((64, 64, 3), np.uint8), np.full((64, 64), 3.0, np.float32),
                      camera, root, config, np.random.default_rng(0))
    assert far['points'].shape == (32, 3) and not far['points_valid'].any()
    np.testing.assert_array_equal(far['points'], 0.0)
    # Exactly as many candidates as points: each drawn once.
    exact = make_sample(np.zeros((64, 64, 3), np.uint8), np.full((64, 64), 0.6, np.float32),
                        camera, np.array([0.0, 0.0, 0.6]),
                        CropConfig(image_size=4, crop_half_extent=0.16, num_points=16),
                        np.random.default_rng(0))
    assert len(np.unique(exact['points'], axis=0)) == 16 and exact['points_valid'].all()


def test_make_sample_crops_with_its_jitter():
    jitter = np.array([0.1, 0.05, -0.1])
    root = np.array([0.02, 0.01, 0.8])
    config = CropConfig(image_size=32, num_points=8)
    sample = make_sample(np.zeros((720, 1280, 3), np.uint8),
                         np.full((720, 1280), 0.8, np.float32), ZED, root, config,
                         np.random.default_rng(0), jitter)
    np.testing.assert_allclose(sample['crop_K'], crop_box(ZED, root, config, jitter).camera.K,
                               rtol=1e-6)


def test_input_config_reads_the_checkpoints_inputs_block():
    model = ModelConfig()
    defaults = input_config(model, {})
    assert defaults == CropConfig(model.image_size, CropConfig.crop_half_extent,
                                  CropConfig.depth_half_range, model.num_points,
                                  model.norm_scale)
    trained = input_config(model, {'train': {'crop_half_extent': 0.2, 'depth_half_range': 0.3}})
    assert (trained.crop_half_extent, trained.depth_half_range) == (0.2, 0.3)
    both = input_config(model, {'inputs': {'crop_half_extent': 0.12},
                                'train': {'crop_half_extent': 0.2}})
    assert both.crop_half_extent == 0.12 and both.depth_half_range == 0.25
    # Size, points and normalisation always come from the model.
    other = dataclasses.replace(model, image_size=128, num_points=512, norm_scale=5.0)
    assert input_config(other, {'inputs': {'norm_scale': 9.0}}) == CropConfig(
        128, CropConfig.crop_half_extent, CropConfig.depth_half_range, 512, 5.0)


def test_model_input_is_a_batch_of_one():
    config = CropConfig(image_size=16, num_points=8)
    sample = make_sample(np.zeros((480, 640, 3), np.uint8), np.full((480, 640), 0.6,
                                                                   np.float32),
                         CAMERA, np.array([0.0, 0.0, 0.6]), config, np.random.default_rng(0))
    batch = model_input(sample)
    for name, key in (('rgb', 'rgb'), ('depth', 'depth'), ('crop_K', 'crop_K'),
                      ('root', 'root'), ('points', 'points'), ('points_valid', 'points_valid')):
        value = getattr(batch, name)
        assert tuple(value.shape) == (1, *sample[key].shape)
        np.testing.assert_array_equal(value[0].numpy(), sample[key])


def test_targets_draw_half_of_the_queries_from_the_near_hand_rows_only():
    # The stored layout: NEAR_ROWS rows near the hand, as many near the object, then
    # uniform ones. Mark each block so the drawn rows tell where they came from.
    n, uniform = NEAR_ROWS, 200
    samples = np.zeros((2 * n + uniform, 5))
    samples[:, 2] = 0.6
    samples[:n, 3], samples[n:, 3] = 0.0, 0.05          # sdf_hand: 0 on the hand block
    samples[:n, 4], samples[n:2 * n, 4], samples[2 * n:, 4] = 0.05, 0.0, 0.1
    root = np.array([0.0, 0.0, 0.6])
    targets = make_targets(samples, np.tile(root, (21, 1)), root, root, 6.2, 1024, 8,
                           np.random.default_rng(0))
    hand_half, other_half = targets['sdf_hand'][:512], targets['sdf_hand'][512:]
    # Every near-hand query is a hand row (rows n .. 1.1 n are object rows: the old
    # first-half split drew ~46 of them here).
    np.testing.assert_array_equal(hand_half, 0.0)
    assert np.all(other_half > 0)
    # The other half: near-object rows and uniform ones, in proportion.
    object_rows = np.count_nonzero(targets['sdf_object'][512:] == 0.0)
    assert 0.75 < object_rows / 512 < 0.92
    with pytest.raises(ValueError, match='near_rows'):
        make_targets(samples[:NEAR_ROWS], np.tile(root, (21, 1)), root, root, 6.2, 64, 8,
                     np.random.default_rng(0))


def test_near_rows_is_the_layout_every_reader_writes():
    from c2f_sdf_ros.data import dexycb, obman
    from c2f_sdf_ros.data.synth import generate

    assert generate.SDF_NEAR_SAMPLES == dexycb.SDF_NEAR == NEAR_ROWS
    assert inspect.signature(obman.ObMan).parameters['sdf_near'].default == NEAR_ROWS
    samples = np.load(SAMPLE / 'sdf' / '000000.npy')
    assert len(samples) == 2 * NEAR_ROWS + generate.SDF_UNIFORM_SAMPLES
    # Rows before NEAR_ROWS hug the hand, the next NEAR_ROWS the object.
    assert np.abs(samples[:NEAR_ROWS, 3]).max() < 0.05
    assert np.median(np.abs(samples[NEAR_ROWS:2 * NEAR_ROWS, 4])) < 0.005
    assert np.median(np.abs(samples[NEAR_ROWS:2 * NEAR_ROWS, 3])) > 0.01


def test_the_inputs_block_records_the_canonical_side():
    model = ModelConfig()
    # The shipped (v2) weights saw right hands only; checkpoints from before mirroring
    # (no key, like v1's) mirror nothing.
    from c2f_sdf_ros.model.checkpoint import SHIPPED_WEIGHTS, load_model
    shipped, info = load_model(SHIPPED_WEIGHTS)
    assert input_config(shipped.config, info).canonical_side == 'right'
    assert input_config(model, {}).canonical_side is None
    assert input_config(model, {'inputs': {'crop_half_extent': 0.2}}).canonical_side is None
    assert input_config(model, {'inputs': {'canonical_side': 'right'}}).canonical_side == \
        'right'
    block = dataclasses.asdict(CropConfig(canonical_side='right', crop_half_extent=0.22))
    assert input_config(model, {'inputs': block}) == CropConfig(
        model.image_size, 0.22, CropConfig.depth_half_range, model.num_points,
        model.norm_scale, 'right')
    with pytest.raises(ValueError, match='canonical_side'):
        CropConfig(canonical_side='both')
    with pytest.raises(ValueError, match='canonical_side'):
        input_config(model, {'inputs': {'canonical_side': 'none'}})
