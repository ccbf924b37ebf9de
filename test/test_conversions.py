"""Messages <-> numpy: images, camera info, points, meshes (ros.conversions, ros.points)."""

import sys

from geometry_msgs.msg import Point
import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, Image, RegionOfInterest
from shape_msgs.msg import Mesh, MeshTriangle
from std_msgs.msg import Header
import trimesh

from c2f_sdf_ros.geometry.camera import CameraIntrinsics
from c2f_sdf_ros.ros.conversions import (
    camera_info_to_intrinsics,
    check_mesh_arrays,
    color_image_to_rgb,
    depth_image_to_m,
    image_to_numpy,
    intrinsics_to_camera_info,
    mesh_from_msg,
    mesh_to_msg,
    numpy_to_image,
)
from c2f_sdf_ros.ros.image_codec import ENCODINGS
from c2f_sdf_ros.ros.points import points_from_array, points_to_array

HEIGHT, WIDTH = 6, 9
CAMERA = CameraIntrinsics(640, 480, 600.0, 605.0, 319.5, 239.5, 'plumb_bob',
                          (0.1, -0.05, 0.001, 0.002, 0.01))


def random_image(encoding, seed=0):
    rng = np.random.default_rng(seed)
    layout = ENCODINGS[encoding]
    shape = (HEIGHT, WIDTH) if layout.channels == 1 else (HEIGHT, WIDTH, layout.channels)
    if layout.dtype.kind == 'f':
        return rng.uniform(-5, 5, shape).astype(layout.dtype)
    info = np.iinfo(layout.dtype)
    return rng.integers(info.min, info.max, shape, endpoint=True, dtype=layout.dtype)


def make_header(frame_id='camera_color_optical_frame', sec=17, nanosec=250):
    header = Header(frame_id=frame_id)
    header.stamp.sec = sec
    header.stamp.nanosec = nanosec
    return header


# Images ---------------------------------------------------------------------------------


@pytest.mark.parametrize('encoding', sorted(ENCODINGS))
def test_image_round_trip(encoding):
    image = random_image(encoding, seed=1)
    header = make_header()
    msg = numpy_to_image(image, encoding, header=header)
    assert isinstance(msg, Image)
    assert (msg.height, msg.width, msg.encoding) == (HEIGHT, WIDTH, encoding)
    assert msg.step == WIDTH * ENCODINGS[encoding].pixel_bytes
    assert msg.is_bigendian == int(sys.byteorder == 'big')
    assert len(msg.data) == msg.step * msg.height
    assert msg.header == header
    decoded = image_to_numpy(msg)
    assert decoded.dtype == image.dtype
    np.testing.assert_array_equal(decoded, image)


@pytest.mark.parametrize('encoding', sorted(ENCODINGS))
def test_image_round_trip_padded_step(encoding):
    image = random_image(encoding, seed=2)
    step = WIDTH * ENCODINGS[encoding].pixel_bytes + 3
    msg = numpy_to_image(image, encoding, step=step)
    assert msg.step == step
    assert len(msg.data) == step * HEIGHT
    np.testing.assert_array_equal(image_to_numpy(msg), image)


def test_image_without_header_has_default_header():
    msg = numpy_to_image(np.zeros((2, 2), np.uint8), 'mono8')
    assert msg.header == Header()


def test_hand_built_big_endian_message():
    # A message from a big-endian machine, rows padded to 8 bytes.
    depth_mm = np.array([[0, 1000, 2500], [65535, 1, 300]], np.uint16)
    rows = [depth_mm[r].astype('>u2').tobytes() + b'\0\0' for r in range(2)]
    msg = Image(height=2, width=3, encoding='16UC1', is_bigendian=1, step=8)
    msg.data = b''.join(rows)
    np.testing.assert_array_equal(image_to_numpy(msg), depth_mm)
    np.testing.assert_allclose(depth_image_to_m(msg), depth_mm / 1000.0, rtol=1e-6)


