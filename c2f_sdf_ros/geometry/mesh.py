"""
Mesh utilities shared by the data, reconstruction and evaluation layers.

One signed distance for the whole package: open3d ray casting (headless), with the
inside/outside decided by the majority of several rays, so a ray that grazes an edge
cannot flip a sign (a single ray does, now and then, on marching-cubes meshes). And one
"largest connected component" used after every marching cubes, synthetic or predicted.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

if TYPE_CHECKING:
    import trimesh

# Rays whose majority decides inside/outside.
SIGN_RAYS = 3


def _open3d():
    """
    open3d, imported where a distance is computed rather than with this module.

    Training imports this layer (through the dataset readers) but needs open3d only for
    the lattice pools, which a GPU session brings precomputed (``c2f-sdf gpu-session
    pack``): the GPU machine has no open3d, and its wheel is too large to carry there.
    """
    return importlib.import_module('open3d')


class MeshSdf:
    """
    Signed distance (m) to a closed triangle mesh, negative inside.

    Parameters
    ----------
    vertices : (V, 3) array
        Vertex positions (m).
    faces : (F, 3) int array
        Triangles.
    rays : int
        Odd number of rays whose majority decides inside/outside (robust to rays that
        graze an edge).

    """

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, rays: int = SIGN_RAYS):
        vertices = np.asarray(vertices, np.float32)
        faces = np.asarray(faces)
        if vertices.ndim != 2 or vertices.shape[1] != 3 or len(vertices) < 4:
            raise ValueError(f'vertices must be (V>=4, 3), got {vertices.shape}')
        if faces.ndim != 2 or faces.shape[1] != 3 or len(faces) < 4:
            raise ValueError(f'faces must be (F>=4, 3), got {faces.shape}')
        if faces.min() < 0 or faces.max() >= len(vertices):
            raise ValueError('faces index vertices that do not exist')
        if rays < 1 or rays % 2 == 0:
            raise ValueError(f'rays must be a positive odd number, got {rays}')
        self.rays = rays
        o3d = _open3d()
        self._scene = o3d.t.geometry.RaycastingScene()
        self._scene.add_triangles(o3d.core.Tensor(np.ascontiguousarray(vertices)),
                                  o3d.core.Tensor(faces.astype(np.uint32)))

    @classmethod
    def from_mesh(cls, mesh: trimesh.Trimesh, rays: int = SIGN_RAYS,
                  require_watertight: bool = True) -> MeshSdf:
        """
        From a trimesh mesh.

        Raises ValueError if ``require_watertight`` and the mesh is not watertight (it has
        no inside then; ground-truth meshes must be closed first, e.g. the MANO wrist).
        Predicted meshes are closed except where they meet the lattice border, and are
        accepted with ``require_watertight=False``.
        """
        if require_watertight and not mesh.is_watertight:
            raise ValueError('the mesh is not watertight, so it has no inside; close it first '
                             '(e.g. the MANO wrist, see c2f_sdf_ros.data.mesh_repair)')
        return cls(mesh.vertices, mesh.faces, rays)

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) points -> (N,) float64 signed distances."""
        points = np.asarray(points, np.float32)
        if points.ndim != 2 or points.shape[1] != 3:
            raise ValueError(f'points must be (N, 3), got {points.shape}')
        if len(points) == 0:
            return np.zeros(0)
        tensor = _open3d().core.Tensor(np.ascontiguousarray(points))
        return self._scene.compute_signed_distance(tensor, nsamples=self.rays).numpy().astype(
            np.float64)


def signed_distance(mesh: trimesh.Trimesh, points: np.ndarray) -> np.ndarray:
    """
    Signed distance (m, negative inside) of ``points`` (N, 3) to ``mesh``; (N,) float64.

    The mesh need not be watertight (a predicted mesh cut by the lattice border); its sign
    is then the majority vote of ``SIGN_RAYS`` rays.
    """
    return MeshSdf.from_mesh(mesh, require_watertight=False)(
        np.asarray(points, np.float32).reshape(-1, 3))


def surface_distance(mesh: trimesh.Trimesh, points: np.ndarray) -> np.ndarray:
    """
    Unsigned distance (m) of ``points`` (N, 3) to the triangles of ``mesh``; (N,) float64.

    Any mesh with at least one triangle (open or closed).
    """
    points = np.asarray(points, np.float32).reshape(-1, 3)
    faces = np.asarray(mesh.faces)
    if len(faces) == 0:
        raise ValueError('cannot measure distances to a mesh without triangles')
    if len(points) == 0:
        return np.zeros(0)
    o3d = _open3d()
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(np.asarray(mesh.vertices, np.float32)),
                        o3d.core.Tensor(faces.astype(np.uint32)))
    return scene.compute_distance(o3d.core.Tensor(np.ascontiguousarray(points))).numpy(
    ).astype(np.float64)


def largest_component(vertices: np.ndarray, faces: np.ndarray,
                      connectivity: str = 'vertex') -> tuple[np.ndarray, np.ndarray]:
    """
    The connected component with the most faces; ties: the one with the lowest face index.

    Parameters
    ----------
    vertices : (V, 3) array
        Vertex positions.
    faces : (F, 3) int array
        Triangles indexing ``vertices``.
    connectivity : str
        'vertex': faces sharing a vertex are connected (cheap; right for raw marching
        cubes output, where each vertex sits on one grid edge that one sheet crosses).
        'edge': faces sharing an edge are connected (after vertices were merged, two
        sheets touching at one point stay apart).

    Returns
    -------
    (vertices, faces) of that component, vertices in their original order.

    """
    faces = np.asarray(faces)
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f'faces must be (F, 3), got {faces.shape}')
    if connectivity not in ('vertex', 'edge'):
        raise ValueError(f"connectivity must be 'vertex' or 'edge', got {connectivity!r}")
    if len(faces) == 0:
        return vertices, faces
    if connectivity == 'vertex':
        edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]]])
        graph = coo_matrix((np.ones(len(edges), dtype=np.int8), (edges[:, 0], edges[:, 1])),
                           shape=(len(vertices),) * 2)
        count, labels = connected_components(graph, directed=False)
        face_labels = labels[faces[:, 0]]
    else:
        # Faces are nodes; two faces are linked when they list the same (sorted) edge.
        sides = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]],
                                        faces[:, [2, 0]]]), axis=1).astype(np.int64)
        owner = np.tile(np.arange(len(faces)), 3)
        keys = sides[:, 0] * (int(faces.max()) + 1) + sides[:, 1]
        order = np.argsort(keys, kind='stable')
        same = keys[order][1:] == keys[order][:-1]
        a, b = owner[order][:-1][same], owner[order][1:][same]
        graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(len(faces),) * 2)
        count, face_labels = connected_components(graph, directed=False)
    if count <= 1:
        return vertices, faces
    keep = faces[face_labels == int(np.argmax(np.bincount(face_labels)))]
    # Re-index the kept vertices in their original order so the result stays deterministic.
    used = np.unique(keep)
    remap = np.full(len(vertices), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return vertices[used], remap[keep]
