"""The learnable weighted sum over an encoder's hidden states (s3prl ``Featurizer`` semantics).

One weight per selected hidden state, initialised to zero (a uniform softmax), softmax-normalised,
optional per-layer layer-norm without affine parameters; a single selected layer passes through
unchanged with no weights. :meth:`combine` works on any stack of per-layer tensors, so the same
module weights full frame sequences or cached per-layer time-means.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class WeightedSumFeaturizer(nn.Module):
    def __init__(self, num_layers: int, layer_selections: Sequence[int] | None = None, normalize: bool = False) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError("an upstream has at least one hidden state")
        selections = list(range(num_layers)) if layer_selections is None else [int(i) for i in layer_selections]
        if not selections:
            raise ValueError("layer_selections is empty")
        out_of_range = [i for i in selections if not 0 <= i < num_layers]
        if out_of_range:
            raise ValueError(f"layer_selections {out_of_range} out of range for {num_layers} hidden states")
        self.num_layers = num_layers
        self.layer_selections = selections
        self.normalize = normalize
        self.weights = nn.Parameter(torch.zeros(len(selections))) if len(selections) > 1 else None

    def combine(self, stacked: Tensor) -> Tensor:
        """Weighted sum over the first axis of ``stacked`` (num_layers, ..., D) -> (..., D)."""
        if stacked.shape[0] != self.num_layers:
            raise ValueError(f"expected {self.num_layers} hidden states, got {stacked.shape[0]}")
        every_layer = self.layer_selections == list(range(self.num_layers))
        selected = stacked if every_layer else stacked[self.layer_selections]  # indexing with a list copies
        if self.normalize:
            selected = F.layer_norm(selected, selected.shape[-1:])
        if self.weights is None:
            return selected[0]
        weights = F.softmax(self.weights, dim=-1).to(selected.dtype)
        return torch.tensordot(weights, selected, dims=1)

    def forward(self, hidden_states: Sequence[Tensor] | Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """(num_layers x (B, T, D), (B,)) -> ((B, T, D), (B,)); the hidden states may come stacked, (L, B, T, D)."""
        stacked = hidden_states if isinstance(hidden_states, Tensor) else torch.stack(list(hidden_states))
        return self.combine(stacked), lengths

    def layer_weights(self) -> dict[int, float]:
        """The learned softmax weight of each hidden state (reports plot these); 1.0 for a single layer."""
        if self.weights is None:
            return {self.layer_selections[0]: 1.0}
        probabilities = F.softmax(self.weights.detach().float(), dim=-1).tolist()
        return dict(zip(self.layer_selections, probabilities))
