"""Frame-level CTC tasks (PR, ASR, SF): heads, SpecAugment, CTC loss and greedy decoding as s3prl does them.

Where the special tokens sit is a task's :class:`TokenLayout`. PR, SF (and MLASR) follow s3prl's text encoders
(`downstream/ctc/text.py`): 0 = `<pad>` (the CTC blank), 1 = `<eos>` (appended to every target and kept in the CTC
target), 2 = `<unk>`, then the task's symbols. ASR follows the fairseq dictionary of `downstream/asr` (see
:data:`downstream_tasks.asr.FAIRSEQ_DICTIONARY`). Greedy decoding takes the argmax per valid frame, merges repeats and
deletes the layout's removed tokens wherever they occur; it never stops early (s3prl `ctc/expert.py` `forward`,
`asr/expert.py` `_decode`). s3prl evaluates one utterance per batch (`ctc/data.py` `EVAL_BATCH_SIZE = 1`, ASR's
`eval_batch_size: 1`), so its decoding also sees exactly the valid frames.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from downstream_tasks.base import TaskData, TrainedTask, Utterance
from downstream_tasks.bucketing import num_samples, sliding_label_buckets
from upstream.featurizer import WeightedSumFeaturizer

SPECIALS = ["<pad>", "<eos>", "<unk>"]
BLANK, EOS, UNK = 0, 1, 2


@dataclass(frozen=True)
class TokenLayout:
    """Which special tokens a CTC task's vocabulary uses for what, and which ones greedy decoding deletes."""

    blank: int
    #: appended to every target and kept in the CTC target (the reference text leaves it out)
    end: int
    #: ids greedy decoding deletes wherever they occur, decoding on after them
    removed_in_decoding: frozenset[int]


#: s3prl `downstream/ctc/text.py` `_BaseTextEncoder`: <pad>=0 is the blank (`ctc/expert.py` `CTCLoss(blank=pad_idx)`),
#: <eos>=1 ends every target; decoding drops every <pad> and <eos> (`ctc/expert.py` `forward`).
S3PRL_TEXT_ENCODER = TokenLayout(blank=BLANK, end=EOS, removed_in_decoding=frozenset({BLANK, EOS}))


