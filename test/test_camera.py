"""Pinhole intrinsics, calibration files and depth unit conversions (geometry.camera/depth)."""

from hypothesis import given, settings
from hypothesis import strategies as st
import numpy as np
import pytest
import yaml

from c2f_sdf_ros.geometry.camera import CameraIntrinsics, load_camera_yaml, save_camera_yaml
from c2f_sdf_ros.geometry.depth import MAX_DEPTH_MM, depth_m_to_mm, depth_mm_to_m
from c2f_sdf_ros.geometry.rgbd import REASONS, FrameError, check_intrinsics, check_rgbd


def make_camera(**overrides):
    values = dict(width=640, height=480, fx=600.0, fy=610.0, cx=319.5, cy=241.25)
    values.update(overrides)
    return CameraIntrinsics(**values)


def random_depth(camera, seed=0):
    rng = np.random.default_rng(seed)
    depth = rng.uniform(0.3, 3.0, size=(camera.height, camera.width)).astype(np.float32)
    depth[rng.random(depth.shape) < 0.1] = 0.0
    depth[rng.random(depth.shape) < 0.05] = np.nan
    depth[rng.random(depth.shape) < 0.02] = -1.0
    return depth


# Construction ---------------------------------------------------------------------------


def test_defaults_and_matrix():
    camera = make_camera()
    assert camera.size == (640, 480)
    assert camera.distortion_model == 'plumb_bob'
    assert camera.distortion == (0.0,) * 5
    np.testing.assert_array_equal(camera.K, [[600, 0, 319.5], [0, 610, 241.25], [0, 0, 1]])
    assert camera.K.dtype == np.float64


def test_from_matrix_3x3_and_flat():
    K = [[500.0, 0, 320.0], [0, 505.0, 240.0], [0, 0, 1]]
    camera = CameraIntrinsics.from_matrix(K, 640, 480, 'rational_polynomial', [0.1] * 8)
    assert (camera.fx, camera.fy, camera.cx, camera.cy) == (500, 505, 320, 240)
    assert camera.distortion_model == 'rational_polynomial'
    assert camera.distortion == (0.1,) * 8
    assert CameraIntrinsics.from_matrix(np.ravel(K), 640, 480) == CameraIntrinsics.from_matrix(
        K, 640, 480)
    np.testing.assert_array_equal(camera.K, K)


@pytest.mark.parametrize('entry', [(0, 1), (1, 0), (2, 0), (2, 1)])
def test_from_matrix_rejects_skew_and_bad_last_row(entry):
    K = np.array([[500.0, 0, 320.0], [0, 505.0, 240.0], [0, 0, 1]])
    K[entry] = 0.5
    with pytest.raises(ValueError, match='not a pinhole camera matrix'):
        CameraIntrinsics.from_matrix(K, 640, 480)


def test_from_matrix_rejects_homogeneous_scale():
    K = 2 * np.array([[500.0, 0, 320.0], [0, 505.0, 240.0], [0, 0, 1]])
    with pytest.raises(ValueError, match='last row 0 0 1'):
        CameraIntrinsics.from_matrix(K, 640, 480)


@pytest.mark.parametrize('K', [np.eye(2), np.zeros(8), np.zeros((3, 4)), []])
def test_from_matrix_wrong_size(K):
    with pytest.raises(ValueError, match='K must have 9 elements'):
        CameraIntrinsics.from_matrix(K, 640, 480)


@pytest.mark.parametrize('overrides,message', [
    (dict(width=0), 'image size must be positive'),
    (dict(height=-480), 'image size must be positive'),
    (dict(fx=0.0), 'focal lengths must be positive'),
    (dict(fy=-1.0), 'focal lengths must be positive'),
    (dict(fx=float('nan')), 'must be finite'),
    (dict(cy=float('inf')), 'must be finite'),
    (dict(distortion=(0.0, float('nan'))), 'must be finite'),
])
def test_invalid_intrinsics(overrides, message):
    with pytest.raises(ValueError, match=message):
        make_camera(**overrides)


