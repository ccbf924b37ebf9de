"""Replay camera -> DDS -> synchronized subscriber, across processes (real DDS on loopback)."""

import itertools

import numpy as np
import pytest

from c2f_sdf_ros.data.frame_folder import FrameFolder
from c2f_sdf_ros.ros.conversions import color_image_to_rgb, depth_image_to_m
from c2f_sdf_ros.ros.rgbd_input import RgbdInput
from c2f_sdf_ros.ros.sync import stamp_to_ns
from helpers.frames import frame_index, make_frame_folder
from helpers.processes import process_log, start_node, stop_process

pytestmark = [pytest.mark.ros, pytest.mark.slow]
# Namespace of the test_node fixture (conftest.py) and of the nodes these tests start.
TEST_NAMESPACE = '/replay_test'
FRAMES = 60


@pytest.fixture(scope='module')
def frames60(tmp_path_factory):
    return make_frame_folder(tmp_path_factory.mktemp('frames60'), FRAMES)


def test_replayed_triples_arrive_synchronized_in_order_and_every_frame_arrives(
        frames60, test_node, tmp_path):
    """
    What arrives is right, whatever the delivery rate (speed is bench-transport's).

    The replay loops until every one of the 60 frames has arrived at least once; each
    triple is checked as it comes (and dropped, to keep memory flat): one stamp and frame on
    all three messages, color and depth of the same frame, the camera's intrinsics.
    """
    source = FrameFolder(frames60)
    received = []       # (frame index, stamp ns) in arrival order
    problems = []

    def on_triple(color, depth, info):
        stamp = stamp_to_ns(color.header.stamp)
        rgb = color_image_to_rgb(color)
        index = frame_index(rgb)
        received.append((index, stamp))
        expected = source.read(index) if 0 <= index < FRAMES else None
        checks = {
            'stamps differ': color.header.stamp == depth.header.stamp == info.header.stamp,
            'frame_id': (color.header.frame_id == depth.header.frame_id
                         == info.header.frame_id == 'camera_color_optical_frame'),
            'index out of range': expected is not None,
            'size': (info.width, info.height) == (640, 480),
            'intrinsics': np.allclose(np.reshape(info.k, (3, 3)), source.camera.K),
        }
        if expected is not None:
            checks['color'] = np.array_equal(rgb, expected.color)
            # Depth is 1 mm further per frame (mod 10): another frame's depth is caught.
            checks['depth of another frame'] = np.allclose(
                depth_image_to_m(depth), expected.depth, rtol=0.0, atol=5e-4)
        problems.extend((index, name) for name, ok in checks.items() if not ok)

    rgbd = RgbdInput(test_node.node, on_triple, qos_depth=10, exact_sync=True)
    replay = start_node(
        'c2f_sdf_ros.ros.replay_camera_node', tmp_path / 'replay.log',
        '-r', f'__ns:={TEST_NAMESPACE}', '-p', f'frames_dir:={frames60}', '-p', 'rate:=30.0',
        '-p', 'loop:=true', '-p', 'wait_for_subscribers:=1', '-p', 'start_delay:=0.5')
    try:
        every_frame = test_node.spin_until(
            lambda: len({index for index, _ in received}) == FRAMES or problems,
            timeout=300.0)
    finally:
        stop_process(replay)
    log = process_log(replay)
    print(f'received {len(received)} synchronized triples; sync {rgbd.stats}')
    assert problems == [], problems[:10]
    assert every_frame, (sorted({index for index, _ in received}), rgbd.stats, log)
    assert 'Traceback' not in log, log
    # Arrival order is publish order: stamps strictly increase (no reorder, no repeat), and
    # within one pass of the loop the frame indices increase.
    stamps = [stamp for _, stamp in received]
    assert np.all(np.diff(stamps) > 0), 'triples out of order or repeated'
    indices = [index for index, _ in received]
    passes = [[indices[0]]]
    for previous, index in itertools.pairwise(indices):
        if index <= previous:
            passes.append([])       # the loop started again
        passes[-1].append(index)
    assert all(p == sorted(set(p)) for p in passes), passes
