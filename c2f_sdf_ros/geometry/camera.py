"""Pinhole camera intrinsics, projection, back-projection and calibration files."""

from __future__ import annotations

from dataclasses import dataclass, field
import math
import os

import numpy as np
import yaml

# Distortion models that sensor_msgs/CameraInfo names (sensor_msgs/distortion_models.hpp).
DISTORTION_MODELS = ('plumb_bob', 'rational_polynomial', 'equidistant', '')


@dataclass(frozen=True)
class CameraIntrinsics:
    """
    Pinhole intrinsics of an image of ``width`` x ``height`` pixels.

    Parameters
    ----------
    width, height : int
        Image size in pixels.
    fx, fy, cx, cy : float
        Focal lengths and principal point in pixels (K = [[fx, 0, cx], [0, fy, cy], [0, 0, 1]]).
    distortion_model : str
        As in sensor_msgs/CameraInfo; the pipeline assumes rectified images and only records it.
    distortion : tuple of float
        Distortion coefficients of ``distortion_model``.

    Raises
    ------
    ValueError
        On a non-positive size or focal length, or a non-finite value.

    """

    width: int
    height: int
    fx: float
    fy: float
    cx: float
    cy: float
    distortion_model: str = 'plumb_bob'
    distortion: tuple[float, ...] = field(default=(0.0, 0.0, 0.0, 0.0, 0.0))

    def __post_init__(self):
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise ValueError(f'image size must be positive, got {self.width}x{self.height}')
        values = (self.fx, self.fy, self.cx, self.cy, *self.distortion)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f'intrinsics must be finite, got {values}')
        if self.fx <= 0 or self.fy <= 0:
            raise ValueError(f'focal lengths must be positive, got fx={self.fx}, fy={self.fy}')
        object.__setattr__(self, 'width', int(self.width))
        object.__setattr__(self, 'height', int(self.height))
        object.__setattr__(self, 'distortion', tuple(float(v) for v in self.distortion))

    @classmethod
    def from_matrix(cls, K, width: int, height: int, distortion_model: str = 'plumb_bob',
                    distortion=(0.0, 0.0, 0.0, 0.0, 0.0)) -> CameraIntrinsics:
        """Build from a 3x3 (or row-major 9-element) camera matrix K."""
        K = np.asarray(K, dtype=np.float64)
        if K.size != 9:
            raise ValueError(f'K must have 9 elements, got shape {K.shape}')
        K = K.reshape(3, 3)
        if K[0, 1] != 0 or K[1, 0] != 0 or K[2, 0] != 0 or K[2, 1] != 0 or K[2, 2] != 1:
            raise ValueError(f'K is not a pinhole camera matrix (no skew, last row 0 0 1): {K}')
        return cls(width, height, float(K[0, 0]), float(K[1, 1]), float(K[0, 2]),
                   float(K[1, 2]), distortion_model, tuple(distortion))

    @property
    def K(self) -> np.ndarray:
        """Camera matrix, float64 (3, 3)."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.width, self.height

    def project(self, points: np.ndarray) -> np.ndarray:
        """
        Project camera-frame points to pixel coordinates.

        Parameters
        ----------
        points : (N, 3) array
            Points in the camera optical frame (x right, y down, z forward), metres, z > 0.

        Returns
        -------
        (N, 2) float64 array of (u, v) pixel coordinates (pixel centres at integers).

        """
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 3:
            raise ValueError(f'points must be (N, 3), got {points.shape}')
        z = points[:, 2]
        if np.any(z <= 0):
            raise ValueError('cannot project points at or behind the camera (z <= 0)')
        return np.stack([self.fx * points[:, 0] / z + self.cx,
                         self.fy * points[:, 1] / z + self.cy], axis=1)

    def backproject(self, depth: np.ndarray) -> np.ndarray:
        """
        Lift a depth image to camera-frame points.

        Parameters
        ----------
        depth : (height, width) float array
            Depth along the optical axis in metres; 0 or NaN means no measurement.

        Returns
        -------
        (height, width, 3) float32 array of points; invalid pixels are NaN.

        """
        depth = np.asarray(depth, dtype=np.float32)
        if depth.shape != (self.height, self.width):
            raise ValueError(
                f'depth is {depth.shape[::-1]} (w, h) but the camera is {self.size}')
        v, u = np.indices(depth.shape, dtype=np.float32)
        z = np.where(depth > 0, depth, np.nan)
        return np.stack([(u - self.cx) * z / self.fx, (v - self.cy) * z / self.fy, z], axis=-1)

    def scaled(self, sx: float, sy: float | None = None) -> CameraIntrinsics:
        """Intrinsics of the same camera with the image resized by (sx, sy)."""
        sy = sx if sy is None else sy
        if sx <= 0 or sy <= 0:
            raise ValueError(f'scale factors must be positive, got {sx}, {sy}')
        # Pixel centres sit at integer coordinates, so the principal point moves by half a
        # pixel under scaling.
        return CameraIntrinsics(
            round(self.width * sx), round(self.height * sy), self.fx * sx, self.fy * sy,
            (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5,
            self.distortion_model, self.distortion)


def _matrix_entry(data: dict, key: str, rows: int, cols: int | None) -> np.ndarray:
    entry = data.get(key)
    if not isinstance(entry, dict) or 'data' not in entry:
        raise ValueError(f'camera calibration file has no "{key}: {{rows, cols, data}}" entry')
    try:
        values = np.asarray(entry['data'], dtype=np.float64).ravel()
    except (TypeError, ValueError) as error:
        raise ValueError(f'"{key}" data must be a list of numbers: {error}') from None
    if cols is not None and values.size != rows * cols:
        raise ValueError(f'"{key}" must have {rows * cols} values, got {values.size}')
    return values


def load_camera_yaml(path: str | os.PathLike) -> CameraIntrinsics:
    """
    Read a camera calibration YAML in the format of ROS camera_calibration_parsers.

    Keys: ``image_width``, ``image_height``, ``camera_matrix`` (rows, cols, data),
    ``distortion_model``, ``distortion_coefficients``; the rectification and projection
    matrices are accepted and ignored.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not such a calibration or its values are invalid.

    """
    with open(path, encoding='utf-8') as stream:
        try:
            data = yaml.safe_load(stream)
        except yaml.YAMLError as error:
            raise ValueError(f'{path}: not valid YAML: {error}') from error
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a mapping of calibration keys')
    try:
        width, height = int(data['image_width']), int(data['image_height'])
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f'{path}: needs integer image_width and image_height') from error
    try:
        K = _matrix_entry(data, 'camera_matrix', 3, 3)
        model = str(data.get('distortion_model', 'plumb_bob'))
        distortion = (_matrix_entry(data, 'distortion_coefficients', 1, None)
                      if 'distortion_coefficients' in data else np.zeros(5))
        return CameraIntrinsics.from_matrix(K, width, height, model, tuple(distortion))
    except ValueError as error:
        raise ValueError(f'{path}: {error}') from error


def save_camera_yaml(path: str | os.PathLike, camera: CameraIntrinsics,
                     camera_name: str = 'camera') -> None:
    """Write ``camera`` as a ROS camera_calibration_parsers YAML file."""
    d = [float(v) for v in camera.distortion]
    P = [camera.fx, 0.0, camera.cx, 0.0, 0.0, camera.fy, camera.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    data = {
        'image_width': camera.width,
        'image_height': camera.height,
        'camera_name': camera_name,
        'camera_matrix': {'rows': 3, 'cols': 3, 'data': camera.K.ravel().tolist()},
        'distortion_model': camera.distortion_model,
        'distortion_coefficients': {'rows': 1, 'cols': len(d), 'data': d},
        'rectification_matrix': {'rows': 3, 'cols': 3, 'data': np.eye(3).ravel().tolist()},
        'projection_matrix': {'rows': 3, 'cols': 4, 'data': P},
    }
    with open(path, 'w', encoding='utf-8') as stream:
        yaml.safe_dump(data, stream, sort_keys=False)
