"""Hands over time (``reconstruct.tracking``): ids, One Euro smoothing, gaps, sides."""

import json
import math
import pathlib

import numpy as np
import pytest
import trimesh

from c2f_sdf_ros.reconstruct.hand_finder import HandSeed
from c2f_sdf_ros.reconstruct.pipeline import FrameReconstruction, Reconstruction
from c2f_sdf_ros.reconstruct.tracking import (
    HandTracker,
    OneEuroConfig,
    OneEuroFilter,
    TrackerConfig,
    observed_side,
    smoothing_factor,
)

SAMPLE_META = pathlib.Path(__file__).resolve().parents[1] / 'data' / 'sample' / 'meta'
BOX = trimesh.creation.box((0.06, 0.06, 0.1))


def left_joints() -> np.ndarray:
    """Real joints of a left hand (bundled sample frame 0), camera frame."""
    meta = json.loads((SAMPLE_META / '000000.json').read_text())
    assert meta['hand_side'] == 'left'
    return np.array(meta['joints_3d'], float)


def hand_at(root, side='right', joints=None, obj=True, center=None) -> Reconstruction:
    root = np.asarray(root, float)
    if joints is None:
        joints = root + np.linspace(0.0, 0.1, 63).reshape(21, 3)
    center = root + (0.05, 0.0, 0.0) if center is None else np.asarray(center, float)
    return Reconstruction(True, None, BOX.copy() if obj else None, np.asarray(joints, float),
                          root, center if obj else np.zeros(0),
                          seed=HandSeed(root, np.zeros(4), 1.0, side), side=side)


# -- One Euro ----------------------------------------------------------------------------------
def test_smoothing_factor_is_the_first_order_low_pass():
    # tau = 1 / (2 pi f): f = 1 / (2 pi) Hz gives tau = 1 s, and dt = 1 s gives 1/2.
    assert smoothing_factor(1.0 / (2 * math.pi), 1.0) == pytest.approx(0.5)
    assert smoothing_factor(1.0, 0.01) < smoothing_factor(1.0, 0.1) < 1.0


def test_first_sample_passes_and_a_constant_stays():
    f = OneEuroFilter(OneEuroConfig(min_cutoff=1.0, beta=0.0))
    x = np.array([[0.1, 0.2, 0.3]])
    for k in range(5):
        np.testing.assert_allclose(f(x, k / 30), x)


def test_without_beta_it_is_the_exponential_low_pass():
    config = OneEuroConfig(min_cutoff=2.0, beta=0.0)
    f = OneEuroFilter(config)
    f(np.zeros(3), 0.0)
    alpha = smoothing_factor(2.0, 0.1)
    np.testing.assert_allclose(f(np.ones(3), 0.1), alpha * np.ones(3))
    np.testing.assert_allclose(f(np.ones(3), 0.2), (alpha + (1 - alpha) * alpha) * np.ones(3))


def test_noise_on_a_still_point_is_reduced():
    rng = np.random.default_rng(0)
    f = OneEuroFilter(OneEuroConfig(min_cutoff=1.0, beta=20.0))
    raw = 0.003 * rng.normal(size=(90, 21, 3))
    out = np.array([f(x, k / 30) for k, x in enumerate(raw)])
    assert np.linalg.norm(np.diff(out, axis=0), axis=-1).mean() < \
        0.3 * np.linalg.norm(np.diff(raw, axis=0), axis=-1).mean()


def test_beta_lets_a_moving_point_lag_less():
    t = np.arange(60) / 30
    ramp = np.stack([0.5 * t, 0 * t, 0 * t], axis=1)       # 0.5 m/s along x
    lags = []
    for beta in (0.0, 20.0):
        f = OneEuroFilter(OneEuroConfig(min_cutoff=1.0, beta=beta))
        out = np.array([f(x, s) for x, s in zip(ramp, t, strict=True)])
        lags.append(ramp[-1, 0] - out[-1, 0])
    assert 0 < lags[1] < 0.5 * lags[0]


def test_a_step_is_followed_without_overshoot():
    f = OneEuroFilter(OneEuroConfig(min_cutoff=1.0, beta=5.0))
    f(np.zeros(3), 0.0)
    out = [f(np.full(3, 0.1), k / 30)[0] for k in range(1, 60)]
    assert np.all(np.diff(out) >= 0) and 0.09 < out[-1] <= 0.1


