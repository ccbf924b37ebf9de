"""
The MANO hand model in plain numpy + torch: the official model files and a layer.

MANO (Romero, Tzionas and Black, SIGGRAPH Asia 2017) is a skinned hand mesh with the SMPL
equations: shape blend shapes, joint regression from the shaped mesh, pose blend shapes
from the joint rotations, forward kinematics and linear blend skinning. The model files
(``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl`` from mano.is.tue.mpg.de) are licensed and are not
shipped here: the caller passes their path.

The files are Python 2 pickles that hold a ``chumpy`` object and a ``scipy.sparse``
matrix. :func:`load_mano_pickle` reads them without chumpy and without unpickling any
class outside a short allow-list (``c2f_sdf_ros.data.safe_pickle.ManoUnpickler``): chumpy
objects and sparse matrices come back as inert records of their pickled state and are
turned into dense numpy arrays. :meth:`ManoLayer.watertight` closes the wrist opening with
``c2f_sdf_ros.data.mesh_repair.closed_faces``.

Joints come out in the project's (and DexYCB's) 21-joint order: wrist, thumb 1-4,
index 1-4, middle 1-4, ring 1-4, little 1-4, where joint 4 of each finger is a fingertip
vertex of the mesh (:data:`TIP_VERTICES`).
"""

from __future__ import annotations

from collections.abc import Sequence
import dataclasses
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from c2f_sdf_ros.data.mesh_repair import closed_faces
from c2f_sdf_ros.data.safe_pickle import ManoUnpickler, load_restricted, record_to_array

__all__ = [
    'JOINT_NAMES',
    'JOINT_ORDER',
    'MANO_JOINT_NAMES',
    'TIP_VERTICES',
    'TIP_VERTICES_SMPLX',
    'ManoLayer',
    'ManoOutput',
    'ManoParameters',
    'axis_angle_to_matrix',
    'load_mano_pickle',
    'side_from_file_name',
]

NUM_MANO_JOINTS = 16
NUM_HAND_POSE = 3 * (NUM_MANO_JOINTS - 1)  # 45: axis-angle of the 15 finger joints
NUM_POSE_FEATURES = 9 * (NUM_MANO_JOINTS - 1)  # 135: (R - I) of the 15 finger joints

# The 16 joints of the MANO model files, in their order (kintree_table / J_regressor rows).
MANO_JOINT_NAMES = (
    'wrist',
    'index1', 'index2', 'index3',
    'middle1', 'middle2', 'middle3',
    'little1', 'little2', 'little3',
    'ring1', 'ring2', 'ring3',
    'thumb1', 'thumb2', 'thumb3',
)

# Fingertip vertices of the MANO mesh, in the order thumb, index, middle, ring, little.
# These are the ids of manopth, which the DexYCB toolkit builds on, so our 21 joints match
# DexYCB's joint_3d labels. The smplx / HaMeR convention (TIP_VERTICES_SMPLX) picks
# neighbouring vertices of the same fingertips, a few millimetres away.
TIP_VERTICES = (745, 317, 444, 556, 673)
TIP_VERTICES_SMPLX = (744, 320, 443, 554, 671)

# The 21 output joints: the 16 MANO joints followed by the 5 tips (indices 16..20, thumb,
# index, middle, ring, little) are reordered by JOINT_ORDER into JOINT_NAMES.
JOINT_NAMES = (
    'wrist',
    'thumb1', 'thumb2', 'thumb3', 'thumb4',
    'index1', 'index2', 'index3', 'index4',
    'middle1', 'middle2', 'middle3', 'middle4',
    'ring1', 'ring2', 'ring3', 'ring4',
    'little1', 'little2', 'little3', 'little4',
)
JOINT_ORDER = (0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20)

_REQUIRED_KEYS = ('v_template', 'shapedirs', 'posedirs', 'J_regressor', 'weights',
                  'kintree_table', 'f', 'hands_components', 'hands_mean')
_ROOT_MARKER = 4294967295  # 2**32 - 1: the root's parent in kintree_table


