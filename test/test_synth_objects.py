"""Hand-held object families: dimensions, analytic SDFs and their meshes (data.synth.objects)."""

import functools
import json

import numpy as np
import open3d as o3d
import pytest
import trimesh

from c2f_sdf_ros.data.synth.objects import FAMILIES, ObjectShape, object_mesh, sample_object

SEEDS = range(5)
HOLLOW = ('mug', 'bowl')
CASES = [(family, seed) for family in FAMILIES for seed in SEEDS]


def shape_of(family, seed):
    return sample_object(np.random.default_rng(seed), family)


@functools.cache
def mesh_of(family, seed):
    return object_mesh(shape_of(family, seed))


def box_boundary(half, n=24):
    """Points (6 n^2, 3) on the faces of the box of ``half`` sizes centred at the origin."""
    u = np.linspace(-1.0, 1.0, n)
    a, b = (g.ravel() for g in np.meshgrid(u, u, indexing='ij'))
    faces = []
    for axis in range(3):
        others = [i for i in range(3) if i != axis]
        for side in (-1.0, 1.0):
            points = np.empty((n * n, 3))
            points[:, axis] = side
            points[:, others[0]], points[:, others[1]] = a, b
            faces.append(points * half)
    return np.concatenate(faces)


def mesh_signed_distance(mesh, points):
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(mesh.vertices.astype(np.float32)),
                        o3d.core.Tensor(mesh.faces.astype(np.uint32)))
    query = o3d.core.Tensor(points.astype(np.float32))
    return scene.compute_signed_distance(query).numpy().astype(np.float64)


# Sampling and parameters -----------------------------------------------------------------


@pytest.mark.parametrize('family', FAMILIES)
def test_dimensions_and_walls_over_many_seeds(family):
    rng = np.random.default_rng(123)
    for _ in range(300):
        shape = sample_object(rng, family)
        assert shape.family == family
        assert 0.03 <= shape.largest_dimension() <= 0.25
        half = shape.half_extent()
        assert half.shape == (3,) and (half > 0).all()
        if family == 'box':
            assert 2 * max(shape.param(k) for k in ('half_x', 'half_y', 'half_z')) >= 0.05
            assert 0.002 <= shape.param('rounding') <= 0.005
        if family in ('mug', 'bowl'):
            assert 0.004 <= shape.param('wall') <= 0.006
        if family == 'mug':
            assert 0.005 <= shape.param('bottom') <= 0.008
            assert 0.005 <= shape.param('handle_minor') <= 0.007
        if family == 'bottle':
            assert 0.008 <= shape.param('neck_radius') <= 0.015
            assert shape.param('neck_radius') < shape.param('body_radius')


def test_family_none_is_uniform_and_deterministic():
    drawn = [sample_object(np.random.default_rng(seed)).family for seed in range(600)]
    counts = {family: drawn.count(family) for family in FAMILIES}
    assert set(drawn) == set(FAMILIES)
    assert min(counts.values()) > 60, counts
    again = [sample_object(np.random.default_rng(seed)).family for seed in range(600)]
    assert drawn == again


def test_unknown_family_raises():
    with pytest.raises(ValueError, match='unknown object family'):
        sample_object(np.random.default_rng(0), 'teapot')
    with pytest.raises(ValueError, match='unknown object family'):
        ObjectShape('teapot', (('radius', 0.05),))


def test_params_are_normalised_and_checked():
    shape = ObjectShape('cylinder', {'rounding': 0.003, 'radius': 0.03, 'height': 0.1})
    assert shape.params == (('height', 0.1), ('radius', 0.03), ('rounding', 0.003))
    assert shape == ObjectShape('cylinder', (('radius', 0.03), ('rounding', 0.003),
                                             ('height', 0.1)))
    assert hash(shape) == hash(ObjectShape('cylinder', shape.params))
    assert shape.param('radius') == 0.03
    with pytest.raises(KeyError):
        shape.param('width')
    with pytest.raises(ValueError, match='needs parameters'):
        ObjectShape('cylinder', (('radius', 0.03),))
    with pytest.raises(ValueError, match='finite'):
        ObjectShape('sphere', (('radius', np.nan),))
    with pytest.raises(ValueError, match=r'\(N, 3\)'):
        shape.sdf(np.zeros(3))


