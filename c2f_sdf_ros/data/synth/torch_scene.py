"""
The synthetic generator's analytic scene in batched torch: SDFs, SDF targets, sphere tracing.

What it is for
--------------
The numpy generator (``generate.py``) builds a frame's hand and object as analytic signed
distances, meshes them by marching cubes and ray-casts the meshes with Open3D on the CPU.
This module evaluates the same analytic scene with torch, batched over points on any device
and dtype, so that a GPU can make a frame's SDF targets and render its depth (or only the
hand crop) itself:

* ``sphere`` ... ``apply``: torch versions of the ``sdf.py`` primitives the hand and the
  objects use, over points (..., 3);
* ``TorchHand`` / ``TorchObject``: the procedural hand (``hand.hand_sdf``) and the six
  object families (``ObjectShape.sdf``), the same formulas in the same order;
* ``TorchScene``: both in the camera frame with the frame's intrinsics; ``sdf`` gives the
  (..., 2) [hand, object] columns of the stored ``sdf/`` samples;
* ``render_depth``: sphere tracing of one ray per pixel centre (all pixels, or a pixel
  box) giving optical-axis depth and a hand/object label, as ``render.render`` does;
  ``TorchScene.render`` marches only inside the scene's bounding sphere and
  ``projected_box`` gives the crop holding the hand and the object.

How it matches the numpy generator
----------------------------------
Only the evaluation is in torch: the scene is the one the generator drew. ``scene_from_meta``
reads a frame's meta (stored ``meta/*.json`` or ``SynthFrame.meta``): the object's family and
parameters, the hand's joint angles and side, ``camera_T_hand``, ``camera_T_object`` and K
are all there exactly (JSON floats round-trip); the per-bone lengths and radii of the hand
are not, so it replays them with the generator's own draw: ``sample_hand_shape`` is the
first draw of the frame's stream ``frame_rng(seed, split, index)``, and
``forward_kinematics`` then poses that shape with the stored angles, which is what the
generator did. The stored SDF columns are the analytic numpy SDF (not the meshes'), so the
torch columns match them to float32 rounding. The generator's depth is the ray-cast
marching-cubes mesh (2 mm voxels for the hand, 2-3 mm for the object) of these SDFs, so
sphere-traced depth differs from it by the meshing error.

Measured agreement (``test/test_torch_scene.py``; frames 0-2 of seed 11, split 'test', the
default config: d435 640x480, distractors; a bowl, a mug and a cylinder), float32 torch:

* SDF at each frame's 2,200 stored samples against the stored (analytic) columns: largest
  error 0.1 um, median 0.006-0.03 um; at 3,000 points within ~1 cm of the meshes (vertices
  moved by N(0, 5 mm)) against the numpy analytic SDF: the same. float64 torch: 6e-17 m.
* Depth against the generator's clean (noise-free) Open3D depth, on the pixels the numpy
  mask labels hand or object (all inside the ``projected_box`` crop) where the torch
  render hits the same label: 99.75-99.94 % of those pixels per frame; |difference|
  median 0.012-0.047 mm, 95th percentile 0.19-0.28 mm, 99th 0.49-0.55 mm (the
  marching-cubes meshes' error). 0.05-0.12 % of the compared pixels differ by more than
  2 mm, all within a pixel of a depth edge (a rim or silhouette the mesh's ray hits and
  the analytic ray passes, hitting the same part behind; up to 17 cm). The torch render
  labels hand or object on only 0.1-0.3 % more pixels than the mask does.

Speed on this CPU with one thread (``torch.set_num_threads(1)``, float32, default
``hit_tolerance`` 10 um and 128 steps at most): the scene SDF (both columns) 0.9 million
points/s in batches of 10^4 and 0.45 million/s in batches of 10^6 (the 15 phalanx cones
are most of it); sphere tracing about 65,000 pixels/s over the hand/object crops
(122x173 to 303x352 pixels, about 10 SDF evaluations per pixel). Not measured on a GPU
(none was lent to this task): the code is device-agnostic torch (CUDA included) but has
only run on the CPU.

What it does not cover
----------------------
The table, the distractor objects and a rigged hand's forearm are not part of the torch
scene: the table's pose and the distractors' placements are not stored, and the forearm
only exists for rigged hands. So torch depth equals the generator's only where the hand
or the object is the first surface: compare on pixels the numpy mask labels hand or object
(and the torch render labels the same). Rigged ('gltf:') hands have no analytic SDF (their
skin is a skinned mesh): ``scene_from_meta`` raises ValueError for them. Colour, lighting,
the depth sensor model, near-surface sample *drawing* (the generator draws it on the
meshes) and new random scenes (drawing one needs the numpy grasp search) stay in numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
import functools
import math

import numpy as np
import torch

from c2f_sdf_ros.data.synth import hand as numpy_hand
from c2f_sdf_ros.data.synth.generate import SynthFrame, frame_rng
from c2f_sdf_ros.data.synth.hand import (
    HandPose,
    HandSkeleton,
    finger_joints,
    forward_kinematics,
    sample_hand_shape,
)
from c2f_sdf_ros.data.synth.objects import ObjectShape
from c2f_sdf_ros.data.synth.render import LABEL_HAND, LABEL_OBJECT
from c2f_sdf_ros.geometry.rgbd import check_intrinsics

__all__ = ['SDF_LABELS', 'TorchHand', 'TorchObject', 'TorchScene', 'apply', 'apply_inverse',
           'capped_cylinder', 'check_points', 'intersect', 'projected_box', 'render_depth',
           'round_box', 'round_cone', 'scene_from_frame', 'scene_from_meta',
           'scene_from_parts', 'sdf_targets', 'smooth_union', 'sphere', 'subtract', 'torus',
           'union']

# Column order of TorchScene.sdf, matching the stored samples' sdf_hand, sdf_object.
SDF_LABELS = (LABEL_HAND, LABEL_OBJECT)


def _as_like(value, p: torch.Tensor) -> torch.Tensor:
    """``value`` as a tensor of ``p``'s dtype and device (no copy when it already is)."""
    return torch.as_tensor(value, dtype=p.dtype, device=p.device)