def test_the_filter_rejects_bad_input_and_ignores_repeated_stamps():
    f = OneEuroFilter()
    f(np.zeros((21, 3)), 1.0)
    np.testing.assert_allclose(f(np.ones((21, 3)), 1.0), 0.0)   # same stamp: unchanged
    with pytest.raises(ValueError):
        f(np.zeros((20, 3)), 2.0)
    with pytest.raises(ValueError):
        f(np.zeros((21, 3)), float('nan'))
    f.reset()
    np.testing.assert_allclose(f(np.ones((21, 3)), 0.0), 1.0)
    with pytest.raises(ValueError):
        OneEuroConfig(min_cutoff=0.0)
    with pytest.raises(ValueError):
        OneEuroConfig(beta=-1.0)


# -- tracker -----------------------------------------------------------------------------------
def test_a_moving_hand_keeps_its_id_is_smoothed_and_a_second_hand_gets_another():
    rng = np.random.default_rng(1)
    tracker = HandTracker()
    base = np.linspace(0.0, 0.1, 63).reshape(21, 3)
    raw, smooth, ids, other_ids = [], [], [], []
    for k in range(60):                                   # 2 s at 30 Hz
        stamp = 100.0 + k / 30
        root = np.array([-0.1 + 0.1 * k / 30, 0.0, 0.6])  # 0.1 m/s along x
        joints = root + base + rng.normal(0.0, 0.004, (21, 3))
        still = hand_at((0.25, 0.0, 0.6), side='left')
        frame = FrameReconstruction([hand_at(root, 'right', joints), still])
        moving, second = tracker.update(frame, stamp)
        assert (moving.index, second.index) == (0, 1)
        raw.append(joints)
        smooth.append(moving.joints)
        ids.append(moving.track_id)
        other_ids.append(second.track_id)
    assert set(ids) == {1} and set(other_ids) == {2}
    raw_steps = np.linalg.norm(np.diff(raw, axis=0), axis=-1).mean()
    smooth_steps = np.linalg.norm(np.diff(smooth, axis=0), axis=-1).mean()
    assert smooth_steps < 0.6 * raw_steps
    # ... and still follows the hand: at the end within a couple of centimetres.
    assert np.linalg.norm(smooth[-1].mean(0) - raw[-1].mean(0)) < 0.02
    assert moving.side == 'right' and second.side == 'left'
    assert moving.observations == 60 and moving.first_stamp == 100.0 and not moving.new


def test_hands_keep_their_ids_when_the_frame_lists_them_in_another_order():
    tracker = HandTracker()
    a, b = hand_at((0.0, 0.0, 0.5)), hand_at((0.3, 0.0, 0.5))
    first = tracker.update([a, b], 0.0)
    second = tracker.update([b, a], 0.1)
    assert [h.track_id for h in first] == [1, 2]
    assert [h.track_id for h in second] == [2, 1]


def test_a_gap_longer_than_max_gap_starts_a_new_track():
    tracker = HandTracker(TrackerConfig(max_gap=0.5))
    assert tracker.update(hand_at((0, 0, 0.5)), 0.0)[0].track_id == 1
    assert tracker.update([], 0.2) == []
    assert tracker.update(hand_at((0, 0, 0.5)), 0.4)[0].track_id == 1   # 0.4 s gap: same
    again = tracker.update(hand_at((0, 0, 0.5)), 1.0)[0]                # 0.6 s: new
    assert again.track_id == 2 and again.new
    # The new track starts from the raw values (no smoothing towards the old track).
    np.testing.assert_allclose(again.root, (0, 0, 0.5))


def test_a_jump_beyond_the_gate_or_back_in_time_starts_a_new_track():
    tracker = HandTracker(TrackerConfig(hand_gate=0.1))
    assert tracker.update(hand_at((0, 0, 0.5)), 0.0)[0].track_id == 1
    assert tracker.update(hand_at((0.3, 0, 0.5)), 0.1)[0].track_id == 2
    assert tracker.update(hand_at((0.3, 0, 0.5)), 0.05)[0].track_id == 3   # stamp went back
    assert tracker.live_hand_ids == [3]


