"""
Rigged glTF hand meshes posed by the synthetic generator's grasps.

``read_gltf`` reads the skinned mesh of a ``.gltf`` (buffers embedded as ``data:`` URIs or
in files beside it) or ``.glb`` file with numpy and json only: vertices, triangles, UVs,
the skin (joints, inverse bind matrices, JOINTS_0 / WEIGHTS_0) and the node hierarchy.

``HandRig`` maps such a rig onto the package's hand (``hand.py``): its bind pose is
expressed in the right-hand frame (origin at the wrist joint, +x towards the middle
finger, +z out of the palm), its joints are matched to the 21 MANO-order joints by name,
and a ``HandShape`` is measured from it (finger bases and bone lengths from the joints,
skin radii and the palm box from the skin) so that the grasp search (``grasp.py``) closes
the fingers of primitives shaped like this hand. ``HandRig.pose`` then turns every finger
bone so that its joints land exactly on the grasp's joints and deforms the skin by linear
blend skinning: the 21 ground-truth joints are the rig's posed joints.

glTF splits vertices along UV seams, so the skin is open as stored: ``HandRig`` welds
them and caps any hole left (a fan, as MANO's wrist is capped), so that the posed skin is
watertight and signed distances have an inside (``SkinSdf``, which stays right where the
skinned skin folds into itself). ``HandRig.forearm`` makes a forearm (bare or sleeved)
that continues the skin from the wrist, for rendering.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
import functools
import json
import pathlib
import re
import struct

import numpy as np
import open3d as o3d
from PIL import Image
import trimesh

from c2f_sdf_ros.data.mesh_repair import boundary_loops
from c2f_sdf_ros.data.synth.hand import (
    NUM_JOINTS,
    HandPose,
    HandShape,
    finger_joints,
    flexion_plane,
    forward_kinematics,
    nominal_hand,
)
from c2f_sdf_ros.geometry.mesh import MeshSdf

__all__ = ['GltfSkin', 'HandRig', 'PosedHand', 'SkinSdf', 'load_rig', 'read_gltf',
           'resolve_hand_file']

# glTF accessor component types and element sizes.
_COMPONENTS = {5120: np.int8, 5121: np.uint8, 5122: np.int16, 5123: np.uint16,
               5125: np.uint32, 5126: np.float32}
_ELEMENTS = {'SCALAR': 1, 'VEC2': 2, 'VEC3': 3, 'VEC4': 4, 'MAT2': 4, 'MAT3': 9, 'MAT4': 16}
_GLB_MAGIC = b'glTF'
_CHUNK_JSON = 0x4E4F534A
_CHUNK_BIN = 0x004E4942
_TRIANGLES = 4
_SUFFIXES = ('.gltf', '.glb')
# Segments around a forearm (its cross-section is sampled at as many angles).
_SEGMENTS = 24
# Base-colour textures are read at this size: a hand covers a few hundred pixels at most,
# and sampling a 1024 px image at that rate only adds aliasing.
TEXTURE_SIZE = 512


@dataclass(frozen=True, eq=False)
class GltfSkin:
    """
    The skinned mesh of a glTF file, in the file's own coordinates (bind pose).

    Attributes
    ----------
    path : pathlib.Path
        The file read.
    vertices : (V, 3) float64 array
        Bind-pose positions.
    faces : (F, 3) int64 array
        Triangles.
    uvs : (V, 2) float64 array or None
        TEXCOORD_0 (glTF convention: v = 0 at the image's top row).
    joints : (V, 4) int64 array
        Skin joint indices (into ``joint_names``) of each vertex's four influences.
    weights : (V, 4) float64 array
        Their weights, normalised to sum to 1.
    joint_names : tuple of str
        Names of the skin's joints (their nodes' names).
    inverse_bind : (J, 4, 4) float64 array
        Inverse bind matrices: file coordinates to each joint's bind frame.
    parents : (J,) int64 array
        Index of each joint's nearest ancestor among the skin's joints, -1 for none.
    base_color : (3,) float64 array or None
        The material's base colour factor, when it has one.

    """

    path: pathlib.Path
    vertices: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray | None
    joints: np.ndarray
    weights: np.ndarray
    joint_names: tuple
    inverse_bind: np.ndarray
    parents: np.ndarray
    base_color: np.ndarray | None

    @property
    def bind_matrices(self) -> np.ndarray:
        """(J, 4, 4) each joint's bind frame in file coordinates."""
        return np.linalg.inv(self.inverse_bind)


def _load_document(path: pathlib.Path) -> tuple[dict, bytes | None]:
    """The JSON document and, for a .glb, its binary chunk."""
    data = path.read_bytes()
    if data[:4] == _GLB_MAGIC:
        if len(data) < 20:
            raise ValueError(f'{path}: truncated .glb header')
        _, version, length = struct.unpack_from('<4sII', data, 0)
        if version != 2:
            raise ValueError(f'{path}: glTF version {version} is not supported (only 2)')
        document, binary, offset = None, None, 12
        while offset + 8 <= min(length, len(data)):
            chunk_length, chunk_type = struct.unpack_from('<II', data, offset)
            chunk = data[offset + 8:offset + 8 + chunk_length]
            if chunk_type == _CHUNK_JSON and document is None:
                document = json.loads(chunk.decode('utf-8'))
            elif chunk_type == _CHUNK_BIN and binary is None:
                binary = chunk
            offset += 8 + chunk_length
        if document is None:
            raise ValueError(f'{path}: .glb without a JSON chunk')
        return document, binary
    try:
        document = json.loads(data.decode('utf-8'))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f'{path} is not a glTF file (neither .glb nor JSON): {error}') from None
    if not isinstance(document, dict) or 'asset' not in document:
        raise ValueError(f'{path} is JSON but not glTF (no "asset")')
    return document, None


