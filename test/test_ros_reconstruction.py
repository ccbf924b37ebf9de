"""The reconstruction node across processes: replay -> node -> this test; bad input."""

from diagnostic_msgs.msg import DiagnosticArray
import numpy as np
import pytest
import trimesh
from visualization_msgs.msg import Marker, MarkerArray

from c2f_sdf_ros.data.bundled import BUNDLED_FRAMES
from c2f_sdf_ros.data.frame_folder import FrameFolder
from c2f_sdf_ros.eval import metrics
from c2f_sdf_ros.msg import HandObjectReconstruction
from c2f_sdf_ros.ros.conversions import intrinsics_to_camera_info, mesh_from_msg, numpy_to_image
from c2f_sdf_ros.ros.sync import stamp_to_ns
from helpers.camera_topics import camera_publishers, publish_triple, sample_triple
from helpers.processes import process_log, start_node, stop_process
from helpers.reconstruction_node import RECONSTRUCTION_NODE, collect_outputs, node_arguments

pytestmark = [pytest.mark.ros, pytest.mark.slow]
TEST_NAMESPACE = '/reconstruction_test'
SAMPLE = BUNDLED_FRAMES
# The bundled frames are procedural renders that MediaPipe does not take for hands: the
# skin/depth finder.
NODE_ARGS = node_arguments(TEST_NAMESPACE, detector='skin_depth')


def test_each_frame_sent_gets_its_reconstruction_and_markers(test_node, tmp_path):
    """
    Camera topics -> node -> this test, one frame at a time, each after the last one's reply.

    Nothing here depends on the node's speed (that is for the benchmarks): every frame sent
    must come back, by its stamp, as one reconstruction and one marker array, with the hand
    where the true hand is.
    """
    node = test_node.node
    frames = FrameFolder(SAMPLE)
    results, markers = {}, {}       # stamp ns -> messages with that stamp

    def on_result(msg):
        results.setdefault(stamp_to_ns(msg.header.stamp), []).append(msg)

    def on_markers(msg):
        for key in {stamp_to_ns(marker.header.stamp) for marker in msg.markers}:
            markers.setdefault(key, []).append(msg)

    node.create_subscription(HandObjectReconstruction, 'reconstruction', on_result, 10)
    node.create_subscription(MarkerArray, 'markers', on_markers, 10)
    publishers = camera_publishers(node)
    reconstruction = start_node(RECONSTRUCTION_NODE, tmp_path / 'node.log', *NODE_ARGS)
    sent = []           # (stamp ns, bundled frame index) of every frame answered

    def send(index: int, attempts: int) -> bool:
        """Publish frame ``index``; spin until its result and its markers arrive."""
        for _ in range(attempts):
            stamp = node.get_clock().now().to_msg()
            publish_triple(publishers, stamp, *sample_triple(index))
            key = stamp_to_ns(stamp)
            # Markers go out right after the result, in the same step of the node.
            if (test_node.spin_until(lambda k=key: k in results, 180.0)
                    and test_node.spin_until(lambda k=key: k in markers, 10.0)):
                sent.append((key, index))
                return True
        return False

    try:
        assert test_node.spin_until(
            lambda: all(p.get_subscription_count() >= 1 for p in publishers), timeout=60.0)
        # The first frame may be lost while discovery completes on the node's side (the
        # markers are published only once it sees this subscription): resent until answered.
        assert send(0, attempts=5), process_log(reconstruction)
        # From then on, every frame sent comes back: twice through the bundled frames.
        for index in [*range(1, len(frames)), *range(len(frames))]:
            assert send(index, attempts=1), (index, process_log(reconstruction))
        test_node.spin_for(0.5)
    finally:
        assert stop_process(reconstruction) == 0, process_log(reconstruction)
    assert len(sent) == 2 * len(frames)
    distances = []
    for key, index in sent:
        # One answer per frame sent, and the markers of that frame.
        assert len(results[key]) == 1, (index, len(results[key]))
        assert len(markers[key]) == 1, (index, len(markers[key]))
        (msg,) = results[key]
        assert msg.header.frame_id == 'camera_color_optical_frame'
        assert [t.stage for t in msg.timings][:2] == ['localise', 'encoder']
        assert msg.hands, f'no hand in bundled frame {index}'
        # Every hand is tracked; its object carries its own track id.
        assert all(hand.track_id >= 0 for hand in msg.hands)
        assert all(obj.track_id >= 0 for obj in msg.objects)
        (array,) = markers[key]
        assert any(m.action == Marker.ADD for m in array.markers), index
        assert all(m.header.frame_id == 'camera_color_optical_frame' for m in array.markers)
        vertices, _ = mesh_from_msg(msg.hands[0].mesh)
        truth = trimesh.load(SAMPLE / 'mesh' / f'{frames.ids[index]}_hand.ply', process=False)
        distances.append(np.median(metrics.nearest_distances(
            vertices, metrics.sample_surface(truth, 20000, 0))))
    # Meshes are in the camera frame, on the hand: median vertex distance to the true hand
    # surface under 1 cm (the bundled frames give 6-7 mm; one of the three has its hand
    # behind the bottle, where the localiser picks the bottle's base instead).
    assert np.median(distances) < 0.01, distances
    log = process_log(reconstruction)
    assert 'totals:' in log
    # Ctrl-C (stop_process) is a clean stop, whatever the worker was doing.
    for bad in ('Traceback', '[ERROR]', 'Failed to publish', 'dropped_error'):
        assert bad not in log, log


