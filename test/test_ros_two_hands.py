"""The node publishes every hand it sees, each with its side and its own track id."""

import numpy as np
import pytest

from c2f_sdf_ros.msg import HandObjectReconstruction, HandReconstruction
from c2f_sdf_ros.ros.conversions import intrinsics_to_camera_info, numpy_to_image
from helpers.processes import (
    camera_publishers,
    process_log,
    publish_triple,
    start_node,
    stop_process,
)
from helpers.real_frames import two_hand_frame

pytestmark = [pytest.mark.ros, pytest.mark.slow]
TEST_NAMESPACE = '/two_hands_test'
NODE = 'c2f_sdf_ros.ros.reconstruction_node'


def test_two_visible_hands_are_published_with_their_sides(test_node, tmp_path):
    frame = two_hand_frame()   # a real right hand beside its mirror (skips without it)
    depth_mm = np.rint(frame.depth * 1000).astype(np.uint16)
    triple = (numpy_to_image(frame.color, 'rgb8'), numpy_to_image(depth_mm, '16UC1'),
              intrinsics_to_camera_info(frame.camera))
    results = []
    test_node.node.create_subscription(HandObjectReconstruction, 'reconstruction',
                                       results.append, 10)
    publishers = camera_publishers(test_node.node)
    node = start_node(NODE, tmp_path / 'node.log', '-r', f'__ns:={TEST_NAMESPACE}',
                      '-p', 'resolution:=32', '-p', 'threads:=1', '-p', 'report_period:=0.5',
                      # Frames seconds apart on this CPU are still one track.
                      '-p', 'track_max_gap:=60.0')
    try:
        # Send the frame until its reply arrives (the first may be lost to discovery), then
        # the same frame again: the second reply must keep both track ids.
        for wanted in (1, 2):
            stamp = 0
            while len(results) < wanted:
                assert node.poll() is None, process_log(node)
                stamp += 1
                publish_triple(publishers, test_node.node.get_clock().now().to_msg(), *triple)
                test_node.spin_until(lambda n=wanted: len(results) >= n, timeout=30.0)
                assert stamp < 10, process_log(node)
    finally:
        assert stop_process(node) == 0, process_log(node)
    first, second = results[0], results[-1]
    for msg in (first, second):
        assert sorted(hand.side for hand in msg.hands) == [HandReconstruction.SIDE_LEFT,
                                                           HandReconstruction.SIDE_RIGHT]
        assert len({hand.track_id for hand in msg.hands}) == 2
    ids = {hand.side: hand.track_id for hand in first.hands}
    assert {hand.side: hand.track_id for hand in second.hands} == ids