def test_truncated_message():
    msg = numpy_to_image(np.zeros((4, 4, 3), np.uint8), 'rgb8')
    msg.height = 5
    with pytest.raises(ValueError, match='truncated rgb8 image'):
        image_to_numpy(msg)


def test_color_image_to_rgb_all_color_encodings():
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 255, (HEIGHT, WIDTH, 3), endpoint=True, dtype=np.uint8)
    alpha = np.full((HEIGHT, WIDTH, 1), 9, np.uint8)
    cases = {
        'rgb8': rgb,
        'bgr8': rgb[:, :, ::-1],
        'rgba8': np.concatenate([rgb, alpha], axis=2),
        'bgra8': np.concatenate([rgb[:, :, ::-1], alpha], axis=2),
    }
    for encoding, image in cases.items():
        msg = numpy_to_image(image, encoding, step=image.shape[1] * image.shape[2] + 1)
        out = color_image_to_rgb(msg)
        assert out.shape == (HEIGHT, WIDTH, 3) and out.dtype == np.uint8
        np.testing.assert_array_equal(out, rgb, err_msg=encoding)
    mono = rgb[:, :, 1].copy()
    np.testing.assert_array_equal(color_image_to_rgb(numpy_to_image(mono, 'mono8')),
                                  np.stack([mono] * 3, axis=2))


@pytest.mark.parametrize('encoding', ['16UC1', 'mono16', '32FC1'])
def test_color_image_to_rgb_rejects_depth(encoding):
    msg = numpy_to_image(random_image(encoding), encoding)
    with pytest.raises(ValueError, match=rf"color image has encoding '{encoding}'"):
        color_image_to_rgb(msg)


def test_unknown_encoding_message():
    msg = Image(height=1, width=1, encoding='yuv422', step=2)
    msg.data = b'\0\0'
    with pytest.raises(ValueError, match="'yuv422'"):
        image_to_numpy(msg)
    with pytest.raises(ValueError, match="color image has encoding 'yuv422'"):
        color_image_to_rgb(msg)
    with pytest.raises(ValueError, match="depth image has encoding 'yuv422'"):
        depth_image_to_m(msg)


def test_depth_image_to_m():
    mm = np.array([[0, 1, 999], [1000, 12345, 65535]], np.uint16)
    for encoding in ('16UC1', 'mono16'):
        depth = depth_image_to_m(numpy_to_image(mm, encoding, step=2 * 3 + 1))
        assert depth.dtype == np.float32
        np.testing.assert_allclose(depth, mm / 1000.0, rtol=1e-6)
        assert depth[0, 0] == 0
    metres = np.array([[1.25, np.nan, -1.0], [np.inf, 0.0, 3.5]], np.float32)
    depth = depth_image_to_m(numpy_to_image(metres, '32FC1', step=4 * 3 + 3))
    np.testing.assert_array_equal(depth, [[1.25, 0, 0], [0, 0, 3.5]])


@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8'])
def test_depth_image_to_m_rejects_color(encoding):
    msg = numpy_to_image(random_image(encoding), encoding)
    with pytest.raises(ValueError, match=rf"depth image has encoding '{encoding}'"):
        depth_image_to_m(msg)


# Camera info ----------------------------------------------------------------------------


def test_camera_info_round_trip():
    header = make_header()
    msg = intrinsics_to_camera_info(CAMERA, header=header)
    assert isinstance(msg, CameraInfo)
    assert msg.header == header
    assert (msg.width, msg.height) == (640, 480)
    assert msg.distortion_model == 'plumb_bob'
    np.testing.assert_array_equal(msg.k, CAMERA.K.ravel())
    np.testing.assert_array_equal(msg.r, np.eye(3).ravel())
    np.testing.assert_array_equal(np.reshape(msg.p, (3, 4)),
                                  np.column_stack([CAMERA.K, np.zeros(3)]))
    assert tuple(msg.d) == CAMERA.distortion
    assert camera_info_to_intrinsics(msg) == CAMERA


