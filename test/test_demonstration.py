"""Demonstration records (``reconstruct.demonstration``): grasps, poses, JSON, summary."""

import json

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
    tracker = HandTracker()
    demo = Demonstration()
    for k in range(41):
        t = k / 10
        right = hand((0.05, 0.0, 0.6), 'right', PINCH3 if 1.0 <= t < 3.0 else ())
        left = hand((-0.45, 0.0, 0.6), 'left', (PART_PALM, PART_THUMB) if t >= 0.5 else (),
                    center=(-0.5, 0.0, 0.6))
        demo.add(t, tracker.update([right, left], t))
    line = demo.summary_line()
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
    tracker = HandTracker()
    demo = Demonstration()
    for k in range(30):
        t = k / 10
        center = (0.0, 0.0, 0.6) if t < 1.5 else (0.0, 0.3, 0.6)   # 30 cm apart: two objects
        demo.add(t, tracker.update([hand((0.05, 0.15, 0.6), 'right', PINCH3, center)], t))
    first, second = demo.grasps()
    assert first.track_id == second.track_id == 1
    assert (first.object_id, second.object_id) == (1, 2)
    assert first.release == pytest.approx(1.5) and second.onset == pytest.approx(1.5)
    assert second.release is None


def test_a_hand_lost_while_holding_has_no_release():
    tracker = HandTracker()
    demo = Demonstration()
    for k in range(30):
        t = k / 10
        # The hand jumps 30 cm at 1.5 s: beyond the 15 cm gate, a new track.
        root = (0.05, 0.0, 0.6) if t < 1.5 else (0.05, 0.3, 0.6)
        demo.add(t, tracker.update([hand(root, 'right', PINCH3)], t))
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
