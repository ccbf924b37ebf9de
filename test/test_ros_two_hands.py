"""The node publishes every hand it sees, each with its side and its own track id."""

import pytest

from c2f_sdf_ros.msg import HandObjectReconstruction, HandReconstruction
from helpers.camera_topics import camera_publishers, frame_triple, publish_triple
from helpers.processes import process_log, start_node, stop_process
from helpers.real_frames import two_hand_frame
from helpers.reconstruction_node import RECONSTRUCTION_NODE, node_arguments

pytestmark = [pytest.mark.ros, pytest.mark.slow]
TEST_NAMESPACE = '/two_hands_test'


def test_two_visible_hands_are_published_with_their_sides(test_node, tmp_path):
    frame = two_hand_frame()   # a real right hand beside its mirror (skips without it)
    triple = frame_triple(frame.color, frame.depth, frame.camera)
    results = []
    test_node.node.create_subscription(HandObjectReconstruction, 'reconstruction',
                                       results.append, 10)
    publishers = camera_publishers(test_node.node)
    # Frames seconds apart on this CPU are still one track.
    node = start_node(RECONSTRUCTION_NODE, tmp_path / 'node.log',
                      *node_arguments(TEST_NAMESPACE, track_max_gap=60.0))
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
