"""Run nodes as separate processes and spin a test node until a condition holds."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

REPO = pathlib.Path(__file__).resolve().parents[2]
FASTDDS_PROFILE = REPO / 'config' / 'fastdds_localhost.xml'


def node_env() -> dict:
    """The environment for node processes: loopback DDS, the shipped Fast DDS profile."""
    env = dict(os.environ)
    env['FASTDDS_DEFAULT_PROFILES_FILE'] = str(FASTDDS_PROFILE)
    env['PYTHONUNBUFFERED'] = '1'
    return env


def start_process(args: list[str], log_path: pathlib.Path, env: dict | None = None,
                  cwd: pathlib.Path = REPO) -> subprocess.Popen:
    """Start ``python args...`` with ``node_env()`` (or ``env``), output to ``log_path``."""
    log = open(log_path, 'w')  # noqa: SIM115 - closed with the process by stop_process
    process = subprocess.Popen([sys.executable, *args], stdout=log, stderr=subprocess.STDOUT,
                               env=node_env() if env is None else env, cwd=cwd)
    process.log_file = log
    process.log_path = log_path
    return process


def start_node(module: str, log_path: pathlib.Path, *ros_args: str) -> subprocess.Popen:
    """Start ``python -m module --ros-args ros_args...``."""
    return start_process(['-m', module, '--ros-args', *ros_args], log_path)


def stop_process(process: subprocess.Popen, timeout: float = 10.0) -> int:
    """SIGINT the process (as Ctrl-C would), wait, and return its exit status."""
    if process.poll() is None:
        process.send_signal(2)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    process.log_file.close()
    return process.returncode


def process_log(process: subprocess.Popen) -> str:
    """What the process printed so far."""
    if not process.log_file.closed:
        process.log_file.flush()
    return pathlib.Path(process.log_path).read_text()


class RosTestNode:
    """An rclpy node in its own context, spun by hand from the test."""

    def __init__(self, name: str, namespace: str = ''):
        os.environ.setdefault('FASTDDS_DEFAULT_PROFILES_FILE', str(FASTDDS_PROFILE))
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = Node(name, namespace=namespace, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_until(self, condition, timeout: float) -> bool:
        """Spin until ``condition()`` is true or ``timeout`` seconds pass; return condition()."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            self.executor.spin_once(timeout_sec=0.05)
        return bool(condition())

    def spin_for(self, seconds: float) -> None:
        """Spin for ``seconds``."""
        self.spin_until(lambda: False, seconds)

    def close(self) -> None:
        """Destroy the node and shut its context down."""
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def publish_triple(publishers, stamp, color, depth, info):
    """Publish one color/depth/camera_info triple with one stamp and the optical frame."""
    for msg in (color, depth, info):
        msg.header.stamp = stamp
        msg.header.frame_id = 'camera_color_optical_frame'
    for publisher, msg in zip(publishers, (color, depth, info), strict=True):
        publisher.publish(msg)


def call_service(test_node: RosTestNode, client, request, timeout: float = 60.0):
    """Call a service from the test node and spin until the answer (AssertionError if none)."""
    assert client.wait_for_service(timeout_sec=timeout), f'{client.srv_name} did not appear'
    future = client.call_async(request)
    assert test_node.spin_until(future.done, timeout), f'{client.srv_name}: no answer'
    return future.result()


def sample_triple(index: int = 1):
    """(color rgb8, depth 16UC1, camera_info) messages of a bundled sample frame."""
    import numpy as np

    from c2f_sdf_ros.data.bundled import BUNDLED_FRAMES
    from c2f_sdf_ros.data.frame_folder import FrameFolder
    from c2f_sdf_ros.ros.conversions import intrinsics_to_camera_info, numpy_to_image

    frames = FrameFolder(BUNDLED_FRAMES)
    frame = frames.read(index)
    depth_mm = np.rint(frame.depth * 1000).astype(np.uint16)
    return (numpy_to_image(frame.color, 'rgb8'), numpy_to_image(depth_mm, '16UC1'),
            intrinsics_to_camera_info(frames.camera))


def camera_publishers(node: Node, color_type=None, depth_type=None, suffixes=('', '')):
    """Publishers of color, aligned depth and camera_info (relative names), raw by default."""
    from sensor_msgs.msg import CameraInfo, Image

    return [node.create_publisher(color_type or Image, 'color/image_raw' + suffixes[0], 10),
            node.create_publisher(depth_type or Image,
                                  'aligned_depth_to_color/image_raw' + suffixes[1], 10),
            node.create_publisher(CameraInfo, 'color/camera_info', 10)]
