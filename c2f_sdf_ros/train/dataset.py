"""
Training and validation items from any labelled frame source (synthetic, DexYCB, ObMan).

Each item is one frame turned into model inputs (``c2f_sdf_ros.model.inputs``) and
normalised targets (``c2f_sdf_ros.train.targets``). Training items are augmented
(``Augmentation``); validation items use the ground-truth root and crop, as the papers'
protocol does. With a ``canonical_side`` in the crop settings, every frame of a hand of
the other side is mirrored first (``canonical_frame``), training and validation alike.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
import math
import pathlib

import numpy as np
from PIL import Image
import torch
from torch.utils.data import Dataset

from c2f_sdf_ros.data.labelled import FrameSource, LabelledFrame
from c2f_sdf_ros.data.synth_folder import SynthFolder
from c2f_sdf_ros.geometry.camera import CameraIntrinsics
from c2f_sdf_ros.geometry.mesh import MeshSdf
from c2f_sdf_ros.geometry.mirror import (
    SIDES,
    mirror_camera,
    mirror_image,
    mirror_points,
    mirror_sdf_samples,
    mirror_side,
    needs_mirror,
)
from c2f_sdf_ros.model.inputs import CropConfig, make_sample
from c2f_sdf_ros.train.targets import make_targets


@dataclass(frozen=True)
class Augmentation:
    """
    Random changes applied to each training frame.

    Attributes
    ----------
    root_jitter : float
        Std (m) of the offset added to the hand root the crop and normalisation are built
        around; the targets follow the jittered root, so the joint head learns to find
        the wrist from a rough root (clipped at 2.5 std).
    scale_jitter : float
        Crop side scaled by 1 + U(-x, x).
    rotation_deg : float
        In-plane rotation U(-x, x) about the optical axis (image and 3D targets together).
    brightness, contrast, saturation : float
        Colour factors 1 + U(-x, x).
    depth_noise : float
        Std (m) of extra Gaussian depth noise.
    depth_dropout : float
        Fraction of depth pixels set to missing.

    """

    root_jitter: float = 0.01
    scale_jitter: float = 0.1
    rotation_deg: float = 20.0
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    depth_noise: float = 0.002
    depth_dropout: float = 0.02



def canonical_frame(frame: LabelledFrame, canonical_side: str | None) -> LabelledFrame:
    """
    ``frame`` with its hand on ``canonical_side``: mirrored if the hand is of the other side.

    Mirroring flips colour and depth, moves the principal point (``mirror_camera``),
    negates x of the root, joints, object centre and SDF sample points (distances kept)
    and flips the side label. None keeps every frame as it is.

    Raises
    ------
    ValueError
        If ``canonical_side`` is set and the frame's side is neither 'left' nor 'right'.

    """
    if canonical_side is not None and frame.side not in SIDES:
        raise ValueError(f'frame {frame.frame_id}: hand side {frame.side!r} is unknown, '
                         f'cannot make it {canonical_side}')
    if not needs_mirror(frame.side, canonical_side):
        return frame
    return replace(frame, color=mirror_image(frame.color), depth=mirror_image(frame.depth),
                   camera=mirror_camera(frame.camera), root=mirror_points(frame.root),
                   joints=mirror_points(frame.joints),
                   object_center=mirror_points(frame.object_center),
                   sdf=mirror_sdf_samples(frame.sdf), side=mirror_side(frame.side))


def rotate_frame(color: np.ndarray, depth: np.ndarray, camera: CameraIntrinsics,
                 angle: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    Roll the camera by ``angle`` (rad) about its optical axis.

    Returns the new color and depth images (same intrinsics) and the 3x3 rotation R that
    maps old camera coordinates to new ones (x' = R x). Exact for any fx, fy: pixels are
    rotated in normalised image coordinates.
    """
    c, s = math.cos(angle), math.sin(angle)
    rotation = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    # Output pixel u' -> normalised n' -> n = R^T n' -> input pixel u. PIL's pixel k spans
    # [k, k + 1), so its coordinate is ours + 0.5.
    f = np.diag([camera.fx, camera.fy])
    affine = f @ rotation[:2, :2].T @ np.linalg.inv(f)
    centre = np.array([camera.cx + 0.5, camera.cy + 0.5])
    offset = centre - affine @ centre
    data = (affine[0, 0], affine[0, 1], offset[0], affine[1, 0], affine[1, 1], offset[1])
    size = (camera.width, camera.height)
    color = np.asarray(Image.fromarray(color).transform(
        size, Image.Transform.AFFINE, data, resample=Image.Resampling.BILINEAR))
    depth = np.asarray(Image.fromarray(depth.astype(np.float32)).transform(
        size, Image.Transform.AFFINE, data, resample=Image.Resampling.NEAREST))
    return color, depth, rotation


