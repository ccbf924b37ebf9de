"""Draw reconstructed meshes over the color image they came from (a quick visual check)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw
import trimesh

from c2f_sdf_ros.geometry.camera import CameraIntrinsics

HAND_RGB = (255, 140, 90)
OBJECT_RGB = (70, 140, 255)


def overlay_meshes(color: np.ndarray, camera: CameraIntrinsics,
                   meshes: Sequence[tuple[trimesh.Trimesh, tuple[int, int, int]]],
                   alpha: float = 0.6) -> Image.Image:
    """
    Shaded meshes (camera optical frame, metres) composited over ``color``.

    Triangles are drawn far to near (painter's algorithm: enough for a hand and an object,
    and it needs no OpenGL), shaded by how squarely they face the camera.

    Parameters
    ----------
    color : (H, W, 3) uint8
        RGB image.
    camera : CameraIntrinsics
        Intrinsics of ``color``.
    meshes : sequence of (mesh, (r, g, b))
        Meshes and their 8-bit colours.
    alpha : float
        Opacity of the meshes.

    Returns
    -------
    PIL.Image (RGB)

    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f'alpha must be in [0, 1], got {alpha}')
    base = Image.fromarray(np.asarray(color, np.uint8)).convert('RGBA')
    layer = Image.new('RGBA', base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    triangles, depths, colors = [], [], []
    for mesh, rgb in meshes:
        if mesh is None or len(mesh.faces) == 0:
            continue
        corners = np.asarray(mesh.vertices)[np.asarray(mesh.faces)]      # (F, 3, 3)
        z = corners[..., 2]
        keep = np.all(z > 1e-3, axis=1)
        corners = corners[keep]
        normals = np.asarray(mesh.face_normals)[keep]
        centres = corners.mean(1)
        view = centres / np.linalg.norm(centres, axis=1, keepdims=True)
        shade = 0.35 + 0.65 * np.abs(np.sum(normals * view, axis=1))
        pixels = camera.project(corners.reshape(-1, 3)).reshape(-1, 3, 2)
        triangles.append(pixels)
        depths.append(centres[:, 2])
        colors.append(np.clip(np.asarray(rgb)[None] * shade[:, None], 0, 255).astype(int))
    if triangles:
        pixels = np.concatenate(triangles)
        order = np.argsort(-np.concatenate(depths))
        shaded = np.concatenate(colors)
        for index in order:
            r, g, b = shaded[index]
            draw.polygon([tuple(p) for p in pixels[index]], fill=(r, g, b, 255))
    # Opaque triangles first (near ones hide far ones), then one uniform opacity.
    layer.putalpha(layer.getchannel('A').point(lambda a: int(round(a * alpha))))
    return Image.alpha_composite(base, layer).convert('RGB')