def test_values_are_normalised():
    camera = make_camera(width=np.int64(64), height=48.0, distortion=[1, 2])
    assert type(camera.width) is int and type(camera.height) is int
    assert camera.distortion == (1.0, 2.0)
    assert all(type(v) is float for v in camera.distortion)


# Projection -----------------------------------------------------------------------------


def test_project_known_points():
    camera = make_camera()
    uv = camera.project([[0.0, 0.0, 2.0], [1.0, -0.5, 2.0]])
    np.testing.assert_allclose(uv, [[319.5, 241.25], [319.5 + 300, 241.25 - 152.5]])


def test_backproject_project_round_trip():
    camera = make_camera()
    depth = random_depth(camera)
    points = camera.backproject(depth)
    assert points.shape == (480, 640, 3) and points.dtype == np.float32
    valid = depth > 0
    assert 0 < valid.sum() < depth.size
    # Invalid pixels (0, NaN, negative) are NaN in every coordinate.
    assert np.isnan(points[~valid]).all()
    assert np.isfinite(points[valid]).all()
    np.testing.assert_array_equal(points[valid][:, 2], depth[valid])
    v, u = np.nonzero(valid)
    uv = camera.project(points[valid])
    np.testing.assert_allclose(uv, np.stack([u, v], axis=1), atol=2e-3)


def test_backproject_accepts_lists_and_float64():
    camera = make_camera(width=2, height=2, cx=0.5, cy=0.5, fx=1.0, fy=1.0)
    points = camera.backproject([[1.0, 2.0], [0.0, 4.0]])
    np.testing.assert_allclose(points[0, 0], [-0.5, -0.5, 1.0])
    np.testing.assert_allclose(points[0, 1], [1.0, -1.0, 2.0])
    assert np.isnan(points[1, 0]).all()
    np.testing.assert_allclose(points[1, 1], [2.0, 2.0, 4.0])


def test_backproject_known_values_with_a_real_cameras_intrinsics():
    # ZED 2i at 720p: fx != fy, principal point off the image centre.
    camera = CameraIntrinsics(1280, 720, 691.37, 692.51, 652.3, 356.8)
    depth = np.zeros((720, 1280), np.float32)
    depth[600, 100] = 0.8          # (v, u): bottom left
    depth[20, 1200] = 2.0          # top right
    depth[356, 652] = 1.0          # next to the principal point
    points = camera.backproject(depth)
    np.testing.assert_allclose(points[600, 100], [(100 - 652.3) * 0.8 / 691.37,
                                                  (600 - 356.8) * 0.8 / 692.51, 0.8],
                               rtol=1e-6)
    np.testing.assert_allclose(points[20, 1200], [(1200 - 652.3) * 2.0 / 691.37,
                                                  (20 - 356.8) * 2.0 / 692.51, 2.0],
                               rtol=1e-6)
    # float32 pixel arithmetic: u - cx is good to ~6e-5 px around 652.
    np.testing.assert_allclose(points[356, 652], [-0.3 / 691.37, -0.8 / 692.51, 1.0],
                               atol=2e-7)
    np.testing.assert_allclose(camera.project(points[[600, 20], [100, 1200]]),
                               [[100, 600], [1200, 20]], atol=1e-3)
    # Swapping fx and fy (or cx and cy) moves the point: nothing here hides such a swap.
    swapped = CameraIntrinsics(1280, 720, 692.51, 691.37, 652.3, 356.8)
    assert np.abs(swapped.backproject(depth)[600, 100] - points[600, 100]).max() > 5e-4


@settings(max_examples=80, deadline=None)
@given(fx=st.floats(100.0, 3000.0), fy=st.floats(100.0, 3000.0),
       cx=st.floats(-5.0, 20.0), cy=st.floats(-5.0, 15.0), width=st.integers(1, 16),
       height=st.integers(1, 12), z=st.floats(0.1, 20.0), seed=st.integers(0, 2**16))
