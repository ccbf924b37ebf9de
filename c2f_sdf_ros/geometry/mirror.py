"""
Left-right mirroring of a camera frame and everything measured in it.

Mirroring reflects the scene in the camera's y-z plane: a 3D point (x, y, z) becomes
(-x, y, z), the image is flipped horizontally and the principal point moves to
cx' = W - 1 - cx (pixel centres at integer coordinates), so a mirrored point projects
with the mirrored intrinsics onto the mirrored pixel, u' = W - 1 - u. A reflection keeps
distances and insides, so signed distances are unchanged; it turns a left hand into a
right one, and reverses the winding of mesh faces (their normals would point inwards
otherwise). Every function here is an involution: applying it twice gives back its input.

Training mirrors left-hand frames into right-hand ones (``canonical_side``); inference
mirrors a left hand's frame the same way and un-mirrors what the model predicts with
``mirror_points`` (points, joints, vertices) and ``mirror_faces`` (mesh faces).
"""

from __future__ import annotations

import numpy as np

from c2f_sdf_ros.geometry.camera import CameraIntrinsics

SIDES = ('left', 'right')
# Index of the tangential coefficient p2 (the one multiplying x) in these distortion models'
# coefficient lists (k1, k2, p1, p2, ...); mirroring x changes its sign.
_P2_INDEX = {'plumb_bob': 3, 'rational_polynomial': 3}


def mirror_image(image: np.ndarray) -> np.ndarray:
    """
    Flip an image left-right (colour, depth, mask or any per-pixel map).

    Parameters
    ----------
    image : (H, W) or (H, W, C) array
        Any dtype.

    Returns
    -------
    (H, W) or (H, W, C) array
        A contiguous copy with column u moved to column W - 1 - u.

    Raises
    ------
    ValueError
        If ``image`` is not 2- or 3-dimensional.

    """
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f'image must be (H, W) or (H, W, C), got shape {image.shape}')
    return np.ascontiguousarray(image[:, ::-1])


def mirror_camera(camera: CameraIntrinsics) -> CameraIntrinsics:
    """
    The intrinsics of the mirrored image.

    Parameters
    ----------
    camera : CameraIntrinsics
        Intrinsics of the image before mirroring.

    Returns
    -------
    CameraIntrinsics
        Same size and focal lengths, cx' = W - 1 - cx; the distortion's tangential p2
        changes sign (plumb_bob, rational_polynomial). Twice gives back ``camera`` (cx
        exactly whenever W - 1 - cx is a float64, e.g. any cx in [(W - 1) / 2, W - 1]).

    Raises
    ------
    ValueError
        If ``camera`` is not a ``CameraIntrinsics``.

    """
    if not isinstance(camera, CameraIntrinsics):
        raise ValueError(f'camera must be CameraIntrinsics, got {type(camera).__name__}')
    distortion = list(camera.distortion)
    index = _P2_INDEX.get(camera.distortion_model)
    if index is not None and index < len(distortion):
        distortion[index] = -distortion[index]
    return CameraIntrinsics(camera.width, camera.height, camera.fx, camera.fy,
                            (camera.width - 1) - camera.cx, camera.cy,
                            camera.distortion_model, tuple(distortion))


def mirror_points(points: np.ndarray) -> np.ndarray:
    """
    Mirror 3D points (camera frame): x -> -x.

    Parameters
    ----------
    points : (..., 3) array
        Points, joints, vertices, a hand root or an object centre; any unit.

    Returns
    -------
    (..., 3) float array
        A copy with the first coordinate negated (exact: twice is the identity).

    Raises
    ------
    ValueError
        If the last axis is not of size 3.

    """
    points = np.array(points, dtype=np.result_type(np.asarray(points).dtype, np.float32))
    if points.ndim < 1 or points.shape[-1] != 3:
        raise ValueError(f'points must be (..., 3), got shape {points.shape}')
    points[..., 0] = -points[..., 0]
    return points


def mirror_faces(faces: np.ndarray) -> np.ndarray:
    """
    Reverse the winding of triangles, as mirroring their vertices requires.

    Parameters
    ----------
    faces : (F, 3) int array
        Vertex indices of each triangle.

    Returns
    -------
    (F, 3) int array
        Each triangle (a, b, c) as (c, b, a): the same triangle, outward normals kept
        outward once its vertices are mirrored.

    Raises
    ------
    ValueError
        If ``faces`` is not (F, 3) of integers.

    """
    faces = np.asarray(faces)
    if faces.ndim != 2 or faces.shape[1] != 3 or not np.issubdtype(faces.dtype, np.integer):
        raise ValueError(f'faces must be (F, 3) integers, got {faces.dtype} {faces.shape}')
    return np.ascontiguousarray(faces[:, ::-1])


def mirror_mesh(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """
    Mirror a triangle mesh: vertices x -> -x and the faces' winding reversed.

    Parameters
    ----------
    vertices : (V, 3) array
        Vertex positions (camera frame).
    faces : (F, 3) int array
        Triangles.

    Returns
    -------
    vertices : (V, 3) float array
    faces : (F, 3) int array

    Raises
    ------
    ValueError
        On malformed vertices or faces (see ``mirror_points``, ``mirror_faces``).

    """
    vertices = np.asarray(vertices)
    if vertices.ndim != 2:
        raise ValueError(f'vertices must be (V, 3), got shape {vertices.shape}')
    return mirror_points(vertices), mirror_faces(faces)


def mirror_sdf_samples(samples: np.ndarray) -> np.ndarray:
    """
    Mirror signed-distance samples: the points move, their distances stay.

    Parameters
    ----------
    samples : (M, 3 + K) array
        Rows [x, y, z, sdf_1, ..., sdf_K] (the data's [x, y, z, sdf_hand, sdf_object]).

    Returns
    -------
    (M, 3 + K) array
        A copy with x negated and the K distances unchanged (a reflection keeps
        distances and which side of a surface a point is on).

    Raises
    ------
    ValueError
        If ``samples`` is not 2-dimensional with at least 3 columns.

    """
    samples = np.asarray(samples)
    if samples.ndim != 2 or samples.shape[1] < 3:
        raise ValueError(f'samples must be (M, 3 + K), got shape {samples.shape}')
    out = samples.astype(np.result_type(samples.dtype, np.float32), copy=True)
    out[:, 0] = -out[:, 0]
    return out


def mirror_side(side: str) -> str:
    """
    The side a hand has after mirroring: 'left' <-> 'right'.

    Raises
    ------
    ValueError
        If ``side`` is neither.

    """
    if side not in SIDES:
        raise ValueError(f'side must be one of {SIDES}, got {side!r}')
    return SIDES[1 - SIDES.index(side)]


def needs_mirror(side: str, canonical_side: str | None) -> bool:
    """
    Whether a hand of ``side`` must be mirrored for a model trained on ``canonical_side``.

    Parameters
    ----------
    side : str
        'left', 'right' or 'unknown' (a hand of unknown side is taken as it is).
    canonical_side : str or None
        The only side the model saw in training ('left' or 'right'); None: both sides
        as they were (no mirroring, e.g. weights trained before mirroring existed).

    Raises
    ------
    ValueError
        On any other ``side`` or ``canonical_side``.

    """
    if canonical_side is not None and canonical_side not in SIDES:
        raise ValueError(f'canonical_side must be one of {SIDES} or None, got '
                         f'{canonical_side!r}')
    if side not in (*SIDES, 'unknown'):
        raise ValueError(f"side must be one of {SIDES} or 'unknown', got {side!r}")
    return canonical_side is not None and side != 'unknown' and side != canonical_side
