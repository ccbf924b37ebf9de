"""
Which hand it is: a geometric rule on 3D joints, and how it is combined with a classifier's label.

Handedness is a property of the hand's 3D shape, not of the viewpoint. With
``n = (index_MCP - wrist) x (little_MCP - wrist)`` in a right-handed frame (the camera
optical frame is one), ``n`` points out of the palm of a right hand and out of the back of
a left hand, whatever the hand's pose relative to the camera. Fingers and thumb flex
towards the palm, so the distal joints lie on the palm side of the palm plane: for a right
hand they have positive offsets along ``n``, for a left hand negative ones. Mirroring the
joints (negating x) flips the sign, rotating them (another viewpoint) does not.

A flat hand has no such offsets and no geometric handedness (its mirror image through the
palm plane is the other hand in the same pose): the rule then says ``'unknown'``. It also
only measures what the joints measure: on joints lifted with depth it uses the observed
finger flexion, which is what tells a right hand seen from the back from a left hand seen
from the palm, the case where an image classifier (MediaPipe's label) goes wrong.
"""

from __future__ import annotations

import math

import numpy as np

from c2f_sdf_ros.detect.hands import NUM_JOINTS, SIDE_LEFT, SIDE_RIGHT, SIDE_UNKNOWN, SIDES

# Joints whose offset from the palm plane measures flexion: thumb MCP, IP, tip; PIP, DIP
# and tip of each finger.
FLEXION_JOINTS = (2, 3, 4, 6, 7, 8, 10, 11, 12, 14, 15, 16, 18, 19, 20)


def _palm(joints3d: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, float]:
    """
    Checked joints, the unit palm normal and the palm length (wrist to middle MCP).

    The normal is ``(index_MCP - wrist) x (little_MCP - wrist)`` normalised, None when the
    MCPs are collinear (|n| small against the palm's own size leaves it undefined).
    ValueError on a wrong shape or a non-finite joint.
    """
    joints = np.asarray(joints3d, dtype=np.float64)
    if joints.shape != (NUM_JOINTS, 3):
        raise ValueError(f'joints3d must have shape (21, 3), got {joints.shape}')
    if not np.all(np.isfinite(joints)):
        raise ValueError('joints3d must be finite')
    wrist = joints[0]
    palm_length = float(np.linalg.norm(joints[9] - wrist))
    normal = np.cross(joints[5] - wrist, joints[17] - wrist)
    norm = float(np.linalg.norm(normal))
    if palm_length <= 0 or norm <= 1e-3 * palm_length ** 2:
        return joints, None, palm_length
    return joints, normal / norm, palm_length


def palm_flexion(joints3d: np.ndarray, weights: np.ndarray | None = None) -> float:
    """
    Mean offset of the distal joints along the palm normal, in palm lengths.

    Parameters
    ----------
    joints3d : (21, 3) array
        Joints in a right-handed frame (any units), project order.
    weights : (21,) array, optional
        Non-negative weight of each joint's offset (e.g. 1 where depth measured it, less
        where it was guessed); only ``FLEXION_JOINTS`` entries are used. Default: equal.

    Returns
    -------
    float
        Positive for a right hand, negative for a left hand, about 0 for a flat hand;
        NaN when the palm is degenerate (wrist, index and little MCP collinear) or no
        flexion joint has weight.

    Raises
    ------
    ValueError
        On a wrong shape, a non-finite joint or a negative weight.

    """
    joints, normal, palm_length = _palm(joints3d)
    if weights is None:
        w = np.ones(len(FLEXION_JOINTS))
    else:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (NUM_JOINTS,):
            raise ValueError(f'weights must have shape (21,), got {weights.shape}')
        if not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise ValueError('weights must be finite and non-negative')
        w = weights[list(FLEXION_JOINTS)]
    if normal is None or w.sum() <= 0:
        return math.nan
    offsets = (joints[list(FLEXION_JOINTS)] - joints[0]) @ normal / palm_length
    # Bounded influence: one joint lifted onto the wrong surface cannot decide alone.
    offsets = np.clip(offsets, -1.0, 1.0)
    return float(np.sum(w * offsets) / w.sum())


def palm_facing(joints3d: np.ndarray, side: str) -> float:
    """
    How squarely the palm faces the camera: cosine of palm normal and line of sight.

    Parameters
    ----------
    joints3d : (21, 3) array
        Joints in the camera optical frame (the camera at the origin), project order.
    side : str
        The hand's true side, ``'right'`` or ``'left'`` (it decides which way the palm
        normal points, see the module doc).

    Returns
    -------
    float
        In [-1, 1]: 1 when the palm faces the camera, -1 when the back of the hand does,
        about 0 seen edge on; NaN when the palm is degenerate (collinear MCPs) or lies at
        the camera's centre.

    Raises
    ------
    ValueError
        On a wrong shape, a non-finite joint or a side that is not 'right' or 'left'.

    """
    joints, normal, _ = _palm(joints3d)
    if side not in (SIDE_RIGHT, SIDE_LEFT):
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    palm_centre = joints[[0, 5, 9, 13, 17]].mean(axis=0)
    distance = float(np.linalg.norm(palm_centre))
    if normal is None or distance <= 0:
        return math.nan
    if side == SIDE_LEFT:
        normal = -normal
    return float(np.clip(normal @ -palm_centre / distance, -1.0, 1.0))


