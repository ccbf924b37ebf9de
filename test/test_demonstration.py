"""Demonstration records (``reconstruct.demonstration``): grasps, poses, JSON, summary."""

import json
import os

import numpy as np
import pytest
import trimesh

from c2f_sdf_ros.reconstruct.contacts import (
    PART_INDEX,
    PART_MIDDLE,
    PART_PALM,
    PART_THUMB,
    Contacts,
)
from c2f_sdf_ros.reconstruct.demonstration import (
    FORMAT,
    Demonstration,
    GraspConfig,
    TrackFrame,
    object_box,
    to_box_frame,
)
from c2f_sdf_ros.reconstruct.hand_finder import HandSeed
from c2f_sdf_ros.reconstruct.pipeline import Reconstruction
from c2f_sdf_ros.reconstruct.tracking import HandTracker

PINCH3 = (PART_THUMB, PART_INDEX, PART_MIDDLE)


def hand(root, side, parts=(), center=(0.0, 0.0, 0.6), obj=True) -> Reconstruction:
    """A reconstructed hand at ``root`` whose ``parts`` touch a 6x6x10 cm box at ``center``."""
    root = np.asarray(root, float)
    joints = root + np.linspace(0.0, 0.08, 63).reshape(21, 3)
    mesh = trimesh.creation.box((0.06, 0.06, 0.1)).apply_translation(center) if obj else None
    gaps = np.full(6, 0.03)
    gaps[list(parts)] = 0.0
    contacts = Contacts(np.tile(root, (len(parts), 1)), np.tile((1.0, 0, 0), (len(parts), 1)),
                        np.zeros(len(parts)), np.array(parts, np.uint8), gaps) if parts \
        else Contacts.empty()
    return Reconstruction(True, None, mesh, joints, root,
                          np.asarray(center, float) if obj else np.zeros(0), contacts,
                          seed=HandSeed(root, np.zeros(4), 1.0, side), side=side)


def record(schedule, config=None, start=100.0, rate=10.0, side='right'):
    """
    One hand near one object; ``schedule(t)`` -> touching parts at time t (s from start).

    Returns the Demonstration.
    """
    tracker = HandTracker()
    demo = Demonstration(config, source='test', frame_id='camera_color_optical_frame')
    for k in range(int(5 * rate) + 1):
        t = k / rate
        frame = [hand((0.05, 0.0, 0.6), side, schedule(t))]
        demo.add(start + t, tracker.update(frame, start + t))
    return demo


def play(count, hands_at) -> Demonstration:
    """``count`` frames 0.1 s apart from 0 s, through a tracker; ``hands_at(k)`` -> hands."""
    tracker = HandTracker()
    demo = Demonstration()
    for k in range(count):
        demo.add(k / 10, tracker.update(hands_at(k), k / 10))
    return demo


def pinch_between(onset, release):
    return lambda t: PINCH3 if onset - 1e-9 <= t < release - 1e-9 else ()


def test_one_grasp_gives_onset_release_parts_and_the_summary_line():
    demo = record(pinch_between(1.2, 3.4))
    (grasp,) = demo.grasps()
    assert grasp.onset == pytest.approx(101.2) and grasp.release == pytest.approx(103.4)
    assert grasp.duration == pytest.approx(2.2)
    assert grasp.onset_parts == PINCH3 and grasp.side == 'right' and grasp.object_id == 1
    assert demo.summary_line() == ('1 grasp: right hand grasped object 1 at 1.20 s with '
                                   'thumb+index+middle, released at 3.40 s')


def test_two_hands_two_grasps_in_onset_order():
    def hands_at(k):
        right = hand((0.05, 0.0, 0.6), 'right', PINCH3 if 10 <= k < 30 else ())
        left = hand((-0.45, 0.0, 0.6), 'left', (PART_PALM, PART_THUMB) if k >= 5 else (),
                    center=(-0.5, 0.0, 0.6))
        return [right, left]

    line = play(41, hands_at).summary_line()
    assert line == ('2 grasps: left hand grasped object 2 at 0.50 s with palm+thumb, still '
                    'holding at the end; right hand grasped object 1 at 1.00 s with '
                    'thumb+index+middle, released at 3.00 s')


