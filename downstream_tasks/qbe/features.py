"""QbE's feature reading: the float32 frames of chosen hidden states of a split from the feature source, and the groups
of layers whose frames fit the memory budget at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from downstream_tasks.base import FeatureSource


def read_frames(
    source: FeatureSource, split: str, count: int, layers: Sequence[int], batch_size: int
) -> list[list[np.ndarray]]:
    """``frames[k][i]``: the ``(T_i, D)`` float32 features of utterance ``i`` of ``split`` at source layer
    ``layers[k]``."""
    import torch

    frames: list[list[np.ndarray]] = [[] for _ in layers]
    with torch.no_grad():
        for start in range(0, count, batch_size):
            hidden_states, lengths = source.batch(split, list(range(start, min(start + batch_size, count))), None)
            for k, layer in enumerate(layers):
                states = hidden_states[layer]
                for row, length in enumerate(lengths.tolist()):
                    frames[k].append(states[row, :length].detach().cpu().float().numpy().copy())
    return frames


def layer_groups(num_layers: int, bytes_per_layer: float | None, budget_gb: float | None) -> list[list[int]]:
    """Consecutive groups of layers whose float32 features fit ``budget_gb`` (all at once without an estimate or
    budget)."""
    if not bytes_per_layer or budget_gb is None:
        size = num_layers
    else:
        size = max(1, min(num_layers, int(float(budget_gb) * 1e9 // bytes_per_layer)))
    return [list(range(start, min(start + size, num_layers))) for start in range(0, num_layers, size)]