@pytest.mark.parametrize('camera', [
    CameraIntrinsics(1280, 720, 900.5, 901.25, 640.1, 360.7, 'rational_polynomial',
                     tuple(np.linspace(-0.1, 0.1, 8))),
    CameraIntrinsics(64, 48, 50.0, 50.0, 31.5, 23.5, 'equidistant', (0.1, 0.2, 0.3, 0.4)),
    CameraIntrinsics(10, 10, 1.0, 2.0, -3.0, 12.0, '', ()),
])
def test_camera_info_round_trip_models(camera):
    msg = intrinsics_to_camera_info(camera)
    assert msg.header == Header()
    assert camera_info_to_intrinsics(msg) == camera


def test_uncalibrated_camera_info():
    msg = CameraInfo(width=640, height=480)
    with pytest.raises(ValueError, match='uncalibrated'):
        camera_info_to_intrinsics(msg)


@pytest.mark.parametrize('edit,message', [
    (lambda k: k.__setitem__(1, 0.5), 'not a pinhole'),
    (lambda k: k.__setitem__(0, -600.0), 'focal lengths must be positive'),
    (lambda k: k.__setitem__(8, 0.0), 'not a pinhole'),
])
def test_invalid_camera_info(edit, message):
    msg = intrinsics_to_camera_info(CAMERA)
    k = list(msg.k)
    edit(k)
    msg.k = k
    with pytest.raises(ValueError, match=message):
        camera_info_to_intrinsics(msg)


def test_camera_info_zero_size():
    msg = intrinsics_to_camera_info(CAMERA)
    msg.width = 0
    with pytest.raises(ValueError, match='image size must be positive'):
        camera_info_to_intrinsics(msg)


def test_camera_info_roi():
    msg = intrinsics_to_camera_info(CAMERA)
    msg.roi = RegionOfInterest(x_offset=100, y_offset=50, width=200, height=120)
    camera = camera_info_to_intrinsics(msg)
    assert camera.size == (200, 120)
    assert (camera.fx, camera.fy) == (CAMERA.fx, CAMERA.fy)
    assert (camera.cx, camera.cy) == (CAMERA.cx - 100, CAMERA.cy - 50)
    assert camera.distortion == CAMERA.distortion
    # A point lands on the same physical pixel, in cropped coordinates.
    point = np.array([[0.1, -0.05, 1.0]])
    np.testing.assert_allclose(camera.project(point), CAMERA.project(point) - [100, 50])


def test_camera_info_roi_half_set_is_ignored():
    msg = intrinsics_to_camera_info(CAMERA)
    msg.roi = RegionOfInterest(x_offset=100, y_offset=50, width=200, height=0)
    assert camera_info_to_intrinsics(msg) == CAMERA


def test_camera_info_binning():
    msg = intrinsics_to_camera_info(CAMERA)
    msg.binning_x = 2
    msg.binning_y = 4
    camera = camera_info_to_intrinsics(msg)
    assert camera.size == (320, 120)
    assert camera == CAMERA.scaled(0.5, 0.25)
    point = np.array([[0.2, 0.1, 2.0]])
    u, v = CAMERA.project(point)[0]
    np.testing.assert_allclose(camera.project(point)[0], [(u + 0.5) / 2 - 0.5,
                                                          (v + 0.5) / 4 - 0.5])


def test_camera_info_binning_zero_or_one_means_none():
    msg = intrinsics_to_camera_info(CAMERA)
    msg.binning_x, msg.binning_y = 0, 1
    assert camera_info_to_intrinsics(msg) == CAMERA


def test_camera_info_roi_then_binning():
    msg = intrinsics_to_camera_info(CAMERA)
    # ROI in full-resolution coordinates, binned afterwards.
    msg.roi = RegionOfInterest(x_offset=64, y_offset=32, width=320, height=240)
    msg.binning_x = msg.binning_y = 2
    camera = camera_info_to_intrinsics(msg)
    assert camera.size == (160, 120)
    point = np.array([[-0.1, 0.2, 1.5]])
    u, v = CAMERA.project(point)[0]
    np.testing.assert_allclose(camera.project(point)[0],
                               [(u - 64 + 0.5) / 2 - 0.5, (v - 32 + 0.5) / 2 - 0.5])


