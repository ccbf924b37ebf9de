"""
Record reconstruction messages to disk: meshes and one JSON line per frame.

Writes into ``output_dir``::

    frames.jsonl                     one JSON object per received message (see docs)
    meshes/<seq>_hand<i>.<format>    hand meshes (PLY, GLB or OBJ via trimesh)
    meshes/<seq>_object<i>.<format>  object meshes

``latency_s`` in each line is the receipt time minus the header stamp: with the stamp of
the camera image, it is the camera-to-recorder latency of the whole pipeline.
"""

from __future__ import annotations

import json
import pathlib
from typing import TextIO

from rclpy.node import Node
import trimesh

from c2f_sdf_ros.msg import HandObjectReconstruction
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
)


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


class RecorderNode(Node):
    """Subscribes to ``reconstruction`` and writes what arrives."""

    _lines: TextIO | None = None   # frames.jsonl, open once the node is built

    def __init__(self, **kwargs):
        super().__init__('reconstruction_recorder', **kwargs)
        self.params = declare_parameters(self, PARAMETERS)
        self.root = prepare_output_dir(self.params['output_dir'])
        self._lines = open(self.root / 'frames.jsonl', 'a', encoding='utf-8')  # noqa: SIM115
        self.count = 0
        qos = make_qos(self.params['qos_reliability'], self.params['qos_depth'])
        self._subscription = self.create_subscription(
            HandObjectReconstruction, 'reconstruction', self._on_reconstruction, qos)
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

    def destroy_node(self) -> None:
        """Destroy the node, close frames.jsonl and log the count (to the console)."""
        super().destroy_node()
        lines, self._lines = self._lines, None
        if lines is not None:
            lines.close()
            self.get_logger().info(f'recorded {self.count} frames to {self.root}')

def main(args: list[str] | None = None) -> int:
    """Run the recorder node (``ros2 run c2f_sdf_ros recorder_node``)."""
    # Our own signal handling (see node_main): the files are closed before the context goes,
    # and a Ctrl-C during start-up cannot leave rclpy's handler half installed.
    return run_node(RecorderNode, args, publish_on_stop=True)


if __name__ == '__main__':
    raise SystemExit(main())
