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


def plane_grid(x, count=10, spacing=0.02):
    """count^2 points in the plane x = ``x``, ``spacing`` apart (x exact)."""
    axis = np.arange(count) * spacing
    y, z = np.meshgrid(axis, axis, indexing='ij')
    return np.stack([np.full(y.size, x), y.ravel(), z.ravel() + 0.5], -1)


@pytest.mark.parametrize('threshold', [0.001, 0.005, 0.01])
def test_f_score_counts_a_point_exactly_at_the_threshold(threshold):
    truth = plane_grid(0.0)
    predicted = plane_grid(threshold)      # every point exactly `threshold` from its twin
    assert np.all(metrics.nearest_distances(predicted, truth) == threshold)
    assert metrics.f_score(predicted, truth, threshold) == 1.0
    assert metrics.f_score(predicted, truth, np.nextafter(threshold, 1.0)) == 1.0
    assert metrics.f_score(predicted, truth, np.nextafter(threshold, 0.0)) == 0.0
    scores = metrics.surface_metrics(predicted, truth, {'at': threshold,
                                                        'under': np.nextafter(threshold, 0)})
    assert scores == {'cd': pytest.approx(2 * (threshold * 100) ** 2), 'at': 1.0,
                      'under': 0.0}


def test_f_score_is_the_harmonic_mean_of_precision_and_recall():
    truth = plane_grid(0.0, count=4)                                   # 16 points
    far = plane_grid(0.5, count=4)
    # Precision 16/32 (half the prediction is far), recall 1: F = 2 * 0.5 / 1.5.
    predicted = np.concatenate([truth, far])
    assert metrics.f_score(predicted, truth, 0.001) == pytest.approx(2 / 3)
    # Recall 4/16, precision 1: F = 2 * 0.25 / 1.25.
    assert metrics.f_score(truth[:4], truth, 0.001) == pytest.approx(0.4)
    assert metrics.f_score(far, truth, 0.001) == 0.0
    # Chamfer: mean squared distance each way, in cm^2 (50 cm away: 2500 cm^2 one way).
    assert metrics.chamfer_cm2(predicted, truth) == pytest.approx(2500 / 2)


def test_contact_counts_a_hand_deep_inside_the_object():
    obj = trimesh.creation.box((0.1, 0.1, 0.1))
    # A small hand box wholly inside, 2 cm from every face: no vertex within 2 mm of the
    # surface, but inside is contact.
    inside = trimesh.creation.box((0.02, 0.02, 0.02))
    assert metrics.in_contact(inside, obj, 0.002)
    assert metrics.penetration_depth_cm(inside, obj) == pytest.approx(4.0, abs=1e-3)
    near = trimesh.creation.box((0.02, 0.02, 0.02)).apply_translation((0.0615, 0, 0))
    assert metrics.in_contact(near, obj, 0.002)        # 1.5 mm gap
    far = trimesh.creation.box((0.02, 0.02, 0.02)).apply_translation((0.0625, 0, 0))
    assert not metrics.in_contact(far, obj, 0.002)     # 2.5 mm gap


def test_sampling_rejects_meshes_without_area_and_takes_a_single_triangle():
    triangle = trimesh.Trimesh([[0, 0, 0], [0.01, 0, 0], [0, 0.01, 0]], [[0, 1, 2]])
    points = metrics.sample_surface(triangle, 50)
    assert points.shape == (50, 3) and points.dtype == np.float64
    np.testing.assert_array_equal(points, metrics.sample_surface(triangle, 50, seed=0))
    assert np.all(points[:, 2] == 0) and np.all(points[:, :2] >= 0)
    flat = trimesh.Trimesh([[0, 0, 0], [0.01, 0, 0], [0.02, 0, 0]], [[0, 1, 2]],
                           process=False)                     # a face, but no area
    for mesh in (None, flat, trimesh.Trimesh()):
        with pytest.raises(ValueError, match='cannot sample an empty mesh'):
            metrics.sample_surface(mesh, 10)


def test_nearest_distances_need_points_on_both_sides():
    one = np.array([[0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(metrics.nearest_distances(one, [[0.0, 0.0, 2.0]]), [2.0])
    for source, target in ((np.zeros((0, 3)), one), (one, np.zeros((0, 3)))):
        with pytest.raises(ValueError, match='point sets must not be empty'):
            metrics.nearest_distances(source, target)
    with pytest.raises(ValueError, match='threshold must be > 0, got -0.001'):
        metrics.f_score(one, one, -0.001)


def test_icp_recovers_scale_and_translation_of_a_small_cloud_exactly():
    # 200 points within 1 cm: the sums in the closed-form scale are far below 1 (m^2).
    truth = sphere_points(0.01, 200, seed=3) + [0.1, -0.05, 0.6]
    source = (truth - [0.002, 0.001, -0.003]) / 1.05
    scale, translation = metrics.icp_translation_scale(source, truth)
    assert scale == pytest.approx(1.05, rel=1e-6)
    np.testing.assert_allclose(scale * source + translation, truth, atol=1e-8)


def test_intersection_volume_of_two_spheres_is_the_lens():
    r, d = 0.02, 0.03
    a = trimesh.creation.icosphere(subdivisions=4, radius=r)
    b = trimesh.creation.icosphere(subdivisions=4, radius=r).apply_translation((d, 0, 0))
    lens_cm3 = np.pi * (4 * r + d) * (2 * r - d) ** 2 / 12 * 1e6     # 2.88 cm^3
    # The overlap of the bounding boxes is 1 x 4 x 4 cm: most of it is in one sphere only.
    assert metrics.intersection_volume_cm3(a, b, voxel=0.001) == pytest.approx(lens_cm3,
                                                                                rel=0.05)


def test_intersection_volume_counts_whole_default_voxels():
    # Default voxel 5 mm, centred half a voxel in from the overlap's low corner.
    obj = trimesh.creation.box((0.04, 0.04, 0.04))              # x in [-2, 2] cm
    cube = trimesh.creation.box((0.02, 0.01, 0.01))
    overlap_1cm = cube.copy().apply_translation((0.02, 0, 0))     # x overlap [1, 2] cm
    assert metrics.intersection_volume_cm3(overlap_1cm, obj) == pytest.approx(1.0)
    overlap_12mm = cube.copy().apply_translation((0.018, 0, 0))   # two whole voxels in x
    assert metrics.intersection_volume_cm3(overlap_12mm, obj) == pytest.approx(1.0)
    overlap_5mm = cube.copy().apply_translation((0.025, 0, 0))    # one voxel thick
    assert metrics.intersection_volume_cm3(overlap_5mm, obj) == pytest.approx(0.5)
    overlap_1mm = cube.copy().apply_translation((0.029, 0, 0))    # thinner than half a voxel
    assert metrics.intersection_volume_cm3(overlap_1mm, obj) == 0.0


def test_contact_distance_is_inclusive():
    # Dyadic sizes: the ray-cast distance is exactly 2^-8 m.
    obj = trimesh.creation.box((0.125, 0.125, 0.125))            # faces at +-2^-4 m
    hand = trimesh.creation.box((0.01, 0.01, 0.01)).apply_translation(
        (0.0625 + 0.005 + 2 ** -8, 0, 0))
    assert metrics.in_contact(hand, obj, 2 ** -8)
    assert not metrics.in_contact(hand, obj, np.nextafter(2 ** -8, 0))
