"""Draw reconstructed meshes over the color image they came from (a quick visual check)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image
import trimesh

from c2f_sdf_ros.geometry.camera import CameraIntrinsics
from c2f_sdf_ros.geometry.render import render_meshes, shaded_image

HAND_RGB = (255, 140, 90)
OBJECT_RGB = (70, 140, 255)


def overlay_meshes(color: np.ndarray, camera: CameraIntrinsics,
                   meshes: Sequence[tuple[trimesh.Trimesh, tuple[int, int, int]]],
                   alpha: float = 0.6) -> Image.Image:
    """
    Shaded meshes (camera optical frame, metres) composited over ``color``.

    Each pixel shows the nearest surface (ray casting, ``geometry.render``), shaded by how
    squarely it faces the camera.

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
    color = np.asarray(color, np.uint8)
    view = render_meshes([mesh for mesh, _ in meshes], camera)
    base = color.astype(np.float64) / 255.0
    shaded, covered = shaded_image(view, [np.asarray(rgb, float) / 255.0 for _, rgb in meshes],
                                   base)
    blended = np.where(covered[..., None], alpha * shaded + (1.0 - alpha) * base, base)
    return Image.fromarray(np.round(blended * 255.0).astype(np.uint8))
