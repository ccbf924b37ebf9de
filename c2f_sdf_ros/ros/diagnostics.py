"""
The status every node that reads RGB-D input reports on ``/diagnostics``.

One rule for the level, shared by the nodes: ERROR while the input has problems (no
publisher, a QoS mismatch, stamps that never match: ``RgbdInput.diagnose``), WARN once
frames were dropped, OK otherwise. ``diagnostic_updater`` is not in the ROS wheels this
package runs on, so the ``DiagnosticArray`` is built here.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
import statistics
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node


def milliseconds(seconds: float | None) -> str:
    """A duration in seconds as milliseconds with one decimal; 'nan' for None."""
    return 'nan' if seconds is None else f'{1000 * seconds:.1f}'


def median_ms(seconds: Sequence[float]) -> str:
    """The median of durations in seconds, in milliseconds ('nan' if there are none)."""
    seconds = list(seconds)
    return milliseconds(statistics.median(seconds) if seconds else None)


def latency_values(latencies: Sequence[float]) -> dict[str, str]:
    """``latency_median_ms`` and ``latency_max_ms`` of latencies in seconds ('nan' if none)."""
    latencies = list(latencies)   # one copy: a worker thread may be appending
    return {'latency_median_ms': median_ms(latencies),
            'latency_max_ms': milliseconds(max(latencies) if latencies else None)}


def status_level(problems: Sequence[str], drops: Mapping[str, int],
                 ok_message: str) -> tuple[bytes, str]:
    """The level and message of a report: input problems, dropped frames, or all well."""
    if problems:
        return DiagnosticStatus.ERROR, '; '.join(problems)
    if drops:
        return DiagnosticStatus.WARN, 'frames dropped: ' + ', '.join(
            f'{reason} {n}' for reason, n in sorted(drops.items()))
    return DiagnosticStatus.OK, ok_message


class KeyedThrottle:
    """
    One log throttle per key (e.g. per drop reason).

    rclpy's ``throttle_duration_sec`` throttles per call site, so one log line that names
    several reasons lets a frequent reason hide a rare one; here each key has its own.
    """

    def __init__(self, period: float, clock: Callable[[], float] = time.monotonic):
        self.period = float(period)
        self._clock = clock
        self._last: dict[Hashable, float] = {}

    def ready(self, key: Hashable) -> bool:
        """Whether a message for ``key`` may be logged now (then it starts a new period)."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self.period:
            return False
        self._last[key] = now
        return True


class StatusReporter:
    """
    Publishes one ``DiagnosticStatus`` of a node on ``/diagnostics`` per report.

    The status is named ``<node name>: <task>``; ``hardware_id`` names the input (the color
    topic). Each input problem is also logged as a warning (throttled).
    """

    def __init__(self, node: Node, task: str, hardware_id: str):
        self._node = node
        self.name = f'{node.get_name()}: {task}'
        self.hardware_id = hardware_id
        self._publisher = node.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._count = 0
        self._since = time.monotonic()

    def destroy(self) -> None:
        """Destroy the /diagnostics publisher."""
        self._node.destroy_publisher(self._publisher)

    def rate(self, count: int) -> float:
        """Per second: how much ``count`` grew since the previous call (or the start)."""
        now = time.monotonic()
        rate = (count - self._count) / max(now - self._since, 1e-9)
        self._count, self._since = count, now
        return rate

    def publish(self, values: Mapping[str, str], problems: Sequence[str],
                drops: Mapping[str, int], ok_message: str) -> bytes:
        """Log the problems, publish the status; returns its level."""
        for problem in problems:
            self._node.get_logger().warning(problem, throttle_duration_sec=10.0)
        level, message = status_level(problems, drops, ok_message)
        status = DiagnosticStatus(level=level, name=self.name, message=message,
                                  hardware_id=self.hardware_id)
        status.values = [KeyValue(key=key, value=value) for key, value in values.items()]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self._node.get_clock().now().to_msg()
        self._publisher.publish(array)
        return level
