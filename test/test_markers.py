"""Meshes as RViz marker arrays (c2f_sdf_ros.ros.markers)."""

import copy

import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import Header
import trimesh
from visualization_msgs.msg import Marker, MarkerArray

from c2f_sdf_ros.ros import cdr
from c2f_sdf_ros.ros.markers import (
    DEFAULT_COLORS,
    FALLBACK_COLOR,
    HAND_NAMESPACE,
    OBJECT_NAMESPACE,
    ColoredMesh,
    MeshMarkerArrayBuilder,
    marker_colors,
    marker_points,
    mesh_marker,
)


def make_header(sec=1, frame_id='camera_color_optical_frame'):
    header = Header(frame_id=frame_id)
    header.stamp.sec = sec
    header.stamp.nanosec = 500
    return header


def random_mesh(seed, colors=None):
    """A small closed mesh: an icosphere at a random place."""
    rng = np.random.default_rng(seed)
    sphere = trimesh.creation.icosphere(subdivisions=1)
    vertices = np.asarray(sphere.vertices) * rng.uniform(0.01, 0.1) + rng.uniform(-1, 1, 3)
    faces = np.asarray(sphere.faces)
    vertex_colors = None
    if colors == 'float3':
        vertex_colors = rng.random((len(vertices), 3))
    elif colors == 'float4':
        vertex_colors = rng.random((len(vertices), 4))
    elif colors == 'uint8':
        vertex_colors = rng.integers(0, 255, (len(vertices), 4), endpoint=True, dtype=np.uint8)
    elif colors == 'uint8_rgb':
        vertex_colors = rng.integers(0, 255, (len(vertices), 3), endpoint=True, dtype=np.uint8)
    return ColoredMesh(vertices, faces, vertex_colors)


def points_of(marker):
    return marker_points(marker)


def colors_of(marker):
    return marker_colors(marker).astype(np.float64)


def summary(array):
    return [(m.ns, m.id, m.action) for m in array.markers]


def empty_mesh():
    return ColoredMesh(np.zeros((0, 3)), np.zeros((0, 3), np.int64))


def test_one_triangle_list_per_mesh():
    builder = MeshMarkerArrayBuilder()
    header = make_header()
    hands = [random_mesh(0), random_mesh(1)]
    objects = [random_mesh(2)]
    array = builder.build(header, {HAND_NAMESPACE: hands, OBJECT_NAMESPACE: objects})
    assert isinstance(array, MarkerArray)
    assert summary(array) == [('hand', 0, Marker.ADD), ('hand', 1, Marker.ADD),
                              ('object', 0, Marker.ADD)]
    for marker, mesh in zip(array.markers, hands + objects, strict=True):
        assert marker.type == Marker.TRIANGLE_LIST
        assert marker.header == header
        assert marker.pose.orientation.w == 1.0
        position = marker.pose.position
        assert (position.x, position.y, position.z) == (0, 0, 0)
        assert (marker.scale.x, marker.scale.y, marker.scale.z) == (1.0, 1.0, 1.0)
        assert len(points_of(marker)) == 3 * len(mesh.faces)
        np.testing.assert_array_equal(points_of(marker),
                                      mesh.vertices[mesh.faces].reshape(-1, 3))
        assert len(colors_of(marker)) == 0   # one colour: marker.color


def test_marker_for_icosphere():
    sphere = trimesh.creation.icosphere(subdivisions=3)
    assert len(sphere.faces) > 1000
    mesh = ColoredMesh(np.asarray(sphere.vertices), np.asarray(sphere.faces))
    marker = mesh_marker(make_header(), OBJECT_NAMESPACE, 3, mesh)
    assert (marker.ns, marker.id) == ('object', 3)
    np.testing.assert_array_equal(points_of(marker),
                                  np.asarray(sphere.vertices)[sphere.faces].reshape(-1, 3))


@pytest.mark.parametrize('namespace', [HAND_NAMESPACE, OBJECT_NAMESPACE, 'other'])
def test_default_colors(namespace):
    mesh = random_mesh(3)
    marker = mesh_marker(make_header(), namespace, 0, mesh)
    expected = DEFAULT_COLORS.get(namespace, FALLBACK_COLOR)
    # One colour for the whole marker: no per-corner colours (RViz then uses marker.color).
    assert colors_of(marker).shape == (0, 4)
    np.testing.assert_allclose([marker.color.r, marker.color.g, marker.color.b, marker.color.a],
                               expected, atol=1e-6)


def test_namespaces_have_distinct_defaults():
    assert DEFAULT_COLORS[HAND_NAMESPACE] != DEFAULT_COLORS[OBJECT_NAMESPACE]


