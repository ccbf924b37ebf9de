"""
Meshes as RViz ``visualization_msgs/MarkerArray`` with stable ids and stale deletion.

A mesh is one ``TRIANGLE_LIST`` marker whose points are the triangle corners. They are
built as numpy arrays (``cdr.Packed``), not as a ``geometry_msgs/Point`` per corner: publish
``cdr.serialize(array)`` (what the reconstruction node does), or ``cdr.unpack(array)`` for
plain message objects. One colour per marker (``Marker.color``) unless the mesh carries
vertex colours; then a colour per corner (RViz uses ``colors`` when there is one per point).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from c2f_sdf_ros.ros.cdr import Packed
from c2f_sdf_ros.ros.conversions import check_mesh_arrays

HAND_NAMESPACE = 'hand'
OBJECT_NAMESPACE = 'object'
# RGBA in [0, 1] for meshes that carry no vertex colours.
DEFAULT_COLORS = {
    HAND_NAMESPACE: (0.93, 0.72, 0.60, 1.0),
    OBJECT_NAMESPACE: (0.30, 0.55, 0.90, 1.0),
}
FALLBACK_COLOR = (0.7, 0.7, 0.7, 1.0)


@dataclass(frozen=True)
class ColoredMesh:
    """
    A triangle mesh to draw.

    Attributes
    ----------
    vertices : (V, 3) float
        Vertex positions in the marker header's frame, metres.
    faces : (F, 3) int
        Vertex indices of each triangle.
    vertex_colors : (V, 3) or (V, 4) array, optional
        Per-vertex RGB(A) in [0, 1] (float) or [0, 255] (uint8).

    """

    vertices: np.ndarray
    faces: np.ndarray
    vertex_colors: np.ndarray | None = None


def _rgba(colors, count: int) -> np.ndarray:
    colors = np.asarray(colors)
    if colors.ndim != 2 or colors.shape[0] != count or colors.shape[1] not in (3, 4):
        raise ValueError(f'vertex_colors must be ({count}, 3|4), got {colors.shape}')
    rgba = colors.astype(np.float32) / np.float32(255.0 if colors.dtype == np.uint8 else 1.0)
    if rgba.shape[1] == 3:
        rgba = np.concatenate([rgba, np.ones((count, 1), np.float32)], axis=1)
    return np.clip(rgba, 0.0, 1.0)


def mesh_marker(header: Header, namespace: str, marker_id: int, mesh: ColoredMesh) -> Marker:
    """
    One ``TRIANGLE_LIST`` marker: corners as ``Packed`` points, colour(s) as described above.

    Raises ValueError for an invalid mesh or vertex colours of the wrong shape.
    """
    vertices, faces = check_mesh_arrays(mesh.vertices, mesh.faces)
    default = DEFAULT_COLORS.get(namespace, FALLBACK_COLOR)
    corners = faces.reshape(-1)
    marker = Marker(header=header, ns=namespace, id=int(marker_id), type=Marker.TRIANGLE_LIST,
                    action=Marker.ADD)
    marker.pose.orientation.w = 1.0
    marker.scale.x = marker.scale.y = marker.scale.z = 1.0
    marker.color = ColorRGBA(r=default[0], g=default[1], b=default[2], a=default[3])
    marker.points = Packed(vertices[corners])
    if mesh.vertex_colors is not None:
        marker.colors = Packed(_rgba(mesh.vertex_colors, len(vertices))[corners])
    return marker


def marker_points(marker: Marker) -> np.ndarray:
    """(N, 3) float64 points of a marker, ``Packed`` or a list of ``Point``."""
    if isinstance(marker.points, Packed):
        return np.asarray(marker.points.array, np.float64)
    return np.array([(p.x, p.y, p.z) for p in marker.points], np.float64).reshape(-1, 3)


def marker_colors(marker: Marker) -> np.ndarray:
    """(N, 4) float32 per-point colours of a marker (0 rows when it has one colour)."""
    if isinstance(marker.colors, Packed):
        return np.asarray(marker.colors.array, np.float32)
    return np.array([(c.r, c.g, c.b, c.a) for c in marker.colors], np.float32).reshape(-1, 4)


MeshesById = Mapping[int, ColoredMesh] | Sequence[ColoredMesh]


def _by_id(meshes: MeshesById) -> Mapping[int, ColoredMesh]:
    return meshes if isinstance(meshes, Mapping) else dict(enumerate(meshes))


class MeshMarkerArrayBuilder:
    """
    Build a MarkerArray per frame: one marker per mesh, stale ones deleted.

    Meshes come per namespace either as a list (mesh ``i`` is marker id ``i``) or as a
    mapping id -> mesh (ids chosen by the caller, e.g. a tracker's). A given (namespace,
    id) is replaced in place by RViz from frame to frame; markers that were published for
    the previous frame and have no mesh now get an explicit DELETE (rather than a lifetime,
    which makes meshes blink).
    """

    def __init__(self):
        self._published: dict[str, set[int]] = {}

    @property
    def showing(self) -> bool:
        """Whether markers published since the last clear may still be on screen."""
        return any(self._published.values())

    def build(self, header: Header, meshes: Mapping[str, MeshesById]) -> MarkerArray:
        """
        Markers for ``meshes`` (namespace -> meshes), plus deletions of stale markers.

        Meshes without triangles are not drawn (and so delete their marker if present).
        """
        array = MarkerArray()
        for namespace in sorted(set(meshes) | set(self._published)):
            current = set()
            by_id = _by_id(meshes.get(namespace, ()))
            for marker_id in sorted(by_id):
                mesh = by_id[marker_id]
                if len(mesh.faces) == 0:
                    continue
                array.markers.append(mesh_marker(header, namespace, marker_id, mesh))
                current.add(int(marker_id))
            for stale in sorted(self._published.get(namespace, set()) - current):
                array.markers.append(Marker(header=header, ns=namespace, id=stale,
                                            action=Marker.DELETE))
            self._published[namespace] = current
        return array

    def clear(self, header: Header) -> MarkerArray:
        """A DELETEALL marker (e.g. at shutdown or when the input stops), forgetting ids."""
        self._published.clear()
        return MarkerArray(markers=[Marker(header=header, action=Marker.DELETEALL)])