def test_project_inverts_backproject_for_any_pinhole(fx, fy, cx, cy, width, height, z, seed):
    camera = CameraIntrinsics(width, height, fx, fy, cx, cy)
    depth = np.random.default_rng(seed).uniform(0.5, 1.5, (height, width)) * z
    points = camera.backproject(depth).reshape(-1, 3)
    v, u = np.indices((height, width))
    np.testing.assert_allclose(camera.project(points), np.stack([u.ravel(), v.ravel()], 1),
                               atol=2e-3)
    np.testing.assert_allclose(points[:, 0] * fx / points[:, 2] + cx, u.ravel(), atol=2e-3)
    np.testing.assert_allclose(points[:, 1] * fy / points[:, 2] + cy, v.ravel(), atol=2e-3)


@settings(max_examples=80, deadline=None)
@given(fx=st.floats(100.0, 3000.0), fy=st.floats(100.0, 3000.0),
       cx=st.floats(0.0, 640.0), cy=st.floats(0.0, 480.0),
       point=st.tuples(st.floats(-2.0, 2.0), st.floats(-2.0, 2.0), st.floats(0.05, 10.0)))
def test_projection_is_the_pinhole_model(fx, fy, cx, cy, point):
    camera = CameraIntrinsics(640, 480, fx, fy, cx, cy)
    x, y, z = point
    np.testing.assert_allclose(camera.project([point])[0], [fx * x / z + cx, fy * y / z + cy],
                               rtol=1e-12, atol=1e-9)
    # K agrees with project: K @ p / z.
    homogeneous = camera.K @ np.array(point)
    np.testing.assert_allclose(homogeneous[:2] / homogeneous[2], camera.project([point])[0],
                               rtol=1e-12, atol=1e-9)


def test_backproject_wrong_shape():
    camera = make_camera()
    with pytest.raises(ValueError, match=r'depth is \(480, 640\) \(w, h\) but the camera is '
                                         r'\(640, 480\)'):
        camera.backproject(np.zeros((640, 480)))


@pytest.mark.parametrize('points,message', [
    (np.zeros((3, 2)), r'points must be \(N, 3\)'),
    (np.zeros(3), r'points must be \(N, 3\)'),
    ([[0.0, 0.0, 0.0]], 'behind the camera'),
    ([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]], 'behind the camera'),
])
def test_project_invalid(points, message):
    with pytest.raises(ValueError, match=message):
        make_camera().project(points)


def test_scaled_halves_camera_consistently():
    camera = make_camera()
    half = camera.scaled(0.5)
    assert half.size == (320, 240)
    assert (half.fx, half.fy) == (300.0, 305.0)
    # Pixel centres are at integers: the centre of pixel (0, 0) maps to (-0.25, -0.25).
    assert (half.cx, half.cy) == ((319.5 + 0.5) * 0.5 - 0.5, (241.25 + 0.5) * 0.5 - 0.5)
    rng = np.random.default_rng(1)
    points = np.column_stack([rng.uniform(-1, 1, 50), rng.uniform(-1, 1, 50),
                              rng.uniform(0.5, 4, 50)])
    uv = camera.project(points)
    np.testing.assert_allclose(half.project(points), (uv + 0.5) * 0.5 - 0.5, atol=1e-9)


def test_scaled_anisotropic_and_back():
    camera = make_camera(distortion_model='equidistant', distortion=(0.1, 0.2, 0.3, 0.4))
    scaled = camera.scaled(2.0, 0.25)
    assert scaled.size == (1280, 120)
    assert (scaled.fx, scaled.fy) == (1200.0, 152.5)
    assert scaled.distortion_model == 'equidistant'
    assert scaled.distortion == camera.distortion
    point = np.array([[0.3, -0.2, 1.7]])
    u, v = camera.project(point)[0]
    np.testing.assert_allclose(scaled.project(point)[0],
                               [(u + 0.5) * 2.0 - 0.5, (v + 0.5) * 0.25 - 0.5])
    back = scaled.scaled(0.5, 4.0)
    assert back.size == camera.size
    np.testing.assert_allclose([back.fx, back.fy, back.cx, back.cy],
                               [camera.fx, camera.fy, camera.cx, camera.cy])


