"""Losses of C2F-SDF training, with the weights of the reference configuration."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812


@dataclass(frozen=True)
class LossWeights:
    """
    Weight of each loss term and the SDF clamp (the reference code's defaults).

    SDF terms are clamped L1 in normalised units, on both coarse and fine outputs.
    """

    sdf_hand: float = 0.5
    sdf_object: float = 0.5
    joints: float = 0.5
    object_center: float = 0.5
    heatmap: float = 0.01
    clamp: float = 0.05



def clamped_l1(prediction: torch.Tensor, target: torch.Tensor, clamp: float) -> torch.Tensor:
    """
    DeepSDF's clamped L1, without its dead zone: mean |p - clamp(target)| over all elements.

    ``p`` is ``clamp(prediction)`` where the target lies beyond the clamp on the side the
    prediction does (no penalty for predicting further out there, as DeepSDF's
    ``|clamp(prediction) - clamp(target)|``), and the prediction itself elsewhere. The value
    is DeepSDF's wherever the prediction lies within the clamp. It differs where the
    prediction lies beyond the clamp and the target does not: DeepSDF's loss is flat there
    (the clamp passes no gradient), so a decoder whose output has drifted past the clamp
    everywhere never comes back. From scratch, with most targets beyond +clamp, the best
    constant is +clamp: three of the four SDF decoders of the runs of 2026-11-28 settled
    there within 40 steps and stayed, at a constant loss (docs/model.md, "Training").
    """
    bound = target.clamp(-clamp, clamp)
    beyond = (target.abs() >= clamp) & (prediction * target > 0) & (prediction.abs() >= clamp)
    return (torch.where(beyond, bound, prediction) - bound).abs().mean()


def c2f_sdf_loss(outputs: dict, targets: dict, weights: LossWeights = LossWeights()
                 ) -> tuple[torch.Tensor, dict[str, float]]:
    """
    Total loss and its terms (as floats, for logging).

    Parameters
    ----------
    outputs : dict
        Model outputs: coarse_hand, coarse_object, fine_hand, fine_object (B, Q),
        joints (B, 21, 3), object_center (B, 3), heatmap (B, 2, H, H, H).
    targets : dict
        sdf_hand, sdf_object (B, Q); joints (B, 21, 3); object_center (B, 3);
        heatmap (B, 2, H, H, H) - all normalised like the outputs.
    weights : LossWeights
        Term weights.

    """
    c = weights.clamp
    terms = {
        'coarse_hand': weights.sdf_hand * clamped_l1(outputs['coarse_hand'],
                                                     targets['sdf_hand'], c),
        'coarse_object': weights.sdf_object * clamped_l1(outputs['coarse_object'],
                                                         targets['sdf_object'], c),
        'fine_hand': weights.sdf_hand * clamped_l1(outputs['fine_hand'], targets['sdf_hand'], c),
        'fine_object': weights.sdf_object * clamped_l1(outputs['fine_object'],
                                                       targets['sdf_object'], c),
        'joints': weights.joints * F.l1_loss(outputs['joints'], targets['joints']),
        'object_center': weights.object_center * F.l1_loss(outputs['object_center'],
                                                           targets['object_center']),
        'heatmap': weights.heatmap * F.mse_loss(outputs['heatmap'], targets['heatmap']),
    }
    total = sum(terms.values())
    return total, {name: float(value.detach()) for name, value in terms.items()}
