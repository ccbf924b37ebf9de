"""Point features (eq. 3) and the 3D point-aligned implicit function (3D PIFu, eq. 4)."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree
import torch
from torch import nn
import torch.nn.functional as F  # noqa: N812


class PointEmbedding(nn.Module):
    """
    Eq. (3): F_k = ReLU(BN(W0 F3d_k) + BN(W1 P_k) + BN(W2 D_k)).

    Inputs: image features at the depth points (B, N, C), their positions (B, N, 3) and
    coarse signed distances (B, N, 2) (hand, object); output (B, N, C). With
    ``use_sdf`` False (no refinement) the distance term is left out.
    """

    def __init__(self, channels: int, use_sdf: bool = True):
        super().__init__()
        self.use_sdf = use_sdf
        self.feature = nn.Sequential(nn.Conv1d(channels, channels, 1), nn.BatchNorm1d(channels))
        self.position = nn.Sequential(nn.Conv1d(3, channels, 1), nn.BatchNorm1d(channels))
        if use_sdf:
            self.distance = nn.Sequential(nn.Conv1d(2, channels, 1), nn.BatchNorm1d(channels))

    def forward(self, features, positions, distances=None) -> torch.Tensor:
        """Embed each depth point."""
        x = self.feature(features.transpose(1, 2)) + self.position(positions.transpose(1, 2))
        if self.use_sdf:
            x = x + self.distance(distances.transpose(1, 2))
        return F.relu(x).transpose(1, 2)


def pifu_weights(distance: torch.Tensor, surface_distance: torch.Tensor | None,
                 alpha: torch.Tensor | float, eps: float = 1e-6) -> torch.Tensor:
    """
    Eq. (4) weights: w_k = 1 / (d_k + alpha |D_k|), normalised over the K neighbours.

    ``distance`` (B, Q, K) query-to-point distances, ``surface_distance`` (B, Q, K) the
    points' coarse signed distances (None: distance only). The paper sums unnormalised
    weights; normalising (as the reference code does) keeps the feature scale independent
    of how dense the points are, and |D| keeps the denominator positive inside surfaces.
    Masked neighbours carry an infinite distance and get weight 0.
    """
    denominator = distance + eps
    if surface_distance is not None:
        denominator = denominator + alpha * surface_distance.abs()
    weights = 1.0 / denominator
    return weights / weights.sum(-1, keepdim=True).clamp_min(eps)


def nearest_points(queries: torch.Tensor, points: torch.Tensor, valid: torch.Tensor,
                   k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """
    The ``k`` nearest valid points (3D) of each query.

    queries (B, Q, 3), points (B, N, 3), valid (B, N) -> distances and indices (B, Q, k);
    invalid points come last with an infinite distance.

    Inference on the CPU (no gradient needed) uses a k-d tree (scipy), several times
    faster than ranking the dense (Q, N) matrix there; training and GPUs rank the matrix.
    """
    needs_grad = torch.is_grad_enabled() and (queries.requires_grad or points.requires_grad)
    if queries.device.type == 'cpu' and not needs_grad:
        return _nearest_kdtree(queries, points, valid, k)
    # |q - p|^2 = |q|^2 - 2 q.p + |p|^2, and |q|^2 does not change a row's ranking: rank
    # by |p|^2 - 2 q.p in one batched product (invalid points get +inf there), then
    # finish the distance only for the k chosen. Much cheaper than cdist + masking on
    # the (B, Q, N) matrix, which is most of a query's cost besides the decoders.
    point_norm = (points * points).sum(-1).masked_fill(~valid, float('inf'))
    partial = torch.baddbmm(point_norm[:, None, :], queries, points.transpose(1, 2),
                            alpha=-2.0)                                 # (B, Q, N)
    partial, index = partial.topk(k, dim=-1, largest=False)
    distance = (partial + (queries * queries).sum(-1, keepdim=True)).clamp_min(0.0).sqrt()
    return distance, index


def _nearest_kdtree(queries, points, valid, k):
    """``nearest_points`` with one scipy k-d tree per image (CPU, no gradient)."""
    distances, indices = [], []
    for image_queries, image_points, image_valid in zip(queries, points, valid, strict=True):
        kept = torch.nonzero(image_valid).flatten().numpy()
        if len(kept):
            tree = cKDTree(image_points.detach().numpy()[kept])
            distance, index = tree.query(image_queries.detach().numpy(), k,
                                         workers=torch.get_num_threads())
            distance, index = distance.reshape(-1, k), index.reshape(-1, k)
        else:
            distance = np.full((len(image_queries), k), np.inf)
            index = np.zeros((len(image_queries), k), int)
        # Missing neighbours (fewer valid points than k) come back as index len(kept).
        missing = index >= len(kept)
        index = np.where(missing, 0, index)
        distances.append(np.where(missing, np.inf, distance))
        indices.append(kept[index] if len(kept) else index)
    return (torch.from_numpy(np.stack(distances)).to(queries.dtype),
            torch.from_numpy(np.stack(indices).astype(np.int64)))


class PointAlignedFeature(nn.Module):
    """
    3D PIFu aggregation for one branch (hand or object).

    For each query (B, Q, 3) take the K nearest valid depth points (B, N, 3) in 3D and
    average their embedded features (B, N, C) with eq. (4) weights; the scale alpha is
    learned (softplus keeps it >= 0). Output (B, Q, C). ``valid`` (B, N) masks background
    and missing points; at least K points must be valid per image.
    """

    def __init__(self, neighbours: int = 16, use_sdf: bool = True):
        super().__init__()
        self.neighbours = neighbours
        self.use_sdf = use_sdf
        # alpha only weighs the surface distance: without it there is nothing to learn.
        self.raw_alpha = nn.Parameter(torch.zeros(())) if use_sdf else None

    @property
    def alpha(self) -> torch.Tensor | float:
        """The learned distance scale (>= 0)."""
        return F.softplus(self.raw_alpha) if self.use_sdf else 0.0

    def forward(self, queries, points, features, surface_distance, valid, neighbours=None):
        """
        Aggregate point features at the queries.

        ``neighbours`` optionally passes ``nearest_points(queries, points, valid, K)``
        computed once for both branches (they share queries and points).
        """
        if neighbours is None:
            neighbours = nearest_points(queries, points, valid, self.neighbours)
        nearest, index = neighbours
        batch, num_queries, k = index.shape
        # Index into the batch's points flattened to (B * N, C).
        flat = index + torch.arange(batch, device=index.device)[:, None, None] * points.shape[1]
        d_k = surface_distance.reshape(-1)[flat] if self.use_sdf else None   # (B, Q, K)
        # Invalid neighbours (fewer valid points than K) have inf distance -> weight 0.
        finite = torch.isfinite(nearest)
        weights = pifu_weights(torch.where(finite, nearest, torch.zeros_like(nearest)), d_k,
                               self.alpha)
        weights = torch.where(finite, weights, torch.zeros_like(weights))
        weights = weights / weights.sum(-1, keepdim=True).clamp_min(1e-6)
        # The weighted sum of the K neighbours' features as one embedding_bag: ~20x faster
        # on CPU than gathering a (B, Q, K, C) tensor and summing it, and its backward needs
        # no such buffer either.
        table = features.reshape(-1, features.shape[-1])
        aggregated = F.embedding_bag(flat.reshape(-1, k), table, mode='sum',
                                     per_sample_weights=weights.reshape(-1, k).to(table.dtype))
        return aggregated.reshape(batch, num_queries, -1)
