"""Raw and compressed image buffers <-> numpy (c2f_sdf_ros.ros.image_codec), no ROS needed."""

import array
import sys

import numpy as np
import pytest

from c2f_sdf_ros.ros import image_codec
from c2f_sdf_ros.ros.image_codec import (
    COLOR_ENCODINGS,
    DEPTH_ENCODINGS,
    ENCODINGS,
    decode_image,
    encode_image,
    lookup_encoding,
    to_depth_m,
    to_rgb8,
)

HEIGHT, WIDTH = 5, 7
NATIVE_BIG = sys.byteorder == 'big'


def random_image(encoding, height=HEIGHT, width=WIDTH, seed=0):
    """Random pixels covering the encoding's whole value range."""
    rng = np.random.default_rng(seed)
    layout = ENCODINGS[encoding]
    shape = (height, width) if layout.channels == 1 else (height, width, layout.channels)
    if layout.dtype.kind == 'f':
        return (rng.standard_normal(shape) * 10.0).astype(layout.dtype)
    info = np.iinfo(layout.dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=layout.dtype)


def padded_step(encoding, width=WIDTH, padding=3):
    return width * ENCODINGS[encoding].pixel_bytes + padding


def test_encodings_table_is_as_documented():
    assert set(ENCODINGS) == {'rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8', 'mono16', '16UC1',
                              '32FC1'}
    assert {name: layout.pixel_bytes for name, layout in ENCODINGS.items()} == {
        'rgb8': 3, 'bgr8': 3, 'rgba8': 4, 'bgra8': 4, 'mono8': 1, 'mono16': 2, '16UC1': 2,
        '32FC1': 4}
    assert lookup_encoding('bgra8').channels == 4


@pytest.mark.parametrize('is_bigendian', [False, True])
@pytest.mark.parametrize('encoding', sorted(ENCODINGS))
def test_round_trip_packed(encoding, is_bigendian):
    image = random_image(encoding, seed=len(encoding))
    height, width, step, data = encode_image(image, encoding, is_bigendian=is_bigendian)
    assert (height, width) == (HEIGHT, WIDTH)
    assert step == WIDTH * ENCODINGS[encoding].pixel_bytes
    assert isinstance(data, bytes) and len(data) == step * height
    decoded = decode_image(encoding, height, width, step, is_bigendian, data)
    assert decoded.dtype == ENCODINGS[encoding].dtype
    assert decoded.dtype.isnative
    assert decoded.shape == image.shape
    np.testing.assert_array_equal(decoded, image)


@pytest.mark.parametrize('padding', [1, 3, 8])
@pytest.mark.parametrize('encoding', sorted(ENCODINGS))
def test_round_trip_padded_step(encoding, padding):
    # Odd paddings put 16- and 32-bit rows at unaligned offsets in the buffer.
    image = random_image(encoding, seed=padding)
    step = padded_step(encoding, padding=padding)
    height, width, out_step, data = encode_image(image, encoding, step=step)
    assert out_step == step
    assert len(data) == step * HEIGHT
    row_bytes = step - padding
    rows = np.frombuffer(data, np.uint8).reshape(HEIGHT, step)
    assert not rows[:, row_bytes:].any(), 'padding bytes should be zero'
    decoded = decode_image(encoding, height, width, step, NATIVE_BIG, data)
    np.testing.assert_array_equal(decoded, image)


@pytest.mark.parametrize('encoding', sorted(ENCODINGS))
def test_decode_ignores_padding_content(encoding):
    image = random_image(encoding, seed=11)
    packed = encode_image(image, encoding, is_bigendian=False)[3]
    row_bytes = WIDTH * ENCODINGS[encoding].pixel_bytes
    step = row_bytes + 5
    rng = np.random.default_rng(5)
    buffer = rng.integers(0, 255, size=(HEIGHT, step), endpoint=True, dtype=np.uint8)
    buffer[:, :row_bytes] = np.frombuffer(packed, np.uint8).reshape(HEIGHT, row_bytes)
    decoded = decode_image(encoding, HEIGHT, WIDTH, step, False, buffer.tobytes())
    np.testing.assert_array_equal(decoded, image)


