"""Marching-cubes meshes of signed distance grids and functions (data.synth.meshing)."""

import numpy as np
import pytest
import trimesh

from c2f_sdf_ros.data.synth import sdf
from c2f_sdf_ros.data.synth.meshing import mesh_from_grid, mesh_from_sdf

RADIUS = 0.05
VOXEL = 0.002


def sphere_fn(centre=(0.0, 0.0, 0.0), radius=RADIUS):
    return lambda p: sdf.sphere(p - np.asarray(centre), radius)


def grid(n, voxel=VOXEL):
    """Samples i * voxel for i in [-n, n] on each axis, (2n+1, 2n+1, 2n+1, 3), and origin."""
    axis = np.arange(-n, n + 1) * voxel
    points = np.stack(np.meshgrid(axis, axis, axis, indexing='ij'), axis=-1)
    return points, np.full(3, -n * voxel)


@pytest.fixture(scope='module')
def sphere_mesh():
    return mesh_from_sdf(sphere_fn(), [-RADIUS] * 3, [RADIUS] * 3, VOXEL)


# A sphere ---------------------------------------------------------------------------------


def test_sphere_is_closed_and_accurate(sphere_mesh):
    mesh = sphere_mesh
    assert mesh.is_watertight
    assert mesh.is_winding_consistent
    exact = 4.0 / 3.0 * np.pi * RADIUS ** 3
    assert mesh.volume > 0
    assert abs(mesh.volume - exact) < 0.01 * exact
    distance = np.linalg.norm(mesh.vertices, axis=1)
    assert np.abs(distance - RADIUS).max() < 2e-4


def test_sphere_normals_point_outward(sphere_mesh):
    radial = sphere_mesh.vertices / np.linalg.norm(sphere_mesh.vertices, axis=1, keepdims=True)
    cosine = np.einsum('ij,ij->i', sphere_mesh.vertex_normals, radial)
    assert cosine.min() > 0.9
    face_radial = sphere_mesh.triangles_center / RADIUS
    assert np.einsum('ij,ij->i', sphere_mesh.face_normals, face_radial).min() > 0.9


def test_mesh_is_in_the_frame_of_origin():
    points, origin = grid(20)
    centre = np.array([0.3, -1.0, 2.0])
    values = sdf.sphere(points.reshape(-1, 3), 0.03).reshape(points.shape[:3])
    at_zero = mesh_from_grid(values, origin, VOXEL)
    shifted = mesh_from_grid(values, origin + centre, VOXEL)
    np.testing.assert_allclose(shifted.vertices, at_zero.vertices + centre, atol=1e-12)
    np.testing.assert_array_equal(shifted.faces, at_zero.faces)
    np.testing.assert_allclose(at_zero.centroid, 0.0, atol=1e-5)


def test_samples_exactly_on_the_surface_stay_manifold():
    # Radius 40 voxels: the six axis points (and others) lie exactly on the surface.
    points, origin = grid(45)
    values = np.linalg.norm(points, axis=-1) - 40 * VOXEL
    values[np.abs(values) < 1e-15] = 0.0
    assert (values == 0).sum() >= 6
    mesh = mesh_from_grid(values, origin, VOXEL)
    assert mesh.is_watertight
    assert mesh.area_faces.min() > 0
    # Still closed after trimesh's own vertex merging (no coincident vertices to pinch).
    processed = trimesh.Trimesh(mesh.vertices, mesh.faces, process=True)
    assert len(processed.vertices) == len(mesh.vertices)
    assert processed.is_watertight


# Components -------------------------------------------------------------------------------


def two_spheres(p):
    return sdf.union(sdf.sphere(p - [-0.04, 0.0, 0.0], 0.03),
                     sdf.sphere(p - [0.05, 0.0, 0.0], 0.015))


def test_keep_largest_drops_the_smaller_sphere():
    lower, upper = [-0.07, -0.03, -0.03], [0.065, 0.03, 0.03]
    mesh = mesh_from_sdf(two_spheres, lower, upper, VOXEL)
    assert mesh.body_count == 1
    assert mesh.is_watertight
    distance = np.linalg.norm(mesh.vertices - [-0.04, 0.0, 0.0], axis=1)
    assert np.abs(distance - 0.03).max() < 2e-4
    # Vertex indices are compact after dropping the small sphere.
    assert mesh.faces.max() == len(mesh.vertices) - 1

    both = mesh_from_grid(*_grid_of(two_spheres, lower, upper), keep_largest=False)
    assert both.body_count == 2
    assert both.is_watertight
    exact = 4.0 / 3.0 * np.pi * (0.03 ** 3 + 0.015 ** 3)
    assert abs(both.volume - exact) < 0.01 * exact


