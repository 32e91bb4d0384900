"""Frame-level CTC tasks (PR, ASR, SF): heads, SpecAugment, CTC loss and greedy decoding as s3prl does them.

Token ids follow s3prl's text encoders (`downstream/ctc/text.py`): 0 = `<pad>` (the CTC blank), 1 = `<eos>`
(appended to every target and kept in the CTC target), 2 = `<unk>`, then the task's symbols. Greedy decoding takes
the argmax per frame, merges repeats, drops blanks and stops at `<eos>`.
"""
from __future__ import annotations

from typing import Any, ClassVar, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from downstream_tasks.base import TaskData, TrainedTask, Utterance
from downstream_tasks.bucketing import num_samples, sliding_label_buckets
from upstream.featurizer import WeightedSumFeaturizer

SPECIALS = ["<pad>", "<eos>", "<unk>"]
BLANK, EOS, UNK = 0, 1, 2


class LinearCTCHead(nn.Module):
    """PR: Linear(D, 256) -> Linear(256, V) per frame (s3prl `FrameLevel` with no hidden layers, no activation)."""

    def __init__(self, input_dim: int, vocab_size: int, projector_dim: int = 256) -> None:
        super().__init__()
        self.projector = nn.Linear(input_dim, projector_dim)
        self.output = nn.Linear(projector_dim, vocab_size)

    def forward(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        return self.output(self.projector(features)), lengths


def reverse_padded(sequences: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each (B, T, D) row within its own length, leaving the padding at the end."""
    frames = sequences.shape[1]
    positions = torch.arange(frames, device=sequences.device)[None, :]
    lengths = lengths.to(sequences.device)[:, None]
    index = torch.where(positions < lengths, lengths - 1 - positions, positions)
    return sequences.gather(1, index.unsqueeze(-1).expand_as(sequences))


class PaddedBiLSTM(nn.Module):
    """A bidirectional LSTM layer that never reads padding, without packed sequences.

    Packed sequences make the LSTM backward pass about 35 times slower on CPU; instead the forward direction runs
    on the padded batch (padding comes after every valid frame) and the backward direction on each row reversed
    within its own length, so both see exactly the valid frames, as a packed BiLSTM does.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.forward_rnn = nn.LSTM(input_size, hidden_size, batch_first=True)
        self.backward_rnn = nn.LSTM(input_size, hidden_size, batch_first=True)

    def forward(self, features: Tensor, lengths: Tensor) -> Tensor:
        forward_out, _ = self.forward_rnn(features)
        backward_out, _ = self.backward_rnn(reverse_padded(features, lengths))
        return torch.cat([forward_out, reverse_padded(backward_out, lengths)], dim=-1)


class RNNCTCHead(nn.Module):
    """ASR and SF: Linear(D, 1024) -> 2-layer BiLSTM (1024 per direction, dropout 0.2) -> Linear(2048, V)."""

    def __init__(self, input_dim: int, vocab_size: int, projector_dim: int = 1024, rnn_hidden: int = 1024,
                 rnn_layers: int = 2, dropout: float = 0.2) -> None:
        super().__init__()
        self.projector = nn.Linear(input_dim, projector_dim)
        self.rnns = nn.ModuleList(PaddedBiLSTM(projector_dim if i == 0 else 2 * rnn_hidden, rnn_hidden) for i in range(rnn_layers))
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(2 * rnn_hidden, vocab_size)

    def forward(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        hidden = self.projector(features)
        for index, rnn in enumerate(self.rnns):
            hidden = rnn(hidden, lengths)
            if index < len(self.rnns) - 1:
                hidden = self.dropout(hidden)  # s3prl's RNNLayer: dropout between layers
        return self.output(hidden), lengths


class SpecAugment(nn.Module):
    """s3prl `downstream/specaug.py` on the featurizer output in training: time warp (window 5), 2 time masks of
    0-40 frames, 4 feature masks of 0-50 dims, masked values set to 0. Randomness comes from the trainer's generator
    so a resumed run draws the same masks."""

    def __init__(self, warp_window: int = 5, time_mask_width: tuple[int, int] = (0, 40), num_time_masks: int = 2,
                 freq_mask_width: tuple[int, int] = (0, 50), num_freq_masks: int = 4,
                 time_mask_ratio: float | None = None) -> None:
        super().__init__()
        self.warp_window = warp_window
        self.time_mask_width, self.num_time_masks = time_mask_width, num_time_masks
        #: ESPnet's time_mask_width_ratio_range upper bound: a time mask spans at most this fraction of the frames
        self.time_mask_ratio = time_mask_ratio
        self.freq_mask_width, self.num_freq_masks = freq_mask_width, num_freq_masks

    @staticmethod
    def _randint(low: int, high: int, generator: torch.Generator | None) -> int:
        return int(torch.randint(low, max(high, low + 1), (1,), generator=generator))

    def forward(self, features: Tensor, lengths: Tensor, generator: torch.Generator | None) -> Tensor:
        if not self.training:
            return features
        features = self._time_warp(features, generator)
        batch, frames, dims = features.shape
        mask = torch.zeros_like(features, dtype=torch.bool)
        for row in range(batch):
            widest = self.time_mask_width[1] if self.time_mask_ratio is None else int(self.time_mask_ratio * frames)
            for _ in range(self.num_time_masks):
                width = self._randint(self.time_mask_width[0], widest, generator)
                start = self._randint(0, frames - width, generator)
                mask[row, start : start + width, :] = True
            for _ in range(self.num_freq_masks):
                width = self._randint(self.freq_mask_width[0], min(self.freq_mask_width[1], dims), generator)
                start = self._randint(0, dims - width, generator)
                mask[row, :, start : start + width] = True
        return features.masked_fill(mask, 0.0)

    def _time_warp(self, features: Tensor, generator: torch.Generator | None) -> Tensor:
        frames = features.shape[1]
        if frames - self.warp_window <= self.warp_window:
            return features
        center = self._randint(self.warp_window, frames - self.warp_window, generator)
        warped = self._randint(center - self.warp_window, center + self.warp_window, generator) + 1
        image = features.unsqueeze(1)  # (B, 1, T, D)
        left = F.interpolate(image[:, :, :center], size=(warped, features.shape[2]), mode="bicubic", align_corners=False)
        right = F.interpolate(image[:, :, center:], size=(frames - warped, features.shape[2]), mode="bicubic", align_corners=False)
        return torch.cat([left, right], dim=2).squeeze(1)


class FrameCTCModel(nn.Module):
    """Weighted sum of hidden states -> (SpecAugment in training) -> CTC head; returns (logits, lengths)."""

    def __init__(self, featurizer: WeightedSumFeaturizer, head: nn.Module, specaug: SpecAugment | None = None) -> None:
        super().__init__()
        self.featurizer = featurizer
        self.head = head
        self.specaug = specaug

    def forward(self, features: tuple[list[Tensor], Tensor], generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        hidden_states, lengths = features
        combined, lengths = self.featurizer(hidden_states, lengths)
        if self.specaug is not None and self.training:
            combined = self.specaug(combined, lengths, generator)
        return self.head(combined, lengths)


def character_text(tokens: Sequence[int], vocabulary: Sequence[str], word_boundary: str = "|") -> str:
    """Character tokens -> text (ASR, MLASR): specials dropped, each run of word boundaries one space, none at the ends."""
    text = "".join(vocabulary[t] for t in tokens if t >= len(SPECIALS))
    return " ".join(text.replace(word_boundary, " ").split())


def greedy_decode(logits: Tensor, lengths: Tensor) -> list[list[int]]:
    """Argmax per valid frame, merge repeats, drop blanks, stop at <eos>."""
    best = logits.argmax(dim=-1).cpu()
    sequences = []
    for row, length in enumerate(lengths.tolist()):
        tokens = torch.unique_consecutive(best[row, :length]).tolist()
        output = []
        for token in tokens:
            if token == EOS:
                break
            if token != BLANK:
                output.append(token)
        sequences.append(output)
    return sequences


class CTCTask(TrainedTask):
    """A sequence task trained with CTC on frame features. Subclasses give the vocabulary and the metrics."""

    head_input: ClassVar[str] = "frames"
    higher_is_better: ClassVar[bool] = False
    rnn_head: ClassVar[bool] = False
    uses_specaug: ClassVar[bool] = False

    def build_model(self, num_layers: int, hidden_size: int, data: TaskData, config: Any) -> nn.Module:
        vocab_size = len(data.label_names[0])
        if self.rnn_head:
            head = RNNCTCHead(hidden_size, vocab_size, int(config.head.projector_dim), int(config.head.rnn_hidden),
                              int(config.head.rnn_layers), float(config.head.dropout))
        else:
            head = LinearCTCHead(hidden_size, vocab_size, int(config.head.projector_dim))
        specaug = SpecAugment() if self.uses_specaug and config.get("specaug", True) else None
        return FrameCTCModel(WeightedSumFeaturizer(num_layers), head, specaug)

    def train_batches(self, utterances: list[Utterance], config: Any) -> list[list[int]] | None:
        """PR and SF: s3prl's `ctc` bucketing (`data.bucketing`, on in the recipes), see :mod:`downstream_tasks.bucketing`."""
        if not config.data.get("bucketing", False):
            return None
        return sliding_label_buckets([len(u.label) for u in utterances], [num_samples(u) for u in utterances],
                                     int(config.batch_size))

    def collate_labels(self, utterances: Sequence[Utterance]) -> tuple[Tensor, Tensor]:
        targets = [torch.tensor(u.label, dtype=torch.long) for u in utterances]
        return torch.cat(targets), torch.tensor([len(t) for t in targets])

    def loss(self, outputs: tuple[Tensor, Tensor], labels: tuple[Tensor, Tensor], data: TaskData) -> Tensor:
        logits, lengths = outputs
        targets, target_lengths = labels
        log_probs = logits.log_softmax(dim=-1).transpose(0, 1)  # (T, B, V)
        return F.ctc_loss(log_probs, targets, lengths, target_lengths, blank=BLANK, zero_infinity=True)

    def predict(self, outputs: tuple[Tensor, Tensor], data: TaskData) -> list[list[int]]:
        return greedy_decode(*outputs)

    def render(self, tokens: Sequence[int], data: TaskData) -> str:
        """Token ids -> the string the metric compares (phones joined by spaces, characters joined)."""
        raise NotImplementedError

    def reference(self, utterance: Utterance, data: TaskData) -> str:
        return self.render([t for t in utterance.label if t != EOS], data)

    def prediction_lines(self, predictions: list, utterances: Sequence[Utterance], data: TaskData) -> list[str]:
        return [f"{u.uid}\t{self.render(p, data)}\t{self.reference(u, data)}" for p, u in zip(predictions, utterances)]
