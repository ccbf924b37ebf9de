"""Frame folders of aligned RGB-D PNGs (c2f_sdf_ros.data.frame_folder)."""

import numpy as np
from PIL import Image
import pytest

from c2f_sdf_ros.data.frame_folder import (
    CAMERA_FILE,
    COLOR_DIR,
    DEPTH_DIR,
    FrameFolder,
    RgbdFrame,
    write_camera,
    write_frame,
)
from c2f_sdf_ros.geometry.camera import CameraIntrinsics

CAMERA = CameraIntrinsics(32, 24, 30.0, 31.0, 15.5, 11.5, 'plumb_bob', (0.01, 0.0, 0.0, 0.0, 0.0))


def random_frame(seed, camera=CAMERA):
    rng = np.random.default_rng(seed)
    color = rng.integers(0, 255, size=(camera.height, camera.width, 3), endpoint=True,
                         dtype=np.uint8)
    depth = rng.uniform(0.2, 5.0, size=(camera.height, camera.width)).astype(np.float32)
    depth[rng.random(depth.shape) < 0.2] = 0.0
    return RgbdFrame(color, depth, camera)


def write_folder(root, ids, camera=CAMERA):
    write_camera(root, camera)
    frames = {frame_id: random_frame(seed) for seed, frame_id in enumerate(ids)}
    for frame_id, frame in frames.items():
        write_frame(root, frame_id, frame)
    return frames


def test_round_trip(tmp_path):
    ids = ['000002', '000000', '000010', '000001']
    frames = write_folder(tmp_path / 'seq', ids)
    assert (tmp_path / 'seq' / CAMERA_FILE).is_file()
    folder = FrameFolder(tmp_path / 'seq')
    assert folder.camera == CAMERA
    assert folder.ids == sorted(ids)
    assert len(folder) == 4
    for index, frame_id in enumerate(folder.ids):
        frame = folder.read(index)
        expected = frames[frame_id]
        assert frame.camera == CAMERA
        assert frame.color.dtype == np.uint8 and frame.color.shape == (24, 32, 3)
        np.testing.assert_array_equal(frame.color, expected.color)
        assert frame.depth.dtype == np.float32 and frame.depth.shape == (24, 32)
        np.testing.assert_allclose(frame.depth, expected.depth, atol=0.0005 + 1e-6, rtol=0)
        # No measurement stays no measurement, and nothing else becomes one.
        np.testing.assert_array_equal(frame.depth == 0, expected.depth == 0)


def test_depth_png_is_16_bit_millimetres(tmp_path):
    frame = random_frame(3)
    write_folder(tmp_path, [])
    write_frame(tmp_path, 'a', frame)
    with Image.open(tmp_path / DEPTH_DIR / 'a.png') as image:
        assert image.mode in ('I;16', 'I')
        mm = np.asarray(image).astype(np.int64)
    np.testing.assert_array_equal(mm, np.rint(frame.depth.astype(np.float64) * 1000))
    with Image.open(tmp_path / COLOR_DIR / 'a.png') as image:
        assert image.mode == 'RGB'


def test_ids_sort_as_strings(tmp_path):
    write_folder(tmp_path, ['10', '9', '100', 'b', 'a'])
    assert FrameFolder(tmp_path).ids == ['10', '100', '9', 'a', 'b']


def test_frames_missing_a_png_are_skipped(tmp_path):
    write_folder(tmp_path, ['000', '001', '002', '003'])
    (tmp_path / DEPTH_DIR / '001.png').unlink()
    (tmp_path / COLOR_DIR / '003.png').unlink()
    (tmp_path / COLOR_DIR / 'notes.txt').write_text('not a frame')
    folder = FrameFolder(tmp_path)
    assert folder.ids == ['000', '002']
    assert len(folder) == 2
    np.testing.assert_array_equal(folder.read(1).color, random_frame(2).color)


def test_read_negative_and_out_of_range_index(tmp_path):
    write_folder(tmp_path, ['0', '1'])
    folder = FrameFolder(tmp_path)
    np.testing.assert_array_equal(folder.read(-1).color, folder.read(1).color)
    with pytest.raises(IndexError):
        folder.read(2)


