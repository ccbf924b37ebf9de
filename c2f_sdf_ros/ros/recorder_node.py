"""
Record reconstruction messages to disk: meshes, one JSON line per frame, a demonstration.

Writes into ``output_dir``::

    frames.jsonl                     one JSON object per received message (see docs)
    meshes/<seq>_hand<i>.<format>    hand meshes (PLY, GLB or OBJ via trimesh)
    meshes/<seq>_object<i>.<format>  object meshes
    demonstration.json               when the node stops: per hand track, its joints, side,
                                     object and contacts per frame, and the grasp events
                                     (docs/demonstrations.md; ``demonstration_file``)

``latency_s`` in each line is the receipt time minus the header stamp: with the stamp of
the camera image, it is the camera-to-recorder latency of the whole pipeline.

The demonstration uses the track ids the reconstruction node gives hands and objects
(``reconstruct.tracking``) and the header stamps; ``demonstration_frames`` turns one
message into its frame of the record.
"""

from __future__ import annotations

import json
import pathlib
from typing import TextIO

import numpy as np
from rclpy.node import Node
from scipy.optimize import linear_sum_assignment
from scipy.spatial.transform import Rotation
import trimesh

from c2f_sdf_ros.msg import HandObjectReconstruction
from c2f_sdf_ros.reconstruct.contacts import PART_NAMES
from c2f_sdf_ros.reconstruct.demonstration import Demonstration, TrackFrame
from c2f_sdf_ros.ros.conversions import mesh_from_msg
from c2f_sdf_ros.ros.node_main import run_node
from c2f_sdf_ros.ros.parameters import ConfigurationError, ParameterSpec, declare_parameters
from c2f_sdf_ros.ros.points import points_to_array
from c2f_sdf_ros.ros.qos import RELIABILITY_CHOICES, make_qos
from c2f_sdf_ros.ros.sync import NS_PER_S, stamp_to_ns

MESH_FORMATS = ('ply', 'glb', 'obj')
SIDES = {0: 'unknown', 1: 'left', 2: 'right'}

PARAMETERS = (
    ParameterSpec('output_dir', '', 'Folder to write frames.jsonl and meshes/ into '
                  '(created if missing).'),
    ParameterSpec('mesh_format', 'ply', 'File format of the written meshes.',
                  choices=MESH_FORMATS),
    ParameterSpec('write_meshes', True, 'Write mesh files (false: only frames.jsonl).'),
    ParameterSpec('qos_reliability', 'reliable', 'Reliability of the subscription.',
                  choices=RELIABILITY_CHOICES),
    ParameterSpec('qos_depth', 10, 'History depth of the subscription.', low=1, high=1000),
    ParameterSpec('demonstration_file', 'demonstration.json', 'File name, in output_dir, of '
                  'the demonstration record written when the node stops (tracks, contacts, '
                  'grasp events; docs/demonstrations.md). Empty: none.'),
)
# What the recorder writes itself: the demonstration must not take one of these names.
RESERVED_NAMES = ('frames.jsonl', 'meshes')


def prepare_output_dir(path: str) -> pathlib.Path:
    """Create ``path`` (and meshes/) if needed; ConfigurationError if it cannot be used."""
    if not path:
        raise ConfigurationError('parameter output_dir is required')
    root = pathlib.Path(path).expanduser()
    if root.exists() and not root.is_dir():
        raise ConfigurationError(f'output_dir {root} exists and is not a folder')
    try:
        (root / 'meshes').mkdir(parents=True, exist_ok=True)
        probe = root / '.write_test'
        probe.write_text('')
        probe.unlink()
    except OSError as error:
        raise ConfigurationError(f'cannot write to output_dir {root}: {error}') from error
    return root


def demonstration_path(root: pathlib.Path, name: str) -> pathlib.Path | None:
    """
    Where the demonstration record goes: ``root / name``, or None for an empty name.

    Raises
    ------
    ConfigurationError
        When ``name`` is not a plain file name (a path, '.', '..') or one of the files the
        recorder writes itself.

    """
    if not name:
        return None
    if pathlib.PurePath(name).name != name or name in ('.', '..') or '\\' in name:
        raise ConfigurationError(f'demonstration_file must be a file name without folders, '
                                 f'got {name!r}')
    if name in RESERVED_NAMES:
        raise ConfigurationError(f'demonstration_file must not be {name!r}: the recorder '
                                 'writes it itself')
    return root / name


def box_transform(pose, size) -> tuple[np.ndarray, np.ndarray]:
    """
    (4, 4) camera_T_box and (3,) extents of a message's ``box_pose`` and ``box_size``.

    Raises
    ------
    ValueError
        On a zero or non-finite orientation quaternion, or non-finite numbers.

    """
    q = pose.orientation
    quaternion = np.array([q.x, q.y, q.z, q.w], float)
    centre = np.array([pose.position.x, pose.position.y, pose.position.z], float)
    extents = np.array([size.x, size.y, size.z], float)
    if not (np.isfinite(quaternion).all() and np.isfinite(centre).all()
            and np.isfinite(extents).all()):
        raise ValueError('box_pose and box_size must be finite')
    if not np.linalg.norm(quaternion) > 0:
        raise ValueError('box_pose has a zero orientation quaternion')
    transform = np.eye(4)
    transform[:3, :3] = Rotation.from_quat(quaternion).as_matrix()   # (x, y, z, w) order
    transform[:3, 3] = centre
    return transform, extents