@pytest.mark.parametrize('scale', [(0.0,), (-1.0,), (1.0, 0.0)])
def test_scaled_rejects_non_positive(scale):
    with pytest.raises(ValueError, match='scale factors must be positive'):
        make_camera().scaled(*scale)


# Calibration files ----------------------------------------------------------------------


def test_yaml_round_trip(tmp_path):
    camera = make_camera(fx=612.3456789012345, cx=318.123456789, distortion=(
        0.11, -0.22, 1e-4, -2e-5, 0.033))
    path = tmp_path / 'camera.yaml'
    save_camera_yaml(path, camera, camera_name='rgb')
    assert load_camera_yaml(path) == camera
    assert load_camera_yaml(str(path)) == camera
    data = yaml.safe_load(path.read_text())
    assert data['camera_name'] == 'rgb'
    assert data['camera_matrix'] == {'rows': 3, 'cols': 3, 'data': camera.K.ravel().tolist()}
    assert data['projection_matrix']['data'] == [camera.fx, 0, camera.cx, 0, 0, camera.fy,
                                                 camera.cy, 0, 0, 0, 1, 0]
    assert data['distortion_coefficients']['cols'] == 5


@pytest.mark.parametrize('model,distortion', [
    ('rational_polynomial', tuple(np.linspace(-0.5, 0.5, 8))),
    ('', ()),
])
def test_yaml_round_trip_other_models(tmp_path, model, distortion):
    camera = make_camera(distortion_model=model, distortion=distortion)
    save_camera_yaml(tmp_path / 'c.yaml', camera)
    assert load_camera_yaml(tmp_path / 'c.yaml') == camera


ROS_CALIBRATION = """\
image_width: 640
image_height: 480
camera_name: narrow_stereo
camera_matrix:
  rows: 3
  cols: 3
  data: [615.1, 0, 322.5, 0, 614.9, 238.7, 0, 0, 1]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [0.1, -0.2, 0.001, 0.002, 0]
rectification_matrix:
  rows: 3
  cols: 3
  data: [1, 0, 0, 0, 1, 0, 0, 0, 1]
projection_matrix:
  rows: 3
  cols: 4
  data: [615.1, 0, 322.5, 0, 0, 614.9, 238.7, 0, 0, 0, 1, 0]
"""


def test_load_camera_calibration_parsers_file(tmp_path):
    path = tmp_path / 'ost.yaml'
    path.write_text(ROS_CALIBRATION)
    camera = load_camera_yaml(path)
    assert camera == CameraIntrinsics(640, 480, 615.1, 614.9, 322.5, 238.7, 'plumb_bob',
                                      (0.1, -0.2, 0.001, 0.002, 0.0))


def test_load_without_distortion_defaults(tmp_path):
    data = yaml.safe_load(ROS_CALIBRATION)
    del data['distortion_model'], data['distortion_coefficients']
    path = tmp_path / 'c.yaml'
    path.write_text(yaml.safe_dump(data))
    camera = load_camera_yaml(path)
    assert camera.distortion_model == 'plumb_bob'
    assert camera.distortion == (0.0,) * 5


def test_load_nested_camera_matrix(tmp_path):
    # Some tools write the matrix data as rows.
    data = yaml.safe_load(ROS_CALIBRATION)
    data['camera_matrix']['data'] = [[615.1, 0, 322.5], [0, 614.9, 238.7], [0, 0, 1]]
    path = tmp_path / 'c.yaml'
    path.write_text(yaml.safe_dump(data))
    assert load_camera_yaml(path).K.tolist() == data['camera_matrix']['data']


