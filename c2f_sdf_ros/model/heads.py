"""
Prediction heads: joints, object centre and volumetric heatmap.

All but ``DenseJointHead`` read the global feature; that one reads the feature map and
gives each joint as pixel and depth (2.5D), which ``JointBackProjection`` lifts to 3D.
"""

from __future__ import annotations

import torch
from torch import nn

NUM_JOINTS = 21


class JointHead(nn.Module):
    """Global feature (B, G) -> 21 joints (B, 21, 3), normalised, relative to the hand root."""

    def __init__(self, global_channels: int, hidden: int = 256):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(global_channels, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, NUM_JOINTS * 3))

    def forward(self, global_feature: torch.Tensor) -> torch.Tensor:
        """Predict the joints."""
        return self.mlp(global_feature).view(-1, NUM_JOINTS, 3)


class SoftArgmax2d(nn.Module):
    """
    Expected pixel of each heatmap under its softmax (integral regression).

    Input: logits (B, J, H, W). Output: (uv, probabilities) with uv (B, J, 2) the expected
    (column, row) in map pixels, pixel centres at integers, and probabilities (B, J, H, W)
    summing to 1 over each map. Computed in float32 whatever the input's precision.
    """

    def forward(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Softmax over each map, then the expected column and row."""
        batch, joints, height, width = logits.shape
        probabilities = torch.softmax(logits.float().flatten(2), -1).view(
            batch, joints, height, width)
        columns = torch.arange(width, device=logits.device, dtype=torch.float32)
        rows = torch.arange(height, device=logits.device, dtype=torch.float32)
        u = (probabilities.sum(2) * columns).sum(-1)
        v = (probabilities.sum(3) * rows).sum(-1)
        return torch.stack([u, v], -1), probabilities


class DenseJointHead(nn.Module):
    """
    Feature map (B, C, h, w) of an S x S crop -> 21 joints in 2.5D, (B, 21, 3).

    A 3x3 conv block, then per joint a heatmap (logits) and a relative-depth map, each
    (B, 21, h, w). Each joint is the soft-argmax of its heatmap, converted to crop pixels
    (u, v), and the heatmap-weighted mean of its depth map, z: the depth relative to the
    hand root in normalised units ((z_cam - root_z) * s / 2). Output (u, v, z). The last
    conv starts near zero (flat heatmaps, zero depths), so an untrained head puts every
    joint near the crop centre (the root's projection) at the root's depth.
    """

    def __init__(self, channels: int, image_size: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or channels
        self.image_size = image_size
        self.block = nn.Sequential(nn.Conv2d(channels, hidden, 3, 1, 1, bias=False),
                                   nn.BatchNorm2d(hidden), nn.ReLU(inplace=True))
        self.out = nn.Conv2d(hidden, 2 * NUM_JOINTS, 1)
        nn.init.normal_(self.out.weight, std=1e-3)
        nn.init.zeros_(self.out.bias)
        self.soft_argmax = SoftArgmax2d()

    def forward(self, feature_map: torch.Tensor) -> torch.Tensor:
        """Predict (u, v, z) per joint."""
        maps = self.out(self.block(feature_map))
        logits, depth = maps[:, :NUM_JOINTS], maps[:, NUM_JOINTS:]
        uv, probabilities = self.soft_argmax(logits)
        # Map pixel j covers crop pixels [j * stride, (j + 1) * stride): its centre is crop
        # coordinate (j + 0.5) * stride - 0.5 (crop pixel centres at integers too).
        stride = self.image_size / feature_map.shape[-1]
        uv = (uv + 0.5) * stride - 0.5
        z = (probabilities * depth.float()).sum((2, 3))
        return torch.cat([uv, z[..., None]], -1)


class JointBackProjection(nn.Module):
    """
    2.5D joints -> 3D joints in normalised coordinates around the hand root.

    Inputs: uvz (B, J, 3) as ``DenseJointHead`` gives it (crop pixels, normalised depth
    relative to the root), crop_K (B, 3, 3) the crop's intrinsics, root (B, 3) the hand
    root in the camera frame (m). Output (B, J, 3): (x_cam - root) * s / 2 with x_cam the
    pixel's ray at depth root_z + z * 2 / s (at least 1 mm).
    """

    def __init__(self, norm_scale: float):
        super().__init__()
        self.half_scale = norm_scale / 2.0

    def forward(self, uvz: torch.Tensor, crop_K: torch.Tensor,
                root: torch.Tensor) -> torch.Tensor:
        """Back-project each joint along its pixel's ray."""
        uvz, crop_K, root = uvz.float(), crop_K.float(), root.float()
        z = (root[:, None, 2] + uvz[..., 2] / self.half_scale).clamp_min(1e-3)
        x = (uvz[..., 0] - crop_K[:, None, 0, 2]) / crop_K[:, None, 0, 0] * z
        y = (uvz[..., 1] - crop_K[:, None, 1, 2]) / crop_K[:, None, 1, 1] * z
        return (torch.stack([x, y, z], -1) - root[:, None]) * self.half_scale


class ObjectCenterHead(nn.Module):
    """
    Global feature (B, G) -> object centre (B, 3), normalised, by soft-argmax.

    Each axis is a distribution over ``bins`` positions spanning +-``half_range``
    (normalised units) around the hand root.
    """

    def __init__(self, global_channels: int, bins: int = 64, half_range: float = 1.0):
        super().__init__()
        self.logits = nn.Linear(global_channels, 3 * bins)
        self.register_buffer('positions', torch.linspace(-half_range, half_range, bins))
        self.bins = bins

    def forward(self, global_feature: torch.Tensor) -> torch.Tensor:
        """Predict the centre."""
        probabilities = torch.softmax(self.logits(global_feature).view(-1, 3, self.bins), -1)
        return (probabilities * self.positions).sum(-1)


class HeatmapHead(nn.Module):
    """
    Global feature (B, G) -> volumetric heatmaps (B, 2, S, S, S).

    Hand and object surface density over the normalised cube [-1, 1]^3 (SER uses them).
    """

    def __init__(self, global_channels: int, size: int = 32, channels: int = 32):
        super().__init__()
        self.start = size // 8
        self.channels = channels
        self.fc = nn.Linear(global_channels, channels * self.start ** 3)
        layers = []
        for i in range(3):
            out = 2 if i == 2 else channels
            layers.append(nn.ConvTranspose3d(channels, out, 4, 2, 1))
            if i < 2:
                layers.append(nn.ReLU(inplace=True))
        self.up = nn.Sequential(*layers)

    def forward(self, global_feature: torch.Tensor) -> torch.Tensor:
        """Predict the heatmaps."""
        x = self.fc(global_feature).view(-1, self.channels, self.start, self.start, self.start)
        return self.up(torch.relu(x))
