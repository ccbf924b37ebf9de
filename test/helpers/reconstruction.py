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
