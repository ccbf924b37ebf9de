"""
The reconstruction node: synchronized RGB-D frames in, hand and object meshes out.

Subscriptions (through ``RgbdInput``): ``color/image_raw``,
``aligned_depth_to_color/image_raw``, ``color/camera_info`` (or the images' ``/compressed``
and ``/compressedDepth`` topics, by ``color_transport`` / ``depth_transport``). The
callbacks only store the newest frame; a worker thread runs the model on it, so callbacks
never block and a slow model drops old frames (counted as ``superseded``) instead of
queueing them.

Publications (``PUBLISHED_TOPICS``): ``reconstruction`` (c2f_sdf_ros/HandObjectReconstruction),
``markers`` (visualization_msgs/MarkerArray), ``hand_points`` and ``object_points``
(sensor_msgs/PointCloud2: the depth points the model put on each surface), and every
``report_period`` a status on ``/diagnostics`` with rates, latency (publish time minus the
image stamp), compute time and drops by reason. All in the color image's frame (optical,
metres). Meshes and markers are serialized from numpy arrays (``cdr``): no Python object
per vertex. Markers and clouds are only built while someone subscribes to them.

Markers are cleared (one DELETEALL) when the node stops, when no frame has arrived for
``input_timeout`` seconds, and when the managed variant is deactivated.

The parameters in ``RUNTIME_PARAMETERS`` can be changed while the node runs
(``ros2 param set``); a refused value is answered with the reason. Model settings among
them are applied between two frames, on the same loaded model
(``Reconstructor.with_config``).

``ReconstructionRunner`` does the work for this node and for its managed (lifecycle)
variant, ``reconstruction_lifecycle_node``.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Mapping
import ctypes
import ctypes.util
import dataclasses
import threading
import time

from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, PointCloud2
from std_msgs.msg import Header
from visualization_msgs.msg import MarkerArray

from c2f_sdf_ros.msg import HandObjectReconstruction
from c2f_sdf_ros.reconstruct.hand_finder import FINDERS, FinderConfig
from c2f_sdf_ros.reconstruct.pipeline import (
    FrameReconstruction,
    Reconstructor,
    ReconstructorConfig,
)
from c2f_sdf_ros.reconstruct.ser import SER_MODES, SerConfig
from c2f_sdf_ros.reconstruct.tracking import HandTracker, TrackerConfig, with_tracks
from c2f_sdf_ros.ros import cdr
from c2f_sdf_ros.ros.diagnostics import (
    KeyedThrottle,
    StatusReporter,
    latency_values,
    median_ms,
)
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
from c2f_sdf_ros.ros.rgbd_frame import (
    FrameRejected,
    ImageMsg,
    frame_from_messages,
    frame_id_mismatch,
)
from c2f_sdf_ros.ros.rgbd_input import (
    COLOR_TOPIC,
    COLOR_TRANSPORTS,
    INPUT_PARAMETERS,
    SUBSCRIPTION_PARAMETERS,
    RgbdInput,
)
from c2f_sdf_ros.ros.sync import NS_PER_S, stamp_to_ns

NODE_NAME = 'hand_object_reconstruction'
# Parameters that may change while the node runs (the rest are read-only).
RUNTIME_PARAMETERS = ('contact_distance', 'publish_points', 'ser_threshold', 'ser_thin',
                      'ser_margin', 'max_hands', 'min_hand_score', 'input_timeout')
# What the node publishes (relative names), by message type.
PUBLISHED_TOPICS = {
    'reconstruction': HandObjectReconstruction,
    'markers': MarkerArray,
    'hand_points': PointCloud2,
    'object_points': PointCloud2,
}
# How often the input timeout is checked (s).
INPUT_CHECK_PERIOD = 0.25


def _malloc_trim():
    """The C library's ``malloc_trim`` (glibc; None elsewhere)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6').malloc_trim
    except (OSError, AttributeError):
        return None


# Every frame allocates and frees hundreds of MiB (images, lattices, query batches) from the
# worker and executor threads; glibc keeps freed pages in its per-thread arenas, so without a
# trim the resident size drifts up for minutes. One trim per frame costs about a millisecond.
MALLOC_TRIM = _malloc_trim()


