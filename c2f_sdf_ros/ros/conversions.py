"""
Messages to numpy and back: images, camera info, meshes.

Imports message packages but not rclpy, so it works in any process that has the messages.
"""

from __future__ import annotations

import sys

import numpy as np
from sensor_msgs.msg import CameraInfo, Image
from shape_msgs.msg import Mesh, MeshTriangle
from std_msgs.msg import Header

from c2f_sdf_ros.geometry.camera import CameraIntrinsics
from c2f_sdf_ros.ros import image_codec
from c2f_sdf_ros.ros.cdr import Packed
from c2f_sdf_ros.ros.points import points_from_array, points_to_array


def image_to_numpy(msg: Image) -> np.ndarray:
    """Decode a ``sensor_msgs/Image`` (see ``image_codec.decode_image``)."""
    return image_codec.decode_image(msg.encoding, msg.height, msg.width, msg.step,
                                    bool(msg.is_bigendian), msg.data)


def numpy_to_image(array: np.ndarray, encoding: str, header: Header | None = None,
                   step: int | None = None) -> Image:
    """Encode ``array`` as a ``sensor_msgs/Image`` (see ``image_codec.encode_image``)."""
    height, width, step, data = image_codec.encode_image(array, encoding, step)
    msg = Image(height=height, width=width, encoding=encoding, step=step,
                is_bigendian=int(sys.byteorder == 'big'))
    msg.data = data
    if header is not None:
        msg.header = header
    return msg


def color_image_to_rgb(msg: Image) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a color image in any ``image_codec.COLOR_ENCODINGS``."""
    if msg.encoding not in image_codec.COLOR_ENCODINGS:
        raise ValueError(f'color image has encoding {msg.encoding!r}; supported: '
                         f'{", ".join(image_codec.COLOR_ENCODINGS)}')
    return image_codec.to_rgb8(image_to_numpy(msg), msg.encoding)


def depth_image_to_m(msg: Image) -> np.ndarray:
    """(H, W) float32 metres (0 = no measurement) from a 16UC1/mono16 (mm) or 32FC1 image."""
    if msg.encoding not in image_codec.DEPTH_ENCODINGS:
        raise ValueError(f'depth image has encoding {msg.encoding!r}; supported: '
                         f'{", ".join(image_codec.DEPTH_ENCODINGS)}')
    return image_codec.to_depth_m(image_to_numpy(msg), msg.encoding)


def camera_info_to_intrinsics(msg: CameraInfo) -> CameraIntrinsics:
    """
    Intrinsics from a ``sensor_msgs/CameraInfo``.

    Binning and ROI are applied when set. Raises ValueError for an uncalibrated camera
    (K all zeros) or invalid values.
    """
    K = np.asarray(msg.k, dtype=np.float64).reshape(3, 3)
    if not K.any():
        raise ValueError('camera_info is uncalibrated (K is all zeros)')
    width, height = int(msg.width), int(msg.height)
    roi = msg.roi
    if roi.width and roi.height:
        K = K.copy()
        K[0, 2] -= roi.x_offset
        K[1, 2] -= roi.y_offset
        width, height = int(roi.width), int(roi.height)
    camera = CameraIntrinsics.from_matrix(K, width, height, msg.distortion_model,
                                          tuple(float(v) for v in msg.d))
    bin_x, bin_y = max(int(msg.binning_x), 1), max(int(msg.binning_y), 1)
    if bin_x > 1 or bin_y > 1:
        camera = camera.scaled(1.0 / bin_x, 1.0 / bin_y)
    return camera


def intrinsics_to_camera_info(camera: CameraIntrinsics, header: Header | None = None
                              ) -> CameraInfo:
    """A ``sensor_msgs/CameraInfo`` for a rectified camera with these intrinsics."""
    msg = CameraInfo(width=camera.width, height=camera.height,
                     distortion_model=camera.distortion_model)
    msg.d = [float(v) for v in camera.distortion]
    msg.k = camera.K.ravel().tolist()
    msg.r = np.eye(3).ravel().tolist()
    msg.p = [camera.fx, 0.0, camera.cx, 0.0, 0.0, camera.fy, camera.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    if header is not None:
        msg.header = header
    return msg


def check_mesh_arrays(vertices, faces) -> tuple[np.ndarray, np.ndarray]:
    """
    Validate a triangle mesh given as arrays.

    Returns (vertices float64 (V, 3), faces int64 (F, 3)); raises ValueError if the shapes
    are wrong, a vertex is not finite or a face indexes a missing vertex.
    """
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f'vertices must be (V, 3), got {vertices.shape}')
    if faces.size == 0:
        faces = np.zeros((0, 3), np.int64)  # [] is float64 to numpy: no triangles is fine
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.dtype.kind not in 'iu':
        raise ValueError(f'faces must be integer (F, 3), got {faces.dtype} {faces.shape}')
    if not np.isfinite(vertices).all():
        raise ValueError('mesh vertices must be finite')
    if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise ValueError(f'faces index vertices 0..{len(vertices) - 1}, got '
                         f'{faces.min()}..{faces.max()}')
    return vertices, faces.astype(np.int64)


def mesh_to_msg(vertices, faces, packed: bool = False) -> Mesh:
    """
    A ``shape_msgs/Mesh`` from (V, 3) vertices and (F, 3) vertex indices.

    ``packed``: vertices and triangles as ``cdr.Packed`` arrays (no object per vertex;
    publish the message through ``cdr.serialize``).
    """
    vertices, faces = check_mesh_arrays(vertices, faces)
    msg = Mesh()
    if packed:
        msg.vertices = Packed(vertices)
        msg.triangles = Packed(faces.astype(np.uint32))
        return msg
    msg.vertices = points_from_array(vertices)
    msg.triangles = [MeshTriangle(vertex_indices=face) for face in faces.astype(np.uint32)]
    return msg


def mesh_from_msg(msg: Mesh) -> tuple[np.ndarray, np.ndarray]:
    """(vertices float64 (V, 3), faces int64 (F, 3)) of a ``shape_msgs/Mesh`` (or packed)."""
    if isinstance(msg.vertices, Packed) and isinstance(msg.triangles, Packed):
        return check_mesh_arrays(msg.vertices.array, msg.triangles.array.astype(np.int64))
    vertices = points_to_array(msg.vertices)
    faces = (np.array([t.vertex_indices for t in msg.triangles], dtype=np.int64)
             if msg.triangles else np.zeros((0, 3), np.int64))
    return check_mesh_arrays(vertices, faces)
