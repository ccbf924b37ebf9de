"""
Raw and compressed ``sensor_msgs`` image buffers to numpy arrays and back, without ROS.

A ROS image is ``height`` rows of ``step`` bytes (``step`` may exceed the packed row length),
pixels laid out as the ``encoding`` says, multi-byte values big-endian when ``is_bigendian``.
cv_bridge is not installable from PyPI (and its PyPI look-alike mishandles 16UC1), so this
module does the conversion with numpy for the encodings RGB-D cameras publish.

``sensor_msgs/CompressedImage`` as image_transport's plugins write it: ``compressed``
(``format`` "ORIG; jpeg|png compressed [PIXFMT]", the data a JPEG or PNG file) and
``compressedDepth`` (``format`` "ORIG; compressedDepth png", the data a 12-byte header
``{int32 format; float32 depthParam[2]}`` then a 16-bit PNG: millimetres for 16UC1, inverse
depth ``A / depth + B`` for 32FC1). Decoded with Pillow.
"""

from __future__ import annotations

from dataclasses import dataclass
import io
import struct
import sys

import numpy as np
from PIL import Image as PilImage

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


# -- compressed images (image_transport's compressed and compressedDepth) --------------------
COMPRESSED_CODECS = ('jpeg', 'png')
# compressed_depth_image_transport's ConfigHeader: int32 format, float32 depthParam[2].
DEPTH_HEADER = struct.Struct('<iff')
# Its defaults for 32FC1 inverse-depth quantisation (depth_quantization, depth_max).
DEPTH_QUANTIZATION = 100.0
DEPTH_MAX = 10.0


@dataclass(frozen=True)
class CompressedFormat:
    """The parts of a ``CompressedImage.format`` string."""

    encoding: str     # the raw image's encoding before compression ('' if not given)
    codec: str        # 'jpeg', 'png', 'rvl', ... ('' if not given)
    depth: bool       # compressedDepth transport


def parse_compressed_format(text: str) -> CompressedFormat:
    """
    Parse ``format`` as image_transport writes it.

    "rgb8; jpeg compressed bgr8" -> (rgb8, jpeg, False); "16UC1; compressedDepth png" ->
    (16UC1, png, True); a bare "jpeg" or "png" (older publishers) -> ('', codec, False).
    """
    text = (text or '').strip()
    encoding, _, rest = text.partition(';') if ';' in text else ('', '', text)
    words = rest.split()
    depth = 'compressedDepth' in words
    codec = ''
    for word in words:
        if word.lower() in ('jpeg', 'jpg', 'png', 'tiff', 'rvl'):
            codec = 'jpeg' if word.lower() == 'jpg' else word.lower()
            break
    return CompressedFormat(encoding.strip(), codec, depth)


def _decode_file(data) -> PilImage.Image:
    buffer = bytes(data) if not isinstance(data, bytes) else data
    if not buffer:
        raise ValueError('compressed image has no data')
    try:
        image = PilImage.open(io.BytesIO(buffer))
        image.load()
    except (OSError, SyntaxError, ValueError) as error:
        raise ValueError(f'cannot decode compressed image: {error}') from error
    if image.width == 0 or image.height == 0:
        raise ValueError('compressed image is 0x0')
    return image