# --------------------------------------------------------------------------------------
# Model parameters


@dataclasses.dataclass(frozen=True)
class ManoParameters:
    """
    The arrays of one MANO model file, dense, with V vertices, F faces and 16 joints.

    Attributes
    ----------
    v_template : np.ndarray
        (V, 3) float64, the rest-pose mean-shape mesh in metres (V = 778 for MANO).
    shapedirs : np.ndarray
        (V, 3, S) float64, shape blend shapes (S = 10).
    posedirs : np.ndarray
        (V, 3, 135) float64, pose blend shapes over the flattened (R - I) of joints 1-15.
    J_regressor : np.ndarray
        (16, V) float64, joint locations as linear functions of the vertices.
    weights : np.ndarray
        (V, 16) float64, linear blend skinning weights.
    kintree_parents : np.ndarray
        (16,) int64, the parent of each joint, -1 for the root (joint 0).
    faces : np.ndarray
        (F, 3) int64 triangles (F = 1538 for MANO); open at the wrist.
    hands_components : np.ndarray
        (45, 45) float64, PCA basis of the finger pose, one component per row.
    hands_mean : np.ndarray
        (45,) float64, mean finger pose (axis-angle of joints 1-15).
    side : str
        ``'right'`` or ``'left'``.
    """

    v_template: np.ndarray
    shapedirs: np.ndarray
    posedirs: np.ndarray
    J_regressor: np.ndarray
    weights: np.ndarray
    kintree_parents: np.ndarray
    faces: np.ndarray
    hands_components: np.ndarray
    hands_mean: np.ndarray
    side: str

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, np.ndarray):
                value = np.array(value)  # our own read-only copy
                value.flags.writeable = False
                object.__setattr__(self, field.name, value)
        _validate_parameters(self)

    @property
    def num_vertices(self) -> int:
        """V, the number of mesh vertices."""
        return int(self.v_template.shape[0])

    @property
    def num_betas(self) -> int:
        """S, the number of shape coefficients."""
        return int(self.shapedirs.shape[2])


def _validate_parameters(params: ManoParameters) -> None:
    def fail(message):
        raise ValueError(f'MANO parameters: {message}')

    v = params.v_template
    if v.ndim != 2 or v.shape[1] != 3 or v.shape[0] < 4:
        fail(f'v_template must be (V, 3), got {v.shape}')
    num_vertices, joints = v.shape[0], NUM_MANO_JOINTS
    expected = {
        'shapedirs': (num_vertices, 3, params.shapedirs.shape[-1]),
        'posedirs': (num_vertices, 3, NUM_POSE_FEATURES),
        'J_regressor': (joints, num_vertices),
        'weights': (num_vertices, joints),
        'kintree_parents': (joints,),
        'hands_components': (NUM_HAND_POSE, NUM_HAND_POSE),
        'hands_mean': (NUM_HAND_POSE,),
    }
    for name, shape in expected.items():
        actual = getattr(params, name).shape
        if actual != shape:
            fail(f'{name} must have shape {shape}, got {actual}')
    if params.shapedirs.ndim != 3 or params.shapedirs.shape[2] < 1:
        fail(f'shapedirs must be (V, 3, S), got {params.shapedirs.shape}')
    faces = params.faces
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.shape[0] < 1:
        fail(f'faces must be (F, 3), got {faces.shape}')
    if not np.issubdtype(faces.dtype, np.integer) or faces.min() < 0 \
            or faces.max() >= num_vertices:
        fail(f'faces must be integer vertex indices in [0, {num_vertices})')
    parents = params.kintree_parents
    if parents[0] != -1 or any(not 0 <= parents[j] < j for j in range(1, joints)):
        fail(f'kintree_parents must have the root first and parents before children, '
             f'got {parents.tolist()}')
    for name in ('v_template', 'shapedirs', 'posedirs', 'J_regressor', 'weights',
                 'hands_components', 'hands_mean'):
        if not np.all(np.isfinite(getattr(params, name))):
            fail(f'{name} has non-finite values')
    if params.side not in ('right', 'left'):
        fail(f"side must be 'right' or 'left', got {params.side!r}")


