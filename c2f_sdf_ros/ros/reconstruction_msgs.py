"""Pipeline output (``FrameReconstruction``) -> ROS messages: the message, markers, clouds."""

from __future__ import annotations

from geometry_msgs.msg import Point, Pose, Vector3
import numpy as np
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header

from c2f_sdf_ros.msg import (
    Contact,
    HandObjectReconstruction,
    HandReconstruction,
    ObjectReconstruction,
    StageTiming,
)
from c2f_sdf_ros.reconstruct.pipeline import FrameReconstruction, Reconstruction
from c2f_sdf_ros.ros.conversions import mesh_to_msg
from c2f_sdf_ros.ros.markers import HAND_NAMESPACE, OBJECT_NAMESPACE, ColoredMesh
from c2f_sdf_ros.ros.points import points_from_array


def _point(xyz) -> Point:
    x, y, z = (float(v) for v in xyz)
    return Point(x=x, y=y, z=z)


def _box(mesh) -> tuple[Pose, Vector3]:
    """Oriented bounding box of a mesh as pose (centre, orientation) and size."""
    box = mesh.bounding_box_oriented
    transform = np.asarray(box.primitive.transform)
    extents = np.asarray(box.primitive.extents)
    rotation = transform[:3, :3]
    if np.linalg.det(rotation) < 0:   # keep a proper rotation (flip one axis)
        rotation = rotation * np.array([1.0, 1.0, -1.0])
    pose = Pose()
    pose.position = _point(transform[:3, 3])
    w, x, y, z = _quaternion(rotation)
    pose.orientation.w, pose.orientation.x = w, x
    pose.orientation.y, pose.orientation.z = y, z
    return pose, Vector3(x=float(extents[0]), y=float(extents[1]), z=float(extents[2]))


def _quaternion(rotation: np.ndarray) -> tuple[float, float, float, float]:
    """(w, x, y, z) of a rotation matrix (Shepperd's method)."""
    m = rotation
    trace = np.trace(m)
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = (0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s)
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k])
        q = [0.0, 0.0, 0.0, 0.0]
        q[0] = (m[k, j] - m[j, k]) / s
        q[1 + i] = 0.25 * s
        q[1 + j] = (m[j, i] + m[i, j]) / s
        q[1 + k] = (m[k, i] + m[i, k]) / s
    w, x, y, z = (float(v) for v in q)
    norm = np.sqrt(w * w + x * x + y * y + z * z)
    return w / norm, x / norm, y / norm, z / norm


SIDES = {'left': HandReconstruction.SIDE_LEFT, 'right': HandReconstruction.SIDE_RIGHT,
         'unknown': HandReconstruction.SIDE_UNKNOWN}


def as_frame(result: FrameReconstruction | Reconstruction) -> FrameReconstruction:
    """A frame's result; one hand's ``Reconstruction`` becomes a frame of that hand."""
    if isinstance(result, FrameReconstruction):
        return result
    return FrameReconstruction([result] if result.found else [], dict(result.timings))


def marker_id(hand_index: int, result: Reconstruction) -> int:
    """
    The marker id of a hand's meshes (its hand and its object markers share it).

    The hand's track id (``reconstruct.tracking``), so that RViz keeps each hand's markers
    when hands change order; its index in the frame when it is not tracked.
    """
    return result.track_id if result.track_id >= 0 else hand_index


