"""
One training sample from one RGB-D frame: the crop, depth points and normalised targets.

Pure numpy (no torch, no ROS): ``make_sample`` is shared by training, evaluation and the
reconstruction pipeline, so the model sees the same preprocessing everywhere.

Normalised coordinates follow the reference code: n = (x_cam - root) * s / 2 with the
hand root (wrist) as origin; signed distances scale the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
import torch

from c2f_sdf_ros.geometry.camera import CameraIntrinsics
from c2f_sdf_ros.model.c2f_sdf import ModelInput

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


@dataclass(frozen=True)
class CropConfig:
    """
    How a frame becomes model input.

    Attributes
    ----------
    image_size : int
        Side of the square crop (pixels).
    crop_half_extent : float
        Half side (m) of the square region around the root, at the root's depth, that the
        crop covers.
    depth_half_range : float
        Depths within +- this (m) of the root's depth map to [-1, 1]; others are +1.
    num_points : int
        Depth points lifted to 3D.
    norm_scale : float
        s in the normalisation.

    """

    image_size: int = 256
    crop_half_extent: float = 0.16
    depth_half_range: float = 0.25
    num_points: int = 1024
    norm_scale: float = 6.2


@dataclass(frozen=True)
class Crop:
    """A square crop: pixel box in the frame and the crop's intrinsics."""

    u0: float
    v0: float
    side: float
    camera: CameraIntrinsics


def crop_box(camera: CameraIntrinsics, root: np.ndarray, config: CropConfig,
             jitter: np.ndarray | None = None) -> Crop:
    """
    The square image region around the projected ``root`` covering +-crop_half_extent (m).

    ``jitter`` (3,) optionally shifts the centre (fraction of the side, x and y) and
    scales the side (1 + jitter[2]).
    """
    root = np.asarray(root, dtype=np.float64)
    if root[2] <= 0:
        raise ValueError(f'root must be in front of the camera, got z={root[2]}')
    center = camera.project(root[None])[0]
    side = 2 * config.crop_half_extent * camera.fx / root[2]
    if jitter is not None:
        center = center + jitter[:2] * side
        side *= 1.0 + jitter[2]
    u0, v0 = center[0] - side / 2, center[1] - side / 2
    scale = config.image_size / side
    # Pixel centres sit at integer coordinates: crop pixel i covers frame u = u0 + (i + 0.5)
    # * side / S, so the principal point moves to (c - u0) * scale - 0.5.
    crop_camera = CameraIntrinsics(config.image_size, config.image_size, camera.fx * scale,
                                   camera.fy * scale, (camera.cx - u0) * scale - 0.5,
                                   (camera.cy - v0) * scale - 0.5)
    return Crop(float(u0), float(v0), float(side), crop_camera)


def resample_crop(image: np.ndarray, crop: Crop, size: int, resample) -> np.ndarray:
    """Cut ``crop`` out of ``image`` (zero outside) and resize it to size x size."""
    pil = Image.fromarray(image)
    # PIL's pixel k spans [k, k + 1): our pixel-centre coordinate u is PIL's u + 0.5.
    box = (crop.u0 + 0.5, crop.v0 + 0.5, crop.u0 + 0.5 + crop.side, crop.v0 + 0.5 + crop.side)
    return np.asarray(pil.transform((size, size), Image.Transform.EXTENT, box, resample=resample,
                                    fillcolor=0))


def normalise(points_cam: np.ndarray, root: np.ndarray, scale: float) -> np.ndarray:
    """Camera-frame metres -> normalised coordinates around ``root``."""
    return (np.asarray(points_cam) - root) * (scale / 2.0)