def check_points(points, dtype: torch.dtype | None = None,
                 device: torch.device | str | None = None) -> torch.Tensor:
    """
    Points (..., 3) as a floating tensor (of ``dtype`` / on ``device`` when given).

    Raises
    ------
    ValueError
        If the last axis is not 3 or the dtype is not floating point.

    """
    p = torch.as_tensor(points, dtype=dtype, device=device)
    if p.ndim < 1 or p.shape[-1] != 3:
        raise ValueError(f'points must have shape (..., 3), got {tuple(p.shape)}')
    if not p.is_floating_point():
        raise ValueError(f'points must be floating point, got {p.dtype}')
    return p


# Primitives (sdf.py in torch) --------------------------------------------------------------


def sphere(p: torch.Tensor, radius) -> torch.Tensor:
    """Sphere of ``radius`` at the origin: points (..., 3) -> distances (...)."""
    return torch.linalg.vector_norm(p, dim=-1) - radius


def round_box(p: torch.Tensor, half_size, rounding=0.0) -> torch.Tensor:
    """Axis-aligned box of ``half_size`` (3,) with edges rounded by ``rounding``; (...)."""
    q = p.abs() - (_as_like(half_size, p) - rounding)
    outside = torch.linalg.vector_norm(q.clamp(min=0.0), dim=-1)
    inside = q.amax(dim=-1).clamp(max=0.0)
    return outside + inside - rounding


def _round_rect(q: torch.Tensor, half_size, rounding) -> torch.Tensor:
    """2-D rounded rectangle of ``half_size`` (2,) at points (..., 2)."""
    d = q.abs() - (_as_like(half_size, q) - rounding)
    return (d.amax(dim=-1).clamp(max=0.0) + torch.linalg.vector_norm(d.clamp(min=0.0), dim=-1)
            - rounding)


def capped_cylinder(p: torch.Tensor, radius, half_height, rounding=0.0) -> torch.Tensor:
    """Cylinder along z centred at the origin, edges rounded by ``rounding``; (...)."""
    q = torch.stack([torch.hypot(p[..., 0], p[..., 1]), p[..., 2]], dim=-1)
    return _round_rect(q, (radius, half_height), rounding)


def torus(p: torch.Tensor, major, minor) -> torch.Tensor:
    """Torus around the z axis (ring radius ``major``, tube radius ``minor``); (...)."""
    return torch.hypot(torch.hypot(p[..., 0], p[..., 1]) - major, p[..., 2]) - minor


def round_cone(p: torch.Tensor, a, b, radius_a, radius_b) -> torch.Tensor:
    """
    Tapered capsule: spheres at ``a`` and ``b`` joined by their tangent cone (exact).

    Parameters
    ----------
    p : (..., 3) tensor
        Points.
    a, b : (..., 3) tensors or array-likes, broadcastable with ``p``
        End centres, so that ``p[..., None, :]`` against ``a`` of shape (C, 3) evaluates
        C cones at once.
    radius_a, radius_b : floats or tensors broadcastable with ``p[..., 0]``
        Radii at ``a`` and ``b``.

    Returns
    -------
    (...) tensor of distances (the broadcast shape without the last axis).

    """
    a, b = _as_like(a, p), _as_like(b, p)
    radius_a, radius_b = _as_like(radius_a, p), _as_like(radius_b, p)
    ba = b - a
    l2 = (ba * ba).sum(dim=-1)
    degenerate = l2 < 1e-18
    l2_safe = torch.where(degenerate, torch.ones_like(l2), l2)
    rr = radius_a - radius_b
    a2 = l2_safe - rr * rr
    il2 = 1.0 / l2_safe
    pa = p - a
    y = (pa * ba).sum(dim=-1)
    z = y - l2_safe
    x = pa * l2_safe[..., None] - y[..., None] * ba
    x2 = (x * x).sum(dim=-1)
    y2 = y * y * l2_safe
    z2 = z * z * l2_safe
    k = torch.sign(rr) * rr * rr * x2
    result = (torch.sqrt(x2 * a2 * il2) + y * rr) * il2 - radius_a
    use_b = torch.sign(z) * a2 * z2 > k
    use_a = (torch.sign(y) * a2 * y2 < k) & ~use_b
    result = torch.where(use_b, torch.sqrt(x2 + z2) * il2 - radius_b, result)
    result = torch.where(use_a, torch.sqrt(x2 + y2) * il2 - radius_a, result)
    sphere_distance = (torch.linalg.vector_norm(pa, dim=-1)
                       - torch.maximum(radius_a, radius_b))
    return torch.where(degenerate, sphere_distance, result)


