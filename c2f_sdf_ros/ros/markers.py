"""Meshes as RViz ``visualization_msgs/MarkerArray`` with stable ids and stale deletion."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from c2f_sdf_ros.ros.conversions import check_mesh_arrays
from c2f_sdf_ros.ros.points import points_from_array

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


def _rgba(colors, count: int, default) -> np.ndarray:
    if colors is None:
        return np.tile(np.asarray(default, np.float64), (count, 1))
    colors = np.asarray(colors)
    if colors.ndim != 2 or colors.shape[0] != count or colors.shape[1] not in (3, 4):
        raise ValueError(f'vertex_colors must be ({count}, 3|4), got {colors.shape}')
    rgba = colors.astype(np.float64) / (255.0 if colors.dtype == np.uint8 else 1.0)
    if rgba.shape[1] == 3:
        rgba = np.concatenate([rgba, np.ones((count, 1))], axis=1)
    return np.clip(rgba, 0.0, 1.0)


def mesh_marker(header: Header, namespace: str, marker_id: int, mesh: ColoredMesh) -> Marker:
    """One ``TRIANGLE_LIST`` marker with a colour per triangle corner."""
    vertices, faces = check_mesh_arrays(mesh.vertices, mesh.faces)
    default = DEFAULT_COLORS.get(namespace, FALLBACK_COLOR)
    rgba = _rgba(mesh.vertex_colors, len(vertices), default)
    corners = faces.reshape(-1)
    marker = Marker(header=header, ns=namespace, id=int(marker_id), type=Marker.TRIANGLE_LIST,
                    action=Marker.ADD)
    marker.pose.orientation.w = 1.0
    marker.scale.x = marker.scale.y = marker.scale.z = 1.0
    marker.color = ColorRGBA(r=default[0], g=default[1], b=default[2], a=default[3])
    marker.points = points_from_array(vertices[corners])
    marker.colors = [ColorRGBA(r=r, g=g, b=b, a=a) for r, g, b, a in rgba[corners].tolist()]
    return marker


class MeshMarkerArrayBuilder:
    """
    Build a MarkerArray per frame: one marker per mesh, stale ones deleted.

    Mesh ``i`` of namespace ``ns`` is always marker (``ns``, ``i``), so RViz replaces it in
    place from frame to frame; markers that were published for the previous frame and have
    no mesh now get an explicit DELETE (rather than a lifetime, which makes meshes blink).
    """

    def __init__(self):
        self._published: dict[str, set[int]] = {}

    def build(self, header: Header, meshes: Mapping[str, Sequence[ColoredMesh]]) -> MarkerArray:
        """
        Markers for ``meshes`` (namespace -> meshes), plus deletions of stale markers.

        Meshes without triangles are not drawn (and so delete their marker if present).
        """
        array = MarkerArray()
        for namespace in sorted(set(meshes) | set(self._published)):
            current = set()
            for index, mesh in enumerate(meshes.get(namespace, ())):
                if len(mesh.faces) == 0:
                    continue
                array.markers.append(mesh_marker(header, namespace, index, mesh))
                current.add(index)
            for stale in sorted(self._published.get(namespace, set()) - current):
                array.markers.append(Marker(header=header, ns=namespace, id=stale,
                                            action=Marker.DELETE))
            self._published[namespace] = current
        return array

    def clear(self, header: Header) -> MarkerArray:
        """A DELETEALL marker (e.g. at shutdown or when the input stops), forgetting ids."""
        self._published.clear()
        return MarkerArray(markers=[Marker(header=header, action=Marker.DELETEALL)])
