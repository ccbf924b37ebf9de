"""The camera side of a node under test: publishers of its input topics and what they send."""

from __future__ import annotations

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image

from c2f_sdf_ros.data.bundled import BUNDLED_FRAMES
from c2f_sdf_ros.data.frame_folder import FrameFolder
from c2f_sdf_ros.geometry.camera import CameraIntrinsics
from c2f_sdf_ros.ros.conversions import intrinsics_to_camera_info, numpy_to_image


def camera_publishers(node: Node, color_type=None, depth_type=None, suffixes=('', '')):
    """Publishers of color, aligned depth and camera_info (relative names), raw by default."""
    return [node.create_publisher(color_type or Image, 'color/image_raw' + suffixes[0], 10),
            node.create_publisher(depth_type or Image,
                                  'aligned_depth_to_color/image_raw' + suffixes[1], 10),
            node.create_publisher(CameraInfo, 'color/camera_info', 10)]


def publish_triple(publishers, stamp, color, depth, info):
    """Publish one color/depth/camera_info triple with one stamp and the optical frame."""
    for msg in (color, depth, info):
        msg.header.stamp = stamp
        msg.header.frame_id = 'camera_color_optical_frame'
    for publisher, msg in zip(publishers, (color, depth, info), strict=True):
        publisher.publish(msg)


def frame_triple(color: np.ndarray, depth: np.ndarray, camera: CameraIntrinsics):
    """
    (color rgb8, depth 16UC1, camera_info) messages of one RGB-D frame.

    ``depth`` is in metres, as the frame readers give it; it is sent in millimetres, as a
    RealSense driver sends aligned depth.
    """
    depth_mm = np.rint(depth * 1000).astype(np.uint16)
    return (numpy_to_image(color, 'rgb8'), numpy_to_image(depth_mm, '16UC1'),
            intrinsics_to_camera_info(camera))


def sample_triple(index: int = 1):
    """(color rgb8, depth 16UC1, camera_info) messages of a bundled sample frame."""
    frames = FrameFolder(BUNDLED_FRAMES)
    frame = frames.read(index)
    return frame_triple(frame.color, frame.depth, frames.camera)
