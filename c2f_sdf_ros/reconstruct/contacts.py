"""
Where the hand touches the object: contact points and the hand parts in contact.

The rule, per hand part (palm, thumb, index, middle, ring, little; ``msg/Contact.msg``):

1. **Both surfaces.** Every hand vertex gets its signed distance to the object mesh, and
   every object vertex its signed distance to the hand mesh (open3d, 3-ray sign majority,
   ``geometry.mesh``); an object vertex stands for the hand-surface point nearest to it.
   So a thin object edge that pokes between hand vertices is still seen.
2. **Parts.** Each such hand-surface point belongs to the part of its nearest joint
   (``JOINT_PARTS``: the wrist and the finger bases are the palm).
3. **Per-part decision.** A part's gap is the smallest signed distance over its points. The
   part is in contact when its gap is at most ``distance + tolerance``: ``distance`` is the
   physical contact distance (5 mm on exact surfaces), ``tolerance`` the reconstruction
   error allowed on top. The pipeline sets the tolerance in lattice cells
   (``ReconstructorConfig.contact_cells`` x ``lattice_cell``), because predicted surfaces
   are only as good as the lattice and the model: on 60 synthetic test frames the shipped
   weights leave a median 7 mm (thumb) to 23 mm (ring) between a finger and the object
   where the ground truth has that finger touching (docs/benchmarks.md, contacts).
   ``tolerance=0`` is the exact rule (ground-truth meshes).
4. **Contact points.** For each part in contact, its points within ``distance`` of the
   part's closest approach (and within the threshold): the contact patch, not the whole
   finger. Each has its position on the hand surface, the unit outward normal of the
   OBJECT surface at the nearest object point (the message's convention), the signed
   distance to the object (m, negative: penetration) and the part.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import open3d as o3d
from scipy.spatial import cKDTree
import trimesh

from c2f_sdf_ros.geometry.mesh import MeshSdf

# Contact.msg hand parts, from the joint a point is nearest to: wrist and the finger bases
# are the palm, then each finger's own joints.
PART_PALM, PART_THUMB, PART_INDEX, PART_MIDDLE, PART_RING, PART_LITTLE = range(6)
PART_NAMES = ('palm', 'thumb', 'index', 'middle', 'ring', 'little')
FINGER_PARTS = (PART_THUMB, PART_INDEX, PART_MIDDLE, PART_RING, PART_LITTLE)
JOINT_PARTS = np.array([PART_PALM, PART_THUMB, PART_THUMB, PART_THUMB, PART_THUMB,
                        PART_PALM, PART_INDEX, PART_INDEX, PART_INDEX,
                        PART_PALM, PART_MIDDLE, PART_MIDDLE, PART_MIDDLE,
                        PART_PALM, PART_RING, PART_RING, PART_RING,
                        PART_PALM, PART_LITTLE, PART_LITTLE, PART_LITTLE])
# Step (m) along the object's face normal used to tell its outside from its inside.
_NORMAL_PROBE = 0.001


def lattice_cell(resolution: int, norm_scale: float) -> float:
    """
    Edge (m) of one cell of the pipeline's lattice in the camera frame.

    The normalised cube [-1, 1]^3 spans ``4 / norm_scale`` m and carries ``resolution``
    lattice points per side (5.1 mm at 128 with the shipped ``norm_scale`` 6.2).
    """
    if resolution < 2 or not norm_scale > 0:
        raise ValueError(f'need resolution >= 2 and norm_scale > 0, got {resolution}, '
                         f'{norm_scale}')
    return 4.0 / (norm_scale * (resolution - 1))


def part_labels(points: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """(N,) uint8 part (``PART_*``) of each point: the part of its nearest joint."""
    points = np.asarray(points, float).reshape(-1, 3)
    joints = np.asarray(joints, float)
    if joints.shape != (21, 3):
        raise ValueError(f'joints must be (21, 3), got {joints.shape}')
    if len(points) == 0:
        return np.zeros(0, np.uint8)
    _, nearest = cKDTree(joints).query(points)
    return JOINT_PARTS[nearest].astype(np.uint8)


def part_names(parts) -> tuple[str, ...]:
    """Names of ``PART_*`` values, in part order, each once."""
    return tuple(PART_NAMES[p] for p in sorted({int(p) for p in parts}))


@dataclass
class Contacts:
    """
    Where a hand touches its object (camera frame).

    ``gaps`` holds every part's smallest signed distance to the object (m; inf for a part
    with no surface), whether or not it is in contact: the per-part evidence behind the
    points, e.g. for scoring the rule at other thresholds.
    """

    positions: np.ndarray   # (C, 3) metres, on the hand surface
    normals: np.ndarray     # (C, 3) unit outward normals of the OBJECT surface
    distances: np.ndarray   # (C,) signed distance to the object surface (m; < 0 inside)
    parts: np.ndarray       # (C,) uint8 Contact.msg PART_*
    gaps: np.ndarray = field(default_factory=lambda: np.full(len(PART_NAMES), np.inf))

    @classmethod
    def empty(cls) -> Contacts:
        """No contacts."""
        return cls(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0), np.zeros(0, np.uint8))

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def touching(self) -> tuple[int, ...]:
        """The parts in contact (``PART_*``), ascending."""
        return tuple(sorted({int(p) for p in self.parts}))

    @property
    def touching_names(self) -> tuple[str, ...]:
        """The names of the parts in contact, in part order ('palm', 'thumb', ...)."""
        return part_names(self.parts)


def _closest(mesh: trimesh.Trimesh, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest surface points of ``mesh`` to ``points`` and those triangles' normals."""
    if len(points) == 0:
        return np.zeros((0, 3)), np.zeros((0, 3))
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(np.ascontiguousarray(mesh.vertices, np.float32)),
                        o3d.core.Tensor(np.ascontiguousarray(mesh.faces, np.uint32)))
    found = scene.compute_closest_points(
        o3d.core.Tensor(np.ascontiguousarray(points, np.float32)))
    return (found['points'].numpy().astype(float),
            found['primitive_normals'].numpy().astype(float))


