"""
Grasps of a procedural hand on an analytic object: placement, finger closing, checking.

A grasp puts the palm (power) or the space between thumb and fingertips (precision,
pinch) against a point of the object's surface, with the palm facing it, then closes
each finger joint by joint until its skin touches the surface (GraspIt's "auto-grasp"
idea, on signed distances): the thumb first opposes, then flexes. A grasp is kept when
enough fingers touch (skin within ``CONTACT_DISTANCE``) and nothing penetrates more than
``MAX_PENETRATION``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from c2f_sdf_ros.data.synth import sdf
from c2f_sdf_ros.data.synth.hand import (
    FINGER_LIMITS,
    FINGERS,
    THUMB_LIMITS,
    HandPose,
    HandShape,
    HandSkeleton,
    chain_skin_samples,
    finger_chain,
    forward_kinematics,
    skin_samples,
)

GRASP_TYPES = ('power', 'precision', 'pinch')
CONTACT_DISTANCE = 0.003
MAX_PENETRATION = 0.005
# Fingers that must touch, per grasp type (0 = thumb); 'palm' counts for power grasps.
REQUIRED_CONTACTS = {'power': 3, 'precision': 2, 'pinch': 2}
_ACTIVE = {'power': (0, 1, 2, 3, 4), 'precision': (0, 1, 2), 'pinch': (0, 1)}
# Flexion each finger closes towards (MCP, PIP, DIP), and the idle curl of inactive ones.
_CLOSED = np.array([1.45, 1.6, 1.1])
_IDLE = np.array([1.2, 1.45, 1.0])
# Closing: coarse steps to the first contact, then bisection (~0.1 mm at the fingertip).
_STEPS = 16
_BISECTIONS = 7


@dataclass(frozen=True)
class GraspReport:
    """
    Contact and penetration of a hand on an object.

    Attributes
    ----------
    gaps : dict
        Part name ('palm', 'thumb', ..., 'little') -> smallest skin-to-surface distance
        (m); negative is penetration.
    contacts : tuple of str
        Parts whose gap is at most ``CONTACT_DISTANCE``.
    penetration : float
        Deepest penetration of the skin into the object (m, >= 0).

    """

    gaps: dict
    contacts: tuple
    penetration: float

    def satisfies(self, grasp_type: str) -> bool:
        """Whether this is a valid grasp of ``grasp_type``."""
        fingers = [c for c in self.contacts if c != 'palm']
        if self.penetration > MAX_PENETRATION or 'thumb' not in self.contacts:
            return False
        if grasp_type == 'pinch':
            return 'index' in fingers
        count = len(fingers) + (grasp_type == 'power' and 'palm' in self.contacts)
        return count >= REQUIRED_CONTACTS[grasp_type]


@dataclass(frozen=True, eq=False)
class Grasp:
    """A hand pose and placement on an object, with its check."""

    grasp_type: str
    pose: HandPose
    skeleton: HandSkeleton
    object_T_hand: np.ndarray
    report: GraspReport


def check_contacts(skeleton: HandSkeleton, object_T_hand: np.ndarray,
                   object_sdf: Callable[[np.ndarray], np.ndarray]) -> GraspReport:
    """Gaps per hand part, contacts and penetration from skin samples of the primitives."""
    points, parts = skin_samples(skeleton)
    distances = object_sdf(sdf.apply(object_T_hand, points))
    names = ('palm', *FINGERS)
    gaps = {names[i]: float(distances[parts == i].min()) for i in range(6)}
    contacts = tuple(n for n in names if gaps[n] <= CONTACT_DISTANCE)
    return GraspReport(gaps, contacts, float(max(0.0, -distances.min())))


def _finger_gap(shape: HandShape, angles: np.ndarray, finger: int, object_T_hand,
                object_sdf) -> float:
    """Smallest distance from one finger's skin to the object (only that finger moves)."""
    limits = THUMB_LIMITS if finger == 0 else FINGER_LIMITS
    clipped = angles.copy()
    clipped[finger] = np.clip(angles[finger], limits[:, 0], limits[:, 1])
    joints = finger_chain(shape, clipped, finger)
    if shape.side == 'left':
        joints = joints * [1.0, -1.0, 1.0]
    points = chain_skin_samples(joints, shape.radii[finger], per_segment=32)
    return float(object_sdf(sdf.apply(object_T_hand, points)).min())


def _close(shape, angles, finger, joints, targets, object_T_hand, object_sdf):
    """Move ``joints`` of ``finger`` towards ``targets`` until the finger touches."""
    start = angles[finger, joints].copy()

    def at(t):
        trial = angles.copy()
        trial[finger, joints] = start + t * (targets - start)
        return trial

    if _finger_gap(shape, at(0.0), finger, object_T_hand, object_sdf) <= 0.0:
        return angles  # already touching (or inside): leave it
    previous = 0.0
    for t in np.linspace(0.0, 1.0, _STEPS + 1)[1:]:
        if _finger_gap(shape, at(t), finger, object_T_hand, object_sdf) <= 0.0:
            low, high = previous, t
            for _ in range(_BISECTIONS):
                middle = 0.5 * (low + high)
                if _finger_gap(shape, at(middle), finger, object_T_hand, object_sdf) <= 0.0:
                    high = middle
                else:
                    low = middle
            return at(low)
        previous = t
    return at(1.0)


def _frame_from_normal(normal: np.ndarray, finger_direction: np.ndarray) -> np.ndarray:
    """Rotation whose z is -normal (palm faces the surface) and x is along the fingers."""
    z = -normal / np.linalg.norm(normal)
    x = finger_direction - (finger_direction @ z) * z
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


def _random_perpendicular(rng: np.random.Generator, normal: np.ndarray) -> np.ndarray:
    v = rng.normal(size=3)
    v -= (v @ normal) * normal
    return v / np.linalg.norm(v)