def smooth_union(d1: torch.Tensor, d2: torch.Tensor, k: float) -> torch.Tensor:
    """Polynomial smooth minimum with blend width ``k`` (equals min where |d1-d2| >= k)."""
    if k <= 0:
        return torch.minimum(d1, d2)
    h = (0.5 + 0.5 * (d2 - d1) / k).clamp(0.0, 1.0)
    return d2 * (1.0 - h) + d1 * h - k * h * (1.0 - h)


def union(*distances: torch.Tensor) -> torch.Tensor:
    """Union of shapes (elementwise minimum)."""
    return functools.reduce(torch.minimum, distances)


def subtract(d_from: torch.Tensor, d_cut: torch.Tensor) -> torch.Tensor:
    """Shape ``d_from`` with shape ``d_cut`` removed."""
    return torch.maximum(d_from, -d_cut)


def intersect(*distances: torch.Tensor) -> torch.Tensor:
    """Intersection of shapes (elementwise maximum)."""
    return functools.reduce(torch.maximum, distances)


def apply_inverse(transform: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Points ``p`` (..., 3) expressed in the frame of the rigid ``transform`` (4, 4)."""
    return (p - transform[:3, 3]) @ transform[:3, :3]


def apply(transform: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Rigid ``transform`` (4, 4) applied to points ``p`` (..., 3)."""
    return p @ transform[:3, :3].T + transform[:3, 3]


# The procedural hand -----------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TorchHand:
    """
    ``hand.hand_sdf`` of one posed procedural hand, as tensors (hand frame, metres).

    Build it with ``TorchHand.from_skeleton``. All parameters are in the right-hand frame
    (a left hand's points are mirrored through the xz plane first, as ``hand_sdf`` does).

    Attributes
    ----------
    mirror : (3,) tensor
        (1, -1, 1) for a left hand, ones for a right one.
    palm_center, palm_half, wrist_center, wrist_half : (3,) tensors
        The palm's and the wrist's rounded boxes.
    palm_rounding, wrist_rounding : float
        Their edge roundings.
    thenar : tuple of tensors
        The thenar pad's round cone: (a (3,), b (3,), radius_a (), radius_b ()).
    cone_a, cone_b : (15, 3) tensors
        The phalanges' round cones, three per finger, thumb first, base to tip.
    cone_radius_a, cone_radius_b : (15,) tensors
        Their radii.
    blend_palm, blend_finger : float
        Smooth-union widths (palm with wrist and thenar; the rest with each finger).

    """

    mirror: torch.Tensor
    palm_center: torch.Tensor
    palm_half: torch.Tensor
    palm_rounding: float
    wrist_center: torch.Tensor
    wrist_half: torch.Tensor
    wrist_rounding: float
    thenar: tuple
    cone_a: torch.Tensor
    cone_b: torch.Tensor
    cone_radius_a: torch.Tensor
    cone_radius_b: torch.Tensor
    blend_palm: float
    blend_finger: float

    @classmethod
    def from_skeleton(cls, skeleton: HandSkeleton, device: torch.device | str | None = None,
                      dtype: torch.dtype = torch.float32) -> TorchHand:
        """
        The torch hand of a posed procedural ``skeleton`` (``hand.forward_kinematics``).

        Raises
        ------
        ValueError
            If ``skeleton`` is not a procedural hand's (21 joints, side right or left).

        """
        if not isinstance(skeleton, HandSkeleton):
            raise ValueError(f'skeleton must be a HandSkeleton, got {type(skeleton).__name__}')
        joints = np.asarray(skeleton.joints, dtype=np.float64)
        if joints.shape != (numpy_hand.NUM_JOINTS, 3) or skeleton.shape.side not in \
                numpy_hand.SIDES:
            raise ValueError(f'not a procedural hand skeleton: joints {joints.shape}, side '
                             f'{skeleton.shape.side!r}')
        shape = skeleton.shape

        def tensor(value) -> torch.Tensor:
            return torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=dtype,
                                   device=device)

        mirror = skeleton.mirror
        right = joints * mirror
        index = np.array([finger_joints(finger) for finger in range(5)])  # (5, 4)
        starts, ends = index[:, :3].reshape(-1), index[:, 1:].reshape(-1)
        # The thenar pad as hand.py builds it, so that the two cannot drift apart.
        a, b, radius_a, radius_b = numpy_hand.thenar_cone(skeleton)
        return cls(
            mirror=tensor(mirror), palm_center=tensor(shape.palm_center),
            palm_half=tensor(shape.palm_half), palm_rounding=0.9 * float(shape.palm_half[2]),
            wrist_center=tensor(shape.wrist_center), wrist_half=tensor(shape.wrist_half),
            wrist_rounding=0.9 * float(shape.wrist_half[2]),
            thenar=(tensor(a * mirror), tensor(b * mirror), tensor(radius_a),
                    tensor(radius_b)),
            cone_a=tensor(right[starts]), cone_b=tensor(right[ends]),
            cone_radius_a=tensor(skeleton.radii[starts]),
            cone_radius_b=tensor(skeleton.radii[ends]),
            blend_palm=numpy_hand.BLEND_PALM * shape.scale,
            blend_finger=numpy_hand.BLEND_FINGER * shape.scale)

    def sdf(self, points: torch.Tensor) -> torch.Tensor:
        """
        Signed distance (m) from points (..., 3) in the hand frame to the skin: (...).

        The same smooth unions in the same order as ``hand.hand_sdf``.
        """
        p_right = points * self.mirror
        palm = round_box(p_right - self.palm_center, self.palm_half, self.palm_rounding)
        wrist = round_box(p_right - self.wrist_center, self.wrist_half, self.wrist_rounding)
        d = smooth_union(palm, wrist, self.blend_palm)
        d = smooth_union(d, round_cone(p_right, *self.thenar), self.blend_palm)
        cones = round_cone(p_right[..., None, :], self.cone_a, self.cone_b,
                           self.cone_radius_a, self.cone_radius_b)  # (..., 15)
        fingers = cones.reshape(*cones.shape[:-1], 5, 3).amin(dim=-1)
        for finger in range(5):
            d = smooth_union(d, fingers[..., finger], self.blend_finger)
        return d


