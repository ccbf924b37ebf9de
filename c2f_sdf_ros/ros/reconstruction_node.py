"""
The reconstruction node: synchronized RGB-D frames in, hand and object meshes out.

Subscriptions (through ``RgbdInput``): ``color/image_raw``,
``aligned_depth_to_color/image_raw``, ``color/camera_info``. The callbacks only store the
newest frame; a worker thread runs the model on it, so callbacks never block and a slow
model drops old frames (counted as ``superseded``) instead of queueing them.

Publications: ``reconstruction`` (c2f_sdf_ros/HandObjectReconstruction), ``markers``
(visualization_msgs/MarkerArray), ``hand_points`` and ``object_points``
(sensor_msgs/PointCloud2: the depth points the model put on each surface), and every
``report_period`` a status on ``/diagnostics`` with rates, latency (publish time minus the
image stamp) and drops by reason. All in the color image's frame (optical, metres).
"""

from __future__ import annotations

from collections import Counter, deque
import threading
import time

from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from visualization_msgs.msg import MarkerArray

from c2f_sdf_ros.msg import HandObjectReconstruction
from c2f_sdf_ros.reconstruct.hand_finder import FINDERS, FinderConfig
from c2f_sdf_ros.reconstruct.pipeline import Reconstructor, ReconstructorConfig
from c2f_sdf_ros.reconstruct.ser import SER_MODES, SerConfig
from c2f_sdf_ros.ros.diagnostics import StatusReporter, latency_values, median_ms
from c2f_sdf_ros.ros.markers import MeshMarkerArrayBuilder
from c2f_sdf_ros.ros.node_main import run_node
from c2f_sdf_ros.ros.parameters import ConfigurationError, ParameterSpec, declare_parameters
from c2f_sdf_ros.ros.qos import RELIABILITY_CHOICES, make_qos
from c2f_sdf_ros.ros.reconstruction_msgs import (
    frame_points,
    reconstruction_meshes,
    reconstruction_to_msg,
    xyz_cloud,
)
from c2f_sdf_ros.ros.rgbd_frame import FrameRejected, frame_from_messages, frame_id_mismatch
from c2f_sdf_ros.ros.rgbd_input import INPUT_PARAMETERS, RgbdInput
from c2f_sdf_ros.ros.sync import NS_PER_S, stamp_to_ns

PARAMETERS = INPUT_PARAMETERS + (
    ParameterSpec('weights', '', 'Weights prefix (.safetensors + .json); empty: the shipped '
                  'synthetic-data weights.'),
    ParameterSpec('device', 'auto', "'auto' (CUDA when present), 'cpu' or 'cuda:N'."),
    ParameterSpec('threads', 0, 'CPU threads for inference (0: torch default).',
                  low=0, high=256),
    ParameterSpec('resolution', 128, 'Lattice side of the SDF queries (multiple of 32).',
                  low=32, high=256),
    ParameterSpec('use_ser', True, 'Sparse surface-aware queries (false: dense lattice).'),
    ParameterSpec('ser_mode', 'c2f', 'SER query scheme: paper (64 points per kept voxel) or '
                  'c2f (coarse-to-fine inside the kept voxels).', choices=SER_MODES),
    ParameterSpec('ser_threshold', SerConfig.threshold, 'SER: heatmap values under it are '
                  'dropped, before and after the 3x3x3 mean filter.', low=0.0, high=10.0),
    ParameterSpec('ser_thin', SerConfig.thin, 'SER c2f: at the first doubling, a coarse '
                  'cell with a corner value under this many cells is refined (thin parts).',
                  low=0.0, high=2.0),
    ParameterSpec('ser_margin', SerConfig.margin, 'SER c2f: fine points within this many '
                  'coarse cells of a crossed cell are queried (0.5: vertices as dense).',
                  low=0.0, high=0.99),
    ParameterSpec('detector', 'mediapipe', 'Hand detector: mediapipe (landmarks, side, '
                  'several hands) or skin_depth (skin-colour blob fallback, no model).',
                  choices=FINDERS),
    ParameterSpec('max_hands', 2, 'Most hands reconstructed per frame.', low=1, high=8),
    ParameterSpec('min_hand_score', 0.5, 'Least detection score of a hand.', low=0.0,
                  high=1.0),
    ParameterSpec('refine_iterations', 2, 'Encoder passes that re-centre the crop on the '
                  'predicted wrist (skin_depth only: a detected wrist is kept).',
                  low=0, high=10),
    ParameterSpec('contact_distance', 0.005, 'Hand vertices within this distance (m) of the '
                  'object are contacts.', low=0.0, high=0.05),
    ParameterSpec('bf16', False, 'bfloat16 SDF queries (faster on GPUs and AMX CPUs).'),
    ParameterSpec('publish_points', True, 'Publish hand_points / object_points clouds.'),
    ParameterSpec('output_qos_reliability', 'reliable', 'Reliability of the outputs.',
                  choices=RELIABILITY_CHOICES),
    ParameterSpec('report_period', 2.0, 'Seconds between status reports (log, /diagnostics).',
                  low=0.1, high=3600.0),
)


