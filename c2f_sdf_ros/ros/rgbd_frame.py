"""Check and convert one synchronized color / depth / camera_info triple (no rclpy)."""

from __future__ import annotations

from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from c2f_sdf_ros.data.frame_folder import RgbdFrame
from c2f_sdf_ros.geometry.rgbd import FrameError, check_rgbd
from c2f_sdf_ros.ros import image_codec
from c2f_sdf_ros.ros.conversions import camera_info_to_intrinsics, image_to_numpy

# One error type for every refused frame, raised here and by the pipeline alike.
FrameRejected = FrameError
# What to do with 32FC1 depth whose values look like millimetres (``float_depth_in_mm``).
FLOAT_DEPTH_IN_MM_CHOICES = ('convert', 'reject')
ImageMsg = Image | CompressedImage


def _check_not_empty(msg: ImageMsg, kind: str) -> None:
    """FrameRejected('malformed_image') for a 0x0 image or compressed image without data."""
    if isinstance(msg, CompressedImage):
        if len(msg.data) == 0:
            raise FrameRejected('malformed_image', f'compressed {kind} image has no data')
    elif msg.width == 0 or msg.height == 0:
        raise FrameRejected('malformed_image', f'{kind} image is {msg.width}x{msg.height}')


def _size_mismatch(color_size, depth_size, camera_size) -> FrameRejected:
    return FrameRejected('size_mismatch', f'sizes differ (color {color_size[0]}x{color_size[1]}, '
                         f'depth {depth_size[0]}x{depth_size[1]}, camera_info '
                         f'{camera_size[0]}x{camera_size[1]}); the depth image must be aligned '
                         'to color (RealSense: align_depth.enable:=true)')


def _decode_color(color: ImageMsg):
    if isinstance(color, CompressedImage):
        return image_codec.decode_compressed_color(color.format, color.data)
    return image_codec.to_rgb8(image_to_numpy(color), color.encoding)


def _decode_depth(depth: ImageMsg):
    """(depth in metres, original encoding)."""
    if isinstance(depth, CompressedImage):
        return image_codec.decode_compressed_depth(depth.format, depth.data)
    return image_codec.to_depth_m(image_to_numpy(depth), depth.encoding), depth.encoding


def frame_from_messages(color: ImageMsg, depth: ImageMsg, info: CameraInfo,
                        float_depth_in_mm: str = 'convert',
                        warnings: list[tuple[str, str]] | None = None) -> RgbdFrame:
    """
    Convert a synchronized triple to an ``RgbdFrame`` (RGB uint8, depth float32 metres).

    Images are ``sensor_msgs/Image`` or ``sensor_msgs/CompressedImage`` (colour: jpeg/png;
    depth: compressedDepth png), see ``image_codec``.

    Parameters
    ----------
    color, depth : Image or CompressedImage
        The colour image and the depth image aligned to it.
    info : CameraInfo
        The colour camera's calibration.
    float_depth_in_mm : str
        32FC1 depth is metres, but when its median valid value is over 20 it is taken for
        millimetres: 'convert' divides by 1000 (and adds a warning), 'reject' refuses the
        frame (``depth_encoding``).
    warnings : list, optional
        Receives (key, sentence) for what was accepted but is suspect; the key names the
        cause (one log throttle per key).

    Raises
    ------
    FrameRejected
        With the reason: ``malformed_image`` for a 0x0 image, a buffer inconsistent with
        its size, or compressed data that do not decode; ``color_encoding`` /
        ``depth_encoding`` for unsupported encodings (or millimetre 32FC1 depth with
        'reject'); ``camera_info`` for an uncalibrated or invalid camera_info;
        ``size_mismatch`` when color, depth and camera_info sizes differ; ``empty_depth``
        when no pixel has a valid depth.

    """
    if float_depth_in_mm not in FLOAT_DEPTH_IN_MM_CHOICES:
        raise ValueError(f'float_depth_in_mm must be one of {FLOAT_DEPTH_IN_MM_CHOICES}')
    _check_not_empty(color, 'color')
    _check_not_empty(depth, 'depth')
    if isinstance(color, Image) and color.encoding not in image_codec.COLOR_ENCODINGS:
        raise FrameRejected('color_encoding', f'color image encoding {color.encoding!r} is not '
                            f'one of {", ".join(image_codec.COLOR_ENCODINGS)}')
    if isinstance(depth, Image) and depth.encoding not in image_codec.DEPTH_ENCODINGS:
        raise FrameRejected('depth_encoding', f'depth image encoding {depth.encoding!r} is not '
                            f'one of {", ".join(image_codec.DEPTH_ENCODINGS)}')
    if isinstance(depth, CompressedImage):
        fmt = image_codec.parse_compressed_format(depth.format)
        if fmt.codec not in ('', 'png') or \
                fmt.encoding not in ('', *image_codec.DEPTH_ENCODINGS):
            raise FrameRejected('depth_encoding', f'compressed depth format {depth.format!r} '
                                'is not supported (compressedDepth png of 16UC1 or 32FC1)')
    try:
        camera = camera_info_to_intrinsics(info)
    except ValueError as error:
        raise FrameRejected('camera_info', str(error)) from error
    raw_sizes = [(m.width, m.height) for m in (color, depth) if isinstance(m, Image)]
    if any(size != camera.size for size in raw_sizes):
        # Before decoding: a cheap check, and the likelier cause than a bad buffer.
        color_size = (color.width, color.height) if isinstance(color, Image) else camera.size
        depth_size = (depth.width, depth.height) if isinstance(depth, Image) else camera.size
        raise _size_mismatch(color_size, depth_size, camera.size)
    try:
        rgb = _decode_color(color)
        depth_m, encoding = _decode_depth(depth)
    except ValueError as error:
        raise FrameRejected('malformed_image', str(error)) from error
    sizes = ((rgb.shape[1], rgb.shape[0]), (depth_m.shape[1], depth_m.shape[0]))
    if sizes[0] != camera.size or sizes[1] != camera.size:
        raise _size_mismatch(sizes[0], sizes[1], camera.size)
    if encoding == '32FC1':
        median = image_codec.looks_like_millimetres(depth_m)
        if median is not None:
            cause = (f'32FC1 depth looks like millimetres, not metres (median valid value '
                     f'{median:.1f}; REP 118 says metres)')
            if float_depth_in_mm == 'reject':
                raise FrameRejected('depth_encoding', f'{cause}; rejected '
                                    '(float_depth_in_mm:=convert divides it by 1000)')
            depth_m = depth_m / 1000.0
            if warnings is not None:
                warnings.append(('float_depth_in_mm', f'{cause}: converted to metres '
                                 '(float_depth_in_mm:=reject drops such frames)'))
    depth_m = check_rgbd(rgb, depth_m, camera.K)
    return RgbdFrame(rgb, depth_m, camera)


def frame_id_mismatch(color: ImageMsg, depth: ImageMsg) -> str | None:
    """Describe a color/depth frame_id difference (depth not aligned to color?), or None."""
    if color.header.frame_id == depth.header.frame_id:
        return None
    return (f'color frame_id {color.header.frame_id!r} differs from depth frame_id '
            f'{depth.header.frame_id!r}: is the depth image aligned to color?')
