"""
Meshes seen by a pinhole camera: per-pixel mesh id, depth and shading (open3d ray casting).

One renderer for the overlays of the demo, the evaluation gallery and the depth agreement
of ``c2f-sdf eval-real``: headless (no OpenGL), exact per pixel, a few tens of
milliseconds for a 640x480 view of a hand and an object.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import open3d as o3d
import trimesh

from c2f_sdf_ros.geometry.camera import CameraIntrinsics


@dataclass(frozen=True)
class MeshView:
    """
    What the camera sees of a list of meshes.

    Attributes
    ----------
    index : (H, W) int
        Which mesh (position in the list given) each pixel sees; -1 for none.
    depth : (H, W) float
        Depth along the optical axis (m) of the surface seen; 0 where none.
    shade : (H, W) float
        In [ambient, 1]: how squarely the surface faces the viewing ray; 0 where none.

    """

    index: np.ndarray
    depth: np.ndarray
    shade: np.ndarray


def render_meshes(meshes: Sequence[trimesh.Trimesh | None], camera: CameraIntrinsics,
                  ambient: float = 0.3) -> MeshView:
    """
    Ray cast ``meshes`` (camera optical frame, metres) with ``camera``'s intrinsics.

    Parameters
    ----------
    meshes : sequence of trimesh.Trimesh or None
        None or empty meshes are skipped (their index never appears).
    camera : CameraIntrinsics
        Pinhole model of the image (fx may differ from fy).
    ambient : float
        Shade of a surface seen edge on; face on is 1 (Lambert-like in between).

    Returns
    -------
    MeshView

    """
    scene = o3d.t.geometry.RaycastingScene()
    geometry_to_index = {}
    for index, mesh in enumerate(meshes):
        if mesh is None or len(mesh.faces) == 0:
            continue
        geometry = scene.add_triangles(
            o3d.core.Tensor(np.asarray(mesh.vertices, np.float32)),
            o3d.core.Tensor(np.asarray(mesh.faces, np.uint32)))
        geometry_to_index[geometry] = index
    if not 0.0 <= ambient <= 1.0:
        raise ValueError(f'ambient must be in [0, 1], got {ambient}')
    shape = (camera.height, camera.width)
    view = MeshView(np.full(shape, -1, np.int64), np.zeros(shape), np.zeros(shape))
    if not geometry_to_index:
        return view
    rays = o3d.t.geometry.RaycastingScene.create_rays_pinhole(
        o3d.core.Tensor(camera.K), o3d.core.Tensor(np.eye(4)), camera.width, camera.height)
    hits = scene.cast_rays(rays)
    ids = hits['geometry_ids'].numpy().astype(np.int64)
    distance = hits['t_hit'].numpy().astype(np.float64)
    directions = rays.numpy()[..., 3:].astype(np.float64)
    # t_hit is in units of the ray direction, whose z is 1 for a pinhole ray: t is depth.
    depth = distance * directions[..., 2]
    unit = directions / np.linalg.norm(directions, axis=-1, keepdims=True)
    facing = np.abs(np.sum(hits['primitive_normals'].numpy() * unit, -1))
    for geometry, index in geometry_to_index.items():
        mask = ids == geometry
        view.index[mask] = index
        view.depth[mask] = depth[mask]
        view.shade[mask] = ambient + (1.0 - ambient) * facing[mask]
    return view


def shaded_image(view: MeshView, colors: Sequence[Sequence[float]],
                 background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """
    Colour a ``MeshView``: each mesh in its colour, scaled by the shade.

    Parameters
    ----------
    view : MeshView
        From ``render_meshes``.
    colors : sequence of (3,) floats in [0, 1]
        One colour per mesh index of the view.
    background : (H, W, 3) float array
        What pixels without a mesh show (in [0, 1]).

    Returns
    -------
    (image (H, W, 3) float in [0, 1], mask (H, W) bool of the pixels a mesh covers).

    """
    image = np.array(background, np.float64, copy=True)
    if image.shape != view.index.shape + (3,):
        raise ValueError(f'background must be {view.index.shape + (3,)}, got {image.shape}')
    for index, color in enumerate(colors):
        mask = view.index == index
        image[mask] = view.shade[mask, None] * np.asarray(color, float)
    return np.clip(image, 0.0, 1.0), view.index >= 0