def _spec(name, default, description, **kwargs) -> ParameterSpec:
    return ParameterSpec(name, default, description, read_only=name not in RUNTIME_PARAMETERS,
                         **kwargs)


PARAMETERS = INPUT_PARAMETERS + (
    _spec('weights', '', 'Weights prefix (.safetensors + .json); empty: the shipped '
          'synthetic-data weights.'),
    _spec('device', 'auto', "'auto' (CUDA when present), 'cpu' or 'cuda:N'."),
    _spec('threads', 0, 'CPU threads for inference (0: torch default).', low=0, high=256),
    _spec('resolution', 128, 'Lattice side of the SDF queries (multiple of 32).',
          low=32, high=256),
    _spec('use_ser', True, 'Sparse surface-aware queries (false: dense lattice).'),
    _spec('ser_mode', 'c2f', 'SER query scheme: paper (64 points per kept voxel) or '
          'c2f (coarse-to-fine inside the kept voxels).', choices=SER_MODES),
    _spec('ser_threshold', SerConfig.threshold, 'SER: heatmap values under it are '
          'dropped, before and after the 3x3x3 mean filter (runtime).', low=0.0, high=10.0),
    _spec('ser_thin', SerConfig.thin, 'SER c2f: at the first doubling, a coarse '
          'cell with a corner value under this many cells is refined (thin parts; runtime).',
          low=0.0, high=2.0),
    _spec('ser_margin', SerConfig.margin, 'SER c2f: fine points within this many '
          'coarse cells of a crossed cell are queried (0.5: vertices as dense; runtime).',
          low=0.0, high=0.99),
    _spec('detector', 'mediapipe', 'Hand detector: mediapipe (landmarks, side, '
          'several hands) or skin_depth (skin-colour blob fallback, no model).',
          choices=FINDERS),
    _spec('max_hands', 2, 'Most hands reconstructed per frame (runtime).', low=1, high=8),
    _spec('min_hand_score', FinderConfig.min_hand_score,
          'Least detection score of a hand (runtime).', low=0.0, high=1.0),
    _spec('refine_iterations', 2, 'Encoder passes that re-centre the crop on the '
          'predicted wrist (skin_depth only: a detected wrist is kept).', low=0, high=10),
    _spec('contact_distance', 0.005, 'Hand vertices within this distance (m) of the '
          'object are contacts (runtime).', low=0.0, high=0.05),
    _spec('bf16', False, 'bfloat16 SDF queries (faster on GPUs and AMX CPUs).'),
    _spec('track_max_gap', TrackerConfig.max_gap, 'A hand unseen for longer (s) gets a new '
          'track id.', low=0.0, high=60.0),
    _spec('smoothing_min_cutoff', TrackerConfig.min_cutoff, 'One Euro filter of joints and '
          'root: cutoff (Hz) at rest; lower is smoother.', low=0.01, high=100.0),
    _spec('smoothing_beta', TrackerConfig.beta, 'One Euro filter: how fast the cutoff rises '
          'with speed; higher follows fast moves with less lag.', low=0.0, high=1000.0),
    _spec('publish_points', True, 'Publish hand_points / object_points clouds (runtime).'),
    _spec('input_timeout', 5.0, 'Seconds without an input frame after which the markers '
          'are cleared (DELETEALL); 0: never (runtime).', low=0.0, high=3600.0),
    _spec('output_qos_reliability', 'reliable', 'Reliability of the outputs.',
          choices=RELIABILITY_CHOICES),
    _spec('report_period', 2.0, 'Seconds between status reports (log, /diagnostics).',
          low=0.1, high=3600.0),
)


def reconstructor_config(p: Mapping) -> ReconstructorConfig:
    """The pipeline settings from the node's parameter values (ValueError if invalid)."""
    if p['resolution'] % 32:
        raise ValueError(f'resolution must be a multiple of 32, got {p["resolution"]}')
    return ReconstructorConfig(
        resolution=p['resolution'], lattice='ser' if p['use_ser'] else 'dense',
        ser=SerConfig(mode=p['ser_mode'], threshold=p['ser_threshold'], thin=p['ser_thin'],
                      margin=p['ser_margin']),
        refine_iterations=p['refine_iterations'], contact_distance=p['contact_distance'],
        bf16=p['bf16'],
        finder=FinderConfig(p['detector'], p['max_hands'], p['min_hand_score']))


