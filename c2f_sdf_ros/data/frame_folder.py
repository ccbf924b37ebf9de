"""
Folders of aligned RGB-D frames: what the replay camera publishes and synth writes.

Layout (documented in docs/data-format.md)::

    <root>/camera.yaml        color camera calibration, ROS camera_calibration_parsers format
    <root>/color/<id>.png     8-bit RGB
    <root>/depth/<id>.png     16-bit depth in millimetres aligned to color; 0 = no measurement

A frame exists when both PNGs exist; ids sort as strings (zero-padded numbers by default).
"""

from __future__ import annotations

from dataclasses import dataclass
import os
import pathlib

import numpy as np
from PIL import Image

from c2f_sdf_ros.geometry.camera import CameraIntrinsics, load_camera_yaml, save_camera_yaml
from c2f_sdf_ros.geometry.depth import depth_m_to_mm, depth_mm_to_m

CAMERA_FILE = 'camera.yaml'
COLOR_DIR = 'color'
DEPTH_DIR = 'depth'


@dataclass(frozen=True)
class RgbdFrame:
    """
    One aligned RGB-D frame.

    Attributes
    ----------
    color : (H, W, 3) uint8
        RGB image.
    depth : (H, W) float32
        Depth in metres along the optical axis, aligned to color; 0 = no measurement.
    camera : CameraIntrinsics
        Intrinsics of the color camera (and so of the aligned depth).

    """

    color: np.ndarray
    depth: np.ndarray
    camera: CameraIntrinsics

    def __post_init__(self):
        h, w = self.camera.height, self.camera.width
        if self.color.shape != (h, w, 3) or self.color.dtype != np.uint8:
            raise ValueError(f'color must be uint8 ({h}, {w}, 3), got {self.color.dtype} '
                             f'{self.color.shape}')
        if self.depth.shape != (h, w):
            raise ValueError(f'depth must be ({h}, {w}), got {self.depth.shape}')


class FrameFolder:
    """
    Read the frames of a frame folder.

    Raises
    ------
    FileNotFoundError
        If ``root`` or its camera.yaml does not exist.
    ValueError
        If the folder holds no complete frame or the calibration is invalid.

    """

    def __init__(self, root: str | os.PathLike):
        self.root = pathlib.Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f'frame folder {self.root} does not exist')
        camera_file = self.root / CAMERA_FILE
        if not camera_file.is_file():
            raise FileNotFoundError(f'frame folder {self.root} has no {CAMERA_FILE}')
        self.camera = load_camera_yaml(camera_file)
        color_ids = {p.stem for p in (self.root / COLOR_DIR).glob('*.png')}
        depth_ids = {p.stem for p in (self.root / DEPTH_DIR).glob('*.png')}
        self.ids = sorted(color_ids & depth_ids)
        if not self.ids:
            raise ValueError(f'frame folder {self.root} has no frame with both '
                             f'{COLOR_DIR}/<id>.png and {DEPTH_DIR}/<id>.png')

    def __len__(self) -> int:
        return len(self.ids)

    def read(self, index: int) -> RgbdFrame:
        """
        Read frame number ``index`` (0-based, in id order).

        Raises
        ------
        ValueError
            If a PNG is not 8-bit RGB (color) / 16-bit single channel (depth) or its size
            differs from camera.yaml.

        """
        return read_frame(self.root, self.ids[index], self.camera)


def read_frame(root: str | os.PathLike, frame_id: str, camera: CameraIntrinsics) -> RgbdFrame:
    """
    Read ``<root>/color/<id>.png`` and ``<root>/depth/<id>.png`` as one frame.

    The one reader of the layout: frame folders, synthetic folders and previews use it.

    Raises
    ------
    ValueError
        If a PNG is not 8-bit RGB (color) / 16-bit single channel (depth) or its size
        differs from ``camera``.

    """
    root = pathlib.Path(root)
    color_path = root / COLOR_DIR / f'{frame_id}.png'
    depth_path = root / DEPTH_DIR / f'{frame_id}.png'
    with Image.open(color_path) as image:
        if image.mode not in ('RGB', 'RGBA', 'L'):
            raise ValueError(f'{color_path}: expected 8-bit RGB, got PIL mode {image.mode}')
        color = np.asarray(image.convert('RGB'))
    with Image.open(depth_path) as image:
        depth_mm = np.asarray(image)
    if depth_mm.dtype != np.uint16:
        # PIL opens 16-bit grayscale PNGs as mode I;16 (uint16) or I (int32).
        if depth_mm.dtype == np.int32 and depth_mm.min(initial=0) >= 0 \
                and depth_mm.max(initial=0) <= np.iinfo(np.uint16).max:
            depth_mm = depth_mm.astype(np.uint16)
        else:
            raise ValueError(f'{depth_path}: expected a 16-bit depth PNG in millimetres, '
                             f'got {depth_mm.dtype} {depth_mm.shape}')
    try:
        return RgbdFrame(color, depth_mm_to_m(depth_mm), camera)
    except ValueError as error:
        raise ValueError(f'frame {frame_id} in {root}: {error}') from error


def write_frame(root: str | os.PathLike, frame_id: str, frame: RgbdFrame,
                compress_level: int = 6) -> None:
    """
    Write ``frame`` as ``<root>/color/<id>.png`` and ``<root>/depth/<id>.png``.

    ``compress_level`` is zlib's (0-9): 1 writes several times faster for ~20 % larger
    files, which is the better trade for generated data sets.
    """
    root = pathlib.Path(root)
    (root / COLOR_DIR).mkdir(parents=True, exist_ok=True)
    (root / DEPTH_DIR).mkdir(parents=True, exist_ok=True)
    Image.fromarray(frame.color, mode='RGB').save(root / COLOR_DIR / f'{frame_id}.png',
                                                  compress_level=compress_level)
    Image.fromarray(depth_m_to_mm(frame.depth)).save(root / DEPTH_DIR / f'{frame_id}.png',
                                                     compress_level=compress_level)


def write_camera(root: str | os.PathLike, camera: CameraIntrinsics,
                 camera_name: str = 'camera') -> None:
    """Write ``<root>/camera.yaml``."""
    root = pathlib.Path(root)
    root.mkdir(parents=True, exist_ok=True)
    save_camera_yaml(root / CAMERA_FILE, camera, camera_name)
