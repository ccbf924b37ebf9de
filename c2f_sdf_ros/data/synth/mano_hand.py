"""
MANO model files as rigged hands for the synthetic generator (``--hand-model mano:PATH``).

The generator poses rigged hands through ``gltf_hand.HandRig``, which takes a skinned mesh
with named joints (``gltf_hand.GltfSkin``). A MANO model file (read safely by
``data.mano.load_mano_pickle``; the files are licensed and never shipped) is such a mesh:
its template at the mean shape, its 16 joints (regressed from the template) with
translation-only bind frames, as MANO's own skinning has, and its linear blend skinning
weights. ``mano_skin`` converts it, keeping each vertex's four strongest joint influences
renormalised (``HandRig`` skins with four, as glTF does; a vertex's further weights, if
any, are dropped). MANO has no texture: the generator shades it with the skin tones it
gives untextured hands. A left-hand file is mirrored into a right hand by ``HandRig``
as a left glTF hand is.

What is lost against the MANO layer itself (``data.mano.ManoLayer``): the pose blend
shapes (posing is plain linear blend skinning, as for the glTF hands) and shape variety
(the mean shape; the generator's per-frame scale still varies the size).
"""

from __future__ import annotations

import functools
import pathlib

import numpy as np

from c2f_sdf_ros.data.mano import (
    MANO_JOINT_NAMES,
    ManoParameters,
    load_mano_pickle,
    side_from_file_name,
)
from c2f_sdf_ros.data.synth.gltf_hand import GltfSkin, HandRig

__all__ = ['INFLUENCES', 'MODEL_FILES', 'RIG_JOINT_NAMES', 'load_mano_rig', 'mano_skin',
           'resolve_mano_file']

# The official file names, in the order a folder is searched.
MODEL_FILES = ('MANO_RIGHT.pkl', 'MANO_LEFT.pkl')
# Influences per vertex kept from MANO's dense (V, 16) weights.
INFLUENCES = 4
# MANO's joints under the names HandRig understands: the thumb's CMC, MCP and IP are its
# metacarpal, proximal and distal joints; the other fingers' MCP, PIP and DIP their
# proximal, intermediate and distal ones.
_SEGMENTS = {'thumb': ('metacarpal', 'proximal', 'distal')}
_FINGER_SEGMENTS = ('proximal', 'intermediate', 'distal')


def _rig_name(mano_name: str) -> str:
    if mano_name == 'wrist':
        return 'wrist'
    finger, number = mano_name[:-1], int(mano_name[-1])
    return f'{finger}_{_SEGMENTS.get(finger, _FINGER_SEGMENTS)[number - 1]}'


RIG_JOINT_NAMES = tuple(_rig_name(name) for name in MANO_JOINT_NAMES)


def mano_skin(params: ManoParameters, path: str | pathlib.Path = 'MANO') -> GltfSkin:
    """
    The skinned mesh of a MANO model at its mean shape, as ``HandRig.from_skin`` takes it.

    Parameters
    ----------
    params : ManoParameters
        A loaded model (``load_mano_pickle``).
    path : str or Path
        The file it came from (for messages and the rig's name).

    Returns
    -------
    GltfSkin
        Template vertices and faces (metres, the file's coordinates), each vertex's
        ``INFLUENCES`` strongest joints with their weights renormalised to sum to 1, the
        joints named as in ``RIG_JOINT_NAMES`` with translation-only bind frames at the
        regressed joint positions, and MANO's kinematic tree. No UVs, no colour.

    Raises
    ------
    ValueError
        If a vertex has no skinning weight.

    """
    weights = np.asarray(params.weights, np.float64)
    strongest = np.argsort(-weights, axis=1, kind='stable')[:, :INFLUENCES]
    kept = np.take_along_axis(weights, strongest, axis=1)
    totals = kept.sum(axis=1, keepdims=True)
    if np.any(totals <= 0):
        raise ValueError(f'{path}: {int((totals <= 0).sum())} vertices have no skinning '
                         'weight')
    positions = params.J_regressor @ params.v_template
    inverse_bind = np.repeat(np.eye(4)[None], len(positions), axis=0)
    inverse_bind[:, :3, 3] = -positions
    return GltfSkin(pathlib.Path(path), np.array(params.v_template, np.float64),
                    np.array(params.faces, np.int64), None, strongest.astype(np.int64),
                    kept / totals, RIG_JOINT_NAMES, inverse_bind,
                    np.array(params.kintree_parents, np.int64), None)


def resolve_mano_file(path) -> pathlib.Path:
    """
    The MANO model file a ``mano:PATH`` hand model names.

    Parameters
    ----------
    path : str or Path
        A model file whose name says its side (``MANO_RIGHT.pkl``, ``MANO_LEFT.pkl``), or a
        folder holding one: its ``MANO_RIGHT.pkl``, else its ``MANO_LEFT.pkl``.

    Raises
    ------
    ValueError
        If there is no such file, or the file's name does not say which hand it is.

    """
    path = pathlib.Path(path)
    if path.is_dir():
        for name in MODEL_FILES:
            if (path / name).is_file():
                return path / name
        raise ValueError(f'{path} holds no MANO model file ({" or ".join(MODEL_FILES)}; '
                         'download them from mano.is.tue.mpg.de)')
    if not path.is_file():
        raise ValueError(f'no MANO model file or folder at {path}')
    if side_from_file_name(path) is None:
        raise ValueError(f'cannot tell the hand side from the file name {path.name!r}: '
                         'name it MANO_RIGHT.pkl or MANO_LEFT.pkl')
    return path


@functools.lru_cache(maxsize=4)
def load_mano_rig(path) -> HandRig:
    """
    The ``HandRig`` of a MANO model file or folder (``resolve_mano_file``), cached.

    The side is the file name's (MANO's template is flat, so the mesh cannot tell).

    Raises
    ------
    ValueError, pickle.UnpicklingError
        As ``resolve_mano_file``, ``load_mano_pickle`` and ``HandRig.from_skin``.

    """
    file = resolve_mano_file(path)
    params = load_mano_pickle(file)
    return HandRig.from_skin(mano_skin(params, file), side=params.side)
