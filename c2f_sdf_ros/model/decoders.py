"""DeepSDF-style signed-distance decoders."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


class SdfDecoder(nn.Module):
    """
    MLP from per-query features to one signed distance (normalised units).

    ``hidden_layers`` weight-normalised linear layers of ``width`` with ReLU and dropout;
    the input is concatenated again before layer 2 (DeepSDF's skip); a tanh output.
    Input (B, Q, in_features) -> (B, Q).
    """

    def __init__(self, in_features: int, width: int = 512, hidden_layers: int = 5,
                 dropout: float = 0.2, skip_layer: int = 2):
        super().__init__()
        self.skip_layer = skip_layer
        layers = []
        for i in range(hidden_layers):
            n_in = in_features if i == 0 else width
            if i == skip_layer:
                n_in = width + in_features
            layers.append(weight_norm(nn.Linear(n_in, width)))
        self.layers = nn.ModuleList(layers)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(width, 1)
        # Start near zero: the clamped L1 loss has no gradient for predictions beyond the
        # clamp, and the default init puts most of them there.
        nn.init.normal_(self.out.weight, std=1e-3)
        nn.init.zeros_(self.out.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Signed distance per query."""
        x = features
        for i, layer in enumerate(self.layers):
            if i == self.skip_layer:
                x = torch.cat([x, features], -1)
            x = self.dropout(torch.relu_(layer(x)))   # in place: one pass less per layer
        return torch.tanh(self.out(x)).squeeze(-1)