def _buffers(path: pathlib.Path, document: dict, binary: bytes | None) -> list[bytes]:
    buffers = []
    for i, buffer in enumerate(document.get('buffers', [])):
        uri = buffer.get('uri')
        if uri is None:
            if binary is None:
                raise ValueError(f'{path}: buffer {i} has no uri and there is no .glb chunk')
            buffers.append(binary)
        elif uri.startswith('data:'):
            header, _, payload = uri.partition(',')
            if not header.endswith(';base64'):
                raise ValueError(f'{path}: buffer {i} is a data: URI that is not base64')
            buffers.append(base64.b64decode(payload))
        else:
            # A file beside the .gltf; never outside its folder.
            target = (path.parent / uri).resolve()
            if path.parent.resolve() not in target.parents:
                raise ValueError(f'{path}: buffer {i} points outside its folder: {uri}')
            buffers.append(target.read_bytes())
    return buffers


def _accessor(document: dict, buffers: list[bytes], index: int) -> np.ndarray:
    """Accessor ``index`` as an (count, components) or (count,) array."""
    accessor = document['accessors'][index]
    if 'sparse' in accessor:
        raise ValueError(f'accessor {index} is sparse, which is not supported')
    dtype = np.dtype(_COMPONENTS[accessor['componentType']]).newbyteorder('<')
    width = _ELEMENTS[accessor['type']]
    count = accessor['count']
    view = document['bufferViews'][accessor['bufferView']]
    data = buffers[view['buffer']]
    start = view.get('byteOffset', 0) + accessor.get('byteOffset', 0)
    element = dtype.itemsize * width
    stride = view.get('byteStride') or element
    if start + stride * (count - 1) + element > len(data):
        raise ValueError(f'accessor {index} runs past the end of its buffer')
    if stride == element:
        values = np.frombuffer(data, dtype, count=count * width, offset=start)
    else:  # interleaved: gather each element's bytes, then reinterpret
        rows = np.frombuffer(data, np.uint8, count=stride * (count - 1) + element,
                             offset=start)
        rows = np.lib.stride_tricks.as_strided(rows, (count, element), (stride, 1))
        values = np.ascontiguousarray(rows).view(dtype)
    values = values.reshape(count, width)
    if accessor.get('normalized'):
        values = values.astype(np.float64) / np.iinfo(dtype).max
    return values[:, 0] if accessor['type'] == 'SCALAR' else values


def _node_matrix(node: dict) -> np.ndarray:
    if 'matrix' in node:
        return np.asarray(node['matrix'], np.float64).reshape(4, 4).T  # column-major
    x, y, z, w = node.get('rotation', (0.0, 0.0, 0.0, 1.0))
    rotation = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])
    matrix = np.eye(4)
    matrix[:3, :3] = rotation * np.asarray(node.get('scale', (1.0, 1.0, 1.0)))[None]
    matrix[:3, 3] = node.get('translation', (0.0, 0.0, 0.0))
    return matrix


def read_gltf(path) -> GltfSkin:
    """
    Read the skinned mesh of a glTF 2.0 file.

    Parameters
    ----------
    path : str or path
        A ``.gltf`` (JSON; buffers as ``data:`` URIs or files beside it) or ``.glb`` file
        with one skinned mesh (its primitives are concatenated).

    Returns
    -------
    GltfSkin

    Raises
    ------
    ValueError
        If the file does not exist, is not glTF 2.0, or has no skinned triangle mesh with
        positions, joints and weights.

    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(f'no glTF file at {path}')
    document, binary = _load_document(path)
    if not str(document.get('asset', {}).get('version', '')).startswith('2'):
        raise ValueError(f'{path}: only glTF 2.0 is supported')
    nodes = document.get('nodes', [])
    skinned = [node for node in nodes if 'mesh' in node and 'skin' in node]
    if not skinned:
        raise ValueError(f'{path} has no skinned mesh (a node with both "mesh" and "skin")')
    buffers = _buffers(path, document, binary)
    mesh = document['meshes'][skinned[0]['mesh']]
    skin = document['skins'][skinned[0]['skin']]
    parts = {'POSITION': [], 'TEXCOORD_0': [], 'JOINTS_0': [], 'WEIGHTS_0': []}
    faces, offset, base_color = [], 0, None
    for primitive in mesh['primitives']:
        if primitive.get('mode', _TRIANGLES) != _TRIANGLES:
            raise ValueError(f'{path}: only triangle primitives are supported')
        attributes = primitive['attributes']
        for key in ('POSITION', 'JOINTS_0', 'WEIGHTS_0'):
            if key not in attributes:
                raise ValueError(f'{path}: the skinned mesh has no {key}')
        for key in parts:
            parts[key].append(_accessor(document, buffers, attributes[key])
                              if key in attributes else None)
        count = len(parts['POSITION'][-1])
        indices = (_accessor(document, buffers, primitive['indices']).astype(np.int64)
                   if 'indices' in primitive else np.arange(count))
        faces.append(indices.reshape(-1, 3) + offset)
        offset += count
        material = document.get('materials', [])[primitive['material']] if (
            'material' in primitive) else {}
        factor = material.get('pbrMetallicRoughness', {}).get('baseColorFactor')
        if factor is not None and base_color is None:
            base_color = np.asarray(factor[:3], np.float64)
    vertices = np.concatenate(parts['POSITION']).astype(np.float64)
    uvs = (None if any(uv is None for uv in parts['TEXCOORD_0'])
           else np.concatenate(parts['TEXCOORD_0']).astype(np.float64))
    joints = np.concatenate(parts['JOINTS_0']).astype(np.int64)
    weights = np.concatenate(parts['WEIGHTS_0']).astype(np.float64)
    sums = weights.sum(axis=1, keepdims=True)
    if np.any(sums <= 0):
        raise ValueError(f'{path}: some vertices have no skin weight')
    joint_nodes = list(skin['joints'])
    if 'inverseBindMatrices' in skin:
        inverse_bind = _accessor(document, buffers, skin['inverseBindMatrices'])
        inverse_bind = inverse_bind.reshape(-1, 4, 4).transpose(0, 2, 1).astype(np.float64)
    else:
        inverse_bind = np.repeat(np.eye(4)[None], len(joint_nodes), axis=0)
    if joints.max() >= len(joint_nodes) or len(inverse_bind) != len(joint_nodes):
        raise ValueError(f'{path}: skin joint indices and joints do not match')
    parent_node = {child: i for i, node in enumerate(nodes) for child in node.get('children', [])}
    parents = []
    for node in joint_nodes:
        ancestor = parent_node.get(node)
        while ancestor is not None and ancestor not in joint_nodes:
            ancestor = parent_node.get(ancestor)
        parents.append(-1 if ancestor is None else joint_nodes.index(ancestor))
    names = tuple(nodes[node].get('name', f'node{node}') for node in joint_nodes)
    return GltfSkin(path, vertices, np.concatenate(faces), uvs, joints, weights / sums, names,
                    inverse_bind, np.asarray(parents, np.int64), base_color)


# Rig joint names -> (finger, segment): words in the name, any case and separator, any side
# suffix ('Index_Proximal_R', 'index-finger-phalanx-proximal').
_FINGER_WORDS = {'thumb': 0, 'index': 1, 'middle': 2, 'ring': 3, 'little': 4, 'pinky': 4}
_SEGMENT_WORDS = ('metacarpal', 'proximal', 'intermediate', 'distal', 'tip')
# The rig joints at MANO joints 1-3 of each finger (4 is the fingertip, measured on the
# skin): the thumb's CMC, MCP and IP are its metacarpal, proximal and distal joints; the
# other fingers' MCP, PIP and DIP their proximal, intermediate and distal ones.
_CHAIN_SEGMENTS = (('metacarpal', 'proximal', 'distal'),) + (('proximal', 'intermediate',
                                                              'distal'),) * 4
# Vertices closer than this (m) are one vertex: glTF splits vertices along UV seams, which
# leaves the surface open until they are welded.
_WELD = 1e-6


def _joint_role(name: str) -> tuple:
    """('wrist',), ('palm',), (finger, segment) or () for a rig joint name."""
    words = set(re.split(r'[^a-z]+', name.lower()))
    fingers = [_FINGER_WORDS[w] for w in words if w in _FINGER_WORDS]
    segments = [w for w in _SEGMENT_WORDS if w in words]
    if len(fingers) == 1 and len(segments) == 1:
        return fingers[0], segments[0]
    if not fingers and 'wrist' in words:
        return ('wrist',)
    if not fingers and 'palm' in words:
        return ('palm',)
    return ()


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _bone_frame(direction: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Rotation with columns: the bone direction, the axis made normal to it, their cross."""
    u = _unit(direction)
    a = axis - (axis @ u) * u
    if np.linalg.norm(a) < 1e-9:  # axis along the bone: any perpendicular will do
        a = np.cross(u, [1.0, 0.0, 0.0] if abs(u[0]) < 0.9 else [0.0, 1.0, 0.0])
    a = _unit(a)
    return np.stack([u, a, np.cross(u, a)], axis=1)


