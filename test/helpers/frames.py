"""Frame folders for tests: frames whose content encodes their index."""

import pathlib

import numpy as np

from c2f_sdf_ros.data.frame_folder import RgbdFrame, write_camera, write_frame
from c2f_sdf_ros.geometry.camera import CameraIntrinsics

D435_640 = CameraIntrinsics(640, 480, 615.0, 615.0, 319.5, 239.5)


def make_frame(index: int, camera: CameraIntrinsics = D435_640) -> RgbdFrame:
    """A frame whose pixel (0, 0) encodes ``index`` and whose depth is a tilted plane."""
    v, u = np.indices((camera.height, camera.width))
    color = np.stack([(u + 7 * index) % 256, (v + 3 * index) % 256, (u + v) // 4 % 256],
                     axis=-1).astype(np.uint8)
    color[0, 0] = (index % 256, index // 256 % 256, 7)
    depth = (0.5 + 0.0005 * u + 0.0002 * v + 0.001 * (index % 10)).astype(np.float32)
    depth[:8, :8] = 0.0  # a patch without measurement, as real sensors have
    return RgbdFrame(color, depth, camera)


def frame_index(color_rgb: np.ndarray) -> int:
    """Recover the index written by ``make_frame`` from an RGB image."""
    return int(color_rgb[0, 0, 0]) + 256 * int(color_rgb[0, 0, 1])


def make_frame_folder(root, count: int, camera: CameraIntrinsics = D435_640) -> pathlib.Path:
    """Write ``count`` frames to ``root`` and return it."""
    root = pathlib.Path(root)
    write_camera(root, camera)
    for index in range(count):
        write_frame(root, f'{index:06d}', make_frame(index, camera))
    return root
