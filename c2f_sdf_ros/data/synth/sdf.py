"""
Signed distance primitives, vectorised over points (numpy, float64).

Every function takes points ``p`` of shape (N, 3) in the primitive's local frame and
returns (N,) distances in the same unit, negative inside. Primitives are exact signed
distances; ``smooth_union``/``union``/``subtract`` give bounds that are exact away from
the blend or cut regions, which is what marching cubes and near-surface samples need.
"""

from __future__ import annotations

import numpy as np


def sphere(p: np.ndarray, radius: float) -> np.ndarray:
    """Sphere of ``radius`` at the origin."""
    return np.linalg.norm(p, axis=-1) - radius


def round_box(p: np.ndarray, half_size, rounding: float = 0.0) -> np.ndarray:
    """Axis-aligned box of ``half_size`` (3,) with edges rounded by ``rounding``."""
    q = np.abs(p) - (np.asarray(half_size, dtype=np.float64) - rounding)
    outside = np.linalg.norm(np.maximum(q, 0.0), axis=-1)
    inside = np.minimum(q.max(axis=-1), 0.0)
    return outside + inside - rounding


def capped_cylinder(p: np.ndarray, radius: float, half_height: float,
                    rounding: float = 0.0) -> np.ndarray:
    """Cylinder along z, centred at the origin, edges rounded by ``rounding``."""
    d = np.stack([np.hypot(p[:, 0], p[:, 1]) - (radius - rounding),
                  np.abs(p[:, 2]) - (half_height - rounding)], axis=-1)
    return (np.minimum(d.max(axis=-1), 0.0) + np.linalg.norm(np.maximum(d, 0.0), axis=-1)
            - rounding)


def torus(p: np.ndarray, major: float, minor: float) -> np.ndarray:
    """Torus around the z axis (ring radius ``major``, tube radius ``minor``)."""
    q = np.stack([np.hypot(p[:, 0], p[:, 1]) - major, p[:, 2]], axis=-1)
    return np.linalg.norm(q, axis=-1) - minor


def round_cone(p: np.ndarray, a, b, radius_a: float, radius_b: float) -> np.ndarray:
    """
    Tapered capsule: spheres at ``a`` and ``b`` joined by their tangent cone.

    Exact distance (after Inigo Quilez's round-cone derivation); radii ``radius_a`` at
    ``a`` and ``radius_b`` at ``b``.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    ba = b - a
    l2 = float(ba @ ba)
    if l2 < 1e-18:
        return np.linalg.norm(p - a, axis=-1) - max(radius_a, radius_b)
    rr = radius_a - radius_b
    a2 = l2 - rr * rr
    il2 = 1.0 / l2
    pa = p - a
    y = pa @ ba
    z = y - l2
    x = pa * l2 - y[:, None] * ba
    x2 = np.einsum('ij,ij->i', x, x)
    y2 = y * y * l2
    z2 = z * z * l2
    k = np.sign(rr) * rr * rr * x2
    result = (np.sqrt(x2 * a2 * il2) + y * rr) * il2 - radius_a
    use_b = np.sign(z) * a2 * z2 > k
    use_a = np.sign(y) * a2 * y2 < k
    result = np.where(use_b, np.sqrt(x2 + z2) * il2 - radius_b, result)
    return np.where(use_a & ~use_b, np.sqrt(x2 + y2) * il2 - radius_a, result)


def smooth_union(d1: np.ndarray, d2: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum with blend width ``k`` (equals min where |d1-d2| >= k)."""
    if k <= 0:
        return np.minimum(d1, d2)
    h = np.clip(0.5 + 0.5 * (d2 - d1) / k, 0.0, 1.0)
    return d2 * (1.0 - h) + d1 * h - k * h * (1.0 - h)


def union(*distances: np.ndarray) -> np.ndarray:
    """Union of shapes."""
    return np.minimum.reduce(distances)


def subtract(d_from: np.ndarray, d_cut: np.ndarray) -> np.ndarray:
    """Shape ``d_from`` with shape ``d_cut`` removed."""
    return np.maximum(d_from, -d_cut)


def intersect(*distances: np.ndarray) -> np.ndarray:
    """Intersection of shapes."""
    return np.maximum.reduce(distances)


def apply_inverse(transform: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Points ``p`` (N, 3) expressed in the frame of the rigid ``transform`` (4, 4)."""
    rotation, translation = transform[:3, :3], transform[:3, 3]
    return (p - translation) @ rotation


def apply(transform: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Rigid ``transform`` (4, 4) applied to points ``p`` (N, 3)."""
    return p @ transform[:3, :3].T + transform[:3, 3]

