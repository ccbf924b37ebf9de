"""Check and convert one synchronized color / depth / camera_info triple (no rclpy)."""

from __future__ import annotations

from sensor_msgs.msg import CameraInfo, Image

from c2f_sdf_ros.data.frame_folder import RgbdFrame
from c2f_sdf_ros.geometry.rgbd import FrameError, check_rgbd
from c2f_sdf_ros.ros import image_codec
from c2f_sdf_ros.ros.conversions import camera_info_to_intrinsics, image_to_numpy

# One error type for every refused frame, raised here and by the pipeline alike.
FrameRejected = FrameError


def frame_from_messages(color: Image, depth: Image, info: CameraInfo) -> RgbdFrame:
    """
    Convert a synchronized triple to an ``RgbdFrame`` (RGB uint8, depth float32 metres).

    Raises
    ------
    FrameRejected
        With the reason, for an unsupported encoding, an uncalibrated or invalid
        camera_info, color/depth/camera_info sizes that differ, a malformed buffer, or a
        depth image without a single valid measurement (all zero or NaN).

    """
    if color.encoding not in image_codec.COLOR_ENCODINGS:
        raise FrameRejected('color_encoding', f'color image encoding {color.encoding!r} is not '
                            f'one of {", ".join(image_codec.COLOR_ENCODINGS)}')
    if depth.encoding not in image_codec.DEPTH_ENCODINGS:
        raise FrameRejected('depth_encoding', f'depth image encoding {depth.encoding!r} is not '
                            f'one of {", ".join(image_codec.DEPTH_ENCODINGS)}')
    try:
        camera = camera_info_to_intrinsics(info)
    except ValueError as error:
        raise FrameRejected('camera_info', str(error)) from error
    if (color.width, color.height) != (depth.width, depth.height) \
            or camera.size != (color.width, color.height):
        raise FrameRejected('size_mismatch', f'sizes differ (color {color.width}x{color.height}, '
                            f'depth {depth.width}x{depth.height}, camera_info '
                            f'{camera.size[0]}x{camera.size[1]}); the depth image must be '
                            'aligned to color (RealSense: align_depth.enable:=true)')
    try:
        rgb = image_codec.to_rgb8(image_to_numpy(color), color.encoding)
        depth_m = image_codec.to_depth_m(image_to_numpy(depth), depth.encoding)
    except ValueError as error:
        raise FrameRejected('malformed_image', str(error)) from error
    depth_m = check_rgbd(rgb, depth_m, camera.K)
    return RgbdFrame(rgb, depth_m, camera)


def frame_id_mismatch(color: Image, depth: Image) -> str | None:
    """Describe a color/depth frame_id difference (depth not aligned to color?), or None."""
    if color.header.frame_id == depth.header.frame_id:
        return None
    return (f'color frame_id {color.header.frame_id!r} differs from depth frame_id '
            f'{depth.header.frame_id!r}: is the depth image aligned to color?')
