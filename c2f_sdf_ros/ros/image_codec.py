"""
Raw ``sensor_msgs/Image`` buffers to numpy arrays and back, without ROS.

A ROS image is ``height`` rows of ``step`` bytes (``step`` may exceed the packed row length),
pixels laid out as the ``encoding`` says, multi-byte values big-endian when ``is_bigendian``.
cv_bridge is not installable from PyPI (and its PyPI look-alike mishandles 16UC1), so this
module does the conversion with numpy for the encodings RGB-D cameras publish.
"""

from __future__ import annotations

from dataclasses import dataclass
import sys

import numpy as np

from c2f_sdf_ros.geometry.depth import depth_mm_to_m


@dataclass(frozen=True)
class Encoding:
    """Pixel layout of one ``sensor_msgs/image_encodings`` name."""

    name: str
    dtype: np.dtype
    channels: int

    @property
    def pixel_bytes(self) -> int:
        """Bytes per pixel."""
        return self.dtype.itemsize * self.channels


ENCODINGS = {e.name: e for e in (
    Encoding('rgb8', np.dtype(np.uint8), 3),
    Encoding('bgr8', np.dtype(np.uint8), 3),
    Encoding('rgba8', np.dtype(np.uint8), 4),
    Encoding('bgra8', np.dtype(np.uint8), 4),
    Encoding('mono8', np.dtype(np.uint8), 1),
    Encoding('mono16', np.dtype(np.uint16), 1),
    Encoding('16UC1', np.dtype(np.uint16), 1),
    Encoding('32FC1', np.dtype(np.float32), 1),
)}
COLOR_ENCODINGS = ('rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8')
# Depth encodings: integer millimetres (16UC1; some drivers say mono16) or float metres.
DEPTH_ENCODINGS = ('16UC1', 'mono16', '32FC1')


def lookup_encoding(encoding: str) -> Encoding:
    """Return the layout of ``encoding``; ValueError naming it if unsupported."""
    try:
        return ENCODINGS[encoding]
    except (KeyError, TypeError):
        raise ValueError(f'unsupported image encoding {encoding!r}; supported: '
                         f'{", ".join(ENCODINGS)}') from None


def decode_image(encoding: str, height: int, width: int, step: int, is_bigendian: bool,
                 data) -> np.ndarray:
    """
    Decode a raw image buffer to a new native-endian array.

    Parameters
    ----------
    encoding : str
        One of ``ENCODINGS``.
    height, width, step : int
        Rows, columns and bytes per row (``step >= width * bytes per pixel``).
    is_bigendian : bool
        Byte order of multi-byte values in ``data``.
    data : bytes-like
        ``step * height`` bytes (``array.array``, ``bytes`` or a numpy array).

    Returns
    -------
    ndarray of shape (height, width) for one channel, (height, width, channels) otherwise,
    with the encoding's dtype; a copy that does not share memory with ``data``.

    Raises
    ------
    ValueError
        On an unknown encoding, a step shorter than a row, or a buffer whose size is not
        ``step * height``.

    """
    layout = lookup_encoding(encoding)
    height, width, step = int(height), int(width), int(step)
    if height < 0 or width < 0:
        raise ValueError(f'image size must not be negative, got {width}x{height}')
    row_bytes = width * layout.pixel_bytes
    if step < row_bytes:
        raise ValueError(f'{encoding} image {width} px wide needs step >= {row_bytes} bytes, '
                         f'got step {step}')
    buffer = np.frombuffer(data, dtype=np.uint8)
    if buffer.size != step * height:
        kind = 'truncated' if buffer.size < step * height else 'oversized'
        raise ValueError(f'{kind} {encoding} image: {width}x{height} with step {step} needs '
                         f'{step * height} bytes, got {buffer.size}')
    rows = buffer.reshape(height, step)[:, :row_bytes]
    wire_dtype = layout.dtype.newbyteorder('>' if is_bigendian else '<')
    # Copying into a fresh contiguous array first makes the dtype view valid for any step.
    pixels = np.ascontiguousarray(rows).view(wire_dtype).astype(layout.dtype.newbyteorder('='))
    shape = (height, width) if layout.channels == 1 else (height, width, layout.channels)
    return pixels.reshape(shape)


