"""
Replay a folder of RGB-D frames as a camera: color, aligned depth and camera_info topics.

Publishes, with one stamp (the time of publication) per frame and the optical frame id::

    color/image_raw                      sensor_msgs/Image (rgb8 or bgr8)
    color/camera_info                    sensor_msgs/CameraInfo
    aligned_depth_to_color/image_raw     sensor_msgs/Image (16UC1 mm or 32FC1 m)
    aligned_depth_to_color/camera_info   sensor_msgs/CameraInfo (same intrinsics)

These are the names the RealSense driver uses under its namespace, so consumers see a
replay and a live camera alike. The folder layout is in docs/data-format.md.
"""

from __future__ import annotations

import time

import rclpy
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.task import Future
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from c2f_sdf_ros.data.frame_folder import FrameFolder
from c2f_sdf_ros.geometry.depth import depth_m_to_mm
from c2f_sdf_ros.ros.conversions import intrinsics_to_camera_info, numpy_to_image
from c2f_sdf_ros.ros.node_main import run_node
from c2f_sdf_ros.ros.parameters import ConfigurationError, ParameterSpec, declare_parameters
from c2f_sdf_ros.ros.qos import RELIABILITY_CHOICES, make_qos

PARAMETERS = (
    ParameterSpec('frames_dir', '', 'Folder of frames to replay (camera.yaml, color/, depth/).'),
    ParameterSpec('rate', 30.0, 'Frames per second.', low=0.01, high=1000.0),
    ParameterSpec('loop', True, 'Start again after the last frame; if false, stop there.'),
    ParameterSpec('shutdown_when_done', True,
                  'Exit the node after the last frame when loop is false.'),
    ParameterSpec('frame_id', 'camera_color_optical_frame',
                  'frame_id of every published header (the color optical frame).'),
    ParameterSpec('color_encoding', 'rgb8', 'Encoding of color/image_raw.',
                  choices=('rgb8', 'bgr8')),
    ParameterSpec('depth_encoding', '16UC1',
                  'Encoding of the depth image: 16UC1 (millimetres) or 32FC1 (metres).',
                  choices=('16UC1', '32FC1')),
    ParameterSpec('qos_reliability', 'reliable', 'Reliability of the published topics.',
                  choices=RELIABILITY_CHOICES),
    ParameterSpec('qos_depth', 5, 'History depth of the publishers.', low=1, high=100),
    ParameterSpec('wait_for_subscribers', 0,
                  'Start only when every image topic has this many subscribers.',
                  low=0, high=100),
    ParameterSpec('start_delay', 0.0,
                  'Seconds to wait before the first frame (after subscribers matched).',
                  low=0.0, high=60.0),
    ParameterSpec('cache_mib', 256,
                  'Keep up to this many MiB of encoded frames in memory, so a looping '
                  'replay decodes each PNG once (0: decode every frame every time).',
                  low=0, high=65536),
)


