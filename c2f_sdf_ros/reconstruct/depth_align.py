"""
Register a reconstructed hand to the depth the camera measured on it.

The model places the hand relative to its crop root; on real frames that placement is off
along the viewing ray by a centimetre or two (the detected wrist lies on the skin, the
model's root inside the wrist; the joint head has its own bias). The depth image measures
the visible hand surface directly, so the offset is observable: render the hand mesh into
the camera around the detected hand, compare with the observed depth where both exist,
and move the reconstruction along the viewing ray by the median difference. Pixels where
the difference is large are something else in front of or behind the hand (the held
object, the background) and are left out.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
import trimesh

from c2f_sdf_ros.geometry.camera import CameraIntrinsics
from c2f_sdf_ros.geometry.render import render_meshes

# Pixels farther than this (m) from the rendered surface are taken for other surfaces.
FINE_MAX_GAP = 0.04


def depth_gaps(mesh: trimesh.Trimesh, depth: np.ndarray, camera: CameraIntrinsics
               ) -> tuple[np.ndarray, np.ndarray]:
    """
    Rendered - observed depth (m) at each pixel where ``mesh`` is seen and depth measured.

    One render of the mesh (over the box it projects to), for as many offsets as are
    asked of it (``gap_offset``).

    Parameters
    ----------
    mesh : trimesh.Trimesh
        A surface in the camera optical frame (m).
    depth : (H, W) float
        Observed depth (m), 0 where missing, aligned to ``camera``.
    camera : CameraIntrinsics
        Intrinsics of ``depth``.

    Returns
    -------
    gaps : (K,) float64
        Positive where the mesh lies behind the observed surface.
    pixels : (K, 2) int
        (row, column) of each gap in ``depth``.

    """
    if depth.shape != (camera.height, camera.width):
        raise ValueError(f'depth {depth.shape} does not match the camera '
                         f'{camera.height}x{camera.width}')
    none = np.zeros(0), np.zeros((0, 2), int)
    vertices = np.asarray(mesh.vertices, float)
    projected = camera.project(vertices[vertices[:, 2] > 1e-3])
    if len(projected) == 0:
        return none
    # Render only the box the mesh projects to (a few hundred pixels a side at most).
    u0, v0 = np.clip(np.floor(projected.min(0)).astype(int) - 1, 0, None)
    u1 = min(int(np.ceil(projected[:, 0].max())) + 2, camera.width)
    v1 = min(int(np.ceil(projected[:, 1].max())) + 2, camera.height)
    if u1 <= u0 or v1 <= v0:
        return none
    window = CameraIntrinsics(u1 - u0, v1 - v0, camera.fx, camera.fy, camera.cx - u0,
                              camera.cy - v0)
    view = render_meshes([mesh], window)
    observed = depth[v0:v1, u0:u1]
    rows, cols = np.nonzero((view.index == 0) & (observed > 0))
    gaps = view.depth[rows, cols].astype(np.float64) - observed[rows, cols]
    return gaps, np.stack([rows + v0, cols + u0], axis=1)


def gap_offset(gaps: np.ndarray, max_gap: float = FINE_MAX_GAP,
               min_pixels: int = 30) -> float:
    """
    Median of ``gaps`` within ``max_gap`` (m); 0.0 when fewer than ``min_pixels`` are.

    Gaps beyond ``max_gap`` are other surfaces in front of or behind the mesh.
    """
    if max_gap <= 0 or min_pixels < 1:
        raise ValueError('max_gap must be > 0 and min_pixels >= 1')
    gaps = np.asarray(gaps, float)
    gaps = gaps[np.abs(gaps) < max_gap]
    if len(gaps) < min_pixels:
        return 0.0
    return float(np.median(gaps))


def depth_offset(mesh: trimesh.Trimesh, depth: np.ndarray, camera: CameraIntrinsics,
                 max_gap: float = FINE_MAX_GAP, min_pixels: int = 30,
                 mask: np.ndarray | None = None) -> float:
    """
    Median (rendered - observed) depth (m) over the pixels where ``mesh`` is seen.

    Parameters
    ----------
    mesh : trimesh.Trimesh
        A surface in the camera optical frame (m).
    depth : (H, W) float
        Observed depth (m), 0 where missing, aligned to ``camera``.
    camera : CameraIntrinsics
        Intrinsics of ``depth``.
    max_gap : float
        Pixels whose difference exceeds this (m) are other surfaces and are ignored.
    min_pixels : int
        Fewer agreeing pixels than this: no estimate (0.0).
    mask : (H, W) bool array, optional
        Compare only these pixels (e.g. where the observed surface is known to be the
        mesh's object), which allows a larger ``max_gap``.

    Returns
    -------
    float: positive when the mesh lies behind the observed surface.

    """
    if max_gap <= 0 or min_pixels < 1:
        raise ValueError('max_gap must be > 0 and min_pixels >= 1')
    if mask is not None and np.shape(mask) != depth.shape:
        raise ValueError(f'mask {np.shape(mask)} does not match depth {depth.shape}')
    gaps, pixels = depth_gaps(mesh, depth, camera)
    if mask is not None:
        gaps = gaps[np.asarray(mask, bool)[pixels[:, 0], pixels[:, 1]]]
    return gap_offset(gaps, max_gap, min_pixels)


def ray_shift(points: np.ndarray, offset_z: float) -> np.ndarray:
    """
    The (3,) translation that moves ``points`` (N, 3) by ``offset_z`` in depth.

    Along the viewing ray through their centre, so their image stays where it is.
    """
    centre = np.asarray(points, float).reshape(-1, 3).mean(0)
    if centre[2] <= 0:
        raise ValueError('the points must lie in front of the camera')
    return offset_z * centre / centre[2]


def points_mask(points: np.ndarray, camera: CameraIntrinsics, grow: int = 0) -> np.ndarray:
    """
    (H, W) bool image of the pixels that ``points`` (N, 3, camera frame) project to.

    ``grow`` dilates it by that many pixels (points sampled every k-th pixel need about
    k // 2 to cover their area). Points behind the camera or outside the image are left out.
    """
    points = np.asarray(points, float).reshape(-1, 3)
    if grow < 0:
        raise ValueError(f'grow must be >= 0, got {grow}')
    mask = np.zeros((camera.height, camera.width), bool)
    points = points[points[:, 2] > 1e-3]
    if len(points) == 0:
        return mask
    uv = np.round(camera.project(points)).astype(int)
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < camera.width) & (uv[:, 1] >= 0) \
        & (uv[:, 1] < camera.height)
    uv = uv[inside]
    if len(uv) == 0:
        return mask
    mask[uv[:, 1], uv[:, 0]] = True
    if grow:
        # Dilate only the points' box (padded by grow), not the whole image: this runs
        # per hand per frame.
        u0, v0 = np.maximum(uv.min(axis=0) - grow, 0)
        u1 = min(int(uv[:, 0].max()) + grow + 1, camera.width)
        v1 = min(int(uv[:, 1].max()) + grow + 1, camera.height)
        mask[v0:v1, u0:u1] = ndimage.binary_dilation(mask[v0:v1, u0:u1], iterations=grow)
    return mask