def reconstruction_to_msg(frame: FrameReconstruction | Reconstruction, header: Header,
                          packed: bool = False) -> HandObjectReconstruction:
    """
    The package's message for one frame (empty hand/object lists when nothing was found).

    Each hand with a mesh becomes one ``hands[]`` entry with its side; each hand's object
    one ``objects[]`` entry; contacts index both. Timings carry every pipeline stage;
    ``sdf_query_count`` the SDF queries of the frame. ``packed``: the meshes as
    ``cdr.Packed`` arrays, for publishing through ``cdr.serialize`` (fast); otherwise plain
    message objects.
    """
    frame = as_frame(frame)
    msg = HandObjectReconstruction(header=header)
    msg.timings = [StageTiming(stage=name, seconds=float(seconds))
                   for name, seconds in frame.timings.items()]
    msg.sdf_query_count = int(frame.queries)
    for result in frame.hands:
        if result.hand_mesh is None:
            continue
        hand = HandReconstruction(side=SIDES.get(result.side, HandReconstruction.SIDE_UNKNOWN),
                                  track_id=int(result.track_id),
                                  confidence=float(result.hand_confidence))
        hand.mesh = mesh_to_msg(result.hand_mesh.vertices, result.hand_mesh.faces, packed)
        hand.joints = points_from_array(result.joints)
        hand.root = _point(result.root)
        hand_index = len(msg.hands)
        msg.hands.append(hand)
        if result.object_mesh is None:
            continue
        obj = ObjectReconstruction(track_id=int(result.object_track_id),
                                   confidence=float(result.object_confidence))
        obj.mesh = mesh_to_msg(result.object_mesh.vertices, result.object_mesh.faces,
                               packed)
        obj.center = _point(result.object_center)
        obj.box_pose, obj.box_size = _box(result.object_mesh)
        object_index = len(msg.objects)
        msg.objects.append(obj)
        contacts = result.contacts
        msg.contacts += [
            Contact(position=_point(p),
                    normal=Vector3(x=float(n[0]), y=float(n[1]), z=float(n[2])),
                    distance=float(d), hand_index=hand_index, object_index=object_index,
                    hand_part=int(part))
            for p, n, d, part in zip(contacts.positions, contacts.normals,
                                     contacts.distances, contacts.parts, strict=True)]
    return msg


def reconstruction_meshes(frame: FrameReconstruction | Reconstruction
                          ) -> dict[str, dict[int, ColoredMesh]]:
    """
    Meshes by marker namespace and marker id (``marker_id``), one per hand and object.

    A hand and the object it holds share an id; empty namespaces clear stale markers.
    """
    frame = as_frame(frame)
    meshes: dict[str, dict[int, ColoredMesh]] = {HAND_NAMESPACE: {}, OBJECT_NAMESPACE: {}}
    for index, result in enumerate(frame.hands):
        key = marker_id(index, result)
        if result.hand_mesh is not None:
            meshes[HAND_NAMESPACE][key] = ColoredMesh(result.hand_mesh.vertices,
                                                      result.hand_mesh.faces)
        if result.object_mesh is not None:
            meshes[OBJECT_NAMESPACE][key] = ColoredMesh(result.object_mesh.vertices,
                                                        result.object_mesh.faces)
    return meshes


def frame_points(frame: FrameReconstruction) -> tuple[np.ndarray, np.ndarray]:
    """The depth points the model put on the hands and on the objects, (N, 3) each."""
    hands = [r.hand_points for r in frame.hands] or [np.zeros((0, 3))]
    objects = [r.object_points for r in frame.hands] or [np.zeros((0, 3))]
    return np.concatenate(hands), np.concatenate(objects)


def xyz_cloud(points: np.ndarray, header: Header) -> PointCloud2:
    """
    An unorganised ``PointCloud2`` with float32 x, y, z fields.

    Written here because ``sensor_msgs_py`` is not in the ROS wheels this package runs on.
    """
    points = np.asarray(points, np.float32).reshape(-1, 3)
    if not np.all(np.isfinite(points)):
        raise ValueError('point cloud has NaN or infinite coordinates')
    msg = PointCloud2(header=header, height=1, width=len(points), is_bigendian=False,
                      point_step=12, row_step=12 * len(points), is_dense=True)
    msg.fields = [PointField(name=name, offset=4 * i, datatype=PointField.FLOAT32, count=1)
                  for i, name in enumerate('xyz')]
    msg.data = points.astype('<f4').tobytes()
    return msg