def _outward(obj_sdf: MeshSdf, surface: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """``normals`` at ``surface`` points of the object, unit length, flipped to point out."""
    normals = normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    if len(surface) == 0:
        return normals
    probes = obj_sdf(np.concatenate([surface + _NORMAL_PROBE * normals,
                                     surface - _NORMAL_PROBE * normals]))
    ahead, behind = probes[:len(surface)], probes[len(surface):]
    return np.where((ahead < behind)[:, None], -normals, normals)


def find_contacts(hand: trimesh.Trimesh, obj: trimesh.Trimesh, joints: np.ndarray,
                  distance: float, tolerance: float = 0.0) -> Contacts:
    """
    Contact points and parts of a hand on an object (the rule in the module docstring).

    Parameters
    ----------
    hand, obj : trimesh.Trimesh
        Meshes in one frame (metres); need not be watertight.
    joints : (21, 3) array
        Hand joints in that frame (MANO/DexYCB order); a point belongs to the part of its
        nearest joint.
    distance : float
        Contact distance (m) on exact surfaces: a point this close to the object, or inside
        it, touches.
    tolerance : float
        Reconstruction error (m) allowed on top of ``distance`` when deciding which parts
        touch; 0 for exact (ground-truth) meshes.

    Returns
    -------
    Contacts
        Empty when no part is within ``distance + tolerance``; ``gaps`` is filled always.

    Raises
    ------
    ValueError
        On a negative ``distance`` or ``tolerance``, or joints that are not (21, 3).

    """
    if not distance >= 0 or not tolerance >= 0:
        raise ValueError(f'distance and tolerance must be >= 0, got {distance}, {tolerance}')
    joints = np.asarray(joints, float)
    if joints.shape != (21, 3):
        raise ValueError(f'joints must be (21, 3), got {joints.shape}')
    threshold = distance + tolerance
    hand_vertices = np.asarray(hand.vertices, float)
    object_vertices = np.asarray(obj.vertices, float)
    # Hand side: each hand vertex and its distance to the object.
    obj_sdf = MeshSdf.from_mesh(obj, require_watertight=False)
    hand_side = obj_sdf(hand_vertices)
    # Object side: each object vertex, standing for the hand point nearest to it.
    object_side = MeshSdf.from_mesh(hand, require_watertight=False)(object_vertices)
    on_hand, _ = _closest(hand, object_vertices)
    positions = np.concatenate([hand_vertices, on_hand])
    signed = np.concatenate([hand_side, object_side])
    parts = part_labels(positions, joints)
    gaps = np.full(len(PART_NAMES), np.inf)
    np.minimum.at(gaps, parts, signed)
    touching = gaps <= threshold
    if not touching.any():
        empty = Contacts.empty()
        empty.gaps = gaps
        return empty
    # The patch of each touching part: its points near that part's closest approach.
    keep = touching[parts] & (signed <= np.minimum(threshold, gaps[parts] + distance))
    # The object point each contact faces: the nearest one to a hand vertex, the object
    # vertex itself for an object-side point.
    count = len(hand_vertices)
    surface = np.zeros((len(positions), 3))
    normals = np.zeros((len(positions), 3))
    hand_keep = np.flatnonzero(keep[:count])
    surface[hand_keep], normals[hand_keep] = _closest(obj, hand_vertices[hand_keep])
    object_keep = np.flatnonzero(keep[count:])
    surface[count + object_keep] = object_vertices[object_keep]
    normals[count + object_keep] = np.asarray(obj.vertex_normals, float)[object_keep]
    return Contacts(positions[keep], _outward(obj_sdf, surface[keep], normals[keep]),
                    signed[keep], parts[keep], gaps)
