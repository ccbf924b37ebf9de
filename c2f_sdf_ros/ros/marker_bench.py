"""
``c2f-sdf bench-markers``: time to turn one frame's meshes into publishable bytes.

A frame of a ``--vertices``-vertex hand and an object of the same size (closed meshes, about
two faces per vertex). Each way is timed from the meshes to the serialized message, the
bytes a publisher sends (median of ``--repeats``):

- ``objects``: a ``geometry_msgs/Point`` and a ``std_msgs/ColorRGBA`` per triangle corner,
  serialized by rclpy (how markers were built before; what any rclpy code does);
- ``packed``: corners as one numpy array (``cdr.Packed``), one colour per marker, written by
  ``cdr.serialize`` (what the node publishes);
- ``packed_vertex_colors``: the same with a colour per corner (for coloured meshes);
- ``message_objects`` / ``message_packed``: the ``HandObjectReconstruction`` message, its
  meshes as objects or packed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np


def closed_mesh(vertices: int, seed: int):
    """A closed triangle mesh with about ``vertices`` vertices (a bumpy UV sphere)."""
    import trimesh

    rows = max(3, int(round(np.sqrt(vertices / 4))))
    sphere = trimesh.creation.uv_sphere(radius=1.0, count=[rows, 2 * rows])
    rng = np.random.default_rng(seed)
    keep = len(sphere.vertices)
    points = np.asarray(sphere.vertices) * (0.05 + 0.002 * rng.standard_normal((keep, 1)))
    return trimesh.Trimesh(points + [0.0, 0.0, 0.5], sphere.faces, process=False)


def _median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    """Print one JSON object: mesh sizes and the median ms of each way."""
    parser = argparse.ArgumentParser(prog='c2f-sdf bench-markers', description=__doc__.split(
        '\n\n')[0].split(': ', 1)[-1])
    parser.add_argument('--vertices', type=int, default=6000,
                        help='vertices of the hand mesh and of the object mesh')
    parser.add_argument('--repeats', type=int, default=20)
    args = parser.parse_args(argv)

    from geometry_msgs.msg import Point
    from rclpy.serialization import serialize_message
    from std_msgs.msg import ColorRGBA, Header
    from visualization_msgs.msg import MarkerArray

    from c2f_sdf_ros.reconstruct.pipeline import FrameReconstruction, Reconstruction
    from c2f_sdf_ros.ros import cdr
    from c2f_sdf_ros.ros.markers import ColoredMesh, MeshMarkerArrayBuilder
    from c2f_sdf_ros.ros.reconstruction_msgs import reconstruction_meshes, reconstruction_to_msg

    hand, obj = closed_mesh(args.vertices, 0), closed_mesh(args.vertices, 1)
    frame = FrameReconstruction([Reconstruction(
        True, hand_mesh=hand, object_mesh=obj, joints=np.zeros((21, 3)), root=np.zeros(3),
        object_center=np.zeros(3))], {})
    header = Header(frame_id='camera_color_optical_frame')
    builder = MeshMarkerArrayBuilder()

    def objects() -> bytes:
        array = builder.build(header, reconstruction_meshes(frame))
        for marker in array.markers:
            corners = marker.points.array.tolist()
            marker.points = [Point(x=x, y=y, z=z) for x, y, z in corners]
            color = (marker.color.r, marker.color.g, marker.color.b, marker.color.a)
            marker.colors = [ColorRGBA(r=color[0], g=color[1], b=color[2], a=color[3])
                             for _ in corners]
        return serialize_message(array)

    def packed() -> bytes:
        return cdr.serialize(builder.build(header, reconstruction_meshes(frame)))

    colored = {name: {key: ColoredMesh(mesh.vertices, mesh.faces,
                                       np.full((len(mesh.vertices), 4), 200, np.uint8))
                      for key, mesh in meshes.items()}
               for name, meshes in reconstruction_meshes(frame).items()}

    def packed_vertex_colors() -> bytes:
        return cdr.serialize(builder.build(header, colored))

    sizes = {'hand_vertices': len(hand.vertices), 'hand_faces': len(hand.faces),
             'object_vertices': len(obj.vertices), 'object_faces': len(obj.faces),
             'marker_bytes': len(packed()),
             'marker_bytes_vertex_colors': len(packed_vertex_colors())}
    assert isinstance(builder.build(header, {}), MarkerArray)
    results = {
        'objects_ms': _median_seconds(objects, max(3, args.repeats // 5)),
        'packed_ms': _median_seconds(packed, args.repeats),
        'packed_vertex_colors_ms': _median_seconds(packed_vertex_colors, args.repeats),
        'message_objects_ms': _median_seconds(
            lambda: serialize_message(reconstruction_to_msg(frame, header)),
            max(3, args.repeats // 5)),
        'message_packed_ms': _median_seconds(
            lambda: cdr.serialize(reconstruction_to_msg(frame, header, packed=True)),
            args.repeats),
    }
    print(json.dumps({**sizes, **{k: round(1000 * v, 2) for k, v in results.items()}},
                     indent=1))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