# The objects -------------------------------------------------------------------------------


def _cylinder_between(p: torch.Tensor, radius, z0, z1, rounding=0.0) -> torch.Tensor:
    """Capped cylinder on the z axis from z0 to z1."""
    q = torch.stack([p[..., 0], p[..., 1], p[..., 2] - 0.5 * (z0 + z1)], dim=-1)
    return capped_cylinder(q, radius, 0.5 * (z1 - z0), rounding)


def _box(p, q):
    return round_box(p, (q['half_x'], q['half_y'], q['half_z']), q['rounding'])


def _cylinder(p, q):
    return capped_cylinder(p, q['radius'], q['height'] / 2, q['rounding'])


def _sphere(p, q):
    return sphere(p, q['radius'])


def _bottle(p, q):
    radius, rounding = q['body_radius'], q['rounding']
    z_shoulder = q['body_height']
    z_neck = z_shoulder + q['shoulder_height']
    z_top = z_neck + q['neck_height']
    body = _cylinder_between(p, radius, 0.0, z_shoulder + rounding, rounding)
    shoulder = round_cone(p, (0.0, 0.0, z_shoulder), (0.0, 0.0, z_neck), radius,
                          q['neck_radius'])
    neck = _cylinder_between(p, q['neck_radius'], z_neck, z_top - 0.5 * q['cap_height'])
    cap = _cylinder_between(p, q['cap_radius'], z_top - q['cap_height'], z_top, 0.001)
    return union(body, shoulder, neck, cap)


def _mug(p, q):
    outer, wall, height = q['outer_radius'], q['wall'], q['height']
    # The wall: a rounded rectangle in the (r, z) half-plane turned around z.
    radial = torch.hypot(p[..., 0], p[..., 1])
    rz = torch.stack([radial - (outer - 0.5 * wall), p[..., 2] - 0.5 * height], dim=-1)
    shell = _round_rect(rz, (0.5 * wall, 0.5 * height), 0.5 * wall)
    base = _cylinder_between(p, outer - 0.5 * wall, 0.0, q['bottom'])
    x_handle = outer - 0.5 * wall
    # Torus around the y axis: y and z swapped so that torus (ring around z) applies.
    local = torch.stack([p[..., 0] - x_handle, p[..., 2] - 0.5 * height, p[..., 1]], dim=-1)
    ring = torus(local, q['handle_major'], q['handle_minor'])
    handle = intersect(ring, x_handle - p[..., 0])
    return union(shell, base, handle)


def _bowl(p, q):
    radius, wall, rim = q['radius'], q['wall'], q['rim']
    outer, inner = radius + 0.5 * wall, radius - 0.5 * wall
    foot_bottom = -outer - q['foot_height']
    foot_top = 0.5 * (-math.sqrt(outer ** 2 - q['foot_radius'] ** 2) - inner)
    # Spherical shell cut at z = rim with a rounded rim (objects._cut_hollow_sphere).
    rim_radius = math.sqrt(radius * radius - rim * rim)
    qr, qz = torch.hypot(p[..., 0], p[..., 1]), p[..., 2]
    to_rim = torch.hypot(qr - rim_radius, qz - rim)
    to_shell = (torch.hypot(qr, qz) - radius).abs()
    shell = torch.where(rim * qr < rim_radius * qz, to_rim, to_shell) - 0.5 * wall
    foot = _cylinder_between(p, q['foot_radius'], foot_bottom, foot_top, 0.001)
    return union(shell, foot)