def _edited(edit):
    data = yaml.safe_load(ROS_CALIBRATION)
    edit(data)
    return yaml.safe_dump(data)


@pytest.mark.parametrize('text,message', [
    (_edited(lambda d: d.pop('image_width')), 'image_width and image_height'),
    (_edited(lambda d: d.pop('image_height')), 'image_width and image_height'),
    (_edited(lambda d: d.update(image_width='wide')), 'image_width and image_height'),
    (_edited(lambda d: d.pop('camera_matrix')), 'camera_matrix'),
    (_edited(lambda d: d.update(camera_matrix=[1, 2, 3])), 'camera_matrix'),
    (_edited(lambda d: d['camera_matrix'].pop('data')), 'camera_matrix'),
    (_edited(lambda d: d['camera_matrix'].update(data=[1.0] * 8)),
     '"camera_matrix" must have 9 values, got 8'),
    (_edited(lambda d: d['camera_matrix'].update(data=[1.0] * 12)),
     '"camera_matrix" must have 9 values, got 12'),
    (_edited(lambda d: d['camera_matrix'].update(data=['a'] * 9)), 'camera_matrix'),
    (_edited(lambda d: d['camera_matrix'].update(data=[{'a': 1}] * 9)), 'camera_matrix'),
    (_edited(lambda d: d['camera_matrix'].update(data=[615.1, 0.3, 322.5, 0, 614.9, 238.7,
                                                       0, 0, 1])), 'not a pinhole'),
    (_edited(lambda d: d['camera_matrix'].update(data=[-615.1, 0, 322.5, 0, 614.9, 238.7,
                                                       0, 0, 1])), 'focal lengths'),
    (_edited(lambda d: d.update(image_width=0)), 'image size must be positive'),
    (_edited(lambda d: d['distortion_coefficients'].pop('data')), 'distortion_coefficients'),
    (_edited(lambda d: d['distortion_coefficients'].update(data=['x'])),
     'distortion_coefficients'),
    (_edited(lambda d: d['distortion_coefficients'].update(data=None)), 'must be finite'),
    ('- 1\n- 2\n', 'expected a mapping'),
    ('just a string\n', 'expected a mapping'),
    ('', 'expected a mapping'),
    ('image_width: [1, 2\n', 'not valid YAML'),
])
def test_load_errors_name_the_file(tmp_path, text, message):
    path = tmp_path / 'broken_calibration.yaml'
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        load_camera_yaml(path)
    assert str(path) in str(info.value)


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_camera_yaml(tmp_path / 'nope.yaml')


# Depth units ----------------------------------------------------------------------------


def test_depth_mm_to_m():
    mm = np.array([[0, 1, 1000], [1500, 65535, 0]], np.uint16)
    m = depth_mm_to_m(mm)
    assert m.dtype == np.float32 and m.shape == mm.shape
    np.testing.assert_allclose(m, mm / 1000.0, rtol=1e-6)
    assert m[0, 0] == 0.0 and m[1, 2] == 0.0


@pytest.mark.parametrize('dtype', [np.int32, np.uint8, np.float32])
def test_depth_mm_to_m_needs_uint16(dtype):
    with pytest.raises(ValueError, match='millimetre depth must be uint16'):
        depth_mm_to_m(np.zeros((2, 2), dtype))


def test_every_millimetre_value_round_trips():
    mm = np.arange(MAX_DEPTH_MM + 1, dtype=np.uint16)
    np.testing.assert_array_equal(depth_m_to_mm(depth_mm_to_m(mm)), mm)


def test_metres_round_trip_to_a_millimetre():
    rng = np.random.default_rng(4)
    m = rng.uniform(0.001, 65.5, size=(100, 100))
    mm = depth_m_to_mm(m)
    assert mm.dtype == np.uint16 and mm.shape == m.shape
    back = depth_mm_to_m(mm)
    assert np.abs(back - m).max() <= 0.0005 + 1e-5
    np.testing.assert_array_equal(depth_m_to_mm(np.array([1.2344, 1.2346, 0.0004, 0.0006])),
                                  [1234, 1235, 0, 1])