def runtime_config(config: ReconstructorConfig, p: Mapping) -> ReconstructorConfig:
    """
    ``config`` with the runtime parameters of ``p`` applied (``dataclasses.replace``).

    Raises ValueError (the frozen configs' own checks) for values they refuse.
    """
    return dataclasses.replace(
        config, contact_distance=p['contact_distance'],
        ser=dataclasses.replace(config.ser, threshold=p['ser_threshold'], thin=p['ser_thin'],
                                margin=p['ser_margin']),
        finder=dataclasses.replace(config.finder, max_hands=p['max_hands'],
                                   min_hand_score=p['min_hand_score']))


class ReconstructionRunner:
    """
    The reconstruction work of a node, in steps a lifecycle can call one by one.

    ``load`` (weights), ``open`` (publishers), ``start`` (subscriptions, worker, timers),
    ``stop`` (the reverse of start, then DELETEALL), ``close`` (publishers), ``release``
    (the model). The plain node runs load, open and start at construction and the rest in
    ``destroy_node``; the lifecycle node maps them onto its transitions.

    Parameters
    ----------
    node : rclpy Node (or LifecycleNode)
        The node whose publishers, subscriptions and timers these are.
    params : dict
        The parameter values (``declare_parameters``); kept up to date by
        ``on_parameters_set``.

    """

    def __init__(self, node: Node, params: dict):
        self.node = node
        self.params = params
        self.reconstructor: Reconstructor | None = None
        self.config: ReconstructorConfig | None = None
        self.input: RgbdInput | None = None
        self._publishers: dict[str, object] = {}
        self._status: StatusReporter | None = None
        self._timers: list = []
        self._markers = MeshMarkerArrayBuilder()
        self._marker_frame_id = ''
        self.tracker = HandTracker(TrackerConfig(
            max_gap=params['track_max_gap'],
            min_cutoff=params['smoothing_min_cutoff'], beta=params['smoothing_beta']))
        self._log_throttle = KeyedThrottle(5.0)

        self._condition = threading.Condition()
        self._publish_lock = threading.Lock()
        self._publishing = False
        self._latest: tuple[ImageMsg, ImageMsg, CameraInfo] | None = None
        self._pending_config: ReconstructorConfig | None = None
        self._busy = False
        self._stopping = False
        self._worker: threading.Thread | None = None
        self._last_activity = time.monotonic()

        self.received = 0
        self.published = 0
        self.cleared = 0
        self.dropped: Counter[str] = Counter()
        self._latencies: deque[float] = deque(maxlen=500)
        self._compute: deque[float] = deque(maxlen=500)
        self._pipeline: deque[float] = deque(maxlen=500)
        self._outputs: deque[float] = deque(maxlen=500)

    # -- lifecycle steps ---------------------------------------------------------------------
    def load(self) -> None:
        """Load the weights (ConfigurationError naming the cause if that fails)."""
        p = self.params
        try:
            config = reconstructor_config(p)
        except ValueError as error:
            raise ConfigurationError(str(error)) from error
        try:
            self.reconstructor = Reconstructor(p['weights'] or None, p['device'], config,
                                               threads=p['threads'])
        except (OSError, ValueError) as error:
            raise ConfigurationError(f'cannot load weights {p["weights"] or "(shipped)"}: '
                                     f'{error}') from error
        self.config = config

    def open(self) -> None:
        """Create the publishers and the /diagnostics reporter."""
        qos = make_qos(self.params['output_qos_reliability'], 5)
        self._publishers = {topic: self.node.create_publisher(msg_type, topic, qos)
                            for topic, msg_type in PUBLISHED_TOPICS.items()}
        color = self.node.resolve_topic_name(COLOR_TOPIC) + \
            COLOR_TRANSPORTS[self.params['color_transport']][0]
        self._status = StatusReporter(self.node, 'reconstruction', color)

    def start(self) -> None:
        """Subscribe, start the worker and the timers."""
        with self._condition:
            self._stopping = False
            self._latest = None
            self._last_activity = time.monotonic()
        self._publishing = True
        self.input = RgbdInput(self.node, self._on_frame, **{
            name: self.params[name] for name in SUBSCRIPTION_PARAMETERS})
        worker = threading.Thread(target=self._work, name='reconstruction', daemon=True)
        worker.start()
        self._worker = worker
        self._timers = [self.node.create_timer(self.params['report_period'], self._report),
                        self.node.create_timer(INPUT_CHECK_PERIOD, self._check_input)]

    @property
    def running(self) -> bool:
        """Whether the worker is running (between ``start`` and ``stop``)."""
        return self._worker is not None

    def stop(self, clear: bool = True, timeout: float = 30.0) -> bool:
        """
        Unsubscribe, let the worker finish its frame (unpublished) and end; then DELETEALL.

        Returns False if it was not running.
        """
        worker, self._worker = self._worker, None
        if worker is None:
            return False
        with self._publish_lock:
            self._publishing = False   # nothing of the frame in flight is published now
        with self._condition:
            self._stopping = True
            self._latest = None
            self._condition.notify()
        for timer in self._timers:
            self.node.destroy_timer(timer)
        self._timers = []
        if self.input is not None:
            self.input.destroy()
        worker.join(timeout)
        self.tracker = HandTracker(self.tracker.config)   # a restart starts new tracks
        if clear:
            self.clear_markers('stopped', wait=1.0)
        return True

    def close(self) -> None:
        """Destroy the publishers."""
        publishers, self._publishers = self._publishers, {}
        for publisher in publishers.values():
            self.node.destroy_publisher(publisher)
        if self._status is not None:
            self._status.destroy()
            self._status = None

    def release(self) -> None:
        """Drop the model (and the hand detector's resources)."""
        reconstructor, self.reconstructor = self.reconstructor, None
        self.config = None
        if reconstructor is not None:
            reconstructor.finder.close()
            if reconstructor.device.type == 'cuda':
                import torch
                torch.cuda.empty_cache()

    def shut_down(self, destroy_node: Callable[[], None]) -> None:
        """
        The end of the node: ``stop``, ``close``, ``release``, then ``destroy_node()``.

        ``stop`` clears the markers while the context is still up. The totals, if the worker
        was running, are logged once the node is gone, so to the console only.
        """
        running = self.stop(clear=True)
        self.close()
        self.release()
        destroy_node()
        if running:
            self.node.get_logger().info(f'totals: {self.status_values()}')

    # -- runtime parameters --------------------------------------------------------------------
    def validate_parameters(self, changes: Mapping[str, object]) -> str | None:
        """Why ``changes`` cannot be applied (None if they can)."""
        values = {**self.params, **changes}
        try:
            runtime_config(self.config or reconstructor_config(values), values)
        except ValueError as error:
            return str(error)
        return None

    def on_parameters_set(self, parameters: list[Parameter]) -> None:
        """Take accepted changes; model settings go to the worker for its next frame."""
        changed = {p.name: p.value for p in parameters if p.name in self.params}
        self.params.update(changed)
        if not changed:
            return
        if self.config is not None and set(changed) - {'publish_points', 'input_timeout'}:
            with self._condition:
                self._pending_config = runtime_config(
                    self._pending_config or self.config, self.params)
        self.node.get_logger().info(
            'parameters set: ' + ', '.join(f'{k}={v}' for k, v in sorted(changed.items())))

    def _swap_pending(self) -> Reconstructor | None:
        """Apply a pending configuration (worker thread, between frames); the reconstructor."""
        with self._condition:
            pending, self._pending_config = self._pending_config, None
        old = self.reconstructor
        if pending is None or old is None:
            return old
        new = old.with_config(pending)
        if new.finder is not old.finder:
            old.finder.close()
        self.reconstructor, self.config = new, pending
        return new

    # -- input side: never blocks ------------------------------------------------------------
    def _on_frame(self, color: ImageMsg, depth: ImageMsg, info: CameraInfo) -> None:
        with self._condition:
            self.received += 1
            self._last_activity = time.monotonic()
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
                self._busy = True
            try:
                self._swap_pending()
                self._process(color, depth, info)
            except Exception as error:  # noqa: BLE001 - keep serving the next frame
                if self._stopping or not self.node.context.ok():
                    # Ctrl-C shut the context down while this frame was in flight: a stop,
                    # not a failed frame.
                    return
                self.dropped['error'] += 1
                self._warn('error', f'reconstruction failed: {error!r}', error=True)
            finally:
                del color, depth, info
                if MALLOC_TRIM is not None:
                    MALLOC_TRIM(0)
                with self._condition:
                    self._busy = False
                    self._last_activity = time.monotonic()

    def _warn(self, key: str, text: str, error: bool = False) -> None:
        """Log ``text`` unless ``key`` was logged in the last 5 s (one throttle per key)."""
        if self._log_throttle.ready(key):
            logger = self.node.get_logger()
            (logger.error if error else logger.warning)(text)

    def _drop(self, error: FrameRejected) -> None:
        self.dropped[error.reason] += 1
        self._warn(error.reason, f'dropped frame: {error}')

    def _process(self, color: ImageMsg, depth: ImageMsg, info: CameraInfo) -> None:
        started = time.perf_counter()
        mismatch = frame_id_mismatch(color, depth)
        if mismatch:
            self._warn('frame_id', mismatch)
        warnings: list[tuple[str, str]] = []
        try:
            frame = frame_from_messages(color, depth, info, self.params['float_depth_in_mm'],
                                        warnings)
        except FrameRejected as error:
            self._drop(error)
            return
        for key, text in warnings:
            self._warn(key, text)
        pipeline_started = time.perf_counter()
        try:
            result = self.reconstructor.reconstruct_frame(frame.color, frame.depth,
                                                          frame.camera.K)
        except FrameRejected as error:
            self._drop(error)
            return
        self._pipeline.append(time.perf_counter() - pipeline_started)
        # Identity across frames and smoothed joints (One Euro), before the messages.
        stamp = stamp_to_ns(color.header.stamp) / NS_PER_S
        result = with_tracks(result, self.tracker.update(result, stamp))
        if not result.hands:
            self.dropped['no_hand'] += 1   # counted, and still published (empty)
        outputs_started = time.perf_counter()
        if not self._publish(result, color.header):
            return
        done = time.perf_counter()
        self._outputs.append(done - outputs_started)
        self._compute.append(done - started)
        self.node.get_logger().debug(
            f'frame {stamp_to_ns(color.header.stamp)}: {result.queries} queries, '
            f'{result.total_seconds:.3f} s')

    def _publish(self, result: FrameReconstruction, header: Header) -> bool:
        """Publish every output of one frame; False when stopping (nothing published)."""
        publishers = self._publishers
        with self._publish_lock:
            if not self._publishing:
                return False
            publishers['reconstruction'].publish(
                cdr.serialize(reconstruction_to_msg(result, header, packed=True)))
            markers = publishers['markers']
            if markers.get_subscription_count() > 0:
                markers.publish(cdr.serialize(
                    self._markers.build(header, reconstruction_meshes(result))))
                self._marker_frame_id = header.frame_id
            clouds = (publishers['hand_points'], publishers['object_points'])
            if self.params['publish_points'] and any(c.get_subscription_count() for c in clouds):
                for publisher, points in zip(clouds, frame_points(result), strict=True):
                    publisher.publish(xyz_cloud(points, header))
            now_ns = self.node.get_clock().now().nanoseconds
            self._latencies.append((now_ns - stamp_to_ns(header.stamp)) / NS_PER_S)
            self.published += 1
            with self._condition:
                self._last_activity = time.monotonic()
        return True

    # -- markers -----------------------------------------------------------------------------
    def clear_markers(self, why: str, wait: float = 0.0) -> bool:
        """
        Publish one DELETEALL (if the publisher and the context are up); True if sent.

        ``wait``: seconds to wait for reliable subscribers to acknowledge it (before the
        publisher is destroyed, so that it is not lost at a stop).
        """
        with self._publish_lock:
            publisher = self._publishers.get('markers')
            if publisher is None or not self.node.context.ok():
                return False
            header = Header(frame_id=self._marker_frame_id,
                            stamp=self.node.get_clock().now().to_msg())
            publisher.publish(self._markers.clear(header))
            self.cleared += 1
        if wait > 0:
            publisher.wait_for_all_acked(Duration(seconds=wait))
        self.node.get_logger().info(f'markers cleared ({why})')
        return True

    def _check_input(self) -> None:
        timeout = self.params['input_timeout']
        if not timeout or not self._markers.showing:
            return
        with self._condition:
            idle = self._latest is None and not self._busy
            quiet = time.monotonic() - self._last_activity
        if idle and quiet > timeout:
            self.clear_markers(f'no input frame for {quiet:.1f} s > input_timeout {timeout} s')

    # -- reporting ---------------------------------------------------------------------------
    def status_values(self) -> dict[str, str]:
        """Counters and latency statistics, as /diagnostics key-values."""
        return {
            'received_frames': str(self.received),
            'published_frames': str(self.published),
            **latency_values(self._latencies),
            # Per published frame: everything (decode, pipeline, messages, markers, publish),
            # the pipeline alone, and the outputs alone.
            'compute_median_ms': median_ms(self._compute),
            'pipeline_median_ms': median_ms(self._pipeline),
            'outputs_median_ms': median_ms(self._outputs),
            'markers_cleared': str(self.cleared),
            **{f'dropped_{reason}': str(n) for reason, n in sorted(self.dropped.items())},
        }

    def _report(self) -> None:
        if self._status is None or self.input is None:
            return
        rate = self._status.rate(self.published)
        values = {'published_per_second': f'{rate:.2f}', **self.status_values()}
        bad = {k: v for k, v in self.dropped.items() if k != 'superseded'}
        self._status.publish(values, self.input.diagnose(), bad, f'{rate:.2f} reconstructions/s')
        if self.published or bad:
            self.node.get_logger().info(
                f'{rate:.2f} reconstructions/s, latency median {values["latency_median_ms"]} '
                f'ms, compute median {values["compute_median_ms"]} ms, {self.published} '
                f'published, dropped {dict(self.dropped) or 0}')

    def describe(self) -> str:
        """One line on what runs: inputs, device, weights, lattice, detector."""
        config = self.config
        lattice = f'SER {config.ser.mode}' if config.lattice == 'ser' else config.lattice
        inputs = ', '.join(self.input.topic_names) if self.input else 'no input yet'
        return (f'reconstructing {inputs} on {self.reconstructor.device} '
                f'({self.reconstructor.weights}, resolution {config.resolution}, {lattice}, '
                f'hands by {self.reconstructor.finder.name})')