@pytest.mark.parametrize('kind', ['float3', 'float4', 'uint8', 'uint8_rgb'])
def test_vertex_colors_per_corner(kind):
    mesh = random_mesh(4, colors=kind)
    marker = mesh_marker(make_header(), HAND_NAMESPACE, 0, mesh)
    rgba = mesh.vertex_colors.astype(np.float64)
    if mesh.vertex_colors.dtype == np.uint8:
        rgba /= 255.0
    if rgba.shape[1] == 3:
        rgba = np.column_stack([rgba, np.ones(len(rgba))])
    np.testing.assert_allclose(colors_of(marker), rgba[mesh.faces.reshape(-1)], atol=1e-6)


def test_uint8_colors_hit_the_ends_of_the_range():
    vertices = np.eye(3)
    faces = np.array([[0, 1, 2]])
    colors = np.array([[255, 0, 0, 255], [0, 255, 0, 128], [0, 0, 255, 0]], np.uint8)
    marker = mesh_marker(make_header(), OBJECT_NAMESPACE, 0, ColoredMesh(vertices, faces, colors))
    np.testing.assert_allclose(colors_of(marker), [[1, 0, 0, 1], [0, 1, 0, 128 / 255],
                                                   [0, 0, 1, 0]], atol=1e-7)


def test_float_colors_are_clipped():
    vertices = np.eye(3)
    faces = np.array([[2, 1, 0]])
    colors = np.array([[1.5, -0.5, 0.5], [0.0, 0.0, 0.0], [0.2, 0.4, 0.6]])
    marker = mesh_marker(make_header(), HAND_NAMESPACE, 0, ColoredMesh(vertices, faces, colors))
    np.testing.assert_allclose(colors_of(marker), [[0.2, 0.4, 0.6, 1], [0, 0, 0, 1],
                                                   [1, 0, 0.5, 1]], atol=1e-7)


@pytest.mark.parametrize('shape', [(5, 3), (42, 2), (42, 5), (42,), (42, 3, 1)])
def test_vertex_colors_of_wrong_shape(shape):
    mesh = random_mesh(5)
    assert len(mesh.vertices) == 42
    bad = ColoredMesh(mesh.vertices, mesh.faces, np.zeros(shape))
    with pytest.raises(ValueError, match=r'vertex_colors must be \(42, 3\|4\)'):
        mesh_marker(make_header(), HAND_NAMESPACE, 0, bad)


def test_invalid_mesh_raises():
    mesh = random_mesh(6)
    faces = mesh.faces.copy()
    faces[0, 0] = len(mesh.vertices)
    with pytest.raises(ValueError, match='faces index vertices'):
        MeshMarkerArrayBuilder().build(make_header(), {
            HAND_NAMESPACE: [ColoredMesh(mesh.vertices, faces)]})


def test_ids_stable_and_stale_markers_deleted_once():
    builder = MeshMarkerArrayBuilder()
    meshes = [random_mesh(seed) for seed in range(4)]
    first = builder.build(make_header(1), {HAND_NAMESPACE: meshes[:2],
                                           OBJECT_NAMESPACE: meshes[2:4]})
    assert summary(first) == [('hand', 0, Marker.ADD), ('hand', 1, Marker.ADD),
                              ('object', 0, Marker.ADD), ('object', 1, Marker.ADD)]
    # Next frame: one hand and one object fewer.
    header = make_header(2)
    second = builder.build(header, {HAND_NAMESPACE: meshes[:1], OBJECT_NAMESPACE: meshes[2:3]})
    assert summary(second) == [('hand', 0, Marker.ADD), ('hand', 1, Marker.DELETE),
                               ('object', 0, Marker.ADD), ('object', 1, Marker.DELETE)]
    for marker in second.markers:
        assert marker.header == header
    # The same meshes keep their ids, so RViz replaces them in place.
    np.testing.assert_array_equal(points_of(second.markers[0]), points_of(first.markers[0]))
    # Deleted only once.
    third = builder.build(make_header(3), {HAND_NAMESPACE: meshes[:1],
                                           OBJECT_NAMESPACE: meshes[2:3]})
    assert summary(third) == [('hand', 0, Marker.ADD), ('object', 0, Marker.ADD)]
    # Coming back gets the old id again.
    fourth = builder.build(make_header(4), {HAND_NAMESPACE: meshes[:2]})
    assert summary(fourth) == [('hand', 0, Marker.ADD), ('hand', 1, Marker.ADD),
                               ('object', 0, Marker.DELETE)]
    np.testing.assert_array_equal(points_of(fourth.markers[1]), points_of(first.markers[1]))
    assert summary(builder.build(make_header(5), {HAND_NAMESPACE: meshes[:2]})) == [
        ('hand', 0, Marker.ADD), ('hand', 1, Marker.ADD)]


