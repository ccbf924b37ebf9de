"""Evaluation output: the Markdown table, metric distributions and a mesh gallery."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import open3d as o3d
from PIL import Image
import trimesh

from c2f_sdf_ros.geometry.camera import CameraIntrinsics

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

# Column -> (header, format); Chamfer in cm^2, penetration cm, intersection cm^3.
TABLE_COLUMNS = {
    'cd_h': ('CD_h (cm²) ↓', '{:.3f}'), 'f_h@1': ('F_h@1mm ↑', '{:.3f}'),
    'f_h@5': ('F_h@5mm ↑', '{:.3f}'), 'cd_o': ('CD_o (cm²) ↓', '{:.3f}'),
    'f_o@5': ('F_o@5mm ↑', '{:.3f}'), 'f_o@10': ('F_o@10mm ↑', '{:.3f}'),
    'penetration_cm': ('Pen. (cm)', '{:.2f}'), 'intersection_cm3': ('Int. (cm³)', '{:.2f}'),
    'contact': ('Contact', '{:.2f}'), 'root_error_mm': ('Root err. (mm)', '{:.1f}'),
}
HAND_COLOR = (0.85, 0.45, 0.35)
OBJECT_COLOR = (0.30, 0.50, 0.85)


def _cell(value, fmt: str) -> str:
    return '—' if value is None or (isinstance(value, float) and math.isnan(value)) \
        else fmt.format(value)


def markdown_table(results: dict[str, dict[str, dict]]) -> str:
    """
    One row per (model, protocol).

    ``results[model][protocol]`` is a summary from ``evaluate.summarise``.
    """
    header = ['Model', 'Protocol', 'Frames'] + [h for h, _ in TABLE_COLUMNS.values()] + \
        ['No mesh (h/o)']
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for model, protocols in results.items():
        for protocol, summary in protocols.items():
            cells = [model, protocol, str(summary['frames'])]
            cells += [_cell(summary.get(key), fmt) for key, (_, fmt) in TABLE_COLUMNS.items()]
            cells.append(f'{summary["missing_hand"]}/{summary["missing_object"]}')
            lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def plot_distributions(per_frame: dict[str, dict[str, list[dict]]], path) -> None:
    """Box plots of per-frame metrics, one box per (model, protocol)."""
    keys = ['cd_h', 'f_h@5', 'cd_o', 'f_o@10']
    labels, columns = [], {key: [] for key in keys}
    for model, protocols in per_frame.items():
        for protocol, rows in protocols.items():
            labels.append(f'{model}\n{protocol}')
            for key in keys:
                values = np.array([row[key] for row in rows], float)
                columns[key].append(values[np.isfinite(values)])
    figure, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 4.5))
    for axis, key in zip(axes, keys, strict=True):
        axis.boxplot(columns[key], showfliers=True)
        axis.set_xticks(range(1, len(labels) + 1), labels, rotation=90, fontsize=7)
        axis.set_title(TABLE_COLUMNS[key][0])
        if key.startswith('cd') and any(len(c) and c.max() > 0 for c in columns[key]):
            axis.set_yscale('log')
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def render_meshes(meshes: list[tuple[trimesh.Trimesh | None, tuple]],
                  camera: CameraIntrinsics, background=(1.0, 1.0, 1.0)) -> np.ndarray:
    """
    Shade ``(mesh, rgb)`` pairs (camera optical frame) as seen by ``camera``.

    Open3D ray casting, headless; returns (H, W, 3) uint8. Missing meshes are skipped.
    """
    scene = o3d.t.geometry.RaycastingScene()
    colors = {}
    for mesh, color in meshes:
        if mesh is None or len(mesh.faces) == 0:
            continue
        geometry = scene.add_triangles(o3d.core.Tensor(np.asarray(mesh.vertices, np.float32)),
                                       o3d.core.Tensor(np.asarray(mesh.faces, np.uint32)))
        colors[geometry] = np.asarray(color, np.float32)
    image = np.ones((camera.height, camera.width, 3), np.float32) * np.asarray(background)
    if colors:
        rays = o3d.t.geometry.RaycastingScene.create_rays_pinhole(
            o3d.core.Tensor(camera.K), o3d.core.Tensor(np.eye(4)), camera.width,
            camera.height)
        hits = scene.cast_rays(rays)
        ids = hits['geometry_ids'].numpy()
        normals = hits['primitive_normals'].numpy()
        directions = rays.numpy()[..., 3:]
        directions /= np.linalg.norm(directions, axis=-1, keepdims=True)
        shade = 0.25 + 0.75 * np.abs(np.sum(normals * directions, -1))
        for geometry, color in colors.items():
            mask = ids == geometry
            image[mask] = shade[mask, None] * color
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def gallery(rows: list[list[np.ndarray]], titles: list[str], path) -> None:
    """Save a grid of equally sized images; ``titles`` label the columns."""
    figure, axes = plt.subplots(len(rows), len(titles), squeeze=False,
                                figsize=(2.4 * len(titles), 2.4 * len(rows)))
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            axes[r, c].imshow(image)
            axes[r, c].axis('off')
            if r == 0:
                axes[r, c].set_title(titles[c], fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def save_png(image: np.ndarray, path) -> None:
    """Write an RGB uint8 image."""
    Image.fromarray(image).save(path)
