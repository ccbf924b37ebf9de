"""Registering a reconstruction to the measured depth of its hand."""

import numpy as np
import pytest
import trimesh

from c2f_sdf_ros.geometry.camera import CameraIntrinsics
from c2f_sdf_ros.geometry.render import render_meshes
from c2f_sdf_ros.reconstruct.depth_align import depth_offset, ray_shift

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
