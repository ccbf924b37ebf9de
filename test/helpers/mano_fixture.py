"""
A stand-in MANO model file with the official pickle structure, for tests.

The real ``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl`` are licensed and not available to the tests.
This writes a Python-2-style protocol-2 pickle of a dict with the same keys, shapes and
types: ``shapedirs`` as a ``chumpy.ch.Ch`` object (written without chumpy), ``J_regressor``
as a ``scipy.sparse`` csc matrix under its old module path, ``kintree_table`` with
4294967295 as the root's parent, array bytes as Python 2 ``str`` opcodes.

The template is a closed tube (an elliptic "palm" with a rounded tip) with 778 vertices and
1538 faces, open at the wrist end by exactly one 16-edge loop, like MANO. Its vertices are
shuffled so that nothing depends on their order. Skinning: 12 rings of the tube belong to
the wrist, the rest is cut into five angular sectors (thumb, index, middle, ring, little)
of three segments each, one per finger joint, blended with the parent joint over the first
rings of a segment. Pose blend shapes are nonzero only where the joint has skinning weight.
The tips of :data:`c2f_sdf_ros.data.mano.TIP_VERTICES` lie on the distal segment of their
finger.
"""

from __future__ import annotations

import io
from pathlib import Path
import pickle
import struct

import numpy as np
import scipy.sparse

from c2f_sdf_ros.data.mano import TIP_VERTICES

RING = 16  # vertices per ring: the wrist loop has 16 edges, as MANO's
RINGS = 48
CAP = 9  # vertices of the ring that narrows the top before its pole
WRIST_RINGS = 12
SEGMENT_RINGS = 12
BLEND_RINGS = 3
# Angular sectors of the 16-vertex rings, and each finger's MANO joints (proximal first).
SECTORS = {
    'thumb': ((0, 1, 2), (13, 14, 15)),
    'index': ((3, 4, 5), (1, 2, 3)),
    'middle': ((6, 7, 8, 9), (4, 5, 6)),
    'ring': ((10, 11, 12), (10, 11, 12)),
    'little': ((13, 14, 15), (7, 8, 9)),
}
TIP_RING_POSITION = {'thumb': 1, 'index': 4, 'middle': 7, 'ring': 11, 'little': 14}
PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)


class _ChumpyCh:
    """Pickled as ``chumpy.ch.Ch`` (by :class:`_OfficialPickler`), with chumpy's state."""

    def __init__(self, value: np.ndarray):
        self.x = value
        self._dirty_vars = set()
        self._itr = None
        self._depends_on_deps = {}
        self._make_dense = False
        self._make_sparse = False


def _template(rng: np.random.Generator):
    """Vertices (778, 3), faces (1538, 3), per-vertex (finger, ring, sector position)."""
    points, faces = [], []
    heights = np.linspace(0.0, 0.17, RINGS)
    angles = 2 * np.pi * np.arange(RING) / RING
    for z in heights:
        taper = 1.0 - 0.25 * (z / heights[-1]) ** 2
        points += [(0.045 * taper * np.cos(a), 0.018 * taper * np.sin(a), z) for a in angles]
    cap_angles = 2 * np.pi * np.arange(CAP) / CAP
    points += [(0.022 * np.cos(a), 0.009 * np.sin(a), 0.178) for a in cap_angles]
    points.append((0.0, 0.0, 0.184))
    vertices = np.asarray(points) + rng.normal(scale=3e-4, size=(len(points), 3))

    def ring(k, i):
        return k * RING + i % RING

    for k in range(RINGS - 1):
        for i in range(RING):
            a0, a1, b0, b1 = ring(k, i), ring(k, i + 1), ring(k + 1, i), ring(k + 1, i + 1)
            faces += [(a0, a1, b1), (a0, b1, b0)]
    # Zip the last 16-ring to the 9-ring by angle, then fan the 9-ring to the pole.
    top, cap, pole = (RINGS - 1) * RING, RINGS * RING, RINGS * RING + CAP
    i = j = 0
    while i < RING or j < CAP:
        if i < RING and (j == CAP or (i + 1) / RING <= (j + 1) / CAP):
            faces.append((top + i % RING, top + (i + 1) % RING, cap + j % CAP))
            i += 1
        else:
            faces.append((top + i % RING, cap + (j + 1) % CAP, cap + j % CAP))
            j += 1
    faces += [(cap + j, cap + (j + 1) % CAP, pole) for j in range(CAP)]
    return vertices, np.asarray(faces, np.int64)


