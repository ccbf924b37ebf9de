"""
Subscribe to color, aligned depth and camera_info and hand out synchronized triples.

Images come raw (``sensor_msgs/Image``) or, as image_transport publishes them, compressed
(``sensor_msgs/CompressedImage`` on ``<image topic>/compressed`` for colour and
``<image topic>/compressedDepth`` for depth), chosen by ``color_transport`` and
``depth_transport``. The image topic is remapped first, then the suffix added, as
image_transport does: remapping ``color/image_raw`` moves its compressed topic too.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
import threading

from rclpy.callback_groups import CallbackGroup
from rclpy.event_handler import QoSRequestedIncompatibleQoSInfo, SubscriptionEventCallbacks
from rclpy.node import Node
from rclpy.qos import ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from c2f_sdf_ros.ros.parameters import ParameterSpec
from c2f_sdf_ros.ros.qos import RELIABILITY_CHOICES, make_qos
from c2f_sdf_ros.ros.rgbd_frame import FLOAT_DEPTH_IN_MM_CHOICES
from c2f_sdf_ros.ros.sync import TimeSynchronizer, stamp_to_ns

# Relative names, so a namespace or remapping points them at any camera driver.
COLOR_TOPIC = 'color/image_raw'
DEPTH_TOPIC = 'aligned_depth_to_color/image_raw'
CAMERA_INFO_TOPIC = 'color/camera_info'
TOPICS = (COLOR_TOPIC, DEPTH_TOPIC, CAMERA_INFO_TOPIC)
# Transport -> topic suffix and message type (image_transport's names).
COLOR_TRANSPORTS = {'raw': ('', Image), 'compressed': ('/compressed', CompressedImage)}
DEPTH_TRANSPORTS = {'raw': ('', Image),
                    'compressedDepth': ('/compressedDepth', CompressedImage)}

# Parameters of every node that reads an RGB-D camera through RgbdInput.
INPUT_PARAMETERS = (
    ParameterSpec('qos_reliability', 'reliable',
                  'Reliability of the image and camera_info subscriptions. A reliable '
                  'subscription receives nothing from a best_effort publisher.',
                  choices=RELIABILITY_CHOICES),
    ParameterSpec('qos_depth', 5, 'History depth of the input subscriptions.', low=1, high=100),
    ParameterSpec('sync_queue_size', 10, 'Messages kept per input while matching stamps.',
                  low=1, high=100),
    ParameterSpec('sync_slop', 0.05, 'Largest stamp difference (s) within a matched '
                  'color/depth/camera_info triple.', low=0.0, high=1.0),
    ParameterSpec('exact_sync', False, 'Match only identical stamps (ignores sync_slop).'),
    ParameterSpec('color_transport', 'raw', 'Colour input: raw (sensor_msgs/Image) or '
                  'compressed (CompressedImage jpeg/png on <color topic>/compressed).',
                  choices=tuple(COLOR_TRANSPORTS)),
    ParameterSpec('depth_transport', 'raw', 'Depth input: raw (sensor_msgs/Image) or '
                  'compressedDepth (CompressedImage on <depth topic>/compressedDepth).',
                  choices=tuple(DEPTH_TRANSPORTS)),
    ParameterSpec('float_depth_in_mm', 'convert', '32FC1 depth whose median valid value is '
                  'over 20 (millimetres, not metres): convert (divide by 1000, warn) or '
                  'reject the frame.', choices=FLOAT_DEPTH_IN_MM_CHOICES),
)
# The parameters RgbdInput takes itself (float_depth_in_mm is for frame_from_messages).
SUBSCRIPTION_PARAMETERS = tuple(spec.name for spec in INPUT_PARAMETERS
                                if spec.name != 'float_depth_in_mm')


class RgbdInput:
    """
    Synchronized color / aligned depth / camera_info subscriptions of one node.

    ``callback(color, depth, camera_info)`` is called from the subscription callbacks with
    each matched triple; keep it short (store the triple and let a worker process it).
    ``diagnose()`` explains why nothing arrives: no publisher, a QoS mismatch, one silent
    input, or stamps that never match.
    """

    def __init__(self, node: Node, callback: Callable[[Image, Image, CameraInfo], None], *,
                 qos_reliability: str = 'reliable', qos_depth: int = 5,
                 sync_queue_size: int = 10, sync_slop: float = 0.05, exact_sync: bool = False,
                 color_transport: str = 'raw', depth_transport: str = 'raw',
                 callback_group: CallbackGroup | None = None):
        self._node = node
        self._reliability = qos_reliability
        self._lock = threading.Lock()
        self._sync = TimeSynchronizer(3, callback, sync_queue_size,
                                      0.0 if exact_sync else sync_slop)
        self._received_at_last_diagnosis = [0, 0, 0]
        self._matched_at_last_diagnosis = 0
        self.incompatible_qos_events = 0
        qos = make_qos(qos_reliability, qos_depth)
        self._subscriptions = []
        if color_transport not in COLOR_TRANSPORTS or depth_transport not in DEPTH_TRANSPORTS:
            raise ValueError(f'unknown transport {color_transport!r} / {depth_transport!r}')
        inputs = (COLOR_TRANSPORTS[color_transport], DEPTH_TRANSPORTS[depth_transport],
                  ('', CameraInfo))
        for index, ((suffix, msg_type), topic) in enumerate(zip(inputs, TOPICS, strict=True)):
            if suffix:
                topic = node.resolve_topic_name(topic) + suffix
            events = SubscriptionEventCallbacks(
                incompatible_qos=partial(self._on_incompatible_qos, topic))
            self._subscriptions.append(node.create_subscription(
                msg_type, topic, partial(self._on_message, index), qos,
                callback_group=callback_group, event_callbacks=events))

    @property
    def topic_names(self) -> list[str]:
        """Fully resolved names of the color, depth and camera_info topics."""
        return [subscription.topic_name for subscription in self._subscriptions]

    @property
    def stats(self):
        """The synchronizer's counters (received and dropped per input, matched)."""
        return self._sync.stats

    def destroy(self) -> None:
        """Destroy the subscriptions (no more callbacks); the counters stay readable."""
        subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            self._node.destroy_subscription(subscription)
        with self._lock:
            self._sync.reset()

    def _on_message(self, index: int, msg) -> None:
        with self._lock:
            self._sync.add(index, stamp_to_ns(msg.header.stamp), msg)

    def _on_incompatible_qos(self, topic: str, info: QoSRequestedIncompatibleQoSInfo) -> None:
        self.incompatible_qos_events += 1
        self._node.get_logger().error(
            f'{topic}: a publisher offers QoS incompatible with this subscription '
            f'(policy id {info.last_policy_kind}); with a best_effort publisher set '
            f'qos_reliability to best_effort', throttle_duration_sec=5.0)

    def diagnose(self) -> list[str]:
        """
        Problems seen since the previous call, as sentences for the log (empty when fine).

        Call periodically (every few seconds) from a timer.
        """
        problems = []
        if not self._subscriptions:
            return problems   # destroyed: nothing is expected to arrive
        with self._lock:
            received = list(self._sync.stats.received)
            matched = self._sync.stats.matched
        fresh = [now - before for now, before in
                 zip(received, self._received_at_last_diagnosis, strict=True)]
        new_matches = matched - self._matched_at_last_diagnosis
        self._received_at_last_diagnosis = received
        self._matched_at_last_diagnosis = matched
        for count, subscription in zip(fresh, self._subscriptions, strict=True):
            if count == 0:
                problems.append(self._explain_silence(subscription.topic_name))
        if new_matches == 0 and all(fresh):
            problems.append('color, depth and camera_info arrive but their stamps never match '
                            'within sync_slop: raise sync_slop or check the camera clock')
        return problems

    def _explain_silence(self, topic: str) -> str:
        publishers = self._node.get_publishers_info_by_topic(topic)
        if not publishers:
            return f'no publisher on {topic}'
        if self._reliability == 'reliable' and any(
                p.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT for p in publishers):
            return (f'{topic}: the publisher offers best_effort but this node requests '
                    'reliable, so nothing is delivered: set qos_reliability to best_effort')
        return f'{topic}: {len(publishers)} publisher(s) but no message received lately'