def encode_image(array: np.ndarray, encoding: str, step: int | None = None,
                 is_bigendian: bool = sys.byteorder == 'big') -> tuple[int, int, int, bytes]:
    """
    Encode ``array`` as a raw image buffer.

    Parameters
    ----------
    array : ndarray
        (height, width) for one channel or (height, width, channels), of the encoding's
        dtype (other numeric dtypes are converted only when the values survive exactly).
    encoding : str
        One of ``ENCODINGS``.
    step : int, optional
        Bytes per row; defaults to the packed row length. Larger values pad each row.
    is_bigendian : bool
        Byte order to write multi-byte values in (default: this machine's).

    Returns
    -------
    (height, width, step, data)

    """
    layout = lookup_encoding(encoding)
    array = np.asarray(array)
    expected_ndim = 2 if layout.channels == 1 else 3
    if array.ndim == 3 and layout.channels == 1 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim != expected_ndim or (expected_ndim == 3 and array.shape[2] != layout.channels):
        shape = '(h, w)' if layout.channels == 1 else f'(h, w, {layout.channels})'
        raise ValueError(f'{encoding} needs an array of shape {shape}, got {array.shape}')
    if array.dtype != layout.dtype:
        converted = array.astype(layout.dtype)
        if not np.array_equal(converted, array, equal_nan=layout.dtype.kind == 'f'):
            raise ValueError(f'{encoding} needs {layout.dtype} values; {array.dtype} values '
                             'do not convert exactly')
        array = converted
    height, width = array.shape[:2]
    row_bytes = width * layout.pixel_bytes
    step = row_bytes if step is None else int(step)
    if step < row_bytes:
        raise ValueError(f'step {step} is shorter than a row of {row_bytes} bytes')
    wire = array.astype(layout.dtype.newbyteorder('>' if is_bigendian else '<'), copy=False)
    rows = np.ascontiguousarray(wire).view(np.uint8).reshape(height, row_bytes)
    if step > row_bytes:
        rows = np.concatenate([rows, np.zeros((height, step - row_bytes), np.uint8)], axis=1)
    return height, width, step, rows.tobytes()


def to_rgb8(image: np.ndarray, encoding: str) -> np.ndarray:
    """
    Convert a decoded color image to (H, W, 3) uint8 RGB.

    Raises ValueError for encodings that are not color (``COLOR_ENCODINGS``).
    """
    if encoding not in COLOR_ENCODINGS:
        raise ValueError(f'color image has encoding {encoding!r}; supported: '
                         f'{", ".join(COLOR_ENCODINGS)}')
    if encoding == 'mono8':
        return np.repeat(image[:, :, None], 3, axis=2)
    rgb = image[:, :, :3]
    if encoding.startswith('bgr'):
        rgb = rgb[:, :, ::-1]
    return np.ascontiguousarray(rgb)


def to_depth_m(image: np.ndarray, encoding: str) -> np.ndarray:
    """
    Convert a decoded depth image to (H, W) float32 metres, 0 where there is no measurement.

    16UC1/mono16 are millimetres (0 = none); 32FC1 is metres, where NaN, infinities and
    values <= 0 become 0. Raises ValueError for other encodings.
    """
    if encoding not in DEPTH_ENCODINGS:
        raise ValueError(f'depth image has encoding {encoding!r}; supported: '
                         f'{", ".join(DEPTH_ENCODINGS)}')
    if encoding == '32FC1':
        depth = image.astype(np.float32, copy=True)
        depth[~(np.isfinite(depth) & (depth > 0))] = 0.0
        return depth
    return depth_mm_to_m(image)
