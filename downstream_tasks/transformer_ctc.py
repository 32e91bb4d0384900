"""ML-SUPERB's downstream ASR model: utterance mean normalisation, a linear pre-encoder, ESPnet's ``conv2d2``
subsampling, a small Transformer encoder and a CTC output layer with ESPnet's CTC loss (ESPnet
``egs2/ml_superb/asr1/conf/tuning/train_asr_s3prl_1h.yaml``: preencoder linear to 80, encoder transformer with
output_size 256, 8 attention heads, 1024 linear units, 2 blocks, dropout 0.1, input_layer conv2d2, normalize_before
true; decoder none, ctc_weight 1.0; ``run_multi.sh``: ``--feats_normalize utterance_mvn``).

ESPnet's ``ESPnetASRModel.encode`` runs frontend (the weighted sum of the upstream's layers) -> specaug -> normalize ->
preencoder -> encoder, so the normalisation sees the augmented features: the task wraps :class:`TransformerCTCHead`
(normalisation first) in :class:`downstream_tasks.ctc.FrameCTCModel`, which applies SpecAugment before the head.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: ``conv2d2`` needs this many input frames to give one output frame (3x3 kernel with stride 2, then 3x3).
MIN_FRAMES = 7
#: ESPnet's LayerNorm (``espnet/nets/pytorch_backend/transformer/layer_norm.py``) is torch's with this epsilon.
LAYER_NORM_EPS = 1e-12


def utterance_mean_normalise(features: Tensor, lengths: Tensor) -> Tensor:
    """ESPnet's ``utterance_mvn`` with its defaults (``espnet2/layers/utterance_mvn.py``: norm_means=True,
    norm_vars=False), the normaliser ``espnet2/tasks/asr.py`` builds by default and ``asr.sh`` keeps for
    ``--feats_normalize utterance_mvn``: padding is zeroed, the mean over each utterance's valid frames is subtracted
    from all its frames (the padding becomes minus the mean, as in ESPnet; no valid ``conv2d2`` output reads it)."""
    valid = torch.arange(features.shape[1], device=features.device)[None, :] < lengths.to(features.device)[:, None]
    features = features.masked_fill(~valid.unsqueeze(-1), 0.0)
    mean = features.sum(dim=1, keepdim=True) / lengths.to(features.device, features.dtype).view(-1, 1, 1)
    return features - mean


def subsampled_lengths(lengths: Tensor) -> Tensor:
    """Frames after ``conv2d2``: T' = (T - 1) // 2 - 2 (ESPnet's Conv2dSubsampling2 mask arithmetic), at least 1."""
    return ((lengths - 1) // 2 - 2).clamp(min=1)


class Conv2dSubsampling2(nn.Module):
    """ESPnet's ``conv2d2``: Conv2d(1, d, 3, stride 2) -> ReLU -> Conv2d(d, d, 3, stride 1) -> ReLU over
    (time, feature), flattened and projected to ``d_model``, then scaled by sqrt(d_model) plus sinusoidal positions
    (its PositionalEncoding)."""

    def __init__(self, input_dim: int, d_model: int, dropout: float, channels: int | None = None) -> None:
        super().__init__()
        self.d_model = d_model
        channels = channels or d_model  # ESPnet's: as many channels as d_model (fewer make CPU runs affordable)
        self.conv = nn.Sequential(
            nn.Conv2d(1, channels, 3, 2), nn.ReLU(), nn.Conv2d(channels, channels, 3, 1), nn.ReLU()
        )
        self.projection = nn.Linear(channels * ((input_dim - 1) // 2 - 2), d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        if features.shape[1] < MIN_FRAMES:  # a very short utterance still gives one frame
            features = F.pad(features, (0, 0, 0, MIN_FRAMES - features.shape[1]))
        hidden = self.conv(features.unsqueeze(1))  # (B, d, T', F')
        batch, channels, frames, bins = hidden.shape
        hidden = self.projection(hidden.transpose(1, 2).reshape(batch, frames, channels * bins))
        hidden = hidden * math.sqrt(self.d_model) + sinusoidal_positions(frames, self.d_model, hidden.device)
        return self.dropout(hidden), subsampled_lengths(lengths.to(hidden.device)).clamp(max=frames)


def sinusoidal_positions(frames: int, d_model: int, device: torch.device) -> Tensor:
    position = torch.arange(frames, device=device, dtype=torch.float32)[:, None]
    scale = torch.exp(torch.arange(0, d_model, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    table = torch.zeros(frames, d_model, device=device)
    table[:, 0::2] = torch.sin(position * scale)
    table[:, 1::2] = torch.cos(position * scale)
    return table


class TransformerCTCHead(nn.Module):
    """Utterance mean normalisation -> Linear(D, preencoder_dim) -> conv2d2 -> ``num_blocks`` pre-norm Transformer
    layers -> LayerNorm -> Linear(V). Returns (logits, lengths) at half the input frame rate. ``conv_channels`` None
    is ESPnet's (``d_model``)."""

    def __init__(
        self,
        input_dim: int,
        vocab_size: int,
        preencoder_dim: int = 80,
        d_model: int = 256,
        attention_heads: int = 8,
        linear_units: int = 1024,
        num_blocks: int = 2,
        dropout: float = 0.1,
        conv_channels: int | None = None,
        normalise_means: bool = True,
    ) -> None:
        super().__init__()
        self.normalise_means = normalise_means
        self.preencoder = nn.Linear(input_dim, preencoder_dim)
        self.subsampling = Conv2dSubsampling2(preencoder_dim, d_model, dropout, conv_channels)
        layer = nn.TransformerEncoderLayer(
            d_model,
            attention_heads,
            linear_units,
            dropout,
            batch_first=True,
            norm_first=True,
            layer_norm_eps=LAYER_NORM_EPS,
        )
        self.encoder = nn.TransformerEncoder(layer, num_blocks, enable_nested_tensor=False)
        self.after_norm = nn.LayerNorm(d_model, eps=LAYER_NORM_EPS)
        self.output = nn.Linear(d_model, vocab_size)

    def forward(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        if self.normalise_means:
            features = utterance_mean_normalise(features, lengths)
        hidden, lengths = self.subsampling(self.preencoder(features), lengths)
        padding = torch.arange(hidden.shape[1], device=hidden.device)[None, :] >= lengths[:, None]
        hidden = self.encoder(hidden, src_key_padding_mask=padding)
        return self.output(self.after_norm(hidden)), lengths


def utterance_ctc_losses(
    logits: Tensor, lengths: Tensor, targets: Tensor, target_lengths: Tensor, blank: int = 0
) -> Tensor:
    """Each utterance's CTC loss, -log p(target | frames), not divided by its length: torch's ``CTCLoss`` with
    ``reduction="none", zero_infinity=True`` as ESPnet's ``CTC`` builds it (``espnet2/asr/ctc.py``, ctc_type
    builtin)."""
    log_probs = logits.log_softmax(dim=-1).transpose(0, 1)  # (T, B, V)
    return F.ctc_loss(log_probs, targets, lengths, target_lengths, blank=blank, reduction="none", zero_infinity=True)


def espnet_ctc_loss(logits: Tensor, lengths: Tensor, targets: Tensor, target_lengths: Tensor, blank: int = 0) -> Tensor:
    """ESPnet's CTC loss of a batch: the sum of the utterances' losses over the batch size (``CTC.loss_fn``: "Batch-size
    average", ``loss.sum() / size``), where torch's default would average each loss over its target length first."""
    return utterance_ctc_losses(logits, lengths, targets, target_lengths, blank).sum() / logits.shape[0]