def test_a_detected_side_never_joins_a_new_track_of_the_other_side():
    tracker = HandTracker()
    tracker.update(hand_at((0, 0, 0.5), 'right'), 0.0)
    swapped = tracker.update(hand_at((0.01, 0, 0.5), 'left'), 0.1)[0]
    assert swapped.track_id == 2 and swapped.side == 'left'


def test_one_mislabelled_frame_keeps_an_established_track_and_its_side():
    # MediaPipe now and then labels a right hand seen from the back 'left' for a frame.
    tracker = HandTracker(TrackerConfig(cross_side_votes=10))
    for k in range(12):
        tracker.update(hand_at((0.002 * k, 0, 0.5), 'right'), k / 30)
    flipped = tracker.update(hand_at((0.025, 0, 0.5), 'left'), 12 / 30)[0]
    assert flipped.track_id == 1 and flipped.side == 'right'
    after = tracker.update(hand_at((0.026, 0, 0.5), 'right'), 13 / 30)[0]
    assert after.track_id == 1 and after.side == 'right'
    assert tracker.live_hand_ids == [1]


def test_an_established_track_does_not_take_a_nearby_hand_of_the_other_side_from_its_own():
    tracker = HandTracker(TrackerConfig(cross_side_votes=3))
    for k in range(5):
        tracker.update([hand_at((0, 0, 0.5), 'right'), hand_at((0.06, 0, 0.5), 'left')],
                       k / 30)
    # The hands came closer: each is still nearer the other's track than the gate, but
    # each keeps its own track (a contradiction costs half the gate).
    right, left = tracker.update([hand_at((0.03, 0, 0.5), 'right'),
                                  hand_at((0.035, 0, 0.5), 'left')], 5 / 30)
    assert (right.track_id, right.side) == (1, 'right')
    assert (left.track_id, left.side) == (2, 'left')
    with pytest.raises(ValueError, match='cross_side_votes'):
        TrackerConfig(cross_side_votes=-1)


def test_unknown_side_comes_from_the_joints_geometry():
    joints = left_joints()
    assert observed_side(hand_at(joints[0], 'unknown', joints)) == ('left', False)
    mirrored = joints * (-1.0, 1.0, 1.0)
    assert observed_side(hand_at(mirrored[0], 'unknown', mirrored)) == ('right', False)
    assert observed_side(hand_at(joints[0], 'right', joints)) == ('right', True)
    flat = np.zeros((21, 3))                                  # degenerate: no side
    assert observed_side(hand_at((0, 0, 0.5), 'unknown', flat)) == ('unknown', False)
    tracker = HandTracker()
    tracked = tracker.update(hand_at(joints[0], 'unknown', joints), 0.0)[0]
    assert tracked.side == 'left'


def test_objects_get_their_own_ids_shared_by_two_hands_on_one_object():
    tracker = HandTracker()
    cup = np.array([0.0, 0.0, 0.6])
    for k in range(10):
        cup = cup + (0.01, 0.0, 0.0)
        left = hand_at(cup - (0.06, 0, 0), 'left', center=cup + (0.005, 0, 0))
        right = hand_at(cup + (0.06, 0, 0), 'right', center=cup - (0.005, 0, 0))
        empty = hand_at((0.5, 0.3, 0.6), 'right', obj=False)
        a, b, c = tracker.update([left, right, empty], k * 0.1)
        assert a.object_id == b.object_id == 1
        assert c.object_id is None and c.object_center.shape == (0,)
        np.testing.assert_allclose(a.object_center, b.object_center)
    assert a.track_id != b.track_id


def test_bad_input_is_refused():
    tracker = HandTracker()
    with pytest.raises(ValueError):
        tracker.update([], float('inf'))
    bad = hand_at((0, 0, 0.5))
    bad.root = np.zeros(2)
    with pytest.raises(ValueError):
        tracker.update([bad], 0.0)
    assert tracker.update(Reconstruction(False), 0.0) == []
    with pytest.raises(ValueError):
        TrackerConfig(max_gap=0.0)
    with pytest.raises(ValueError):
        TrackerConfig(min_cutoff=-1.0)
