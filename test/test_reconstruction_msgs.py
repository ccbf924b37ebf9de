"""
The object's oriented box in ObjectReconstruction: its quaternion is the box's rotation.

Pure: builds messages, spins nothing.
"""

from hypothesis import given, settings
from hypothesis import strategies as st
import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from std_msgs.msg import Header
import trimesh

from c2f_sdf_ros.reconstruct.pipeline import Reconstruction
from c2f_sdf_ros.ros import reconstruction_msgs


def matrix_of(orientation) -> np.ndarray:
    """Rotation matrix of a geometry_msgs Quaternion (x, y, z, w), which must be unit."""
    q = np.array([orientation.x, orientation.y, orientation.z, orientation.w])
    assert np.linalg.norm(q) == pytest.approx(1.0, abs=1e-9)
    return Rotation.from_quat(q).as_matrix()


def rotated_box(rotation: np.ndarray, extents=(0.12, 0.07, 0.03),
                center=(0.05, -0.02, 0.6)) -> trimesh.Trimesh:
    transform = np.eye(4)
    transform[:3, :3], transform[:3, 3] = rotation, center
    return trimesh.creation.box(extents, transform)


# Rotations that reach every branch of the matrix -> quaternion conversion: trace > 0, and
# turns near pi about x, y and z (the largest diagonal entry picks the branch).
ROTATIONS = {
    'identity': np.eye(3),
    'small': Rotation.from_rotvec([0.3, -0.2, 0.4]).as_matrix(),
    'about_x': Rotation.from_rotvec([3.0, 0.2, -0.1]).as_matrix(),
    'about_y': Rotation.from_rotvec([0.1, 3.0, 0.3]).as_matrix(),
    'about_z': Rotation.from_rotvec([-0.2, 0.1, 3.0]).as_matrix(),
    'general': Rotation.from_euler('zyx', [40, -65, 120], degrees=True).as_matrix(),
}


@pytest.mark.parametrize('name', sorted(ROTATIONS))
def test_quaternion_is_the_rotation(name):
    rotation = ROTATIONS[name]
    w, x, y, z = reconstruction_msgs._quaternion(rotation)
    np.testing.assert_allclose(Rotation.from_quat([x, y, z, w]).as_matrix(), rotation,
                               atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(st.tuples(*[st.floats(-1.0, 1.0)] * 4).filter(lambda q: np.linalg.norm(q) > 0.1))
def test_quaternion_is_the_rotation_for_any_rotation(q):
    rotation = Rotation.from_quat(q).as_matrix()
    w, x, y, z = reconstruction_msgs._quaternion(rotation)
    np.testing.assert_allclose(Rotation.from_quat([x, y, z, w]).as_matrix(), rotation,
                               atol=1e-9)


@pytest.mark.parametrize('name', sorted(ROTATIONS))
def test_box_pose_puts_the_corners_of_a_rotated_box_on_its_axes(name):
    extents = np.array([0.12, 0.07, 0.03])
    center = np.array([0.05, -0.02, 0.6])
    mesh = rotated_box(ROTATIONS[name], extents, center)
    pose, size = reconstruction_msgs._box(mesh)
    np.testing.assert_allclose([pose.position.x, pose.position.y, pose.position.z], center,
                               atol=1e-9)
    box_size = np.array([size.x, size.y, size.z])
    np.testing.assert_allclose(np.sort(box_size), np.sort(extents), atol=1e-9)
    # In the pose's frame every corner of the box is at (+-sx/2, +-sy/2, +-sz/2).
    rotation = matrix_of(pose.orientation)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    local = (mesh.vertices - center) @ rotation
    np.testing.assert_allclose(np.abs(local), np.broadcast_to(box_size / 2, local.shape),
                               atol=1e-9)
    # And the 8 corners are all there.
    assert len({tuple(np.sign(c)) for c in np.round(local, 9)}) == 8


def test_reconstruction_message_carries_the_object_box():
    rotation = ROTATIONS['general']
    obj = rotated_box(rotation)
    hand = trimesh.creation.icosphere(2, 0.03).apply_translation((0.0, 0.0, 0.55))
    result = Reconstruction(True, hand, obj, np.zeros((21, 3)), np.zeros(3),
                            np.array([0.05, -0.02, 0.6]), object_confidence=0.5)
    msg = reconstruction_msgs.reconstruction_to_msg(result, Header(frame_id='camera'))
    box = msg.objects[0]
    rotation = matrix_of(box.box_pose.orientation)
    local = (obj.vertices - [box.box_pose.position.x, box.box_pose.position.y,
                             box.box_pose.position.z]) @ rotation
    size = np.array([box.box_size.x, box.box_size.y, box.box_size.z])
    np.testing.assert_allclose(np.abs(local), np.broadcast_to(size / 2, local.shape),
                               atol=1e-9)