@pytest.mark.parametrize('encoding', ['mono16', '16UC1'])
def test_16bit_byte_order_matches_numpy(encoding):
    image = np.array([[0x0102, 0xA0B0, 0], [0xFFFF, 1, 0x1234]], np.uint16)
    big = encode_image(image, encoding, is_bigendian=True)[3]
    little = encode_image(image, encoding, is_bigendian=False)[3]
    assert big == image.astype('>u2').tobytes()
    assert little == image.astype('<u2').tobytes()
    assert big[:2] == b'\x01\x02' and little[:2] == b'\x02\x01'
    np.testing.assert_array_equal(decode_image(encoding, 2, 3, 6, True, big), image)
    np.testing.assert_array_equal(decode_image(encoding, 2, 3, 6, False, little), image)
    # Decoding with the wrong byte order swaps the bytes, so the flag is really used.
    np.testing.assert_array_equal(decode_image(encoding, 2, 3, 6, False, big),
                                  image.byteswap())


def test_32fc1_byte_order_matches_numpy():
    image = np.array([[1.5, -2.25, 0.0], [np.inf, 1e-3, 123456.0]], np.float32)
    big = encode_image(image, '32FC1', is_bigendian=True)[3]
    little = encode_image(image, '32FC1', is_bigendian=False)[3]
    assert big == image.astype('>f4').tobytes()
    assert little == image.astype('<f4').tobytes()
    assert big != little
    np.testing.assert_array_equal(decode_image('32FC1', 2, 3, 12, True, big), image)
    np.testing.assert_array_equal(decode_image('32FC1', 2, 3, 12, False, little), image)


@pytest.mark.parametrize('is_bigendian', [False, True])
@pytest.mark.parametrize('encoding,wire', [('16UC1', 'u2'), ('32FC1', 'f4')])
def test_decode_hand_built_padded_buffer(encoding, wire, is_bigendian):
    # A buffer built without encode_image: rows of (width values + 3 junk bytes).
    rng = np.random.default_rng(3)
    if wire == 'u2':
        image = rng.integers(0, 65535, size=(4, 6), endpoint=True).astype(np.uint16)
    else:
        image = rng.standard_normal((4, 6)).astype(np.float32)
    order = '>' if is_bigendian else '<'
    rows = [image[r].astype(order + wire).tobytes() + b'\xab\xcd\xef' for r in range(4)]
    step = 6 * image.itemsize + 3
    decoded = decode_image(encoding, 4, 6, step, is_bigendian, b''.join(rows))
    assert decoded.dtype.isnative
    np.testing.assert_array_equal(decoded, image)


def test_default_byte_order_is_native():
    image = np.array([[1, 2]], np.uint16)
    assert encode_image(image, '16UC1')[3] == image.tobytes()


@pytest.mark.parametrize('encoding', sorted(ENCODINGS))
def test_decode_array_array_input(encoding):
    # rclpy gives uint8[] fields as array.array('B').
    image = random_image(encoding, seed=7)
    step = padded_step(encoding, padding=3)
    _, _, _, data = encode_image(image, encoding, step=step, is_bigendian=True)
    buffer = array.array('B', data)
    decoded = decode_image(encoding, HEIGHT, WIDTH, step, True, buffer)
    np.testing.assert_array_equal(decoded, image)
    assert bytes(buffer) == data


@pytest.mark.parametrize('step_padding', [0, 2])
@pytest.mark.parametrize('encoding', ['rgb8', 'mono8', '16UC1', '32FC1'])
def test_decode_returns_a_copy(encoding, step_padding):
    image = random_image(encoding, seed=2)
    step = padded_step(encoding, padding=step_padding)
    data = encode_image(image, encoding, step=step, is_bigendian=False)[3]
    for buffer in (array.array('B', data), bytearray(data), np.frombuffer(data, np.uint8).copy()):
        before = bytes(buffer)
        decoded = decode_image(encoding, HEIGHT, WIDTH, step, False, buffer)
        assert decoded.flags.writeable
        assert not np.shares_memory(decoded, np.frombuffer(buffer, np.uint8))
        decoded[...] = 0
        assert bytes(buffer) == before
        np.testing.assert_array_equal(
            decode_image(encoding, HEIGHT, WIDTH, step, False, buffer), image)


def test_encode_accepts_trailing_singleton_channel_and_exact_conversions():
    depth = np.array([[0, 1, 65535]], np.uint16)
    assert encode_image(depth[:, :, None], '16UC1')[3] == encode_image(depth, '16UC1')[3]
    # int64 and float64 holding exact uint16 values are converted.
    assert encode_image(depth.astype(np.int64), '16UC1')[3] == encode_image(depth, '16UC1')[3]
    assert encode_image(depth.astype(np.float64), '16UC1')[3] == encode_image(depth, '16UC1')[3]
    meters = np.array([[0.5, np.nan, 2.0]])
    data = encode_image(meters, '32FC1', is_bigendian=False)[3]
    np.testing.assert_array_equal(decode_image('32FC1', 1, 3, 12, False, data), meters)