def _skinning(num_vertices: int) -> np.ndarray:
    """Weights (V, 16) in the natural (unshuffled) vertex order."""
    weights = np.zeros((num_vertices, 16))
    sector_of = {i: name for name, (positions, _) in SECTORS.items() for i in positions}
    for k in range(RINGS):
        for i in range(RING):
            v = k * RING + i
            if k < WRIST_RINGS:
                weights[v, 0] = 1.0
                continue
            segment = min((k - WRIST_RINGS) // SEGMENT_RINGS, 2)
            joint = SECTORS[sector_of[i]][1][segment]
            into = k - WRIST_RINGS - segment * SEGMENT_RINGS
            share = min((into + 1) / (BLEND_RINGS + 1), 1.0)
            weights[v, joint] += share
            weights[v, PARENTS[joint]] += 1.0 - share
    for j in range(CAP):  # the cap belongs to the distal joint of the nearest sector
        position = int(round(j * RING / CAP)) % RING
        weights[RINGS * RING + j, SECTORS[sector_of[position]][1][2]] = 1.0
    weights[RINGS * RING + CAP, SECTORS['middle'][1][2]] = 1.0
    return weights


def _regressor(rng: np.random.Generator, num_vertices: int) -> np.ndarray:
    """J_regressor (16, V): random convex weights over the vertices at each joint."""
    regressor = np.zeros((16, num_vertices))
    regressor[0, :RING] = rng.dirichlet(np.ones(RING))  # the wrist: the open end
    for positions, joints in SECTORS.values():
        for segment, joint in enumerate(joints):
            k = WRIST_RINGS + segment * SEGMENT_RINGS
            members = [k * RING + i for i in positions]
            regressor[joint, members] = rng.dirichlet(np.full(len(members), 4.0))
    return regressor


def make_mano_fixture(side: str = 'right', seed: int = 0) -> dict:
    """
    The dict of a MANO model file, as :func:`dump_official_pickle` writes it.

    Parameters
    ----------
    side : {'right', 'left'}
        A left hand is the right one mirrored in x (with flipped face winding).
    seed : int
        Seed of the random values.

    Returns
    -------
    dict
        Official keys; ``shapedirs`` is a chumpy stand-in, ``J_regressor`` a csc matrix.
    """
    if side not in ('right', 'left'):
        raise ValueError(f'side must be right or left, got {side!r}')
    rng = np.random.default_rng(seed)
    vertices, faces = _template(rng)
    weights = _skinning(len(vertices))
    regressor = _regressor(rng, len(vertices))

    # Shuffle the vertices, keeping each tip id on the distal segment of its finger.
    order = rng.permutation(len(vertices))  # new index -> natural index
    for name, tip in zip(('thumb', 'index', 'middle', 'ring', 'little'), TIP_VERTICES,
                         strict=True):
        natural = (RINGS - 1) * RING + TIP_RING_POSITION[name]
        where = int(np.flatnonzero(order == natural)[0])
        order[where], order[tip] = order[tip], order[where]
    new_index = np.empty_like(order)
    new_index[order] = np.arange(len(order))
    vertices, weights, regressor = vertices[order], weights[order], regressor[:, order]
    faces = new_index[faces]
    if side == 'left':
        vertices = vertices * np.array([-1.0, 1.0, 1.0])
        faces = faces[:, [0, 2, 1]]

    num_vertices = len(vertices)
    shapedirs = rng.normal(scale=3e-3, size=(num_vertices, 3, 10))
    posedirs = rng.normal(scale=2e-3, size=(num_vertices, 3, 135))
    for joint in range(1, 16):
        posedirs[weights[:, joint] == 0, :, 9 * (joint - 1):9 * joint] = 0.0
    components = np.linalg.qr(rng.normal(size=(45, 45)))[0].T
    kintree = np.array([[4294967295, *PARENTS[1:]], list(range(16))], np.int64)
    return {
        'v_template': vertices,
        'shapedirs': _ChumpyCh(shapedirs),
        'posedirs': posedirs,
        'J_regressor': scipy.sparse.csc_matrix(regressor),
        'weights': weights,
        'kintree_table': kintree,
        'f': faces.astype(np.uint32),
        'J': regressor @ vertices,
        'hands_components': components,
        'hands_mean': rng.normal(scale=0.15, size=45),
        'hands_coeffs': rng.normal(scale=0.5, size=(64, 45)),
        'bs_style': 'lbs',
        'bs_type': 'lrotmin',
    }


class _OfficialPickler(pickle._Pickler):
    """
    Protocol-2 pickler that writes some globals under chosen names and bytes as Py2 str.

    The pure-Python pickler is used because its ``save_global`` can be overridden: the
    chumpy stand-in must be written as ``chumpy.ch Ch`` although no such module exists.
    """

    def __init__(self, stream, names: dict[int, tuple[str, str]]):
        super().__init__(stream, protocol=2)
        self._names = names

    def save_global(self, obj, name=None):
        pickled = self._names.get(id(obj))
        if pickled is None:
            return super().save_global(obj, name)
        module, qualname = pickled
        self.write(pickle.GLOBAL + f'{module}\n{qualname}\n'.encode('ascii'))
        self.memoize(obj)
        return None

    def _save_py2_str(self, obj: bytes):
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack('<i', len(obj)) + obj)
        self.memoize(obj)

    dispatch = dict(pickle._Pickler.dispatch)
    dispatch[bytes] = _save_py2_str


