"""Left-right mirroring of frames, points, meshes and SDF samples (geometry/mirror.py)."""

import pathlib

from hypothesis import given
from hypothesis import strategies as st
import numpy as np
from PIL import Image
import pytest
import trimesh

from c2f_sdf_ros.data.synth_folder import SynthFolder
from c2f_sdf_ros.geometry.camera import CameraIntrinsics
from c2f_sdf_ros.geometry.mesh import MeshSdf
from c2f_sdf_ros.geometry.mirror import (
    mirror_camera,
    mirror_faces,
    mirror_image,
    mirror_mesh,
    mirror_points,
    mirror_sdf_samples,
    mirror_side,
    needs_mirror,
)

SAMPLE = pathlib.Path(__file__).resolve().parents[1] / 'data' / 'sample'
CAMERAS = [CameraIntrinsics(640, 480, 615.0, 615.0, 319.5, 239.5),
           # A ZED 2i at 720p: fx != fy, principal point off centre, with distortion.
           CameraIntrinsics(1280, 720, 691.37, 692.51, 652.3, 356.8, 'plumb_bob',
                            (-0.04, 0.01, 0.0007, -0.0003, 0.002)),
           CameraIntrinsics(848, 480, 421.1, 421.1, 420.7, 243.9)]


def test_mirroring_a_frame_twice_gives_it_back_exactly():
    folder = SynthFolder(SAMPLE)
    frame = folder.read(0)
    mask = np.asarray(Image.open(SAMPLE / 'mask' / f'{folder.ids[0]}.png'))
    for image in (frame.color, frame.depth, mask):
        once = mirror_image(image)
        assert once.shape == image.shape and once.dtype == image.dtype
        assert not np.array_equal(once, image)
        np.testing.assert_array_equal(mirror_image(once), image)
        np.testing.assert_array_equal(once[:, 0], image[:, -1])
    for camera in (frame.camera, *CAMERAS):
        assert mirror_camera(mirror_camera(camera)) == camera
    for points in (frame.root, frame.joints, frame.object_center):
        np.testing.assert_array_equal(mirror_points(mirror_points(points)), points)
    np.testing.assert_array_equal(mirror_sdf_samples(mirror_sdf_samples(frame.sdf)),
                                  frame.sdf)
    hand, _ = folder.meshes(0)
    vertices, faces = mirror_mesh(*mirror_mesh(hand.vertices, hand.faces))
    np.testing.assert_array_equal(vertices, hand.vertices)
    np.testing.assert_array_equal(faces, hand.faces)
    assert mirror_side(mirror_side('left')) == 'left' and mirror_side('left') == 'right'


@given(st.lists(st.floats(-10.0, 10.0, allow_nan=False), min_size=3, max_size=30).filter(
    lambda v: len(v) % 3 == 0))
def test_mirroring_points_is_an_exact_involution(values):
    points = np.array(values).reshape(-1, 3)
    once = mirror_points(points)
    np.testing.assert_array_equal(once[:, 1:], points[:, 1:])
    np.testing.assert_array_equal(once[:, 0], -points[:, 0])
    np.testing.assert_array_equal(mirror_points(once), points)


@given(st.integers(16, 4096), st.floats(0.5, 1.0))
def test_the_principal_point_mirrors_exactly(width, fraction):
    # Exact for every principal point in the right half of the image (W - 1 - cx is then
    # a float64 with no rounding), and within an ulp anywhere.
    camera = CameraIntrinsics(width, 480, 500.0, 500.0, (width - 1) * fraction, 240.0)
    assert mirror_camera(mirror_camera(camera)) == camera
    flipped = CameraIntrinsics(width, 480, 500.0, 500.0, (width - 1) * (1 - fraction), 240.0)
    assert mirror_camera(mirror_camera(flipped)).cx == pytest.approx(flipped.cx, abs=1e-9)


