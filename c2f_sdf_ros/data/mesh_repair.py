"""
Closing the ground-truth meshes of the datasets, so that signed distances have an inside.

Two kinds of opening occur:

- MANO's hand mesh is open at the wrist by exactly one boundary loop;
  :func:`closed_faces` / :func:`watertight_mesh` close it by a fan of triangles around the
  loop's centroid (also used by ``ManoLayer.watertight``).
- Object models (DexYCB's YCB models, ObMan's ShapeNet models) repeat vertices at texture
  or material seams and may hold duplicate, degenerate faces and small holes;
  :func:`load_watertight_mesh` reads such a file and repairs what can be repaired.
"""

from __future__ import annotations

import os
import pathlib

import numpy as np
import trimesh

__all__ = ['boundary_loops', 'closed_faces', 'load_watertight_mesh', 'watertight_mesh']


def boundary_loops(faces: np.ndarray) -> list[np.ndarray]:
    """
    The boundary loops of a triangle mesh, each as an ordered vertex index array.

    Parameters
    ----------
    faces : np.ndarray
        (F, 3) int vertex indices.

    Returns
    -------
    list of np.ndarray
        One (L,) int64 array per loop; consecutive entries ``a, b`` are a boundary edge
        that runs ``a -> b`` in its only face (so the loop follows the mesh's winding).

    Raises
    ------
    ValueError
        If an edge has more than two faces or the boundary is not a set of simple loops.
    """
    faces = np.asarray(faces, np.int64)
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(f'faces must be (F, 3), got {faces.shape}')
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    _, inverse, counts = np.unique(np.sort(directed, axis=1), axis=0, return_inverse=True,
                                   return_counts=True)
    if np.any(counts > 2):
        raise ValueError('mesh is not manifold: an edge has more than two faces')
    boundary = directed[counts[inverse.ravel()] == 1]
    successor: dict[int, int] = {}
    for start, end in boundary.tolist():
        if start in successor:
            raise ValueError(f'boundary is not a set of simple loops at vertex {start}')
        successor[start] = end
    loops = []
    while successor:
        start = min(successor)
        loop = [start]
        vertex = successor.pop(start)
        while vertex != start:
            loop.append(vertex)
            if vertex not in successor:
                raise ValueError(f'boundary is not a set of simple loops at vertex {vertex}')
            vertex = successor.pop(vertex)
        loops.append(np.asarray(loop, np.int64))
    return loops


def closed_faces(faces: np.ndarray, num_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """
    Close a mesh with one hole (MANO's wrist) by a fan around one extra vertex.

    Parameters
    ----------
    faces : np.ndarray
        (F, 3) int vertex indices of a mesh with exactly one boundary loop.
    num_vertices : int
        V; the extra vertex gets index V and goes at the loop's centroid
        (see :func:`watertight_mesh` and ``ManoLayer.watertight``).

    Returns
    -------
    faces : np.ndarray
        (F + L, 3) int64, the original faces followed by L fan triangles, wound
        consistently with their neighbours.
    loop : np.ndarray
        (L,) int64, the boundary loop's vertices.

    Raises
    ------
    ValueError
        If the mesh has no boundary or more than one boundary loop.
    """
    faces = np.asarray(faces, np.int64)
    if faces.size and faces.max() >= num_vertices:
        raise ValueError(f'faces index vertex {faces.max()} of a mesh with {num_vertices}')
    loops = boundary_loops(faces)
    if len(loops) != 1:
        raise ValueError(f'expected exactly one boundary loop (the wrist), found {len(loops)}')
    loop = loops[0]
    # Each boundary edge a -> b is closed by the triangle (b, a, centre): the edge then
    # runs once in each direction, as in an oriented closed surface.
    fan = np.stack([np.roll(loop, -1), loop, np.full_like(loop, num_vertices)], axis=1)
    return np.concatenate([faces, fan]), loop


def watertight_mesh(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """
    Close a mesh with one hole (MANO's wrist) by a fan around the hole's centroid.

    Parameters
    ----------
    vertices : np.ndarray
        (V, 3) vertices.
    faces : np.ndarray
        (F, 3) faces with exactly one boundary loop.

    Returns
    -------
    vertices : np.ndarray
        (V + 1, 3), the input followed by the loop's centroid.
    faces : np.ndarray
        (F + L, 3) int64 faces of the closed mesh.

    Raises
    ------
    ValueError
        If ``vertices`` is not (V, 3), or the faces do not have exactly one boundary loop.
    """
    vertices = np.asarray(vertices)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f'vertices must be (V, 3), got {vertices.shape}')
    closed, loop = closed_faces(faces, len(vertices))
    centre = vertices[loop].mean(axis=0, keepdims=True)
    return np.concatenate([vertices, centre]), closed


def load_watertight_mesh(path: str | os.PathLike, what: str = 'object model'
                         ) -> trimesh.Trimesh:
    """
    Read a mesh file (e.g. an OBJ) as one watertight triangle mesh, repaired if needed.

    Textured and multi-material models repeat vertices along seams, which leaves the
    surface open even when the shape is closed; ShapeNet models also hold duplicate and
    degenerate faces. An open mesh is therefore merged by vertex position (texture
    coordinates, normals and materials are dropped), cleaned of those faces, and its
    small (triangle or quad) holes are filled. A mesh that is watertight as read is kept
    as it is.

    Parameters
    ----------
    path : path
        The mesh file; the caller checks that it exists, to name what is missing.
    what : str
        What the mesh is, for error messages.

    Returns
    -------
    trimesh.Trimesh
        The watertight mesh, float64 vertices, in the file's frame and units.

    Raises
    ------
    ValueError
        If the file cannot be read, holds fewer than four triangles, or is still open
        after the repairs (an SDF needs an inside).
    """
    path = pathlib.Path(path)
    try:
        loaded = trimesh.load(path, force='mesh', process=False, skip_materials=True)
    except Exception as error:  # trimesh raises many types on a corrupt file
        raise ValueError(f'{path}: cannot read the {what} ({error})') from error
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise ValueError(f'{path}: no triangles in this {what}')
    if len(loaded.faces) < 4:  # the fewest faces of a closed surface (a tetrahedron)
        raise ValueError(f'{path}: {len(loaded.faces)} triangles cannot close a surface; '
                         f'expected a closed {what}')
    # A bare copy: with UVs or normals attached, merge_vertices would keep seams apart.
    mesh = trimesh.Trimesh(np.asarray(loaded.vertices, np.float64), np.asarray(loaded.faces),
                           process=False)
    if not mesh.is_watertight:
        mesh.merge_vertices()
        mesh.update_faces(mesh.nondegenerate_faces())
        mesh.update_faces(mesh.unique_faces())
        mesh.remove_unreferenced_vertices()
    if not mesh.is_watertight:
        trimesh.repair.fill_holes(mesh)
    if not mesh.is_watertight:
        raise ValueError(f'{path}: the {what} is not watertight even after merging seam '
                         'vertices, dropping degenerate and duplicate faces and filling '
                         'small holes, so it has no inside for SDF samples; close it (e.g. '
                         'with a watertight remesher) and replace the file')
    return mesh