def test_encode_non_contiguous_array():
    image = random_image('16UC1', seed=4)
    view = image[:, ::-1]
    data = encode_image(view, '16UC1', is_bigendian=True)[3]
    assert data == np.ascontiguousarray(view).astype('>u2').tobytes()


@pytest.mark.parametrize('encoding', sorted(ENCODINGS))
def test_empty_images(encoding):
    assert decode_image(encoding, 0, WIDTH, 100, False, b'').shape[:2] == (0, WIDTH)
    assert decode_image(encoding, 3, 0, 0, False, b'').shape[:2] == (3, 0)


# Errors ---------------------------------------------------------------------------------


def test_unknown_encoding():
    with pytest.raises(ValueError, match=r"unsupported image encoding 'yuv422'.*rgb8"):
        decode_image('yuv422', 1, 1, 2, False, b'\0\0')
    with pytest.raises(ValueError, match="'yuv422'"):
        encode_image(np.zeros((1, 1, 3), np.uint8), 'yuv422')
    with pytest.raises(ValueError, match="'RGB8'"):
        lookup_encoding('RGB8')
    with pytest.raises(ValueError, match='unsupported image encoding'):
        lookup_encoding(None)


@pytest.mark.parametrize('encoding', ['rgb8', 'mono16', '32FC1'])
def test_decode_step_shorter_than_row(encoding):
    row_bytes = WIDTH * ENCODINGS[encoding].pixel_bytes
    step = row_bytes - 1
    with pytest.raises(ValueError, match=rf'step >= {row_bytes} bytes, got step {step}'):
        decode_image(encoding, HEIGHT, WIDTH, step, False, bytes(step * HEIGHT))


def test_encode_step_shorter_than_row():
    with pytest.raises(ValueError, match='step 20 is shorter than a row of 21 bytes'):
        encode_image(random_image('rgb8'), 'rgb8', step=20)


@pytest.mark.parametrize('encoding', ['bgr8', '16UC1', '32FC1'])
def test_decode_truncated_and_oversized(encoding):
    step = padded_step(encoding, padding=3)
    needed = step * HEIGHT
    with pytest.raises(ValueError, match=rf'truncated {encoding} image.*needs {needed} bytes, '
                                         rf'got {needed - 1}'):
        decode_image(encoding, HEIGHT, WIDTH, step, False, bytes(needed - 1))
    with pytest.raises(ValueError, match=rf'oversized {encoding} image.*got {needed + 1}'):
        decode_image(encoding, HEIGHT, WIDTH, step, False, bytes(needed + 1))
    # A buffer without the row padding is not accepted either.
    with pytest.raises(ValueError, match='truncated'):
        decode_image(encoding, HEIGHT, WIDTH, step, False, bytes(needed - 3 * HEIGHT))


def test_decode_negative_size():
    with pytest.raises(ValueError, match='must not be negative'):
        decode_image('mono8', -1, 2, 2, False, b'')


@pytest.mark.parametrize('encoding,shape', [
    ('rgb8', (4, 5)),
    ('rgb8', (4, 5, 4)),
    ('rgba8', (4, 5, 3)),
    ('bgra8', (4, 5)),
    ('mono8', (4, 5, 3)),
    ('mono16', (20,)),
    ('16UC1', (4, 5, 2)),
    ('32FC1', (2, 4, 5)),
])
def test_encode_wrong_shape(encoding, shape):
    layout = ENCODINGS[encoding]
    with pytest.raises(ValueError, match=rf'{encoding} needs an array of shape.*'
                                         rf'got \({shape[0]},'):
        encode_image(np.zeros(shape, layout.dtype), encoding)


@pytest.mark.parametrize('values', [
    np.array([[1.5, 2.0]]),
    np.array([[0.25]], np.float32),
    np.array([[1000.001]]),
])
def test_encode_inexact_float_into_16uc1(values):
    with pytest.raises(ValueError, match=r'16UC1 needs uint16 values; float.* values do not '
                                         r'convert exactly'):
        encode_image(values, '16UC1')


@pytest.mark.parametrize('values', [np.array([[-1, 2]]), np.array([[70000]])])
def test_encode_out_of_range_ints_into_16uc1(values):
    with np.errstate(invalid='ignore'), pytest.raises(ValueError, match='convert exactly'):
        encode_image(values, '16UC1')