def test_one_part_is_not_a_grasp_and_the_thumb_can_be_required():
    demo = record(lambda t: (PART_INDEX,) if 1 <= t < 2 else ())
    assert demo.grasps() == []
    assert demo.summary_line().startswith('no grasps: 1 hand track(s) over 5.00 s')
    no_thumb = lambda t: (PART_INDEX, PART_MIDDLE) if 1 <= t < 2 else ()   # noqa: E731
    assert len(record(no_thumb).grasps()) == 1
    assert record(no_thumb, GraspConfig(require_thumb=True)).grasps() == []


def test_hysteresis_bridges_a_dropout_and_ignores_a_blip():
    def dropout(t):      # held 1-3 s, but not at 2.0 s
        return PINCH3 if 1 <= t < 3 and abs(t - 2.0) > 1e-6 else ()

    assert len(record(dropout).grasps()) == 2
    (bridged,) = record(dropout, GraspConfig(release_frames=2)).grasps()
    assert bridged.onset == pytest.approx(101.0) and bridged.release == pytest.approx(103.0)

    def blip(t):         # two frames of contact at 1.0 and 1.1 s
        return PINCH3 if 1 <= t < 1.15 else ()

    assert len(record(blip).grasps()) == 1
    assert record(blip, GraspConfig(onset_frames=3)).grasps() == []
    assert record(blip, GraspConfig(min_duration=0.5)).grasps() == []
    # The onset is the first frame of the confirming run, not the frame that confirms it.
    (late,) = record(pinch_between(1.0, 2.0), GraspConfig(onset_frames=3)).grasps()
    assert late.onset == pytest.approx(101.0)


def test_moving_to_another_object_ends_one_grasp_and_starts_the_next():
    def hands_at(k):
        center = (0.0, 0.0, 0.6) if k < 15 else (0.0, 0.3, 0.6)   # 30 cm apart: two objects
        return [hand((0.05, 0.15, 0.6), 'right', PINCH3, center)]

    first, second = play(30, hands_at).grasps()
    assert first.track_id == second.track_id == 1
    assert (first.object_id, second.object_id) == (1, 2)
    assert first.release == pytest.approx(1.5) and second.onset == pytest.approx(1.5)
    assert second.release is None


def test_a_hand_lost_while_holding_has_no_release():
    # The hand jumps 30 cm at 1.5 s: beyond the 15 cm gate, a new track.
    demo = play(30, lambda k: [hand((0.05, 0.0 if k < 15 else 0.3, 0.6), 'right', PINCH3)])
    first, second = demo.grasps()
    assert (first.track_id, second.track_id) == (1, 2)
    assert first.release is None and first.end == pytest.approx(1.4)
    assert demo.summary_line() == (
        '2 grasps: right hand 1 grasped object 1 at 0.00 s with thumb+index+middle, hand '
        'lost at 1.40 s while holding; right hand 2 grasped object 1 at 1.50 s with '
        'thumb+index+middle, still holding at the end')


def test_the_onset_pose_is_in_the_object_box_frame():
    demo = record(pinch_between(1.0, 2.0))
    (grasp,) = demo.grasps()
    box, extents = grasp.object_box, grasp.object_extents
    assert sorted(np.round(extents, 6)) == [0.06, 0.06, 0.1]
    np.testing.assert_allclose(box[:3, 3], (0.0, 0.0, 0.6), atol=1e-9)
    assert np.linalg.det(box[:3, :3]) == pytest.approx(1.0)
    # Back to the camera frame: the tracked wrist at onset.
    wrist_camera = box[:3, :3] @ grasp.wrist_in_object + box[:3, 3]
    np.testing.assert_allclose(wrist_camera, (0.05, 0.0, 0.6), atol=1e-9)
    assert grasp.joints_in_object.shape == (21, 3)
    np.testing.assert_allclose(np.linalg.norm(grasp.wrist_in_object), 0.05)
    transform, _ = object_box(trimesh.creation.box((0.1, 0.2, 0.3)))
    np.testing.assert_allclose(to_box_frame(transform, transform[:3, 3]), 0.0, atol=1e-12)


