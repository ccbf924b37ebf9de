"""Metric code on analytic cases, ICP, physical measures and the lattice meshing."""

import numpy as np
import pytest
import torch
import trimesh

from c2f_sdf_ros.eval import metrics
from c2f_sdf_ros.reconstruct.meshing import dense_grid, grid_mesh, narrow_band_grid


def sphere_points(radius, count=30000, seed=0):
    """Points exactly on a sphere (m), uniform."""
    directions = np.random.default_rng(seed).normal(size=(count, 3))
    return radius * directions / np.linalg.norm(directions, axis=1, keepdims=True)


def test_concentric_spheres_chamfer_is_twice_the_squared_gap():
    inner, outer = sphere_points(0.10, seed=1), sphere_points(0.11, seed=2)
    # Nearest neighbours are >= 1 cm apart; the sampling adds a little on top.
    assert metrics.chamfer_cm2(inner, outer) == pytest.approx(2 * 1.0 ** 2, rel=0.03)
    assert metrics.chamfer_cm2(inner, inner) == 0.0


def test_f_score_is_one_above_the_gap_and_zero_below():
    inner, outer = sphere_points(0.10, seed=1), sphere_points(0.11, seed=2)
    assert metrics.f_score(inner, outer, 0.0115) == 1.0  # gap 1 cm + sampling spacing
    assert metrics.f_score(inner, outer, 0.0095) == 0.0
    with pytest.raises(ValueError):
        metrics.f_score(inner, outer, 0.0)


def test_surface_samples_are_seeded_and_on_the_mesh():
    mesh = trimesh.creation.icosphere(subdivisions=4, radius=0.05)
    a = metrics.sample_surface(mesh, 30000, seed=3)
    assert a.shape == (30000, 3)
    np.testing.assert_array_equal(a, metrics.sample_surface(mesh, 30000, seed=3))
    assert not np.array_equal(a, metrics.sample_surface(mesh, 30000, seed=4))
    assert np.abs(np.linalg.norm(a, axis=1) - 0.05).max() < 1e-3
    with pytest.raises(ValueError):
        metrics.sample_surface(trimesh.Trimesh(), 10)


def test_icp_recovers_scale_and_translation():
    mesh = trimesh.creation.box((0.08, 0.05, 0.03))
    truth = metrics.sample_surface(mesh, 5000, seed=0)
    source = (truth - 0.01) / 1.1 + np.array([0.004, -0.003, 0.002])
    scale, translation = metrics.icp_translation_scale(source, truth)
    aligned = scale * source + translation
    assert scale == pytest.approx(1.1, rel=0.01)
    assert np.abs(aligned - truth).max() < 1e-3


def test_penetration_intersection_and_contact_of_overlapping_boxes():
    hand = trimesh.creation.box((0.02, 0.01, 0.01))                  # x in [-1, 1] cm
    obj = trimesh.creation.box((0.02, 0.04, 0.04))
    obj.apply_translation([0.015, 0.0, 0.0])                           # x in [0.5, 2.5] cm
    # The hand's corners at x = 1 cm are 0.5 cm deep; the overlap is 0.5 x 1 x 1 cm.
    assert metrics.penetration_depth_cm(hand, obj) == pytest.approx(0.5, abs=1e-4)
    assert metrics.intersection_volume_cm3(hand, obj, voxel=0.0005) == \
        pytest.approx(0.5, rel=0.02)
    assert metrics.in_contact(hand, obj)
    obj.apply_translation([0.02, 0.0, 0.0])                            # 1.5 cm gap
    assert metrics.penetration_depth_cm(hand, obj) == 0.0
    assert metrics.intersection_volume_cm3(hand, obj) == 0.0
    assert not metrics.in_contact(hand, obj)


def spheres(points):
    return torch.stack([points.norm(dim=-1) - 0.5,
                        (points - torch.tensor([0.3, 0.0, 0.0])).norm(dim=-1) - 0.03],
                       -1).clamp(-0.1, 0.1)


def test_narrow_band_lattice_gives_the_dense_meshes_with_fewer_queries():
    dense, dense_count = dense_grid(spheres, 64)
    sparse, sparse_count = narrow_band_grid(spheres, 64, start=16)
    assert dense_count == 64 ** 3
    assert sparse_count < dense_count / 2
    for d, s in zip(dense, sparse, strict=True):
        a, b = grid_mesh(d), grid_mesh(s)
        np.testing.assert_allclose(a.vertices, b.vertices, atol=1e-6)
    big = grid_mesh(dense[0])
    assert big.is_watertight
    assert big.volume == pytest.approx(4 / 3 * np.pi * 0.5 ** 3, rel=0.01)  # outward faces


def test_grid_mesh_of_a_field_without_surface_is_none_and_floaters_are_dropped():
    assert grid_mesh(np.ones((8, 8, 8))) is None
    values, _ = dense_grid(lambda p: torch.minimum(
        p.norm(dim=-1) - 0.5, (p - 0.8).norm(dim=-1) - 0.1)[:, None], 48)
    mesh = grid_mesh(values[0])
    assert np.linalg.norm(mesh.vertices, axis=1).max() < 0.55          # the small one went
    assert len(grid_mesh(values[0], keep_largest=False).split(only_watertight=False)) == 2
    with pytest.raises(ValueError):
        narrow_band_grid(spheres, 16, start=32)


def test_icp_scale_does_not_collapse_onto_part_of_the_target():
    # A prediction that covers only half of the truth: one-way ICP would shrink it.
    truth = sphere_points(0.05, 6000, seed=5)
    source = truth[truth[:, 0] > 0] * 1.0
    scale, _ = metrics.icp_translation_scale(source, truth)
    assert scale > 0.8