# Points and meshes ----------------------------------------------------------------------


def test_points_round_trip():
    rng = np.random.default_rng(4)
    points = rng.standard_normal((50, 3))
    msgs = points_from_array(points)
    assert len(msgs) == 50 and all(isinstance(p, Point) for p in msgs)
    assert (msgs[7].x, msgs[7].y, msgs[7].z) == tuple(points[7])
    back = points_to_array(msgs)
    assert back.dtype == np.float64
    np.testing.assert_array_equal(back, points)
    assert points_from_array(np.zeros((0, 3))) == []
    assert points_to_array([]).shape == (0, 3)


@pytest.mark.parametrize('shape', [(3,), (4, 2), (2, 3, 1)])
def test_points_wrong_shape(shape):
    with pytest.raises(ValueError, match=r'points must be \(N, 3\)'):
        points_from_array(np.zeros(shape))


def test_mesh_round_trip_icosphere():
    sphere = trimesh.creation.icosphere(subdivisions=3)
    assert len(sphere.faces) > 1000
    vertices = np.asarray(sphere.vertices) * 0.05 + [0.1, -0.2, 0.6]
    msg = mesh_to_msg(vertices, sphere.faces)
    assert isinstance(msg, Mesh)
    assert len(msg.vertices) == len(vertices) and len(msg.triangles) == len(sphere.faces)
    assert list(msg.triangles[5].vertex_indices) == list(sphere.faces[5])
    out_vertices, out_faces = mesh_from_msg(msg)
    assert out_vertices.dtype == np.float64 and out_faces.dtype == np.int64
    np.testing.assert_array_equal(out_vertices, vertices)
    np.testing.assert_array_equal(out_faces, sphere.faces)


def test_mesh_round_trip_from_lists_and_uint32():
    vertices = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
    faces = np.array([[0, 1, 2], [0, 3, 1]], np.uint32)
    out_vertices, out_faces = mesh_from_msg(mesh_to_msg(vertices, faces))
    np.testing.assert_array_equal(out_vertices, vertices)
    np.testing.assert_array_equal(out_faces, faces)


def test_empty_mesh():
    vertices, faces = mesh_from_msg(mesh_to_msg(np.zeros((0, 3)), np.zeros((0, 3), np.int64)))
    assert vertices.shape == (0, 3) and faces.shape == (0, 3)
    vertices, faces = mesh_from_msg(Mesh())
    assert vertices.shape == (0, 3) and faces.shape == (0, 3) and faces.dtype == np.int64


@pytest.mark.parametrize('vertices,faces,message', [
    (np.zeros((3, 3)), [[0, 1, 3]], r'faces index vertices 0\.\.2, got 0\.\.3'),
    (np.zeros((3, 3)), [[0, -1, 2]], r'faces index vertices 0\.\.2, got -1\.\.2'),
    (np.zeros((0, 3)), [[0, 0, 0]], 'faces index vertices'),
    ([[0, 0, np.nan], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]], 'vertices must be finite'),
    ([[0, 0, np.inf], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]], 'vertices must be finite'),
    (np.zeros((3, 2)), [[0, 1, 2]], r'vertices must be \(V, 3\)'),
    (np.zeros(9), [[0, 1, 2]], r'vertices must be \(V, 3\)'),
    (np.zeros((3, 3)), [0, 1, 2], r'faces must be integer \(F, 3\)'),
    (np.zeros((3, 3)), [[0, 1, 2, 0]], r'faces must be integer \(F, 3\)'),
    (np.zeros((3, 3)), [[0.0, 1.0, 2.0]], r'faces must be integer \(F, 3\), got float64'),
])
def test_mesh_errors(vertices, faces, message):
    with pytest.raises(ValueError, match=message):
        mesh_to_msg(vertices, faces)
    with pytest.raises(ValueError, match=message):
        check_mesh_arrays(vertices, faces)