def _parents_from_kintree(kintree: np.ndarray) -> np.ndarray:
    if kintree.shape != (2, NUM_MANO_JOINTS):
        raise ValueError(f'MANO pickle: kintree_table must be (2, {NUM_MANO_JOINTS}), '
                         f'got {kintree.shape}')
    table = kintree.astype(np.int64)
    column_of = {int(joint): column for column, joint in enumerate(table[1])}
    if sorted(column_of) != list(range(NUM_MANO_JOINTS)):
        raise ValueError('MANO pickle: kintree_table row 1 must list joints 0-15 once each')
    parents = np.empty(NUM_MANO_JOINTS, np.int64)
    for column in range(NUM_MANO_JOINTS):
        joint, parent = int(table[1, column]), int(table[0, column])
        if parent in (_ROOT_MARKER, -1):
            parents[joint] = -1
        elif parent in column_of:
            parents[joint] = parent
        else:
            raise ValueError(f'MANO pickle: kintree_table has an unknown parent {parent}')
    return parents


def side_from_file_name(path: str | Path) -> str | None:
    """'right' or 'left' when a model file's name says exactly one of them, else None."""
    lowered = Path(path).name.lower()
    if ('right' in lowered) == ('left' in lowered):
        return None
    return 'right' if 'right' in lowered else 'left'