def _weld(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first vertex of each welded position (W,), welded faces (F, 3))."""
    keys = np.round(vertices / _WELD).astype(np.int64)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    # Keep the welded vertices in the order of their first appearance: reproducible and
    # close to the file's order.
    order = np.argsort(first, kind='stable')
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return first[order], rank[inverse.reshape(-1)][faces]


def _close(vertices: np.ndarray, faces: np.ndarray, corner_uvs: np.ndarray | None):
    """
    Cap every boundary loop by a fan around its centroid (as ``mesh_repair`` does MANO's).

    Returns (faces, vertices, corner_uvs, number of centroids added).
    """
    loops = boundary_loops(faces)
    new_faces, centres, new_uvs = [faces], [vertices], [corner_uvs]
    for i, loop in enumerate(loops):
        centre = len(vertices) + i
        # Edge a -> b of the boundary is closed by (b, a, centre): each edge then runs once
        # in each direction, as in an oriented closed surface.
        fan = np.stack([np.roll(loop, -1), loop, np.full_like(loop, centre)], axis=1)
        new_faces.append(fan)
        centres.append(vertices[loop].mean(axis=0, keepdims=True))
        if corner_uvs is not None:
            # A cap is small and out of sight (the wrist's end): one UV of its rim will do.
            rim = corner_uvs[np.isin(faces, loop).any(axis=1)].reshape(-1, 2).mean(axis=0)
            new_uvs.append(np.broadcast_to(rim, (len(fan), 3, 2)))
    return (np.concatenate(new_faces), np.concatenate(centres),
            None if corner_uvs is None else np.concatenate(new_uvs), len(loops))


def _palm_boxes(vertices: np.ndarray, owner: np.ndarray, finger_ids: np.ndarray,
                joints: np.ndarray) -> tuple[np.ndarray, ...]:
    """
    The procedural hand's palm and wrist boxes, fitted to the skin no finger bone moves.

    Returns (palm_center, palm_half, wrist_center, wrist_half), right-hand frame.
    """
    still = vertices[~np.isin(owner, finger_ids)]
    knuckles = float(joints[1:, 0, 0].mean())  # x of the finger MCPs
    palm = still[(still[:, 0] >= 0.0) & (still[:, 0] <= knuckles)]
    wrist = still[still[:, 0] <= 0.2 * knuckles]
    if len(palm) < 8 or len(wrist) < 8:
        raise ValueError('too few palm vertices to measure the palm (does the rig weight them '
                         'to the fingers?)')
    lo = np.array([0.0, *np.percentile(palm[:, 1:], 2, axis=0)])
    hi = np.array([knuckles, *np.percentile(palm[:, 1:], 98, axis=0)])
    wrist_lo = np.percentile(wrist, 2, axis=0)
    wrist_hi = np.array([0.2 * knuckles, *np.percentile(wrist[:, 1:], 98, axis=0)])
    return 0.5 * (lo + hi), 0.5 * (hi - lo), 0.5 * (wrist_lo + wrist_hi), 0.5 * (wrist_hi
                                                                                 - wrist_lo)


def _measure_fingers(path, vertices: np.ndarray, owner: np.ndarray, positions: np.ndarray,
                     chains: np.ndarray, tip_joints: np.ndarray) -> tuple[np.ndarray, ...]:
    """
    Skin radii at the finger joints and the fingertip joints, from the skin.

    ``owner`` is each vertex's most weighted rig joint. A bone's radius is the median
    distance of its vertices from its axis (over the middle half of its length); the tip
    radius is 0.9 of the distal bone's. Returns (radii (5, 4), tips (5, 3)).
    """
    radii, tips = np.zeros((5, 4)), np.zeros((5, 3))
    for f in range(5):
        chain = positions[chains[f]]
        after = (positions[tip_joints[f]] if tip_joints[f] >= 0
                 else chain[2] + (chain[2] - chain[1]))
        heads = np.concatenate([chain, after[None]])
        for k in range(3):
            owned = vertices[owner == chains[f, k]]
            if k == 2 and tip_joints[f] >= 0:
                owned = np.concatenate([owned, vertices[owner == tip_joints[f]]])
            if len(owned) < 4:
                raise ValueError(f'{path}: too few vertices follow finger {f} bone {k} to '
                                 f'measure it')
            axis = _unit(heads[k + 1] - heads[k])
            along = (owned - heads[k]) @ axis
            across = np.linalg.norm((owned - heads[k]) - along[:, None] * axis, axis=1)
            length = np.linalg.norm(heads[k + 1] - heads[k])
            middle = (along > 0.25 * length) & (along < 0.75 * length)
            radii[f, k] = np.median(across[middle] if middle.sum() >= 4 else across)
        # The fingertip joint sits one tip radius inside the skin's end, on the distal
        # bone's axis, where the procedural hand has it.
        radii[f, 3] = 0.9 * radii[f, 2]
        tips[f] = heads[2] + (along.max() - radii[f, 3]) * axis
    return radii, tips


def _wrist_section(path, vertices: np.ndarray, segments: int = _SEGMENTS) -> np.ndarray:
    """
    The skin's wrist end, for the forearm to continue it: (3 + segments,) array.

    Where the skin stops (its least x), the centre (y, z) of its cross-section 4-20 mm
    before that, and the skin's outer radius there at ``segments`` angles about the x axis
    (from +y towards +z): the forearm's cross-section follows the wrist's real shape.
    """
    end = float(vertices[:, 0].min())
    ring = vertices[(vertices[:, 0] > end + 0.004) & (vertices[:, 0] < end + 0.02)]
    if len(ring) < 8:
        raise ValueError(f'{path}: too few skin vertices at the wrist end')
    centre = 0.5 * (ring[:, 1:].max(axis=0) + ring[:, 1:].min(axis=0))
    offset = ring[:, 1:] - centre
    angle = np.arctan2(offset[:, 1], offset[:, 0])
    radius = np.hypot(offset[:, 0], offset[:, 1])
    theta = np.linspace(-np.pi, np.pi, segments, endpoint=False)
    # The outermost vertex within half a segment's width on either side of each angle;
    # angles without one are interpolated around the circle.
    gap = np.abs((angle[None] - theta[:, None] + np.pi) % (2 * np.pi) - np.pi)
    near = gap <= 2 * np.pi / segments
    outer = np.where(near, radius[None], 0.0).max(axis=1)
    found = near.any(axis=1)
    profile = np.interp(theta, theta[found], outer[found], period=2 * np.pi)
    return np.concatenate([[end], centre, profile])


def _rest_axes(shape: HandShape, axes: np.ndarray, chains: np.ndarray) -> np.ndarray:
    """
    The flexion axis of each finger bone at bind pose: (5, 3, 3).

    The rig's own bone axis (``axes``: each joint's bind frame, columns) closest to the
    geometric flexion axis (``flexion_plane`` of the flat pose) when within ~37 degrees of
    it, which carries the bone's twist as the artist rigged it (the thumb's matters);
    else the geometric one.
    """
    rest_axes = np.zeros((5, 3, 3))
    for f in range(5):
        d, bend, _ = flexion_plane(shape, np.zeros((5, 4)), f)
        geometric = np.cross(d, bend)
        for k in range(3):
            frame = axes[chains[f, k]]
            cosines = frame.T @ geometric
            best = int(np.argmax(np.abs(cosines)))
            rest_axes[f, k] = (np.sign(cosines[best]) * frame[:, best]
                               if abs(cosines[best]) > 0.8 else geometric)
    return rest_axes


@dataclass(frozen=True, eq=False)
class PosedHand:
    """
    A rig in a grasp pose, in the hand frame of its side (mirrored for a left hand).

    Attributes
    ----------
    mesh : trimesh.Trimesh
        Closed skin (watertight), metres.
    joints : (21, 3) array
        The rig's posed joints, MANO order.
    corner_uvs : (F, 3, 2) array or None
        Texture coordinates of each face's corners (for ``render.UvTexture``).

    """

    mesh: trimesh.Trimesh
    joints: np.ndarray
    corner_uvs: np.ndarray | None


@dataclass(frozen=True, eq=False)
class HandRig:
    """
    A rigged hand mesh mapped onto the package's right hand (see the module docstring).

    Build it with ``HandRig.from_skin`` (or ``load_rig``). Everything is in the right-hand
    frame, bind pose, scaled to the procedural nominal hand's length (``scale`` 1).

    Attributes
    ----------
    name : str
        The file's name.
    vertices : (V, 3) array
        Welded skin vertices.
    faces : (F, 3) int64 array
        Closed skin triangles (caps of open boundaries at the end).
    corner_uvs : (F, 3, 2) array or None
        UVs of the face corners (glTF convention, v down).
    skin_joints, skin_weights : (V, 4) arrays
        Each vertex's joint influences (rig joint indices) and weights.
    bind_positions : (J, 3) array
        Rig joints at bind pose.
    chains : (5, 3) int array
        Rig joint of MANO joints 1-3 of each finger.
    tip_joints : (5,) int array
        The rig's own fingertip joint of each finger (-1 if none): it moves with the
        distal bone.
    tips : (5, 3) array
        MANO joint 4 of each finger: on the distal bone's axis, one fingertip radius
        inside the skin's end (where the procedural hand has it).
    rest_axes : (5, 3, 3) array
        Flexion axis of each finger bone at bind pose.
    shape : HandShape
        The primitive hand the grasp search uses (right, scale 1), measured on the skin.
    wrist_joint : int
        The rig's wrist joint (at the origin).
    wrist_section : (27,) array
        The skin's wrist end: its x, the centre (y, z) of its cross-section just before
        it, and that cross-section's radius at 24 angles from -pi about the x axis.
    textures : tuple of (H, W, 3) float32 arrays
        Base-colour images in [0, 1] for ``corner_uvs`` (empty: untextured).
    mirrored : bool
        Whether the file's hand was a left one, mirrored into a right one.

    """

    name: str
    vertices: np.ndarray
    faces: np.ndarray
    corner_uvs: np.ndarray | None
    skin_joints: np.ndarray
    skin_weights: np.ndarray
    bind_positions: np.ndarray
    chains: np.ndarray
    tip_joints: np.ndarray
    tips: np.ndarray
    rest_axes: np.ndarray
    shape: HandShape
    wrist_joint: int
    wrist_section: np.ndarray
    textures: tuple = ()
    mirrored: bool = False

    @classmethod
    def from_skin(cls, skin: GltfSkin, textures: tuple = (),
                  side: str | None = None) -> HandRig:
        """
        Map a skinned glTF hand onto the package's right hand.

        ``side`` ('right' or 'left') says which hand the skin is; by default it is told
        from the way the fingers curl at bind pose, which needs a rig that is not flat
        (MANO's template is, and its files say their side).

        Raises
        ------
        ValueError
            If the rig lacks a wrist or finger joint, or its skin is not one closed surface
            once UV seams are welded and open boundaries capped.

        """
        roles = [_joint_role(name) for name in skin.joint_names]
        index = {role: i for i, role in reversed(list(enumerate(roles))) if role}
        missing = [name for name, role in
                   [('wrist', ('wrist',))] + [
                       (f'{f} {seg}', (f, seg)) for f, segs in enumerate(_CHAIN_SEGMENTS)
                       for seg in segs]
                   if role not in index]
        if missing:
            raise ValueError(f'{skin.path}: no rig joint for {", ".join(missing)} (joints: '
                             f'{", ".join(skin.joint_names)})')
        chains = np.array([[index[(f, seg)] for seg in segs]
                           for f, segs in enumerate(_CHAIN_SEGMENTS)])
        tip_joints = np.array([index.get((f, 'tip'), -1) for f in range(5)])
        bind = skin.bind_matrices
        positions = bind[:, :3, 3]
        wrist = positions[index[('wrist',)]]

        # Hand frame: x from the wrist to the middle finger's MCP, y across the MCPs from
        # index to little, z = x cross y. That z is palmar for a right hand and dorsal for
        # a left one; the fingers and thumb curl palmar at rest, which tells them apart.
        x = _unit(positions[chains[2, 0]] - wrist)
        y = positions[chains[4, 0]] - positions[chains[1, 0]]
        y = _unit(y - (y @ x) * x)
        z = np.cross(x, y)
        ends = np.array([positions[tip_joints[f]] if tip_joints[f] >= 0
                         else positions[chains[f, 2]] for f in range(5)])
        if side is None:
            mirrored = float(((ends - positions[chains[:, 0]]) @ z).sum()) < 0
        elif side in ('right', 'left'):
            mirrored = side == 'left'
        else:
            raise ValueError(f"side must be 'right', 'left' or None, got {side!r}")
        # A left hand goes to its mirror image through the xz plane, a right one: the
        # palm's side becomes +z and the little finger stays at +y (an improper map).
        rotation = np.stack([x, y, -z if mirrored else z])
        to_hand = np.eye(4)
        to_hand[:3, :3] = rotation
        to_hand[:3, 3] = -rotation @ wrist
        bind = to_hand @ bind
        positions = bind[:, :3, 3]
        axes = bind[:, :3, :3] / np.linalg.norm(bind[:, :3, :3], axis=1, keepdims=True)

        keep, faces = _weld(skin.vertices, skin.faces)
        vertices = skin.vertices[keep] @ rotation.T + to_hand[:3, 3]
        corner_uvs = None if skin.uvs is None else skin.uvs[skin.faces]
        if mirrored:
            faces = faces[:, ::-1]
            corner_uvs = None if corner_uvs is None else corner_uvs[:, ::-1]
        faces, vertices, corner_uvs, caps = _close(vertices, faces, corner_uvs)
        joints = np.concatenate([skin.joints[keep], np.zeros((caps, 4), np.int64)])
        weights = np.concatenate([skin.weights[keep], np.zeros((caps, 4))])
        if caps:  # a cap's centre moves with the palm (the wrist end of the skin)
            joints[-caps:, 0] = index[('wrist',)]
            weights[-caps:, 0] = 1.0
        mesh = trimesh.Trimesh(vertices, faces, process=False)
        if not mesh.is_watertight or mesh.body_count != 1:
            raise ValueError(f'{skin.path}: the skin is not one closed surface after welding '
                             f'its seams and capping its holes ({mesh.body_count} parts)')
        if mesh.volume < 0:
            faces = faces[:, ::-1].copy()
            corner_uvs = None if corner_uvs is None else corner_uvs[:, ::-1].copy()

        owner = joints[np.arange(len(joints)), np.argmax(weights, axis=1)]
        radii, tips = _measure_fingers(skin.path, vertices, owner, positions, chains,
                                       tip_joints)
        joints_rest = np.concatenate([positions[chains], tips[:, None]], axis=1)  # (5, 4, 3)
        # Size: the procedural nominal hand's length from the wrist to the middle
        # fingertip's skin, so that the generator's scale 0.85-1.15 means the same.
        nominal = nominal_hand()
        nominal_length = (np.linalg.norm(nominal.bases[2]) + nominal.lengths[2].sum()
                          + nominal.radii[2, 3])
        middle = joints_rest[2]
        length = (np.linalg.norm(middle[0]) + np.linalg.norm(np.diff(middle, axis=0),
                                                              axis=1).sum() + radii[2, 3])
        factor = nominal_length / length
        vertices, positions, joints_rest, radii, tips = (
            vertices * factor, positions * factor, joints_rest * factor, radii * factor,
            tips * factor)

        lengths = np.linalg.norm(np.diff(joints_rest, axis=1), axis=2)
        first = joints_rest[:, 1] - joints_rest[:, 0]
        splay = np.arctan2(first[:, 1], first[:, 0])
        palm_center, palm_half, wrist_center, wrist_half = _palm_boxes(
            vertices, owner, np.concatenate([chains.ravel(), tip_joints[tip_joints >= 0]]),
            joints_rest)
        shape = HandShape('right', 1.0, joints_rest[:, 0].copy(), lengths, radii,
                          palm_center, palm_half, wrist_center, wrist_half, splay)
        rest_axes = _rest_axes(shape, axes, chains)
        section = _wrist_section(skin.path, vertices)
        return cls(skin.path.name, vertices, faces, corner_uvs, joints, weights, positions,
                   chains, tip_joints, tips, rest_axes, shape, index[('wrist',)], section,
                   tuple(textures), mirrored)

    @functools.cached_property
    def _texture_colours(self) -> np.ndarray:
        """(T, 2, 3): each texture's mean colour over the skin and at the wrist end."""
        if self.corner_uvs is None:
            return np.zeros((0, 2, 3))
        uv = self.corner_uvs.mean(axis=1)
        mesh = trimesh.Trimesh(self.vertices, self.faces, process=False)
        area = mesh.area_faces
        wrist = mesh.triangles_center[:, 0] < self.wrist_section[0] + 0.015
        colours = []
        for image in self.textures:
            height, width = image.shape[:2]
            texel = image[np.minimum((np.mod(uv[:, 1], 1.0) * height).astype(int), height - 1),
                          np.minimum((np.mod(uv[:, 0], 1.0) * width).astype(int), width - 1)]
            colours.append([np.average(texel, axis=0, weights=area),
                            np.average(texel[wrist], axis=0, weights=area[wrist])])
        return np.asarray(colours)

    def skin_texture(self, tone) -> tuple | None:
        """
        The texture for a skin of mean colour ``tone`` (3,), or None when untextured.

        Returns (image (H, W, 3), tint (3,), the tinted colour at the wrist (3,)): the image
        whose mean brightness is nearest the tone's, and a factor that gives it the tone's
        mean brightness. The factor's hue stays within 10 % of grey: the textures hold
        differently coloured areas (a dark hand's light palms) that a full per-channel
        match would turn green or yellow.
        """
        if not self.textures:
            return None
        tone = np.asarray(tone, np.float64)
        colours = self._texture_colours
        best = int(np.argmin(np.abs(colours[:, 0].mean(axis=1) - tone.mean())))
        ratio = tone / np.maximum(colours[best, 0], 1e-3)
        tint = ratio.mean() * np.clip(ratio / ratio.mean(), 0.9, 1.1)
        return self.textures[best], tint, tuple(np.clip(colours[best, 1] * tint, 0.0, 1.0))

    def hand_shape(self, side: str, scale: float) -> HandShape:
        """The primitive hand of this rig for ``side`` at ``scale`` (of the nominal size)."""
        s = self.shape
        return HandShape(side, float(scale), s.bases * scale, s.lengths * scale,
                         s.radii * scale, s.palm_center * scale, s.palm_half * scale,
                         s.wrist_center * scale, s.wrist_half * scale, s.splay)

    def skin(self, rotations: np.ndarray, translations: np.ndarray,
             scale: float = 1.0) -> np.ndarray:
        """
        Linear blend skinning of the rig scaled by ``scale``.

        Parameters
        ----------
        rotations : (J, 3, 3) array
            Each rig joint's rotation from its bind pose.
        translations : (J, 3) array
            Where each rig joint goes.
        scale : float
            Scale of the bind pose (``hand_shape``'s).

        Returns
        -------
        (V, 3) array: vertex ``v`` goes to ``sum_k w_k (R_k (v - b_k) + t_k)`` over its
        joints ``k`` with bind positions ``b_k``.

        """
        rotations = np.asarray(rotations, np.float64)
        translations = np.asarray(translations, np.float64)
        count = len(self.bind_positions)
        if rotations.shape != (count, 3, 3) or translations.shape != (count, 3):
            raise ValueError(f'need ({count}, 3, 3) rotations and ({count}, 3) translations, '
                             f'got {rotations.shape} and {translations.shape}')
        offsets = scale * (self.vertices[:, None] - self.bind_positions[self.skin_joints])
        moved = (np.einsum('vkij,vkj->vki', rotations[self.skin_joints], offsets)
                 + translations[self.skin_joints])
        return np.einsum('vk,vki->vi', self.skin_weights, moved)

    def bone_transforms(self, shape: HandShape,
                        pose: HandPose) -> tuple[np.ndarray, np.ndarray]:
        """
        Where ``pose`` puts each rig joint, for ``shape`` (from ``hand_shape``).

        Each finger bone turns from its bind direction to the direction between the
        grasp's joints (``forward_kinematics``), and its flexion axis onto the pose's
        (``flexion_plane``), keeping the rig's own twist of the bone; a fingertip joint of
        the rig moves with the distal bone; the palm, wrist and finger metacarpals stay.

        Returns
        -------
        rotations : (J, 3, 3) array
            Each rig joint's rotation from its bind pose.
        translations : (J, 3) array
            Its position; both in the right-hand frame (see ``skin``).

        """
        scale = shape.scale
        angles = pose.clipped().angles
        mirror = np.array([1.0, -1.0, 1.0]) if shape.side == 'left' else np.ones(3)
        target = forward_kinematics(shape, pose).joints * mirror  # right-hand frame
        bind = self.bind_positions * scale
        rotations = np.repeat(np.eye(3)[None], len(bind), axis=0)
        translations = bind.copy()
        rest = self.rest_joints
        for f in range(5):
            d, bend, _ = flexion_plane(shape, angles, f)
            axis = np.cross(d, bend)
            chain, ids = self.chains[f], finger_joints(f)
            for k in range(3):
                rotations[chain[k]] = (
                    _bone_frame(target[ids[k + 1]] - target[ids[k]], axis)
                    @ _bone_frame(rest[f, k + 1] - rest[f, k], self.rest_axes[f, k]).T)
                translations[chain[k]] = target[ids[k]]
            if self.tip_joints[f] >= 0:
                tip = self.tip_joints[f]
                rotations[tip] = rotations[chain[2]]
                translations[tip] = target[ids[2]] + rotations[chain[2]] @ (bind[tip]
                                                                            - bind[chain[2]])
        return rotations, translations

    @property
    def rest_joints(self) -> np.ndarray:
        """(5, 4, 3) MANO joints 1-4 of each finger at bind pose (scale 1)."""
        return np.concatenate([self.bind_positions[self.chains], self.tips[:, None]], axis=1)

    def posed_joints(self, rotations: np.ndarray, translations: np.ndarray,
                     scale: float = 1.0) -> np.ndarray:
        """
        The 21 MANO joints moved by the bone transforms (``bone_transforms``), right frame.

        Joint 0 is the wrist joint's position; a finger's base moves with its own bone, and
        each further joint rigidly with the bone before it (the fingertip with the distal
        bone), as the skin around it does.
        """
        joints = np.zeros((NUM_JOINTS, 3))
        joints[0] = translations[self.wrist_joint]
        rest = self.rest_joints * scale
        bind = self.bind_positions * scale
        for f in range(5):
            chain, ids = self.chains[f], finger_joints(f)
            bones = [chain[0], *chain]  # the bone that carries each of the 4 joints
            for k in range(4):
                bone = bones[k]
                joints[ids[k]] = rotations[bone] @ (rest[f, k] - bind[bone]) + translations[bone]
        return joints

    def pose(self, shape: HandShape, pose: HandPose) -> PosedHand:
        """
        The skin and joints in ``pose`` for ``shape`` (from ``hand_shape``).

        Linear blend skinning of the ``bone_transforms``; the joints are
        ``posed_joints``, which are the grasp's joints (``forward_kinematics``) up to
        rounding. Everything is in the hand frame of ``shape.side``.
        """
        rotations, translations = self.bone_transforms(shape, pose)
        vertices = self.skin(rotations, translations, shape.scale)
        joints = self.posed_joints(rotations, translations, shape.scale)
        faces, uvs = self.faces, self.corner_uvs
        if shape.side == 'left':
            mirror = np.array([1.0, -1.0, 1.0])
            vertices, joints = vertices * mirror, joints * mirror
            faces = faces[:, ::-1]
            uvs = None if uvs is None else uvs[:, ::-1]
        return PosedHand(trimesh.Trimesh(vertices, faces, process=False), joints, uvs)

    def forearm(self, shape: HandShape, flexion: float = 0.0, deviation: float = 0.0,
                length: float = 0.18, widening: float = 1.2,
                sleeve: tuple[float, float] | None = None) -> list[trimesh.Trimesh]:
        """
        A forearm continuing the skin from the wrist, and optionally a sleeve on it.

        For rendering only: an elliptic tube from just inside the skin's wrist end along -x,
        bent at the wrist joint, closed at its far end; the sleeve is a wider open tube.

        Parameters
        ----------
        shape : HandShape
            The hand (``hand_shape``): its side and scale.
        flexion, deviation : float
            Wrist angles (radians) of the forearm about the hand's y (towards the palm
            positive) and z axes.
        length : float
            Forearm length from the wrist (m, scaled by the hand's scale).
        widening : float
            Ratio of the far end's cross-section to the wrist's.
        sleeve : (float, float), optional
            (distance of the cuff from the wrist in m, its width over the forearm's).

        Returns
        -------
        list of trimesh.Trimesh
            The forearm, then the sleeve if any, in the hand frame of ``shape``'s side.

        """
        scale = shape.scale
        end, cy, cz = self.wrist_section[:3] * scale
        profile = self.wrist_section[3:] * scale
        c, s = np.cos(flexion), np.sin(flexion)
        turn = np.array([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]])
        c, s = np.cos(deviation), np.sin(deviation)
        turn = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]) @ turn
        # Start just inside the skin's rounded end, a little narrower than the skin there
        # (a wrist), so that the end is hidden and the hand's wrist crease stays in view.
        start = np.array([end + 0.008 * scale, cy, cz])
        meshes = [_tube(start, turn, 0.97 * profile, widening, length * scale + start[0],
                        0.0, closed=True)]
        if sleeve is not None:
            cuff, width = sleeve
            meshes.append(_tube(start, turn, 0.97 * width * profile, widening,
                                length * scale + start[0], cuff * scale + start[0],
                                closed=False))
        if shape.side == 'left':
            for mesh in meshes:
                mesh.vertices[:, 1] *= -1.0
                mesh.faces = mesh.faces[:, ::-1]
        return meshes


