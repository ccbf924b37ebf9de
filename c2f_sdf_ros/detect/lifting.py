"""
Metric 3D joints from 2D landmarks, a detector's relative depth and the aligned depth image.

Each landmark gets a robust depth: a low quantile (0.3, a median biased to the front) of
the valid depth in a small window. The window scales with the hand's size in the image,
and fingertip windows are pulled a little towards the finger; still, on a hand 30 pixels
wide most windows straddle a silhouette, and what lies past a silhouette is behind the
hand, so the front-biased statistic reads the finger rather than the wall (on the
development frames it took the joint-centre error at 1.8 m from 2-5 cm to 1-3 cm).

The detector's relative depth says how the landmarks' depths differ from the wrist's
(``z_i = Z0 (1 + s q_i)`` with ``q_i`` its relative depth in focal lengths): the hand's own
depth ``Z0`` is the one that the most landmarks agree with (a consensus over every
landmark's hypothesis, among those that give the hand a plausible size), and the scale
``s`` of the relative depth is fitted on the agreeing landmarks. Landmarks whose measured
depth disagrees are not the hand's surface: far in front is the held object (or the other
hand) occluding it, far behind is the background seen past a finger's edge. They, and
landmarks without valid depth, are placed on their pixel's ray at the depth the fitted
skeleton predicts for them, never at the occluder's. Joints sit ``surface_offset`` behind
the skin that depth sees.

A hand with too few agreeing landmarks is dropped, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
import warnings

import numpy as np

from c2f_sdf_ros.detect.hands import NUM_JOINTS, PARENTS, TIPS, WRIST
from c2f_sdf_ros.geometry.camera import CameraIntrinsics

# Why a hand is dropped (keys for counters).
REASON_NO_DEPTH = 'no_depth'  # too few landmarks have valid depth at all
REASON_INCONSISTENT = 'inconsistent_depth'  # depth exists but too few landmarks agree
LIFT_REASONS = (REASON_NO_DEPTH, REASON_INCONSISTENT)

# The palm's largest span (``_palm_extent_px``: wrist to MCPs, index to little MCP) on
# people's hands: the consensus only considers hand depths at which the landmarks span a
# palm of this size. A wide band (an adult's is about 10 cm, a large one 12; below: a
# child's, a landmark set squeezed by occlusion, foreshortening the relative depth misses):
# it only rules out gross mistakes such as taking the wall behind a small hand for it.
PALM_EXTENT_RANGE_M = (0.035, 0.14)


@dataclass(frozen=True)
class LiftConfig:
    """
    Settings of ``lift_landmarks``.

    Attributes
    ----------
    window_fraction : float
        Half-size of the depth window around a landmark, as a fraction of the palm's
        extent in pixels (about half a finger's width), within [min_window, max_window].
    min_window, max_window : int
        Bounds of that half-size (pixels).
    min_valid_fraction : float
        A landmark's window needs this fraction of valid depth pixels to be measured.
    window_quantile : float
        Quantile of the window's valid depths taken as the landmark's depth (0.5 is the
        median; lower favours the nearer surface where a window straddles a silhouette).
    tolerance : float
        A measured landmark agrees with the skeleton when within
        ``tolerance + noise * Z**2`` metres of its predicted depth.
    noise : float
        Growth of the tolerance with depth (structured-light / stereo noise), 1/m.
    min_visible : int
        Fewest agreeing landmarks to accept the hand.
    surface_offset : float
        Distance from the skin that depth sees to the joint centre (metres).
    max_depth : float
        Depth readings beyond this (metres) are treated as invalid.
    scale_range : tuple of float
        Bounds of the fitted scale of the detector's relative depth.

    """

    window_fraction: float = 0.06
    min_window: int = 1
    max_window: int = 10
    min_valid_fraction: float = 0.3
    window_quantile: float = 0.3
    tolerance: float = 0.025
    noise: float = 0.004
    min_visible: int = 5
    surface_offset: float = 0.008
    max_depth: float = 10.0
    scale_range: tuple[float, float] = (0.5, 2.0)

    def __post_init__(self):
        if not self.window_fraction > 0 or not 0 < self.min_window <= self.max_window:
            raise ValueError('window sizes must be positive, min_window <= max_window')
        if not 0 < self.min_valid_fraction <= 1:
            raise ValueError(f'min_valid_fraction must be in (0, 1], got '
                             f'{self.min_valid_fraction}')
        if not 0 <= self.window_quantile <= 1:
            raise ValueError(f'window_quantile must be in [0, 1], got {self.window_quantile}')
        if not self.tolerance > 0 or self.noise < 0:
            raise ValueError('tolerance must be positive and noise non-negative')
        if not 3 <= self.min_visible <= NUM_JOINTS:
            raise ValueError(f'min_visible must be in [3, 21], got {self.min_visible}')
        if not 0 <= self.surface_offset < 0.05:
            raise ValueError(f'surface_offset must be in [0, 0.05) m, got '
                             f'{self.surface_offset}')
        low, high = self.scale_range
        if not 0 < low <= 1 <= high:
            raise ValueError(f'scale_range must bracket 1, got {self.scale_range}')


@dataclass(frozen=True)
class LiftResult:
    """
    Outcome of lifting one hand.

    Attributes
    ----------
    joints : (21, 3) float64 or None
        Joints in the camera optical frame (metres); None when the hand was dropped.
    visible : (21,) bool
        Landmarks whose measured depth agrees with the hand (their joints use it).
    reason : str
        Empty when lifted, else one of ``LIFT_REASONS``.
    hand_depth : float
        Depth of the wrist's skin (metres, before ``surface_offset``); NaN when dropped.
    z_scale : float
        Fitted scale of the detector's relative depth (1 when not fitted).

    """

    joints: np.ndarray | None
    visible: np.ndarray
    reason: str = ''
    hand_depth: float = math.nan
    z_scale: float = 1.0

    @property
    def ok(self) -> bool:
        """Whether the hand was lifted."""
        return self.joints is not None


def _sample_points(landmarks: np.ndarray, radius: int) -> np.ndarray:
    """Where to read each landmark's depth: tips pulled towards their parent joint."""
    points = landmarks.copy()
    for tip in TIPS:
        parent = landmarks[PARENTS[tip]]
        along = parent - landmarks[tip]
        length = float(np.linalg.norm(along))
        if length > 0:
            points[tip] += along * min(0.5, radius / length)
    return points


def landmark_depths(depth: np.ndarray, points: np.ndarray, radius: int,
                    min_valid_fraction: float = 0.3, max_depth: float = 10.0,
                    quantile: float = 0.5) -> np.ndarray:
    """
    A quantile (default: the median) of the valid depth in a window around each point.

    The window is (2 radius + 1) pixels square.

    Parameters
    ----------
    depth : (H, W) float array
        Depth in metres; 0, NaN, negative or above ``max_depth`` is invalid.
    points : (N, 2) array
        Pixel coordinates (u, v); windows are clipped to the image.
    radius : int
        Window half-size in pixels (>= 0).
    min_valid_fraction : float
        Fraction of the (unclipped) window that must be valid.
    max_depth : float
        Largest valid depth.
    quantile : float
        Which quantile of the window's valid depths, in [0, 1].

    Returns
    -------
    (N,) float64
        Depths; NaN where the window has too few valid pixels or lies outside the image.

    """
    depth = np.asarray(depth)
    points = np.asarray(points, dtype=np.float64)
    if depth.ndim != 2:
        raise ValueError(f'depth must be 2D, got shape {depth.shape}')
    if points.ndim != 2 or points.shape[1] != 2 or not np.all(np.isfinite(points)):
        raise ValueError(f'points must be finite (N, 2), got {points.shape}')
    if radius < 0:
        raise ValueError(f'radius must be >= 0, got {radius}')
    if not 0 <= quantile <= 1:
        raise ValueError(f'quantile must be in [0, 1], got {quantile}')
    h, w = depth.shape
    offsets = np.arange(-radius, radius + 1)
    centres = np.rint(points).astype(np.int64)
    us = centres[:, 0, None, None] + offsets[None, None, :]
    vs = centres[:, 1, None, None] + offsets[None, :, None]
    inside = (us >= 0) & (us < w) & (vs >= 0) & (vs < h)
    values = depth[np.clip(vs, 0, h - 1), np.clip(us, 0, w - 1)].astype(np.float64)
    with np.errstate(invalid='ignore'):
        valid = inside & np.isfinite(values) & (values > 0) & (values <= max_depth)
    values = np.where(valid, values, np.nan).reshape(len(points), -1)
    count = valid.reshape(len(points), -1).sum(axis=1)
    enough = count >= max(1, math.ceil(min_valid_fraction * offsets.size ** 2))
    result = np.full(len(points), np.nan)
    if np.any(enough):
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', RuntimeWarning)
            result[enough] = np.nanquantile(values[enough], quantile, axis=1)
    return result


def _palm_extent_px(landmarks: np.ndarray, rel_z: np.ndarray) -> float:
    """
    The palm's largest span in pixels, counting the relative depth (foreshortening).

    The largest of wrist to index, middle and little MCP and index to little MCP: a palm
    seen edge-on or with MCPs hidden keeps at least one of them near its true length.
    """
    points = np.concatenate([landmarks, rel_z[:, None]], axis=1)
    spans = [points[a] - points[b] for a, b in ((WRIST, 5), (WRIST, 9), (WRIST, 17), (5, 17))]
    return float(max(np.linalg.norm(span) for span in spans))


def lift_landmarks(landmarks_px: np.ndarray, rel_z: np.ndarray, depth: np.ndarray,
                   camera: CameraIntrinsics, config: LiftConfig | None = None) -> LiftResult:
    """
    Metric camera-frame joints of one hand (see the module doc for the method).

    Parameters
    ----------
    landmarks_px : (21, 2) array
        Landmark pixels (u, v) in the image of ``camera``.
    rel_z : (21,) array
        The detector's relative depth in pixels of that image (u's scale), any origin,
        smaller = closer (``DetectedHand.landmarks_rel_z``).
    depth : (H, W) float array
        Depth in metres aligned to the image (0 or NaN: no measurement).
    camera : CameraIntrinsics
        Intrinsics of the image (fx and fy may differ, the principal point may be
        anywhere).
    config : LiftConfig, optional
        Settings.

    Returns
    -------
    LiftResult
        The joints, or the reason the hand was dropped.

    Raises
    ------
    ValueError
        On wrong shapes or non-finite landmarks.

    """
    config = config or LiftConfig()
    landmarks = np.asarray(landmarks_px, dtype=np.float64)
    rel_z = np.asarray(rel_z, dtype=np.float64)
    if landmarks.shape != (NUM_JOINTS, 2) or rel_z.shape != (NUM_JOINTS,):
        raise ValueError(f'landmarks_px must be (21, 2) and rel_z (21,), got '
                         f'{landmarks.shape} and {rel_z.shape}')
    if not (np.all(np.isfinite(landmarks)) and np.all(np.isfinite(rel_z))):
        raise ValueError('landmarks must be finite')
    depth = np.asarray(depth)
    if depth.shape != (camera.height, camera.width):
        raise ValueError(f'depth is {depth.shape} but the camera is '
                         f'{camera.height}x{camera.width}')
    rel_z = rel_z - rel_z[WRIST]
    palm_px = _palm_extent_px(landmarks, rel_z)
    radius = int(np.clip(round(config.window_fraction * palm_px), config.min_window,
                         config.max_window))
    measured = landmark_depths(depth, _sample_points(landmarks, radius), radius,
                               config.min_valid_fraction, config.max_depth,
                               config.window_quantile)
    has_depth = np.isfinite(measured)
    no_joints = np.zeros(NUM_JOINTS, bool)
    if has_depth.sum() < config.min_visible:
        return LiftResult(None, no_joints, REASON_NO_DEPTH)

    # Relative depth in focal lengths: z_i = Z0 * (1 + s * q_i). MediaPipe's z has the
    # scale of its x, so it converts with fx.
    q = rel_z / camera.fx

    def tolerance(z0: float) -> float:
        return config.tolerance + config.noise * z0 * z0

    # Consensus over the hypotheses "landmark i sees the hand's surface", restricted to
    # hand depths that give the palm a plausible metric length.
    low, high = (length * camera.fx / max(palm_px, 1e-6) for length in PALM_EXTENT_RANGE_M)
    best = None
    for i in np.flatnonzero(has_depth):
        z0 = measured[i] / (1.0 + q[i])
        if not low <= z0 <= high:
            continue
        residual = np.abs(measured - z0 * (1.0 + q))
        agree = has_depth & (residual < tolerance(z0))
        key = (int(agree.sum()), -float(np.nanmean(residual[agree])))
        if best is None or key > best[0]:
            best = (key, z0, agree)
    if best is None or best[0][0] < config.min_visible:
        return LiftResult(None, no_joints, REASON_INCONSISTENT)

    _, z0, agree = best
    scale = 1.0
    for _ in range(2):
        # Refit Z0 (and the relative-depth scale when the agreeing landmarks span enough
        # depth to tell it) on the agreeing landmarks, then re-select them.
        d, qa = measured[agree], q[agree]
        if np.ptp(qa) * z0 > 0.02:
            design = np.stack([np.ones_like(qa), qa], axis=1)
            (a, b), *_ = np.linalg.lstsq(design, d, rcond=None)
            if a > 0 and config.scale_range[0] <= b / a <= config.scale_range[1]:
                z0, scale = float(a), float(b / a)
            else:
                z0 = float(np.median(d / (1.0 + scale * qa)))
        else:
            z0 = float(np.median(d / (1.0 + scale * qa)))
        predicted = z0 * np.maximum(1.0 + scale * q, 0.5)
        agree = has_depth & (np.abs(measured - predicted) < tolerance(z0))
    if agree.sum() < config.min_visible:
        return LiftResult(None, no_joints, REASON_INCONSISTENT)

    z = np.where(agree, measured, predicted) + config.surface_offset
    u, v = landmarks[:, 0], landmarks[:, 1]
    joints = np.stack([(u - camera.cx) * z / camera.fx, (v - camera.cy) * z / camera.fy, z],
                      axis=1)
    return LiftResult(joints, agree, '', z0, scale)
