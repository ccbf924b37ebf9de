"""
Signed-distance fields on a lattice over the normalised cube [-1, 1]^3, and their meshes.

``dense_grid`` queries every lattice point (the reference, 128^3 = 2.1 M queries);
``narrow_band_grid`` queries a coarse lattice, then only the points of each finer lattice
whose interpolated value is near the surface (the classic multi-resolution scheme of
occupancy networks); elsewhere the interpolated value is kept, so signs stay right.
``grid_mesh`` runs marching cubes (scikit-image) and keeps the largest component.
"""

from __future__ import annotations

from collections.abc import Callable
import math

import numpy as np
from skimage.measure import marching_cubes
import torch
import torch.nn.functional as F  # noqa: N812
import trimesh

from c2f_sdf_ros.geometry.mesh import largest_component

# query(points (Q, 3) normalised, fields=None) -> (Q, F) signed distances, one column per
# surface; with ``fields`` (a tuple of column indices) only those columns, (Q, len(fields)).
QueryFn = Callable[..., torch.Tensor]


def lattice(resolution: int, device: torch.device | str = 'cpu') -> torch.Tensor:
    """(R, R, R, 3) points of the lattice over [-1, 1]^3 (x index first)."""
    axis = torch.linspace(-1.0, 1.0, resolution, device=device)
    return torch.stack(torch.meshgrid(axis, axis, axis, indexing='ij'), -1)


def batched_query(query: QueryFn, points: torch.Tensor, batch: int) -> torch.Tensor:
    """``query`` over (Q, 3) points in batches of ``batch``; (Q, F)."""
    return torch.cat([query(points[i:i + batch]) for i in range(0, len(points), batch)])


@torch.no_grad()
def dense_grid(query: QueryFn, resolution: int = 128, batch: int = 65536,
               device: torch.device | str = 'cpu') -> tuple[np.ndarray, int]:
    """
    Query every lattice point.

    Returns the (F, R, R, R) values and the number of points queried (R^3).
    """
    points = lattice(resolution, device).reshape(-1, 3)
    values = batched_query(query, points, batch)
    return values.T.reshape(-1, resolution, resolution, resolution).cpu().numpy(), len(points)


@torch.no_grad()
def narrow_band_grid(query: QueryFn, resolution: int = 128, start: int = 32,
                     band: float = 0.05, batch: int = 65536,
                     device: torch.device | str = 'cpu', spacing_scale: float = 1.0,
                     band_cells: float = 3.0) -> tuple[np.ndarray, int]:
    """
    Coarse-to-fine lattice: query the points near the surface only.

    Query all of a ``start``^3 lattice; at each doubling query only points within one
    coarse cell of a coarse point whose value (any column) is within ``band`` of zero; the
    other points keep the trilinear interpolation of the coarser level.

    ``band`` should be the training clamp (0.05): beyond it the decoders are only taught
    the sign, so a larger value means "far", and the one-cell dilation covers surfaces
    passing between lattice points. Where a coarse cell is much smaller than the clamp, a
    point farther than ``band_cells`` coarse cells from the surface cannot have it in an
    adjacent cell (a distance field changes by at most one unit per unit moved; a cell's
    diagonal is 1.73 cells, and the margin allows for a learned field that is not exactly
    one), so the band at each level is the smaller of ``band`` and ``band_cells`` coarse
    cells: a fine lattice over a small box (``tight_box_meshes``' second pass) then
    queries a shell a few cells thick instead of one the clamp's width.
    ``spacing_scale`` is the field's units per lattice unit (1 over [-1, 1]^3; the box's
    half-size when the lattice spans a box). Returns the (F, R, R, R) values and the
    number of points queried.
    """
    if start > resolution or start < 2:
        raise ValueError(f'need 2 <= start <= resolution, got {start}, {resolution}')
    if not (spacing_scale > 0 and band_cells >= math.sqrt(3.0)):
        raise ValueError(f'need spacing_scale > 0 and band_cells >= sqrt(3), got '
                         f'{spacing_scale}, {band_cells}')
    size = start
    values = batched_query(query, lattice(size, device).reshape(-1, 3), batch)
    values = values.T.reshape(-1, size, size, size)
    count = size ** 3
    while size < resolution:
        coarse_cell = 2.0 / (size - 1) * spacing_scale
        level_band = min(band, band_cells * coarse_cell)
        near = (values.abs() < level_band).any(0)[None, None].float()
        near = F.max_pool3d(near, 3, stride=1, padding=1)
        size = min(size * 2, resolution)
        values = F.interpolate(values[None], size=(size,) * 3, mode='trilinear',
                               align_corners=True)[0]
        near = F.interpolate(near, size=(size,) * 3, mode='nearest')[0, 0] > 0
        points = lattice(size, device)[near]
        if len(points):
            values[:, near] = batched_query(query, points, batch).T
        count += len(points)
    return values.cpu().numpy(), count


