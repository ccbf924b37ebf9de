"""``geometry_msgs/Point`` lists to numpy and back."""

from __future__ import annotations

from geometry_msgs.msg import Point
import numpy as np


def points_from_array(points) -> list[Point]:
    """A list of ``geometry_msgs/Point`` from an (N, 3) array."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f'points must be (N, 3), got {points.shape}')
    return [Point(x=x, y=y, z=z) for x, y, z in points.tolist()]


def points_to_array(points) -> np.ndarray:
    """An (N, 3) float64 array from a sequence of ``geometry_msgs/Point``."""
    if len(points) == 0:
        return np.zeros((0, 3))
    return np.array([(p.x, p.y, p.z) for p in points], dtype=np.float64)