def test_bad_input_is_counted_and_the_node_keeps_going(test_node, tmp_path):
    node = test_node.node
    statuses, results = [], []
    node.create_subscription(DiagnosticArray, '/diagnostics', lambda msg: statuses.extend(
        s for s in msg.status if 'reconstruction' in s.name), 10)
    node.create_subscription(HandObjectReconstruction, 'reconstruction', results.append, 10)
    publishers = camera_publishers(node)
    reconstruction = start_node(RECONSTRUCTION_NODE, tmp_path / 'node.log', *NODE_ARGS)
    frames = FrameFolder(SAMPLE)
    frame = frames.read(1)
    depth_mm = np.rint(frame.depth * 1000).astype(np.uint16)
    good = (numpy_to_image(frame.color, 'rgb8'), numpy_to_image(depth_mm, '16UC1'),
            intrinsics_to_camera_info(frames.camera))
    no_hand_color = np.zeros_like(frame.color)
    no_hand_color[:] = (40, 60, 160)
    uncalibrated = intrinsics_to_camera_info(frames.camera)
    uncalibrated.k = [0.0] * 9
    sequence = {
        'color_encoding': (numpy_to_image(frame.color[:, :, 0].astype(np.uint16), 'mono16'),
                           good[1], good[2]),
        'size_mismatch': (good[0], numpy_to_image(depth_mm[::2, ::2], '16UC1'), good[2]),
        'camera_info': (good[0], good[1], uncalibrated),
        'empty_depth': (good[0], numpy_to_image(
            np.full(frame.depth.shape, np.nan, np.float32), '32FC1'), good[2]),
        'no_hand': (numpy_to_image(no_hand_color, 'rgb8'), good[1], good[2]),
    }
    def dropped():
        if not statuses:
            return {}
        return {kv.key[len('dropped_'):]: int(kv.value) for kv in statuses[-1].values
                if kv.key.startswith('dropped_')}

    try:
        assert test_node.spin_until(
            lambda: all(p.get_subscription_count() >= 1 for p in publishers), timeout=30.0)
        test_node.spin_for(0.5)
        for reason, triple in sequence.items():
            # One at a time, each until the node's status counts it: the first triple can
            # be lost while discovery completes on the node's side (seen once in CI).
            for _ in range(5):
                publish_triple(publishers, node.get_clock().now().to_msg(), *triple)
                if test_node.spin_until(lambda r=reason: dropped().get(r, 0) >= 1, timeout=30.0):
                    break
            assert dropped().get(reason, 0) >= 1, (reason, dropped(),
                                                   process_log(reconstruction))
        last = node.get_clock().now().to_msg()
        publish_triple(publishers, last, *good)

        def good_frame_done():
            return any(stamp_to_ns(r.header.stamp) == stamp_to_ns(last) and r.hands
                       for r in results)
        assert test_node.spin_until(good_frame_done, timeout=180.0), process_log(reconstruction)
        test_node.spin_for(1.5)
    finally:
        assert stop_process(reconstruction) == 0, process_log(reconstruction)
    counts = dropped()
    for reason in sequence:
        assert counts.get(reason, 0) >= 1, (reason, counts)
    # The no-hand frame was still answered, with an empty message.
    assert any(not r.hands and not r.objects for r in results)
    log = process_log(reconstruction)
    assert 'Traceback' not in log
    assert "encoding 'mono16' is not one of" in log


def test_missing_weights_stop_the_node_with_a_clear_error(tmp_path):
    process = start_node(RECONSTRUCTION_NODE, tmp_path / 'node.log',
                         '-r', f'__ns:={TEST_NAMESPACE}', '-p', f'weights:={tmp_path / "missing"}')
    process.wait(timeout=120.0)     # exits on its own
    assert stop_process(process) == 2
    assert 'cannot load weights' in process_log(process)


def test_markers_cleared_when_input_stops_and_when_the_node_stops(test_node, tmp_path):
    """One DELETEALL after input_timeout without frames, and one at Ctrl-C (context up)."""
    node = test_node.node
    results, markers = collect_outputs(node)
    publishers = camera_publishers(node)
    reconstruction = start_node(RECONSTRUCTION_NODE, tmp_path / 'node.log', *NODE_ARGS,
                                '-p', 'input_timeout:=1.0')
    triple = sample_triple(1)

    def actions():
        return [[m.action for m in array.markers] for array in markers]

    def frame_drawn():
        count = len(markers)
        for _ in range(5):
            publish_triple(publishers, node.get_clock().now().to_msg(), *triple)
            if test_node.spin_until(lambda: any(
                    Marker.ADD in a for a in actions()[count:]), 60.0):
                return True
        return False

    try:
        assert test_node.spin_until(
            lambda: all(p.get_subscription_count() >= 1 for p in publishers), timeout=60.0)
        assert frame_drawn(), process_log(reconstruction)
        # No more input: cleared once, after about a second.
        assert test_node.spin_until(lambda: actions()[-1] == [Marker.DELETEALL], 20.0), \
            actions()
        cleared = len(markers)
        test_node.spin_for(2.0)
        assert len(markers) == cleared          # once, not every check
        # Input again: drawn again; then Ctrl-C while the markers are shown.
        assert frame_drawn(), process_log(reconstruction)
    finally:
        assert stop_process(reconstruction) == 0, process_log(reconstruction)
    test_node.spin_for(0.5)
    assert actions()[-1] == [Marker.DELETEALL], actions()
    log = process_log(reconstruction)
    assert 'markers cleared (no input frame for' in log
    assert 'markers cleared (stopped)' in log
    assert 'Traceback' not in log
