"""Dual-stream ResNet-18 RGB-D encoder with spatial-attention fusion and a U-Net neck."""

from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F  # noqa: N812


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convs with a residual. (B, Cin, H, W) -> (B, C, H/s, W/s)."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride, bias=False),
                                          nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block."""
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class ResNet18Stream(nn.Module):
    """
    One ResNet-18 stream, stage by stage (no torchvision: none exists for CPU here).

    ``stem`` maps (B, in_channels, S, S) to (B, c, S/4, S/4); ``stages[i]`` then give
    (B, c * 2^i, S / 2^(i+2), S / 2^(i+2)) for i = 0..3 (c = base_channels).
    """

    def __init__(self, in_channels: int, base_channels: int = 64):
        super().__init__()
        c = base_channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c, 7, 2, 3, bias=False),
                                  nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(3, 2, 1))
        widths = [c, 2 * c, 4 * c, 8 * c]
        self.stages = nn.ModuleList()
        previous = c
        for i, width in enumerate(widths):
            stride = 1 if i == 0 else 2
            self.stages.append(nn.Sequential(BasicBlock(previous, width, stride),
                                              BasicBlock(width, width)))
            previous = width
        self.widths = widths


class RgbdFusion(nn.Module):
    """
    Spatial-attention fusion of an RGB and a depth feature map (same shape (B, C, H, W)).

    A 1x1 conv per modality gives a gate; a per-pixel softmax over the two gates weights
    the merge; each stream becomes (stream + merged) / 2 after ReLU. Returns
    (rgb', depth', merged).
    """

    def __init__(self, channels: int):
        super().__init__()
        self.gate_rgb = nn.Conv2d(channels, 1, 1)
        self.gate_depth = nn.Conv2d(channels, 1, 1)

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor):
        """Fuse the two maps."""
        weights = torch.softmax(torch.cat([self.gate_rgb(rgb), self.gate_depth(depth)], 1), 1)
        merged = weights[:, :1] * rgb + weights[:, 1:] * depth
        return F.relu((rgb + merged) / 2), F.relu((depth + merged) / 2), merged


class UNetNeck(nn.Module):
    """
    Decode the four stage outputs to one map at the first stage's resolution.

    Inputs: list of (B, w_i, S_i, S_i) with S_i halving; output (B, out_channels, S_0, S_0).
    """

    def __init__(self, widths: list[int], out_channels: int):
        super().__init__()
        self.lateral = nn.ModuleList()
        for i in range(len(widths) - 1, 0, -1):
            self.lateral.append(nn.Sequential(
                nn.Conv2d(widths[i] + widths[i - 1], widths[i - 1], 3, 1, 1, bias=False),
                nn.BatchNorm2d(widths[i - 1]), nn.ReLU(inplace=True)))
        self.out = nn.Conv2d(widths[0], out_channels, 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        """Upsample from the deepest stage, concatenating each shallower one."""
        x = features[-1]
        for layer, skip in zip(self.lateral, reversed(features[:-1]), strict=True):
            x = F.interpolate(x, size=skip.shape[-2:], mode='bilinear', align_corners=False)
            x = layer(torch.cat([x, skip], 1))
        return self.out(x)


class RgbdEncoder(nn.Module):
    """
    RGB-D crop -> 64x64 feature map and global feature.

    Input: rgb (B, 3, S, S) normalised colour, depth (B, 1, S, S) normalised to [-1, 1]
    (ignored when ``use_depth`` is False). Output: feature map (B, C, S/4, S/4) and
    global feature (B, G).
    """

    def __init__(self, base_channels: int, feature_channels: int, global_channels: int,
                 use_depth: bool = True):
        super().__init__()
        self.use_depth = use_depth
        self.rgb = ResNet18Stream(3, base_channels)
        widths = self.rgb.widths
        if use_depth:
            self.depth = ResNet18Stream(1, base_channels)
            self.fusions = nn.ModuleList(RgbdFusion(w) for w in widths)
        self.neck = UNetNeck(widths, feature_channels)
        self.global_head = nn.Linear(widths[-1], global_channels)

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor | None = None):
        """Encode; returns (feature_map, global_feature)."""
        x_rgb = self.rgb.stem(rgb)
        x_depth = self.depth.stem(depth) if self.use_depth else None
        merged_maps = []
        for i, stage in enumerate(self.rgb.stages):
            x_rgb = stage(x_rgb)
            if self.use_depth:
                x_depth = self.depth.stages[i](x_depth)
                x_rgb, x_depth, merged = self.fusions[i](x_rgb, x_depth)
                merged_maps.append(merged)
            else:
                merged_maps.append(x_rgb)
        feature_map = self.neck(merged_maps)
        global_feature = self.global_head(merged_maps[-1].mean(dim=(2, 3)))
        return feature_map, global_feature
