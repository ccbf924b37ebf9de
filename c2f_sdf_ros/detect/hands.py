"""
What a hand detector returns, the detector protocol, and small helpers shared by detectors.

Joints and landmarks are 21 per hand in the project's (MANO/DexYCB) order, which is also
MediaPipe's: wrist, thumb 1-4, index 1-4, middle 1-4, ring 1-4, little 1-4 (joint 4 of each
finger is its tip). The side is the side of the person's hand as seen in a normal,
non-mirrored camera image.
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Protocol, runtime_checkable

import numpy as np

from c2f_sdf_ros.geometry.camera import CameraIntrinsics

NUM_JOINTS = 21
WRIST = 0
THUMB = (1, 2, 3, 4)
INDEX = (5, 6, 7, 8)
MIDDLE = (9, 10, 11, 12)
RING = (13, 14, 15, 16)
LITTLE = (17, 18, 19, 20)
FINGERS = (THUMB, INDEX, MIDDLE, RING, LITTLE)
TIPS = (4, 8, 12, 16, 20)
# Parent of each joint along the kinematic chain (the wrist has none).
PARENTS = (-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19)

SIDE_LEFT = 'left'
SIDE_RIGHT = 'right'
SIDE_UNKNOWN = 'unknown'
SIDES = (SIDE_LEFT, SIDE_RIGHT, SIDE_UNKNOWN)


def _array(value, shape: tuple[int, ...], name: str, dtype=np.float64) -> np.ndarray:
    array = np.array(value, dtype=dtype, copy=True)
    if array.shape != shape:
        raise ValueError(f'{name} must have shape {shape}, got {array.shape}')
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class DetectedHand:
    """
    One hand found in an RGB-D frame.

    Attributes
    ----------
    landmarks_px : (21, 2) float64
        Landmark pixel coordinates (u, v) in the full image (pixel centres at integers).
    landmarks_rel_z : (21,) float64
        Relative depth of each landmark from the 2D detector, in pixels of this image
        (the same scale as u): 0 at the wrist, smaller is closer to the camera. For
        MediaPipe it is its landmark ``z`` times the width of the image it ran on.
    joints : (21, 3) float64
        Joints in the camera optical frame (metres), from ``lifting.lift_landmarks``;
        NaN where the hand has not been lifted.
    visible : (21,) bool
        Joints whose depth was measured in the depth image (the others were placed by the
        skeleton: occluded, or no valid depth).
    score : float
        Detection confidence in [0, 1].
    box : (4,) float64
        Pixel box (u_min, v_min, u_max, v_max) of the landmarks.
    side : str
        ``'left'``, ``'right'`` or ``'unknown'``, for a non-mirrored camera image.
    side_score : float
        Probability that ``side`` is right, in [0, 1]: 0.5 is a coin toss; an
        ``'unknown'`` side carries the probability of the better guess.

    Raises
    ------
    ValueError
        On a wrong shape, a non-finite landmark, a score outside [0, 1] or an unknown side.

    """

    landmarks_px: np.ndarray
    landmarks_rel_z: np.ndarray
    joints: np.ndarray
    visible: np.ndarray
    score: float
    box: np.ndarray
    side: str = SIDE_UNKNOWN
    side_score: float = 0.0

    def __post_init__(self):
        set_ = object.__setattr__
        set_(self, 'landmarks_px', _array(self.landmarks_px, (NUM_JOINTS, 2), 'landmarks_px'))
        set_(self, 'landmarks_rel_z',
             _array(self.landmarks_rel_z, (NUM_JOINTS,), 'landmarks_rel_z'))
        set_(self, 'joints', _array(self.joints, (NUM_JOINTS, 3), 'joints'))
        set_(self, 'visible', _array(self.visible, (NUM_JOINTS,), 'visible', bool))
        set_(self, 'box', _array(self.box, (4,), 'box'))
        if not (np.all(np.isfinite(self.landmarks_px))
                and np.all(np.isfinite(self.landmarks_rel_z))):
            raise ValueError('landmarks must be finite')
        for name in ('score', 'side_score'):
            value = float(getattr(self, name))
            if not 0.0 <= value <= 1.0:
                raise ValueError(f'{name} must be in [0, 1], got {value}')
            set_(self, name, value)
        if self.side not in SIDES:
            raise ValueError(f'side must be one of {SIDES}, got {self.side!r}')

    @property
    def lifted(self) -> bool:
        """Whether ``joints`` hold metric 3D joints."""
        return bool(np.all(np.isfinite(self.joints)))

    @property
    def root(self) -> np.ndarray:
        """The wrist joint (3,), metres (NaN before lifting)."""
        return self.joints[WRIST]

    @property
    def centre(self) -> np.ndarray:
        """Mean of the 21 joints (3,), metres (NaN before lifting)."""
        return self.joints.mean(axis=0)

    @classmethod
    def from_landmarks(cls, landmarks_px, landmarks_rel_z, score: float,
                       side: str = SIDE_UNKNOWN, side_score: float = 0.0) -> DetectedHand:
        """A hand with 2D landmarks only: box from the landmarks, joints NaN, none visible."""
        landmarks_px = np.asarray(landmarks_px, dtype=np.float64)
        if landmarks_px.shape != (NUM_JOINTS, 2):
            raise ValueError(f'landmarks_px must have shape (21, 2), got {landmarks_px.shape}')
        box = np.concatenate([landmarks_px.min(axis=0), landmarks_px.max(axis=0)])
        return cls(landmarks_px, landmarks_rel_z, np.full((NUM_JOINTS, 3), np.nan),
                   np.zeros(NUM_JOINTS, bool), score, box, side, side_score)


@runtime_checkable
class HandDetector(Protocol):
    """
    Finds hands in an aligned RGB-D frame.

    ``detect(color, depth, camera)`` takes color (H, W, 3) uint8 RGB, depth (H, W) float32
    metres along the optical axis (0 or NaN = no measurement) aligned to color, and the
    color camera's intrinsics; it returns at most ``max_hands`` lifted hands sorted by
    decreasing score, and raises ValueError on malformed input.
    """

    max_hands: int

    def detect(self, color: np.ndarray, depth: np.ndarray,
               camera: CameraIntrinsics) -> list[DetectedHand]:
        """Hands in the frame, best first."""
        ...


def check_frame(color: np.ndarray, depth: np.ndarray, camera: CameraIntrinsics) -> None:
    """
    Check a frame for a detector.

    Raises
    ------
    ValueError
        If color is not (H, W, 3) uint8, depth not (H, W) floating point, or either does
        not match the camera's size.

    """
    if not isinstance(camera, CameraIntrinsics):
        raise ValueError(f'camera must be CameraIntrinsics, got {type(camera).__name__}')
    color = np.asarray(color)
    depth = np.asarray(depth)
    h, w = camera.height, camera.width
    if color.dtype != np.uint8 or color.shape != (h, w, 3):
        raise ValueError(f'color must be uint8 ({h}, {w}, 3) RGB, got {color.dtype} '
                         f'{color.shape}')
    if not np.issubdtype(depth.dtype, np.floating) or depth.shape != (h, w):
        raise ValueError(f'depth must be float ({h}, {w}) metres, got {depth.dtype} '
                         f'{depth.shape}')


def box_iou(a, b) -> float:
    """Intersection over union of two (u_min, v_min, u_max, v_max) boxes (0 if empty)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != (4,) or b.shape != (4,):
        raise ValueError(f'boxes must have shape (4,), got {a.shape} and {b.shape}')
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def same_hand(a: np.ndarray, b: np.ndarray, overlap: float = 0.3) -> bool:
    """
    Whether two 21-landmark sets (pixels) are the same hand seen twice.

    True when their landmark boxes overlap by more than ``overlap`` IoU, or when the mean
    landmark distance is under a quarter of the smaller hand's size (a hand found twice
    with one box cut short).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != (NUM_JOINTS, 2) or b.shape != (NUM_JOINTS, 2):
        raise ValueError(f'landmarks must be (21, 2), got {a.shape} and {b.shape}')
    box_a = np.concatenate([a.min(0), a.max(0)])
    box_b = np.concatenate([b.min(0), b.max(0)])
    if box_iou(box_a, box_b) > overlap:
        return True
    size = min(np.linalg.norm(box_a[2:] - box_a[:2]), np.linalg.norm(box_b[2:] - box_b[:2]))
    return bool(np.linalg.norm(a - b, axis=1).mean() < 0.25 * max(size, 1.0))


def dedupe(landmarks: list[np.ndarray], scores: list[float],
           overlap: float = 0.3) -> list[int]:
    """
    Indices of the landmark sets to keep: best score first, dropping repeats of a kept hand.

    Parameters
    ----------
    landmarks : list of (21, 2) arrays
        Candidate hands (pixels).
    scores : list of float
        Their scores (same length).
    overlap : float
        Box IoU above which two candidates are one hand (see ``same_hand``).

    """
    if len(landmarks) != len(scores):
        raise ValueError(f'{len(landmarks)} landmark sets but {len(scores)} scores')
    if not 0.0 <= overlap <= 1.0 or math.isnan(overlap):
        raise ValueError(f'overlap must be in [0, 1], got {overlap}')
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    kept: list[int] = []
    for i in order:
        if not any(same_hand(landmarks[i], landmarks[k], overlap) for k in kept):
            kept.append(i)
    return kept
