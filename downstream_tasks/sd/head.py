"""SD's head and training objective: the permutation-invariant BCE loss and the PIT frame accuracy (s3prl's
``utils.py``), ``_match_length``'s matching of features to label lengths, the LSTM + linear
:class:`DiarizationHead` and the :class:`DiarizationModel` (weighted sum of hidden states, then the head).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from upstream.featurizer import WeightedSumFeaturizer


def length_mask(lengths: Tensor, max_len: int) -> Tensor:
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def pit_loss(logits: Tensor, labels: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """s3prl's ``pit_loss``: per utterance, the speaker order with the lowest summed (over valid frames) mean (over
    speakers) BCE-with-logits; the loss is the sum of those minima over the batch divided by the total valid frames.
    Returns ``(loss, index of the chosen permutation per utterance)`` into :func:`permutations`."""
    lengths = lengths.to(logits.device)
    mask = length_mask(lengths, labels.shape[1]).to(logits.dtype)  # (B, T)
    per_permutation = []
    for order in permutations(labels.shape[2]):
        bce = F.binary_cross_entropy_with_logits(logits, labels[:, :, list(order)], reduction="none")
        per_permutation.append((bce.mean(dim=2) * mask).sum(dim=1))
    losses = torch.stack(per_permutation, dim=1)  # (B, permutations)
    best, index = losses.min(dim=1)
    return best.sum() / lengths.sum().to(logits.dtype), index


def permutations(num_speakers: int) -> list[tuple[int, ...]]:
    return list(itertools.permutations(range(num_speakers)))


def frame_accuracies(logits: Tensor, labels: Tensor, lengths: Tensor, permutation_index: Tensor) -> list[float]:
    """Per utterance, s3prl's ``correct / num_frames`` of ``calc_diarization_error``: the fraction of (frame, speaker)
    decisions ``logit > 0`` that match the labels in the PIT-chosen order, over valid frames; 0 for an utterance with
    no reference speech, as `diarization/expert.py` `_get_train_loss` records it (its ``else`` branch: every
    measure 0 when nothing is scored). The recipe selects its checkpoint on the mean of these."""
    orders = permutations(labels.shape[2])
    accuracies = []
    for row, length in enumerate(lengths.tolist()):
        truth = labels[row, :length][:, list(orders[int(permutation_index[row])])]
        decided = (logits[row, :length] > 0).to(truth.dtype)
        scored = length > 0 and bool(truth.any())
        accuracies.append(float((decided == truth).float().mean()) if scored else 0.0)
    return accuracies


def match_lengths(features: Tensor, lengths: Tensor, target_lengths: Sequence[int]) -> Tensor:
    """Each row's valid frames matched to its label length as s3prl's ``_match_length`` does: tile every frame by
    ``round(label_len / feature_len)`` when that exceeds 1, then truncate, or repeat the last frame. Per row rather
    than on the padded batch, so a short row is extended with its own last frame and not with padding."""
    rows = []
    for row, (length, target) in enumerate(zip(lengths.tolist(), target_lengths)):
        valid = features[row, : max(int(length), 1)]
        factor = int(round(int(target) / valid.shape[0]))
        if factor > 1:
            valid = valid.repeat_interleave(factor, dim=0)
        if valid.shape[0] >= target:
            valid = valid[: int(target)]
        else:
            valid = torch.cat([valid, valid[-1:].expand(int(target) - valid.shape[0], -1)])
        rows.append(valid)
    return nn.utils.rnn.pad_sequence(rows, batch_first=True)


class DiarizationHead(nn.Module):
    """s3prl ``diarization/model.py``: ``LSTM(D, hidden, rnn_layers)`` (unidirectional) then ``Linear(hidden, S)``;
    ``rnn_layers=0`` is the linear head. Padding comes after the valid frames, so a causal LSTM never reads it."""

    def __init__(self, input_dim: int, num_speakers: int, hidden_size: int = 512, rnn_layers: int = 1) -> None:
        super().__init__()
        self.rnn = nn.LSTM(input_dim, hidden_size, num_layers=rnn_layers, batch_first=True) if rnn_layers > 0 else None
        self.linear = nn.Linear(hidden_size if rnn_layers > 0 else input_dim, num_speakers)

    def forward(self, features: Tensor) -> Tensor:
        hidden = self.rnn(features.float())[0] if self.rnn is not None else features.float()
        return self.linear(hidden)


@dataclass
class ChunkFeatures:
    """The featurizer's output for a batch of chunks. The head runs in :meth:`logits`, once the label lengths are
    known, because ``_match_length`` acts on the head's input (a repeated last frame goes through the LSTM)."""

    features: Tensor
    lengths: Tensor
    head: DiarizationHead

    def logits(self, label_lengths: Tensor) -> Tensor:
        return self.head(match_lengths(self.features, self.lengths, label_lengths.tolist()))


class DiarizationModel(nn.Module):
    def __init__(self, featurizer: WeightedSumFeaturizer, head: DiarizationHead) -> None:
        super().__init__()
        self.featurizer = featurizer
        self.head = head

    def forward(self, features: tuple[list[Tensor], Tensor], generator: torch.Generator | None = None) -> ChunkFeatures:  # noqa: ARG002
        hidden_states, lengths = features
        combined, lengths = self.featurizer(hidden_states, lengths)
        return ChunkFeatures(combined, lengths, self.head)
