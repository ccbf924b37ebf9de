"""
Signed-distance samples computed from meshes (open3d ray casting, headless).

The reference implementations get their SDF samples from DeepSDF's OpenGL sampler, which
needs a display and hundreds of GB of preprocessed files. Here a sample set is a few
thousand rows computed from the ground-truth meshes in milliseconds, so it can be cached
per frame (a small ``.npy``) or computed on the fly during training.

Layout of a sample set (the synthetic data's ``sdf/*.npy``): float32 rows
``[x, y, z, sdf_hand, sdf_object]`` in the camera frame (metres), the first half near the
hand surface and the second half near the object surface plus uniform points around the
hand; negative inside.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import trimesh

from c2f_sdf_ros.geometry.mesh import MeshSdf

# (N, 3) points -> (N,) signed distances, negative inside.
DistanceFn = Callable[[np.ndarray], np.ndarray]
SDF_COLUMNS = ('x', 'y', 'z', 'sdf_hand', 'sdf_object')
# Near-surface offsets (m): half of the points close to the surface, half a little further,
# as the synthetic generator (and DeepSDF) draw them.
NEAR_SIGMAS = (0.0025, 0.01)


def surface_points(mesh: trimesh.Trimesh, count: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` area-weighted random points on ``mesh`` and their face normals."""
    areas = mesh.area_faces
    faces = rng.choice(len(areas), size=count, p=areas / areas.sum())
    r1, r2 = rng.random(count), rng.random(count)
    flip = r1 + r2 > 1
    r1[flip], r2[flip] = 1 - r1[flip], 1 - r2[flip]
    triangles = mesh.triangles[faces]
    points = (triangles[:, 0] + r1[:, None] * (triangles[:, 1] - triangles[:, 0])
              + r2[:, None] * (triangles[:, 2] - triangles[:, 0]))
    return points, mesh.face_normals[faces]


def near_surface_points(mesh: trimesh.Trimesh, distance: DistanceFn, count: int,
                        rng: np.random.Generator) -> np.ndarray:
    """
    ``count`` points near ``mesh``, half inside and half outside where possible.

    ``distance`` is any (N, 3) -> (N,) signed distance: a ``MeshSdf``, or an analytic
    one (the synthetic generator's).

    Surface points are pushed along their normals by N(0, sigma) with sigma one of
    ``NEAR_SIGMAS``; the signed distance then picks the inside / outside halves.
    """
    points, normals = surface_points(mesh, 4 * count, rng)
    sigma = np.where(rng.random(len(points)) < 0.5, *NEAR_SIGMAS)
    candidates = points + normals * (rng.normal(size=len(points)) * sigma)[:, None]
    d = distance(candidates)
    inside, outside = np.flatnonzero(d < 0), np.flatnonzero(d >= 0)
    n_in = min(count // 2, len(inside))
    chosen = np.concatenate([inside[:n_in], outside[:count - n_in]])
    return candidates[chosen]


def sample_sdf(hand: trimesh.Trimesh, obj: trimesh.Trimesh, center: np.ndarray,
               rng: np.random.Generator, near: int = 1000, uniform: int = 200,
               half_extent: float = 0.15) -> np.ndarray:
    """
    One frame's SDF sample set (see the module docstring for the layout).

    Parameters
    ----------
    hand, obj : trimesh.Trimesh
        Watertight ground-truth meshes in the camera frame (m).
    center : (3,) array
        Centre of the uniform samples (the hand root).
    rng : numpy Generator
        Random stream (the result is deterministic given it).
    near : int
        Points near each surface.
    uniform : int
        Points uniform in the cube ``center +- half_extent``.
    half_extent : float
        Half side (m) of that cube.

    Returns
    -------
    (2 * near + uniform, 5) float32 array.

    """
    if near < 2 or uniform < 0 or half_extent <= 0:
        raise ValueError(f'need near >= 2, uniform >= 0, half_extent > 0; got {near}, '
                         f'{uniform}, {half_extent}')
    hand_sdf, object_sdf = MeshSdf.from_mesh(hand), MeshSdf.from_mesh(obj)
    points = np.concatenate([
        near_surface_points(hand, hand_sdf, near, rng),
        near_surface_points(obj, object_sdf, near, rng),
        np.asarray(center, float) + rng.uniform(-half_extent, half_extent, (uniform, 3))])
    return np.column_stack([points, hand_sdf(points), object_sdf(points)]).astype(np.float32)
