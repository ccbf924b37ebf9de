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
import statistics
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from c2f_sdf_ros.ros.node_main import run_node
from c2f_sdf_ros.ros.parameters import ParameterSpec, declare_parameters
from c2f_sdf_ros.ros.rgbd_frame import FrameRejected, frame_from_messages, frame_id_mismatch
from c2f_sdf_ros.ros.rgbd_input import INPUT_PARAMETERS, RgbdInput
from c2f_sdf_ros.ros.sync import NS_PER_S, stamp_to_ns

PARAMETERS = INPUT_PARAMETERS + (
    ParameterSpec('report_period', 2.0, 'Seconds between reports in the log and /diagnostics.',
                  low=0.1, high=3600.0),
)


class RgbdMonitorNode(Node):
    """Counts, validates and times synchronized RGB-D frames."""

    def __init__(self, **kwargs):
        super().__init__('rgbd_monitor', **kwargs)
        self.params = declare_parameters(self, PARAMETERS)
        self.input = RgbdInput(self, self._on_frame, **{
            spec.name: self.params[spec.name] for spec in INPUT_PARAMETERS})
        self.valid_frames = 0
        self.rejected: Counter[str] = Counter()
        self._latencies: deque[float] = deque(maxlen=1000)
        self._valid_at_last_report = 0
        self._last_report = time.monotonic()
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_timer(self.params['report_period'], self._report)
        inputs = ', '.join(self.input.topic_names)
        self.get_logger().info(f'monitoring {inputs} ({self.params["qos_reliability"]})')

    def _on_frame(self, color: Image, depth: Image, info: CameraInfo) -> None:
        received_ns = self.get_clock().now().nanoseconds
        mismatch = frame_id_mismatch(color, depth)
        if mismatch:
            self.get_logger().warning(mismatch, throttle_duration_sec=10.0)
        try:
            frame_from_messages(color, depth, info)
        except FrameRejected as error:
            self.rejected[error.reason] += 1
            self.get_logger().warning(f'dropped frame: {error}', throttle_duration_sec=5.0)
            return
        self.valid_frames += 1
        self._latencies.append((received_ns - stamp_to_ns(color.header.stamp)) / NS_PER_S)

    def _report(self) -> None:
        now = time.monotonic()
        rate = (self.valid_frames - self._valid_at_last_report) / (now - self._last_report)
        self._valid_at_last_report, self._last_report = self.valid_frames, now
        problems = self.input.diagnose()
        latency_ms = ([1000 * statistics.median(self._latencies),
                       1000 * max(self._latencies)] if self._latencies else [float('nan')] * 2)
        stats = self.input.stats
        values = {
            'frames_per_second': f'{rate:.2f}',
            'valid_frames': str(self.valid_frames),
            'latency_median_ms': f'{latency_ms[0]:.1f}',
            'latency_max_ms': f'{latency_ms[1]:.1f}',
            'sync_matched': str(stats.matched),
            **{f'received_{name}': str(n) for name, n in zip(('color', 'depth', 'camera_info'),
                                                                stats.received, strict=True)},
            **{f'sync_dropped_{name}': str(n) for name, n in zip(
                ('color', 'depth', 'camera_info'), stats.dropped, strict=True)},
            **{f'rejected_{reason}': str(n) for reason, n in sorted(self.rejected.items())},
        }
        if problems:
            level, message = DiagnosticStatus.ERROR, '; '.join(problems)
            for problem in problems:
                self.get_logger().warning(problem, throttle_duration_sec=10.0)
        elif self.rejected:
            level, message = DiagnosticStatus.WARN, 'frames dropped: ' + ', '.join(
                f'{reason} {n}' for reason, n in sorted(self.rejected.items()))
        else:
            level, message = DiagnosticStatus.OK, f'{rate:.1f} frames/s'
        if not problems:
            self.get_logger().info(
                f'{rate:.1f} frames/s, latency median {latency_ms[0]:.1f} ms, '
                f'{self.valid_frames} valid, dropped {dict(self.rejected) or 0}')
        status = DiagnosticStatus(level=level, name=f'{self.get_name()}: RGB-D input',
                                  message=message, hardware_id=self.input.topic_names[0])
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics_pub.publish(array)

    def close(self) -> None:
        """Log the totals (called at shutdown)."""
        stats = self.input.stats
        self.get_logger().info(
            f'totals: {self.valid_frames} valid frames, {stats.matched} matched, received '
            f'{stats.received} (color, depth, camera_info), sync dropped {stats.dropped}, '
            f'rejected {dict(self.rejected) or 0}')


def main(args: list[str] | None = None) -> int:
    """Run the RGB-D monitor node (``ros2 run c2f_sdf_ros rgbd_monitor_node``)."""
    return run_node(RgbdMonitorNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
