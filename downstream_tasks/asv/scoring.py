"""ASV's trial scoring: the cosine similarity of each trial's two L2-normalised utterance embeddings (the EER over
those scores is :func:`downstream_tasks.metrics.detection.equal_error_rate`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from downstream_tasks.asv.reader import Trial


def score_trials(embeddings: Tensor, row_of: dict[str, int], trials: Sequence[Trial]) -> Tensor:
    """Cosine similarity of each trial's two (already L2-normalised) embeddings."""
    first = torch.tensor([row_of[trial.enrollment] for trial in trials])
    second = torch.tensor([row_of[trial.test] for trial in trials])
    return (embeddings[first] * embeddings[second]).sum(dim=-1)