def test_write_json_is_the_documented_record(tmp_path):
    demo = record(pinch_between(1.2, 3.4))
    path = demo.write_json(tmp_path / 'sub' / 'demo.json')
    data = json.loads(path.read_text())
    assert data['format'] == FORMAT and data['source'] == 'test'
    assert data['frame_id'] == 'camera_color_optical_frame'
    assert data['frame_count'] == 51 and data['start'] == 100.0 and data['end'] == 105.0
    assert data['part_names'] == ['palm', 'thumb', 'index', 'middle', 'ring', 'little']
    assert data['grasp_config']['min_parts'] == 2
    (track,) = data['tracks']
    assert track['track_id'] == 1 and track['side'] == 'right'
    assert len(track['frames']) == 51
    frame = track['frames'][12]
    assert frame['stamp'] == pytest.approx(101.2)
    assert frame['contacts'] == ['thumb', 'index', 'middle']
    assert frame['gaps_mm']['thumb'] == 0.0 and frame['gaps_mm']['palm'] == 30.0
    assert len(frame['joints']) == 21 and frame['object_id'] == 1
    assert set(frame['object_box']) == {'camera_T_box', 'extents'}
    (grasp,) = data['grasps']
    assert grasp['onset_parts'] == ['thumb', 'index', 'middle']
    assert grasp['release'] == pytest.approx(103.4)
    assert len(grasp['joints_in_object']) == 21
    assert data['summary'] == demo.summary_line()


def test_a_hand_without_object_and_bad_stamps():
    tracker = HandTracker()
    demo = Demonstration()
    demo.add(0.0, tracker.update([hand((0, 0, 0.6), 'left', obj=False)], 0.0))
    data = demo.to_dict()
    frame = data['tracks'][0]['frames'][0]
    assert frame['object_id'] is None and frame['object_box'] is None
    assert frame['gaps_mm'] is None and frame['contacts'] == []
    json.dumps(data, allow_nan=False)
    with pytest.raises(ValueError):
        demo.add(-1.0, [])
    with pytest.raises(ValueError):
        demo.add(float('nan'), [])
    with pytest.raises(ValueError):
        GraspConfig(min_parts=0)
    with pytest.raises(ValueError):
        GraspConfig(release_frames=0)
    empty = Demonstration()
    assert empty.to_dict()['start'] is None
    assert empty.summary_line() == 'no grasps: 0 hand track(s) over 0.00 s, 0 frames'


def test_approach_touch_release_gives_one_grasp_and_the_track_summary():
    """A hand moves in to a box, the thumb and index touch it, it lets go and leaves."""
    touching = {5: (PART_INDEX,), 6: (PART_THUMB, PART_INDEX), 7: (PART_THUMB, PART_INDEX),
                8: (PART_THUMB, PART_INDEX, PART_MIDDLE)}

    def hands_at(k):
        # 12 cm away to 4 cm over frames 0-4, there while touching, then away again.
        x = 0.04 + max(0.0, 0.02 * (4 - k)) + max(0.0, 0.02 * (k - 9))
        return [hand((x, 0.0, 0.6), 'right', touching.get(k, ()))]

    demo = play(14, hands_at)
    (grasp,) = demo.grasps()
    # Frame 5 has one part only: the grasp starts at frame 6 and ends at frame 9.
    assert grasp.onset == pytest.approx(0.6) and grasp.release == pytest.approx(0.9)
    assert grasp.onset_parts == (PART_THUMB, PART_INDEX)
    assert grasp.parts == (PART_THUMB, PART_INDEX, PART_MIDDLE)
    assert demo.track_summary() == ('track 1 (right): 1 grasp, onset at 0.60 s with '
                                    'thumb+index, released at 0.90 s')
    names = {round(k / 10, 6): f'frame {k:06d}' for k in range(14)}
    assert demo.track_summary(lambda s: names[round(s, 6)]) == (
        'track 1 (right): 1 grasp, onset at frame 000006 with thumb+index, released at '
        'frame 000009')


