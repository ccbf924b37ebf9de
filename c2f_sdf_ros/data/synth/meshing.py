"""
Triangle meshes of signed distance fields by marching cubes (scikit-image, trimesh).

Convention: distances are negative inside and in metres; grids are sampled at
``origin + voxel * (i, j, k)``. Meshes come out closed, with outward normals (towards
positive distance), and are a pure function of the input (identical arrays every call).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from skimage.measure import marching_cubes
import trimesh

from c2f_sdf_ros.geometry.mesh import largest_component

__all__ = ['mesh_from_grid', 'mesh_from_sdf']


def _check_voxel(voxel: float) -> float:
    voxel = float(voxel)
    if not np.isfinite(voxel) or voxel <= 0:
        raise ValueError(f'voxel must be a positive finite size in metres, got {voxel}')
    return voxel


def _signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Volume enclosed by a closed mesh, negative for inward-facing triangles."""
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    return float(np.einsum('ij,ij->', a, np.cross(b, c))) / 6.0


def mesh_from_grid(values: np.ndarray, origin, voxel: float,
                   keep_largest: bool = True) -> trimesh.Trimesh:
    """
    Zero level set of a sampled signed distance field as a closed triangle mesh.

    Parameters
    ----------
    values : np.ndarray
        (nx, ny, nz) signed distances, negative inside, sampled at
        ``origin + voxel * (i, j, k)``. Every border value must be positive (the surface
        lies strictly inside the grid), otherwise the mesh would be open.
    origin : array_like
        (3,) position of sample (0, 0, 0) in metres.
    voxel : float
        Grid spacing in metres (> 0).
    keep_largest : bool
        Keep only the connected component with the most faces (drops specks and
        separate shapes).

    Returns
    -------
    trimesh.Trimesh
        Mesh in the frame of ``origin`` with outward normals (positive volume), not
        processed by trimesh (vertices and faces exactly as marching cubes made them).

    Raises
    ------
    ValueError
        On a grid that is not 3-D with at least 2 samples per axis, non-finite values, a
        bad ``origin`` or ``voxel``, no zero crossing, or a surface touching the border.

    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 3 or min(values.shape) < 2:
        raise ValueError(f'values must be a 3-D grid of at least 2 samples per axis, '
                         f'got shape {values.shape}')
    origin = np.asarray(origin, dtype=np.float64)
    if origin.shape != (3,) or not np.isfinite(origin).all():
        raise ValueError(f'origin must be 3 finite coordinates, got {origin!r}')
    voxel = _check_voxel(voxel)
    if not np.isfinite(values).all():
        raise ValueError('values contain NaN or infinite distances')
    if not (values < 0).any() or not (values > 0).any():
        raise ValueError('no zero crossing: the surface is not inside the grid '
                         f'(distances span [{values.min():.6g}, {values.max():.6g}])')
    border = np.concatenate([values[[0, -1]].ravel(), values[:, [0, -1]].ravel(),
                             values[:, :, [0, -1]].ravel()])
    if border.min() <= 0:
        raise ValueError('the surface touches the grid border, so the mesh would be open: '
                         'pad the grid so that every border value is positive')
    # A sample on (or within float noise of) the surface puts several marching-cubes
    # vertices on one point: zero-area faces, and pinched edges once anything merges
    # duplicate vertices. Keeping every |value| >= 1e-3 voxel keeps vertices apart by
    # ~1e-3 voxel (far above trimesh's merge tolerance) and moves none by more than that.
    eps = 1e-3 * voxel
    values = np.where(values >= 0.0, np.maximum(values, eps), np.minimum(values, -eps))
    vertices, faces, _, _ = marching_cubes(values, level=0.0, spacing=(voxel,) * 3,
                                           gradient_direction='descent',
                                           allow_degenerate=True)
    vertices = vertices.astype(np.float64) + origin
    faces = faces.astype(np.int64)
    if keep_largest:
        vertices, faces = largest_component(vertices, faces)
    # Marching cubes orients all faces consistently ('descent': outward for negative
    # inside); the check keeps that promise should the convention ever change.
    if _signed_volume(vertices - origin, faces) < 0:
        faces = faces[:, ::-1].copy()
    return trimesh.Trimesh(vertices, faces, process=False)


def mesh_from_sdf(sdf_fn: Callable[[np.ndarray], np.ndarray], lower, upper, voxel: float,
                  chunk: int = 262144) -> trimesh.Trimesh:
    """
    Mesh of the zero level set of ``sdf_fn`` inside the box [lower, upper].

    Parameters
    ----------
    sdf_fn : callable
        Maps points (N, 3) in metres to signed distances (N,), negative inside.
    lower, upper : array_like
        (3,) corners of a box that contains the whole surface; the grid covers it padded
        by 2 voxels on each side.
    voxel : float
        Grid spacing in metres (> 0).
    chunk : int
        Points per ``sdf_fn`` call (bounds memory).

    Returns
    -------
    trimesh.Trimesh
        See :func:`mesh_from_grid` (largest component kept).

    Raises
    ------
    ValueError
        On a bad box, voxel, chunk or ``sdf_fn`` output, or as :func:`mesh_from_grid`.

    """
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    if lower.shape != (3,) or upper.shape != (3,):
        raise ValueError('lower and upper must be 3 coordinates each')
    if not (np.isfinite(lower).all() and np.isfinite(upper).all() and (upper > lower).all()):
        raise ValueError(f'need finite lower < upper, got {lower} and {upper}')
    voxel = _check_voxel(voxel)
    chunk = int(chunk)
    if chunk < 1:
        raise ValueError(f'chunk must be positive, got {chunk}')
    origin = lower - 2.0 * voxel
    shape = tuple(int(n) for n in np.ceil((upper - lower) / voxel - 1e-9).astype(int) + 5)
    total = int(np.prod(shape))
    values = np.empty(total, dtype=np.float64)
    for start in range(0, total, chunk):
        flat = np.arange(start, min(start + chunk, total))
        points = origin + voxel * np.stack(np.unravel_index(flat, shape), axis=-1)
        d = np.asarray(sdf_fn(points), dtype=np.float64)
        if d.shape != flat.shape:
            raise ValueError(f'sdf_fn returned shape {d.shape} for {len(flat)} points')
        values[start:start + len(flat)] = d
    return mesh_from_grid(values.reshape(shape), origin, voxel)
