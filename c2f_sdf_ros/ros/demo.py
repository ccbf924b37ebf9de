"""
``c2f-sdf demo``: the package's main job on the bundled frames, end to end over DDS.

One process, three nodes on one executor, talking through real DDS topics: the replay
camera publishes the frames once, the reconstruction node turns them into meshes, and a
collector writes what comes back::

    OUT/meshes/<frame>_hand.ply, <frame>_object.ply   reconstructed meshes (camera frame)
    OUT/overlay/<frame>.png                           meshes drawn over the color image
    OUT/frames.jsonl                                  per frame: stamp, latency, stages,
                                                      queries
    OUT/demonstration.json                            hand tracks, contacts, grasp events
                                                      (docs/demonstrations.md)

Frames are replayed at a rate the reconstruction sustains (measured on the first frame
before the replay starts), so none is superseded; per-frame latency (image stamp to the
collector receiving the result) is printed as results arrive. At the end one line
``grasp summary: track 1 (right): 1 grasp, onset at frame 000000 with thumb+index, ...``
gives each hand track's grasps or contacts, the frames named by the folder's frame ids.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import time

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.task import Future
from sensor_msgs.msg import Image
import trimesh

from c2f_sdf_ros.data.bundled import BUNDLED_FRAMES
from c2f_sdf_ros.data.frame_folder import FrameFolder
from c2f_sdf_ros.msg import HandObjectReconstruction
from c2f_sdf_ros.reconstruct.demonstration import Demonstration
from c2f_sdf_ros.reconstruct.hand_finder import FINDERS, FinderConfig
from c2f_sdf_ros.reconstruct.overlay import HAND_RGB, OBJECT_RGB, overlay_meshes
from c2f_sdf_ros.reconstruct.pipeline import Reconstructor, ReconstructorConfig
from c2f_sdf_ros.ros.conversions import color_image_to_rgb, mesh_from_msg
from c2f_sdf_ros.ros.parameters import ConfigurationError
from c2f_sdf_ros.ros.reconstruction_node import ReconstructionNode
from c2f_sdf_ros.ros.recorder_node import demonstration_frames
from c2f_sdf_ros.ros.replay_camera_node import ReplayCameraNode
from c2f_sdf_ros.ros.sync import NS_PER_S, stamp_to_ns

NAMESPACE = '/c2f_demo'


class DemoCollector(Node):
    """
    Keeps the replayed color images by stamp and writes each reconstruction.

    It also adds each one to ``demonstration``, as the recorder node does (the
    reconstruction node's track ids), with the frame's id by stamp in ``frame_names``.
    """

    def __init__(self, out: pathlib.Path, frame_ids: list[str], camera, source: str = '',
                 **kwargs):
        super().__init__('demo_collector', namespace=NAMESPACE, **kwargs)
        self.out = out
        self.frame_ids = frame_ids
        self.camera = camera
        self._colors: dict[int, tuple[int, np.ndarray]] = {}
        self._seen = 0
        self.records: list[dict] = []
        self.demonstration = Demonstration(source=source)
        self.frame_names: dict[float, str] = {}
        self._answered: Future[int] = Future()
        self.create_subscription(Image, 'color/image_raw', self._on_color, 10)
        self.create_subscription(HandObjectReconstruction, 'reconstruction', self._on_result, 10)

    def all_answered(self, replay: ReplayCameraNode, reconstruction: ReconstructionNode,
                     frames: int) -> Future[int]:
        """
        A future that completes (with the number of results) once every frame is answered.

        That is: a result collected for each frame, or the replay finished more than 2 s ago,
        the reconstruction node handled every frame (published or dropped it) and each of its
        results was collected.
        """
        replay_finished_at = None

        def check() -> None:
            nonlocal replay_finished_at
            if self._answered.done():
                return
            if replay.finished.done() and replay_finished_at is None:
                replay_finished_at = time.monotonic()
            handled = reconstruction.published + sum(
                n for reason, n in reconstruction.dropped.items() if reason != 'no_hand')
            settled = (replay_finished_at is not None
                       and time.monotonic() - replay_finished_at > 2.0)
            if len(self.records) >= frames or (
                    settled and handled >= frames
                    and len(self.records) >= reconstruction.published):
                self._answered.set_result(len(self.records))

        self.create_timer(0.1, check)
        return self._answered

    def _on_color(self, msg: Image) -> None:
        self._colors[stamp_to_ns(msg.header.stamp)] = (self._seen, color_image_to_rgb(msg))
        self._seen += 1

    def _on_result(self, msg: HandObjectReconstruction) -> None:
        received = self.get_clock().now().nanoseconds
        stamp = stamp_to_ns(msg.header.stamp)
        index, color = self._colors.get(stamp, (None, None))
        name = self.frame_ids[index] if index is not None else str(stamp)
        meshes = []
        record = {'frame': name, 'stamp': stamp / NS_PER_S,
                  'latency_s': (received - stamp) / NS_PER_S,
                  'sdf_queries': int(msg.sdf_query_count),
                  'stages_s': {t.stage: round(t.seconds, 4) for t in msg.timings},
                  'hands': len(msg.hands), 'objects': len(msg.objects),
                  'contacts': len(msg.contacts), 'files': []}
        for kind, items, rgb in (('hand', msg.hands, HAND_RGB), ('object', msg.objects,
                                                                  OBJECT_RGB)):
            for item in items:
                vertices, faces = mesh_from_msg(item.mesh)
                mesh = trimesh.Trimesh(vertices, faces, process=False)
                path = self.out / 'meshes' / f'{name}_{kind}.ply'
                mesh.export(path)
                record['files'].append(str(path.relative_to(self.out)))
                meshes.append((mesh, rgb))
        if color is not None:
            path = self.out / 'overlay' / f'{name}.png'
            overlay_meshes(color, self.camera, meshes).save(path)
            record['files'].append(str(path.relative_to(self.out)))
        self.records.append(record)
        print(f'frame {name}: latency {record["latency_s"]:.2f} s, '
              f'{record["sdf_queries"]} SDF queries, {record["hands"]} hand, '
              f'{record["objects"]} object, {record["contacts"]} contacts', flush=True)
        try:
            frames, _ = demonstration_frames(msg)
            self.demonstration.add_frames(stamp / NS_PER_S, frames)
        except ValueError as error:
            print(f'frame {name}: left out of the demonstration: {error}', flush=True)
            return
        self.demonstration.frame_id = self.demonstration.frame_id or msg.header.frame_id
        self.frame_names[stamp / NS_PER_S] = name

    def frame_label(self, stamp: float) -> str:
        """How the grasp summary names the frame at ``stamp``: 'frame <id>'."""
        if stamp in self.frame_names:
            return f'frame {self.frame_names[stamp]}'
        return f'{stamp - self.demonstration.stamps[0]:.2f} s'


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``c2f-sdf demo``."""
    p = argparse.ArgumentParser(prog='c2f-sdf demo', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--frames', default=str(BUNDLED_FRAMES),
                   help='frame folder to replay (default: the bundled sample)')
    p.add_argument('--out', default='demo_output', help='output folder (default demo_output)')
    p.add_argument('--weights', default='', help='weights prefix (default: shipped)')
    p.add_argument('--device', default='auto', help="'auto', 'cpu' or 'cuda:N'")
    p.add_argument('--resolution', type=int, default=128, help='lattice side (default 128)')
    p.add_argument('--detector', choices=FINDERS, default=None,
                   help='hand detector (default: mediapipe, except skin_depth on the bundled '
                   'sample, whose procedural hands MediaPipe finds in 1 of 3 frames)')
    p.add_argument('--rate', type=float, default=0.0,
                   help='replay rate in Hz (default: what the reconstruction sustains)')
    p.add_argument('--timeout', type=float, default=900.0, help='give up after (s)')
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        frames = FrameFolder(args.frames)
    except (OSError, ValueError) as error:
        print(f'c2f-sdf demo: error: {error}', file=sys.stderr)
        return 2
    detector = args.detector
    if detector is None:
        bundled = frames.root.resolve() == pathlib.Path(BUNDLED_FRAMES).resolve()
        detector = 'skin_depth' if bundled else 'mediapipe'
        if bundled:
            print('hands by skin_depth: the bundled frames are procedural renders that '
                  'MediaPipe does not take for hands (use --detector mediapipe to see it); '
                  'on a camera the node uses mediapipe', flush=True)
    finder = FinderConfig(detector=detector)
    out = pathlib.Path(args.out)
    for sub in ('meshes', 'overlay'):
        (out / sub).mkdir(parents=True, exist_ok=True)
    rate = args.rate
    if rate <= 0:
        # One reconstruction outside ROS: loads the weights once (cached by the OS for the
        # node) and tells how fast to replay so that no frame is superseded.
        try:
            probe = Reconstructor(args.weights or None, args.device,
                                  ReconstructorConfig(resolution=args.resolution,
                                                      finder=finder))
        except (OSError, ValueError) as error:
            print(f'c2f-sdf demo: error: {error}', file=sys.stderr)
            return 2
        seconds = 0.0
        for index in range(len(frames)):   # the first frame with a hand in it
            frame = frames.read(index)
            started = time.perf_counter()
            found = probe.reconstruct(frame.color, frame.depth, frames.camera.K).found
            seconds = max(seconds, time.perf_counter() - started)
            if found:
                break
        rate = 1.0 / (1.5 * seconds + 0.2)
        print(f'a frame took {seconds:.2f} s outside ROS; replaying at {rate:.3f} Hz',
              flush=True)
        del probe
    collector = None
    try:
        with rclpy.init():
            nodes: list[Node] = []
            executor = MultiThreadedExecutor(num_threads=4)
            try:
                reconstruction = ReconstructionNode(namespace=NAMESPACE, parameter_overrides=[
                    Parameter('weights', value=args.weights),
                    Parameter('device', value=args.device),
                    Parameter('resolution', value=args.resolution),
                    Parameter('detector', value=detector),
                    Parameter('report_period', value=30.0)])
                nodes.append(reconstruction)
                collector = DemoCollector(out, frames.ids, frames.camera,
                                          source=str(frames.root))
                nodes.append(collector)
                replay = ReplayCameraNode(namespace=NAMESPACE, parameter_overrides=[
                    Parameter('frames_dir', value=str(frames.root)),
                    Parameter('rate', value=rate), Parameter('loop', value=False),
                    Parameter('wait_for_subscribers', value=1),
                    Parameter('start_delay', value=1.0)])
                nodes.append(replay)
                for node in nodes:
                    executor.add_node(node)
                answered = collector.all_answered(replay, reconstruction, len(frames))
                executor.spin_until_future_complete(answered, timeout_sec=args.timeout)
                if not answered.done():
                    print('c2f-sdf demo: ' + ('interrupted' if not executor.context.ok() else
                                              f'timed out after {args.timeout:g} s'),
                          file=sys.stderr, flush=True)
            finally:
                executor.shutdown()
                for node in nodes:
                    node.destroy_node()
    except (KeyboardInterrupt, ExternalShutdownException):
        print('c2f-sdf demo: interrupted', file=sys.stderr, flush=True)
    except ConfigurationError as error:
        print(f'c2f-sdf demo: error: {error}', file=sys.stderr)
        return 2
    records = collector.records if collector is not None else []
    with open(out / 'frames.jsonl', 'w', encoding='utf-8') as stream:
        for record in records:
            stream.write(json.dumps(record) + '\n')
    if collector is not None:
        collector.demonstration.write_json(out / 'demonstration.json')
        print('grasp summary: ' + collector.demonstration.track_summary(collector.frame_label),
              flush=True)
    latencies = [r['latency_s'] for r in records]
    summary = {'frames_replayed': len(frames), 'frames_reconstructed': len(records),
               'latency_median_s': round(statistics.median(latencies), 3) if latencies else None,
               'replay_hz': round(rate, 3), 'out': str(out)}
    print(json.dumps(summary), flush=True)
    return 0 if len(records) == len(frames) else 1


if __name__ == '__main__':
    raise SystemExit(main())