def _tube(start: np.ndarray, turn: np.ndarray, profile: np.ndarray, widening: float,
          length: float, offset: float, closed: bool, rings: int = 16) -> trimesh.Trimesh:
    """
    A tube along -x from ``start``, turned by ``turn`` about the origin.

    The part from ``offset`` to ``length`` of it; its cross-section has radius
    ``profile[k]`` at angle ``-pi + 2 pi k / len(profile)`` about x (from +y towards +z)
    and grows linearly to ``widening`` times that at the far end; capped at both ends when
    ``closed``.
    """
    segments = len(profile)
    t = np.linspace(offset / length, 1.0, rings)
    theta = np.linspace(-np.pi, np.pi, segments, endpoint=False)
    grow = 1.0 + (widening - 1.0) * t
    local = np.stack([np.broadcast_to(-length * t[:, None], (rings, segments)),
                      grow[:, None] * (profile * np.cos(theta))[None],
                      grow[:, None] * (profile * np.sin(theta))[None]], axis=-1)
    # The wrist bends about its joint, the hand frame's origin.
    vertices = (start + local.reshape(-1, 3)) @ turn.T
    i, j = np.meshgrid(np.arange(rings - 1), np.arange(segments), indexing='ij')
    a, b = i * segments + j, i * segments + (j + 1) % segments
    faces = np.concatenate([np.stack([a, b, a + segments], -1).reshape(-1, 3),
                            np.stack([b, b + segments, a + segments], -1).reshape(-1, 3)])
    if closed:
        centres = (start + np.array([[-length * t[0], 0.0, 0.0],
                                     [-length * t[-1], 0.0, 0.0]])) @ turn.T
        first, last = len(vertices), len(vertices) + 1
        ring = np.arange(segments)
        faces = np.concatenate([
            faces, np.stack([np.roll(ring, -1), ring, np.full(segments, first)], -1),
            np.stack([ring + (rings - 1) * segments, np.roll(ring, -1) + (rings - 1) * segments,
                      np.full(segments, last)], -1)])
        vertices = np.concatenate([vertices, centres])
    return trimesh.Trimesh(vertices, faces, process=False)