def make_sample(color: np.ndarray, depth: np.ndarray, camera: CameraIntrinsics,
                root: np.ndarray, config: CropConfig, rng: np.random.Generator,
                jitter: np.ndarray | None = None) -> dict:
    """
    Model inputs from one frame.

    Parameters
    ----------
    color : (H, W, 3) uint8
        RGB image.
    depth : (H, W) float32
        Depth in metres aligned to color, 0 = none.
    camera : CameraIntrinsics
        Intrinsics of the frame.
    root : (3,) array
        Hand root in the camera frame (metres).
    config : CropConfig
        Crop and normalisation settings.
    rng : numpy Generator
        Depth point sampling.
    jitter : (3,) array, optional
        Crop jitter (see ``crop_box``).

    Returns
    -------
    dict with 'rgb' (3, S, S) float32 ImageNet-normalised, 'depth' (1, S, S) float32 in
    [-1, 1], 'crop_K' (3, 3) float32, 'root' (3,) float32, 'points' (N, 3) float32
    normalised, 'points_valid' (N,) bool.

    """
    s = config.image_size
    crop = crop_box(camera, root, config, jitter)
    rgb = resample_crop(color, crop, s, Image.Resampling.BILINEAR).astype(np.float32) / 255.0
    rgb = (rgb - IMAGENET_MEAN) / IMAGENET_STD
    depth_crop = resample_crop(depth.astype(np.float32), crop, s, Image.Resampling.NEAREST)
    valid = depth_crop > 0
    near = valid & (np.abs(depth_crop - root[2]) <= config.depth_half_range)
    depth_norm = np.where(near, (depth_crop - root[2]) / config.depth_half_range, 1.0)

    points = crop.camera.backproject(np.where(near, depth_crop, 0.0)).reshape(-1, 3)
    candidates = np.flatnonzero(near.reshape(-1))
    n = config.num_points
    points_valid = np.zeros(n, bool)
    sampled = np.zeros((n, 3), np.float32)
    if len(candidates):
        chosen = rng.choice(candidates, size=n, replace=len(candidates) < n)
        sampled = normalise(points[chosen], root, config.norm_scale).astype(np.float32)
        points_valid[:] = True
        if len(candidates) < n:
            points_valid[len(candidates):] = False  # repeats carry no new information
    return {'rgb': rgb.transpose(2, 0, 1).astype(np.float32),
            'depth': depth_norm[None].astype(np.float32),
            'crop_K': crop.camera.K.astype(np.float32),
            'root': np.asarray(root, np.float32),
            'points': sampled, 'points_valid': points_valid}


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
    from scipy.ndimage import gaussian_filter
    grid = gaussian_filter(grid, sigma)
    peak = grid.max()
    return grid / peak if peak > 0 else grid


def make_targets(sdf_samples: np.ndarray, joints: np.ndarray, object_center: np.ndarray,
                 root: np.ndarray, norm_scale: float, num_queries: int, heatmap_size: int,
                 rng: np.random.Generator, extra_rows: np.ndarray | None = None) -> dict:
    """
    Normalised training targets.

    ``sdf_samples`` (M, 5) rows [x, y, z, sdf_hand, sdf_object] in camera metres (the synth
    layout). ``extra_rows`` (E, 5), same layout, are used as they are (e.g. uniform points
    over the whole lattice); the other ``num_queries - E`` are drawn from ``sdf_samples``,
    half from the first (near-hand) half of the rows and half from the rest. Returns
    'queries' (Q, 3), 'sdf_hand', 'sdf_object' (Q,), 'joints' (21, 3), 'object_center'
    (3,), 'heatmap' (2, H, H, H), float32.
    """
    scale = norm_scale / 2.0
    extra = np.zeros((0, 5)) if extra_rows is None else np.asarray(extra_rows)
    drawn = num_queries - len(extra)
    if drawn < 2:
        raise ValueError(f'{len(extra)} extra rows leave fewer than 2 of {num_queries} queries')
    half = len(sdf_samples) // 2
    pick = np.concatenate([rng.choice(half, drawn // 2),
                           half + rng.choice(len(sdf_samples) - half, drawn - drawn // 2)])
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


def model_input(sample: dict, device: torch.device | str = 'cpu') -> ModelInput:
    """One ``make_sample`` result as a batch of one (inference)."""
    return ModelInput(*(torch.from_numpy(sample[k])[None].to(device) for k in (
        'rgb', 'depth', 'crop_K', 'root', 'points', 'points_valid')))
