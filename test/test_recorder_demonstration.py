"""The recorder's demonstration record: messages -> track frames; the JSON file on stop."""

import json
import pathlib

from geometry_msgs.msg import Point
import numpy as np
import pytest

from c2f_sdf_ros.msg import Contact, HandObjectReconstruction, HandReconstruction
from c2f_sdf_ros.reconstruct.demonstration import FORMAT, Demonstration
from c2f_sdf_ros.ros.parameters import ConfigurationError
from c2f_sdf_ros.ros.recorder_node import (
    box_transform,
    demonstration_frames,
    demonstration_path,
    hand_objects,
)
from helpers.processes import process_log, start_node, start_process, stop_process
from helpers.reconstruction import (
    GRASP_FRAMES,
    GRASP_OBJECT_YAW,
    GRASP_START,
    build_reconstruction,
    grasp_message,
)

pytestmark = pytest.mark.ros
PUBLISHER = str(pathlib.Path(__file__).parent / 'helpers' / 'publish_reconstruction.py')
INF = float('inf')


def stamp(k: int) -> float:
    """The stamp (s) of frame ``k`` of the scripted grasp."""
    return GRASP_START + k / 10


def check_scripted_grasp(data: dict) -> None:
    """``data`` is the record of ``grasp_message`` 0..9: one grasp, frames 4 to 7."""
    assert data['format'] == FORMAT and data['frame_id'] == 'camera_color_optical_frame'
    assert data['frame_count'] == GRASP_FRAMES
    assert data['start'] == stamp(0) and data['end'] == stamp(GRASP_FRAMES - 1)
    right, left = sorted(data['tracks'], key=lambda t: t['side'], reverse=True)
    assert (right['track_id'], right['side'], left['track_id'], left['side']) == \
        (1, 'right', 2, 'left')
    assert len(right['frames']) == len(left['frames']) == GRASP_FRAMES
    assert all(f['object_id'] is None and f['contacts'] == [] for f in left['frames'])
    # Approach (no contact), the index alone (not a grasp), the grasp, the release.
    assert [f['contacts'] for f in right['frames']] == [
        [], [], [], ['index'], ['thumb', 'index'], ['thumb', 'index', 'middle'],
        ['thumb', 'index'], [], [], []]
    assert all(f['object_id'] == 1 for f in right['frames'])
    onset = right['frames'][4]
    assert onset['gaps_mm'] == {'palm': None, 'thumb': -1.0, 'index': 0.0, 'middle': None,
                                'ring': None, 'little': None}
    np.testing.assert_allclose(onset['root'], (0.06, 0.0, 0.5))
    (grasp,) = data['grasps']
    assert (grasp['track_id'], grasp['side'], grasp['object_id']) == (1, 'right', 1)
    assert grasp['onset'] == pytest.approx(stamp(4))
    assert grasp['release'] == pytest.approx(stamp(7))
    assert grasp['onset_parts'] == ['thumb', 'index']
    assert grasp['parts'] == ['thumb', 'index', 'middle']
    assert grasp['object_box']['extents'] == pytest.approx([0.06, 0.06, 0.1])
    # The wrist, 6 cm along camera x from the box centre, in the box turned 30 degrees.
    yaw = GRASP_OBJECT_YAW
    np.testing.assert_allclose(grasp['wrist_in_object'],
                               (0.06 * np.cos(yaw), -0.06 * np.sin(yaw), 0.0), atol=1e-9)


def record_of(messages) -> tuple[Demonstration, int]:
    """The demonstration of ``messages`` and how many untracked hands it left out."""
    demonstration = Demonstration(frame_id='camera_color_optical_frame')
    untracked = 0
    for msg in messages:
        frames, left_out = demonstration_frames(msg)
        demonstration.add_frames(msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9,
                                 frames)
        untracked += left_out
    return demonstration, untracked


def test_the_scripted_grasp_from_messages():
    demonstration, untracked = record_of(grasp_message(k) for k in range(GRASP_FRAMES))
    assert untracked == 1    # frame 8's hand without a track id
    check_scripted_grasp(demonstration.to_dict())
    assert demonstration.track_summary() == (
        'track 1 (right): 1 grasp, onset at 0.40 s with thumb+index, released at 0.70 s; '
        'track 2 (left): no contact')


def test_a_message_frame_has_the_track_ids_contacts_and_box():
    frames, untracked = demonstration_frames(grasp_message(5))
    assert untracked == 0 and set(frames) == {1, 2}
    right, left = frames[1], frames[2]
    assert right.stamp == pytest.approx(stamp(5)) and right.side == 'right'
    assert right.object_id == 1 and right.touching == (1, 2, 3)
    np.testing.assert_allclose(right.gaps, (INF, -0.001, 0.0, 0.003, INF, INF), atol=1e-7)
    yaw = GRASP_OBJECT_YAW
    np.testing.assert_allclose(right.object_box[:3, :3],
                               [[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0],
                                [0, 0, 1]], atol=1e-7)
    np.testing.assert_allclose(right.object_box[:3, 3], (0.0, 0.0, 0.5))
    assert left.object_id is None and left.object_box is None and left.touching == ()


