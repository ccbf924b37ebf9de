"""Test-pattern RGB-D frames: exercise a pipeline without a camera or a data set."""

from __future__ import annotations

import os
import pathlib

import numpy as np

from c2f_sdf_ros.data.frame_folder import RgbdFrame, write_camera, write_frame
from c2f_sdf_ros.geometry.camera import CameraIntrinsics

# RealSense D435 color stream at 640x480 (typical factory intrinsics).
D435_640X480 = CameraIntrinsics(640, 480, 615.0, 615.0, 319.5, 239.5)


def pattern_frame(index: int, camera: CameraIntrinsics = D435_640X480) -> RgbdFrame:
    """
    Frame ``index`` of a moving test pattern.

    Color is a gradient that shifts with ``index``; pixel (0, 0) holds the index itself
    (red = index % 256, green = index // 256 % 256), so a receiver can tell frames apart
    (``pattern_frame_index``). Depth is a tilted plane 0.5-1 m away, with an 8x8 patch
    without measurement (0) in the top-left corner, as real sensors have.
    """
    v, u = np.indices((camera.height, camera.width))
    color = np.stack([(u + 7 * index) % 256, (v + 3 * index) % 256, (u + v) // 4 % 256],
                     axis=-1).astype(np.uint8)
    color[0, 0] = (index % 256, index // 256 % 256, 7)
    depth = (0.5 + 0.5 * u / camera.width + 0.2 * v / camera.height
             + 0.001 * (index % 10)).astype(np.float32)
    depth[:8, :8] = 0.0
    return RgbdFrame(color, depth, camera)


def pattern_frame_index(color_rgb: np.ndarray) -> int:
    """The frame index ``pattern_frame`` wrote into an RGB image."""
    return int(color_rgb[0, 0, 0]) + 256 * int(color_rgb[0, 0, 1])


def write_pattern_folder(root: str | os.PathLike, count: int,
                              camera: CameraIntrinsics = D435_640X480) -> pathlib.Path:
    """Write ``count`` test-pattern frames as a frame folder at ``root``; return it."""
    if count < 1:
        raise ValueError(f'count must be >= 1, got {count}')
    root = pathlib.Path(root)
    write_camera(root, camera, camera_name='test_pattern')
    for index in range(count):
        write_frame(root, f'{index:06d}', pattern_frame(index, camera))
    return root
