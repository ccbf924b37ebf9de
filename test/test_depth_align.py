"""Registering a reconstruction to the measured depth of its hand."""

import numpy as np
import pytest
import trimesh

from c2f_sdf_ros.geometry.camera import CameraIntrinsics
from c2f_sdf_ros.geometry.render import render_meshes
from c2f_sdf_ros.reconstruct.depth_align import (
    depth_gaps,
    depth_offset,
    gap_offset,
    points_mask,
    ray_shift,
)

CAMERA = CameraIntrinsics(160, 120, 150.0, 155.0, 83.0, 57.0)


def sphere(centre, radius=0.05):
    mesh = trimesh.creation.icosphere(3, radius)
    mesh.apply_translation(centre)
    return mesh


def test_a_mesh_behind_the_measured_surface_is_found_and_moved_onto_it():
    truth = sphere((0.05, -0.02, 0.6))
    observed = render_meshes([truth], CAMERA).depth
    shift = ray_shift(truth.vertices, 0.02)
    assert shift[2] == pytest.approx(0.02)
    behind = truth.copy().apply_translation(shift)
    offset = depth_offset(behind, observed, CAMERA)
    assert offset == pytest.approx(0.02, abs=0.002)
    moved = behind.copy().apply_translation(ray_shift(behind.vertices, -offset))
    assert np.abs(moved.vertices - truth.vertices).max() < 0.003


def test_other_surfaces_and_missing_depth_are_left_out():
    truth = sphere((0.0, 0.0, 0.6))
    observed = render_meshes([truth], CAMERA).depth
    observed[:, :83] = 0.3          # something far in front of the left half
    assert depth_offset(truth, observed, CAMERA) == pytest.approx(0.0, abs=0.001)
    assert depth_offset(truth, np.zeros_like(observed), CAMERA) == 0.0
    with pytest.raises(ValueError, match='does not match'):
        depth_offset(truth, observed[:10], CAMERA)
    with pytest.raises(ValueError, match='in front'):
        ray_shift(np.array([[0.0, 0.0, -1.0]]), 0.01)


def test_a_mask_lets_a_far_offset_be_measured_on_the_object_alone():
    # The object's measured surface is 10 cm in front of where the model put it: beyond
    # the default gap, which takes it for another surface. Compared only on the pixels
    # known to be the object (its held cluster), the whole offset is found.
    truth = sphere((0.02, 0.0, 0.6))
    observed = render_meshes([truth], CAMERA).depth
    behind = truth.copy().apply_translation(ray_shift(truth.vertices, 0.10))
    assert depth_offset(behind, observed, CAMERA) == 0.0
    points = np.stack(np.nonzero(observed > 0)[::-1], axis=1)[::7]
    z = observed[points[:, 1], points[:, 0]]
    cluster = np.stack([(points[:, 0] - CAMERA.cx) / CAMERA.fx * z,
                        (points[:, 1] - CAMERA.cy) / CAMERA.fy * z, z], axis=1)
    mask = points_mask(cluster, CAMERA, grow=2)
    assert mask.sum() >= (observed > 0).sum() * 0.8
    offset = depth_offset(behind, observed, CAMERA, max_gap=0.15, mask=mask)
    assert offset == pytest.approx(0.10, abs=0.01)
    # Something else at the object's depth outside the mask does not count.
    observed[:, :40] = 0.7
    assert depth_offset(behind, observed, CAMERA, max_gap=0.15, mask=mask) \
        == pytest.approx(0.10, abs=0.01)
    with pytest.raises(ValueError, match='mask'):
        depth_offset(behind, observed, CAMERA, mask=mask[:10])
    # One render's gaps give both offsets (what the pipeline does for an object).
    gaps, pixels = depth_gaps(behind, observed, CAMERA)
    assert len(gaps) == len(pixels) > 0
    assert gap_offset(gaps) == depth_offset(behind, observed, CAMERA)
    assert gap_offset(gaps[mask[pixels[:, 0], pixels[:, 1]]], 0.15) \
        == pytest.approx(depth_offset(behind, observed, CAMERA, max_gap=0.15, mask=mask))
    with pytest.raises(ValueError, match='max_gap'):
        gap_offset(gaps, 0.0)


def test_points_mask_marks_projected_pixels_and_skips_the_rest():
    points = np.array([[0.0, 0.0, 0.5], [0.0, 0.0, -0.5], [10.0, 0.0, 0.5]])
    mask = points_mask(points, CAMERA)
    assert mask.sum() == 1 and mask[57, 83]
    assert points_mask(points, CAMERA, grow=1).sum() == 5
    assert not points_mask(np.zeros((0, 3)), CAMERA).any()
    with pytest.raises(ValueError, match='grow'):
        points_mask(points, CAMERA, grow=-1)