@pytest.mark.parametrize('camera', CAMERAS)
def test_a_mirrored_point_projects_onto_the_mirrored_pixel(camera):
    rng = np.random.default_rng(4)
    points = np.column_stack([rng.uniform(-0.2, 0.2, 50), rng.uniform(-0.15, 0.15, 50),
                              rng.uniform(0.3, 1.0, 50)])
    uv = camera.project(points)
    mirrored = mirror_camera(camera).project(mirror_points(points))
    np.testing.assert_allclose(mirrored[:, 0], camera.width - 1 - uv[:, 0], atol=1e-9)
    np.testing.assert_allclose(mirrored[:, 1], uv[:, 1], atol=1e-12)
    assert mirror_camera(camera).distortion[3] == -camera.distortion[3]
    assert mirror_camera(camera).distortion[:3] == camera.distortion[:3]


def test_mirrored_joints_land_on_the_same_image_content():
    # The sample frame's joints: the colour and depth under each joint's pixel are the
    # colour and depth under the mirrored joint's pixel in the mirrored images.
    frame = SynthFolder(SAMPLE).read(0)
    camera, mirrored_camera = frame.camera, mirror_camera(frame.camera)
    color, depth = mirror_image(frame.color), mirror_image(frame.depth)
    uv = camera.project(frame.joints)
    uv_mirrored = mirrored_camera.project(mirror_points(frame.joints))
    np.testing.assert_allclose(uv_mirrored[:, 0], camera.width - 1 - uv[:, 0], atol=1e-9)
    np.testing.assert_allclose(uv_mirrored[:, 1], uv[:, 1], atol=1e-12)
    columns, rows = np.round(uv).astype(int).T
    mirrored_columns, mirrored_rows = np.round(uv_mirrored).astype(int).T
    np.testing.assert_array_equal(mirrored_rows, rows)
    np.testing.assert_array_equal(color[mirrored_rows, mirrored_columns],
                                  frame.color[rows, columns])
    np.testing.assert_array_equal(depth[mirrored_rows, mirrored_columns],
                                  frame.depth[rows, columns])


def test_mirrored_sdf_samples_keep_their_distances_to_the_mirrored_meshes():
    folder = SynthFolder(SAMPLE)
    samples = folder.read(0).sdf[::20]
    mirrored = mirror_sdf_samples(samples)
    np.testing.assert_array_equal(mirrored[:, 3:], samples[:, 3:])
    for column, mesh in zip((3, 4), folder.meshes(0), strict=True):
        vertices, faces = mirror_mesh(mesh.vertices, mesh.faces)
        before = MeshSdf.from_mesh(mesh)(samples[:, :3])
        after = MeshSdf(vertices, faces)(mirrored[:, :3])
        np.testing.assert_allclose(after, before, atol=1e-6)
        # And the stored (analytic) distances agree with the mirrored mesh's.
        assert np.median(np.abs(after - mirrored[:, column])) < 1e-3
        # Reversed winding keeps the normals outward: positive volume, as before.
        mirrored_mesh = trimesh.Trimesh(vertices, faces, process=False)
        assert mirrored_mesh.volume == pytest.approx(mesh.volume, rel=1e-9)
        assert trimesh.Trimesh(vertices, mesh.faces, process=False).volume < 0


def test_which_hands_are_mirrored():
    assert needs_mirror('left', 'right') and needs_mirror('right', 'left')
    assert not needs_mirror('right', 'right') and not needs_mirror('left', None)
    assert not needs_mirror('unknown', 'right')
    with pytest.raises(ValueError, match='canonical_side'):
        needs_mirror('left', 'both')
    with pytest.raises(ValueError, match='side'):
        needs_mirror('up', 'right')


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match='image'):
        mirror_image(np.zeros(5))
    with pytest.raises(ValueError, match='camera'):
        mirror_camera(np.eye(3))
    with pytest.raises(ValueError, match='points'):
        mirror_points(np.zeros((4, 2)))
    with pytest.raises(ValueError, match='faces'):
        mirror_faces(np.zeros((4, 3)))
    with pytest.raises(ValueError, match='faces'):
        mirror_faces(np.zeros((4, 4), int))
    with pytest.raises(ValueError, match='vertices'):
        mirror_mesh(np.zeros(3), np.zeros((1, 3), int))
    with pytest.raises(ValueError, match='samples'):
        mirror_sdf_samples(np.zeros((4, 2)))
    with pytest.raises(ValueError, match='side'):
        mirror_side('unknown')
