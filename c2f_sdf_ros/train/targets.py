"""
Training targets of one frame: SDF queries, joints, object centre and heatmaps.

They are normalised the way ``c2f_sdf_ros.model.inputs`` normalises the model input.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from c2f_sdf_ros.model.inputs import normalise

# Layout of a frame's SDF samples (every reader's: the synthetic generator's
# SDF_NEAR_SAMPLES, DexYCB's SDF_NEAR, ObMan's default sdf_near): rows [0, n) lie near the
# hand, [n, 2n) near the object, the rest uniform around the wrist, with n = NEAR_ROWS.
NEAR_ROWS = 1000


def heatmap_target(surface_points: np.ndarray, size: int, sigma: float = 1.0) -> np.ndarray:
    """
    Gaussian splats of normalised surface points on a size^3 grid over [-1, 1]^3.

    Returns (size, size, size) float32 in [0, 1] (1 at the densest voxel).
    """
    grid = np.zeros((size,) * 3, np.float32)
    if len(surface_points) == 0:
        return grid
    index = np.floor((np.asarray(surface_points) + 1.0) / 2.0 * size).astype(int)
    inside = np.all((index >= 0) & (index < size), axis=1)
    np.add.at(grid, tuple(index[inside].T), 1.0)
    grid = gaussian_filter(grid, sigma)
    peak = grid.max()
    return grid / peak if peak > 0 else grid


def make_targets(sdf_samples: np.ndarray, joints: np.ndarray, object_center: np.ndarray,
                 root: np.ndarray, norm_scale: float, num_queries: int, heatmap_size: int,
                 rng: np.random.Generator, extra_rows: np.ndarray | None = None,
                 near_rows: int = NEAR_ROWS) -> dict:
    """
    Normalised training targets.

    ``sdf_samples`` (M, 5) rows [x, y, z, sdf_hand, sdf_object] in camera metres, the first
    ``near_rows`` near the hand (the layout ``NEAR_ROWS`` describes). ``extra_rows`` (E, 5),
    same columns, are used as they are (e.g. uniform points over the whole lattice); the
    other ``num_queries - E`` are drawn from ``sdf_samples``, half from the near-hand rows
    and half from the rest (near-object rows and the uniform ones). Returns 'queries'
    (Q, 3), 'sdf_hand', 'sdf_object' (Q,), 'joints' (21, 3), 'object_center' (3,),
    'heatmap' (2, H, H, H), float32. ValueError if fewer than 2 queries are left to draw
    or ``near_rows`` does not leave rows on both sides.
    """
    scale = norm_scale / 2.0
    extra = np.zeros((0, 5)) if extra_rows is None else np.asarray(extra_rows)
    drawn = num_queries - len(extra)
    if drawn < 2:
        raise ValueError(f'{len(extra)} extra rows leave fewer than 2 of {num_queries} queries')
    if not 0 < near_rows < len(sdf_samples):
        raise ValueError(f'near_rows must be in [1, {len(sdf_samples) - 1}] for '
                         f'{len(sdf_samples)} samples, got {near_rows}')
    pick = np.concatenate([
        rng.choice(near_rows, drawn // 2),
        near_rows + rng.choice(len(sdf_samples) - near_rows, drawn - drawn // 2)])
    rows = np.concatenate([sdf_samples[pick], extra])
    all_points = normalise(sdf_samples[:, :3], root, norm_scale)
    hand_surface = all_points[np.abs(sdf_samples[:, 3]) < 0.003]
    object_surface = all_points[np.abs(sdf_samples[:, 4]) < 0.003]
    return {
        'queries': normalise(rows[:, :3], root, norm_scale).astype(np.float32),
        'sdf_hand': (rows[:, 3] * scale).astype(np.float32),
        'sdf_object': (rows[:, 4] * scale).astype(np.float32),
        'joints': normalise(joints, root, norm_scale).astype(np.float32),
        'object_center': normalise(object_center, root, norm_scale).astype(np.float32),
        'heatmap': np.stack([heatmap_target(hand_surface, heatmap_size),
                             heatmap_target(object_surface, heatmap_size)]),
    }