def declare_reconstruction_parameters(node: Node) -> tuple[dict, ReconstructionRunner]:
    """Declare ``PARAMETERS`` on ``node`` with runtime validation; the values and a runner."""
    holder: list[ReconstructionRunner] = []
    params = declare_parameters(node, PARAMETERS,
                                validate=lambda changes: holder[0].validate_parameters(changes))
    runner = ReconstructionRunner(node, params)
    holder.append(runner)
    node.add_post_set_parameters_callback(runner.on_parameters_set)
    return params, runner


class ReconstructionNode(Node):
    """
    Runs ``Reconstructor`` on the newest synchronized RGB-D frame, in a worker thread.

    ``destroy_node()`` stops the worker (after the frame it is on), clears the markers
    (DELETEALL) while the context is still up, and destroys the node.
    """

    runner: ReconstructionRunner | None = None   # set once the node is fully built

    def __init__(self, **kwargs):
        super().__init__(NODE_NAME, **kwargs)
        self.params, runner = declare_reconstruction_parameters(self)
        runner.load()
        runner.open()
        runner.start()
        self.runner = runner
        self.get_logger().info(runner.describe())

    # Counters, read by the demo and the tests.
    @property
    def published(self) -> int:
        """Frames published so far."""
        return self.runner.published

    @property
    def dropped(self) -> Counter[str]:
        """Frames dropped so far, by reason."""
        return self.runner.dropped

    def status_values(self) -> dict[str, str]:
        """Counters and latency statistics, as /diagnostics key-values."""
        return self.runner.status_values()

    def stop_worker(self, timeout: float = 30.0) -> bool:
        """Stop the worker (and the subscriptions) and clear the markers."""
        return self.runner is not None and self.runner.stop(timeout=timeout)

    def destroy_node(self) -> None:
        """Stop the worker, clear the markers, destroy the node, log the totals."""
        if self.runner is None:   # construction failed: nothing started
            super().destroy_node()
        else:
            self.runner.shut_down(super().destroy_node)


def main(args: list[str] | None = None) -> int:
    """Run the reconstruction node (``ros2 run c2f_sdf_ros reconstruction_node``)."""
    return run_node(ReconstructionNode, args, publish_on_stop=True)


if __name__ == '__main__':
    raise SystemExit(main())