@pytest.mark.parametrize('family', FAMILIES)
def test_as_dict_round_trips_through_json(family):
    shape = shape_of(family, 0)
    data = json.loads(json.dumps(shape.as_dict()))
    assert data['family'] == family
    assert ObjectShape.from_dict(data) == shape


@pytest.mark.parametrize('family', FAMILIES)
def test_sampling_is_deterministic(family):
    assert shape_of(family, 7) == shape_of(family, 7)
    assert shape_of(family, 7) != shape_of(family, 8)


# Analytic SDF ----------------------------------------------------------------------------


@pytest.mark.parametrize('family, seed', CASES)
def test_sdf_is_positive_outside_the_half_extent(family, seed):
    shape = shape_of(family, seed)
    distance = shape.sdf(box_boundary(shape.half_extent() + 0.001))
    assert distance.min() > 0


def test_hollow_shapes_are_open_and_the_mug_has_a_handle():
    for seed in SEEDS:
        for family in HOLLOW:
            shape = shape_of(family, seed)
            cavity = shape.landmarks()['cavity'][None]
            assert shape.sdf(cavity)[0] > 0.01
            # The opening: straight up from the cavity centre is free space to the top.
            top = shape.half_extent()[2] + 0.005
            column = cavity + np.linspace(0.0, top - cavity[0, 2], 50)[:, None] * [0, 0, 1]
            assert shape.sdf(column).min() > 0
            # ... and the meshed cavity is empty too.
            assert mesh_signed_distance(mesh_of(family, seed), cavity)[0] > 0.005
        mug = shape_of('mug', seed)
        handle = mug.landmarks()['handle']
        assert handle[0] > 0
        assert mug.sdf(handle[None])[0] < -0.004
        # The handle stands clear of the cup wall: free space between them on +x.
        body_x = mug.landmarks()['cavity'][0] + mug.param('outer_radius')
        gap = np.array([[0.5 * (body_x + handle[0] - mug.param('handle_minor')), 0.0,
                         handle[2]]])
        assert mug.sdf(gap)[0] > 0


@pytest.mark.parametrize('family', FAMILIES)
def test_solid_families_have_no_landmarks_and_hollow_ones_do(family):
    names = set(shape_of(family, 0).landmarks())
    assert names == {'mug': {'cavity', 'handle'}, 'bowl': {'cavity'}}.get(family, set())


# Meshes ----------------------------------------------------------------------------------


@pytest.mark.parametrize('family, seed', CASES)
def test_mesh_is_closed_and_on_the_analytic_surface(family, seed):
    shape, mesh = shape_of(family, seed), mesh_of(family, seed)
    assert mesh.is_watertight
    assert mesh.body_count == 1
    assert mesh.volume > 0
    error = np.abs(shape.sdf(mesh.vertices))
    assert error.max() < 1e-3
    assert np.median(error) < 3e-4
    # The half extent is the mesh's bounding box (the local frame is centred on it).
    np.testing.assert_allclose(mesh.bounds, [-shape.half_extent(), shape.half_extent()],
                               atol=5e-4)


@pytest.mark.parametrize('family, seed', CASES)
def test_sdf_agrees_with_the_mesh_distance_near_the_surface(family, seed):
    shape, mesh = shape_of(family, seed), mesh_of(family, seed)
    rng = np.random.default_rng(seed)
    # Inside a thin wall the two sides are ambiguous for both: stay within half the wall.
    reach = min(0.003, 0.5 * shape.param('wall')) if family in HOLLOW else 0.003
    points, face = trimesh.sample.sample_surface(mesh, 4000, seed=seed)
    offsets = rng.uniform(-reach, reach, len(points))
    points = points + mesh.face_normals[face] * offsets[:, None]
    difference = np.abs(shape.sdf(points) - mesh_signed_distance(mesh, points))
    assert np.median(difference) < 1e-3
    assert np.quantile(difference, 0.9) < 1e-3


@pytest.mark.parametrize('family', FAMILIES)
def test_meshes_are_deterministic(family):
    mesh = object_mesh(shape_of(family, 0))
    np.testing.assert_array_equal(mesh.vertices, mesh_of(family, 0).vertices)
    np.testing.assert_array_equal(mesh.faces, mesh_of(family, 0).faces)
