"""
Evaluate a trained model on labelled frames under the two protocols.

Both run the very ``Reconstructor`` the node runs (no second inference engine):

``paper``       as gSDF / C2F-SDF: crop and normalisation around the ground-truth hand
                root, no re-centring, the evaluation's narrow-band lattice; the predicted
                hand is aligned to the ground truth by ICP (translation + uniform scale)
                and the same transform moves the object.
``deployable``  what a user gets: the pipeline as configured for the node (localiser,
                re-centring on the predicted wrist, SER), no ground truth and nothing
                aligned. Frames where it finds no hand count as misses.

Both score the meshes in the camera frame with ``c2f_sdf_ros.eval.metrics``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import math

import numpy as np
import torch
import trimesh

from c2f_sdf_ros.data.labelled import FrameSource, LabelledFrame
from c2f_sdf_ros.eval import metrics
from c2f_sdf_ros.geometry.mesh import MeshSdf
from c2f_sdf_ros.model.inputs import to_camera
from c2f_sdf_ros.reconstruct.meshing import tight_box_meshes
from c2f_sdf_ros.reconstruct.pipeline import Reconstruction, Reconstructor

PROTOCOLS = ('paper', 'deployable')
HAND_THRESHOLDS = {'f_h@1': 0.001, 'f_h@5': 0.005}
OBJECT_THRESHOLDS = {'f_o@5': 0.005, 'f_o@10': 0.010}
METRIC_KEYS = ('cd_h', 'f_h@1', 'f_h@5', 'cd_o', 'f_o@5', 'f_o@10', 'penetration_cm',
               'intersection_cm3', 'contact', 'root_error_mm')


@dataclass(frozen=True)
class EvalConfig:
    """
    How every frame is meshed and scored, the same under both protocols.

    ``resolution`` and ``samples`` default to what gSDF and C2F-SDF report their DexYCB and
    ObMan numbers with, so that the table reads beside theirs.

    Attributes
    ----------
    resolution : int
        Lattice side over the normalised cube (128 as the papers).
    samples : int
        Surface points per mesh for Chamfer and F-scores (30,000 as the papers).
    seed : int
        Seeds surface sampling and depth point sampling.
    contact_distance : float
        A hand within this distance (m) of the object counts as in contact.

    """

    resolution: int = 128
    samples: int = metrics.SURFACE_SAMPLES
    seed: int = 0
    contact_distance: float = 0.002



def protocol_reconstructors(reconstructor: Reconstructor, config: EvalConfig
                            ) -> dict[str, Reconstructor]:
    """
    The pipeline of each protocol, sharing ``reconstructor``'s loaded model.

    ``paper``: ground-truth root given, no re-centring, the reference's two-pass lattice
    (``config.resolution`` over the cube, then over the tight box of each inside), the
    model's object as it is. ``deployable``:
    ``reconstructor``'s own settings (the node's) at ``config.resolution``.
    """
    base = reconstructor.config
    return {
        'paper': reconstructor.with_config(dataclasses.replace(
            base, resolution=config.resolution, lattice='tight', refine_iterations=0,
            held_object=None, depth_align=False)),
        'deployable': reconstructor.with_config(dataclasses.replace(
            base, resolution=config.resolution)),
    }


@dataclass
class Truth:
    """Ground-truth meshes of one frame (camera frame) and their surface samples."""

    hand: trimesh.Trimesh
    object: trimesh.Trimesh
    hand_points: np.ndarray     # (samples, 3)
    object_points: np.ndarray   # (samples, 3)

    @classmethod
    def from_meshes(cls, hand: trimesh.Trimesh, obj: trimesh.Trimesh,
                    config: EvalConfig) -> Truth:
        """Sample both surfaces once (shared by every model and protocol)."""
        return cls(hand, obj, metrics.sample_surface(hand, config.samples, config.seed),
                   metrics.sample_surface(obj, config.samples, config.seed + 1))


def score(prediction: Reconstruction, truth: Truth, true_root: np.ndarray, align: bool,
          config: EvalConfig) -> dict:
    """Metrics of one prediction (NaN where a mesh is missing or no hand was found)."""
    out = {key: math.nan for key in METRIC_KEYS}
    if not prediction.found:
        return out
    out['root_error_mm'] = float(np.linalg.norm(prediction.joints[0] - true_root) * 1000)
    truth_h, truth_o = truth.hand_points, truth.object_points
    scale, translation = 1.0, np.zeros(3)
    if prediction.hand_mesh is not None:
        pred_h = metrics.sample_surface(prediction.hand_mesh, config.samples, config.seed + 2)
        if align:
            scale, translation = metrics.icp_translation_scale(pred_h, truth_h)
            pred_h = scale * pred_h + translation
        hand = metrics.surface_metrics(pred_h, truth_h, HAND_THRESHOLDS)
        out.update({'cd_h': hand['cd'], **{k: hand[k] for k in HAND_THRESHOLDS}})
    if prediction.object_mesh is not None:
        pred_o = metrics.sample_surface(prediction.object_mesh, config.samples,
                                        config.seed + 3)
        pred_o = scale * pred_o + translation
        obj = metrics.surface_metrics(pred_o, truth_o, OBJECT_THRESHOLDS)
        out.update({'cd_o': obj['cd'], **{k: obj[k] for k in OBJECT_THRESHOLDS}})
    if prediction.hand_mesh is not None and prediction.object_mesh is not None:
        hand_mesh = prediction.hand_mesh.copy().apply_scale(scale).apply_translation(
            translation)
        obj_mesh = prediction.object_mesh.copy().apply_scale(scale).apply_translation(
            translation)
        out['penetration_cm'] = metrics.penetration_depth_cm(hand_mesh, obj_mesh)
        out['intersection_cm3'] = metrics.intersection_volume_cm3(hand_mesh, obj_mesh)
        out['contact'] = float(metrics.in_contact(hand_mesh, obj_mesh,
                                                  config.contact_distance))
    return out


def evaluate_frame(pipelines: dict[str, Reconstructor], frame: LabelledFrame, truth: Truth,
                   index: int, config: EvalConfig
                   ) -> tuple[dict[str, dict], dict[str, Reconstruction]]:
    """
    Per-protocol metrics and reconstructions of one frame.

    ``pipelines`` maps protocol names to their ``Reconstructor`` (see
    ``protocol_reconstructors``); the paper protocol gets the ground-truth root.
    """
    results, predictions = {}, {}
    for protocol, pipeline in pipelines.items():
        rng = np.random.default_rng([config.seed, index])
        # The paper protocol gives the ground-truth root and side (as the reference crops
        # right hands); the deployable one finds both.
        root = frame.root if protocol == 'paper' else None
        prediction = pipeline.reconstruct(frame.color, frame.depth, frame.camera.K, root=root,
                                          rng=rng, side=frame.side)
        predictions[protocol] = prediction
        results[protocol] = score(prediction, truth, frame.root,
                                  align=protocol == 'paper', config=config)
        results[protocol]['found'] = float(prediction.found)
        results[protocol]['queries'] = prediction.queries
    return results, predictions


def summarise(per_frame: list[dict]) -> dict:
    """Means over frames where the metric exists, and how many frames lacked a mesh."""
    summary = {'frames': len(per_frame)}
    for key in METRIC_KEYS:
        values = np.array([row[key] for row in per_frame], float)
        finite = values[np.isfinite(values)]
        summary[key] = float(finite.mean()) if len(finite) else math.nan
    summary['missed'] = int(sum(not row.get('found', 1.0) for row in per_frame))
    summary['missing_hand'] = int(sum(not np.isfinite(row['cd_h']) for row in per_frame))
    summary['missing_object'] = int(sum(not np.isfinite(row['cd_o']) for row in per_frame))
    return summary


def truth_field(frame: LabelledFrame, truth: Truth, norm_scale: float,
                config: EvalConfig) -> Reconstruction:
    """
    The ground-truth fields meshed the way the papers' protocol meshes the model's.

    Scoring it gives the protocol's ceiling: what a perfect field reaches at this lattice
    (a single 64^3 lattice caps F_o@10 mm at 0.84; the tight second pass lifts that).
    """
    root = np.asarray(frame.root, float)
    distances = [MeshSdf.from_mesh(truth.hand), MeshSdf.from_mesh(truth.object)]
    scale = norm_scale / 2.0

    def query(points: torch.Tensor, fields: tuple[int, ...] = (0, 1)) -> torch.Tensor:
        camera = to_camera(points.cpu().numpy(), root, norm_scale)
        columns = [distances[f](camera) * scale for f in fields]
        return torch.as_tensor(np.stack(columns, -1), dtype=torch.float32)

    meshes, count = tight_box_meshes(query, 2, config.resolution,
                                     start=min(32, config.resolution))
    hand, obj = (None if m is None else trimesh.Trimesh(to_camera(m.vertices, root, norm_scale),
                                                        m.faces, process=False)
                 for m in meshes)
    return Reconstruction(True, hand, obj, np.repeat(root[None], 21, 0), root, root,
                          queries=count)


def load_truth(source: FrameSource, index: int, config: EvalConfig) -> Truth:
    """Ground-truth hand and object meshes of frame ``index``, sampled."""
    return Truth.from_meshes(*source.meshes(index), config)
