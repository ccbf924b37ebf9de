"""The RGB-D monitor across processes: healthy input, a QoS mismatch, bad frames."""

import math

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, Image

from c2f_sdf_ros.ros.conversions import intrinsics_to_camera_info, numpy_to_image
from helpers.camera_topics import publish_triple
from helpers.frames import D435_640, make_frame, make_frame_folder
from helpers.processes import process_log, start_node, stop_process

pytestmark = [pytest.mark.ros, pytest.mark.slow]
# Namespace of the test_node fixture (conftest.py) and of the nodes these tests start.
TEST_NAMESPACE = '/monitor_test'
MONITOR = 'c2f_sdf_ros.ros.rgbd_monitor_node'
REPLAY = 'c2f_sdf_ros.ros.replay_camera_node'


@pytest.fixture(scope='module')
def frames5(tmp_path_factory):
    return make_frame_folder(tmp_path_factory.mktemp('frames5'), 5)


def collect_diagnostics(test_node):
    statuses = []
    test_node.node.create_subscription(
        DiagnosticArray, '/diagnostics',
        lambda msg: statuses.extend(s for s in msg.status if 'rgbd_monitor' in s.name), 10)
    return statuses


def values(status):
    return {kv.key: kv.value for kv in status.values}


def test_monitor_reports_healthy_replay(frames5, test_node, tmp_path):
    statuses = collect_diagnostics(test_node)
    monitor = start_node(MONITOR, tmp_path / 'monitor.log', '-r', '__ns:=/monitor_test',
                         '-p', 'report_period:=0.5')
    replay = start_node(REPLAY, tmp_path / 'replay.log', '-r', '__ns:=/monitor_test',
                        '-p', f'frames_dir:={frames5}', '-p', 'rate:=15.0')
    try:
        assert test_node.spin_until(
            lambda: any(s.level == DiagnosticStatus.OK and int(values(s)['valid_frames']) >= 15
                        for s in statuses), timeout=30.0), process_log(monitor)
    finally:
        stop_process(replay)
        assert stop_process(monitor) == 0
    healthy = next(s for s in statuses if s.level == DiagnosticStatus.OK
                   and int(values(s)['valid_frames']) >= 15)
    latency = float(values(healthy)['latency_median_ms'])
    assert math.isfinite(latency) and latency >= 0.0      # measured, reported, not bounded
    assert 'totals:' in process_log(monitor)


def test_monitor_explains_best_effort_publisher_vs_reliable_subscription(
        frames5, test_node, tmp_path):
    statuses = collect_diagnostics(test_node)
    monitor = start_node(MONITOR, tmp_path / 'monitor.log', '-r', '__ns:=/monitor_test',
                         '-p', 'report_period:=0.5', '-p', 'qos_reliability:=reliable')
    replay = start_node(REPLAY, tmp_path / 'replay.log', '-r', '__ns:=/monitor_test',
                        '-p', f'frames_dir:={frames5}', '-p', 'qos_reliability:=best_effort')
    try:
        assert test_node.spin_until(
            lambda: any('best_effort' in s.message for s in statuses), timeout=30.0), \
            process_log(monitor)
    finally:
        stop_process(replay)
        stop_process(monitor)
    status = next(s for s in statuses if 'best_effort' in s.message)
    assert status.level == DiagnosticStatus.ERROR
    assert int(values(status)['valid_frames']) == 0
    assert 'set qos_reliability to best_effort' in process_log(monitor)


def test_monitor_counts_bad_frames_and_keeps_going(test_node, tmp_path):
    statuses = collect_diagnostics(test_node)
    node = test_node.node
    publishers = [node.create_publisher(Image, 'color/image_raw', 10),
                  node.create_publisher(Image, 'aligned_depth_to_color/image_raw', 10),
                  node.create_publisher(CameraInfo, 'color/camera_info', 10)]
    monitor = start_node(MONITOR, tmp_path / 'monitor.log', '-r', '__ns:=/monitor_test',
                         '-p', 'report_period:=0.5')
    try:
        assert test_node.spin_until(
            lambda: all(p.get_subscription_count() >= 1 for p in publishers), timeout=20.0)
        test_node.spin_for(0.5)
        frame = make_frame(3)
        small = D435_640.scaled(0.5)
        depth_mm = np.rint(frame.depth * 1000).astype(np.uint16)
        good = (numpy_to_image(frame.color, 'rgb8'), numpy_to_image(depth_mm, '16UC1'),
                intrinsics_to_camera_info(D435_640))
        bad_encoding = (numpy_to_image(frame.color[:, :, 0].astype(np.uint16), 'mono16'),
                        good[1], good[2])
        size_mismatch = (good[0], numpy_to_image(depth_mm[::2, ::2], '16UC1'), good[2])
        wrong_info = (good[0], good[1], intrinsics_to_camera_info(small))
        empty_depth = (good[0], numpy_to_image(np.zeros_like(depth_mm), '16UC1'), good[2])
        nan_depth = (good[0], numpy_to_image(np.full(frame.depth.shape, np.nan, np.float32),
                                             '32FC1'), good[2])
        uncalibrated = (good[0], good[1], intrinsics_to_camera_info(D435_640))
        uncalibrated[2].k = [0.0] * 9
        truncated = (numpy_to_image(frame.color, 'rgb8'), good[1], good[2])
        truncated[0].data = truncated[0].data[:-100]
        # Good frames until the monitor has counted one: on a busy machine its side of
        # discovery can lag behind ours, and a frame sent before it completes is lost.
        for _ in range(10):
            publish_triple(publishers, node.get_clock().now().to_msg(), *good)
            if test_node.spin_until(lambda: any(int(values(s).get('valid_frames', 0)) >= 1
                                                for s in statuses), timeout=3.0):
                break
        sequence = [bad_encoding, size_mismatch, wrong_info, empty_depth, nan_depth,
                    uncalibrated, truncated, good]
        for triple in sequence:
            stamp = node.get_clock().now().to_msg()
            publish_triple(publishers, stamp, *triple)
            test_node.spin_for(0.1)

        def complete(status):
            return (int(values(status).get('valid_frames', 0)) >= 2 and
                    sum(int(v) for k, v in values(status).items()
                        if k.startswith('rejected_')) >= 7)
        # Keep good frames coming: a report period in which some topic is silent is an
        # ERROR (no input), which would hide the WARN for the rejected frames.
        def warned():
            return any(complete(s) and s.level == DiagnosticStatus.WARN for s in statuses)
        for _ in range(200):
            publish_triple(publishers, node.get_clock().now().to_msg(), *good)
            if test_node.spin_until(warned, timeout=0.1):
                break
        assert warned(), (process_log(monitor), [(s.level, s.message) for s in statuses])
    finally:
        assert stop_process(monitor) == 0, process_log(monitor)
    final = next(s for s in statuses if complete(s) and s.level == DiagnosticStatus.WARN)
    rejected = {k: int(v) for k, v in values(final).items() if k.startswith('rejected_')}
    assert rejected == {'rejected_color_encoding': 1, 'rejected_size_mismatch': 2,
                        'rejected_empty_depth': 2, 'rejected_camera_info': 1,
                        'rejected_malformed_image': 1}
    log = process_log(monitor)
    assert 'Traceback' not in log
    assert "encoding 'mono16' is not one of" in log