def test_track_summary_reports_contacts_without_a_grasp_and_no_contact():
    def hands_at(k):
        # Right: a second grasp while the record ends. Left: one finger only. Far: nothing.
        right = hand((0.05, 0.0, 0.6), 'right', PINCH3 if k in (1, 2, 6, 7, 8, 9) else ())
        left = hand((-0.45, 0.0, 0.6), 'left', (PART_INDEX,) if k in (3, 4) else (),
                    center=(-0.5, 0.0, 0.6))
        return [right, left, hand((0.5, 0.4, 0.6), 'left', obj=False)]

    assert play(10, hands_at).track_summary() == (
        'track 1 (right): 2 grasps, onset at 0.10 s with thumb+index+middle, released at '
        '0.30 s, then onset at 0.60 s with thumb+index+middle, held to the end; '
        'track 2 (left): contact in 2 frames, first at 0.30 s (index), no grasp; '
        'track 3 (left): no contact')
    # The hand jumps away at 0.5 s: a new track, the old one lost while holding.
    lost = play(10, lambda k: [hand((0.05, 0.0 if k < 5 else 0.3, 0.6), 'right',
                                    PINCH3 if k < 5 else ())])
    assert lost.track_summary().startswith(
        'track 1 (right): 1 grasp, onset at 0.00 s with thumb+index+middle, hand lost '
        'after 0.40 s; track 2 (right): ')
    assert Demonstration().track_summary() == 'no hands in 0 frames'


def frame(stamp=1.0, **changes) -> TrackFrame:
    """A valid TrackFrame of a hand touching object 3 with the thumb and index, changed."""
    values = dict(stamp=stamp, side='right', root=np.zeros(3), joints=np.zeros((21, 3)),
                  object_id=3, object_center=np.ones(3), object_box=np.eye(4),
                  object_extents=np.ones(3), touching=(2, 1), gaps=np.full(6, np.inf))
    values.update(changes)
    return TrackFrame(**values)


def test_add_frames_records_frames_tracked_elsewhere_and_checks_them():
    demo = Demonstration()
    demo.add_frames(1.0, {7: frame(1.0)})
    demo.add_frames(1.5, {})
    demo.add_frames(2.0, {7: frame(2.0, touching=())})
    (grasp,) = demo.grasps()
    assert (grasp.track_id, grasp.object_id, grasp.onset, grasp.release) == (7, 3, 1.0, 2.0)
    assert demo.tracks[7][0].touching == (1, 2)      # sorted
    assert demo.to_dict()['frame_count'] == 3
    with pytest.raises(ValueError, match='differs from the frame stamp'):
        demo.add_frames(3.0, {7: frame(2.5)})
    with pytest.raises(ValueError, match='must not decrease'):
        demo.add_frames(1.0, {7: frame(1.0)})
    for bad in (dict(root=np.zeros(2)), dict(joints=np.zeros((20, 3))),
                dict(root=np.array([0.0, np.nan, 0.0])), dict(gaps=np.full(6, np.nan)),
                dict(object_id=None), dict(object_extents=None), dict(touching=(6,)),
                dict(object_center=None), dict(object_box=np.eye(3))):
        with pytest.raises(ValueError):
            frame(**bad)
    bare = frame(object_id=None, object_center=None, object_box=None, object_extents=None,
                 touching=())
    assert bare.object_id is None and not bare.in_contact(GraspConfig())


def test_write_json_replaces_the_file_whole_or_not_at_all(tmp_path, monkeypatch):
    path = tmp_path / 'demonstration.json'
    first = record(pinch_between(1.0, 2.0))
    first.write_json(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['demonstration.json']
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask    # a usual file, not a private one

    def fail(*args):
        raise OSError('disk full')

    monkeypatch.setattr('os.replace', fail)
    with pytest.raises(OSError, match='disk full'):
        record(pinch_between(3.0, 4.0)).write_json(path)
    # The old record stands, and no temporary file is left behind.
    assert json.loads(path.read_text())['grasps'][0]['onset'] == pytest.approx(101.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['demonstration.json']
