"""
Reconstruction metrics as the hand-object papers compute them (gSDF, C2F-SDF).

Surfaces are compared through 30,000 points sampled uniformly on each mesh (seeded here,
unseeded in the reference code). Distances are in centimetres: Chamfer distance is the
sum over both directions of the mean squared nearest-neighbour distance (cm^2); the
F-score at threshold t is 2PR / (P + R) with P the fraction of predicted points within t
of the ground truth and R the converse. Physical plausibility: penetration depth (cm),
intersection volume (cm^3) and whether hand and object touch.
"""

from __future__ import annotations

import numpy as np
import open3d as o3d
from scipy.spatial import cKDTree
import trimesh

SURFACE_SAMPLES = 30000
CM_PER_M = 100.0


def sample_surface(mesh: trimesh.Trimesh, count: int = SURFACE_SAMPLES,
                   seed: int = 0) -> np.ndarray:
    """
    ``count`` points uniform on the surface of ``mesh`` (area-weighted), fixed by ``seed``.

    Raises ValueError for an empty mesh.
    """
    if mesh is None or len(mesh.faces) == 0 or mesh.area <= 0:
        raise ValueError('cannot sample an empty mesh')
    points, _ = trimesh.sample.sample_surface(mesh, count, seed=seed)
    return np.asarray(points, np.float64)


def nearest_distances(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Distance from each ``source`` point (N, 3) to its nearest ``target`` point (M, 3)."""
    source, target = np.asarray(source, float), np.asarray(target, float)
    if len(source) == 0 or len(target) == 0:
        raise ValueError('point sets must not be empty')
    return cKDTree(target).query(source, workers=-1)[0]


def _chamfer(forward: np.ndarray, backward: np.ndarray) -> float:
    return float(np.mean((forward * CM_PER_M) ** 2) + np.mean((backward * CM_PER_M) ** 2))


def _f_score(forward: np.ndarray, backward: np.ndarray, threshold: float) -> float:
    if threshold <= 0:
        raise ValueError(f'threshold must be > 0, got {threshold}')
    precision = float(np.mean(forward <= threshold))
    recall = float(np.mean(backward <= threshold))
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def chamfer_cm2(predicted: np.ndarray, truth: np.ndarray) -> float:
    """
    Chamfer distance (cm^2) between two point sets given in metres.

    mean(d(pred -> truth)^2) + mean(d(truth -> pred)^2), distances in cm.
    """
    return _chamfer(nearest_distances(predicted, truth), nearest_distances(truth, predicted))


def f_score(predicted: np.ndarray, truth: np.ndarray, threshold: float) -> float:
    """
    F-score at ``threshold`` (metres) between two point sets in metres.

    Points exactly at the threshold count as matched.
    """
    return _f_score(nearest_distances(predicted, truth), nearest_distances(truth, predicted),
                    threshold)


def icp_translation_scale(source: np.ndarray, target: np.ndarray, iterations: int = 30,
                          tolerance: float = 1e-9) -> tuple[float, np.ndarray]:
    """
    Align ``source`` to ``target`` (N, 3) by ICP with a uniform scale and a translation.

    Each iteration pairs every source point with its nearest target point and every target
    point with its nearest moved source point, then solves min_{s, t} sum |s x + t - y|^2
    over all pairs in closed form (no rotation, as the papers' protocol). Pairing both ways
    keeps the scale from collapsing, which one-way nearest neighbours reward. Returns
    (s, t) such that ``s * source + t`` is aligned.
    """
    source, target = np.asarray(source, float), np.asarray(target, float)
    target_tree = cKDTree(target)
    scale, translation = 1.0, target.mean(0) - source.mean(0)
    previous = np.inf
    for _ in range(iterations):
        moved = scale * source + translation
        forward, to_target = target_tree.query(moved, workers=-1)
        backward, to_source = cKDTree(moved).query(target, workers=-1)
        x = np.concatenate([source, source[to_source]])
        y = np.concatenate([target[to_target], target])
        x_mean, y_mean = x.mean(0), y.mean(0)
        scale = float(np.sum((x - x_mean) * (y - y_mean)) /
                      max(np.sum((x - x_mean) ** 2), 1e-12))
        translation = y_mean - scale * x_mean
        error = float(np.mean(forward ** 2) + np.mean(backward ** 2))
        if abs(previous - error) < tolerance:
            break
        previous = error
    return scale, translation


def _raycasting_scene(mesh: trimesh.Trimesh) -> o3d.t.geometry.RaycastingScene:
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(np.asarray(mesh.vertices, np.float32)),
                        o3d.core.Tensor(np.asarray(mesh.faces, np.uint32)))
    return scene


def signed_distance(mesh: trimesh.Trimesh, points: np.ndarray) -> np.ndarray:
    """Signed distance (m, negative inside) of ``points`` to a closed ``mesh``."""
    points = np.asarray(points, np.float32).reshape(-1, 3)
    return _raycasting_scene(mesh).compute_signed_distance(
        o3d.core.Tensor(points)).numpy().astype(np.float64)


def penetration_depth_cm(hand: trimesh.Trimesh, obj: trimesh.Trimesh) -> float:
    """Deepest hand vertex inside the object (cm); 0 if none is inside."""
    inside = -signed_distance(obj, hand.vertices)
    return float(max(inside.max(), 0.0) * CM_PER_M)


def intersection_volume_cm3(hand: trimesh.Trimesh, obj: trimesh.Trimesh,
                            voxel: float = 0.005) -> float:
    """
    Volume inside both meshes (cm^3).

    Counted on a grid of ``voxel`` metres (0.5 cm, as the papers' voxelised measure) over
    the overlap of the bounding boxes.
    """
    low = np.maximum(hand.bounds[0], obj.bounds[0])
    high = np.minimum(hand.bounds[1], obj.bounds[1])
    if np.any(high <= low):
        return 0.0
    axes = [np.arange(a + voxel / 2, b, voxel) for a, b in zip(low, high, strict=True)]
    if any(len(a) == 0 for a in axes):
        return 0.0
    grid = np.stack(np.meshgrid(*axes, indexing='ij'), -1).reshape(-1, 3)
    both = (signed_distance(hand, grid) < 0) & (signed_distance(obj, grid) < 0)
    return float(both.sum() * (voxel * CM_PER_M) ** 3)


def in_contact(hand: trimesh.Trimesh, obj: trimesh.Trimesh, distance: float = 0.002) -> bool:
    """Whether some hand vertex is inside the object or within ``distance`` (m) of it."""
    return bool(signed_distance(obj, hand.vertices).min() <= distance)


def surface_metrics(predicted: np.ndarray, truth: np.ndarray,
                    thresholds: dict[str, float]) -> dict[str, float]:
    """
    Chamfer (key 'cd') and F-scores (keys of ``thresholds``, metres) of two point sets.

    The nearest-neighbour distances are computed once for all of them.
    """
    forward = nearest_distances(predicted, truth)
    backward = nearest_distances(truth, predicted)
    out = {'cd': _chamfer(forward, backward)}
    for name, threshold in thresholds.items():
        out[name] = _f_score(forward, backward, threshold)
    return out