def test_hands_and_objects_pair_by_index_contact_or_distance():
    msg = grasp_message(0)      # two hands, one object, no contacts: the nearer hand
    assert hand_objects(msg) == [None, 0]
    msg.hands[0].root = Point(x=0.01, y=0.0, z=0.5)    # the left hand nearer now ...
    assert hand_objects(msg) == [0, None]
    msg.contacts = [Contact(hand_index=1, object_index=0, hand_part=Contact.PART_THUMB)]
    assert hand_objects(msg) == [None, 0]             # ... but the right one touches it
    assert hand_objects(build_reconstruction(0)) == [0]      # as many objects as hands
    assert hand_objects(HandObjectReconstruction()) == []


def test_bad_messages_and_names_are_refused(tmp_path):
    msg = grasp_message(4)
    msg.contacts[0].hand_part = 6
    with pytest.raises(ValueError, match='not a part'):
        demonstration_frames(msg)
    msg = grasp_message(4)
    msg.hands[0].track_id = 1
    with pytest.raises(ValueError, match='two hands with track id 1'):
        demonstration_frames(msg)
    msg = grasp_message(4)
    msg.objects[0].box_pose.orientation.z = msg.objects[0].box_pose.orientation.w = 0.0
    with pytest.raises(ValueError, match='zero orientation'):
        demonstration_frames(msg)
    msg.objects[0].box_pose.orientation.w = 1.0
    msg.objects[0].box_size.x = float('nan')
    with pytest.raises(ValueError, match='finite'):
        box_transform(msg.objects[0].box_pose, msg.objects[0].box_size)
    # A hand without a track id is left out; an object without one is no object.
    msg = grasp_message(4)
    msg.hands[1].track_id = -1
    frames, untracked = demonstration_frames(msg)
    assert set(frames) == {2} and untracked == 1
    msg = grasp_message(4)
    msg.objects[0].track_id = -1
    frames, _ = demonstration_frames(msg)
    assert frames[1].object_id is None and frames[1].touching == ()

    assert demonstration_path(tmp_path, 'grasps.json') == tmp_path / 'grasps.json'
    assert demonstration_path(tmp_path, '') is None
    for name in ('sub/grasps.json', '..', '/tmp/x.json', 'frames.jsonl', 'meshes', 'a\\b'):
        with pytest.raises(ConfigurationError):
            demonstration_path(tmp_path, name)


def test_side_names_follow_the_message():
    msg = grasp_message(0)
    msg.hands[1].side = HandReconstruction.SIDE_UNKNOWN
    frames, _ = demonstration_frames(msg)
    assert frames[1].side == 'unknown' and frames[2].side == 'left'


@pytest.mark.slow
def test_recorder_writes_the_demonstration_when_stopped(tmp_path):
    """Recorder and publisher in processes of their own; SIGINT (Ctrl-C) stops the recorder."""
    out = tmp_path / 'recording'
    recorder = start_node('c2f_sdf_ros.ros.recorder_node', tmp_path / 'recorder.log',
                          '-r', '__ns:=/demo_rec_test', '-p', f'output_dir:={out}',
                          '-p', 'write_meshes:=false', '-p', 'demonstration_file:=grasps.json')
    publisher = start_process([PUBLISHER, str(GRASP_FRAMES), 'grasp', '--ros-args', '-r',
                               '__ns:=/demo_rec_test'], tmp_path / 'publisher.log')
    try:
        assert publisher.wait(60) == 0, process_log(publisher) + process_log(recorder)
        # Every message was acknowledged, so the recorder has them; nothing written yet.
        assert not (out / 'grasps.json').exists()
    finally:
        stop_process(publisher)
        assert stop_process(recorder) == 0, process_log(recorder)

    data = json.loads((out / 'grasps.json').read_text())
    check_scripted_grasp(data)
    assert data['source'] == '/demo_rec_test/reconstruction'
    assert data['summary'] == ('1 grasp: right hand grasped object 1 at 0.40 s with '
                               'thumb+index, released at 0.70 s')
    assert sorted(p.name for p in out.iterdir()) == ['frames.jsonl', 'grasps.json', 'meshes']
    assert len((out / 'frames.jsonl').read_text().splitlines()) == GRASP_FRAMES
    log = process_log(recorder)
    assert f'wrote {out / "grasps.json"}: 1 grasp' in log
    assert 'left out of the demonstration' in log     # frame 8's untracked hand