def test_mesh_from_msg_with_bad_index():
    msg = mesh_to_msg(np.eye(3), [[0, 1, 2]])
    msg.triangles.append(MeshTriangle(vertex_indices=[0, 1, 7]))
    with pytest.raises(ValueError, match=r'got 0\.\.7'):
        mesh_from_msg(msg)


def test_mesh_without_triangles_round_trips_from_a_plain_empty_list():
    from c2f_sdf_ros.ros.conversions import mesh_from_msg, mesh_to_msg

    msg = mesh_to_msg(np.zeros((2, 3)), [])
    vertices, faces = mesh_from_msg(msg)
    assert vertices.shape == (2, 3) and faces.shape == (0, 3)


# -- cdr: messages serialized from numpy arrays ---------------------------------------------
def _same_wire_content(message):
    """cdr.serialize writes what rclpy writes (compared decoded: rclpy pads with garbage)."""
    from rclpy.serialization import deserialize_message, serialize_message

    from c2f_sdf_ros.ros import cdr

    ours, theirs = cdr.serialize(message), serialize_message(message)
    assert ours[:4] == theirs[:4] == cdr.CDR_LE_HEADER
    assert 0 <= len(theirs) - len(ours) <= 7
    assert deserialize_message(ours, type(message)) == deserialize_message(theirs, type(message))


def test_cdr_matches_rclpy_on_every_field_kind():
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
    from visualization_msgs.msg import Marker, MarkerArray

    from c2f_sdf_ros.msg import Contact, HandObjectReconstruction, HandReconstruction

    marker = Marker(ns='hand', id=-3, type=Marker.TRIANGLE_LIST, text='ü', frame_locked=True)
    marker.points = points_from_array(np.random.default_rng(0).normal(size=(5, 3)))
    marker.texture.data = bytes(range(7))        # uint8[] after a string: alignment
    marker.mesh_file.data = [1, 2, 3]
    message = HandObjectReconstruction(sdf_query_count=2**40)
    message.hands = [HandReconstruction(side=HandReconstruction.SIDE_LEFT, confidence=0.25,
                                        mesh=mesh_to_msg(np.eye(3), [[0, 1, 2]]))]
    message.contacts = [Contact(distance=-0.002, hand_part=Contact.PART_THUMB)]
    status = DiagnosticStatus(level=DiagnosticStatus.WARN, name='a', message='b',
                              values=[KeyValue(key='k', value='v')])
    info = intrinsics_to_camera_info(CAMERA)
    for msg in (Header(frame_id='x'), Marker(), MarkerArray(markers=[marker, Marker(), marker]),
                message, DiagnosticArray(status=[status, status]), info,
                numpy_to_image(random_image('16UC1'), '16UC1'),
                numpy_to_image(random_image('rgb8'), 'rgb8')):
        _same_wire_content(msg)


def test_cdr_packed_mesh_is_the_plain_mesh():
    from rclpy.serialization import deserialize_message

    from c2f_sdf_ros.ros import cdr

    sphere = trimesh.creation.icosphere(subdivisions=2)
    packed = mesh_to_msg(sphere.vertices, sphere.faces, packed=True)
    assert isinstance(packed.vertices, cdr.Packed) and len(packed.vertices) == 0
    plain = mesh_to_msg(sphere.vertices, sphere.faces)
    assert deserialize_message(cdr.serialize(packed), Mesh) == plain
    vertices, faces = mesh_from_msg(packed)
    np.testing.assert_array_equal(vertices, sphere.vertices)
    np.testing.assert_array_equal(faces, sphere.faces)
    assert cdr.unpack(packed) == plain
    empty = mesh_to_msg(np.zeros((0, 3)), np.zeros((0, 3), np.int64), packed=True)
    assert deserialize_message(cdr.serialize(empty), Mesh) == Mesh()


