"""ML-SUPERB's downstream ASR model: a linear pre-encoder, ESPnet's ``conv2d2`` subsampling, a small Transformer
encoder and a CTC output layer (ESPnet ``egs2/ml_superb/asr1/conf/tuning/train_asr_s3prl_1h.yaml``: preencoder
linear to 80, encoder transformer with output_size 256, 8 attention heads, 1024 linear units, 2 blocks, dropout 0.1,
input_layer conv2d2, normalize_before true; decoder none, ctc_weight 1.0).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: ``conv2d2`` needs this many input frames to give one output frame (3x3 kernel with stride 2, then 3x3).
MIN_FRAMES = 7


def subsampled_lengths(lengths: Tensor) -> Tensor:
    """Frames after ``conv2d2``: T' = (T - 1) // 2 - 2 (ESPnet's Conv2dSubsampling2 mask arithmetic), at least 1."""
    return ((lengths - 1) // 2 - 2).clamp(min=1)


class Conv2dSubsampling2(nn.Module):
    """ESPnet's ``conv2d2``: Conv2d(1, d, 3, stride 2) -> ReLU -> Conv2d(d, d, 3, stride 1) -> ReLU over (time, feature),
    flattened and projected to ``d_model``, then scaled by sqrt(d_model) plus sinusoidal positions (its PositionalEncoding)."""

    def __init__(self, input_dim: int, d_model: int, dropout: float, channels: int | None = None) -> None:
        super().__init__()
        self.d_model = d_model
        channels = channels or d_model  # ESPnet's: as many channels as d_model (fewer make CPU runs affordable)
        self.conv = nn.Sequential(nn.Conv2d(1, channels, 3, 2), nn.ReLU(), nn.Conv2d(channels, channels, 3, 1), nn.ReLU())
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
    """Linear(D, preencoder_dim) -> conv2d2 -> ``num_blocks`` pre-norm Transformer layers -> LayerNorm -> Linear(V).
    Returns (logits, lengths) at half the input frame rate. ``conv_channels`` None is ESPnet's (``d_model``)."""

    def __init__(self, input_dim: int, vocab_size: int, preencoder_dim: int = 80, d_model: int = 256,
                 attention_heads: int = 8, linear_units: int = 1024, num_blocks: int = 2, dropout: float = 0.1,
                 conv_channels: int | None = None) -> None:
        super().__init__()
        self.preencoder = nn.Linear(input_dim, preencoder_dim)
        self.subsampling = Conv2dSubsampling2(preencoder_dim, d_model, dropout, conv_channels)
        layer = nn.TransformerEncoderLayer(d_model, attention_heads, linear_units, dropout, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_blocks, enable_nested_tensor=False)
        self.after_norm = nn.LayerNorm(d_model)
        self.output = nn.Linear(d_model, vocab_size)

    def forward(self, features: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        hidden, lengths = self.subsampling(self.preencoder(features), lengths)
        padding = torch.arange(hidden.shape[1], device=hidden.device)[None, :] >= lengths[:, None]
        hidden = self.encoder(hidden, src_key_padding_mask=padding)
        return self.output(self.after_norm(hidden)), lengths