def dump_official_pickle(data, path: str | Path, legacy_names: bool = True) -> Path:
    """
    Pickle ``data`` as the official MANO files are pickled (protocol 2, Python 2 style).

    Parameters
    ----------
    data : object
        Usually a dict from :func:`make_mano_fixture`; :class:`_ChumpyCh` values are
        written as ``chumpy.ch Ch``.
    path : str or Path
        Output file.
    legacy_names : bool
        Write numpy's and scipy's globals under their old module paths
        (``numpy.core.multiarray``, ``scipy.sparse.csc``) as in the official files; else
        under the current ones (``numpy._core.multiarray``, ``scipy.sparse._csc``).

    Returns
    -------
    Path
        ``path``.
    """
    names = {id(_ChumpyCh): ('chumpy.ch', 'Ch')}
    if legacy_names:
        names[id(np.ndarray(0).__reduce__()[0])] = ('numpy.core.multiarray', '_reconstruct')
        names[id(scipy.sparse.csc_matrix)] = ('scipy.sparse.csc', 'csc_matrix')
    buffer = io.BytesIO()
    _OfficialPickler(buffer, names).dump(data)
    path = Path(path)
    path.write_bytes(buffer.getvalue())
    return path


def write_mano_fixture(path: str | Path, side: str = 'right', seed: int = 0,
                       legacy_names: bool = True) -> Path:
    """
    Write a stand-in MANO model file with the official structure.

    Parameters
    ----------
    path : str or Path
        Output file; name it like ``MANO_RIGHT.pkl`` so the side can be inferred.
    side : {'right', 'left'}
        Hand side.
    seed : int
        Seed of the random values.
    legacy_names : bool
        See :func:`dump_official_pickle`.

    Returns
    -------
    Path
        ``path``.
    """
    return dump_official_pickle(make_mano_fixture(side, seed), path, legacy_names)


# MANO joint of each finger's first joint (thumb, index, middle, ring, little).
_FINGER_BASE = (13, 1, 4, 10, 7)


def hand_shaped_mano_fixture(rig, side: str = 'right', neighbours: int = 12) -> dict:
    """
    The dict of a MANO model file whose template is a real hand: a glTF rig's skin.

    For end-to-end tests of ``--hand-model mano:PATH`` (the tube of
    :func:`make_mano_fixture` is no hand to grasp with). The rig's joints are mapped onto
    MANO's 16: each finger's three chain joints (``HandRig.chains``) onto its MANO joints,
    a fingertip joint onto its distal joint, every other joint (palm, metacarpals) onto
    the wrist. ``J_regressor`` gives the rig's bind positions exactly (the least-norm
    affine weights of each joint's nearest vertices); the blend shapes are zero.

    Parameters
    ----------
    rig : c2f_sdf_ros.data.synth.gltf_hand.HandRig
        A right-hand rig (``load_rig``).
    side : {'right', 'left'}
        A left hand is the right one mirrored in x, faces flipped (as MANO_LEFT).
    neighbours : int
        Vertices per joint in the regressor.
    """
    if side not in ('right', 'left'):
        raise ValueError(f'side must be right or left, got {side!r}')
    vertices = np.array(rig.vertices, np.float64)
    faces = np.array(rig.faces, np.int64)
    mano_of = np.zeros(len(rig.bind_positions), np.int64)  # rig joint -> MANO joint
    positions = np.zeros((16, 3))
    for finger, chain in enumerate(rig.chains):
        for k, joint in enumerate(chain):
            mano_of[joint] = _FINGER_BASE[finger] + k
            positions[_FINGER_BASE[finger] + k] = rig.bind_positions[joint]
        if rig.tip_joints[finger] >= 0:
            mano_of[rig.tip_joints[finger]] = _FINGER_BASE[finger] + 2
    positions[0] = rig.bind_positions[rig.wrist_joint]
    weights = np.zeros((len(vertices), 16))
    np.add.at(weights, (np.arange(len(vertices))[:, None], mano_of[rig.skin_joints]),
              rig.skin_weights)
    regressor = np.zeros((16, len(vertices)))
    for joint, position in enumerate(positions):
        nearest = np.argsort(np.linalg.norm(vertices - position, axis=1))[:neighbours]
        system = np.vstack([vertices[nearest].T, np.ones(neighbours)])  # (4, k)
        regressor[joint, nearest] = np.linalg.lstsq(system, np.append(position, 1.0),
                                                    rcond=None)[0]
    if side == 'left':
        vertices = vertices * np.array([-1.0, 1.0, 1.0])
        faces = faces[:, [0, 2, 1]]
    kintree = np.array([[4294967295, *PARENTS[1:]], list(range(16))], np.int64)
    return {
        'v_template': vertices,
        'shapedirs': _ChumpyCh(np.zeros((len(vertices), 3, 10))),
        'posedirs': np.zeros((len(vertices), 3, 135)),
        'J_regressor': scipy.sparse.csc_matrix(regressor),
        'weights': weights,
        'kintree_table': kintree,
        'f': faces.astype(np.uint32),
        'J': regressor @ vertices,
        'hands_components': np.eye(45),
        'hands_mean': np.zeros(45),
        'bs_style': 'lbs',
        'bs_type': 'lrotmin',
    }
