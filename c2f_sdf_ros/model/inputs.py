"""
The model's input contract: how an RGB-D frame becomes model input, and back.

``make_sample`` (crop, normalise, lift depth points) is the one preprocessing shared by
training, evaluation and the reconstruction pipeline, so the model sees the same input
everywhere; ``to_camera`` is its inverse for anything the model predicts. ``CropConfig``
is the typed inputs block a checkpoint carries (``input_config`` reads it).

Normalised coordinates follow the reference code: n = (x_cam - root) * s / 2 with the
hand root (wrist) as origin; signed distances scale the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
import torch

from c2f_sdf_ros.geometry.camera import CameraIntrinsics
from c2f_sdf_ros.geometry.mirror import SIDES
from c2f_sdf_ros.model.c2f_sdf import ModelInput
from c2f_sdf_ros.model.config import ModelConfig

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
    canonical_side : str or None
        The only hand side the weights saw in training ('right' or 'left'): a frame of a
        hand of the other side is mirrored before ``make_sample`` and what the model
        predicts is mirrored back (``c2f_sdf_ros.geometry.mirror``). None: both sides as
        they are (weights trained before mirroring existed, like the shipped ones).

    """

    image_size: int = 256
    crop_half_extent: float = 0.16
    depth_half_range: float = 0.25
    num_points: int = 1024
    norm_scale: float = 6.2
    canonical_side: str | None = None

    def __post_init__(self):
        if self.canonical_side is not None and self.canonical_side not in SIDES:
            raise ValueError(f'canonical_side must be one of {SIDES} or None, got '
                             f'{self.canonical_side!r}')


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


def to_camera(normalised: np.ndarray, root: np.ndarray, scale: float) -> np.ndarray:
    """Normalised coordinates around ``root`` -> camera-frame metres (inverse of ``normalise``)."""
    return np.asarray(normalised, float) * (2.0 / scale) + np.asarray(root, float)


def input_config(model_config: ModelConfig, info: dict) -> CropConfig:
    """
    The inputs block of a checkpoint: how frames must be cropped for these weights.

    ``info`` is the checkpoint's info (``load_model``); its ``inputs`` block when it has
    one, else the crop settings its training recorded (``info['train']``, the shipped
    weights' JSON), else the defaults. Image size, point count and the normalisation
    scale always come from the model config. A block without ``canonical_side`` (every
    checkpoint written before mirroring existed) reads as None: no mirroring.
    """
    block = info.get('inputs') or info.get('train') or {}
    defaults = CropConfig()
    return CropConfig(model_config.image_size,
                      float(block.get('crop_half_extent', defaults.crop_half_extent)),
                      float(block.get('depth_half_range', defaults.depth_half_range)),
                      model_config.num_points, model_config.norm_scale,
                      block.get('canonical_side'))


def model_input(sample: dict, device: torch.device | str = 'cpu') -> ModelInput:
    """One ``make_sample`` result as a batch of one (inference)."""
    return ModelInput(*(torch.from_numpy(sample[k])[None].to(device) for k in (
        'rgb', 'depth', 'crop_K', 'root', 'points', 'points_valid')))
