"""
A procedural articulated hand with an analytic signed distance.

Skeleton: the 21 joints in MANO/DexYCB order (wrist, then thumb, index, middle, ring,
little, four joints each from the base to the tip). Skin: a smooth union of a palm and a
wrist (rounded boxes), a thenar pad and one tapered capsule (round cone) per phalanx, so
signed distances are analytic and meshes come from marching cubes of the same function.

Hand frame (metres): origin at the wrist joint, +x towards the middle finger, +z out of
the palm (palmar side), y = z x x. A right hand has its thumb at y < 0; a left hand is
the mirror image through the xz plane (its thumb at y > 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh

from c2f_sdf_ros.data.synth import sdf
from c2f_sdf_ros.data.synth.meshing import mesh_from_grid

NUM_JOINTS = 21
FINGERS = ('thumb', 'index', 'middle', 'ring', 'little')
SIDES = ('right', 'left')
# (parent, child) joint pairs of the 20 bones.
BONES = tuple((0 if j % 4 == 1 else j - 1, j) for j in range(1, NUM_JOINTS))


def finger_joints(finger: int) -> list[int]:
    """Joint indices of finger ``finger`` (0 thumb .. 4 little), base to tip."""
    return [1 + 4 * finger + k for k in range(4)]


# Nominal adult right hand (metres). Finger bases: thumb CMC, then the MCP joints.
_BASES = np.array([[0.022, -0.024, 0.008], [0.086, -0.023, 0.0], [0.090, -0.004, 0.0],
                   [0.085, 0.014, 0.0], [0.077, 0.030, 0.0]])
# Segment lengths base->2nd, 2nd->3rd, 3rd->tip.
_LENGTHS = np.array([[0.045, 0.032, 0.026], [0.039, 0.023, 0.020], [0.043, 0.027, 0.021],
                     [0.040, 0.026, 0.021], [0.032, 0.019, 0.019]])
# Skin radius at each of the four joints of a finger.
_RADII = np.array([[0.0125, 0.0105, 0.0095, 0.0085], [0.0095, 0.0085, 0.0075, 0.0068],
                   [0.0100, 0.0088, 0.0078, 0.0070], [0.0092, 0.0082, 0.0072, 0.0065],
                   [0.0082, 0.0072, 0.0064, 0.0058]])
# Rest direction of each finger in the palm plane: angle from +x about +z (radians).
_SPLAY = np.array([-0.95, -0.12, 0.0, 0.10, 0.22])
_PALM_CENTER = np.array([0.046, 0.003, 0.0])
_PALM_HALF = np.array([0.044, 0.038, 0.011])
_WRIST_CENTER = np.array([-0.008, 0.003, 0.0])
_WRIST_HALF = np.array([0.016, 0.028, 0.016])
# Blend widths of the smooth unions (metres).
BLEND_PALM = 0.010
BLEND_FINGER = 0.006

# Joint limits (radians). Fingers: [abduction, MCP, PIP, DIP]; thumb: [in-plane rotation
# towards the index, palmar abduction (opposition), MCP flexion, IP flexion].
FINGER_LIMITS = np.array([[-0.25, 0.25], [-0.30, 1.60], [0.0, 1.80], [-0.10, 1.30]])
THUMB_LIMITS = np.array([[-0.40, 0.70], [-0.20, 1.25], [-0.20, 1.00], [-0.30, 1.40]])


@dataclass(frozen=True, eq=False)
class HandShape:
    """
    Size and proportions of one hand.

    Attributes
    ----------
    side : str
        'right' or 'left'.
    scale : float
        Global scale (0.85-1.15 of the nominal adult hand).
    bases : (5, 3) array
        Finger base joints (thumb CMC, MCPs) in the right-hand frame.
    lengths : (5, 3) array
        Segment lengths of each finger, base to tip.
    radii : (5, 4) array
        Skin radius at each finger joint.
    palm_center, palm_half, wrist_center, wrist_half : (3,) arrays
        Rounded boxes of the palm and wrist.
    splay : (5,) array, optional
        Rest direction of each finger in the palm plane (angle from +x about +z);
        None: the procedural hand's. A rigged mesh hand (``gltf_hand``) sets its own.

    """

    side: str
    scale: float
    bases: np.ndarray
    lengths: np.ndarray
    radii: np.ndarray
    palm_center: np.ndarray
    palm_half: np.ndarray
    wrist_center: np.ndarray
    wrist_half: np.ndarray
    splay: np.ndarray | None = None


def nominal_hand(side: str = 'right', scale: float = 1.0) -> HandShape:
    """The nominal adult hand, scaled."""
    if side not in SIDES:
        raise ValueError(f'side must be one of {SIDES}, got {side!r}')
    if not 0.5 <= scale <= 2.0:
        raise ValueError(f'scale must be in [0.5, 2], got {scale}')
    return HandShape(side, float(scale), _BASES * scale, _LENGTHS * scale, _RADII * scale,
                     _PALM_CENTER * scale, _PALM_HALF * scale, _WRIST_CENTER * scale,
                     _WRIST_HALF * scale)


def sample_hand_shape(rng: np.random.Generator, side: str | None = None) -> HandShape:
    """A random hand: global scale 0.85-1.15, each bone +-8 %, each radius +-10 %."""
    side = side if side is not None else SIDES[int(rng.integers(2))]
    hand = nominal_hand(side, float(rng.uniform(0.85, 1.15)))
    lengths = hand.lengths * rng.uniform(0.92, 1.08, hand.lengths.shape)
    radii = hand.radii * rng.uniform(0.9, 1.1, (5, 1))  # one factor per finger: no bulges
    thickness = rng.uniform(0.9, 1.1)
    palm_half = hand.palm_half * np.array([rng.uniform(0.95, 1.05), rng.uniform(0.95, 1.05),
                                           thickness])
    return HandShape(side, hand.scale, hand.bases, lengths, radii, hand.palm_center,
                     palm_half, hand.wrist_center, hand.wrist_half * [1, 1, thickness])


@dataclass(frozen=True, eq=False)
class HandPose:
    """
    Joint angles (radians), within ``FINGER_LIMITS`` / ``THUMB_LIMITS``.

    ``angles[0]`` is the thumb [rotation, opposition, MCP, IP]; ``angles[1:]`` the fingers
    [abduction, MCP, PIP, DIP]. Zero is the flat open hand.
    """

    angles: np.ndarray

    @classmethod
    def flat(cls) -> HandPose:
        """The open, flat hand."""
        return cls(np.zeros((5, 4)))

    def clipped(self) -> HandPose:
        """The pose with every angle clipped to its joint limits."""
        limits = np.concatenate([THUMB_LIMITS[None], np.repeat(FINGER_LIMITS[None], 4, 0)])
        return HandPose(np.clip(self.angles, limits[..., 0], limits[..., 1]))


@dataclass(frozen=True, eq=False)
class HandSkeleton:
    """
    A posed hand: joints and skin radii in the hand frame of its side.

    Attributes
    ----------
    shape : HandShape
    joints : (21, 3) array
        Joint positions, MANO order, in this hand's frame (mirrored for a left hand).
    radii : (21,) array
        Skin radius at each joint (the wrist's is unused).

    """

    shape: HandShape
    joints: np.ndarray
    radii: np.ndarray

    @property
    def mirror(self) -> np.ndarray:
        """(3,) factor taking right-hand-frame coordinates to this hand's frame."""
        return np.array([1.0, -1.0, 1.0]) if self.shape.side == 'left' else np.ones(3)


def _rot_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def flexion_plane(shape: HandShape, angles: np.ndarray,
                  finger: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    The plane one finger flexes in, right-hand frame, for clipped ``angles``.

    Bone k of the finger points along ``cos(c[k]) * d + sin(c[k]) * b``, so every bone
    turns about the flexion axis ``d x b``. Each finger flexes in the plane of its rest
    direction and the palm normal; the thumb first rotates in the palm plane and out of it
    (opposition), then flexes towards the middle finger's base.

    Returns
    -------
    d, b : (3,) arrays
        Orthonormal: the first bone's direction at zero flexion, and the bend direction.
    c : (3,) array
        Cumulative flexion of the three bones (radians).

    """
    z = np.array([0.0, 0.0, 1.0])
    splay = _SPLAY if shape.splay is None else shape.splay
    base = shape.bases[finger]
    if finger == 0:
        rotation, opposition, flex1, flex2 = angles[0]
        rest = _rot_z(splay[0] + rotation)[:, 0]
        d1 = np.cos(opposition) * rest + np.sin(opposition) * z
        towards = shape.bases[2] + 0.02 * shape.scale * z - base
        bend = towards - (towards @ d1) * d1
        bend /= np.linalg.norm(bend)
        return d1, bend, np.array([0.0, flex1, flex1 + flex2])
    rest = _rot_z(splay[finger] + angles[finger, 0])[:, 0]
    return rest, z, np.cumsum(angles[finger, 1:])


def finger_chain(shape: HandShape, angles: np.ndarray, finger: int) -> np.ndarray:
    """
    The four joints (base to tip) of one finger, right-hand frame, for clipped ``angles``.

    The bones flex in ``flexion_plane``.
    """
    d, bend, cumulative = flexion_plane(shape, angles, finger)
    directions = np.cos(cumulative)[:, None] * d + np.sin(cumulative)[:, None] * bend
    base = shape.bases[finger]
    steps = shape.lengths[finger][:, None] * directions
    return np.concatenate([base[None], base + np.cumsum(steps, axis=0)])


def forward_kinematics(shape: HandShape, pose: HandPose) -> HandSkeleton:
    """Joint positions of ``shape`` in ``pose`` (angles are clipped to the joint limits)."""
    angles = pose.clipped().angles
    joints = np.zeros((NUM_JOINTS, 3))
    radii = np.zeros(NUM_JOINTS)
    for finger in range(5):
        index = finger_joints(finger)
        joints[index] = finger_chain(shape, angles, finger)
        radii[index] = shape.radii[finger]
    mirror = np.array([1.0, -1.0, 1.0]) if shape.side == 'left' else np.ones(3)
    return HandSkeleton(shape, joints * mirror, radii)


def _finger_sdf(skeleton: HandSkeleton, finger: int, p_right: np.ndarray) -> np.ndarray:
    right = skeleton.joints * skeleton.mirror
    index = finger_joints(finger)
    return np.minimum.reduce([
        sdf.round_cone(p_right, right[index[k]], right[index[k + 1]],
                       skeleton.radii[index[k]], skeleton.radii[index[k + 1]])
        for k in range(3)])


def thenar_cone(skeleton: HandSkeleton):
    """
    The thenar eminence as a round cone: (a, b, radius_a, radius_b) in the hand frame.

    A thick pad from the thumb's CMC along its metacarpal, which is what makes the thumb's
    base join the palm (``hand_sdf``; ``torch_scene`` evaluates the same cone).
    """
    shape = skeleton.shape
    joints = skeleton.joints
    return (0.5 * (joints[0] + joints[1]), joints[2], 1.5 * shape.radii[0, 0],
            shape.radii[0, 1])


def _thenar_sdf(skeleton: HandSkeleton, p_right: np.ndarray) -> np.ndarray:
    a, b, radius_a, radius_b = thenar_cone(skeleton)
    return sdf.round_cone(p_right, a * skeleton.mirror, b * skeleton.mirror, radius_a,
                          radius_b)


def _palm_sdf(skeleton: HandSkeleton, p_right: np.ndarray) -> np.ndarray:
    shape = skeleton.shape
    palm = sdf.round_box(p_right - shape.palm_center, shape.palm_half, 0.9 * shape.palm_half[2])
    wrist = sdf.round_box(p_right - shape.wrist_center, shape.wrist_half,
                          0.9 * shape.wrist_half[2])
    return sdf.smooth_union(palm, wrist, BLEND_PALM * shape.scale)


def hand_sdf(skeleton: HandSkeleton, points: np.ndarray) -> np.ndarray:
    """
    Signed distance (m) from ``points`` (N, 3), in the hand frame, to the hand's skin.

    Exact for the primitives; within the smooth blends (palm-finger junctions) it is a
    close bound, which is what marching cubes and near-surface samples need.
    """
    points = np.asarray(points, dtype=np.float64)
    p_right = points * skeleton.mirror
    k_palm = BLEND_PALM * skeleton.shape.scale
    k_finger = BLEND_FINGER * skeleton.shape.scale
    d = sdf.smooth_union(_palm_sdf(skeleton, p_right), _thenar_sdf(skeleton, p_right), k_palm)
    for finger in range(5):
        d = sdf.smooth_union(d, _finger_sdf(skeleton, finger, p_right), k_finger)
    return d


def hand_bounds(skeleton: HandSkeleton, margin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(lower, upper) corners of an axis-aligned box containing the hand, hand frame."""
    shape = skeleton.shape
    right = skeleton.joints * skeleton.mirror
    corners = [right - skeleton.radii[:, None], right + skeleton.radii[:, None],
               (shape.palm_center - shape.palm_half)[None],
               (shape.palm_center + shape.palm_half)[None],
               (shape.wrist_center - shape.wrist_half)[None],
               (shape.wrist_center + shape.wrist_half)[None]]
    points = np.concatenate(corners) * skeleton.mirror
    return points.min(axis=0) - margin, points.max(axis=0) + margin


def hand_sdf_grid(skeleton: HandSkeleton, voxel: float) -> tuple[np.ndarray, np.ndarray]:
    """
    ``hand_sdf`` sampled on a grid around the hand: (values (nx, ny, nz), origin (3,)).

    Each part (palm with wrist and thenar, each finger) is evaluated only inside its own
    bounding box widened by the blend width and a few voxels: outside it the part is
    farther than the rest of the hand by more than the blend width, where the smooth
    union equals the plain minimum. So values agree with ``hand_sdf`` near the surface
    (all that marching cubes uses) at a fraction of the cost; far from the hand they are
    a positive constant.
    """
    lower, upper = hand_bounds(skeleton, margin=4 * voxel)
    shape_count = np.ceil((upper - lower) / voxel).astype(int) + 1
    axes = [lower[i] + voxel * np.arange(shape_count[i]) for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing='ij'), axis=-1)
    shape = skeleton.shape
    k_palm = BLEND_PALM * shape.scale
    k_finger = BLEND_FINGER * shape.scale
    margin = k_finger + 3 * voxel

    def block_of(lo, hi):
        start = np.clip(np.floor((lo - lower) / voxel).astype(int), 0, shape_count)
        stop = np.clip(np.ceil((hi - lower) / voxel).astype(int) + 1, 0, shape_count)
        return tuple(slice(a, b) for a, b in zip(start, stop, strict=True))

    # Far from every part the value only has to be positive: marching cubes reads signs
    # there, and the surface lies inside the blocks below.
    values = np.full(grid.shape[:3], 4 * margin)
    a, b, radius_a, radius_b = thenar_cone(skeleton)
    boxes = np.concatenate([
        (shape.palm_center - shape.palm_half)[None], (shape.palm_center + shape.palm_half)[None],
        (shape.wrist_center - shape.wrist_half)[None],
        (shape.wrist_center + shape.wrist_half)[None]]) * skeleton.mirror
    lo = np.minimum(boxes.min(axis=0), np.minimum(a, b) - radius_a) - margin - k_palm
    hi = np.maximum(boxes.max(axis=0), np.maximum(a, b) + radius_a) + margin + k_palm
    block = block_of(lo, hi)
    sub = grid[block].reshape(-1, 3) * skeleton.mirror
    values[block] = sdf.smooth_union(_palm_sdf(skeleton, sub), _thenar_sdf(skeleton, sub),
                                     k_palm).reshape(grid[block].shape[:3])
    for finger in range(5):
        index = finger_joints(finger)
        radius = skeleton.radii[index].max()
        block = block_of(skeleton.joints[index].min(axis=0) - radius - margin,
                          skeleton.joints[index].max(axis=0) + radius + margin)
        sub = grid[block]
        finger_d = _finger_sdf(skeleton, finger, sub.reshape(-1, 3) * skeleton.mirror)
        values[block] = sdf.smooth_union(values[block], finger_d.reshape(sub.shape[:3]),
                                         k_finger)
    return values, lower


def hand_mesh(skeleton: HandSkeleton, voxel: float = 0.002) -> trimesh.Trimesh:
    """Watertight skin mesh of the hand (marching cubes of ``hand_sdf``), hand frame."""
    values, origin = hand_sdf_grid(skeleton, voxel)
    return mesh_from_grid(values, origin, voxel)


_RING_COS = np.cos(np.linspace(0.0, 2 * np.pi, 8, endpoint=False))
_RING_SIN = np.sin(np.linspace(0.0, 2 * np.pi, 8, endpoint=False))


def round_cone_samples(a: np.ndarray, b: np.ndarray, radius_a: np.ndarray,
                       radius_b: np.ndarray, per_segment: int = 64) -> np.ndarray:
    """
    Points on the sides of round cones: rings of 8 points from ``a`` to ``b``.

    ``a``, ``b`` are (S, 3), the radii (S,); returns (S * rings * 8, 3). Vectorised over
    the cones because grasp closing evaluates it thousands of times per frame.
    """
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    radius_a, radius_b = np.atleast_1d(radius_a), np.atleast_1d(radius_b)
    rings = max(per_segment // 8, 2)
    axis = (b - a) / np.linalg.norm(b - a, axis=1, keepdims=True)
    reference = np.where(np.abs(axis[:, 2:3]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    u = np.cross(axis, reference)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = np.cross(axis, u)
    t = np.linspace(0.0, 1.0, rings)
    centers = a[:, None] + t[None, :, None] * (b - a)[:, None]            # (S, R, 3)
    radius = radius_a[:, None] + (radius_b - radius_a)[:, None] * t[None]  # (S, R)
    ring = (_RING_COS[None, :, None] * u[:, None] + _RING_SIN[None, :, None] * v[:, None])
    points = centers[:, :, None] + radius[:, :, None, None] * ring[:, None]  # (S, R, 8, 3)
    return points.reshape(-1, 3)


def finger_skin_samples(skeleton: HandSkeleton, finger: int,
                        per_segment: int = 64) -> np.ndarray:
    """
    Points on the skin of one finger's three round cones (side surface and fingertip).

    Returns (M, 3) points in the hand frame.
    """
    index = finger_joints(finger)
    return chain_skin_samples(skeleton.joints[index], skeleton.radii[index], per_segment)


def chain_skin_samples(joints: np.ndarray, radii: np.ndarray,
                       per_segment: int = 64) -> np.ndarray:
    """Skin points of a finger given its 4 joints (4, 3) and radii (4,)."""
    sides = round_cone_samples(joints[:3], joints[1:], radii[:3], radii[1:], per_segment)
    tip_direction = (joints[3] - joints[2]) / np.linalg.norm(joints[3] - joints[2])
    return np.concatenate([sides, (joints[3] + radii[3] * tip_direction)[None]])


def skin_samples(skeleton: HandSkeleton, per_segment: int = 64,
                 palm_per_face: int = 36) -> tuple[np.ndarray, np.ndarray]:
    """
    Points on the skin primitives, for fast contact and penetration checks.

    Returns (points (M, 3) in the hand frame, part (M,) int: 0 palm and wrist,
    1-5 thumb..little).
    """
    points, parts = [], []
    for finger in range(5):
        finger_points = finger_skin_samples(skeleton, finger, per_segment)
        points.append(finger_points)
        parts.append(np.full(len(finger_points), finger + 1))
    # The thenar pad, as a round cone of its own (see _thenar_sdf).
    thenar = thenar_cone(skeleton)
    pad = round_cone_samples(*thenar, per_segment)
    points.append(pad)
    parts.append(np.zeros(len(pad), int))
    shape = skeleton.shape
    n = int(np.sqrt(palm_per_face))
    grid = np.stack(np.meshgrid(np.linspace(-1, 1, n), np.linspace(-1, 1, n),
                                indexing='ij'), -1).reshape(-1, 2)
    for center, half in ((shape.palm_center, shape.palm_half),
                         (shape.wrist_center, shape.wrist_half)):
        for axis in range(3):
            others = [i for i in range(3) if i != axis]
            for sign in (-1.0, 1.0):
                face = np.zeros((len(grid), 3))
                face[:, others] = grid * half[others] * 0.9
                face[:, axis] = sign * half[axis]
                points.append((center + face) * skeleton.mirror)
                parts.append(np.zeros(len(grid), int))
    return np.concatenate(points), np.concatenate(parts)
