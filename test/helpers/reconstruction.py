"""A deterministic HandObjectReconstruction with real meshes, for cross-process tests."""

from __future__ import annotations

from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point
import numpy as np
import trimesh

from c2f_sdf_ros.msg import (
    Contact,
    HandObjectReconstruction,
    HandReconstruction,
    ObjectReconstruction,
    StageTiming,
)
from c2f_sdf_ros.ros.conversions import mesh_to_msg
from c2f_sdf_ros.ros.points import points_from_array


def reconstruction_meshes(seed: int):
    """(hand_vertices, hand_faces, object_vertices, object_faces, joints) for ``seed``."""
    rng = np.random.default_rng(seed)
    hand = trimesh.creation.icosphere(subdivisions=3, radius=0.05)   # 1280 triangles
    hand_vertices = hand.vertices * [1.6, 0.8, 0.5] + [0.02, -0.01, 0.45]
    hand_vertices += rng.normal(0.0, 0.001, hand_vertices.shape)
    obj = trimesh.creation.cylinder(radius=0.035, height=0.12, sections=64)
    object_vertices = obj.vertices + [0.06, 0.0, 0.5]
    joints = rng.normal([0.0, 0.0, 0.45], 0.03, (21, 3))
    return hand_vertices, hand.faces, object_vertices, obj.faces, joints


def build_reconstruction(seed: int, frame_id: str = 'camera_color_optical_frame',
                         stamp: Time | None = None) -> HandObjectReconstruction:
    """The message the tests publish for ``seed``."""
    hand_vertices, hand_faces, object_vertices, object_faces, joints = \
        reconstruction_meshes(seed)
    msg = HandObjectReconstruction()
    msg.header.frame_id = frame_id
    if stamp is not None:
        msg.header.stamp = stamp
    hand = HandReconstruction(side=HandReconstruction.SIDE_RIGHT, confidence=0.9)
    hand.mesh = mesh_to_msg(hand_vertices, hand_faces)
    hand.joints = points_from_array(joints)
    hand.root = hand.joints[0]
    msg.hands = [hand]
    obj = ObjectReconstruction(confidence=0.8)
    obj.mesh = mesh_to_msg(object_vertices, object_faces)
    obj.center = Point(x=0.06, y=0.0, z=0.5)
    obj.box_pose.orientation.w = 1.0
    obj.box_size.x, obj.box_size.y, obj.box_size.z = 0.07, 0.07, 0.12
    msg.objects = [obj]
    contact = Contact(hand_part=Contact.PART_INDEX, distance=-0.001)
    contact.position = Point(x=0.04, y=0.0, z=0.48)
    contact.normal.x = -1.0
    msg.contacts = [contact]
    msg.timings = [StageTiming(stage='encode', seconds=0.01 * seed),
                   StageTiming(stage='marching_cubes', seconds=0.02)]
    msg.sdf_query_count = 1000 + seed
    return msg


# The scripted grasp of ``grasp_message``: frame k is stamped GRASP_START + k / 10 s.
GRASP_START = 100
GRASP_FRAMES = 10
GRASP_OBJECT_CENTER = (0.0, 0.0, 0.5)
GRASP_OBJECT_YAW = np.pi / 6   # the box is turned 30 degrees about the camera z axis


def _grasp_contact(part: int, distance: float, hand_index: int) -> Contact:
    contact = Contact(hand_part=part, distance=distance, hand_index=hand_index,
                      object_index=0)
    contact.position = Point(x=0.03, y=0.0, z=0.5)
    contact.normal.x = 1.0
    return contact


def grasp_message(k: int) -> HandObjectReconstruction:
    """
    Frame ``k`` of a scripted demonstration: a right hand approaches a box, grasps, leaves.

    The right hand (track 1) moves in along x to the box (object track 1, 30 degrees about
    z); its index touches alone at frame 3 (one part: no grasp), thumb and index from
    frame 4, the middle finger too at frame 5, nothing from frame 7 as it moves away. A
    left hand (track 2) without an object stays far off, listed first, so that the hands
    and the one object do not pair by index; frame 8 also has a hand without a track id.
    """
    if not 0 <= k < GRASP_FRAMES:
        raise ValueError(f'k must be in [0, {GRASP_FRAMES}), got {k}')
    msg = HandObjectReconstruction()
    msg.header.frame_id = 'camera_color_optical_frame'
    msg.header.stamp = Time(sec=GRASP_START, nanosec=k * 100_000_000)
    box = trimesh.creation.box((0.01, 0.01, 0.01))
    hands = []
    x = {0: 0.2, 1: 0.16, 2: 0.12, 3: 0.08}.get(k, 0.06 if k < 7 else 0.06 + 0.04 * (k - 6))
    for track_id, side, root in ((2, HandReconstruction.SIDE_LEFT, (-0.3, 0.0, 0.5)),
                                 (1, HandReconstruction.SIDE_RIGHT, (x, 0.0, 0.5))):
        hand = HandReconstruction(side=side, track_id=track_id, confidence=0.9)
        hand.mesh = mesh_to_msg(box.vertices + root, box.faces)
        offsets = np.linspace(0, 0.08, 63).reshape(21, 3)
        hand.joints = points_from_array(np.asarray(root) + offsets - offsets[0])
        hand.root = hand.joints[0]
        hands.append(hand)
    if k == 8:
        stray = HandReconstruction(track_id=-1)
        stray.mesh = mesh_to_msg(box.vertices, box.faces)
        stray.joints = points_from_array(np.zeros((21, 3)))
        hands.append(stray)
    msg.hands = hands
    obj = ObjectReconstruction(track_id=1, confidence=0.8)
    obj.mesh = mesh_to_msg(box.vertices + GRASP_OBJECT_CENTER, box.faces)
    obj.center = Point(x=GRASP_OBJECT_CENTER[0], y=GRASP_OBJECT_CENTER[1],
                       z=GRASP_OBJECT_CENTER[2])
    obj.box_pose.position = obj.center
    obj.box_pose.orientation.z = float(np.sin(GRASP_OBJECT_YAW / 2))
    obj.box_pose.orientation.w = float(np.cos(GRASP_OBJECT_YAW / 2))
    obj.box_size.x, obj.box_size.y, obj.box_size.z = 0.06, 0.06, 0.1
    msg.objects = [obj]
    parts = {3: [(Contact.PART_INDEX, 0.004)]}.get(k, [])
    if 4 <= k < 7:
        parts = [(Contact.PART_THUMB, -0.001), (Contact.PART_INDEX, 0.002),
                 (Contact.PART_INDEX, 0.0)] + ([(Contact.PART_MIDDLE, 0.003)] if k == 5 else [])
    msg.contacts = [_grasp_contact(part, distance, hand_index=1) for part, distance in parts]
    return msg