def test_encode_inexact_into_32fc1_and_rgb8():
    with pytest.raises(ValueError, match='32FC1 needs float32 values'):
        encode_image(np.array([[0.1]]), '32FC1')
    with pytest.raises(ValueError, match='rgb8 needs uint8 values'):
        encode_image(np.full((1, 1, 3), 256), 'rgb8')


# Conversions to RGB and metres ----------------------------------------------------------


def test_to_rgb8_color_encodings():
    rgba = random_image('rgba8', seed=9)
    rgb = rgba[:, :, :3]
    for encoding, image in [
        ('rgb8', rgb),
        ('bgr8', rgb[:, :, ::-1]),
        ('rgba8', rgba),
        ('bgra8', np.concatenate([rgb[:, :, ::-1], rgba[:, :, 3:]], axis=2)),
    ]:
        out = to_rgb8(np.ascontiguousarray(image), encoding)
        assert out.dtype == np.uint8 and out.shape == (HEIGHT, WIDTH, 3), encoding
        assert out.flags.c_contiguous, encoding
        np.testing.assert_array_equal(out, rgb, err_msg=encoding)
    mono = random_image('mono8', seed=10)
    out = to_rgb8(mono, 'mono8')
    assert out.shape == (HEIGHT, WIDTH, 3)
    for channel in range(3):
        np.testing.assert_array_equal(out[:, :, channel], mono)


def test_to_rgb8_through_the_wire():
    rng = np.random.default_rng(12)
    rgb = rng.integers(0, 255, size=(3, 4, 3), endpoint=True, dtype=np.uint8)
    bgra = np.concatenate([rgb[:, :, ::-1], np.full((3, 4, 1), 77, np.uint8)], axis=2)
    h, w, step, data = encode_image(bgra, 'bgra8', step=4 * 4 + 3)
    np.testing.assert_array_equal(to_rgb8(decode_image('bgra8', h, w, step, False, data),
                                          'bgra8'), rgb)


@pytest.mark.parametrize('encoding', DEPTH_ENCODINGS + ('yuv422',))
def test_to_rgb8_rejects_non_color(encoding):
    assert encoding not in COLOR_ENCODINGS
    with pytest.raises(ValueError, match=rf"color image has encoding '{encoding}'"):
        to_rgb8(np.zeros((2, 2), np.uint16), encoding)


@pytest.mark.parametrize('encoding', ['16UC1', 'mono16'])
def test_to_depth_m_millimetres(encoding):
    mm = np.array([[0, 1, 1000], [1234, 65535, 0]], np.uint16)
    depth = to_depth_m(mm, encoding)
    assert depth.dtype == np.float32 and depth.shape == mm.shape
    np.testing.assert_allclose(depth, mm / 1000.0, rtol=1e-6, atol=0)
    assert depth[0, 0] == 0.0 and depth[1, 2] == 0.0
    assert np.count_nonzero(depth) == 4


def test_to_depth_m_float_metres():
    image = np.array([[1.5, np.nan, np.inf], [-np.inf, -0.5, 0.0], [2e-3, 7.25, -0.0]],
                     np.float32)
    before = image.copy()
    depth = to_depth_m(image, '32FC1')
    assert depth.dtype == np.float32
    expected = np.array([[1.5, 0, 0], [0, 0, 0], [2e-3, 7.25, 0]], np.float32)
    np.testing.assert_array_equal(depth, expected)
    assert np.isfinite(depth).all()
    # The input is left alone.
    np.testing.assert_array_equal(image, before)


def test_to_depth_m_through_the_wire_big_endian():
    mm = np.array([[0, 500], [1500, 40000]], np.uint16)
    data = mm.astype('>u2').tobytes()
    depth = to_depth_m(decode_image('16UC1', 2, 2, 4, True, data), '16UC1')
    np.testing.assert_allclose(depth, [[0, 0.5], [1.5, 40.0]], rtol=1e-6)


@pytest.mark.parametrize('encoding', COLOR_ENCODINGS + ('32FC3',))
def test_to_depth_m_rejects_non_depth(encoding):
    assert encoding not in DEPTH_ENCODINGS
    with pytest.raises(ValueError, match=rf"depth image has encoding '{encoding}'"):
        to_depth_m(np.zeros((2, 2), np.uint8), encoding)