_FAMILY_SDF: dict[str, Callable[[torch.Tensor, Mapping[str, float]], torch.Tensor]] = {
    'box': _box, 'cylinder': _cylinder, 'sphere': _sphere, 'bottle': _bottle, 'mug': _mug,
    'bowl': _bowl,
}


@dataclass(frozen=True, eq=False)
class TorchObject:
    """
    ``ObjectShape.sdf`` in torch (object-local frame, metres).

    Attributes
    ----------
    family : str
        One of ``objects.FAMILIES``.
    params : dict
        The family's dimensions (m), as ``ObjectShape.params``.
    design_offset : (3,) tensor
        Local frame to the family's design frame (the bounding box centre there).
    half_extent : (3,) tensor
        Half sizes of the local bounding box (centred at the origin).

    """

    family: str
    params: dict
    design_offset: torch.Tensor
    half_extent: torch.Tensor

    @classmethod
    def from_shape(cls, shape: ObjectShape, device: torch.device | str | None = None,
                   dtype: torch.dtype = torch.float32) -> TorchObject:
        """
        The torch object of ``shape``.

        Raises
        ------
        ValueError
            If ``shape`` is not an ``ObjectShape``.

        """
        if not isinstance(shape, ObjectShape):
            raise ValueError(f'shape must be an ObjectShape, got {type(shape).__name__}')
        if shape.family not in _FAMILY_SDF:
            raise ValueError(f'no torch SDF for object family {shape.family!r}')
        # The design frame's bounding box centre, as ObjectShape.sdf shifts by it.
        offset = shape.design_centre()
        return cls(shape.family, dict(shape.params),
                   torch.as_tensor(offset, dtype=dtype, device=device),
                   torch.as_tensor(shape.half_extent(), dtype=dtype, device=device))

    def sdf(self, points: torch.Tensor) -> torch.Tensor:
        """Signed distance (m) from points (..., 3) in the object frame: (...)."""
        return _FAMILY_SDF[self.family](points + self.design_offset, self.params)


# The scene ---------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TorchScene:
    """
    A frame's hand and object in the camera optical frame, with the frame's camera.

    Attributes
    ----------
    hand : TorchHand
    object : TorchObject
    camera_T_hand, camera_T_object : (4, 4) tensors
        Rigid poses of the hand and the object frames in the camera frame.
    K : (3, 3) tensor
        Camera matrix.
    width, height : int
        Image size (pixels).

    """

    hand: TorchHand
    object: TorchObject
    camera_T_hand: torch.Tensor
    camera_T_object: torch.Tensor
    K: torch.Tensor
    width: int
    height: int

    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype of the scene's tensors (points are cast to it)."""
        return self.K.dtype

    @property
    def device(self) -> torch.device:
        """Device of the scene's tensors (points are moved to it)."""
        return self.K.device

    def _points(self, points) -> torch.Tensor:
        return check_points(points, self.dtype, self.device)

    def hand_sdf(self, points) -> torch.Tensor:
        """Signed distance (m) to the hand's skin at camera-frame points (..., 3): (...)."""
        p = self._points(points)
        return self.hand.sdf(apply_inverse(self.camera_T_hand, p))

    def object_sdf(self, points) -> torch.Tensor:
        """Signed distance (m) to the object at camera-frame points (..., 3): (...)."""
        p = self._points(points)
        return self.object.sdf(apply_inverse(self.camera_T_object, p))

    def sdf(self, points) -> torch.Tensor:
        """
        [hand, object] signed distances (m) at camera-frame points (..., 3): (..., 2).

        Points are cast to the scene's dtype and device.

        Raises
        ------
        ValueError
            If the points are not (..., 3) floats.

        """
        p = self._points(points)
        return torch.stack([self.hand_sdf(p), self.object_sdf(p)], dim=-1)

    def bound_corners(self) -> torch.Tensor:
        """
        Corners (16, 3) of boxes holding the hand and the object, camera frame.

        The hand's box holds its joints padded by their skin radii, the thenar pad and the
        palm and wrist boxes (hand frame); the object's is its local bounding box.
        """
        hand = self.hand
        centres = torch.cat([hand.cone_a, hand.cone_b, hand.thenar[0][None],
                             hand.thenar[1][None]])
        radii = torch.cat([hand.cone_radius_a, hand.cone_radius_b, hand.thenar[2][None],
                           hand.thenar[3][None]])[:, None]
        hand_points = torch.cat([
            centres - radii, centres + radii, (hand.palm_center - hand.palm_half)[None],
            (hand.palm_center + hand.palm_half)[None],
            (hand.wrist_center - hand.wrist_half)[None],
            (hand.wrist_center + hand.wrist_half)[None]]) * hand.mirror
        hand_corners = _box_corners(hand_points.amin(dim=0), hand_points.amax(dim=0))
        half = self.object.half_extent
        return torch.cat([apply(self.camera_T_hand, hand_corners),
                          apply(self.camera_T_object, _box_corners(-half, half))])

    def bounding_sphere(self, padding: float = 0.01) -> tuple[torch.Tensor, float]:
        """
        (centre (3,), radius) of a camera-frame sphere holding the hand and the object.

        ``padding`` (m) covers the smooth unions' blends, which reach a quarter of their
        width beyond the parts they join.
        """
        corners = self.bound_corners()
        centre = 0.5 * (corners.amin(dim=0) + corners.amax(dim=0))
        radius = float(torch.linalg.vector_norm(corners - centre, dim=-1).max()) + padding
        return centre, radius

    def render(self, box: Sequence[int] | None = None, **options):
        """
        Sphere-traced depth and labels of this scene (see ``render_depth``).

        ``box`` (u0, v0, u1, v1) renders that pixel box only; ``options`` go to
        ``render_depth`` (min_depth, max_depth, steps, hit_tolerance). Rays march only
        within ``bounding_sphere``.
        """
        return render_depth(self.sdf, self.K, (self.width, self.height), box=box,
                            bounding_sphere=self.bounding_sphere(), **options)


