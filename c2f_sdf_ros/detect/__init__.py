"""
Hands on real images: 2D landmarks (MediaPipe), metric 3D joints from depth, the side.

Imports only ``c2f_sdf_ros.geometry`` (and numpy); MediaPipe is imported when a MediaPipe
detector is made, so this package imports without it.

- ``hands``: ``DetectedHand``, the ``HandDetector`` protocol, joint indices, box helpers.
- ``lifting``: ``lift_landmarks`` (robust per-landmark depth, occluded joints placed by the
  skeleton) and ``LiftResult`` with the reason a hand was dropped.
- ``handedness``: ``side_from_joints`` (3D handedness) and ``combine_sides``.
- ``mediapipe_hands``: ``MediaPipeHandDetector``.
"""

from __future__ import annotations

from c2f_sdf_ros.detect.handedness import combine_sides, flip_side, side_from_joints
from c2f_sdf_ros.detect.hands import (
    SIDE_LEFT,
    SIDE_RIGHT,
    SIDE_UNKNOWN,
    SIDES,
    DetectedHand,
    HandDetector,
)
from c2f_sdf_ros.detect.lifting import LIFT_REASONS, LiftConfig, LiftResult, lift_landmarks

__all__ = [
    'DETECTORS',
    'LIFT_REASONS',
    'SIDES',
    'SIDE_LEFT',
    'SIDE_RIGHT',
    'SIDE_UNKNOWN',
    'DetectedHand',
    'HandDetector',
    'LiftConfig',
    'LiftResult',
    'combine_sides',
    'flip_side',
    'lift_landmarks',
    'make_detector',
    'side_from_joints',
]

# Detectors ``make_detector`` builds. The skin/depth localiser lives in
# ``c2f_sdf_ros.reconstruct.localise`` (it returns a root, not landmarks).
DETECTORS = ('mediapipe',)


def make_detector(name: str = 'mediapipe', **options) -> HandDetector:
    """
    Build a hand detector by name.

    Parameters
    ----------
    name : str
        ``'mediapipe'``.
    **options
        Keyword arguments of the detector (``MediaPipeHandDetector``'s).

    Raises
    ------
    ImportError
        When the detector's package is missing, with a one-line install hint.
    ValueError
        On an unknown name or invalid options.

    """
    if name != 'mediapipe':
        raise ValueError(f'unknown hand detector {name!r}; known: {", ".join(DETECTORS)}')
    from c2f_sdf_ros.detect.mediapipe_hands import MediaPipeHandDetector

    try:
        return MediaPipeHandDetector(**options)
    except TypeError as error:
        raise ValueError(f'invalid options for the {name} detector: {error}') from error