def test_depth_m_to_mm_invalid_becomes_zero():
    m = np.array([[np.nan, -0.5, 0.0], [np.inf, -np.inf, 2.5]], np.float32)
    np.testing.assert_array_equal(depth_m_to_mm(m), [[0, 0, 0], [0, 0, 2500]])


def test_depth_m_to_mm_range():
    assert depth_m_to_mm(np.array([65.535]))[0] == 65535
    for too_far in (65.5356, 70.0, 1e9):
        with pytest.raises(ValueError, match='does not fit uint16 millimetres'):
            depth_m_to_mm(np.array([[1.0, too_far]]))
    assert depth_m_to_mm(np.zeros((0, 3))).shape == (0, 3)


def test_float32_metres_round_to_the_nearest_millimetre_of_their_exact_value():
    # float32(0.8205) is 0.82050001621...: 821 mm, which float32 arithmetic (820) misses.
    depth = np.array([[0.8205, 6.1575]], np.float32)
    np.testing.assert_array_equal(depth_m_to_mm(depth), [[821, 6157]])


# Frame checks (geometry.rgbd) ------------------------------------------------------------


K_GOOD = np.array([[500.0, 0, 320.0], [0, 505.0, 240.0], [0, 0, 1]])


@pytest.mark.parametrize('change', [
    {(0, 0): 0.0}, {(1, 1): 0.0}, {(0, 0): -1.0}, {(1, 1): -1.0}, {(0, 2): np.nan},
    {(2, 2): np.inf}])
def test_check_intrinsics_rejects_each_unusable_entry(change):
    K = K_GOOD.copy()
    for index, value in change.items():
        K[index] = value
    with pytest.raises(FrameError, match='positive focal lengths') as error:
        check_intrinsics(K)
    assert error.value.reason == 'camera_info'


def test_check_intrinsics_takes_any_positive_focal_and_needs_3x3():
    K = K_GOOD.copy()
    K[0, 0] = K[1, 1] = 0.5
    np.testing.assert_array_equal(check_intrinsics(K), K)
    ints = check_intrinsics([[500, 0, 320], [0, 505, 240], [0, 0, 1]])
    assert ints.dtype == np.float64
    with pytest.raises(FrameError, match='3x3'):
        check_intrinsics(np.hstack([K_GOOD, np.zeros((3, 1))]))


def test_check_rgbd_names_the_problem():
    color = np.zeros((4, 6, 3), np.uint8)
    depth = np.ones((4, 6), np.float32)
    with pytest.raises(FrameError, match=r'color must be \(H, W, 3\) uint8, got \(4, 6, 4\)'):
        check_rgbd(np.zeros((4, 6, 4), np.uint8), depth, K_GOOD)
    with pytest.raises(FrameError, match=r'depth \(5, 4\) and color \(6, 4\) sizes differ; '
                       r'the depth image must be aligned to color \(RealSense: '
                       r'align_depth.enable:=true\)$'):
        check_rgbd(color, np.ones((4, 5), np.float32), K_GOOD)
    with pytest.raises(FrameError, match=r'all zero, NaN or negative'):
        check_rgbd(color, np.zeros((4, 6), np.float32), K_GOOD)
    cleaned = check_rgbd(color, np.ones((4, 6)), K_GOOD)         # float64 in
    assert cleaned.dtype == np.float32


def test_frame_error_keeps_reason_and_detail_and_knows_its_reasons():
    error = FrameError('size_mismatch', 'depth is smaller')
    assert (error.reason, error.detail) == ('size_mismatch', 'depth is smaller')
    assert str(error) == 'size_mismatch: depth is smaller'
    assert set(REASONS) >= {'camera_info', 'empty_depth', 'malformed_image'}
    with pytest.raises(ValueError, match="unknown frame error reason 'bad'"):
        FrameError('bad', 'x')
