"""
The held object, checked against what the camera sees around the hand.

The model predicts an object surface for every crop, held or not, and on real frames it
spills onto whatever stands next to the hand (a mug beside the bottle, the table). The
depth image says which surfaces are there: around the hand, remove the supporting surface
(the dominant plane, RANSAC) and the hand itself; what is left falls into clusters, and
the cluster the hand touches is the held object. A cluster that touches the hand only at
the wrist is the forearm (or its sleeve), which touches every hand, not a held object:
touched clusters are judged by where they touch, the fingers and palm or the wrist.
No such cluster: the hand holds nothing.
Otherwise the object mesh keeps only the triangles that project onto that cluster or onto
the hand in front of it (a silhouette test), so surfaces lying on other things go.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d
from scipy import ndimage
import trimesh

from c2f_sdf_ros.geometry.camera import CameraIntrinsics
from c2f_sdf_ros.geometry.mesh import largest_component, surface_distance


@dataclass(frozen=True)
class HeldObjectConfig:
    """
    Settings of the held-object check.

    Attributes
    ----------
    radius : float
        Depth points within this distance (m) of the hand's joint centre are looked at.
    stride : int
        Every ``stride``-th pixel in each direction is used (speed).
    plane_distance : float
        Inlier distance (m) of the supporting plane.
    min_plane_extent : float
        A plane counts as support only if its inliers span at least this (m): a table or a
        wall, not the face of a held box.
    min_plane_share : float
        ... and hold at least this share of the points.
    hand_margin : float
        Points this close (m) to the hand surface are the hand.
    cluster_voxel : float
        Points in touching voxels of this size (m) form one cluster.
    touch_distance : float
        A cluster this close (m) to the hand is touched (held).
    min_cluster_points : int
        Smaller clusters are noise.
    forearm_share : float
        A touched cluster more than this share of whose touching points are nearer the
        wrist joint than any other joint is the forearm, not a held object.
    silhouette_margin : int
        Pixels the allowed silhouette (held cluster and hand) is grown by.
    min_faces : int
        An object mesh left with fewer triangles is dropped.

    """

    radius: float = 0.25
    stride: int = 3
    plane_distance: float = 0.01
    min_plane_extent: float = 0.3
    min_plane_share: float = 0.2
    hand_margin: float = 0.015
    cluster_voxel: float = 0.015
    touch_distance: float = 0.03
    min_cluster_points: int = 30
    forearm_share: float = 2 / 3
    silhouette_margin: int = 6
    min_faces: int = 20

    def __post_init__(self):
        positive = ('radius', 'plane_distance', 'min_plane_extent', 'hand_margin',
                    'cluster_voxel', 'touch_distance')
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f'{name} must be > 0, got {getattr(self, name)}')
        if self.stride < 1 or self.min_cluster_points < 1 or self.min_faces < 1:
            raise ValueError('stride, min_cluster_points and min_faces must be >= 1')
        if not 0.0 <= self.forearm_share <= 1.0:
            raise ValueError(f'forearm_share must be in [0, 1], got {self.forearm_share}')
        if not 0.0 <= self.min_plane_share <= 1.0 or self.silhouette_margin < 0:
            raise ValueError('min_plane_share in [0, 1] and silhouette_margin >= 0 required')


@dataclass
class HeldObject:
    """
    What the check found.

    Attributes
    ----------
    mesh : trimesh.Trimesh or None
        The object mesh clipped to the held cluster's silhouette; None: nothing is held.
    points : (N, 3) array
        Depth points of the held cluster (camera frame, m).
    reason : str
        Why there is no object ('' when there is one): 'no_mesh', 'no_depth',
        'nothing_touched', 'clipped_away'.

    """

    mesh: trimesh.Trimesh | None
    points: np.ndarray
    reason: str = ''


def _support_plane(points: np.ndarray, config: HeldObjectConfig) -> np.ndarray:
    """Boolean mask of ``points`` on the supporting plane (all False when there is none)."""
    on_plane = np.zeros(len(points), bool)
    if len(points) < 50:
        return on_plane
    cloud = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    o3d.utility.random.seed(0)   # the same plane for the same frame
    _, inliers = cloud.segment_plane(config.plane_distance, 3, 200)
    inliers = np.asarray(inliers, int)
    if len(inliers) < config.min_plane_share * len(points):
        return on_plane
    extent = np.ptp(points[inliers], axis=0)
    if np.sort(extent)[-2] < config.min_plane_extent:   # the plane's second-largest side
        return on_plane
    on_plane[inliers] = True
    return on_plane


def _clusters(points: np.ndarray, voxel: float) -> np.ndarray:
    """Cluster label (>= 1) of each point: points in 26-connected voxels share one."""
    index = np.floor((points - points.min(0)) / voxel).astype(int)
    grid = np.zeros(index.max(0) + 1, bool)
    grid[tuple(index.T)] = True
    labels, _ = ndimage.label(grid, structure=np.ones((3, 3, 3), bool))
    return labels[tuple(index.T)]


def find_held_object(depth: np.ndarray, camera: CameraIntrinsics,
                     hand: trimesh.Trimesh | None, joints: np.ndarray,
                     obj: trimesh.Trimesh | None,
                     config: HeldObjectConfig | None = None) -> HeldObject:
    """
    Check the predicted object against the depth around the hand (see the module docstring).

    Parameters
    ----------
    depth : (H, W) float
        Depth in metres aligned to ``camera``'s image; 0 = missing.
    camera : CameraIntrinsics
        Intrinsics of the depth image.
    hand : trimesh.Trimesh or None
        The hand mesh (camera frame, m); without it the joints stand for the hand.
    joints : (21, 3) array
        Hand joints (camera frame, m).
    obj : trimesh.Trimesh or None
        The predicted object mesh.
    config : HeldObjectConfig, optional
        Settings (the defaults when omitted).

    Returns
    -------
    HeldObject

    """
    config = config or HeldObjectConfig()
    joints = np.asarray(joints, float)
    if joints.shape != (21, 3) or not np.all(np.isfinite(joints)):
        raise ValueError(f'joints must be 21 finite 3D points, got {joints.shape}')
    empty = np.zeros((0, 3))
    if obj is None or len(obj.faces) == 0:
        return HeldObject(None, empty, 'no_mesh')
    centre = joints.mean(0)
    # The pixels of a box around the sphere of interest, every stride-th one.
    corners = centre + config.radius * np.array([[sx, sy, 0.0] for sx in (-1, 1)
                                                  for sy in (-1, 1)])
    near = centre[2] - config.radius
    corners[:, 2] = max(near, 0.05)
    pixels = camera.project(corners)
    u0, v0 = np.clip(np.floor(pixels.min(0)).astype(int), 0, None)
    u1 = min(int(np.ceil(pixels[:, 0].max())) + 1, camera.width)
    v1 = min(int(np.ceil(pixels[:, 1].max())) + 1, camera.height)
    vs, us = np.mgrid[v0:v1:config.stride, u0:u1:config.stride]
    z = depth[vs, us]
    valid = z > 0
    us, vs, z = us[valid], vs[valid], z[valid]
    points = np.stack([(us - camera.cx) / camera.fx * z, (vs - camera.cy) / camera.fy * z, z],
                      axis=1)
    inside = np.linalg.norm(points - centre, axis=1) < config.radius
    us, vs, points = us[inside], vs[inside], points[inside]
    if len(points) < config.min_cluster_points:
        return HeldObject(None, empty, 'no_depth')

    hand_surface = hand if hand is not None and len(hand.faces) else None
    if hand_surface is not None:
        to_hand = surface_distance(hand_surface, points)
    else:
        to_hand = np.linalg.norm(points[:, None] - joints[None], axis=-1).min(1) - 0.01
    is_hand = to_hand < config.hand_margin
    rest = ~is_hand & ~_support_plane(points, config)
    if rest.sum() < config.min_cluster_points:
        return HeldObject(None, empty, 'nothing_touched')
    labels = _clusters(points[rest], config.cluster_voxel)
    counts = np.bincount(labels)
    touching = to_hand[rest] <= config.touch_distance
    at_wrist = np.zeros(len(touching), bool)
    if touching.any():
        near_joint = np.linalg.norm(points[rest][touching][:, None] - joints[None], axis=2)
        at_wrist[touching] = near_joint.argmin(axis=1) == 0
    touched = [label for label in np.unique(labels)
               if counts[label] >= config.min_cluster_points
               and touching[labels == label].any()
               and at_wrist[labels == label].sum()
               <= config.forearm_share * touching[labels == label].sum()]
    if not touched:
        return HeldObject(None, empty, 'nothing_touched')
    held = max(touched, key=lambda label: counts[label])
    held_rows = np.flatnonzero(rest)[labels == held]

    # Where the object may appear in the image: its cluster, and the hand in front of it.
    allowed = np.zeros((camera.height, camera.width), bool)
    for rows in (held_rows, np.flatnonzero(is_hand)):
        allowed[vs[rows], us[rows]] = True
    allowed = ndimage.binary_dilation(
        allowed, iterations=config.stride + config.silhouette_margin)
    centroids = np.asarray(obj.triangles_center)
    in_front = centroids[:, 2] > 1e-3
    uv = np.round(camera.project(np.where(in_front[:, None], centroids, 1.0))).astype(int)
    on_image = in_front & (uv[:, 0] >= 0) & (uv[:, 0] < camera.width) \
        & (uv[:, 1] >= 0) & (uv[:, 1] < camera.height)
    keep = np.zeros(len(centroids), bool)
    keep[on_image] = allowed[uv[on_image, 1], uv[on_image, 0]]
    if keep.sum() < config.min_faces:
        return HeldObject(None, points[held_rows], 'clipped_away')
    vertices, faces = largest_component(np.asarray(obj.vertices),
                                        np.asarray(obj.faces)[keep], connectivity='edge')
    used = np.unique(faces)
    remap = np.full(len(vertices), -1, np.int64)
    remap[used] = np.arange(len(used))
    mesh = trimesh.Trimesh(vertices[used], remap[faces], process=False)
    if len(mesh.faces) < config.min_faces:
        return HeldObject(None, points[held_rows], 'clipped_away')
    return HeldObject(mesh, points[held_rows])