def _jitter_color(color: np.ndarray, aug: Augmentation, rng: np.random.Generator) -> np.ndarray:
    x = color.astype(np.float32)
    x = x * (1 + rng.uniform(-aug.brightness, aug.brightness))
    mean = x.mean()
    x = (x - mean) * (1 + rng.uniform(-aug.contrast, aug.contrast)) + mean
    gray = x.mean(-1, keepdims=True)
    x = (x - gray) * (1 + rng.uniform(-aug.saturation, aug.saturation)) + gray
    return np.clip(x, 0, 255).astype(np.uint8)


def _noisy_depth(depth: np.ndarray, aug: Augmentation, rng: np.random.Generator) -> np.ndarray:
    valid = depth > 0
    noisy = depth + rng.normal(0.0, aug.depth_noise, depth.shape).astype(np.float32)
    keep = valid & (rng.random(depth.shape) >= aug.depth_dropout) & (noisy > 0)
    return np.where(keep, noisy, 0.0).astype(np.float32)


def lattice_pool(distances: tuple[MeshSdf, MeshSdf], root: np.ndarray, norm_scale: float,
                 count: int, rng: np.random.Generator) -> np.ndarray:
    """
    ``count`` SDF rows uniform in a cube around ``root`` that holds the query lattice.

    The cube (half side 1.5 x the lattice's, plus 5 cm) still contains the lattice after
    ``frame_item``'s in-plane rotation and root jitter, so one pool per frame can serve
    every epoch. Returns (count, 5) float32 rows [x, y, z, sdf_hand, sdf_object].
    """
    half = 1.5 * 2.0 / norm_scale + 0.05
    points = np.asarray(root, float) + rng.uniform(-half, half, (count, 3))
    return np.column_stack([points, distances[0](points), distances[1](points)]).astype(
        np.float32)


def frame_item(frame: LabelledFrame, crop: CropConfig, num_queries: int, heatmap_size: int,
               rng: np.random.Generator, augmentation: Augmentation | None = None,
               lattice_queries: int = 0, pool: np.ndarray | None = None) -> dict:
    """
    Model inputs and targets of one frame (numpy, see ``make_sample``/``make_targets``).

    Without ``augmentation`` the crop is built around the ground-truth root (the papers'
    evaluation protocol). ``lattice_queries`` of the ``num_queries`` are drawn from the
    rows of ``pool`` (see ``lattice_pool``) that fall in the normalised cube [-1, 1]^3
    reconstruction queries: the stored samples only cover +-15 cm around the wrist, and
    a field never trained out there grows spurious surfaces. A hand not on
    ``crop.canonical_side`` is mirrored (``canonical_frame``; ``pool`` is of the frame as
    stored, and mirrored with it) before any augmentation.
    """
    if needs_mirror(frame.side, crop.canonical_side) and pool is not None:
        pool = mirror_sdf_samples(pool)
    frame = canonical_frame(frame, crop.canonical_side)
    color, depth, camera = frame.color, frame.depth, frame.camera
    root, joints, center, sdf = frame.root, frame.joints, frame.object_center, frame.sdf
    rotation = np.eye(3)
    jitter = None
    if augmentation is not None:
        aug = augmentation
        if aug.rotation_deg > 0:
            angle = math.radians(rng.uniform(-aug.rotation_deg, aug.rotation_deg))
            color, depth, rotation = rotate_frame(color, depth, camera, angle)
            root, joints, center = root @ rotation.T, joints @ rotation.T, center @ rotation.T
            sdf = np.concatenate([sdf[:, :3] @ rotation.T, sdf[:, 3:]], 1)
        color = _jitter_color(color, aug, rng)
        depth = _noisy_depth(depth, aug, rng)
        offset = np.clip(rng.normal(0.0, aug.root_jitter, 3), -2.5 * aug.root_jitter,
                         2.5 * aug.root_jitter)
        root = root + offset
        jitter = np.array([0.0, 0.0, rng.uniform(-aug.scale_jitter, aug.scale_jitter)])
    extra = None
    if lattice_queries > 0:
        if pool is None:
            raise ValueError('lattice_queries need a pool of lattice samples')
        points = pool[:, :3] @ rotation.T
        inside = np.flatnonzero(np.all(np.abs(points - root) * (crop.norm_scale / 2.0) <= 1.0,
                                       axis=1))
        if len(inside) == 0:
            raise ValueError('no pool sample falls in the query lattice')
        pick = rng.choice(inside, lattice_queries, replace=len(inside) < lattice_queries)
        extra = np.column_stack([points[pick], pool[pick, 3:]])
    sample = make_sample(color, depth, camera, root, crop, rng, jitter)
    sample.update(make_targets(sdf, joints, center, root, crop.norm_scale, num_queries,
                               heatmap_size, rng, extra))
    return sample


