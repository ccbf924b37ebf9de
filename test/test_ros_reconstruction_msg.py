"""The custom reconstruction message across processes, and the recorder node writing it."""

import json
import math
import pathlib

import numpy as np
import pytest
import trimesh

from c2f_sdf_ros.msg import Contact, HandObjectReconstruction, HandReconstruction
from c2f_sdf_ros.ros.conversions import mesh_from_msg
from c2f_sdf_ros.ros.points import points_to_array
from helpers.processes import RosTestNode, process_log, start_node, start_process, stop_process
from helpers.reconstruction import reconstruction_meshes

pytestmark = [pytest.mark.ros, pytest.mark.slow]
PUBLISHER = str(pathlib.Path(__file__).parent / 'helpers' / 'publish_reconstruction.py')


def test_reconstruction_message_crosses_processes_vertex_for_vertex(tmp_path):
    test_node = RosTestNode('reconstruction_test', namespace='/msg_test')
    received = []
    test_node.node.create_subscription(HandObjectReconstruction, 'reconstruction',
                                       received.append, 10)
    publisher = start_process([PUBLISHER, '3', '--ros-args', '-r', '__ns:=/msg_test'],
                              tmp_path / 'publisher.log')
    try:
        assert test_node.spin_until(lambda: len(received) == 3, timeout=40.0), \
            process_log(publisher)
        assert publisher.wait(10) == 0, process_log(publisher)
    finally:
        stop_process(publisher)
        test_node.close()

    for seed, msg in enumerate(received):
        hand_v, hand_f, obj_v, obj_f, joints = reconstruction_meshes(seed)
        assert msg.header.frame_id == 'camera_color_optical_frame'
        assert len(msg.hands) == 1 and len(msg.objects) == 1
        hand = msg.hands[0]
        assert hand.side == HandReconstruction.SIDE_RIGHT
        assert hand.confidence == pytest.approx(0.9)
        vertices, faces = mesh_from_msg(hand.mesh)
        assert len(faces) >= 1000
        np.testing.assert_array_equal(vertices, hand_v)  # float64 on the wire: exact
        np.testing.assert_array_equal(faces, hand_f)
        np.testing.assert_array_equal(points_to_array(hand.joints), joints)
        np.testing.assert_array_equal(points_to_array([hand.root]), joints[:1])
        vertices, faces = mesh_from_msg(msg.objects[0].mesh)
        np.testing.assert_array_equal(vertices, obj_v)
        np.testing.assert_array_equal(faces, obj_f)
        assert msg.contacts[0].hand_part == Contact.PART_INDEX
        assert msg.contacts[0].normal.x == -1.0
        assert [t.stage for t in msg.timings] == ['encode', 'marching_cubes']
        assert msg.sdf_query_count == 1000 + seed


def test_recorder_writes_meshes_and_json_lines(tmp_path):
    out = tmp_path / 'recording'
    recorder = start_node('c2f_sdf_ros.ros.recorder_node', tmp_path / 'recorder.log',
                          '-r', '__ns:=/rec_test', '-p', f'output_dir:={out}',
                          '-p', 'mesh_format:=ply')
    publisher = start_process([PUBLISHER, '2', '--ros-args', '-r', '__ns:=/rec_test'],
                              tmp_path / 'publisher.log')
    try:
        assert publisher.wait(60) == 0, process_log(publisher) + process_log(recorder)
    finally:
        stop_process(publisher)
        assert stop_process(recorder) == 0, process_log(recorder)

    lines = [json.loads(line) for line in (out / 'frames.jsonl').read_text().splitlines()]
    assert [line['seq'] for line in lines] == [0, 1]
    for seed, line in enumerate(lines):
        hand_v, hand_f, obj_v, obj_f, joints = reconstruction_meshes(seed)
        assert line['frame_id'] == 'camera_color_optical_frame'
        assert math.isfinite(line['latency_s']) and line['latency_s'] >= 0.0
        assert line['sdf_query_count'] == 1000 + seed
        assert line['timings']['marching_cubes'] == pytest.approx(0.02)
        hand = line['hands'][0]
        assert hand['side'] == 'right' and hand['triangles'] == len(hand_f)
        np.testing.assert_allclose(hand['joints'], joints)
        mesh = trimesh.load(out / hand['mesh'], process=False)
        np.testing.assert_allclose(mesh.vertices, hand_v, atol=1e-6)
        np.testing.assert_array_equal(mesh.faces, hand_f)
        obj = trimesh.load(out / line['objects'][0]['mesh'], process=False)
        np.testing.assert_allclose(obj.vertices, obj_v, atol=1e-6)
        np.testing.assert_array_equal(obj.faces, obj_f)
    assert 'recorded 2 frames' in process_log(recorder)
    # The demonstration record, under its default name: hand track 0 (the test messages'
    # default id), one part touching in each frame, so no grasp.
    record = json.loads((out / 'demonstration.json').read_text())
    assert record['frame_count'] == 2 and record['grasps'] == []
    (track,) = record['tracks']
    assert track['track_id'] == 0 and [f['contacts'] for f in track['frames']] == \
        [['index'], ['index']]


def test_recorder_rejects_unusable_output_dir(tmp_path):
    not_a_dir = tmp_path / 'file'
    not_a_dir.write_text('x')
    recorder = start_node('c2f_sdf_ros.ros.recorder_node', tmp_path / 'recorder.log',
                          '-p', f'output_dir:={not_a_dir}')
    assert recorder.wait(30) == 2
    stop_process(recorder)
    assert 'exists and is not a folder' in process_log(recorder)