def resolve_hand_file(path) -> pathlib.Path:
    """
    The glTF file a ``gltf:PATH`` hand model names.

    Parameters
    ----------
    path : str or path
        A ``.gltf`` / ``.glb`` file, or a folder: its right-hand file (a name ending in
        ``_r`` or ``right``, any case), the shortest name first (``hand_r.gltf`` before
        ``Hand_Nails_R.gltf``).

    Raises
    ------
    ValueError
        If there is no such file.

    """
    path = pathlib.Path(path)
    if path.is_dir():
        found = sorted((p for p in path.iterdir() if p.suffix.lower() in _SUFFIXES
                        and re.search(r'(^|[^a-z])(r|right)$', p.stem.lower())),
                       key=lambda p: (len(p.name), p.name))
        if not found:
            raise ValueError(f'{path} holds no right-hand .gltf / .glb file (a name ending '
                             f'in _r or right)')
        return found[0]
    if not path.is_file():
        raise ValueError(f'no hand model file or folder at {path}')
    if path.suffix.lower() not in _SUFFIXES:
        raise ValueError(f'{path} is not a .gltf or .glb file')
    return path


def _textures(path: pathlib.Path) -> tuple:
    """
    Base-colour images beside a glTF file (``textures/*basecolor*.png``), in [0, 1].

    The glTF files of godot-xr-tools list no images; their textures sit in ``textures/``.
    Only the realistic ones are used when there are any.
    """
    folder = path.parent / 'textures'
    names = sorted(p for p in folder.glob('*.png') if 'basecolor' in p.name.lower()) if (
        folder.is_dir()) else []
    realistic = [p for p in names if 'realistic' in p.name.lower()]
    images = []
    for name in realistic or names:
        with Image.open(name) as image:
            image = image.convert('RGB').resize((TEXTURE_SIZE, TEXTURE_SIZE), Image.BOX)
        images.append(np.asarray(image, np.float32) / np.float32(255.0))
    return tuple(images)