class ReconstructionNode(Node):
    """
    Runs ``Reconstructor`` on the newest synchronized RGB-D frame, in a worker thread.

    ``destroy_node()`` stops the worker (after the frame it is on) before the node goes.
    """

    _worker: threading.Thread | None = None   # set once the node is fully built

    def __init__(self, **kwargs):
        super().__init__('hand_object_reconstruction', **kwargs)
        p = self.params = declare_parameters(self, PARAMETERS)
        if p['resolution'] % 32:
            raise ConfigurationError(f'resolution must be a multiple of 32, got '
                                     f'{p["resolution"]}')
        config = ReconstructorConfig(
            resolution=p['resolution'], lattice='ser' if p['use_ser'] else 'dense',
            ser=SerConfig(mode=p['ser_mode'], threshold=p['ser_threshold'],
                          thin=p['ser_thin'], margin=p['ser_margin']),
            refine_iterations=p['refine_iterations'],
            contact_distance=p['contact_distance'], bf16=p['bf16'],
            finder=FinderConfig(p['detector'], p['max_hands'], p['min_hand_score']))
        try:
            self.reconstructor = Reconstructor(p['weights'] or None, p['device'], config,
                                               threads=p['threads'])
        except (OSError, ValueError) as error:
            raise ConfigurationError(f'cannot load weights {p["weights"] or "(shipped)"}: '
                                     f'{error}') from error
        qos = make_qos(p['output_qos_reliability'], 5)
        self._result_pub = self.create_publisher(HandObjectReconstruction, 'reconstruction', qos)
        self._marker_pub = self.create_publisher(MarkerArray, 'markers', qos)
        self._hand_points_pub = self.create_publisher(PointCloud2, 'hand_points', qos)
        self._object_points_pub = self.create_publisher(PointCloud2, 'object_points', qos)
        self._markers = MeshMarkerArrayBuilder()

        self._condition = threading.Condition()
        self._latest: tuple[Image, Image, CameraInfo] | None = None
        self._stopping = False
        self.received = 0
        self.published = 0
        self.dropped: Counter[str] = Counter()
        self._latencies: deque[float] = deque(maxlen=500)
        self._compute: deque[float] = deque(maxlen=500)

        self.input = RgbdInput(self, self._on_frame, **{
            spec.name: p[spec.name] for spec in INPUT_PARAMETERS})
        self._status = StatusReporter(self, 'reconstruction', self.input.topic_names[0])
        worker = threading.Thread(target=self._work, name='reconstruction', daemon=True)
        worker.start()
        self._worker = worker
        self.create_timer(p['report_period'], self._report)
        lattice = f'SER {config.ser.mode}' if config.lattice == 'ser' else config.lattice
        self.get_logger().info(
            f'reconstructing {", ".join(self.input.topic_names)} on '
            f'{self.reconstructor.device} ({self.reconstructor.weights}, resolution '
            f'{config.resolution}, {lattice}, hands by {self.reconstructor.finder.name})')

    # -- input side: never blocks ------------------------------------------------------------
    def _on_frame(self, color: Image, depth: Image, info: CameraInfo) -> None:
        with self._condition:
            self.received += 1
            if self._latest is not None:
                self.dropped['superseded'] += 1
            self._latest = (color, depth, info)
            self._condition.notify()

    # -- worker ------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._condition:
                while self._latest is None and not self._stopping:
                    self._condition.wait()
                if self._stopping:
                    return
                color, depth, info = self._latest
                self._latest = None
            try:
                self._process(color, depth, info)
            except Exception as error:  # noqa: BLE001 - keep serving the next frame
                if self._stopping or not self.context.ok():
                    # Ctrl-C shut the context down (rclpy does that in its signal handler)
                    # while this frame was in flight: a stop, not a failed frame.
                    return
                self.dropped['error'] += 1
                self.get_logger().error(f'reconstruction failed: {error!r}',
                                        throttle_duration_sec=5.0)

    def _process(self, color: Image, depth: Image, info: CameraInfo) -> None:
        mismatch = frame_id_mismatch(color, depth)
        if mismatch:
            self.get_logger().warning(mismatch, throttle_duration_sec=10.0)
        try:
            frame = frame_from_messages(color, depth, info)
        except FrameRejected as error:
            self.dropped[error.reason] += 1
            self.get_logger().warning(f'dropped frame: {error}', throttle_duration_sec=5.0)
            return
        started = time.perf_counter()
        try:
            result = self.reconstructor.reconstruct_frame(frame.color, frame.depth,
                                                          frame.camera.K)
        except FrameRejected as error:
            self.dropped[error.reason] += 1
            self.get_logger().warning(f'dropped frame: {error}', throttle_duration_sec=5.0)
            return
        self._compute.append(time.perf_counter() - started)
        if not result.hands:
            self.dropped['no_hand'] += 1   # counted, and still published (empty)
        header = color.header
        self._result_pub.publish(reconstruction_to_msg(result, header))
        self._marker_pub.publish(self._markers.build(header, reconstruction_meshes(result)))
        if self.params['publish_points']:
            hand_points, object_points = frame_points(result)
            self._hand_points_pub.publish(xyz_cloud(hand_points, header))
            self._object_points_pub.publish(xyz_cloud(object_points, header))
        now_ns = self.get_clock().now().nanoseconds
        self._latencies.append((now_ns - stamp_to_ns(header.stamp)) / NS_PER_S)
        self.published += 1
        self.get_logger().debug(
            f'frame {stamp_to_ns(header.stamp)}: {result.queries} queries, '
            f'{result.total_seconds:.3f} s')

    # -- reporting ---------------------------------------------------------------------------
    def status_values(self) -> dict[str, str]:
        """Counters and latency statistics, as /diagnostics key-values."""
        return {
            'received_frames': str(self.received),
            'published_frames': str(self.published),
            **latency_values(self._latencies),
            'compute_median_ms': median_ms(self._compute),
            **{f'dropped_{reason}': str(n) for reason, n in sorted(self.dropped.items())},
        }

    def _report(self) -> None:
        rate = self._status.rate(self.published)
        values = {'published_per_second': f'{rate:.2f}', **self.status_values()}
        bad = {k: v for k, v in self.dropped.items() if k != 'superseded'}
        self._status.publish(values, self.input.diagnose(), bad, f'{rate:.2f} reconstructions/s')
        if self.published or bad:
            self.get_logger().info(
                f'{rate:.2f} reconstructions/s, latency median {values["latency_median_ms"]} '
                f'ms, {self.published} published, dropped {dict(self.dropped) or 0}')

    # -- shutdown ----------------------------------------------------------------------------
    def stop_worker(self, timeout: float = 30.0) -> bool:
        """Let the worker finish the frame it is on and end; False if it was not running."""
        worker, self._worker = self._worker, None
        if worker is None:
            return False
        with self._condition:
            self._stopping = True
            self._condition.notify()
        worker.join(timeout)
        return True

    def destroy_node(self) -> None:
        """Stop the worker, destroy the node (publishers and all), log the totals."""
        running = self.stop_worker()
        super().destroy_node()
        if running:
            # Logged once the node is gone, so to the console only: after Ctrl-C the
            # context is shut down and /rosout could not take it.
            self.get_logger().info(f'totals: {self.status_values()}')


def main(args: list[str] | None = None) -> int:
    """Run the reconstruction node (``ros2 run c2f_sdf_ros reconstruction_node``)."""
    return run_node(ReconstructionNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