def hand_objects(msg: HandObjectReconstruction) -> list[int | None]:
    """
    The index in ``msg.objects`` of each hand's object, None for a hand without one.

    The message does not say which hand an object belongs to. The reconstruction node puts
    each hand's object right after it, so with as many objects as hands they pair by
    index. Otherwise the contacts pair the hands that touch (``hand_index``,
    ``object_index``), and the rest go by the least total root-to-centre distance.
    """
    n_hands, n_objects = len(msg.hands), len(msg.objects)
    if n_objects == n_hands:
        return list(range(n_hands))
    owner: list[int | None] = [None] * n_hands
    for contact in msg.contacts:
        if contact.hand_index < n_hands and contact.object_index < n_objects:
            owner[contact.hand_index] = int(contact.object_index)
    free_hands = [i for i in range(n_hands) if owner[i] is None]
    free_objects = sorted(set(range(n_objects)) - set(owner))
    if free_hands and free_objects:
        roots = points_to_array([msg.hands[i].root for i in free_hands])
        centres = points_to_array([msg.objects[k].center for k in free_objects])
        cost = np.linalg.norm(roots[:, None] - centres[None], axis=-1)
        for row, col in zip(*linear_sum_assignment(cost), strict=True):
            owner[free_hands[row]] = free_objects[col]
    return owner


def demonstration_frames(msg: HandObjectReconstruction) -> tuple[dict[int, TrackFrame], int]:
    """
    One message as a frame of a ``Demonstration``: hand track id -> ``TrackFrame``.

    Stamps are the header's; the object id is the object's ``track_id``, its box the
    message's ``box_pose``/``box_size``. A part touches when a contact of the hand on its
    object has that part; its gap is the smallest distance of those contacts (the gaps of
    the other parts are not in the message: unknown). Hands without a track id (-1) are
    left out, and objects without one count as no object.

    Returns
    -------
    frames : dict
        Hand track id -> its frame.
    untracked : int
        Hands left out for lack of a track id.

    Raises
    ------
    ValueError
        On two hands with one track id, a contact part that is not a ``PART_*``, or a
        hand or object with non-finite or misshapen points or box.

    """
    stamp = stamp_to_ns(msg.header.stamp) / NS_PER_S
    frames: dict[int, TrackFrame] = {}
    untracked = 0
    for i, (hand, k) in enumerate(zip(msg.hands, hand_objects(msg), strict=True)):
        if hand.track_id < 0:
            untracked += 1
            continue
        if hand.track_id in frames:
            raise ValueError(f'two hands with track id {hand.track_id}')
        obj = msg.objects[k] if k is not None and msg.objects[k].track_id >= 0 else None
        gaps = np.full(len(PART_NAMES), np.inf)
        center = box = extents = None
        if obj is not None:
            for contact in msg.contacts:
                if contact.hand_index != i or contact.object_index != k:
                    continue
                if contact.hand_part >= len(PART_NAMES):
                    raise ValueError(f'contact hand_part {contact.hand_part} is not a part')
                gaps[contact.hand_part] = min(gaps[contact.hand_part], contact.distance)
            center = points_to_array([obj.center])[0]
            box, extents = box_transform(obj.box_pose, obj.box_size)
        frames[int(hand.track_id)] = TrackFrame(
            stamp, SIDES.get(hand.side, 'unknown'), points_to_array([hand.root])[0],
            points_to_array(hand.joints), None if obj is None else int(obj.track_id),
            center, box, extents, tuple(np.flatnonzero(np.isfinite(gaps))), gaps)
    return frames, untracked


