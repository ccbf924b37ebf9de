"""Prediction heads on the global feature: joints, object centre, volumetric heatmap."""

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
