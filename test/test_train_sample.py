"""Preprocessing of a frame into model inputs and targets."""

import json
import pathlib

import numpy as np
import pytest

from c2f_sdf_ros.data.frame_folder import FrameFolder
from c2f_sdf_ros.geometry.camera import CameraIntrinsics
from c2f_sdf_ros.model.inputs import CropConfig, crop_box, make_sample, normalise
from c2f_sdf_ros.train.targets import heatmap_target, make_targets

SAMPLE = pathlib.Path(__file__).resolve().parents[1] / 'data' / 'sample'
CAMERA = CameraIntrinsics(640, 480, 615.0, 615.0, 319.5, 239.5)


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