# -- compressed images (image_transport's compressed / compressedDepth) ----------------------
def _rgb(seed=0, shape=(24, 32, 3)):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize('text, expected', [
    ('rgb8; jpeg compressed bgr8', ('rgb8', 'jpeg', False)),
    ('bgr8; png compressed bgr8', ('bgr8', 'png', False)),
    ('jpeg', ('', 'jpeg', False)),
    ('16UC1; compressedDepth png', ('16UC1', 'png', True)),
    ('32FC1; compressedDepth', ('32FC1', '', True)),
    ('16UC1; compressedDepth rvl', ('16UC1', 'rvl', True)),
    ('', ('', '', False)),
])
def test_parse_compressed_format(text, expected):
    assert tuple(vars(image_codec.parse_compressed_format(text)).values()) == expected


def test_png_color_is_lossless_and_jpeg_close():
    rgb = _rgb()
    fmt, data = image_codec.encode_compressed_color(rgb, 'png')
    assert fmt == 'rgb8; png compressed bgr8'
    np.testing.assert_array_equal(image_codec.decode_compressed_color(fmt, data), rgb)
    smooth = np.repeat(np.linspace(0, 255, 32, dtype=np.uint8)[None, :, None], 24, 0)
    smooth = np.repeat(smooth, 3, 2)
    fmt, data = image_codec.encode_compressed_color(smooth, 'jpeg', quality=95)
    decoded = image_codec.decode_compressed_color(fmt, array.array('B', data))
    assert decoded.shape == smooth.shape and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - smooth).mean() < 3


def test_compressed_color_written_by_opencv_decodes_to_rgb():
    """image_transport's plugin encodes BGR with OpenCV: the file is still RGB."""
    cv2 = pytest.importorskip('cv2')
    rgb = _rgb(1)
    ok, data = cv2.imencode('.png', rgb[:, :, ::-1])
    assert ok
    decoded = image_codec.decode_compressed_color('bgr8; png compressed bgr8', data.tobytes())
    np.testing.assert_array_equal(decoded, rgb)


def test_compressed_depth_16uc1_round_trip_matches_raw():
    mm = np.random.default_rng(2).integers(0, 4000, (24, 32)).astype(np.uint16)
    mm[:3] = 0
    fmt, data = image_codec.encode_compressed_depth(mm, '16UC1')
    assert fmt == '16UC1; compressedDepth png'
    assert len(data) > image_codec.DEPTH_HEADER.size
    depth, encoding = image_codec.decode_compressed_depth(fmt, data)
    assert encoding == '16UC1'
    np.testing.assert_array_equal(depth, image_codec.to_depth_m(mm, '16UC1'))


def test_compressed_depth_32fc1_inverse_depth_quantisation():
    depth = np.random.default_rng(3).uniform(0.3, 2.0, (24, 32)).astype(np.float32)
    depth[0] = np.nan
    depth[1] = 0.0
    fmt, data = image_codec.encode_compressed_depth(depth, '32FC1')
    decoded, encoding = image_codec.decode_compressed_depth(fmt, data)
    assert encoding == '32FC1'
    assert (decoded[:2] == 0).all()
    # Quantised inverse depth (depth_quantization 100, depth_max 10): relative error
    # about depth / (Z0 (Z0 + 1)), under 0.02 % at 2 m.
    np.testing.assert_allclose(decoded[2:], depth[2:], rtol=2e-4)


@pytest.mark.parametrize('fmt, data, match', [
    ('16UC1; compressedDepth png', b'\x00' * 12, 'no image after'),
    ('16UC1; compressedDepth png', b'\x00' * 12 + b'not a png', 'cannot decode'),
    ('16UC1; compressedDepth rvl', b'\x00' * 40, 'rvl'),
    ('rgb8; jpeg compressed bgr8', b'', 'no data'),
    ('rgb8; tiff compressed bgr8', b'\x00' * 40, 'tiff'),
])
def test_bad_compressed_data(fmt, data, match):
    decode = (image_codec.decode_compressed_depth if 'Depth' in fmt
              else image_codec.decode_compressed_color)
    with pytest.raises(ValueError, match=match):
        decode(fmt, data)


def test_looks_like_millimetres():
    assert image_codec.looks_like_millimetres(np.full((4, 4), 0.8, np.float32)) is None
    assert image_codec.looks_like_millimetres(np.full((4, 4), 800.0, np.float32)) == 800.0
    assert image_codec.looks_like_millimetres(np.zeros((4, 4), np.float32)) is None