def sample_grasp(rng: np.random.Generator, shape: HandShape,
                 object_sdf: Callable[[np.ndarray], np.ndarray], surface_points: np.ndarray,
                 surface_normals: np.ndarray, long_axis: np.ndarray | None = None,
                 grasp_type: str | None = None, max_tries: int = 40) -> Grasp | None:
    """
    Search for a grasp of ``grasp_type`` (random if None) on an object.

    Placements are tried in two bounded rounds of ``max_tries`` each. The first discards a
    placement whose palm starts inside the object. The palm anchor is the palm box's face,
    but the palm's skin also has the thenar pad, which stands ~12 mm proud of that face:
    on a convex surface too tightly curved for it (0.5 % of power grasps of a 3.5 cm
    cylinder, by hands scaled 0.90-0.94), every placement of that hand starts with the pad
    inside, and the first round fails whatever it draws. The second round (only reached
    then, so every grasp the first round finds is unchanged) backs such a placement out
    along the surface normal until the palm's skin is at the drawn gap, and closes the
    fingers from there.

    Parameters
    ----------
    rng : numpy Generator
        Random stream (placement, finger targets).
    shape : HandShape
        The hand.
    object_sdf : callable
        Signed distance of the object, (N, 3) object-frame points -> (N,).
    surface_points, surface_normals : (M, 3) arrays
        Candidate contact points on the object surface and their outward normals.
    long_axis : (3,) array, optional
        The object's longest axis: power grasps prefer wrapping the fingers around it.
    grasp_type : str, optional
        One of ``GRASP_TYPES``.
    max_tries : int
        Placements to try in each of the two rounds before giving up.

    Returns
    -------
    Grasp, or None if no valid grasp was found in either round.

    """
    if grasp_type is None:
        grasp_type = GRASP_TYPES[int(rng.choice(3, p=[0.45, 0.35, 0.2]))]
    if grasp_type not in GRASP_TYPES:
        raise ValueError(f'grasp_type must be one of {GRASP_TYPES}, got {grasp_type!r}')
    for back_off in (False, True):
        for _ in range(max_tries):
            grasp = _try_grasp(rng, shape, object_sdf, surface_points, surface_normals,
                               long_axis, grasp_type, back_off)
            if grasp is not None:
                return grasp
    return None


def _try_grasp(rng: np.random.Generator, shape: HandShape,
               object_sdf: Callable[[np.ndarray], np.ndarray], surface_points: np.ndarray,
               surface_normals: np.ndarray, long_axis: np.ndarray | None, grasp_type: str,
               back_off: bool) -> Grasp | None:
    """One placement, finger closing and check (see ``sample_grasp``); None if it fails."""
    scale = shape.scale
    i = int(rng.integers(len(surface_points)))
    point, normal = surface_points[i], surface_normals[i]
    if long_axis is not None and grasp_type == 'power' and rng.random() < 0.7:
        across = np.cross(normal, long_axis)
        direction = (across if np.linalg.norm(across) > 0.3 else
                     _random_perpendicular(rng, normal)) * rng.choice([-1.0, 1.0])
        direction = direction / np.linalg.norm(direction)
        tilt = rng.normal(0.0, 0.25)
        direction = np.cos(tilt) * direction + np.sin(tilt) * np.cross(normal, direction)
    else:
        direction = _random_perpendicular(rng, normal)
    rotation = _frame_from_normal(normal, direction)
    angles = np.zeros((5, 4))
    angles[1:, 0] = rng.uniform(-0.12, 0.12, 4)
    angles[0, 0] = rng.uniform(0.0, 0.5)
    if grasp_type == 'power':
        # The palm's surface centre against the surface, a few millimetres off.
        anchor = shape.palm_center + [0.0, 0.0, shape.palm_half[2]]
        gap = rng.uniform(0.0, 0.004)
    else:
        # The point where a half-closed thumb and index meet, on the surface.
        anchor = np.array([0.075, -0.02, 0.04]) * scale
        angles[1:, 1] = rng.uniform(0.2, 0.5, 4)
        gap = rng.uniform(0.0, 0.01)
    if shape.side == 'left':
        anchor = anchor * [1.0, -1.0, 1.0]
    object_T_hand = np.eye(4)
    object_T_hand[:3, :3] = rotation
    object_T_hand[:3, 3] = point + gap * normal - rotation @ anchor
    skeleton = forward_kinematics(shape, HandPose(angles))
    start = check_contacts(skeleton, object_T_hand, object_sdf)
    if start.gaps['palm'] < -0.002:
        if not back_off:
            return None  # the palm itself is inside the object: no closing can fix that
        # Out along the normal until the palm's skin is at the drawn gap (the surface is
        # locally flat on the scale of the move).
        object_T_hand[:3, 3] += (gap - start.gaps['palm']) * normal
    active = _ACTIVE[grasp_type]
    # Thumb: oppose first, then flex.
    angles = _close(shape, angles, 0, [1], np.array([rng.uniform(0.8, 1.2)]),
                    object_T_hand, object_sdf)
    angles = _close(shape, angles, 0, [2, 3], np.array([0.9, 1.2]), object_T_hand,
                    object_sdf)
    for finger in range(1, 5):
        targets = _CLOSED if finger in active else _IDLE * rng.uniform(0.6, 1.0)
        angles = _close(shape, angles, finger, [1, 2, 3], targets, object_T_hand,
                        object_sdf)
    pose = HandPose(angles)
    skeleton = forward_kinematics(shape, pose)
    report = check_contacts(skeleton, object_T_hand, object_sdf)
    if report.satisfies(grasp_type):
        return Grasp(grasp_type, pose, skeleton, object_T_hand, report)
    return None
