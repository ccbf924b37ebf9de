"""
Check an RGB-D camera the way the reconstruction node will read it.

Subscribes to color, aligned depth and camera_info through ``RgbdInput`` (same topics,
QoS and sync parameters), validates every matched triple, and every ``report_period``
logs and publishes on /diagnostics: matched frames per second, latency (receipt time minus
header stamp), drops by reason, and why nothing arrives when nothing does (no publisher,
QoS mismatch, a silent input, stamps that never match).
"""

from __future__ import annotations

from collections import Counter, deque

from rclpy.node import Node
from sensor_msgs.msg import CameraInfo

from c2f_sdf_ros.ros.diagnostics import KeyedThrottle, StatusReporter, latency_values
from c2f_sdf_ros.ros.node_main import run_node
from c2f_sdf_ros.ros.parameters import ParameterSpec, declare_parameters
from c2f_sdf_ros.ros.rgbd_frame import (
    FrameRejected,
    ImageMsg,
    frame_from_messages,
    frame_id_mismatch,
)
from c2f_sdf_ros.ros.rgbd_input import INPUT_PARAMETERS, SUBSCRIPTION_PARAMETERS, RgbdInput
from c2f_sdf_ros.ros.sync import NS_PER_S, stamp_to_ns

PARAMETERS = INPUT_PARAMETERS + (
    ParameterSpec('report_period', 2.0, 'Seconds between reports in the log and /diagnostics.',
                  low=0.1, high=3600.0),
)


class RgbdMonitorNode(Node):
    """Counts, validates and times synchronized RGB-D frames."""

    _running = False   # true once the node is fully built: destroy_node logs the totals

    def __init__(self, **kwargs):
        super().__init__('rgbd_monitor', **kwargs)
        self.params = declare_parameters(self, PARAMETERS)
        self.input = RgbdInput(self, self._on_frame, **{
            name: self.params[name] for name in SUBSCRIPTION_PARAMETERS})
        self._log_throttle = KeyedThrottle(5.0)
        self.valid_frames = 0
        self.rejected: Counter[str] = Counter()
        self._latencies: deque[float] = deque(maxlen=1000)
        self._status = StatusReporter(self, 'RGB-D input', self.input.topic_names[0])
        self.create_timer(self.params['report_period'], self._report)
        inputs = ', '.join(self.input.topic_names)
        self.get_logger().info(f'monitoring {inputs} ({self.params["qos_reliability"]})')
        self._running = True

    def _warn(self, key: str, text: str) -> None:
        if self._log_throttle.ready(key):
            self.get_logger().warning(text)

    def _on_frame(self, color: ImageMsg, depth: ImageMsg, info: CameraInfo) -> None:
        received_ns = self.get_clock().now().nanoseconds
        mismatch = frame_id_mismatch(color, depth)
        if mismatch:
            self._warn('frame_id', mismatch)
        warnings: list[tuple[str, str]] = []
        try:
            frame_from_messages(color, depth, info, self.params['float_depth_in_mm'], warnings)
        except FrameRejected as error:
            self.rejected[error.reason] += 1
            self._warn(error.reason, f'dropped frame: {error}')
            return
        for key, text in warnings:
            self._warn(key, text)
        self.valid_frames += 1
        self._latencies.append((received_ns - stamp_to_ns(color.header.stamp)) / NS_PER_S)

    def _report(self) -> None:
        rate = self._status.rate(self.valid_frames)
        problems = self.input.diagnose()
        stats = self.input.stats
        inputs = ('color', 'depth', 'camera_info')
        values = {
            'frames_per_second': f'{rate:.2f}',
            'valid_frames': str(self.valid_frames),
            **latency_values(self._latencies),
            'sync_matched': str(stats.matched),
            **{f'received_{name}': str(n) for name, n in zip(inputs, stats.received,
                                                               strict=True)},
            **{f'sync_dropped_{name}': str(n) for name, n in zip(inputs, stats.dropped,
                                                                   strict=True)},
            **{f'rejected_{reason}': str(n) for reason, n in sorted(self.rejected.items())},
        }
        self._status.publish(values, problems, self.rejected, f'{rate:.1f} frames/s')
        if not problems:
            self.get_logger().info(
                f'{rate:.1f} frames/s, latency median {values["latency_median_ms"]} ms, '
                f'{self.valid_frames} valid, dropped {dict(self.rejected) or 0}')

    def destroy_node(self) -> None:
        """Destroy the node, then log the totals (to the console: /rosout is gone by then)."""
        running, self._running = self._running, False
        super().destroy_node()
        if running:
            stats = self.input.stats
            self.get_logger().info(
                f'totals: {self.valid_frames} valid frames, {stats.matched} matched, received '
                f'{stats.received} (color, depth, camera_info), sync dropped {stats.dropped}, '
                f'rejected {dict(self.rejected) or 0}')

def main(args: list[str] | None = None) -> int:
    """Run the RGB-D monitor node (``ros2 run c2f_sdf_ros rgbd_monitor_node``)."""
    # The context stays up until the spin has ended: a report being published when Ctrl-C
    # comes cannot fail on a context shut down under it.
    return run_node(RgbdMonitorNode, args, publish_on_stop=True)


if __name__ == '__main__':
    raise SystemExit(main())