def decode_compressed_color(format_text: str, data) -> np.ndarray:
    """
    A ``compressed`` colour image (JPEG or PNG) as (H, W, 3) uint8 RGB.

    The file itself says its channel order, so the format's pixel-format words only tell
    that it is colour or mono. Raises ValueError when it cannot be decoded.
    """
    fmt = parse_compressed_format(format_text)
    if fmt.depth:
        raise ValueError(f'color image has depth format {format_text!r}')
    if fmt.codec not in ('', *COMPRESSED_CODECS):
        raise ValueError(f'compressed color codec {fmt.codec!r} is not one of '
                         f'{", ".join(COMPRESSED_CODECS)}')
    image = _decode_file(data)
    if image.mode not in ('RGB', 'L'):
        image = image.convert('RGB')
    rgb = np.asarray(image)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def decode_compressed_depth(format_text: str, data) -> tuple[np.ndarray, str]:
    """
    A ``compressedDepth`` image as (H, W) float32 metres and its original encoding.

    0 is no measurement; the encoding is '16UC1' or '32FC1'. 16UC1: the PNG holds
    millimetres. 32FC1: it holds ``A / depth + B`` with the header's (A, B), 0 for no
    measurement. Raises ValueError for another codec (``rvl`` is not
    supported) or data that do not decode.
    """
    fmt = parse_compressed_format(format_text)
    if fmt.codec not in ('', 'png'):
        raise ValueError(f'compressedDepth codec {fmt.codec!r} is not supported (png is)')
    encoding = fmt.encoding or '16UC1'
    if encoding not in ('16UC1', 'mono16', '32FC1'):
        raise ValueError(f'compressedDepth of a {encoding!r} image is not supported '
                         '(16UC1 or 32FC1)')
    data = bytes(data)
    if len(data) <= DEPTH_HEADER.size:
        raise ValueError(f'compressedDepth data of {len(data)} bytes has no image after its '
                         f'{DEPTH_HEADER.size}-byte header')
    _, quant_a, quant_b = DEPTH_HEADER.unpack_from(data)
    image = _decode_file(data[DEPTH_HEADER.size:])
    values = np.asarray(image)
    if values.ndim != 2 or values.dtype.kind not in 'ui':
        raise ValueError(f'compressedDepth PNG must be 16-bit grey, got mode {image.mode}')
    values = values.astype(np.uint16)
    if encoding != '32FC1':
        return depth_mm_to_m(values), encoding
    depth = np.zeros(values.shape, np.float32)
    valid = values > 0
    with np.errstate(divide='ignore', invalid='ignore'):
        depth[valid] = np.float32(quant_a) / (values[valid].astype(np.float32)
                                              - np.float32(quant_b))
    depth[~(np.isfinite(depth) & (depth > 0))] = 0.0
    return depth, encoding


def encode_compressed_color(rgb: np.ndarray, codec: str = 'png', quality: int = 90
                            ) -> tuple[str, bytes]:
    """
    (format, data) of a ``compressed`` colour message from (H, W, 3) uint8 RGB.

    The format names the raw encoding rgb8 and, as image_transport does, the compressed
    pixel format bgr8 (the file is a standard RGB JPEG/PNG either way).
    """
    if codec not in COMPRESSED_CODECS:
        raise ValueError(f'codec must be one of {COMPRESSED_CODECS}, got {codec!r}')
    buffer = io.BytesIO()
    options = {'quality': int(quality)} if codec == 'jpeg' else {}
    PilImage.fromarray(np.asarray(rgb, np.uint8), 'RGB').save(buffer, format=codec.upper(),
                                                            **options)
    return f'rgb8; {codec} compressed bgr8', buffer.getvalue()


def encode_compressed_depth(depth: np.ndarray, encoding: str = '16UC1',
                            quantization: float = DEPTH_QUANTIZATION,
                            depth_max: float = DEPTH_MAX) -> tuple[str, bytes]:
    """
    (format, data) of a ``compressedDepth`` message, as compressed_depth_image_transport writes.

    16UC1 from uint16 millimetres, 32FC1 from float metres (inverse depth).
    """
    depth = np.asarray(depth)
    if encoding == '16UC1':
        if depth.dtype != np.uint16:
            raise ValueError(f'16UC1 depth must be uint16 millimetres, got {depth.dtype}')
        header = DEPTH_HEADER.pack(0, 0.0, 0.0)
        values = depth
    elif encoding == '32FC1':
        quant_a = np.float32(quantization * (quantization + 1.0))
        quant_b = np.float32(1.0 - quant_a / depth_max)
        header = DEPTH_HEADER.pack(0, float(quant_a), float(quant_b))
        depth = depth.astype(np.float32)
        valid = np.isfinite(depth) & (depth > 0) & (depth < depth_max)
        values = np.zeros(depth.shape, np.uint16)
        values[valid] = np.rint(quant_a / depth[valid] + quant_b).astype(np.uint16)
    else:
        raise ValueError(f'encoding must be 16UC1 or 32FC1, got {encoding!r}')
    buffer = io.BytesIO()
    PilImage.fromarray(values).save(buffer, format='PNG')
    return f'{encoding}; compressedDepth png', header + buffer.getvalue()


def looks_like_millimetres(depth_m: np.ndarray, threshold: float = 20.0) -> float | None:
    """
    The median valid depth if it exceeds ``threshold`` (metres, so really millimetres?).

    A 32FC1 depth image is metres (REP 118), but some drivers fill it with millimetres; a
    median beyond 20 m is no hand-held scene. Returns None for plausible metres.
    """
    valid = depth_m[depth_m > 0]
    if valid.size == 0:
        return None
    median = float(np.median(valid))
    return median if median > threshold else None
