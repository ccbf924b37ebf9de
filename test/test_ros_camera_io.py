"""Replay camera -> DDS -> synchronized subscriber, across processes (real DDS on loopback)."""

import numpy as np
import pytest

from c2f_sdf_ros.data.frame_folder import FrameFolder
from c2f_sdf_ros.ros.conversions import color_image_to_rgb, depth_image_to_m
from c2f_sdf_ros.ros.rgbd_input import RgbdInput
from helpers.frames import frame_index, make_frame_folder
from helpers.processes import process_log, start_node, stop_process

pytestmark = [pytest.mark.ros, pytest.mark.slow]
# Namespace of the test_node fixture (conftest.py) and of the nodes these tests start.
TEST_NAMESPACE = '/replay_test'


@pytest.fixture(scope='module')
def frames60(tmp_path_factory):
    return make_frame_folder(tmp_path_factory.mktemp('frames60'), 60)


def test_replay_60_frames_at_30hz_arrive_synchronized(frames60, test_node, tmp_path):
    received = []

    def on_triple(color, depth, info):
        received.append((color, depth, info))

    rgbd = RgbdInput(test_node.node, on_triple, qos_depth=10, exact_sync=True)
    replay = start_node(
        'c2f_sdf_ros.ros.replay_camera_node', tmp_path / 'replay.log',
        '-r', '__ns:=/replay_test', '-p', f'frames_dir:={frames60}', '-p', 'rate:=30.0',
        '-p', 'loop:=false', '-p', 'wait_for_subscribers:=1', '-p', 'start_delay:=0.5')
    try:
        finished = test_node.spin_until(lambda: replay.poll() is not None, timeout=60.0)
        test_node.spin_for(1.0)  # deliveries still in the executor
        assert finished, process_log(replay)
        assert replay.returncode == 0, process_log(replay)
    finally:
        stop_process(replay)
    log = process_log(replay)
    assert 'replay finished: 60 frames published' in log, log

    print(f'received {len(received)} of 60 synchronized triples; sync {rgbd.stats}')
    assert len(received) >= 57, f'{len(received)} of 60 triples; sync {rgbd.stats}'
    source = FrameFolder(frames60)
    indices = []
    for color, depth, info in received:
        assert color.header.stamp == depth.header.stamp == info.header.stamp
        assert color.header.frame_id == depth.header.frame_id == 'camera_color_optical_frame'
        rgb = color_image_to_rgb(color)
        index = frame_index(rgb)
        indices.append(index)
        expected = source.read(index)
        np.testing.assert_array_equal(rgb, expected.color)
        np.testing.assert_allclose(depth_image_to_m(depth), expected.depth, atol=5e-4)
        assert (info.width, info.height) == (640, 480)
        np.testing.assert_allclose(np.reshape(info.k, (3, 3)), source.camera.K)
    assert indices == sorted(set(indices)), 'frames out of order or repeated'
    stamps = [c.header.stamp.sec + 1e-9 * c.header.stamp.nanosec for c, _, _ in received]
    assert np.all(np.diff(stamps) > 0)