class RecorderNode(Node):
    """Subscribes to ``reconstruction`` and writes what arrives."""

    _lines: TextIO | None = None   # frames.jsonl, open once the node is built
    # What demonstration.json is written from, until it is (once, when the node stops).
    _demonstration: Demonstration | None = None

    def __init__(self, **kwargs):
        super().__init__('reconstruction_recorder', **kwargs)
        self.params = declare_parameters(self, PARAMETERS)
        self.root = prepare_output_dir(self.params['output_dir'])
        self.demonstration_path = demonstration_path(self.root,
                                                     self.params['demonstration_file'])
        self._lines = open(self.root / 'frames.jsonl', 'a', encoding='utf-8')  # noqa: SIM115
        self.count = 0
        self.untracked_hands = 0
        qos = make_qos(self.params['qos_reliability'], self.params['qos_depth'])
        self._subscription = self.create_subscription(
            HandObjectReconstruction, 'reconstruction', self._on_reconstruction, qos)
        if self.demonstration_path is not None:
            self._demonstration = Demonstration(source=self._subscription.topic_name)
        self.get_logger().info(f'recording {self._subscription.topic_name} to {self.root}')

    def _write_mesh(self, name: str, mesh_msg) -> tuple[str | None, int, int]:
        vertices, faces = mesh_from_msg(mesh_msg)
        if not self.params['write_meshes'] or len(faces) == 0:
            return None, len(vertices), len(faces)
        path = self.root / 'meshes' / f'{name}.{self.params["mesh_format"]}'
        trimesh.Trimesh(vertices, faces, process=False).export(path)
        return str(path.relative_to(self.root)), len(vertices), len(faces)

    def _on_reconstruction(self, msg: HandObjectReconstruction) -> None:
        received_ns = self.get_clock().now().nanoseconds
        stamp_ns = stamp_to_ns(msg.header.stamp)
        seq = self.count
        record = {
            'seq': seq,
            'stamp': stamp_ns / NS_PER_S,
            'frame_id': msg.header.frame_id,
            'received': received_ns / NS_PER_S,
            'latency_s': (received_ns - stamp_ns) / NS_PER_S,
            'hands': [], 'objects': [],
            'contacts': len(msg.contacts),
            'timings': {t.stage: t.seconds for t in msg.timings},
            'sdf_query_count': int(msg.sdf_query_count),
        }
        try:
            for i, hand in enumerate(msg.hands):
                mesh_file, n_vertices, n_faces = self._write_mesh(f'{seq:06d}_hand{i}', hand.mesh)
                record['hands'].append({
                    'side': SIDES.get(hand.side, 'unknown'), 'confidence': hand.confidence,
                    'mesh': mesh_file, 'vertices': n_vertices, 'triangles': n_faces,
                    'root': points_to_array([hand.root])[0].tolist(),
                    'joints': points_to_array(hand.joints).tolist()})
            for i, obj in enumerate(msg.objects):
                mesh_file, n_vertices, n_faces = self._write_mesh(f'{seq:06d}_object{i}', obj.mesh)
                record['objects'].append({
                    'confidence': obj.confidence, 'mesh': mesh_file, 'vertices': n_vertices,
                    'triangles': n_faces, 'center': points_to_array([obj.center])[0].tolist()})
        except (ValueError, OSError) as error:
            record['error'] = str(error)
            self.get_logger().error(f'frame {seq}: {error}', throttle_duration_sec=5.0)
        self._lines.write(json.dumps(record) + '\n')
        self._lines.flush()
        self.count += 1
        if self._demonstration is not None:
            self._add_to_demonstration(msg, seq)

    def _add_to_demonstration(self, msg: HandObjectReconstruction, seq: int) -> None:
        """Add the message's tracked hands to the demonstration; a bad frame is left out."""
        demonstration = self._demonstration
        try:
            frames, untracked = demonstration_frames(msg)
            demonstration.add_frames(stamp_to_ns(msg.header.stamp) / NS_PER_S, frames)
        except ValueError as error:   # e.g. a stamp before the last one: a replay restarted
            self.get_logger().warning(f'frame {seq} left out of the demonstration: {error}',
                                      throttle_duration_sec=5.0)
            return
        if not demonstration.frame_id:
            demonstration.frame_id = msg.header.frame_id
        if untracked and not self.untracked_hands:
            self.get_logger().warning('hands without a track id (track_id -1) are left out '
                                      'of the demonstration')
        self.untracked_hands += untracked

    def _write_demonstration(self) -> None:
        """Write demonstration.json (atomically) once; log where and its summary."""
        demonstration, self._demonstration = self._demonstration, None
        if demonstration is None:
            return
        try:
            demonstration.write_json(self.demonstration_path)
        except (OSError, ValueError) as error:
            self.get_logger().error(f'cannot write {self.demonstration_path}: {error}')
            return
        self.get_logger().info(f'wrote {self.demonstration_path}: '
                               f'{demonstration.summary_line()}')

    def destroy_node(self) -> None:
        """
        Destroy the node, close frames.jsonl, write the demonstration, log (to the console).

        The stop of ``run_node`` (Ctrl-C, SIGTERM, the end of the spin) comes here, so the
        demonstration is written whichever way the node stops, except a kill.
        """
        super().destroy_node()
        lines, self._lines = self._lines, None
        if lines is not None:
            lines.close()
            self.get_logger().info(f'recorded {self.count} frames to {self.root}')
        self._write_demonstration()


def main(args: list[str] | None = None) -> int:
    """Run the recorder node (``ros2 run c2f_sdf_ros recorder_node``)."""
    # Our own signal handling (see node_main): the files are closed before the context goes,
    # and a Ctrl-C during start-up cannot leave rclpy's handler half installed.
    return run_node(RecorderNode, args, publish_on_stop=True)


if __name__ == '__main__':
    raise SystemExit(main())
