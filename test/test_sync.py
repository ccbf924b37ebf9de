"""Exact and approximate stamp matching (c2f_sdf_ros.ros.sync), no ROS needed."""

from dataclasses import dataclass
import itertools
import math

import numpy as np
import pytest

from c2f_sdf_ros.ros.sync import NS_PER_S, TimeSynchronizer, stamp_to_ns

MS = 1_000_000


class Recorder:
    """Callback that keeps every emitted set."""

    def __init__(self):
        self.sets = []

    def __call__(self, *messages):
        self.sets.append(messages)


def make_sync(num_inputs=3, **kwargs):
    recorder = Recorder()
    return TimeSynchronizer(num_inputs, recorder, **kwargs), recorder


def msg(index, stamp_ns):
    return f'{index}@{stamp_ns}'


def offer(sync, index, stamp_ns):
    return sync.add(index, stamp_ns, msg(index, stamp_ns))


def test_exact_sync_every_arrival_order():
    sync, recorder = make_sync(slop=0.0)
    expected = []
    orders = list(itertools.permutations(range(3)))
    assert len(orders) == 6
    for frame, order in enumerate(orders):
        stamp = 1_000 * NS_PER_S + frame * 33 * MS
        results = [offer(sync, index, stamp) for index in order]
        # Only the message that completes the set emits it.
        assert results == [False, False, True], order
        expected.append((msg(0, stamp), msg(1, stamp), msg(2, stamp)))
        assert recorder.sets == expected, order
    assert sync.stats.matched == 6
    assert sync.stats.received == [6, 6, 6]
    assert sync.stats.dropped == [0, 0, 0]


def test_exact_sync_interleaved_frames():
    # Frame 2 starts arriving before frame 1 is complete.
    sync, recorder = make_sync(slop=0.0)
    for index, stamp in [(0, 1), (1, 1), (0, 2), (2, 1), (1, 2), (2, 2)]:
        offer(sync, index, stamp * 100 * MS)
    stamps = [100 * MS, 200 * MS]
    assert recorder.sets == [tuple(msg(i, s) for i in range(3)) for s in stamps]
    assert sync.stats.dropped == [0, 0, 0]


def test_exact_sync_needs_identical_stamps():
    sync, recorder = make_sync(num_inputs=2, slop=0.0)
    assert not offer(sync, 0, 100 * MS)
    assert not offer(sync, 1, 100 * MS + 1)
    assert recorder.sets == []
    assert offer(sync, 0, 100 * MS + 1)
    assert recorder.sets == [(msg(0, 100 * MS + 1), msg(1, 100 * MS + 1))]
    # The unmatched older message went with the match.
    assert sync.stats.dropped == [1, 0]


@pytest.mark.parametrize('offset_ms,matches', [(0, True), (5, True), (10, True), (10.001, False),
                                               (11, False), (-10, True), (-11, False)])
def test_approximate_sync_within_slop(offset_ms, matches):
    sync, recorder = make_sync(num_inputs=2, slop=0.01)
    stamp0 = 5 * NS_PER_S
    stamp1 = stamp0 + round(offset_ms * MS)
    offer(sync, 0, stamp0)
    assert offer(sync, 1, stamp1) is matches
    assert recorder.sets == ([(msg(0, stamp0), msg(1, stamp1))] if matches else [])


def test_approximate_sync_spread_over_all_inputs():
    # Each pair is within slop of the pivot, but the whole set spans more than slop.
    sync, recorder = make_sync(slop=0.01)
    offer(sync, 0, 100 * MS - 6 * MS)
    offer(sync, 1, 100 * MS + 6 * MS)
    assert not offer(sync, 2, 100 * MS)
    assert recorder.sets == []
    assert offer(sync, 0, 100 * MS + 1 * MS)
    assert recorder.sets == [(msg(0, 101 * MS), msg(1, 106 * MS), msg(2, 100 * MS))]