def scene_from_parts(skeleton: HandSkeleton, object_shape: ObjectShape, camera_T_hand,
                     camera_T_object, K, image_size: Sequence[int],
                     device: torch.device | str | None = None,
                     dtype: torch.dtype = torch.float32) -> TorchScene:
    """
    The torch scene of a posed procedural hand and an object seen by a camera.

    Parameters
    ----------
    skeleton : HandSkeleton
        The posed hand (``hand.forward_kinematics``), hand frame.
    object_shape : ObjectShape
        The object, local frame.
    camera_T_hand, camera_T_object : (4, 4) array-likes
        Rigid poses of those frames in the camera optical frame.
    K : (3, 3) array-like
        Camera matrix.
    image_size : (width, height)
        Image size in pixels.
    device, dtype
        Where the scene's tensors live and their floating dtype.

    Returns
    -------
    TorchScene

    Raises
    ------
    ValueError
        On a pose that is not a finite rigid (4, 4) transform, a bad K or image size.

    """
    poses = []
    for name, pose in (('camera_T_hand', camera_T_hand), ('camera_T_object', camera_T_object)):
        pose = np.asarray(pose, dtype=np.float64)
        if pose.shape != (4, 4) or not np.isfinite(pose).all():
            raise ValueError(f'{name} must be a finite (4, 4) matrix, got shape {pose.shape}')
        rotation = pose[:3, :3]
        if (not np.allclose(rotation.T @ rotation, np.eye(3), atol=1e-6)
                or np.linalg.det(rotation) < 0 or not np.allclose(pose[3], [0, 0, 0, 1])):
            raise ValueError(f'{name} is not a rigid transform')
        poses.append(torch.as_tensor(pose, dtype=dtype, device=device))
    width, height = _check_image_size(image_size)
    return TorchScene(TorchHand.from_skeleton(skeleton, device, dtype),
                      TorchObject.from_shape(object_shape, device, dtype), *poses,
                      _check_K(K).to(dtype=dtype, device=device), width, height)


def scene_from_meta(meta: Mapping, device: torch.device | str | None = None,
                    dtype: torch.dtype = torch.float32) -> TorchScene:
    """
    The torch scene of a generated frame, from its meta (``SynthFrame.meta`` or meta/*.json).

    The object, the hand's joint angles and side, the poses and the camera are read from
    the meta; the hand's bone lengths and radii (not stored) are replayed: they are the
    first draw of the frame's random stream (``generate._grasped_object`` starts with
    ``sample_hand_shape(frame_rng(seed, split, index))``).

    Raises
    ------
    ValueError
        For a rigged ('gltf:') hand (no analytic SDF), a meta without the needed keys, or
        one whose replayed hand disagrees with its stored side and scale (a frame of
        another generator version).

    """
    hand_model = meta.get('hand_model', 'procedural')
    if hand_model != 'procedural':
        raise ValueError(f'only procedural hands have an analytic SDF; this frame has '
                         f'hand_model {hand_model!r} (a skinned mesh)')
    needed = ('seed', 'split', 'index', 'hand_side', 'hand_scale', 'hand_pose',
              'camera_T_hand', 'camera_T_object', 'object_params', 'camera')
    missing = [key for key in needed if key not in meta]
    if missing:
        raise ValueError(f'meta lacks {missing}: not a synthetic frame of this generator')
    hand_shape = sample_hand_shape(frame_rng(int(meta['seed']), meta['split'],
                                             int(meta['index'])))
    if hand_shape.side != meta['hand_side'] or hand_shape.scale != meta['hand_scale']:
        raise ValueError(f'the replayed hand ({hand_shape.side}, scale {hand_shape.scale}) '
                         f'is not the stored one ({meta["hand_side"]}, scale '
                         f'{meta["hand_scale"]}): another generator version?')
    skeleton = forward_kinematics(hand_shape, HandPose(np.asarray(meta['hand_pose'], float)))
    camera = meta['camera']
    return scene_from_parts(skeleton, ObjectShape.from_dict(meta['object_params']),
                            meta['camera_T_hand'], meta['camera_T_object'], camera['K'],
                            (camera['width'], camera['height']), device, dtype)