def _grid_of(fn, lower, upper, voxel=VOXEL):
    lower = np.asarray(lower) - 2 * voxel
    n = np.ceil((np.asarray(upper) + 2 * voxel - lower) / voxel).astype(int) + 1
    axes = [lower[i] + voxel * np.arange(n[i]) for i in range(3)]
    points = np.stack(np.meshgrid(*axes, indexing='ij'), axis=-1)
    return fn(points.reshape(-1, 3)).reshape(points.shape[:3]), lower, voxel


# Determinism ------------------------------------------------------------------------------


def test_meshes_are_deterministic_and_independent_of_chunking(sphere_mesh):
    again = mesh_from_sdf(sphere_fn(), [-RADIUS] * 3, [RADIUS] * 3, VOXEL)
    small_chunks = mesh_from_sdf(sphere_fn(), [-RADIUS] * 3, [RADIUS] * 3, VOXEL, chunk=9999)
    for mesh in (again, small_chunks):
        np.testing.assert_array_equal(mesh.vertices, sphere_mesh.vertices)
        np.testing.assert_array_equal(mesh.faces, sphere_mesh.faces)


# Errors -----------------------------------------------------------------------------------


def sphere_grid(radius=0.03, n=20):
    points, origin = grid(n)
    return np.linalg.norm(points, axis=-1) - radius, origin


@pytest.mark.parametrize('values', [np.ones((8, 8, 8)), -np.ones((8, 8, 8)),
                                    np.zeros((8, 8, 8))])
def test_grid_without_zero_crossing_raises(values):
    with pytest.raises(ValueError, match='no zero crossing'):
        mesh_from_grid(values, np.zeros(3), VOXEL)


@pytest.mark.parametrize('bad', [np.nan, np.inf, -np.inf])
def test_non_finite_values_raise(bad):
    values, origin = sphere_grid()
    values[3, 4, 5] = bad
    with pytest.raises(ValueError, match='NaN'):
        mesh_from_grid(values, origin, VOXEL)


@pytest.mark.parametrize('radius, zero_on_border', [(0.041, False), (0.06, False),
                                                    (0.03, True)])
def test_surface_touching_the_border_raises(radius, zero_on_border):
    # The grid spans +-0.04: 0.041 pokes through the face centres, 0.06 cuts the sphere
    # open, and a single zero on the border is a surface touching it.
    values, origin = sphere_grid(radius)
    if zero_on_border:
        values[0, 20, 20] = 0.0
    with pytest.raises(ValueError, match='touches the grid border'):
        mesh_from_grid(values, origin, VOXEL)


def test_sdf_outside_its_box_raises():
    with pytest.raises(ValueError, match='touches the grid border'):
        mesh_from_sdf(sphere_fn(), [-0.03] * 3, [0.03] * 3, VOXEL)


@pytest.mark.parametrize('kwargs, match', [
    (dict(values=np.ones((8, 8))), '3-D grid'),
    (dict(values=np.ones((8, 1, 8))), '3-D grid'),
    (dict(origin=[0.0, 0.0]), 'origin'),
    (dict(origin=[0.0, np.nan, 0.0]), 'origin'),
    (dict(voxel=0.0), 'voxel'),
    (dict(voxel=-0.002), 'voxel'),
    (dict(voxel=np.nan), 'voxel'),
])
def test_bad_grid_arguments_raise(kwargs, match):
    values, origin = sphere_grid()
    arguments = dict(values=values, origin=origin, voxel=VOXEL)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        mesh_from_grid(**arguments)


@pytest.mark.parametrize('kwargs, match', [
    (dict(lower=[0.05, -0.05, -0.05]), 'lower < upper'),
    (dict(upper=[0.05, 0.05]), '3 coordinates'),
    (dict(voxel=0.0), 'voxel'),
    (dict(chunk=0), 'chunk'),
    (dict(sdf_fn=lambda p: np.zeros((len(p), 1))), 'shape'),
])
def test_bad_sdf_arguments_raise(kwargs, match):
    arguments = dict(sdf_fn=sphere_fn(radius=0.03), lower=[-0.05] * 3, upper=[0.05] * 3,
                     voxel=VOXEL)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        mesh_from_sdf(**arguments)