class ReplayCameraNode(Node):
    """
    Publishes the frames of a frame folder at a fixed rate.

    ``finished`` (a Future) completes with the number of published frames when a replay
    with ``loop`` false has played every frame.
    """

    def __init__(self, **kwargs):
        super().__init__('replay_camera', **kwargs)
        self.params = declare_parameters(self, PARAMETERS)
        if not self.params['frames_dir']:
            raise ConfigurationError('parameter frames_dir is required: a folder with '
                                     'camera.yaml, color/*.png and depth/*.png')
        try:
            self.frames = FrameFolder(self.params['frames_dir'])
        except (OSError, ValueError) as error:   # missing folder, bad camera.yaml
            raise ConfigurationError(str(error)) from error
        qos = make_qos(self.params['qos_reliability'], self.params['qos_depth'])
        self._color_pub = self.create_publisher(Image, 'color/image_raw', qos)
        self._color_info_pub = self.create_publisher(CameraInfo, 'color/camera_info', qos)
        self._depth_pub = self.create_publisher(Image, 'aligned_depth_to_color/image_raw', qos)
        self._depth_info_pub = self.create_publisher(
            CameraInfo, 'aligned_depth_to_color/camera_info', qos)
        self._camera_info = intrinsics_to_camera_info(self.frames.camera)
        self.finished: Future[int] = Future()
        self.published = 0
        self.skipped = 0
        self._index = 0
        # Encoded messages by frame index. Decoding two PNGs per frame costs ~30 % of a
        # core at 30 Hz, which a real camera driver does not spend and which would be
        # taken from the consumers a benchmark measures; a loop replays from memory.
        self._cache: dict[int, tuple[Image, Image]] = {}
        self._cache_left = self.params['cache_mib'] * 2 ** 20
        self._next = self._load(0)
        self._started_at: float | None = None
        self._ready_since: float | None = None
        self._timer = self.create_timer(1.0 / self.params['rate'], self._tick)
        self.get_logger().info(
            f'replaying {len(self.frames)} frames from {self.frames.root} at '
            f'{self.params["rate"]:g} Hz ({"looping" if self.params["loop"] else "once"})')

    def _load(self, index: int):
        """Encode frame ``index`` as (color, depth) messages without header, or None."""
        if index in self._cache:
            return self._cache[index]
        try:
            frame = self.frames.read(index)
        except (OSError, ValueError) as error:
            self.skipped += 1
            self.get_logger().error(f'skipping frame {self.frames.ids[index]}: {error}')
            return None
        if self.params['color_encoding'] == 'bgr8':
            color = numpy_to_image(frame.color[:, :, ::-1], 'bgr8')
        else:
            color = numpy_to_image(frame.color, 'rgb8')
        if self.params['depth_encoding'] == '32FC1':
            depth = numpy_to_image(frame.depth, '32FC1')
        else:
            depth = numpy_to_image(depth_m_to_mm(frame.depth), '16UC1')
        size = len(color.data) + len(depth.data)
        if size <= self._cache_left:
            self._cache[index] = (color, depth)
            self._cache_left -= size
        return color, depth

    def _subscribers_ready(self) -> bool:
        wanted = self.params['wait_for_subscribers']
        if wanted == 0:
            return True
        publishers = (self._color_pub, self._depth_pub, self._color_info_pub)
        return all(p.get_subscription_count() >= wanted for p in publishers)

    def _tick(self) -> None:
        now = time.monotonic()
        if self._ready_since is None:
            if not self._subscribers_ready():
                self.get_logger().info('waiting for subscribers', throttle_duration_sec=5.0)
                return
            self._ready_since = now
        if now - self._ready_since < self.params['start_delay']:
            return
        if self._next is not None:
            self._publish(*self._next)
        self._index += 1
        if self._index == len(self.frames):
            if not self.params['loop']:
                self._finish()
                return
            self._index = 0
        self._next = self._load(self._index)

    def _publish(self, color: Image, depth: Image) -> None:
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id=self.params['frame_id'])
        color.header = depth.header = self._camera_info.header = header
        self._color_pub.publish(color)
        self._depth_pub.publish(depth)
        self._color_info_pub.publish(self._camera_info)
        self._depth_info_pub.publish(self._camera_info)
        if self._started_at is None:
            self._started_at = time.monotonic()
        self.published += 1

    def _finish(self) -> None:
        elapsed = time.monotonic() - (self._started_at or time.monotonic())
        rate = (self.published - 1) / elapsed if self.published > 1 and elapsed > 0 else 0.0
        self.get_logger().info(f'replay finished: {self.published} frames published at '
                               f'{rate:.1f} Hz, {self.skipped} unreadable')
        self._timer.cancel()
        if self.params['qos_reliability'] == 'reliable':
            # Exiting right after the last publish would drop samples still in flight.
            for publisher in (self._color_pub, self._depth_pub, self._color_info_pub,
                              self._depth_info_pub):
                publisher.wait_for_all_acked(Duration(seconds=2.0))
        self.finished.set_result(self.published)


def spin(node: ReplayCameraNode) -> None:
    """Spin until the replay has finished and ``shutdown_when_done`` is true, or forever."""
    if node.params['shutdown_when_done']:
        rclpy.spin_until_future_complete(node, node.finished)
    else:
        rclpy.spin(node)


def main(args: list[str] | None = None) -> int:
    """Run the replay camera node (``ros2 run c2f_sdf_ros replay_camera_node``)."""
    return run_node(ReplayCameraNode, args, spin)


if __name__ == '__main__':
    raise SystemExit(main())