def scene_from_frame(frame: SynthFrame, device: torch.device | str | None = None,
                     dtype: torch.dtype = torch.float32) -> TorchScene:
    """The torch scene of a frame ``generate.generate_frame`` made (``scene_from_meta``)."""
    return scene_from_meta(frame.meta, device, dtype)


def sdf_targets(scene: TorchScene, points) -> torch.Tensor:
    """
    The (N, 2) [sdf_hand, sdf_object] columns of the stored samples at points (N, 3).

    The generator's stored columns are the analytic numpy SDF at its samples (not the
    meshes' distances), so these agree with them to float rounding; points in the camera
    frame, metres, negative inside.

    Raises
    ------
    ValueError
        If ``points`` is not (N, 3) floats.

    """
    p = check_points(points, scene.dtype, scene.device)
    if p.ndim != 2:
        raise ValueError(f'points must have shape (N, 3), got {tuple(p.shape)}')
    return scene.sdf(p)


# Sphere tracing ----------------------------------------------------------------------------


def _check_image_size(image_size) -> tuple[int, int]:
    size = tuple(int(s) for s in image_size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f'image_size must be (width, height) > 0, got {image_size!r}')
    return size


def _check_K(K) -> torch.Tensor:
    """K as a float64 tensor, checked as a camera_info's (``rgbd.check_intrinsics``)."""
    if torch.is_tensor(K):
        K = K.detach().cpu().numpy()
    return torch.as_tensor(check_intrinsics(K))


def render_depth(scene_sdf: Callable[[torch.Tensor], torch.Tensor], K,
                 image_size: Sequence[int], box: Sequence[int] | None = None,
                 world_T_camera=None, min_depth: float = 0.05, max_depth: float = 3.0,
                 steps: int = 128, hit_tolerance: float = 1e-5,
                 bounding_sphere: tuple | None = None,
                 device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """
    Sphere-trace one ray per pixel centre: optical-axis depth and the label hit.

    The camera model is ``render.render``'s: pixel (u, v) (integers, ``u`` the column) looks
    along ``R @ ((u - cx) / fx, (v - cy) / fy, 1)`` from the camera centre, where
    ``world_T_camera = [R | c]`` is the optical-frame pose (``render.look_at``), and depth
    is the distance along the optical axis (not the ray length). Each ray marches by the
    scene's distance until it is within ``hit_tolerance`` of a surface (a hit), passes
    ``max_depth`` or uses up ``steps`` (both misses); only the rays still marching are
    evaluated at each step.

    Parameters
    ----------
    scene_sdf : callable
        World-frame points (M, 3) -> signed distances (M, C) (one column per labelled part,
        label = column + 1: ``TorchScene.sdf``'s hand 1, object 2 as ``render``'s mask) or
        (M,) (label 1). Must not overestimate the distance (exact or a lower bound).
    K : (3, 3) tensor or array-like
        Camera matrix.
    image_size : (width, height)
        The full image's size in pixels.
    box : (u0, v0, u1, v1), optional
        Render only columns u0..u1-1 and rows v0..v1-1 (a crop); the whole image if None.
    world_T_camera : (4, 4), optional
        Camera pose in the scene's frame; None: the scene is in the camera frame.
    min_depth, max_depth : float
        Depth range (m) searched along the optical axis.
    steps : int
        Largest number of marching steps per ray.
    hit_tolerance : float
        Distance (m) below which a ray has hit. A hit's depth is off by about
        ``hit_tolerance`` times (1 - cos) / cos of the angle between the ray and the
        surface normal, and a ray within a few degrees of tangent that has not converged
        in ``steps`` counts as a miss.
    bounding_sphere : (centre (3,), radius), optional
        A sphere (scene frame) holding every surface: rays march only inside it, and rays
        that miss it are not marched at all (``TorchScene.bounding_sphere``).
    device, dtype
        Of the rays; default: K's (a tensor K) or the CPU and float32.

    Returns
    -------
    depth : (v1 - v0, u1 - u0) tensor
        Optical-axis depth (m); 0 where no ray hit.
    label : (v1 - v0, u1 - u0) uint8 tensor
        Column + 1 of the nearest part at the hit; 0 where no ray hit.

    Raises
    ------
    ValueError
        On a bad K, image size, box, pose, depth range, step count or tolerance, or a
        ``scene_sdf`` output of the wrong shape.

    """
    width, height = _check_image_size(image_size)
    if dtype is None:
        dtype = K.dtype if torch.is_tensor(K) and K.is_floating_point() else torch.float32
    if device is None:
        device = K.device if torch.is_tensor(K) else torch.device('cpu')
    K = _check_K(K).to(dtype=torch.float64, device='cpu')
    u0, v0, u1, v1 = (0, 0, width, height) if box is None else (int(c) for c in box)
    if not (0 <= u0 < u1 <= width and 0 <= v0 < v1 <= height):
        raise ValueError(f'box must satisfy 0 <= u0 < u1 <= {width} and 0 <= v0 < v1 <= '
                         f'{height}, got {box!r}')
    if not 0.0 <= min_depth < max_depth:
        raise ValueError(f'need 0 <= min_depth < max_depth, got {min_depth}, {max_depth}')
    if int(steps) < 1 or not hit_tolerance > 0:
        raise ValueError(f'need steps >= 1 and hit_tolerance > 0, got {steps}, '
                         f'{hit_tolerance}')
    pose = torch.eye(4, dtype=torch.float64) if world_T_camera is None else \
        torch.as_tensor(world_T_camera, dtype=torch.float64).cpu()
    if pose.shape != (4, 4) or not torch.isfinite(pose).all():
        raise ValueError(f'world_T_camera must be a finite (4, 4) matrix, got '
                         f'{tuple(pose.shape)}')
    rotation = pose[:3, :3].to(dtype=dtype, device=device)
    origin = pose[:3, 3].to(dtype=dtype, device=device)

    fx, fy, cx, cy = (float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2]))
    columns = (torch.arange(u0, u1, dtype=dtype, device=device) - cx) / fx
    rows = (torch.arange(v0, v1, dtype=dtype, device=device) - cy) / fy
    h, w = v1 - v0, u1 - u0
    camera_directions = torch.stack([columns.expand(h, w), rows[:, None].expand(h, w),
                                     torch.ones(h, w, dtype=dtype, device=device)], dim=-1)
    camera_directions = camera_directions.reshape(-1, 3)
    # Unit directions: a march step is then a distance. Depth = ray length / |direction|.
    length_per_depth = torch.linalg.vector_norm(camera_directions, dim=-1)
    directions = (camera_directions / length_per_depth[:, None]) @ rotation.T

    count = h * w
    travelled = min_depth * length_per_depth
    far = max_depth * length_per_depth
    marching = torch.ones(count, dtype=torch.bool, device=device)
    if bounding_sphere is not None:
        centre, radius = bounding_sphere
        offset = origin - torch.as_tensor(centre, dtype=dtype, device=device).reshape(3)
        if not float(radius) > 0:
            raise ValueError(f'the bounding sphere needs a positive radius, got {radius}')
        # |offset + s direction| = radius: s = -b -+ sqrt(b^2 - c).
        b = directions @ offset
        discriminant = b * b - (offset @ offset - float(radius) ** 2)
        marching = discriminant > 0
        root = discriminant.clamp(min=0.0).sqrt()
        travelled = torch.maximum(travelled, -b - root)
        far = torch.minimum(far, -b + root)
    hit = torch.zeros(count, dtype=torch.bool, device=device)
    label = torch.zeros(count, dtype=torch.uint8, device=device)
    active = torch.nonzero(marching & (travelled <= far)).reshape(-1)
    for _ in range(int(steps)):
        if active.numel() == 0:
            break
        t = travelled[active]
        distances = scene_sdf(origin + t[:, None] * directions[active])
        if distances.ndim == 1:
            distances = distances[:, None]
        if distances.ndim != 2 or distances.shape[0] != active.numel():
            raise ValueError(f'scene_sdf must return (M,) or (M, C) for M points, got '
                             f'{tuple(distances.shape)} for {active.numel()}')
        nearest, part = distances.min(dim=-1)
        now_hit = nearest.abs() < hit_tolerance
        hit[active[now_hit]] = True
        label[active[now_hit]] = (part[now_hit] + 1).to(torch.uint8)
        # Hits take their last step too (it shortens the error along a slanted ray by
        # its cosine); a negative distance (overshoot through float rounding) steps back.
        t = t + nearest
        travelled[active] = t
        keep = ~now_hit & (t <= far[active])
        active = active[keep]
    depth = torch.where(hit, travelled / length_per_depth, torch.zeros_like(travelled))
    return depth.reshape(h, w), label.reshape(h, w)