def test_nearest_stamp_is_chosen():
    sync, recorder = make_sync(num_inputs=2, slop=0.02)
    for stamp_ms in (90, 100, 108):
        assert not offer(sync, 1, stamp_ms * MS)
    # 90 and 108 are also within slop of 101, but 100 is nearest.
    assert offer(sync, 0, 101 * MS)
    assert recorder.sets == [(msg(0, 101 * MS), msg(1, 100 * MS))]
    # 90 went unmatched; 108 is still queued and matches the next frame.
    assert sync.stats.dropped == [0, 1]
    assert offer(sync, 0, 110 * MS)
    assert recorder.sets[-1] == (msg(0, 110 * MS), msg(1, 108 * MS))
    assert sync.stats.dropped == [0, 1]
    assert sync.stats.matched == 2


def test_nearest_of_several_in_every_queue():
    sync, recorder = make_sync(slop=0.005)
    for index in (1, 2):
        for stamp_ms in (0, 33, 67, 100):
            offer(sync, index, stamp_ms * MS + index * MS)
    assert offer(sync, 0, 66 * MS)
    assert recorder.sets == [(msg(0, 66 * MS), msg(1, 68 * MS), msg(2, 69 * MS))]
    assert sync.stats.dropped == [0, 2, 2]


def test_queue_overflow_drops_oldest():
    sync, recorder = make_sync(num_inputs=2, queue_size=3, slop=0.0)
    for frame in range(5):
        assert not offer(sync, 0, frame * 100 * MS)
    assert sync.stats.dropped == [2, 0]
    assert sync.stats.received == [5, 0]
    # Frames 0 and 1 were pushed out: they no longer match.
    assert not offer(sync, 1, 0)
    assert not offer(sync, 1, 100 * MS)
    assert recorder.sets == []
    assert offer(sync, 1, 200 * MS)
    assert recorder.sets == [(msg(0, 200 * MS), msg(1, 200 * MS))]
    assert offer(sync, 1, 400 * MS)
    assert recorder.sets[-1] == (msg(0, 400 * MS), msg(1, 400 * MS))
    # Input 1's frames 0 and 1 and input 0's frame 3 left unmatched.
    assert sync.stats.dropped == [3, 2]


def test_queue_size_one():
    sync, recorder = make_sync(num_inputs=2, queue_size=1, slop=0.0)
    offer(sync, 0, 1)
    offer(sync, 0, 2)
    assert not offer(sync, 1, 1)
    assert sync.stats.dropped == [1, 0]
    assert offer(sync, 1, 2)
    assert recorder.sets == [(msg(0, 2), msg(1, 2))]


def test_messages_older_than_last_match_are_dropped():
    sync, recorder = make_sync(num_inputs=2, slop=0.0, reset_after=1.0)
    offer(sync, 0, 10 * NS_PER_S)
    assert offer(sync, 1, 10 * NS_PER_S)
    # Late messages from before the match are never queued.
    assert not offer(sync, 0, 10 * NS_PER_S - 50 * MS)
    assert not offer(sync, 1, 10 * NS_PER_S - 50 * MS)
    assert not offer(sync, 1, 9 * NS_PER_S)
    assert sync.stats.dropped == [1, 2]
    assert sync.stats.resets == 0
    assert recorder.sets == [(msg(0, 10 * NS_PER_S), msg(1, 10 * NS_PER_S))]
    # ... so a newer message cannot match them either.
    assert not offer(sync, 0, 10 * NS_PER_S + 50 * MS)
    assert offer(sync, 1, 10 * NS_PER_S + 50 * MS)
    assert sync.stats.matched == 2


def test_stale_check_uses_newest_stamp_of_the_set():
    sync, recorder = make_sync(num_inputs=2, slop=0.01)
    offer(sync, 0, 100 * MS)
    assert offer(sync, 1, 108 * MS)
    # 104 ms is newer than input 0's match but older than the set: dropped.
    assert not offer(sync, 0, 104 * MS)
    assert sync.stats.dropped == [1, 0]
    assert len(recorder.sets) == 1