@functools.lru_cache(maxsize=4)
def load_rig(path) -> HandRig:
    """
    The ``HandRig`` of a hand model file or folder (``resolve_hand_file``), cached.

    With the textures beside the file when the mesh has UVs.

    Raises
    ------
    ValueError
        As ``resolve_hand_file``, ``read_gltf`` and ``HandRig.from_skin``.

    """
    file = resolve_hand_file(path)
    skin = read_gltf(file)
    return HandRig.from_skin(skin, _textures(file) if skin.uvs is not None else ())


# Ray directions of the sign test: generic (no mesh edge lines up with them by accident),
# three of them so that a ray grazing an edge is outvoted.
_SIGN_RAYS = np.array([[0.5773, 0.5774, 0.5775], [-0.7071, 0.1, 0.6999],
                       [0.2, -0.9, -0.3873]])
_SIGN_RAYS = _SIGN_RAYS / np.linalg.norm(_SIGN_RAYS, axis=1, keepdims=True)


class SkinSdf(MeshSdf):
    """
    Signed distance (m) to a closed skin mesh that may pass through itself; negative inside.

    Linear blend skinning folds the skin into itself on the palmar side of a flexed joint:
    two folds overlap, or a fold turns inside out. Ray parity (``MeshSdf``'s sign) counts
    two crossings for a point inside two folds and calls it outside. Here the distance is
    ``MeshSdf``'s and the sign that of the winding number, counted along rays: a crossing
    of a face seen from behind (leaving the inside) counts +1, one seen from the front -1,
    so a point is inside when the count is at least 1 (the median over three rays).

    Parameters
    ----------
    mesh : trimesh.Trimesh
        Closed (watertight), outward-facing triangles.

    Raises
    ------
    ValueError
        If the mesh is not watertight.

    """

    def __init__(self, mesh: trimesh.Trimesh):
        if not mesh.is_watertight:
            raise ValueError('the skin mesh is not watertight, so it has no inside')
        super().__init__(mesh.vertices, mesh.faces)
        # Each face's crossing sign for each ray direction.
        self._signs = np.sign(np.asarray(mesh.face_normals, np.float64) @ _SIGN_RAYS.T)

    def winding(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) points -> (N,) winding numbers (median over the rays), integers."""
        points = np.asarray(points, np.float64)
        counts = []
        for k, direction in enumerate(_SIGN_RAYS):
            rays = np.concatenate([points, np.broadcast_to(direction, points.shape)], axis=1)
            hits = self._scene.list_intersections(
                o3d.core.Tensor(np.ascontiguousarray(rays, dtype=np.float32)))
            faces = hits['primitive_ids'].numpy().astype(np.int64)
            counts.append(np.bincount(hits['ray_ids'].numpy().astype(np.int64),
                                      weights=self._signs[faces, k], minlength=len(points)))
        return np.median(counts, axis=0)

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) points -> (N,) float64 signed distances."""
        distance = np.abs(super().__call__(points))
        if len(distance) == 0:
            return distance
        return np.where(self.winding(points) >= 1.0, -distance, distance)
