"""Model configuration."""

from __future__ import annotations

from dataclasses import dataclass, fields

# The rows of the paper's Table 1 this implementation can train:
# pixel_rgb   pixel-aligned features from an RGB encoder only            (ID 0)
# pixel_rgbd  pixel-aligned features from the RGB-D encoder              (ID 1)
# point       + 3D point-aligned features (3D PIFu), no refinement       (ID 2)
# full        + point semantics from the coarse SDF (refinement)         (ID 3, 4 with SER)
VARIANTS = ('pixel_rgb', 'pixel_rgbd', 'point', 'full')
# Joint heads: 'mlp' regresses the 21 joints from the global feature (the shipped weights');
# 'dense' integrates per-joint heatmaps and depth maps on the feature map (2.5D).
JOINT_HEADS = ('mlp', 'dense')


@dataclass(frozen=True)
class ModelConfig:
    """
    Sizes and switches of the C2F-SDF model (defaults follow the paper and reference code).

    Attributes
    ----------
    variant : str
        One of ``VARIANTS``.
    image_size : int
        Side of the square RGB-D crop fed to the encoder (256).
    base_channels : int
        Width of the first ResNet-18 stage (64); later stages double it.
    feature_channels : int
        Channels C of the 64x64 feature map (128).
    global_channels : int
        Size of the global image feature (128).
    decoder_width, decoder_layers : int
        DeepSDF decoder width (512) and hidden layers (5); the skip enters layer 2.
    decoder_dropout : float
        Dropout in the decoders while training (0.2, the reference's; ``c2f-sdf train``
        uses 0.0 unless told otherwise). No effect on the weights or at evaluation.
    num_points : int
        Depth points lifted to 3D per image (1024).
    neighbours : int
        K of 3D PIFu (16).
    heatmap_size : int
        Side of the volumetric hand/object heatmap (32).
    center_bins : int
        Bins per axis of the object-centre head (64), spanning +-``center_range``.
    center_range : float
        Half-range of the object centre around the hand root, metres (0.28).
    norm_scale : float
        s in normalised = (x_cam - hand_root) * s / 2 (6.2 for DexYCB, 7.0 for ObMan).
    semantic_threshold : float
        Depth points whose coarse |SDF| to both surfaces exceeds this (normalised units)
        are background and take no part in 3D PIFu (full variant only).
    joint_guidance : bool
        Append query-to-joint offsets of the predicted joints to the SDF decoder inputs
        (gSDF's hand-pose guidance, with joints instead of MANO).
    joint_head : str
        One of ``JOINT_HEADS``: 'mlp' (global feature -> joints; configs without the key,
        such as the shipped weights', are this) or 'dense' (soft-argmax of per-joint
        heatmaps on the feature map plus a relative depth per joint, back-projected with
        the crop's intrinsics).

    """

    variant: str = 'full'
    image_size: int = 256
    base_channels: int = 64
    feature_channels: int = 128
    global_channels: int = 128
    decoder_width: int = 512
    decoder_layers: int = 5
    decoder_dropout: float = 0.2
    num_points: int = 1024
    neighbours: int = 16
    heatmap_size: int = 32
    center_bins: int = 64
    center_range: float = 0.28
    norm_scale: float = 6.2
    semantic_threshold: float = 0.1
    joint_guidance: bool = True
    joint_head: str = 'mlp'

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f'variant must be one of {VARIANTS}, got {self.variant!r}')
        if self.joint_head not in JOINT_HEADS:
            raise ValueError(f'joint_head must be one of {JOINT_HEADS}, got '
                             f'{self.joint_head!r}')
        if self.image_size % 32 or self.image_size < 64:
            raise ValueError(f'image_size must be a multiple of 32 and >= 64, got '
                             f'{self.image_size}')
        if not 0.0 <= self.decoder_dropout < 1.0:
            raise ValueError(f'decoder_dropout must be in [0, 1), got {self.decoder_dropout}')
        if self.decoder_layers < 3:
            raise ValueError(f'decoder_layers must be >= 3 (skip at layer 2), got '
                             f'{self.decoder_layers}')
        if self.heatmap_size % 8:
            raise ValueError(f'heatmap_size must be a multiple of 8, got {self.heatmap_size}')
        for name in ('base_channels', 'feature_channels', 'global_channels', 'decoder_width',
                     'num_points', 'neighbours', 'center_bins'):
            if getattr(self, name) < 1:
                raise ValueError(f'{name} must be >= 1, got {getattr(self, name)}')
        if self.neighbours > self.num_points:
            raise ValueError('neighbours cannot exceed num_points')

    @property
    def uses_depth(self) -> bool:
        """Whether the encoder has a depth stream."""
        return self.variant != 'pixel_rgb'

    @property
    def uses_points(self) -> bool:
        """Whether the fine decoders get 3D point-aligned features."""
        return self.variant in ('point', 'full')

    @property
    def uses_semantics(self) -> bool:
        """Whether point features and weights use the coarse SDF (refinement)."""
        return self.variant == 'full'


    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        """Inverse of ``dataclasses.asdict``; unknown keys raise ValueError."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f'unknown model config keys: {", ".join(sorted(unknown))}')
        return cls(**data)
