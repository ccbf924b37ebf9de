"""
Joint guidance from outside the network, as training sees it.

Every decoder of the model reads the query's offsets to 21 hand joints (gSDF's pose
guidance). At inference those joints can come from the joint head or from a hand detector
lifted with depth (``reconstruct.hand_finder``); a decoder that only ever saw its own
head's joints in training does not know what to make of a detector's (which are better
on real frames, and the only usable ones beyond the training distances). So training
hands the decoders, for a share of the images, the ground-truth joints perturbed the way
a detector errs: each joint by its own noise (landmark error) and the whole hand by a
common offset (depth and wrist error). The rest keep the head's prediction, so the
head-guided path is still trained.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class GuidanceConfig:
    """
    How often, and how noisily, ground-truth joints guide the decoders in training.

    The noise defaults follow the detector's measured error on real frames: lifting
    recovers visible joints within about 1 cm, and the lifted joints' centre lies
    0.7-2.6 cm from pseudo ground truth (docs/benchmarks.md, "Hand detector").

    Attributes
    ----------
    probability : float
        Share of the images whose decoders get the perturbed ground truth, in [0, 1]
        (0: the head's joints always, as the shipped weights were trained).
    joint_sigma : float
        Std (m) of each joint's own noise, per axis.
    offset_sigma : float
        Std (m) of the offset shared by all joints of a hand, per axis.

    """

    probability: float = 0.0
    joint_sigma: float = 0.008
    offset_sigma: float = 0.012

    def __post_init__(self):
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f'guidance probability must be in [0, 1], got '
                             f'{self.probability}')
        if not (0.0 <= self.joint_sigma <= 0.1 and 0.0 <= self.offset_sigma <= 0.1):
            raise ValueError(f'guidance noise must be in [0, 0.1] m, got '
                             f'{self.joint_sigma}, {self.offset_sigma}')


def perturbed_guidance(joints: torch.Tensor, config: GuidanceConfig, norm_scale: float,
                       generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """
    Ground-truth joints made to look like a detector's, and which images use them.

    Parameters
    ----------
    joints : (B, 21, 3) tensor
        Ground-truth joints, normalised (``(x - root) * norm_scale / 2``).
    config : GuidanceConfig
        Share of images and noise.
    norm_scale : float
        The model's normalisation scale (metres times ``norm_scale / 2`` = normalised).
    generator : torch.Generator
        CPU generator (seeded per step, so a resumed run draws the same noise).

    Returns
    -------
    guidance : (B, 21, 3) tensor
        The perturbed joints, on ``joints``' device and dtype.
    use : (B,) bool tensor
        True where the decoders take ``guidance`` instead of the head's joints.

    Raises
    ------
    ValueError
        If ``joints`` is not (B, 21, 3) or ``norm_scale`` is not positive.

    """
    if joints.ndim != 3 or joints.shape[1:] != (21, 3):
        raise ValueError(f'joints must be (B, 21, 3), got {tuple(joints.shape)}')
    if not norm_scale > 0:
        raise ValueError(f'norm_scale must be positive, got {norm_scale}')
    batch = joints.shape[0]
    to_normalised = norm_scale / 2.0
    noise = torch.randn(batch, 21, 3, generator=generator) * config.joint_sigma
    offset = torch.randn(batch, 1, 3, generator=generator) * config.offset_sigma
    use = torch.rand(batch, generator=generator) < config.probability
    guidance = joints + ((noise + offset) * to_normalised).to(joints.device, joints.dtype)
    return guidance, use.to(joints.device)