def test_whole_namespace_disappearing():
    builder = MeshMarkerArrayBuilder()
    builder.build(make_header(), {OBJECT_NAMESPACE: [random_mesh(0), random_mesh(1),
                                                     random_mesh(2)]})
    gone = builder.build(make_header(), {})
    assert summary(gone) == [('object', 0, Marker.DELETE), ('object', 1, Marker.DELETE),
                             ('object', 2, Marker.DELETE)]
    assert summary(builder.build(make_header(), {})) == []
    assert summary(builder.build(make_header(), {OBJECT_NAMESPACE: []})) == []


def test_empty_mesh_not_drawn():
    builder = MeshMarkerArrayBuilder()
    array = builder.build(make_header(), {HAND_NAMESPACE: [empty_mesh(), random_mesh(1)]})
    # The second mesh keeps id 1: ids are positions in the list.
    assert summary(array) == [('hand', 1, Marker.ADD)]
    # A mesh that became empty has its marker deleted.
    array = builder.build(make_header(), {HAND_NAMESPACE: [random_mesh(0), empty_mesh()]})
    assert summary(array) == [('hand', 0, Marker.ADD), ('hand', 1, Marker.DELETE)]
    # Vertices without faces are not drawn either.
    no_faces = ColoredMesh(np.eye(3), np.zeros((0, 3), np.int64))
    array = builder.build(make_header(), {HAND_NAMESPACE: [no_faces]})
    assert summary(array) == [('hand', 0, Marker.DELETE)]


def test_clear_gives_deleteall_and_forgets_ids():
    builder = MeshMarkerArrayBuilder()
    builder.build(make_header(), {HAND_NAMESPACE: [random_mesh(0), random_mesh(1)]})
    header = make_header(9)
    cleared = builder.clear(header)
    assert isinstance(cleared, MarkerArray)
    assert len(cleared.markers) == 1
    assert cleared.markers[0].action == Marker.DELETEALL
    assert cleared.markers[0].header == header
    # Everything is already gone in RViz: no DELETE for ids from before the clear.
    assert summary(builder.build(make_header(), {HAND_NAMESPACE: [random_mesh(0)]})) == [
        ('hand', 0, Marker.ADD)]
    assert summary(builder.build(make_header(), {})) == [('hand', 0, Marker.DELETE)]


def test_builders_are_independent():
    first, second = MeshMarkerArrayBuilder(), MeshMarkerArrayBuilder()
    first.build(make_header(), {HAND_NAMESPACE: [random_mesh(0)]})
    assert summary(second.build(make_header(), {})) == []
    assert summary(first.build(make_header(), {})) == [('hand', 0, Marker.DELETE)]


@pytest.mark.parametrize('colors', [None, 'float4', 'uint8_rgb'])
def test_serialized_markers_are_what_rclpy_writes(colors):
    """The bytes the node publishes decode to the markers built from message objects."""
    builder = MeshMarkerArrayBuilder()
    builder.build(make_header(), {OBJECT_NAMESPACE: [random_mesh(7)] * 2})
    array = builder.build(make_header(3), {HAND_NAMESPACE: [random_mesh(8, colors)],
                                           OBJECT_NAMESPACE: [random_mesh(9, colors)]})
    assert summary(array)[-1] == ('object', 1, Marker.DELETE)
    data = cdr.serialize(array)
    plain = cdr.unpack(copy.deepcopy(array))
    assert all(isinstance(m.points, list) and not isinstance(m.points, cdr.Packed)
               for m in plain.markers)
    decoded = deserialize_message(data, MarkerArray)
    assert decoded == deserialize_message(serialize_message(plain), MarkerArray)
    for marker, built in zip(decoded.markers, array.markers, strict=True):
        np.testing.assert_array_equal(points_of(marker), points_of(built))
        np.testing.assert_allclose(colors_of(marker), colors_of(built), atol=0)


def test_caller_chosen_ids():
    """Meshes given as id -> mesh (e.g. track ids) keep those ids; stale ids are deleted."""
    builder = MeshMarkerArrayBuilder()
    first = builder.build(make_header(), {HAND_NAMESPACE: {7: random_mesh(0), 3: random_mesh(1)}})
    assert summary(first) == [('hand', 3, Marker.ADD), ('hand', 7, Marker.ADD)]
    assert builder.showing
    second = builder.build(make_header(), {HAND_NAMESPACE: {3: random_mesh(1)}})
    assert summary(second) == [('hand', 3, Marker.ADD), ('hand', 7, Marker.DELETE)]
    builder.clear(make_header())
    assert not builder.showing