def greedy_decode(
    logits: Tensor,
    lengths: Tensor,
    removed: Collection[int] = S3PRL_TEXT_ENCODER.removed_in_decoding,
) -> list[list[int]]:
    """Argmax per valid frame, merge repeats, then delete every token in ``removed`` (blanks, and <eos> for s3prl's
    text encoders) and keep going: s3prl never stops at <eos>, so a frame that predicts it mid-utterance costs
    nothing."""
    best = logits.argmax(dim=-1).cpu()
    removed = set(removed)
    return [
        [token for token in torch.unique_consecutive(best[row, :length]).tolist() if token not in removed]
        for row, length in enumerate(lengths.tolist())
    ]


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
    """ASR and SF: Linear(D, 1024) -> 2 x [BiLSTM (1024 per direction) -> dropout 0.2] -> Linear(2048, V).

    s3prl's `RNNs` (`downstream/asr/model.py`) is a stack of `RNNLayer`s, each an LSTM followed by its own dropout, so
    dropout also sits between the last BiLSTM and the output linear."""

    def __init__(
        self,
        input_dim: int,
        vocab_size: int,
        projector_dim: int = 1024,
        rnn_hidden: int = 1024,
        rnn_layers: int = 2,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.projector = nn.Linear(input_dim, projector_dim)
        self.rnns = nn.ModuleList(
            PaddedBiLSTM(projector_dim if i == 0 else 2 * rnn_hidden, rnn_hidden) for i in range(rnn_layers)
        )
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(2 * rnn_hidden, vocab_size)

    def forward(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        hidden = self.projector(features)
        for rnn in self.rnns:
            hidden = self.dropout(rnn(hidden, lengths))
        return self.output(hidden), lengths


class SpecAugment(nn.Module):
    """s3prl `downstream/specaug.py` `SpecAug` on the featurizer output in training (ASR and SF, `specaug:` in their
    configs), step for step: each utterance time-warped on its own valid frames (window 5, bicubic), then 4 feature
    masks of 0-49 dims, then 2 time masks of 0-39 frames, masked values set to 0. As in its `MaskAlongAxis`, every
    utterance draws its own widths and starts, and a start lies below the masked axis's size (the longest utterance
    of the batch, for time) minus the widest mask drawn for the whole batch. The draws come from the trainer's
    generator, so a resumed run draws the same masks, in s3prl's order and shapes: a generator seeded like s3prl's
    global RNG draws s3prl's masks. (MLASR uses ESPnet's variant, :mod:`downstream_tasks.espnet_specaug`.)"""

    def __init__(
        self,
        warp_window: int = 5,
        time_mask_width: tuple[int, int] = (0, 40),
        num_time_masks: int = 2,
        freq_mask_width: tuple[int, int] = (0, 50),
        num_freq_masks: int = 4,
    ) -> None:
        super().__init__()
        self.warp_window = warp_window
        self.time_mask_width, self.num_time_masks = time_mask_width, num_time_masks
        self.freq_mask_width, self.num_freq_masks = freq_mask_width, num_freq_masks

    def forward(self, features: Tensor, lengths: Tensor, generator: torch.Generator | None) -> Tensor:
        if not self.training:
            return features
        valid = [int(length) for length in lengths.tolist()]
        features = self._time_warp(features, valid, generator)
        batch, frames, dims = features.shape
        longest = max(valid)  # s3prl pads the batch to its longest utterance before masking
        feature_mask = self._mask(batch, dims, self.freq_mask_width, self.num_freq_masks, generator)
        time_mask = self._mask(batch, longest, self.time_mask_width, self.num_time_masks, generator)
        time_mask = F.pad(time_mask, (0, frames - longest))
        mask = feature_mask[:, None, :] | time_mask[:, :, None]
        return features.masked_fill(mask.to(features.device), 0.0)

    @staticmethod
    def _mask(
        batch: int, size: int, width_range: tuple[int, int], count: int, generator: torch.Generator | None
    ) -> Tensor:
        """(batch, size) bool: ``count`` spans per row, as s3prl's `MaskAlongAxis.mask_along_axis` draws them."""
        low, high = width_range
        if count <= 0:
            return torch.zeros(batch, size, dtype=torch.bool)
        widths = torch.randint(low, high, (batch, count), generator=generator)
        starts = torch.randint(0, max(1, size - int(widths.max())), (batch, count), generator=generator)
        positions = torch.arange(size)[None, None, :]
        spans = (starts[..., None] <= positions) & (positions < (starts + widths)[..., None])
        return spans.any(dim=1)

    def _time_warp(self, features: Tensor, lengths: list[int], generator: torch.Generator | None) -> Tensor:
        """s3prl's `TimeWarp.forward`: each row warped within its own length, padding left as it is."""
        window = self.warp_window
        rows = []
        for row, length in enumerate(lengths):
            if length - window <= window:
                rows.append(features[row])
                continue
            center = int(torch.randint(window, length - window, (1,), generator=generator))
            warped = int(torch.randint(center - window, center + window, (1,), generator=generator)) + 1
            image = features[row, None, None, :length]  # (1, 1, T, D), as `interpolate` wants
            size = features.shape[2]
            left = F.interpolate(image[:, :, :center], size=(warped, size), mode="bicubic", align_corners=False)
            right = F.interpolate(
                image[:, :, center:], size=(length - warped, size), mode="bicubic", align_corners=False
            )
            rows.append(torch.cat([left[0, 0], right[0, 0], features[row, length:]]))
        return torch.stack(rows)


class FrameCTCModel(nn.Module):
    """Weighted sum of hidden states -> (SpecAugment in training) -> CTC head; returns (logits, lengths). ``specaug`` is
    called as ``specaug(features, lengths, generator)``: s3prl's (:class:`SpecAugment`) or ESPnet's (MLASR)."""

    def __init__(self, featurizer: WeightedSumFeaturizer, head: nn.Module, specaug: nn.Module | None = None) -> None:
        super().__init__()
        self.featurizer = featurizer
        self.head = head
        self.specaug = specaug

    def forward(
        self, features: tuple[list[Tensor], Tensor], generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        hidden_states, lengths = features
        combined, lengths = self.featurizer(hidden_states, lengths)
        if self.specaug is not None and self.training:
            combined = self.specaug(combined, lengths, generator)
        return self.head(combined, lengths)


def character_text(
    tokens: Sequence[int],
    vocabulary: Sequence[str],
    word_boundary: str = "|",
    hidden: Collection[int] = range(len(SPECIALS)),
) -> str:
    """Character tokens -> text (ASR, MLASR): the ``hidden`` ids left out (by default every special), each run of word
    boundaries one space, none at the ends."""
    hidden = set(hidden)
    text = "".join(vocabulary[t] for t in tokens if t not in hidden)
    return " ".join(text.replace(word_boundary, " ").split())


class CTCTask(TrainedTask):
    """A sequence task trained with CTC on frame features. Subclasses give the vocabulary and the metrics."""

    head_input: ClassVar[str] = "frames"
    higher_is_better: ClassVar[bool] = False
    tokens: ClassVar[TokenLayout] = S3PRL_TEXT_ENCODER
    rnn_head: ClassVar[bool] = False
    uses_specaug: ClassVar[bool] = False

    def build_model(self, num_layers: int, hidden_size: int, data: TaskData, config: Any) -> nn.Module:
        vocab_size = len(data.label_names[0])
        if self.rnn_head:
            head = RNNCTCHead(
                hidden_size,
                vocab_size,
                int(config.head.projector_dim),
                int(config.head.rnn_hidden),
                int(config.head.rnn_layers),
                float(config.head.dropout),
            )
        else:
            head = LinearCTCHead(hidden_size, vocab_size, int(config.head.projector_dim))
        specaug = SpecAugment() if self.uses_specaug and config.get("specaug", True) else None
        return FrameCTCModel(WeightedSumFeaturizer(num_layers), head, specaug)

    def train_batches(self, utterances: list[Utterance], config: Any) -> list[list[int]] | None:
        """PR and SF: s3prl's `ctc` bucketing (`data.bucketing`, on in the recipes), see
        :mod:`downstream_tasks.bucketing`."""
        if not config.data.get("bucketing", False):
            return None
        return sliding_label_buckets(
            [len(u.label) for u in utterances], [num_samples(u) for u in utterances], int(config.batch_size)
        )

    def collate_labels(self, utterances: Sequence[Utterance]) -> tuple[Tensor, Tensor]:
        targets = [torch.tensor(u.label, dtype=torch.long) for u in utterances]
        return torch.cat(targets), torch.tensor([len(t) for t in targets])

    def loss(self, outputs: tuple[Tensor, Tensor], labels: tuple[Tensor, Tensor], data: TaskData) -> Tensor:
        logits, lengths = outputs
        targets, target_lengths = labels
        log_probs = logits.log_softmax(dim=-1).transpose(0, 1)  # (T, B, V)
        return F.ctc_loss(log_probs, targets, lengths, target_lengths, blank=self.tokens.blank, zero_infinity=True)

    def predict(self, outputs: tuple[Tensor, Tensor], data: TaskData) -> list[list[int]]:
        return greedy_decode(*outputs, removed=self.tokens.removed_in_decoding)

    def render(self, tokens: Sequence[int], data: TaskData) -> str:
        """Token ids -> the string the metric compares (phones joined by spaces, characters joined)."""
        raise NotImplementedError

    def reference(self, utterance: Utterance, data: TaskData) -> str:
        return self.render([t for t in utterance.label if t != self.tokens.end], data)

    def prediction_lines(self, predictions: list, utterances: Sequence[Utterance], data: TaskData) -> list[str]:
        return [f"{u.uid}\t{self.render(p, data)}\t{self.reference(u, data)}" for p, u in zip(predictions, utterances)]