def load_mano_pickle(path: str | Path, side: str | None = None) -> ManoParameters:
    """
    Load an official MANO model file (``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl``) safely.

    Only numpy arrays, scipy csc/csr matrices, chumpy arrays and plain builtins are
    unpickled (``c2f_sdf_ros.data.safe_pickle.ManoUnpickler``); chumpy need not be
    installed and no chumpy or scipy code runs.

    Parameters
    ----------
    path : str or Path
        The model file. There is no default and no search path.
    side : {'right', 'left'}, optional
        The hand; by default taken from the file name, which must then contain ``right``
        or ``left`` (the model files themselves do not say).

    Returns
    -------
    ManoParameters
        Dense float64 / int64 arrays.

    Raises
    ------
    FileNotFoundError
        If there is no file at ``path``.
    pickle.UnpicklingError
        Naming the file, if it is not a readable pickle or needs a global that a MANO
        file has no use for (``load_restricted``).
    ValueError
        If the pickle is not a MANO model (missing keys, wrong shapes) or ``side`` is
        unknown.

    Notes
    -----
    The arrays are returned as stored. Other MANO code (InterHand2.6M, HaMeR) negates
    ``shapedirs[:, 0, :]`` of the left model when it matches the right model's, to fix a
    sign error of the official left file; that is not done here.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'MANO model file not found: {path} (download MANO_RIGHT.pkl'
                                ' / MANO_LEFT.pkl from mano.is.tue.mpg.de)')
    if side is None:
        side = side_from_file_name(path)
        if side is None:
            raise ValueError(f"cannot tell the hand side from the file name {path.name!r}: "
                             "pass side='right' or side='left'")
    if side not in ('right', 'left'):
        raise ValueError(f"side must be 'right' or 'left', got {side!r}")
    data = load_restricted(path, ManoUnpickler, 'MANO model file')
    if not isinstance(data, dict):
        raise ValueError(f'{path}: not a MANO model file (a pickled {type(data).__name__}, '
                         'expected a dict)')
    missing = [key for key in _REQUIRED_KEYS if key not in data]
    if missing:
        raise ValueError(f'{path}: not a MANO model file, missing keys {missing}')
    for key, expected in (('bs_style', 'lbs'), ('bs_type', 'lrotmin')):
        if key in data and data[key] != expected:
            raise ValueError(f'{path}: unsupported {key} {data[key]!r}, expected {expected!r}')

    def dense(key: str, dtype: type) -> np.ndarray:
        return record_to_array(data[key], key).astype(dtype)

    try:
        return ManoParameters(
            v_template=dense('v_template', np.float64),
            shapedirs=dense('shapedirs', np.float64),
            posedirs=dense('posedirs', np.float64),
            J_regressor=dense('J_regressor', np.float64),
            weights=dense('weights', np.float64),
            kintree_parents=_parents_from_kintree(
                record_to_array(data['kintree_table'], 'kintree_table')),
            faces=dense('f', np.int64),
            hands_components=dense('hands_components', np.float64),
            hands_mean=dense('hands_mean', np.float64).ravel(),
            side=side,
        )
    except ValueError as error:
        raise ValueError(f'{path}: {error}') from error


# --------------------------------------------------------------------------------------
# The layer


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """
    Rodrigues' formula: rotation vectors to rotation matrices.

    ``R = I + sin(t)/t K + (1 - cos(t))/t^2 K^2`` with ``K`` the cross-product matrix of
    the rotation vector and ``t`` its norm; ``(1 - cos t)/t^2`` is evaluated as
    ``2 sin^2(t/2)/t^2`` and both coefficients by their Taylor series near ``t = 0``, so
    the result and its gradient are finite and exact at zero.

    Parameters
    ----------
    axis_angle : torch.Tensor
        (..., 3) rotation vectors (axis times angle in radians).

    Returns
    -------
    torch.Tensor
        (..., 3, 3) rotation matrices.
    """
    if axis_angle.shape[-1] != 3:
        raise ValueError(f'axis-angle must be (..., 3), got {tuple(axis_angle.shape)}')
    x, y, z = axis_angle.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1)
    skew = skew.reshape(*axis_angle.shape[:-1], 3, 3)
    angle2 = (axis_angle * axis_angle).sum(-1)[..., None, None]
    small = angle2 < 1e-12
    angle = torch.sqrt(torch.where(small, torch.ones_like(angle2), angle2))
    half = angle / 2
    sin_term = torch.where(small, 1 - angle2 / 6, torch.sin(angle) / angle)
    cos_term = torch.where(small, 0.5 - angle2 / 24, 0.5 * (torch.sin(half) / half) ** 2)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return eye + sin_term * skew + cos_term * (skew @ skew)


class ManoOutput(NamedTuple):
    """
    What :class:`ManoLayer` returns.

    Attributes
    ----------
    vertices : torch.Tensor
        (B, V, 3) posed mesh vertices (V = 778), metres.
    joints : torch.Tensor
        (B, 21, 3) joints in :data:`JOINT_NAMES` order, metres.
    """

    vertices: torch.Tensor
    joints: torch.Tensor


class ManoLayer(nn.Module):
    """
    The MANO hand: pose, shape and translation to a posed mesh and 21 joints.

    Implements the published SMPL/MANO equations::

        v_shaped = v_template + shapedirs . betas
        J        = J_regressor . v_shaped
        v_posed  = v_shaped + posedirs . concat_j (R(theta_j) - I),  j = 1..15
        G_k      = prod over the chain root..k of [R(theta_j) | J_j - J_parent(j)]
        v        = sum_k w_k G_k [I | -J_k] v_posed  (+ transl)

    The model arrays are buffers (they move with ``.to()`` and ``.double()``), not
    parameters.

    Parameters
    ----------
    params : ManoParameters
        The model, from :func:`load_mano_pickle`.
    use_pca : bool
        Take ``hand_pose`` as ``num_pca`` PCA coefficients (default), else as the 45
        axis-angle values of joints 1-15.
    num_pca : int
        Number of PCA components used, 1-45.
    flat_hand_mean : bool
        If False (default, as the model files), the finger pose is ``hands_mean`` plus the
        given pose, so zero pose is MANO's relaxed mean hand; if True zero pose is flat.
    tip_vertices : sequence of int
        Five fingertip vertex ids, thumb to little (default :data:`TIP_VERTICES`).
    dtype : torch.dtype
        Floating dtype of the buffers.
    """

    def __init__(self, params: ManoParameters, use_pca: bool = True, num_pca: int = 45,
                 flat_hand_mean: bool = False, tip_vertices: Sequence[int] = TIP_VERTICES,
                 dtype: torch.dtype = torch.float32):
        super().__init__()
        if not 1 <= num_pca <= NUM_HAND_POSE:
            raise ValueError(f'num_pca must be in 1..{NUM_HAND_POSE}, got {num_pca}')
        tips = [int(t) for t in tip_vertices]
        if len(tips) != 5 or not all(0 <= t < params.num_vertices for t in tips):
            raise ValueError(f'tip_vertices must be 5 vertex ids below {params.num_vertices},'
                             f' got {tips}')
        self.side = params.side
        self.use_pca = bool(use_pca)
        self.num_pca = int(num_pca)
        self.flat_hand_mean = bool(flat_hand_mean)
        self.num_betas = params.num_betas
        self.num_vertices = params.num_vertices
        self.parents = tuple(int(p) for p in params.kintree_parents)

        def buffer(name, array, dtype_=dtype):
            self.register_buffer(name, torch.as_tensor(np.array(array), dtype=dtype_))

        buffer('v_template', params.v_template)
        buffer('shapedirs', params.shapedirs)
        buffer('posedirs', params.posedirs)
        buffer('J_regressor', params.J_regressor)
        buffer('weights', params.weights)
        buffer('hands_components', params.hands_components[:num_pca])
        buffer('hands_mean', np.zeros(NUM_HAND_POSE) if flat_hand_mean else params.hands_mean)
        buffer('faces', params.faces, torch.long)
        buffer('tip_vertices', tips, torch.long)
        buffer('joint_order', JOINT_ORDER, torch.long)
        self._closed: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def hand_pose_size(self) -> int:
        """Width of ``hand_pose``: ``num_pca`` with PCA, else 45."""
        return self.num_pca if self.use_pca else NUM_HAND_POSE

    def _as_batch(self, value, name: str, width: int, batch: int | None) -> torch.Tensor:
        tensor = torch.as_tensor(value, dtype=self.v_template.dtype,
                                 device=self.v_template.device)
        if tensor.ndim != 2 or tensor.shape[1] != width:
            raise ValueError(f'{name} must be (B, {width}), got {tuple(tensor.shape)}')
        if batch is not None and tensor.shape[0] != batch:
            raise ValueError(f'{name} has batch size {tensor.shape[0]}, expected {batch}')
        return tensor

    def full_pose(self, global_orient: torch.Tensor, hand_pose: torch.Tensor) -> torch.Tensor:
        """
        The axis-angle rotations of all 16 joints.

        Parameters
        ----------
        global_orient : torch.Tensor
            (B, 3) root (wrist) rotation, axis-angle.
        hand_pose : torch.Tensor
            (B, num_pca) PCA coefficients if ``use_pca``, else (B, 45) axis-angle of
            joints 1-15; both relative to ``hands_mean`` unless ``flat_hand_mean``.

        Returns
        -------
        torch.Tensor
            (B, 16, 3) axis-angle per MANO joint (:data:`MANO_JOINT_NAMES` order).
        """
        global_orient = self._as_batch(global_orient, 'global_orient', 3, None)
        batch = global_orient.shape[0]
        hand_pose = self._as_batch(hand_pose, 'hand_pose', self.hand_pose_size, batch)
        if self.use_pca:
            hand_pose = hand_pose @ self.hands_components
        fingers = self.hands_mean + hand_pose
        return torch.cat([global_orient, fingers], dim=1).view(batch, NUM_MANO_JOINTS, 3)

    def forward(self, global_orient: torch.Tensor, hand_pose: torch.Tensor,
                betas: torch.Tensor | None = None,
                transl: torch.Tensor | None = None) -> ManoOutput:
        """
        Pose and shape the hand.

        Parameters
        ----------
        global_orient : torch.Tensor
            (B, 3) wrist rotation, axis-angle, about the rest-pose wrist joint.
        hand_pose : torch.Tensor
            (B, num_pca) PCA coefficients if ``use_pca``, else (B, 45) axis-angle.
        betas : torch.Tensor, optional
            (B, S) shape coefficients (S = 10); zeros if omitted.
        transl : torch.Tensor, optional
            (B, 3) translation added to vertices and joints; zeros if omitted.

        Returns
        -------
        ManoOutput
            ``vertices`` (B, V, 3) and ``joints`` (B, 21, 3).

        Raises
        ------
        ValueError
            On inputs of the wrong shape or mismatched batch sizes.
        """
        pose = self.full_pose(global_orient, hand_pose)
        batch = pose.shape[0]
        if betas is None:
            betas = self.v_template.new_zeros(batch, self.num_betas)
        betas = self._as_batch(betas, 'betas', self.num_betas, batch)

        rotations = axis_angle_to_matrix(pose)  # (B, 16, 3, 3)
        v_shaped = self.v_template + torch.einsum('vcs,bs->bvc', self.shapedirs, betas)
        rest_joints = torch.einsum('jv,bvc->bjc', self.J_regressor, v_shaped)
        eye = torch.eye(3, dtype=pose.dtype, device=pose.device)
        pose_features = (rotations[:, 1:] - eye).reshape(batch, NUM_POSE_FEATURES)
        v_posed = v_shaped + torch.einsum('vcp,bp->bvc', self.posedirs, pose_features)

        # Forward kinematics: world rotation and position of every joint.
        world_rot: list[torch.Tensor] = []
        world_pos: list[torch.Tensor] = []
        for joint, parent in enumerate(self.parents):
            if parent < 0:
                world_rot.append(rotations[:, joint])
                world_pos.append(rest_joints[:, joint])
                continue
            offset = rest_joints[:, joint] - rest_joints[:, parent]
            world_rot.append(world_rot[parent] @ rotations[:, joint])
            world_pos.append(world_pos[parent]
                             + (world_rot[parent] @ offset.unsqueeze(-1)).squeeze(-1))
        rot = torch.stack(world_rot, dim=1)  # (B, 16, 3, 3)
        posed_joints = torch.stack(world_pos, dim=1)  # (B, 16, 3)

        # Skinning transforms G_k [I | -J_k], blended per vertex.
        shift = posed_joints - (rot @ rest_joints.unsqueeze(-1)).squeeze(-1)
        transforms = torch.cat([rot.reshape(batch, NUM_MANO_JOINTS, 9), shift], dim=2)
        blended = torch.einsum('vj,bjk->bvk', self.weights, transforms)
        vertices = ((blended[..., :9].reshape(batch, -1, 3, 3) @ v_posed.unsqueeze(-1))
                    .squeeze(-1) + blended[..., 9:])

        if transl is not None:
            transl = self._as_batch(transl, 'transl', 3, batch)
            vertices = vertices + transl[:, None]
            posed_joints = posed_joints + transl[:, None]
        joints = torch.cat([posed_joints, vertices[:, self.tip_vertices]], dim=1)
        return ManoOutput(vertices=vertices, joints=joints[:, self.joint_order])

    def watertight(self, vertices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """
        Close the wrist opening of posed meshes (for signed-distance sampling).

        Parameters
        ----------
        vertices : torch.Tensor
            (..., V, 3) vertices from :meth:`forward`.

        Returns
        -------
        vertices : torch.Tensor
            (..., V + 1, 3), the input followed by the centroid of the wrist loop.
        faces : torch.Tensor
            (F + L, 3) long faces of the closed mesh (1554 for MANO).
        """
        if vertices.ndim < 2 or tuple(vertices.shape[-2:]) != (self.num_vertices, 3):
            raise ValueError(f'vertices must be (..., {self.num_vertices}, 3), '
                             f'got {tuple(vertices.shape)}')
        if self._closed is None:
            self._closed = closed_faces(self.faces.cpu().numpy(), self.num_vertices)
        faces, loop = self._closed
        loop_t = torch.as_tensor(loop, device=vertices.device)
        centre = vertices.index_select(-2, loop_t).mean(dim=-2, keepdim=True)
        return (torch.cat([vertices, centre], dim=-2),
                torch.as_tensor(faces, dtype=torch.long, device=vertices.device))