def side_from_joints(joints3d: np.ndarray, weights: np.ndarray | None = None, *,
                     flexion_scale: float = 0.15,
                     min_confidence: float = 0.2) -> tuple[str, float]:
    """
    Handedness of 3D joints from the direction the fingers flex (see the module doc).

    Parameters
    ----------
    joints3d : (21, 3) array
        Joints in a right-handed frame such as the camera optical frame (x right, y down,
        z forward), project order (wrist, thumb 1-4, index 1-4, ..., little 1-4).
    weights : (21,) array, optional
        Per-joint weights, as in ``palm_flexion``.
    flexion_scale : float
        Mean flexion (palm lengths) at which confidence reaches tanh(1) = 0.76.
    min_confidence : float
        Below it the side is ``'unknown'`` (a nearly flat hand).

    Returns
    -------
    side : str
        ``'right'``, ``'left'`` or ``'unknown'``.
    confidence : float
        In [0, 1): tanh(|flexion| / flexion_scale); 0 when degenerate.

    Raises
    ------
    ValueError
        On malformed joints or weights, or a non-positive ``flexion_scale``.

    """
    if not flexion_scale > 0:
        raise ValueError(f'flexion_scale must be positive, got {flexion_scale}')
    flexion = palm_flexion(joints3d, weights)
    if math.isnan(flexion):
        return SIDE_UNKNOWN, 0.0
    confidence = float(math.tanh(abs(flexion) / flexion_scale))
    if confidence < min_confidence:
        return SIDE_UNKNOWN, confidence
    return (SIDE_RIGHT if flexion > 0 else SIDE_LEFT), confidence


def flip_side(side: str) -> str:
    """The other side (``'unknown'`` stays): a label given for a mirrored image."""
    if side not in SIDES:
        raise ValueError(f'side must be one of {SIDES}, got {side!r}')
    return {SIDE_LEFT: SIDE_RIGHT, SIDE_RIGHT: SIDE_LEFT}.get(side, SIDE_UNKNOWN)


def _evidence(side: str, probability: float) -> float:
    """Log-odds for 'right' of a side given with a probability in [0.5, 1)."""
    if side == SIDE_UNKNOWN:
        return 0.0
    logit = math.log(probability / (1.0 - probability))
    return logit if side == SIDE_RIGHT else -logit


def combine_sides(label_side: str, label_score: float, geometry_side: str,
                  geometry_confidence: float, *, label_cap: float = 0.9,
                  geometry_cap: float = 0.8, min_score: float = 0.55) -> tuple[str, float]:
    """
    Combine a classifier's side label with the geometric side, as independent evidence.

    Each is turned into log-odds for 'right' and the two are added. The label's score is
    capped at ``label_cap`` (MediaPipe reports 0.99 on the hands it gets wrong too); the
    geometric confidence c becomes a probability 0.5 + (geometry_cap - 0.5) * c. The
    geometry is capped lower than the label by default: on real frames the depth-measured
    flexion was fooled where the held object hides the fingers just in front of them
    (its surface passes for the fingers'), while MediaPipe's flipped label was wrong only
    where its landmarks themselves were mirrored (which no geometry on them can see). So
    the geometry decides when the label is unsure (below ``geometry_cap``) and adds
    confidence when both agree.

    Parameters
    ----------
    label_side : str
        Side from the image classifier, already for a non-mirrored image.
    label_score : float
        Its probability in [0, 1].
    geometry_side, geometry_confidence
        Output of ``side_from_joints`` (confidence in [0, 1]).
    label_cap, geometry_cap : float
        Largest probability given to each, in (0.5, 1).
    min_score : float
        Combined probability below which the side is ``'unknown'``.

    Returns
    -------
    side : str
        The combined side.
    score : float
        Probability of that side in [0.5, 1), or of the better guess when ``'unknown'``.

    Raises
    ------
    ValueError
        On an unknown side or a value out of range.

    """
    for side in (label_side, geometry_side):
        if side not in SIDES:
            raise ValueError(f'side must be one of {SIDES}, got {side!r}')
    for name, value, low, high in (('label_score', label_score, 0.0, 1.0),
                                   ('geometry_confidence', geometry_confidence, 0.0, 1.0),
                                   ('label_cap', label_cap, 0.5, 1.0),
                                   ('geometry_cap', geometry_cap, 0.5, 1.0),
                                   ('min_score', min_score, 0.5, 1.0)):
        if not low <= value <= high or (name.endswith('cap') and value in (0.5, 1.0)):
            raise ValueError(f'{name} must be in [{low}, {high}], got {value}')
    label_p = min(max(label_score, 0.5), label_cap)
    geometry_p = 0.5 + (geometry_cap - 0.5) * geometry_confidence
    total = _evidence(label_side, label_p) + _evidence(geometry_side, geometry_p)
    score = 1.0 / (1.0 + math.exp(-abs(total)))
    if total == 0.0 or score < min_score:
        return SIDE_UNKNOWN, score
    return (SIDE_RIGHT if total > 0 else SIDE_LEFT), score
