"""
The one check of an RGB-D frame (numpy arrays), shared by the ROS input and the pipeline.

A frame that fails raises ``FrameError`` with a short ``reason`` key, so whoever counts
dropped frames (the node's diagnostics, the monitor) counts the same failure the same way
wherever it is found.
"""

from __future__ import annotations

import numpy as np

# Reasons a frame is refused (keys of the nodes' drop counters).
REASONS = ('camera_info', 'color_encoding', 'depth_encoding', 'size_mismatch',
           'malformed_image', 'empty_depth')


class FrameError(ValueError):
    """
    A frame that cannot be used; ``reason`` (one of ``REASONS``) is its counting key.

    Parameters
    ----------
    reason : str
        One of ``REASONS``.
    detail : str
        What was wrong, for a log line.

    """

    def __init__(self, reason: str, detail: str):
        if reason not in REASONS:
            raise ValueError(f'unknown frame error reason {reason!r}')
        super().__init__(f'{reason}: {detail}')
        self.reason = reason
        self.detail = detail


def check_intrinsics(K: np.ndarray) -> np.ndarray:
    """
    A 3x3 intrinsic matrix as float64; FrameError('camera_info') if it is not usable.

    Usable: finite, positive focal lengths (a zero matrix is an uncalibrated camera).
    """
    K = np.asarray(K, float)
    if K.shape != (3, 3) or not np.all(np.isfinite(K)) or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise FrameError('camera_info', f'K must be a finite 3x3 matrix with positive focal '
                         f'lengths (is the camera calibrated?), got {K.tolist()}')
    return K


def check_rgbd(color: np.ndarray, depth: np.ndarray, K: np.ndarray) -> np.ndarray:
    """
    Validate one frame; returns the depth with NaN/inf/negative values as 0 (missing).

    Parameters
    ----------
    color : (H, W, 3) uint8
        RGB image.
    depth : (H, W) float
        Depth in metres aligned to color.
    K : (3, 3) array
        Intrinsics of color (and depth).

    Returns
    -------
    (H, W) float32 depth in metres, 0 where missing.

    Raises
    ------
    FrameError
        ``malformed_image`` for wrong shapes or dtypes, ``size_mismatch`` when color and
        depth differ in size, ``camera_info`` for an unusable K, ``empty_depth`` when no
        pixel has a valid depth.

    """
    color = np.asarray(color)
    depth = np.asarray(depth)
    if color.ndim != 3 or color.shape[2] != 3 or color.dtype != np.uint8:
        raise FrameError('malformed_image',
                         f'color must be (H, W, 3) uint8, got {color.shape} {color.dtype}')
    if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.floating):
        raise FrameError('malformed_image',
                         f'depth must be (H, W) float metres, got {depth.shape} {depth.dtype}')
    if depth.shape != color.shape[:2]:
        raise FrameError('size_mismatch', f'depth {depth.shape[::-1]} and color '
                         f'{color.shape[1::-1]} sizes differ; the depth image must be aligned '
                         'to color (RealSense: align_depth.enable:=true)')
    check_intrinsics(K)
    depth = np.where(np.isfinite(depth) & (depth > 0), depth, 0.0).astype(np.float32)
    if not depth.any():
        raise FrameError('empty_depth', 'depth has no valid measurement (all zero, NaN or '
                         'negative)')
    return depth
