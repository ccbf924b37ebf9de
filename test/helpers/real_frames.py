"""
Real RGB-D frames for tests, read in place from ``../shared/real``.

They are never copied into the repository; tests that need them skip cleanly when the
folder is absent.
"""

import pathlib

import numpy as np
import pytest

from c2f_sdf_ros.data.frame_folder import FrameFolder, RgbdFrame, write_camera, write_frame
from c2f_sdf_ros.geometry.camera import CameraIntrinsics

REAL = pathlib.Path(__file__).resolve().parents[3] / 'shared' / 'real'
KITCHEN = REAL / 'cerd_kitchen_pour'


def real_folder(name: str) -> FrameFolder:
    """A folder of ``../shared/real``; skips the test when it is not there."""
    path = REAL / name
    if not (path / 'camera.yaml').is_file():
        pytest.skip(f'real frames not available ({path})')
    return FrameFolder(path)


def two_hand_frame(index: int = 7, half_width: int = 480) -> RgbdFrame:
    """
    A frame with two hands of opposite sides: a real right-hand frame and its mirror.

    The kitchen frame ``index`` (a right hand) is cropped to ``half_width`` columns around
    the hand and put beside its left-right mirror (a left hand, as a mirror makes it). The
    principal point moves with the crop; the mirrored half is the mirrored scene, so its
    depth stays consistent with the same intrinsics.
    """
    folder = real_folder(KITCHEN.name)
    frame = folder.read(index)
    camera = frame.camera
    # The labelled hand of the kitchen frames lies around u = 850-1060 (labels.json).
    u0 = int(np.clip(950 - half_width // 2, 0, camera.width - half_width))
    color = frame.color[:, u0:u0 + half_width]
    depth = frame.depth[:, u0:u0 + half_width]
    K = camera.K.copy()
    K[0, 2] = K[0, 2] - u0 + half_width
    both = CameraIntrinsics.from_matrix(K, 2 * half_width, camera.height)
    return RgbdFrame(np.ascontiguousarray(np.concatenate([color[:, ::-1], color], 1)),
                     np.ascontiguousarray(np.concatenate([depth[:, ::-1], depth], 1)), both)


def write_folder(root: pathlib.Path, frames: list[RgbdFrame]) -> pathlib.Path:
    """``frames`` (one camera) as a frame folder ``root`` with ids 000000, 000001, ..."""
    write_camera(root, frames[0].camera)
    for index, frame in enumerate(frames):
        write_frame(root, f'{index:06d}', frame)
    return root
