"""
Surface-aware efficient reconstruction (SER, C2F-SDF paper section 3.4).

The model predicts where the surfaces are before any SDF query: a low-resolution
volumetric heatmap of hand and object, the hand skeleton, the depth points its coarse SDF
puts near a surface and the object centre. SER merges these into a voxel mask over the
normalised cube and queries the fine SDF only inside it:

1. sum the hand and object heatmaps (H^3, H = 32);
2. add ``hit_value`` at voxels hit by the predicted skeleton (bones sampled densely; the
   paper uses MANO vertices, which this model does not predict), by depth points whose
   coarse hand SDF <= ``hand_point_sdf`` or object SDF <= ``object_point_sdf``, and by
   those object points mirrored through the predicted object centre (objects are roughly
   symmetric, so this fills the side the camera cannot see);
3. drop values below ``threshold``, apply a 3x3x3 mean filter, keep voxels above it;
4. query the R^3 lattice (R = 128) only inside kept voxels.

Unqueried lattice points need a value for marching cubes. The reference code sets them
to +1 (outside), which puts a false surface wherever the kept voxels stop inside an
object; here each connected unqueried region takes the majority sign of the queried
points bordering it (``fill_unqueried``), so an unqueried object core stays inside.

Two ways to query the kept voxels (``SerConfig.mode``):
``paper``  every lattice point of every kept voxel ((R/H)^3 = 64 per voxel);
``c2f``    the kept voxels at H^3 first; then, at each doubling, only the points inside
           (or within ``margin`` cells of) the coarse cells the surface crosses: cells
           whose corners differ in sign, or where a corner is closer to the surface
           than ``thin`` cells (parts thinner than a cell). The 128^3 queries thus
           follow the surface itself, and each surface's decoder runs only near it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
import torch
import torch.nn.functional as F  # noqa: N812

from c2f_sdf_ros.reconstruct.meshing import QueryFn, batched_query, lattice

# Bones of the 21-joint hand (parent, child), MANO/OpenPose order: wrist 0, then 4 joints
# per finger from the thumb (1-4) to the little finger (17-20).
HAND_BONES = tuple((0 if j % 4 == 1 else j - 1, j) for j in range(1, 21))
SER_MODES = ('paper', 'c2f')
# Points per bone when the skeleton is rasterised into the H^3 voxels: consecutive points
# of even the longest bone (wrist to a knuckle) lie well under a voxel apart, so the bone
# marks every voxel it crosses.
BONE_SAMPLES = 16


@dataclass(frozen=True)
class SerConfig:
    """
    Settings of SER (defaults: the reference implementation's).

    Attributes
    ----------
    mode : str
        'paper' or 'c2f' (see the module docstring).
    threshold : float
        Heatmap values below it are dropped, before and after the mean filter.
    hit_value : float
        Added at voxels hit by the skeleton, near-surface and mirrored depth points.
    hand_point_sdf, object_point_sdf : float
        Coarse SDF (normalised) at or under which a depth point marks a hand / object voxel.
    filter_size : int
        Side of the mean filter (3 in the paper).
    band : float
        ``c2f`` mode: corner values under it may mark a thin part (the training clamp;
        beyond it the decoders only learned the sign).
    thin : float
        ``c2f`` mode: a coarse cell with a corner value under ``thin`` cells (and under
        ``band``) is refined even without a sign change...
    thin_levels : int
        ...in the first ``thin_levels`` refinements only. A finger (1.5-2 cm across) can
        pass between the corners of a 2 cm cell (H = 32 over DexYCB's 64 cm cube) without
        a sign change, but not between those of a 1 cm cell; past that, values near zero
        without a sign change are mostly an unsure field, and refining them costs most of
        the queries.
    margin : float
        ``c2f`` mode: fine points within this many coarse cells of a refined cell are
        queried too. 0.5 (one fine cell) also queries the far end of every fine edge
        the surface crosses, so the vertices are exactly the dense lattice's; less
        saves queries and moves some vertices by a small fraction of a cell.
    bone_samples : int
        Points per bone when rasterising the skeleton.

    """

    mode: str = 'c2f'
    threshold: float = 0.005
    hit_value: float = 2.0
    hand_point_sdf: float = 0.02
    object_point_sdf: float = 0.04
    filter_size: int = 3
    band: float = 0.05
    thin: float = 0.5
    thin_levels: int = 1
    margin: float = 0.5
    bone_samples: int = BONE_SAMPLES

    def __post_init__(self):
        if self.mode not in SER_MODES:
            raise ValueError(f'SER mode must be one of {SER_MODES}, got {self.mode!r}')
        if self.threshold < 0 or self.hit_value <= 0 or self.band <= 0:
            raise ValueError('threshold >= 0, hit_value > 0 and band > 0 required')
        if self.thin_levels < 0:
            raise ValueError(f'thin_levels must be >= 0, got {self.thin_levels}')
        if not 0 <= self.thin <= 2 or not 0 <= self.margin < 1:
            raise ValueError(f'thin must be in [0, 2] and margin in [0, 1), got '
                             f'{self.thin}, {self.margin}')
        if self.filter_size < 1 or self.filter_size % 2 == 0:
            raise ValueError(f'filter_size must be odd and >= 1, got {self.filter_size}')
        if self.bone_samples < 2:
            raise ValueError(f'bone_samples must be >= 2, got {self.bone_samples}')



def _voxel_index(points: np.ndarray, size: int) -> np.ndarray:
    """(M, 3) integer voxel indices of normalised points inside [-1, 1]^3."""
    index = np.floor((np.asarray(points, float) + 1.0) / 2.0 * size).astype(int)
    inside = np.all((index >= 0) & (index < size), axis=1)
    return index[inside]


def skeleton_points(joints: np.ndarray, samples: int = BONE_SAMPLES) -> np.ndarray:
    """
    Points along the 20 bones of a 21-joint hand.

    Parameters
    ----------
    joints : (21, 3) array
        Joint positions.
    samples : int
        Points per bone, both ends included.

    Returns
    -------
    (20 * samples, 3) array

    """
    joints = np.asarray(joints, float)
    if joints.shape != (21, 3):
        raise ValueError(f'joints must be (21, 3), got {joints.shape}')
    t = np.linspace(0.0, 1.0, samples)[:, None, None]
    parents = joints[[p for p, _ in HAND_BONES]]
    children = joints[[c for _, c in HAND_BONES]]
    return (parents + t * (children - parents)).reshape(-1, 3)


def semantic_heatmap(heatmap: np.ndarray, joints: np.ndarray, points: np.ndarray,
                     point_sdf: np.ndarray | None, object_center: np.ndarray,
                     config: SerConfig = SerConfig()) -> np.ndarray:
    """
    The merged heatmap of steps 1-2, before filtering.

    Parameters
    ----------
    heatmap : (2, H, H, H) array
        Predicted hand and object heatmaps over [-1, 1]^3.
    joints : (21, 3) array
        Predicted joints, normalised.
    points : (N, 3) array
        Valid depth points, normalised.
    point_sdf : (N, 2) array or None
        Their coarse hand and object SDF (None: variants without point semantics; then
        every depth point counts for both).
    object_center : (3,) array
        Predicted object centre, normalised.
    config : SerConfig
        Thresholds and hit value.

    Returns
    -------
    (H, H, H) float32

    """
    heatmap = np.asarray(heatmap, np.float32)
    if heatmap.ndim != 4 or heatmap.shape[0] != 2:
        raise ValueError(f'heatmap must be (2, H, H, H), got {heatmap.shape}')
    size = heatmap.shape[1]
    merged = heatmap.sum(0)
    points = np.asarray(points, float).reshape(-1, 3)
    if point_sdf is None:
        hand_points = object_points = points
    else:
        point_sdf = np.asarray(point_sdf, float).reshape(-1, 2)
        hand_points = points[point_sdf[:, 0] <= config.hand_point_sdf]
        object_points = points[point_sdf[:, 1] <= config.object_point_sdf]
    mirrored = 2.0 * np.asarray(object_center, float)[None] - object_points
    hits = np.concatenate([skeleton_points(joints, config.bone_samples), hand_points,
                           object_points, mirrored])
    index = _voxel_index(hits, size)
    hit = np.zeros_like(merged, bool)
    hit[tuple(index.T)] = True
    merged[hit] += config.hit_value
    return merged


def voxel_mask(merged: np.ndarray, config: SerConfig = SerConfig()) -> np.ndarray:
    """Step 3: threshold, mean filter, threshold; (H, H, H) bool of the voxels to query."""
    merged = np.where(merged < config.threshold, 0.0, merged).astype(np.float32)
    smooth = ndimage.uniform_filter(merged, config.filter_size, mode='constant')
    return smooth > config.threshold


def fill_unqueried(values: np.ndarray, queried: np.ndarray, magnitude: float = 1.0) -> None:
    """
    Give each connected unqueried region the majority sign of the queried points around it.

    Parameters
    ----------
    values : (F, R, R, R) float array
        Fields; entries where ``queried`` is False are overwritten in place with
        +-``magnitude`` (+ when a region has no queried neighbours or a tie).
    queried : (R, R, R) bool
        Which lattice points hold queried values.
    magnitude : float
        Absolute value written into unqueried points.

    """
    free = ~np.asarray(queried, bool)
    labels, count = ndimage.label(free)
    if count == 0:
        return
    for field in values:
        votes = np.zeros(count + 1)
        sign = np.sign(field)
        for axis in range(3):
            for step in (1, -1):
                here = [slice(None)] * 3
                there = [slice(None)] * 3
                here[axis] = slice(None, -1) if step == 1 else slice(1, None)
                there[axis] = slice(1, None) if step == 1 else slice(None, -1)
                region = labels[tuple(here)]
                border = (region > 0) & ~free[tuple(there)]
                votes += np.bincount(region[border], weights=sign[tuple(there)][border],
                                     minlength=count + 1)
        fill = np.where(votes < 0, -magnitude, magnitude)
        field[free] = fill[labels[free]]


@torch.no_grad()
def sparse_grid(query: QueryFn, mask: np.ndarray, resolution: int = 128,
                config: SerConfig = SerConfig(), batch: int = 32768, fields: int = 2,
                device: torch.device | str = 'cpu') -> tuple[np.ndarray, int]:
    """
    Query the lattice inside the voxels of ``mask`` (step 4).

    Parameters
    ----------
    query : QueryFn
        (Q, 3) normalised points -> (Q, fields) signed distances; ``c2f`` mode also calls
        it with a second argument, a tuple of the fields wanted.
    mask : (H, H, H) bool
        Voxels to query; ``resolution`` must be a multiple of H.
    resolution : int
        Lattice side R over [-1, 1]^3.
    config : SerConfig
        Query scheme (``mode``) and band.
    batch : int
        Points per query call.
    fields : int
        Columns ``query`` returns.
    device : torch device
        Where the lattice points are built.

    Returns
    -------
    values : (fields, R, R, R) float32
    count : int
        Points queried.

    """
    mask = np.asarray(mask, bool)
    size = mask.shape[0]
    if mask.ndim != 3 or len(set(mask.shape)) != 1 or resolution % size:
        raise ValueError(f'mask must be (H, H, H) with H dividing {resolution}, '
                         f'got {mask.shape}')
    if config.mode == 'paper':
        return _sparse_paper(query, mask, resolution, batch, fields, device)
    return _sparse_c2f(query, mask, resolution, config, batch, fields, device)


def _sparse_paper(query, mask, resolution, batch, fields, device):
    per_voxel = resolution // mask.shape[0]
    queried = np.repeat(np.repeat(np.repeat(mask, per_voxel, 0), per_voxel, 1), per_voxel, 2)
    values = np.zeros((fields,) + (resolution,) * 3, np.float32)
    points = lattice(resolution, device)[torch.from_numpy(queried).to(device)]
    if len(points):
        values[:, queried] = batched_query(query, points, batch).T.cpu().numpy()
    fill_unqueried(values, queried)
    return values, len(points)


def _active_cells(values: torch.Tensor, small: float) -> torch.Tensor:
    """
    Cells of a lattice the surface may cross, (F, s-1, s-1, s-1) bool.

    A cell is active when its 8 corners do not all have one sign (the surface crosses
    it) or when a corner's value is under ``small`` (a part thinner than a cell, such as
    a finger seen at 2 cm spacing, can pass between corners of one sign).
    """
    positive = (values > 0).float()[:, None]
    any_positive = F.max_pool3d(positive, 2, stride=1)
    any_negative = F.max_pool3d(1.0 - positive, 2, stride=1)
    near = F.max_pool3d((values.abs() < small).float()[:, None], 2, stride=1)
    return ((any_positive > 0) & (any_negative > 0) | (near > 0))[:, 0]


def _cells_of(size: int, fine: int, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """
    Cells of the ``size`` lattice near each point of the ``fine`` one, along one axis.

    Returns the lowest and highest cell within ``margin`` cells of each fine point (both
    (fine,) int arrays).
    """
    position = np.arange(fine) * (size - 1) / (fine - 1)
    low = np.clip(np.floor(position - margin), 0, size - 2).astype(int)
    high = np.clip(np.floor(position + margin), 0, size - 2).astype(int)
    return low, high


def _refine_mask(active: np.ndarray, fine: int, margin: float) -> np.ndarray:
    """(F, fine, fine, fine) bool: fine points within ``margin`` cells of an active cell."""
    size = active.shape[-1] + 1
    low, high = _cells_of(size, fine, margin)
    # Along each axis, a fine point looks at its low and (if different) high cell; taking
    # one axis at a time keeps it to a few gathers (numpy's take is several times faster
    # than torch's index_select on boolean volumes).
    out = active
    for axis in (1, 2, 3):
        near = np.take(out, low, axis)
        if margin > 0:
            near |= np.take(out, high, axis)
        out = near
    return out


def _sparse_c2f(query, mask, resolution, config, batch, fields, device):
    # Level H: one lattice point per voxel (lattice(H) point i lies in voxel i), every field.
    size = mask.shape[0]
    values = np.zeros((fields, size, size, size), np.float32)
    points = lattice(size, device)[torch.from_numpy(mask).to(device)]
    count = len(points)
    if count:
        values[:, mask] = batched_query(query, points, batch).T.cpu().numpy()
    fill_unqueried(values, mask)
    values_t = torch.from_numpy(values).to(device)
    allowed = torch.from_numpy(mask).to(device)[None, None].float()
    level = 0
    while size < resolution:
        thin = config.thin if level < config.thin_levels else 0.0
        active = _active_cells(values_t, min(config.band, thin * 2.0 / (size - 1)))
        level += 1
        fine = min(size * 2, resolution)
        near = torch.from_numpy(_refine_mask(active.cpu().numpy(), fine, config.margin))
        near = near.to(device)
        near &= F.interpolate(allowed, size=(fine,) * 3, mode='nearest')[0] > 0
        values_t = F.interpolate(values_t[None], size=(fine,) * 3, mode='trilinear',
                                 align_corners=True)[0]
        size = fine
        axis = torch.linspace(-1.0, 1.0, size, device=device)
        for field in range(fields):
            # The lattice points themselves (as lattice() has them), without building
            # the whole R^3 lattice.
            points = axis[torch.nonzero(near[field])]
            if len(points):
                values_t[field, near[field]] = batched_query(
                    lambda p, f=field: query(p, (f,)), points, batch)[:, 0]
        count += int(near.any(0).sum())
    return values_t.cpu().numpy(), count