def test_cdr_flat_layouts_and_refusals():
    from c2f_sdf_ros.msg import Contact
    from c2f_sdf_ros.ros import cdr

    assert cdr.flat_layout(Point) == ('d', 3)
    assert cdr.flat_layout(MeshTriangle) == ('I', 3)
    assert cdr.flat_layout(Contact) is None      # mixed types
    bad = Mesh(vertices=cdr.Packed(np.zeros((4, 2))))
    with pytest.raises(ValueError, match=r'\(N, 3\)'):
        cdr.serialize(bad)


# -- one RGB-D frame from messages: robustness ------------------------------------------------
def _triple(depth_m, depth_encoding='16UC1', size=(8, 6)):
    width, height = size
    camera = CameraIntrinsics(width, height, 10.0, 10.0, width / 2, height / 2)
    color = numpy_to_image(np.full((height, width, 3), 120, np.uint8), 'rgb8')
    if depth_encoding == '16UC1':
        depth = numpy_to_image(np.rint(depth_m * 1000).astype(np.uint16), '16UC1')
    else:
        depth = numpy_to_image(depth_m.astype(np.float32), '32FC1')
    return color, depth, intrinsics_to_camera_info(camera)


def test_float_depth_in_millimetres_is_converted_with_a_warning():
    from c2f_sdf_ros.ros.rgbd_frame import frame_from_messages

    depth_m = np.full((6, 8), 0.6)
    depth_m[0, :3] = 0.0
    metres = frame_from_messages(*_triple(depth_m, '32FC1'), warnings=(warnings := []))
    assert warnings == []
    millimetres = frame_from_messages(*_triple(depth_m * 1000, '32FC1'), warnings=warnings)
    np.testing.assert_allclose(millimetres.depth, metres.depth, rtol=1e-6)
    [(key, text)] = warnings
    assert key == 'float_depth_in_mm'
    assert 'looks like millimetres' in text and 'median valid value 600.0' in text


def test_float_depth_in_millimetres_rejected_by_parameter():
    from c2f_sdf_ros.ros.rgbd_frame import FrameRejected, frame_from_messages

    with pytest.raises(FrameRejected, match='looks like millimetres') as error:
        frame_from_messages(*_triple(np.full((6, 8), 600.0), '32FC1'), 'reject')
    assert error.value.reason == 'depth_encoding'
    # 16UC1 is millimetres by definition: never taken for a unit mistake.
    frame_from_messages(*_triple(np.full((6, 8), 30.0)), 'reject')


@pytest.mark.parametrize('which', ['color', 'depth', 'both'])
def test_zero_size_image_is_malformed_not_camera_info(which):
    from c2f_sdf_ros.ros.rgbd_frame import FrameRejected, frame_from_messages

    color, depth, info = _triple(np.full((6, 8), 0.5))
    if which in ('color', 'both'):
        color = Image(encoding='rgb8')
    if which in ('depth', 'both'):
        depth = Image(encoding='16UC1')
    info.width = info.height = 0     # a 0x0 camera_info too: still the image's fault
    with pytest.raises(FrameRejected, match='0x0') as error:
        frame_from_messages(color, depth, info)
    assert error.value.reason == 'malformed_image'


def test_keyed_throttle_keeps_a_rare_reason_visible():
    from c2f_sdf_ros.ros.diagnostics import KeyedThrottle

    now = [0.0]
    throttle = KeyedThrottle(5.0, clock=lambda: now[0])
    logged = []
    for step in range(100):           # 'size_mismatch' every 0.1 s, 'camera_info' twice
        now[0] = step * 0.1
        for reason in ['size_mismatch'] + (['camera_info'] if step in (3, 70) else []):
            if throttle.ready(reason):
                logged.append((round(now[0], 1), reason))
    assert logged == [(0.0, 'size_mismatch'), (0.3, 'camera_info'), (5.0, 'size_mismatch'),
                      (7.0, 'camera_info')]