def test_jump_back_resets_and_matching_resumes():
    sync, recorder = make_sync(slop=0.0, reset_after=1.0)
    start = 100 * NS_PER_S
    for frame in range(3):
        for index in range(3):
            offer(sync, index, start + frame * 33 * MS)
    # A leftover message from before the restart.
    offer(sync, 1, start + 3 * 33 * MS)
    assert sync.stats.matched == 3
    # A bag restarts from its beginning: 100 s back.
    offer(sync, 2, 0)
    assert sync.stats.resets == 1
    assert sync.stats.dropped == [0, 0, 0]
    for index in (0, 1):
        offer(sync, index, 0)
    assert sync.stats.matched == 4
    assert recorder.sets[-1] == (msg(0, 0), msg(1, 0), msg(2, 0))
    # The leftover was cleared with the queues, and the stream goes on after the restart.
    for index in range(3):
        offer(sync, index, 33 * MS)
    assert recorder.sets[-1] == tuple(msg(i, 33 * MS) for i in range(3))
    assert sync.stats.matched == 5
    assert sync.stats.resets == 1


def test_jump_back_of_exactly_reset_after_is_only_dropped():
    sync, recorder = make_sync(num_inputs=2, slop=0.0, reset_after=0.5)
    offer(sync, 0, NS_PER_S)
    offer(sync, 1, NS_PER_S)
    assert not offer(sync, 0, NS_PER_S // 2)
    assert sync.stats.resets == 0 and sync.stats.dropped == [1, 0]
    offer(sync, 0, NS_PER_S // 2 - 1)
    assert sync.stats.resets == 1 and sync.stats.dropped == [1, 0]


def test_explicit_reset():
    sync, recorder = make_sync(num_inputs=2, slop=0.0)
    offer(sync, 0, 5 * NS_PER_S)
    offer(sync, 1, 5 * NS_PER_S)
    offer(sync, 0, 6 * NS_PER_S)
    sync.reset()
    # Queues are empty and older stamps are welcome again.
    assert not offer(sync, 1, 6 * NS_PER_S)
    offer(sync, 0, NS_PER_S)
    assert offer(sync, 1, NS_PER_S)
    assert recorder.sets[-1] == (msg(0, NS_PER_S), msg(1, NS_PER_S))


def test_out_of_order_stamps_within_an_input():
    # A message matched from the middle of its queue must leave the queue with everything
    # older than it, and must not be matched twice.
    sync, recorder = make_sync(num_inputs=2, slop=0.0)
    offer(sync, 0, 100 * MS)
    offer(sync, 0, 90 * MS)
    offer(sync, 0, 80 * MS)
    assert offer(sync, 1, 90 * MS)
    assert recorder.sets == [(msg(0, 90 * MS), msg(1, 90 * MS))]
    assert sync.stats.dropped == [1, 0]
    # A repeated stamp is not stale, but its partner is gone.
    assert not offer(sync, 1, 90 * MS)
    assert len(recorder.sets) == 1
    assert offer(sync, 1, 100 * MS)
    assert recorder.sets[-1] == (msg(0, 100 * MS), msg(1, 100 * MS))
    assert sync.stats.matched == 2
    assert sync.stats.dropped == [1, 1]


def test_add_returns_true_only_with_callback():
    calls = []
    sync = TimeSynchronizer(2, lambda *m: calls.append(m), slop=0.0)
    assert sync.add(0, 1, 'a') is False
    assert calls == []
    assert sync.add(1, 1, 'b') is True
    assert calls == [('a', 'b')]


@pytest.mark.parametrize('kwargs,message', [
    (dict(num_inputs=1), 'at least 2 inputs'),
    (dict(num_inputs=0), 'at least 2 inputs'),
    (dict(queue_size=0), 'queue_size must be >= 1'),
    (dict(slop=-0.001), 'slop must be >= 0'),
    (dict(slop=math.nan), 'slop must be >= 0'),
    (dict(reset_after=0.0), 'reset_after must be > 0'),
    (dict(reset_after=-1.0), 'reset_after must be > 0'),
    (dict(reset_after=math.nan), 'reset_after must be > 0'),
])
def test_constructor_errors(kwargs, message):
    values = dict(num_inputs=3, callback=print)
    values.update(kwargs)
    with pytest.raises(ValueError, match=message):
        TimeSynchronizer(**values)


def test_index_out_of_range():
    sync, _ = make_sync(num_inputs=2)
    assert sync.num_inputs == 2
    with pytest.raises(IndexError, match=r'input 2 out of range 0\.\.1'):
        sync.add(2, 0, 'x')
    with pytest.raises(IndexError):
        sync.add(-1, 0, 'x')
    assert sync.stats.received == [0, 0]


@dataclass
class Time:
    sec: int
    nanosec: int


def test_stamp_to_ns():
    assert stamp_to_ns(Time(sec=12, nanosec=345)) == 12 * NS_PER_S + 345
    assert stamp_to_ns(Time(sec=0, nanosec=0)) == 0
    big = stamp_to_ns(Time(sec=1_700_000_000, nanosec=999_999_999))
    assert big == 1_700_000_000_999_999_999 and isinstance(big, int)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_simulated_stream_matches_every_set(seed):
    """3 inputs at 30 Hz, stamp jitter per input, random latency, in-order per input."""
    rng = np.random.default_rng(seed)
    frames, period_ns = 300, NS_PER_S // 30
    start = 1_700_000_000 * NS_PER_S
    events = []
    for index in range(3):
        last_arrival = 0
        for frame in range(frames):
            stamp = start + frame * period_ns + int(rng.integers(-3 * MS, 3 * MS,
                                                                  endpoint=True))
            # A topic delivers in order, each message 0-80 ms after its stamp.
            arrival = max(last_arrival + 1, stamp + int(rng.integers(0, 80 * MS)))
            last_arrival = arrival
            events.append((arrival, index, frame, stamp))
    events.sort()
    sync, recorder = make_sync(queue_size=10, slop=0.01)
    for _, index, frame, stamp in events:
        sync.add(index, stamp, (index, frame))
    assert len(recorder.sets) == frames
    assert recorder.sets == [tuple((index, frame) for index in range(3))
                             for frame in range(frames)]
    assert sync.stats.matched == frames
    assert sync.stats.received == [frames] * 3
    assert sync.stats.dropped == [0, 0, 0]
    assert sync.stats.resets == 0


def test_simulated_stream_with_lost_messages():
    """Lost messages cost only their own set; every complete set is still emitted."""
    rng = np.random.default_rng(7)
    frames, period_ns = 200, NS_PER_S // 30
    lost = {(int(rng.integers(3)), int(frame)) for frame in rng.choice(frames, 30, False)}
    events = []
    for index in range(3):
        for frame in range(frames):
            if (index, frame) in lost:
                continue
            stamp = frame * period_ns + int(rng.integers(-2 * MS, 2 * MS))
            events.append((stamp + int(rng.integers(0, 20 * MS)), index, frame, stamp))
    events.sort()
    sync, recorder = make_sync(queue_size=5, slop=0.008)
    for _, index, frame, stamp in events:
        sync.add(index, stamp, (index, frame))
    complete = [f for f in range(frames) if not any((i, f) in lost for i in range(3))]
    assert [s[0][1] for s in recorder.sets] == complete
    assert all(s == tuple((i, s[0][1]) for i in range(3)) for s in recorder.sets)
    # Every message that was not part of a set was counted as dropped or is still queued.
    received = sum(sync.stats.received)
    assert received == 3 * frames - len(lost)
    assert 0 <= received - 3 * len(complete) - sum(sync.stats.dropped) <= 3 * 5
