"""
Hand-held object families with analytic signed distances.

Each family builds its shape in a *design* frame (axis of revolution or box centre on z,
bottom or sphere centre wherever it is natural) from exact primitives of ``sdf`` joined by
min/max, so the distance is exact outside and near the surface up to the usual CSG
bounds. :class:`ObjectShape` shifts it into the object-local frame: origin at the centre of
the axis-aligned bounding box, +z up (the axis of revolution; cups and bowls open
towards +z), metres. Every wall is at least 4 mm thick, so that marching cubes at 2 mm
voxels resolves it, and the largest dimension is in [0.03, 0.25] m.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import trimesh

from c2f_sdf_ros.data.synth import sdf
from c2f_sdf_ros.data.synth.meshing import mesh_from_sdf

__all__ = ['FAMILIES', 'ObjectShape', 'object_mesh', 'sample_object']

FAMILIES = ('box', 'cylinder', 'sphere', 'bottle', 'mug', 'bowl')

MAX_DIMENSION = 0.25


# Revolved 2-D profiles ---------------------------------------------------------------------


def _radial(p: np.ndarray) -> np.ndarray:
    """Distance from the z axis (N,)."""
    return np.hypot(p[:, 0], p[:, 1])


def _revolved_round_rect(p: np.ndarray, r_range, z_range, rounding: float) -> np.ndarray:
    """
    Revolved rounded rectangle: a tube wall with rounded ends, exact.

    The rectangle ``r_range`` x ``z_range`` (r >= 0) in the (r, z) half-plane, corners
    rounded by ``rounding``, turned around the z axis.
    """
    # The 2-D rounded box in the (r, z) half-plane, through round_box with a third axis
    # that never binds (its half size is huge and its coordinate is zero).
    q = np.stack([_radial(p) - 0.5 * (r_range[0] + r_range[1]),
                  p[:, 2] - 0.5 * (z_range[0] + z_range[1]), np.zeros(len(p))], axis=-1)
    half = (0.5 * (r_range[1] - r_range[0]), 0.5 * (z_range[1] - z_range[0]), 1.0)
    return sdf.round_box(q, half, rounding)


def _cut_hollow_sphere(p: np.ndarray, radius: float, cut: float,
                       half_wall: float) -> np.ndarray:
    """
    Spherical shell cut by a plane, with a rounded rim; exact.

    Mid-surface ``radius``, thickness 2 ``half_wall``, the part below z = ``cut`` kept
    (after Inigo Quilez's cut hollow sphere).
    """
    w = np.sqrt(radius * radius - cut * cut)
    qr, qz = _radial(p), p[:, 2]
    # Above the cone through the rim circle the nearest mid-surface point is the rim.
    to_rim = np.hypot(qr - w, qz - cut)
    to_shell = np.abs(np.hypot(qr, qz) - radius)
    return np.where(cut * qr < w * qz, to_rim, to_shell) - half_wall


def _cylinder_between(p: np.ndarray, radius: float, z0: float, z1: float,
                      rounding: float = 0.0) -> np.ndarray:
    """Capped cylinder on the z axis from z0 to z1."""
    q = p - np.array([0.0, 0.0, 0.5 * (z0 + z1)])
    return sdf.capped_cylinder(q, radius, 0.5 * (z1 - z0), rounding)


# Families: sampling, design-frame SDF and bounds --------------------------------------------


class _Family(NamedTuple):
    names: tuple[str, ...]
    sample: Callable[[np.random.Generator], dict[str, float]]
    sdf: Callable[[np.ndarray, Mapping[str, float]], np.ndarray]
    bounds: Callable[[Mapping[str, float]], tuple[np.ndarray, np.ndarray]]


def _box_sample(rng: np.random.Generator) -> dict[str, float]:
    sides = rng.uniform(0.03, 0.25, size=3)
    if sides.max() < 0.05:
        # Not a tiny cube: one side (chosen at random) is at least 5 cm.
        sides[rng.integers(3)] = rng.uniform(0.05, 0.25)
    return dict(half_x=sides[0] / 2, half_y=sides[1] / 2, half_z=sides[2] / 2,
                rounding=rng.uniform(0.002, 0.005))


def _box_sdf(p, q):
    return sdf.round_box(p, (q['half_x'], q['half_y'], q['half_z']), q['rounding'])


def _box_bounds(q):
    half = np.array([q['half_x'], q['half_y'], q['half_z']])
    return -half, half


def _cylinder_sample(rng):
    return dict(radius=rng.uniform(0.02, 0.05), height=rng.uniform(0.05, 0.25),
                rounding=rng.uniform(0.002, 0.004))


def _cylinder_sdf(p, q):
    return sdf.capped_cylinder(p, q['radius'], q['height'] / 2, q['rounding'])


def _cylinder_bounds(q):
    half = np.array([q['radius'], q['radius'], q['height'] / 2])
    return -half, half


def _sphere_sample(rng):
    return dict(radius=rng.uniform(0.015, 0.06))


def _sphere_sdf(p, q):
    return sdf.sphere(p, q['radius'])


def _sphere_bounds(q):
    half = np.full(3, q['radius'])
    return -half, half


# Bottle (design frame: bottom at z = 0). Body cylinder up to z = body_height, then a round
# cone from a sphere of the body radius there to a sphere of the neck radius at the neck
# base (a dome-like shoulder), the neck cylinder and a wider cap. Each junction is tangent
# (the body's top rounded edge lies inside the shoulder sphere), so plain min is smooth.


def _bottle_sample(rng):
    body_radius = rng.uniform(0.025, 0.045)
    body_height = rng.uniform(0.10, 0.20)
    neck_radius = rng.uniform(0.008, 0.015)
    neck_height = rng.uniform(0.02, 0.05)
    # The round cone needs its length above the radius difference; the excess sets the
    # shoulder slope (small: round dome, large: conical).
    shoulder_height = body_radius - neck_radius + rng.uniform(0.005, 0.025)
    # Total height <= 25 cm; the shortened body stays >= 13.3 cm.
    body_height = min(body_height, MAX_DIMENSION - 1e-6 - shoulder_height - neck_height)
    cap_height = min(rng.uniform(0.008, 0.018), 0.7 * neck_height)
    return dict(body_radius=body_radius, body_height=body_height,
                shoulder_height=shoulder_height, neck_radius=neck_radius,
                neck_height=neck_height, cap_radius=neck_radius + rng.uniform(0.0015, 0.003),
                cap_height=cap_height, rounding=rng.uniform(0.002, 0.004))


def _bottle_sdf(p, q):
    radius, rounding = q['body_radius'], q['rounding']
    z_shoulder = q['body_height']
    z_neck = z_shoulder + q['shoulder_height']
    z_top = z_neck + q['neck_height']
    # Extending the body by its rounding puts its rounded top edge inside the shoulder
    # sphere, so the body meets the shoulder tangentially at z_shoulder.
    body = _cylinder_between(p, radius, 0.0, z_shoulder + rounding, rounding)
    shoulder = sdf.round_cone(p, (0.0, 0.0, z_shoulder), (0.0, 0.0, z_neck), radius,
                              q['neck_radius'])
    neck = _cylinder_between(p, q['neck_radius'], z_neck, z_top - 0.5 * q['cap_height'])
    cap = _cylinder_between(p, q['cap_radius'], z_top - q['cap_height'], z_top, 0.001)
    return sdf.union(body, shoulder, neck, cap)


def _bottle_bounds(q):
    radius = max(q['body_radius'], q['cap_radius'])
    height = q['body_height'] + q['shoulder_height'] + q['neck_height']
    return np.array([-radius, -radius, 0.0]), np.array([radius, radius, height])


# Mug (design frame: axis on z, bottom at z = 0, open at z = height). The wall is a revolved
# rounded rectangle (rounded rim and bottom edge, exact), the bottom a disk out to the wall's
# mid-line (its flat face meets the wall's rounded end tangentially), the handle the +x half
# of a torus in the xz plane, cut at the wall's mid-line so its cut faces stay inside the
# wall and nothing pokes into the cup.


def _mug_handle_x(q):
    """The x of the handle torus centre (the wall's mid-line)."""
    return q['outer_radius'] - 0.5 * q['wall']


def _mug_sample(rng):
    outer_radius = rng.uniform(0.035, 0.05)
    height = rng.uniform(0.08, 0.12)
    wall = rng.uniform(0.004, 0.006)
    bottom = rng.uniform(0.005, 0.008)
    handle_minor = rng.uniform(0.005, 0.007)
    # The handle ring stays 4 mm clear of the rim and the base; the hole is >= ~1 cm.
    handle_major = rng.uniform(0.7, 1.0) * (0.5 * height - handle_minor - 0.004)
    return dict(outer_radius=outer_radius, height=height, wall=wall, bottom=bottom,
                handle_major=handle_major, handle_minor=handle_minor)


def _mug_sdf(p, q):
    outer, wall, height = q['outer_radius'], q['wall'], q['height']
    shell = _revolved_round_rect(p, (outer - wall, outer), (0.0, height), 0.5 * wall)
    base = _cylinder_between(p, outer - 0.5 * wall, 0.0, q['bottom'])
    x_handle = _mug_handle_x(q)
    # Torus around the y axis: swap y and z so that sdf.torus (ring around z) applies.
    local = np.stack([p[:, 0] - x_handle, p[:, 2] - 0.5 * height, p[:, 1]], axis=-1)
    ring = sdf.torus(local, q['handle_major'], q['handle_minor'])
    handle = sdf.intersect(ring, x_handle - p[:, 0])
    return sdf.union(shell, base, handle)


def _mug_bounds(q):
    outer = q['outer_radius']
    x_max = _mug_handle_x(q) + q['handle_major'] + q['handle_minor']
    return np.array([-outer, -outer, 0.0]), np.array([x_max, outer, q['height']])


def _mug_cavity(q):
    return np.array([0.0, 0.0, 0.5 * (q['bottom'] + q['height'])])


def _mug_handle(q):
    return np.array([_mug_handle_x(q) + q['handle_major'], 0.0, 0.5 * q['height']])


# Bowl (design frame: sphere centre at the origin). A spherical shell cut at z = rim
# (rounded rim), on a flat foot disk whose top is buried in the shell wall: below the inner
# surface at the axis and above the outer surface at the foot's edge, which needs
# foot_radius^2 < (outer^2 - inner^2) = 2 radius wall.


def _bowl_sample(rng):
    radius = rng.uniform(0.05, 0.10)
    wall = rng.uniform(0.004, 0.006)
    return dict(radius=radius, wall=wall, rim=rng.uniform(-0.35, 0.1) * radius,
                foot_radius=rng.uniform(0.6, 0.85) * np.sqrt(2.0 * radius * wall),
                foot_height=rng.uniform(0.003, 0.006))


def _bowl_levels(q):
    """Outer and inner sphere radii and the foot's bottom and top z."""
    outer = q['radius'] + 0.5 * q['wall']
    inner = q['radius'] - 0.5 * q['wall']
    foot_top = 0.5 * (-np.sqrt(outer ** 2 - q['foot_radius'] ** 2) - inner)
    return outer, inner, -outer - q['foot_height'], foot_top


def _bowl_sdf(p, q):
    _, _, foot_bottom, foot_top = _bowl_levels(q)
    shell = _cut_hollow_sphere(p, q['radius'], q['rim'], 0.5 * q['wall'])
    foot = _cylinder_between(p, q['foot_radius'], foot_bottom, foot_top, 0.001)
    return sdf.union(shell, foot)


def _bowl_bounds(q):
    outer, _, foot_bottom, _ = _bowl_levels(q)
    radius, rim, half_wall = q['radius'], q['rim'], 0.5 * q['wall']
    if rim >= 0:
        # The equator is kept.
        r_max = outer
    else:
        # The widest part is the rounded rim (the outer surface ends at the cone through
        # the rim circle, inside that radius).
        r_max = np.sqrt(radius ** 2 - rim ** 2) + half_wall
    return (np.array([-r_max, -r_max, foot_bottom]),
            np.array([r_max, r_max, rim + half_wall]))


def _bowl_cavity(q):
    _, inner, _, _ = _bowl_levels(q)
    return np.array([0.0, 0.0, 0.5 * (q['rim'] - inner)])


_FAMILIES: dict[str, _Family] = {
    'box': _Family(('half_x', 'half_y', 'half_z', 'rounding'),
                   _box_sample, _box_sdf, _box_bounds),
    'cylinder': _Family(('height', 'radius', 'rounding'),
                        _cylinder_sample, _cylinder_sdf, _cylinder_bounds),
    'sphere': _Family(('radius',), _sphere_sample, _sphere_sdf, _sphere_bounds),
    'bottle': _Family(('body_height', 'body_radius', 'cap_height', 'cap_radius',
                       'neck_height', 'neck_radius', 'rounding', 'shoulder_height'),
                      _bottle_sample, _bottle_sdf, _bottle_bounds),
    'mug': _Family(('bottom', 'handle_major', 'handle_minor', 'height', 'outer_radius',
                    'wall'), _mug_sample, _mug_sdf, _mug_bounds),
    'bowl': _Family(('foot_height', 'foot_radius', 'radius', 'rim', 'wall'),
                    _bowl_sample, _bowl_sdf, _bowl_bounds),
}

# Named interior points in the design frame (for checks and grasp targets).
_LANDMARKS = {
    'mug': {'cavity': _mug_cavity, 'handle': _mug_handle},
    'bowl': {'cavity': _bowl_cavity},
}


def _family(name: str) -> _Family:
    try:
        return _FAMILIES[name]
    except KeyError:
        raise ValueError(f'unknown object family {name!r}; expected one of {FAMILIES}') \
            from None


# Public API -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ObjectShape:
    """
    One object: a family and its dimensions, with its SDF in the object-local frame.

    Attributes
    ----------
    family : str
        One of :data:`FAMILIES`.
    params : tuple of (str, float)
        The family's dimensions in metres as name/value pairs sorted by name (hashable
        and JSON-friendly); normalised on construction from any order or a mapping.

    """

    family: str
    params: tuple[tuple[str, float], ...]

    def __post_init__(self):
        spec = _family(self.family)
        pairs = self.params.items() if isinstance(self.params, Mapping) else self.params
        params = tuple(sorted((str(name), float(value)) for name, value in pairs))
        names = tuple(name for name, _ in params)
        if names != spec.names:
            raise ValueError(f'{self.family} needs parameters {spec.names}, got {names}')
        if not all(np.isfinite(value) for _, value in params):
            raise ValueError(f'parameters must be finite, got {params}')
        object.__setattr__(self, 'params', params)

    @classmethod
    def from_dict(cls, data: Mapping) -> ObjectShape:
        """Inverse of :meth:`as_dict`."""
        return cls(data['family'], tuple(dict(data['params']).items()))

    def param(self, name: str) -> float:
        """Value of parameter ``name`` (KeyError if the family has none such)."""
        for key, value in self.params:
            if key == name:
                return value
        raise KeyError(f'{self.family} has no parameter {name!r}')

    def as_dict(self) -> dict:
        """``{'family': str, 'params': {name: value}}``, JSON-serialisable."""
        return {'family': self.family, 'params': dict(self.params)}

    def design_centre(self) -> np.ndarray:
        """(3,) centre of the family's design bounds; ``sdf`` takes points around it."""
        lower, upper = _family(self.family).bounds(dict(self.params))
        return 0.5 * (lower + upper)

    def sdf(self, p_local: np.ndarray) -> np.ndarray:
        """
        Signed distance (negative inside) at points ``p_local`` (N, 3) in the local frame.

        Returns
        -------
        np.ndarray
            (N,) distances in metres.

        """
        p = np.asarray(p_local, dtype=np.float64)
        if p.ndim != 2 or p.shape[1] != 3:
            raise ValueError(f'points must have shape (N, 3), got {p.shape}')
        return _family(self.family).sdf(p + self.design_centre(), dict(self.params))

    def half_extent(self) -> np.ndarray:
        """(3,) half sizes of the local axis-aligned bounding box (centred at the origin)."""
        lower, upper = _family(self.family).bounds(dict(self.params))
        return 0.5 * (upper - lower)

    def largest_dimension(self) -> float:
        """Largest side of the bounding box in metres."""
        return float(2.0 * self.half_extent().max())

    def landmarks(self) -> dict[str, np.ndarray]:
        """
        Named points (3,) in the local frame, for checks and grasp targets.

        ``'cavity'`` (mug, bowl): the middle of the hollow, outside the material.
        ``'handle'`` (mug): on the handle tube's centre line, inside the material.
        Solid families have none.
        """
        centre = self.design_centre()
        params = dict(self.params)
        return {name: point(params) - centre
                for name, point in _LANDMARKS.get(self.family, {}).items()}


def sample_object(rng: np.random.Generator, family: str | None = None) -> ObjectShape:
    """
    Random object of ``family`` (None: uniform over :data:`FAMILIES`).

    Deterministic given the state of ``rng``.

    Raises
    ------
    ValueError
        For an unknown family.

    """
    if family is None:
        family = FAMILIES[int(rng.integers(len(FAMILIES)))]
    spec = _family(family)
    return ObjectShape(family, tuple(spec.sample(rng).items()))


def object_mesh(shape: ObjectShape, voxel: float = 0.002) -> trimesh.Trimesh:
    """
    Closed mesh of ``shape`` in its local frame by marching cubes at ``voxel`` metres.

    Returns
    -------
    trimesh.Trimesh
        Watertight mesh with outward normals; identical arrays for equal inputs.

    """
    half = shape.half_extent()
    # mesh_from_sdf pads by 2 voxels; one more keeps the border clear of float noise.
    return mesh_from_sdf(shape.sdf, -half - voxel, half + voxel, voxel)
