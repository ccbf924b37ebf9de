"""Depth image unit conversions shared by files and ROS messages."""

import numpy as np

# uint16 millimetres reach 65.535 m; 0 is the conventional "no measurement".
MAX_DEPTH_MM = np.iinfo(np.uint16).max


def depth_mm_to_m(depth_mm: np.ndarray) -> np.ndarray:
    """
    Convert a uint16 depth image in millimetres to float32 metres.

    0 (no measurement) stays 0.
    """
    depth_mm = np.asarray(depth_mm)
    if depth_mm.dtype != np.uint16:
        raise ValueError(f'millimetre depth must be uint16, got {depth_mm.dtype}')
    # Division is correctly rounded (multiplying by float32(0.001) is not): the nearest
    # float32 to the true depth, the same in training data and on the camera.
    return depth_mm.astype(np.float32) / np.float32(1000.0)


def depth_m_to_mm(depth_m: np.ndarray) -> np.ndarray:
    """
    Convert a float depth image in metres to uint16 millimetres, rounding to the nearest mm.

    NaN, infinite, negative and zero depths become 0 (no measurement); depths beyond
    65.535 m raise ValueError rather than wrap.
    """
    depth_m = np.asarray(depth_m, dtype=np.float64)
    valid = np.isfinite(depth_m) & (depth_m > 0)
    mm = np.where(valid, np.rint(np.where(valid, depth_m, 0.0) * 1000.0), 0.0)
    if mm.max(initial=0.0) > MAX_DEPTH_MM:
        raise ValueError(f'depth {depth_m[valid].max():.3f} m does not fit uint16 millimetres')
    return mm.astype(np.uint16)
