"""The C2F-SDF model: RGB-D crop and depth points in, hand/object signed distances out."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
import torch.nn.functional as F  # noqa: N812

from c2f_sdf_ros.model.config import ModelConfig
from c2f_sdf_ros.model.decoders import SdfDecoder
from c2f_sdf_ros.model.encoder import RgbdEncoder
from c2f_sdf_ros.model.heads import (
    NUM_JOINTS,
    DenseJointHead,
    HeatmapHead,
    JointBackProjection,
    JointHead,
    ObjectCenterHead,
)
from c2f_sdf_ros.model.pifu import PointAlignedFeature, PointEmbedding, nearest_points


@dataclass
class ModelInput:
    """
    One batch of model inputs (B images), all prepared without ROS by the data pipeline.

    Attributes
    ----------
    rgb : (B, 3, S, S) float
        Colour crop, normalised (ImageNet mean/std).
    depth : (B, 1, S, S) float
        Depth crop, clamped around the hand root and scaled to [-1, 1], background +1.
    crop_K : (B, 3, 3) float
        Intrinsics of the S x S crop (pixels).
    root : (B, 3) float
        Hand root in the camera frame (metres); normalised = (x - root) * s / 2.
    points : (B, N, 3) float
        Depth points in normalised coordinates.
    points_valid : (B, N) bool
        Which depth points exist (a crop may have fewer than N valid depths).

    """

    rgb: torch.Tensor
    depth: torch.Tensor
    crop_K: torch.Tensor
    root: torch.Tensor
    points: torch.Tensor
    points_valid: torch.Tensor


@dataclass
class Encoding:
    """What the model computes once per image and reuses for every query batch."""

    feature_map: torch.Tensor      # (B, C, S/4, S/4)
    global_feature: torch.Tensor   # (B, G)
    joints: torch.Tensor           # (B, 21, 3) normalised (hand root at 0)
    object_center: torch.Tensor    # (B, 3) normalised
    heatmap: torch.Tensor          # (B, 2, H, H, H)
    point_features: torch.Tensor | None   # (B, N, C)
    point_sdf: torch.Tensor | None        # (B, N, 2) coarse (hand, object)
    point_valid: torch.Tensor | None      # (B, N) after semantic masking
    points: torch.Tensor                  # (B, N, 3)
    crop_K: torch.Tensor
    root: torch.Tensor
    # (B, 21, 3) the joint head's own prediction, whatever guided the decoders (``joints``)
    head_joints: torch.Tensor | None = None


# The two surfaces, in the order of every (..., 2) output.
BRANCHES = ('hand', 'object')


class C2FSDF(nn.Module):
    """
    Coarse-to-fine SDF model (see ModelConfig for the variants of the paper's Table 1).

    ``encode`` runs the encoder and heads once per image; ``query`` maps (B, Q, 3)
    normalised query points to coarse and fine hand/object signed distances (B, Q).
    """

    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        config = config if config is not None else ModelConfig()
        self.config = config
        c, g = config.feature_channels, config.global_channels
        self.encoder = RgbdEncoder(config.base_channels, c, g, use_depth=config.uses_depth)
        if config.joint_head == 'dense':
            self.joint_head = DenseJointHead(c, config.image_size)
            self.joint_projection = JointBackProjection(config.norm_scale)
        else:
            self.joint_head = JointHead(g)
        self.center_head = ObjectCenterHead(g, config.center_bins,
                                            config.center_range * config.norm_scale / 2)
        self.heatmap_head = HeatmapHead(g, config.heatmap_size)
        guidance = 3 * NUM_JOINTS if config.joint_guidance else 0
        decoder = dict(width=config.decoder_width, hidden_layers=config.decoder_layers,
                       dropout=config.decoder_dropout)
        self.coarse_hand = SdfDecoder(g + 3 + guidance, **decoder)
        self.coarse_object = SdfDecoder(g + 3 + guidance, **decoder)
        fine_in = (c + 4) + 3 + guidance + (c if config.uses_points else 0)
        self.fine_hand = SdfDecoder(fine_in, **decoder)
        self.fine_object = SdfDecoder(fine_in, **decoder)
        if config.uses_points:
            self.point_embedding = PointEmbedding(c, use_sdf=config.uses_semantics)
            self.pifu_hand = PointAlignedFeature(config.neighbours, config.uses_semantics)
            self.pifu_object = PointAlignedFeature(config.neighbours, config.uses_semantics)

    # -- geometry ---------------------------------------------------------------------------
    def _to_camera(self, normalised: torch.Tensor, root: torch.Tensor) -> torch.Tensor:
        return normalised * (2.0 / self.config.norm_scale) + root[:, None]

    def _pixel_aligned(self, feature_map, queries, crop_K, root) -> torch.Tensor:
        """Map features at the queries' projections, plus their depth and view direction."""
        camera = self._to_camera(queries, root)
        z = camera[..., 2:3].clamp_min(1e-3)
        uv = torch.einsum('bij,bqj->bqi', crop_K[:, :2, :2], camera[..., :2] / z) \
            + crop_K[:, None, :2, 2]
        size = self.config.image_size
        grid = (uv + 0.5) / size * 2.0 - 1.0
        sampled = F.grid_sample(feature_map, grid[:, :, None], mode='bilinear',
                                padding_mode='border', align_corners=False)
        sampled = sampled[..., 0].transpose(1, 2)                 # (B, Q, C)
        view = F.normalize(camera, dim=-1)
        return torch.cat([sampled, queries[..., 2:3], view], -1)

    def _guidance(self, queries, joints) -> list[torch.Tensor]:
        if not self.config.joint_guidance:
            return []
        offsets = queries[:, :, None] - joints[:, None]           # (B, Q, 21, 3)
        return [offsets.flatten(2)]

    # -- model ------------------------------------------------------------------------------
    def _joints(self, feature_map, global_feature, inputs: ModelInput) -> torch.Tensor:
        """The joint head's 21 joints (B, 21, 3), normalised around the root."""
        if self.config.joint_head == 'dense':
            return self.joint_projection(self.joint_head(feature_map), inputs.crop_K,
                                         inputs.root)
        return self.joint_head(global_feature)

    def _coarse(self, global_feature, queries, joints):
        g = global_feature[:, None].expand(-1, queries.shape[1], -1)
        x = torch.cat([g, queries, *self._guidance(queries, joints)], -1)
        return self.coarse_hand(x), self.coarse_object(x)

    def encode(self, inputs: ModelInput, joints: torch.Tensor | None = None,
               use_joints: torch.Tensor | None = None) -> Encoding:
        """
        Encoder, heads and (for point variants) the depth points' features.

        ``joints`` (B, 21, 3), normalised, replace the joint head's prediction as the
        decoders' guidance (joints measured by a hand detector); None: the joint head's.
        ``use_joints`` (B,) bool, optional: replace it only for those images (training
        mixes perturbed ground-truth joints with the head's own prediction).
        """
        config = self.config
        depth = inputs.depth if config.uses_depth else None
        feature_map, global_feature = self.encoder(inputs.rgb, depth)
        head_joints = self._joints(feature_map, global_feature, inputs)
        if joints is None:
            joints = head_joints
        elif joints.shape != (inputs.rgb.shape[0], NUM_JOINTS, 3):
            raise ValueError(f'joints must be (B, {NUM_JOINTS}, 3), got {tuple(joints.shape)}')
        elif use_joints is not None:
            if use_joints.shape != (inputs.rgb.shape[0],):
                raise ValueError(f'use_joints must be (B,), got {tuple(use_joints.shape)}')
            joints = torch.where(use_joints[:, None, None], joints.to(head_joints.dtype),
                                 head_joints)
        center = self.center_head(global_feature)
        heatmap = self.heatmap_head(global_feature)
        point_features = point_sdf = point_valid = None
        if config.uses_points:
            sampled = self._pixel_aligned(feature_map, inputs.points, inputs.crop_K,
                                          inputs.root)[..., :config.feature_channels]
            point_valid = inputs.points_valid
            if config.uses_semantics:
                point_sdf = torch.stack(self._coarse(global_feature, inputs.points, joints), -1)
                near = point_sdf.abs().amin(-1) < config.semantic_threshold
                semantic = point_valid & near
                # Too few points near a surface (early training): keep all valid ones.
                enough = semantic.sum(-1, keepdim=True) >= config.neighbours
                point_valid = torch.where(enough, semantic, point_valid)
            point_features = self.point_embedding(sampled, inputs.points, point_sdf)
        return Encoding(feature_map, global_feature, joints, center, heatmap, point_features,
                        point_sdf, point_valid, inputs.points, inputs.crop_K, inputs.root,
                        head_joints)

    def query(self, encoding: Encoding, queries: torch.Tensor, coarse: bool = True,
              branches: tuple[str, ...] = BRANCHES) -> dict[str, torch.Tensor]:
        """
        Signed distances (B, Q) of hand and object at ``queries`` (B, Q, 3).

        Keys ``fine_<branch>`` for each of ``branches`` ('hand', 'object'), and with
        ``coarse`` also coarse_hand, coarse_object (meshing needs only the fine ones, and
        sparse meshing often only one branch at a point).
        """
        unknown = set(branches) - set(BRANCHES)
        if unknown or not branches:
            raise ValueError(f'branches must be a non-empty subset of {BRANCHES}, got '
                             f'{branches}')
        parts = [self._pixel_aligned(encoding.feature_map, queries, encoding.crop_K,
                                     encoding.root), queries,
                 *self._guidance(queries, encoding.joints)]
        neighbours = None
        if self.config.uses_points:
            neighbours = nearest_points(queries, encoding.points, encoding.point_valid,
                                        self.config.neighbours)
        out = {}
        for index, branch in enumerate(BRANCHES):
            if branch not in branches:
                continue
            branch_parts = list(parts)
            if self.config.uses_points:
                sdf = encoding.point_sdf
                pifu = self.pifu_hand if branch == 'hand' else self.pifu_object
                branch_parts.append(pifu(
                    queries, encoding.points, encoding.point_features,
                    None if sdf is None else sdf[..., index], encoding.point_valid,
                    neighbours))
            decoder = self.fine_hand if branch == 'hand' else self.fine_object
            out[f'fine_{branch}'] = decoder(torch.cat(branch_parts, -1))
        if coarse:
            out['coarse_hand'], out['coarse_object'] = self._coarse(
                encoding.global_feature, queries, encoding.joints)
        return out

    def forward(self, inputs: ModelInput, queries: torch.Tensor,
                guidance: torch.Tensor | None = None,
                use_guidance: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """
        Everything for training: heads and signed distances at ``queries`` (B, Q, 3).

        ``guidance`` (B, 21, 3) and ``use_guidance`` (B,) as ``encode``'s ``joints`` and
        ``use_joints``; ``joints`` in the output is always the joint head's prediction.
        """
        encoding = self.encode(inputs, guidance, use_guidance)
        out = self.query(encoding, queries)
        out.update(joints=encoding.head_joints, object_center=encoding.object_center,
                   heatmap=encoding.heatmap)
        if encoding.point_sdf is not None:
            out['point_sdf'] = encoding.point_sdf
        return out
