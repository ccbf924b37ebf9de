"""The held object: the depth cluster the hand touches, and the object mesh clipped to it."""

import numpy as np
import pytest
import trimesh

from c2f_sdf_ros.geometry.camera import CameraIntrinsics
from c2f_sdf_ros.geometry.render import render_meshes
from c2f_sdf_ros.reconstruct.held_object import HeldObjectConfig, find_held_object

CAMERA = CameraIntrinsics(320, 240, 300.0, 305.0, 162.0, 118.0)
HAND_CENTRE = np.array([0.0, 0.0, 0.8])


def box(centre, size, subdivisions=0):
    mesh = trimesh.creation.box(size)
    for _ in range(subdivisions):   # small triangles, like a marching-cubes mesh
        mesh = mesh.subdivide()
    mesh.apply_translation(centre)
    return mesh


def scene(held=True):
    """A wall, a 'hand' (sphere) and two boxes: one touching the hand (if held), one not."""
    hand = trimesh.creation.icosphere(3, 0.04)
    hand.apply_translation(HAND_CENTRE)
    wall = box((0.0, 0.0, 1.1), (1.5, 1.5, 0.02))
    # The held box touches the hand's right side; the distractor stands 8 cm to its left.
    held_box = box((0.075 if held else 0.2, 0.0, 0.8), (0.07, 0.12, 0.07))
    distractor = box((-0.16, 0.0, 0.8), (0.07, 0.12, 0.07))
    depth = render_meshes([hand, wall, held_box, distractor], CAMERA).depth
    rng = np.random.default_rng(0)
    joints = HAND_CENTRE + rng.uniform(-0.02, 0.02, (21, 3))
    return depth.astype(np.float32), hand, joints


def test_the_touched_cluster_is_kept_and_the_spill_onto_the_neighbour_clipped():
    depth, hand, joints = scene()
    # A predicted object that spills over both boxes (what the model does on real frames).
    predicted = box((-0.04, 0.0, 0.8), (0.30, 0.12, 0.07), 4)
    held = find_held_object(depth, CAMERA, hand, joints, predicted)
    assert held.reason == '' and held.mesh is not None
    vertices = np.asarray(held.mesh.vertices)
    # What is left lies over the held box and the hand, not over the distractor.
    assert vertices[:, 0].min() > -0.08
    assert len(held.points) > 30
    assert np.all(np.abs(held.points[:, 0] - 0.075) < 0.06)


def test_nothing_touched_means_no_object():
    depth, hand, joints = scene(held=False)
    predicted = box((0.07, 0.0, 0.8), (0.07, 0.12, 0.07), 3)
    held = find_held_object(depth, CAMERA, hand, joints, predicted)
    assert held.mesh is None and held.reason == 'nothing_touched'


def test_no_predicted_object_and_no_depth():
    depth, hand, joints = scene()
    assert find_held_object(depth, CAMERA, hand, joints, None).reason == 'no_mesh'
    predicted = box((0.07, 0.0, 0.8), (0.07, 0.12, 0.07))
    held = find_held_object(np.zeros_like(depth), CAMERA, hand, joints, predicted)
    assert held.mesh is None and held.reason == 'no_depth'


def test_config_and_joints_are_validated():
    with pytest.raises(ValueError, match='radius'):
        HeldObjectConfig(radius=0.0)
    with pytest.raises(ValueError, match='stride'):
        HeldObjectConfig(stride=0)
    depth, hand, _ = scene()
    with pytest.raises(ValueError, match='joints'):
        find_held_object(depth, CAMERA, hand, np.zeros((5, 3)), hand)


def hand_joints():
    """Joints of the sphere 'hand' held upright: the wrist at its bottom, fingers above."""
    joints = np.zeros((21, 3))
    joints[0] = (0.0, 0.045, 0.0)
    for finger, x in enumerate(np.linspace(-0.035, 0.035, 5)):
        for k, y in enumerate((0.02, -0.01, -0.03, -0.045)):
            joints[1 + 4 * finger + k] = (x, y, 0.0)
    return HAND_CENTRE + joints


def test_the_forearm_touching_at_the_wrist_is_not_a_held_object():
    hand = trimesh.creation.icosphere(3, 0.04)
    hand.apply_translation(HAND_CENTRE)
    wall = box((0.0, 0.0, 1.1), (1.5, 1.5, 0.02))
    # The forearm runs down from the wrist (2 cm gap: touching); it is larger than the
    # held box on the fingers' side.
    forearm = box(HAND_CENTRE + (0.0, 0.16, 0.0), (0.06, 0.2, 0.06))
    held_box = box(HAND_CENTRE + (0.075, -0.02, 0.0), (0.07, 0.07, 0.07))
    predicted = box(HAND_CENTRE + (0.0, 0.06, 0.0), (0.3, 0.3, 0.07), 4)
    joints = hand_joints()
    depth = render_meshes([hand, wall, forearm], CAMERA).depth.astype(np.float32)
    alone = find_held_object(depth, CAMERA, hand, joints, predicted)
    assert alone.mesh is None and alone.reason == 'nothing_touched'
    # Every touched cluster counts when the rule is off (share 1): the forearm is taken.
    off = find_held_object(depth, CAMERA, hand, joints, predicted,
                           HeldObjectConfig(forearm_share=1.0))
    assert off.mesh is not None and np.median(off.points[:, 1]) > HAND_CENTRE[1] + 0.06
    depth = render_meshes([hand, wall, forearm, held_box], CAMERA).depth.astype(np.float32)
    held = find_held_object(depth, CAMERA, hand, joints, predicted)
    assert held.mesh is not None
    assert np.all(np.abs(held.points[:, 0] - (HAND_CENTRE[0] + 0.075)) < 0.06)
    with pytest.raises(ValueError, match='forearm_share'):
        HeldObjectConfig(forearm_share=1.5)