def test_read_accepts_rgba_and_grey_color(tmp_path):
    write_folder(tmp_path, ['0', '1'])
    frame = random_frame(0)
    rgba = np.concatenate([frame.color, np.full((24, 32, 1), 200, np.uint8)], axis=2)
    Image.fromarray(rgba, mode='RGBA').save(tmp_path / COLOR_DIR / '0.png')
    grey = frame.color[:, :, 0]
    Image.fromarray(grey, mode='L').save(tmp_path / COLOR_DIR / '1.png')
    folder = FrameFolder(tmp_path)
    np.testing.assert_array_equal(folder.read(0).color, frame.color)
    np.testing.assert_array_equal(folder.read(1).color, np.repeat(grey[:, :, None], 3, axis=2))


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        FrameFolder(tmp_path / 'absent')
    (tmp_path / 'file').write_text('')
    with pytest.raises(FileNotFoundError, match='does not exist'):
        FrameFolder(tmp_path / 'file')


def test_missing_camera_yaml(tmp_path):
    write_folder(tmp_path, ['0'])
    (tmp_path / CAMERA_FILE).unlink()
    with pytest.raises(FileNotFoundError, match=f'has no {CAMERA_FILE}'):
        FrameFolder(tmp_path)


def test_invalid_camera_yaml(tmp_path):
    write_folder(tmp_path, ['0'])
    (tmp_path / CAMERA_FILE).write_text('image_width: 32\n')
    with pytest.raises(ValueError, match=CAMERA_FILE):
        FrameFolder(tmp_path)


def test_no_frames(tmp_path):
    write_camera(tmp_path, CAMERA)
    with pytest.raises(ValueError, match='has no frame with both'):
        FrameFolder(tmp_path)
    write_frame(tmp_path, '0', random_frame(0))
    (tmp_path / DEPTH_DIR / '0.png').rename(tmp_path / DEPTH_DIR / '1.png')
    with pytest.raises(ValueError, match='has no frame with both'):
        FrameFolder(tmp_path)


def test_8_bit_depth_png(tmp_path):
    write_folder(tmp_path, ['000000', '000007'])
    Image.fromarray(np.full((24, 32), 100, np.uint8)).save(tmp_path / DEPTH_DIR / '000007.png')
    folder = FrameFolder(tmp_path)
    folder.read(0)
    with pytest.raises(ValueError, match=r'000007\.png: expected a 16-bit depth PNG'):
        folder.read(1)


def test_color_png_of_wrong_size(tmp_path):
    write_folder(tmp_path, ['000000', '000042'])
    Image.fromarray(np.zeros((24, 31, 3), np.uint8)).save(tmp_path / COLOR_DIR / '000042.png')
    folder = FrameFolder(tmp_path)
    folder.read(0)
    with pytest.raises(ValueError, match=r'frame 000042 in .*color must be uint8 \(24, 32, 3\)'):
        folder.read(1)


def test_depth_png_of_wrong_size(tmp_path):
    write_folder(tmp_path, ['x'])
    Image.fromarray(np.zeros((23, 32), np.uint16)).save(tmp_path / DEPTH_DIR / 'x.png')
    with pytest.raises(ValueError, match=r'frame x in .*depth must be \(24, 32\)'):
        FrameFolder(tmp_path).read(0)


def test_color_png_of_wrong_mode(tmp_path):
    write_folder(tmp_path, ['000005'])
    Image.fromarray(np.zeros((24, 32), np.uint16)).save(tmp_path / COLOR_DIR / '000005.png')
    with pytest.raises(ValueError, match=r'000005\.png: expected 8-bit RGB'):
        FrameFolder(tmp_path).read(0)


def test_rgbd_frame_validation():
    frame = random_frame(0)
    with pytest.raises(ValueError, match='color must be uint8'):
        RgbdFrame(frame.color.astype(np.int16), frame.depth, CAMERA)
    with pytest.raises(ValueError, match='color must be uint8'):
        RgbdFrame(frame.color[:, :, :2], frame.depth, CAMERA)
    with pytest.raises(ValueError, match=r'depth must be \(24, 32\)'):
        RgbdFrame(frame.color, frame.depth.T, CAMERA)


def test_write_frame_rejects_unrepresentable_depth(tmp_path):
    frame = random_frame(0)
    far = frame.depth.copy()
    far[0, 0] = 100.0
    with pytest.raises(ValueError, match='does not fit uint16 millimetres'):
        write_frame(tmp_path, '0', RgbdFrame(frame.color, far, CAMERA))
