"""
Approximate- and exact-time matching of messages from several inputs, without ROS.

message_filters is not installable from PyPI, so the node glue (``rgbd_input``) feeds this
matcher from plain rclpy subscriptions. The same code runs on a full ROS 2 install, so
there is one tested code path everywhere.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

NS_PER_S = 1_000_000_000


@dataclass
class SyncStats:
    """Counters of what the matcher did with the messages it was given."""

    received: list[int]
    matched: int = 0
    # Messages that left a queue unmatched: pushed out by a full queue or by a newer match.
    dropped: list[int] = field(default_factory=list)
    resets: int = 0


class TimeSynchronizer:
    """
    Match one message from each of ``num_inputs`` inputs by header stamp.

    Each input keeps a queue of its newest ``queue_size`` messages. When a message arrives,
    it is matched with the message of every other input whose stamp is nearest to its own;
    if all of them lie within ``slop`` of each other, the set is emitted (in input order)
    and every message up to the matched one is removed from each queue. With ``slop`` 0 only
    identical stamps match (exact sync). Sets are emitted in stamp order: messages older than
    the last emitted set are dropped, except after a jump back in time of more than
    ``reset_after`` seconds (a bag or replay restarting), which clears the queues.

    Parameters
    ----------
    num_inputs : int
        Number of inputs (>= 2).
    callback : callable
        Called as ``callback(*messages)`` with one message per input.
    queue_size : int
        Messages kept per input (>= 1).
    slop : float
        Largest stamp difference within a set, seconds (>= 0).
    reset_after : float
        A stamp this much older than the last match clears the queues (seconds, > 0).

    """

    def __init__(self, num_inputs: int, callback: Callable[..., Any], queue_size: int = 10,
                 slop: float = 0.05, reset_after: float = 1.0):
        if num_inputs < 2:
            raise ValueError(f'need at least 2 inputs to synchronise, got {num_inputs}')
        if queue_size < 1:
            raise ValueError(f'queue_size must be >= 1, got {queue_size}')
        if not slop >= 0:
            raise ValueError(f'slop must be >= 0 seconds, got {slop}')
        if not reset_after > 0:
            raise ValueError(f'reset_after must be > 0 seconds, got {reset_after}')
        self._callback = callback
        self._slop_ns = round(slop * NS_PER_S)
        self._reset_ns = round(reset_after * NS_PER_S)
        self._queues: list[deque[tuple[int, Any]]] = [
            deque(maxlen=queue_size) for _ in range(num_inputs)]
        self._last_matched_ns: int | None = None
        self.stats = SyncStats(received=[0] * num_inputs, dropped=[0] * num_inputs)

    @property
    def num_inputs(self) -> int:
        """Number of inputs."""
        return len(self._queues)

    def add(self, index: int, stamp_ns: int, message: Any) -> bool:
        """
        Offer ``message`` stamped ``stamp_ns`` (integer nanoseconds) on input ``index``.

        Returns True if it completed a set (and the callback ran).
        """
        if not 0 <= index < self.num_inputs:
            raise IndexError(f'input {index} out of range 0..{self.num_inputs - 1}')
        self.stats.received[index] += 1
        last = self._last_matched_ns
        if last is not None and stamp_ns < last:
            if last - stamp_ns > self._reset_ns:
                self.reset()
                self.stats.resets += 1
            else:
                self.stats.dropped[index] += 1
                return False
        queue = self._queues[index]
        if len(queue) == queue.maxlen:
            self.stats.dropped[index] += 1
        queue.append((stamp_ns, message))
        return self._match(index, stamp_ns, message)

    def reset(self) -> None:
        """Forget every queued message and the last matched stamp."""
        for queue in self._queues:
            queue.clear()
        self._last_matched_ns = None

    def _match(self, pivot_index: int, pivot_ns: int, pivot_message: Any) -> bool:
        chosen: list[tuple[int, Any] | None] = [None] * self.num_inputs
        chosen[pivot_index] = (pivot_ns, pivot_message)
        for index, queue in enumerate(self._queues):
            if index == pivot_index:
                continue
            if not queue:
                return False
            chosen[index] = min(queue, key=lambda item: abs(item[0] - pivot_ns))
        stamps = [item[0] for item in chosen]
        if max(stamps) - min(stamps) > self._slop_ns:
            return False
        for index, (stamp_ns, _) in enumerate(chosen):
            queue = self._queues[index]
            # By stamp, not position: an input's stamps may arrive out of order.
            kept = [item for item in queue if item[0] > stamp_ns]
            self.stats.dropped[index] += len(queue) - len(kept) - 1
            queue.clear()
            queue.extend(kept)
        self._last_matched_ns = max(stamps)
        self.stats.matched += 1
        self._callback(*(item[1] for item in chosen))
        return True


def stamp_to_ns(stamp) -> int:
    """Integer nanoseconds of a ``builtin_interfaces/Time``-like object (sec, nanosec)."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)

