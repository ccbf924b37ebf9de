"""
Find the hand in a full RGB-D frame: the rough 3D root the model's crop starts from.

The model refines the root itself (its joint head predicts the wrist from a crop around
a rough root, see ``Reconstructor``), so a localiser only has to land within a few
centimetres. ``SkinDepthLocaliser`` is the default: skin colour in YCrCb (the classic
Chai & Ngan rule, which holds across skin tones under white light) gated by valid depth
in a working range, the largest connected blob, its depth-consistent 3D centroid. It
needs no model download and runs in a few milliseconds; docs/reconstruction.md says why
it was chosen over MediaPipe and where it fails (skin-coloured objects, gloves, coloured
light, bare arms pull the centroid towards the elbow).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from c2f_sdf_ros.geometry.camera import CameraIntrinsics


@dataclass(frozen=True)
class HandDetection:
    """
    Where the hand is.

    Attributes
    ----------
    root : (3,) array
        Rough hand root in the camera optical frame (metres).
    pixel : (2,) array
        Its projection (u, v).
    box : (4,) array
        Pixel box (u_min, v_min, u_max, v_max) of the hand blob.
    score : float
        In [0, 1]; how hand-like the blob is (size relative to the expected size).
    pixels : int
        Pixels of the blob.

    """

    root: np.ndarray
    pixel: np.ndarray
    box: np.ndarray
    score: float
    pixels: int


@dataclass(frozen=True)
class SkinDepthConfig:
    """
    Settings of ``SkinDepthLocaliser``.

    Attributes
    ----------
    cr_range, cb_range : tuple of int
        Skin chroma box in YCrCb (8-bit).
    min_depth, max_depth : float
        Working range (m); pixels outside are ignored.
    min_area_cm2, max_area_cm2 : float
        Blob sizes, as metric area at their depth, that can be a hand (larger ones are
        skin-coloured furniture or walls).
    depth_edge : float
        Neighbouring pixels whose depths differ by more (m) are not connected, so a hand
        in front of a skin-coloured surface is its own blob.
    merge_distance : float
        Blobs whose 3D centroids lie this close (m) to the best one are merged with it
        (a hand cut in two by the object it holds).
    hand_area_cm2 : float
        Visible area of a typical hand (score 1 at or above it).
    depth_window : float
        Blob pixels further than this (m) from the blob's median depth are dropped
        (background skin-coloured pixels that touch the hand in the image).

    """

    cr_range: tuple[int, int] = (133, 173)
    cb_range: tuple[int, int] = (77, 127)
    min_depth: float = 0.15
    max_depth: float = 2.0
    min_area_cm2: float = 8.0
    max_area_cm2: float = 500.0
    depth_edge: float = 0.015
    merge_distance: float = 0.1
    hand_area_cm2: float = 60.0
    depth_window: float = 0.12

    def __post_init__(self):
        for name in ('cr_range', 'cb_range'):
            low, high = getattr(self, name)
            if not 0 <= low < high <= 255:
                raise ValueError(f'{name} must satisfy 0 <= low < high <= 255')
        if not 0 < self.min_depth < self.max_depth:
            raise ValueError('need 0 < min_depth < max_depth')
        if not 0 < self.min_area_cm2 < self.max_area_cm2:
            raise ValueError('need 0 < min_area_cm2 < max_area_cm2')
        if min(self.hand_area_cm2, self.depth_window, self.depth_edge) <= 0 \
                or self.merge_distance < 0:
            raise ValueError('hand_area_cm2, depth_window, depth_edge must be > 0, '
                             'merge_distance >= 0')



def skin_mask(color: np.ndarray, config: SkinDepthConfig = SkinDepthConfig()) -> np.ndarray:
    """(H, W) bool: pixels whose chroma falls in the skin box."""
    ycbcr = np.asarray(Image.fromarray(color).convert('YCbCr'))
    cb, cr = ycbcr[..., 1], ycbcr[..., 2]
    return ((cr >= config.cr_range[0]) & (cr <= config.cr_range[1])
            & (cb >= config.cb_range[0]) & (cb <= config.cb_range[1]))


class SkinDepthLocaliser:
    """Largest skin-coloured, depth-consistent blob -> rough hand root."""

    def __init__(self, config: SkinDepthConfig = SkinDepthConfig()):
        self.config = config

    def locate(self, color: np.ndarray, depth: np.ndarray,
               camera: CameraIntrinsics) -> HandDetection | None:
        """
        Find the hand.

        Parameters
        ----------
        color : (H, W, 3) uint8
            RGB image.
        depth : (H, W) float
            Depth aligned to color, metres, 0 = missing.
        camera : CameraIntrinsics
            Intrinsics of both.

        Returns
        -------
        HandDetection, or None when no blob is large enough to be a hand.

        """
        config = self.config
        in_range = (depth > config.min_depth) & (depth < config.max_depth)
        jumps = neighbour_depth_jumps(depth, config.depth_edge)
        mask = skin_mask(color, config) & in_range & ~jumps
        mask = ndimage.binary_opening(mask, iterations=1)
        labels, count = ndimage.label(mask)
        if count == 0:
            return None
        # Metric areas: pixel area grows as 1/z^2, so a near blob is not bigger.
        z = np.where(mask, depth, 0.0)
        pixel_area_cm2 = (z / camera.fx) * (z / camera.fy) * 1e4
        index = np.arange(1, count + 1)
        areas = ndimage.sum(pixel_area_cm2, labels, index=index)
        points = camera.backproject(z)
        centroids = np.stack([ndimage.sum(points[..., k] * mask, labels, index)
                              for k in range(3)], 1) / np.maximum(
            ndimage.sum(mask, labels, index), 1)[:, None]
        # A hand is often several blobs (fingers cut apart by the object or by depth
        # edges): score each blob by the area of all blobs around it in 3D.
        small = areas <= config.max_area_cm2
        close = np.linalg.norm(centroids[:, None] - centroids[None], axis=-1) \
            <= config.merge_distance
        group_area = (close & small[None]).astype(float) @ np.where(small, areas, 0.0)
        plausible = small & (group_area >= config.min_area_cm2) \
            & (group_area <= config.max_area_cm2)
        if not plausible.any():
            return None
        best = int(np.argmax(np.where(plausible, group_area, -1.0)))
        chosen = index[close[best] & small]
        blob = np.isin(labels, chosen)
        median = float(np.median(depth[blob]))
        blob &= np.abs(depth - median) <= config.depth_window
        v, u = np.nonzero(blob)
        if len(u) == 0:
            return None
        root = points[v, u].mean(0)
        pixel = camera.project(root[None])[0]
        area = float(pixel_area_cm2[blob].sum())
        return HandDetection(root, pixel, np.array([u.min(), v.min(), u.max(), v.max()], float),
                             float(min(1.0, area / config.hand_area_cm2)), int(len(u)))


def neighbour_depth_jumps(depth: np.ndarray, jump: float) -> np.ndarray:
    """(H, W) bool: pixels with a 4-neighbour whose depth differs by more than ``jump``."""
    edges = np.zeros(depth.shape, bool)
    for axis in (0, 1):
        step = np.abs(np.diff(depth, axis=axis)) > jump
        if axis == 0:
            edges[:-1] |= step
            edges[1:] |= step
        else:
            edges[:, :-1] |= step
            edges[:, 1:] |= step
    return edges