# Lattice samples computed per frame; about a third of them fall in a given epoch's lattice.
LATTICE_POOL_SIZE = 2048


class FrameDataset(Dataset):
    """
    Torch dataset over any ``FrameSource`` (synthetic folder, DexYCB, ObMan).

    Item ``i`` is deterministic given (seed, epoch, i): call ``set_epoch`` each epoch so
    augmentations differ between epochs and not between runs. ``lattice_queries`` (see
    ``frame_item``) come from a pool per frame computed from the source's meshes the first
    time the frame is used (about 0.1 s) and kept in memory (40 kB).
    """

    def __init__(self, source: FrameSource | str | pathlib.Path, crop: CropConfig,
                 num_queries: int, heatmap_size: int, augmentation: Augmentation | None = None,
                 seed: int = 0, limit: int | None = None, lattice_queries: int = 0):
        if not 0 <= lattice_queries <= num_queries - 2:
            raise ValueError(f'lattice_queries must be in [0, num_queries - 2], got '
                             f'{lattice_queries}')
        # A path is a synthetic folder (the common case in tests and tools).
        self.folder = SynthFolder(source) if isinstance(source, (str, pathlib.Path)) \
            else source
        self.crop = crop
        self.num_queries = num_queries
        self.heatmap_size = heatmap_size
        self.augmentation = augmentation
        self.seed = seed
        self.epoch = 0
        self.lattice_queries = lattice_queries
        self._pools: dict[int, np.ndarray] = {}
        self.length = len(self.folder) if limit is None else min(limit, len(self.folder))

    def set_epoch(self, epoch: int) -> None:
        """Select the random stream of ``epoch``."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def lattice_pool(self, index: int) -> np.ndarray:
        """Frame ``index``'s pool of lattice samples (computed once, then kept)."""
        if index not in self._pools:
            frame = self.folder.read(index)
            distances = tuple(MeshSdf.from_mesh(mesh) for mesh in self.folder.meshes(index))
            rng = np.random.default_rng([self.seed, index, 7])
            self._pools[index] = lattice_pool(distances, frame.root, self.crop.norm_scale,
                                              LATTICE_POOL_SIZE, rng)
        return self._pools[index]

    def set_lattice_pool(self, index: int, pool: np.ndarray) -> None:
        """Use ``pool`` (N, 5) as frame ``index``'s lattice pool (precomputed elsewhere)."""
        pool = np.asarray(pool, np.float32)
        if not 0 <= index < self.length or pool.ndim != 2 or pool.shape[1] != 5:
            raise ValueError(f'need an index in [0, {self.length}) and an (N, 5) pool, got '
                             f'{index} and {pool.shape}')
        self._pools[index] = pool

    def __getitem__(self, key: int) -> dict:
        # A key past the end is ``epoch * len + index`` (the trainer's ``EpochStream``:
        # one loader over many epochs); a plain index uses the ``set_epoch`` epoch.
        epoch, index = divmod(key, self.length) if key >= self.length else (self.epoch, key)
        rng = np.random.default_rng([self.seed, epoch, index])
        pool = self.lattice_pool(index) if self.lattice_queries else None
        item = frame_item(self.folder.read(index), self.crop, self.num_queries,
                          self.heatmap_size, rng, self.augmentation, self.lattice_queries, pool)
        return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in item.items()}