def projected_box(scene: TorchScene, margin: int = 4) -> tuple[int, int, int, int]:
    """
    Pixel box (u0, v0, u1, v1) holding the projections of the hand and object bounds.

    The corners of ``TorchScene.bound_corners`` projected, widened by ``margin`` pixels
    and clipped to the image: a crop for ``render_depth`` holding all of both.

    Raises
    ------
    ValueError
        If a bound corner is behind the camera or the box misses the image.

    """
    corners = scene.bound_corners()
    if (corners[:, 2] <= 0).any():
        raise ValueError('part of the hand or object is behind the camera')
    pixels = corners @ scene.K.T
    pixels = pixels[:, :2] / pixels[:, 2:]
    u0 = max(int(np.floor(float(pixels[:, 0].min()))) - margin, 0)
    v0 = max(int(np.floor(float(pixels[:, 1].min()))) - margin, 0)
    u1 = min(int(np.ceil(float(pixels[:, 0].max()))) + margin + 1, scene.width)
    v1 = min(int(np.ceil(float(pixels[:, 1].max()))) + margin + 1, scene.height)
    if u0 >= u1 or v0 >= v1:
        raise ValueError('the hand and object project outside the image')
    return u0, v0, u1, v1


def _box_corners(lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """The 8 corners (8, 3) of the axis-aligned box [lower, upper]."""
    choose = torch.tensor([[i >> 2 & 1, i >> 1 & 1, i & 1] for i in range(8)],
                          dtype=torch.bool, device=lower.device)
    return torch.where(choose, upper, lower)