def _sign_change_box(inside: np.ndarray) -> list[tuple[int, int]]:
    """Per axis, the [low, high) index range of points next to a sign change, padded by 1."""
    touched = [np.zeros(n, bool) for n in inside.shape]
    for axis in range(3):
        change = np.diff(inside, axis=axis)
        for other in range(3):
            hits = change.any(axis=tuple(a for a in range(3) if a != other))
            touched[other][:len(hits)] |= hits
            if other == axis:
                touched[other][1:] |= hits
    box = []
    for hits, n in zip(touched, inside.shape, strict=True):
        index = np.flatnonzero(hits)
        box.append((max(int(index[0]) - 1, 0), min(int(index[-1]) + 2, n)))
    return box


def grid_mesh(values: np.ndarray, level: float = 0.0,
              keep_largest: bool = True) -> trimesh.Trimesh | None:
    """
    Marching cubes of one (R, R, R) field over [-1, 1]^3; vertices in normalised units.

    Returns None when the field has no surface. ``keep_largest`` drops all but the
    largest connected component (floaters).
    """
    values = np.asarray(values, np.float32)
    if not (values.min() < level < values.max()):
        return None
    resolution = values.shape[0]
    spacing = 2.0 / (resolution - 1)
    # Marching cubes only inside the box of lattice points next to a sign change (plus
    # one point of padding): the same triangles, without scanning a mostly empty
    # lattice (sparse SER fields are).
    box = _sign_change_box(values < level)
    block = values[tuple(slice(low, high) for low, high in box)]
    vertices, faces, _, _ = marching_cubes(block, level, spacing=(spacing,) * 3)
    origin = np.array([low for low, _ in box]) * spacing - 1.0
    # trimesh's processing merges the vertices marching cubes duplicates between blocks.
    mesh = trimesh.Trimesh(vertices + origin, faces, process=True)
    vertices, faces = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    if keep_largest:
        vertices, faces = largest_component(vertices, faces, connectivity='edge')
    return trimesh.Trimesh(vertices, faces, process=False) if len(faces) else None


def field_meshes(values: np.ndarray, to_frame: Callable[[np.ndarray], np.ndarray]
                 ) -> list[trimesh.Trimesh | None]:
    """
    ``grid_mesh`` of each (R, R, R) field of ``values`` (F, R, R, R).

    Vertices are mapped from normalised units by ``to_frame`` (e.g. to the camera frame);
    None where a field has no surface.
    """
    meshes = []
    for field in values:
        mesh = grid_mesh(field)
        if mesh is not None:
            mesh = trimesh.Trimesh(to_frame(mesh.vertices), mesh.faces, process=False)
        meshes.append(mesh)
    return meshes



@torch.no_grad()
def tight_box_meshes(query: QueryFn, fields: int, resolution: int = 128, start: int = 32,
                     batch: int = 65536, margin: int = 2, device: torch.device | str = 'cpu'
                     ) -> tuple[list[trimesh.Trimesh | None], int]:
    """
    The reference code's two-pass meshing: the cube, then the tight box of each inside.

    The first ``narrow_band_grid`` pass over [-1, 1]^3 finds each field's negative region;
    a second ``resolution``^3 pass over the box around it (``margin`` first-pass cells
    wider) samples the surface several times finer where it is, which a single 128^3
    lattice over the whole cube cannot (it caps F@10 mm of a perfect object field at 0.84
    at 64^3, docs/model.md).

    Parameters
    ----------
    query : QueryFn
        Signed distances of normalised points; ``query(points, fields=(f,))`` one field.
    fields : int
        Number of fields (columns of ``query``).
    resolution, start, batch : int
        Lattice side, the first narrow-band level, points per call.
    margin : int
        First-pass cells added around the negative region.
    device : torch.device or str
        Where the lattice points are made.

    Returns
    -------
    (meshes in normalised units, one per field, None where a field has no inside;
    points queried).

    """
    values, count = narrow_band_grid(query, resolution, start, batch=batch, device=device)
    spacing = 2.0 / (resolution - 1)
    meshes: list[trimesh.Trimesh | None] = []
    for index, field in enumerate(values):
        inside = np.argwhere(field < 0)
        if len(inside) == 0:
            meshes.append(None)
            continue
        low = np.clip(-1.0 + (inside.min(0) - margin) * spacing, -1.0, 1.0)
        high = np.clip(-1.0 + (inside.max(0) + margin) * spacing, -1.0, 1.0)
        low_t = torch.as_tensor(low, dtype=torch.float32, device=device)
        size_t = torch.as_tensor((high - low) / 2.0, dtype=torch.float32, device=device)

        def in_box(points: torch.Tensor, field_index: int = index, low_t: torch.Tensor = low_t,
                   size_t: torch.Tensor = size_t) -> torch.Tensor:
            return query(low_t + (points + 1.0) * size_t, fields=(field_index,))

        box_values, box_count = narrow_band_grid(in_box, resolution, start, batch=batch,
                                                 device=device,
                                                 spacing_scale=float(size_t.max()))
        count += box_count
        mesh = grid_mesh(box_values[0])
        if mesh is not None:   # box-normalised -> cube-normalised (an affine map per axis)
            mesh = trimesh.Trimesh(low + (np.asarray(mesh.vertices) + 1.0) * (high - low) / 2,
                                   mesh.faces, process=False)
        meshes.append(mesh)
    return meshes, count
