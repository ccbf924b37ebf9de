"""
Evaluate a trained model on a synthetic folder under the two protocols.

``paper``       as gSDF / C2F-SDF: crop and normalisation around the ground-truth hand
                root; the predicted hand is aligned to the ground truth by ICP
                (translation + uniform scale) and the same transform moves the object.
``deployable``  no ground truth at test time beyond a rough localisation: the crop starts
                at the ground-truth root moved by Gaussian noise (``root_noise``, standing
                in for a hand detector), the root is then re-estimated from the predicted
                wrist, the model runs again there, and nothing is aligned.

Both score the meshes in the camera frame with ``c2f_sdf_ros.eval.metrics``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
import math

import numpy as np
import torch
import trimesh

from c2f_sdf_ros.data.labelled import FrameSource, LabelledFrame
from c2f_sdf_ros.eval import metrics
from c2f_sdf_ros.model.c2f_sdf import C2FSDF
from c2f_sdf_ros.reconstruct.meshing import field_meshes, narrow_band_grid
from c2f_sdf_ros.train.sample import CropConfig, make_sample, model_input

PROTOCOLS = ('paper', 'deployable')
HAND_THRESHOLDS = {'f_h@1': 0.001, 'f_h@5': 0.005}
OBJECT_THRESHOLDS = {'f_o@5': 0.005, 'f_o@10': 0.010}
METRIC_KEYS = ('cd_h', 'f_h@1', 'f_h@5', 'cd_o', 'f_o@5', 'f_o@10', 'penetration_cm',
               'intersection_cm3', 'contact', 'root_error_mm')


@dataclass(frozen=True)
class EvalConfig:
    """
    Settings of an evaluation run.

    Attributes
    ----------
    resolution : int
        Lattice side over the normalised cube (128 as the papers).
    samples : int
        Surface points per mesh (30,000 as the papers).
    seed : int
        Seeds surface sampling, depth point sampling and the deployable root noise.
    root_noise : float
        Std (m, per axis) of the deployable protocol's initial root error.
    crop_half_extent, depth_half_range : float
        Crop settings (as in training).
    contact_distance : float
        A hand within this distance (m) of the object counts as in contact.

    """

    resolution: int = 128
    samples: int = metrics.SURFACE_SAMPLES
    seed: int = 0
    root_noise: float = 0.015
    crop_half_extent: float = 0.16
    depth_half_range: float = 0.25
    contact_distance: float = 0.002

    def to_dict(self) -> dict:
        """Plain dict."""
        return asdict(self)


@dataclass
class Prediction:
    """Model output for one frame, camera frame in metres."""

    hand: trimesh.Trimesh | None
    object: trimesh.Trimesh | None
    joints: np.ndarray          # (21, 3)
    object_center: np.ndarray   # (3,)
    root: np.ndarray            # (3,) the root the crop was built around
    queries: int


class ModelRunner:
    """Runs a model on frames: encode once, mesh both surfaces on the lattice."""

    def __init__(self, model: C2FSDF, config: EvalConfig, device: str | torch.device = 'cpu'):
        self.model = model.eval().to(device)
        self.device = torch.device(device)
        m = model.config
        self.crop = CropConfig(m.image_size, config.crop_half_extent, config.depth_half_range,
                               m.num_points, m.norm_scale)
        self.config = config

    def _to_camera(self, normalised: np.ndarray, root: np.ndarray) -> np.ndarray:
        return np.asarray(normalised, float) * (2.0 / self.crop.norm_scale) + root

    @torch.no_grad()
    def encode(self, color, depth, camera, root, rng):
        """Model encoding of the crop around ``root``."""
        sample = make_sample(color, depth, camera, root, self.crop, rng)
        return self.model.encode(model_input(sample, self.device))

    @torch.no_grad()
    def refine_root(self, color, depth, camera, root, rng) -> np.ndarray:
        """The predicted wrist (camera frame) of the crop around ``root``."""
        encoding = self.encode(color, depth, camera, root, rng)
        return self._to_camera(encoding.joints[0, 0].cpu().numpy(), root)

    @torch.no_grad()
    def predict(self, color, depth, camera, root, rng) -> Prediction:
        """Meshes, joints and centre from the crop around ``root``."""
        root = np.asarray(root, float)
        encoding = self.encode(color, depth, camera, root, rng)

        def query(points: torch.Tensor) -> torch.Tensor:
            out = self.model.query(encoding, points[None], coarse=False)
            return torch.stack([out['fine_hand'][0], out['fine_object'][0]], -1).float()

        values, count = narrow_band_grid(query, self.config.resolution,
                                         start=min(32, self.config.resolution),
                                         device=self.device)
        meshes = field_meshes(values, lambda v: self._to_camera(v, root))
        return Prediction(meshes[0], meshes[1],
                          self._to_camera(encoding.joints[0].cpu().numpy(), root),
                          self._to_camera(encoding.object_center[0].cpu().numpy(), root),
                          root, count)


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


def score(prediction: Prediction, truth: Truth, true_root: np.ndarray, align: bool,
          config: EvalConfig) -> dict:
    """Metrics of one prediction (NaN where a mesh is missing)."""
    out = {key: math.nan for key in METRIC_KEYS}
    out['root_error_mm'] = float(np.linalg.norm(prediction.joints[0] - true_root) * 1000)
    truth_h, truth_o = truth.hand_points, truth.object_points
    scale, translation = 1.0, np.zeros(3)
    if prediction.hand is not None:
        pred_h = metrics.sample_surface(prediction.hand, config.samples, config.seed + 2)
        if align:
            scale, translation = metrics.icp_translation_scale(pred_h, truth_h)
            pred_h = scale * pred_h + translation
        hand = metrics.surface_metrics(pred_h, truth_h, HAND_THRESHOLDS)
        out.update({'cd_h': hand['cd'], **{k: hand[k] for k in HAND_THRESHOLDS}})
    if prediction.object is not None:
        pred_o = metrics.sample_surface(prediction.object, config.samples, config.seed + 3)
        pred_o = scale * pred_o + translation
        obj = metrics.surface_metrics(pred_o, truth_o, OBJECT_THRESHOLDS)
        out.update({'cd_o': obj['cd'], **{k: obj[k] for k in OBJECT_THRESHOLDS}})
    if prediction.hand is not None and prediction.object is not None:
        hand_mesh = prediction.hand.copy().apply_scale(scale).apply_translation(translation)
        obj_mesh = prediction.object.copy().apply_scale(scale).apply_translation(translation)
        out['penetration_cm'] = metrics.penetration_depth_cm(hand_mesh, obj_mesh)
        out['intersection_cm3'] = metrics.intersection_volume_cm3(hand_mesh, obj_mesh)
        out['contact'] = float(metrics.in_contact(hand_mesh, obj_mesh,
                                                  config.contact_distance))
    return out


def evaluate_frame(runner: ModelRunner, frame: LabelledFrame, truth: Truth, index: int,
                   protocols=PROTOCOLS) -> tuple[dict[str, dict], dict[str, Prediction]]:
    """Per-protocol metrics and predictions of one frame."""
    config = runner.config
    results, predictions = {}, {}
    for protocol in protocols:
        rng = np.random.default_rng([config.seed, index])
        if protocol == 'paper':
            root = frame.root
        else:
            start = frame.root + rng.normal(0.0, config.root_noise, 3)
            root = runner.refine_root(frame.color, frame.depth, frame.camera, start, rng)
        prediction = runner.predict(frame.color, frame.depth, frame.camera, root, rng)
        predictions[protocol] = prediction
        results[protocol] = score(prediction, truth, frame.root,
                                  align=protocol == 'paper', config=config)
        results[protocol]['queries'] = prediction.queries
    return results, predictions


def summarise(per_frame: list[dict]) -> dict:
    """Means over frames where the metric exists, and how many frames lacked a mesh."""
    summary = {'frames': len(per_frame)}
    for key in METRIC_KEYS:
        values = np.array([row[key] for row in per_frame], float)
        finite = values[np.isfinite(values)]
        summary[key] = float(finite.mean()) if len(finite) else math.nan
    summary['missing_hand'] = int(sum(not np.isfinite(row['cd_h']) for row in per_frame))
    summary['missing_object'] = int(sum(not np.isfinite(row['cd_o']) for row in per_frame))
    return summary


def load_truth(source: FrameSource, index: int, config: EvalConfig) -> Truth:
    """Ground-truth hand and object meshes of frame ``index``, sampled."""
    return Truth.from_meshes(*source.meshes(index), config)
