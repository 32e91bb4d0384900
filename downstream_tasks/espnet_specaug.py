"""ESPnet's SpecAugment (``espnet2/asr/specaug/specaug.py``: ``SpecAug``), as ML-SUPERB's 1-hour recipe configures it.

``egs2/ml_superb/asr1/conf/tuning/train_asr_s3prl_1h.yaml``: time warp (window 5, bicubic), 2 frequency masks of
0-26 dims, 10 time masks of 0 to 5% of the batch's frames. It differs from s3prl's
(:class:`downstream_tasks.ctc.SpecAugment`) in ways that change what the head sees, so MLASR keeps its own:

* the order is warp, frequency masks, time masks (``SpecAug.forward``);
* a batch whose utterances differ in length is warped utterance by utterance, each over its own valid frames and
  re-padded with zeros (``espnet2/layers/time_warp.py``: ``TimeWarp.forward``); only equal lengths share one warp;
* every utterance draws its own mask widths and starts, all masks of a kind at once: widths ``randint(low, high)``
  (high excluded) and starts ``randint(0, max(1, D - widest))`` with ``widest`` the widest mask drawn for the whole
  batch (``espnet2/layers/mask_along_axis.py``: ``mask_along_axis``);
* the time masks' widest is ``floor(0.05 * T)`` of the padded length ``T``, and none is drawn when that is 0
  (``MaskAlongAxisVariableMaxWidth``); masked values become 0 (``replace_with_zero=True``).

Randomness comes from the trainer's generator (on the CPU) so a resumed run draws the same masks.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _randint(low: int, high: int, size: tuple[int, ...], generator: torch.Generator | None) -> Tensor:
    return torch.randint(low, high, size, generator=generator)


def time_warp(features: Tensor, window: int, generator: torch.Generator | None) -> Tensor:
    """Warp (B, T, D) features at one random centre: the frames before it stretched or squeezed by up to ``window``
    frames (ESPnet's ``time_warp``); sequences with ``T - window <= window`` are returned unchanged."""
    frames = features.shape[1]
    if frames - window <= window:
        return features
    centre = int(_randint(window, frames - window, (1,), generator))
    warped = int(_randint(centre - window, centre + window, (1,), generator)) + 1
    image = features.unsqueeze(1)  # (B, 1, T, D): bicubic interpolation wants 4 dimensions
    left = F.interpolate(image[:, :, :centre], size=(warped, features.shape[2]), mode="bicubic", align_corners=False)
    right = F.interpolate(
        image[:, :, centre:], size=(frames - warped, features.shape[2]), mode="bicubic", align_corners=False
    )
    return torch.cat([left, right], dim=2).squeeze(1)


def mask_along_axis(
    features: Tensor, width_range: tuple[int, int], num_masks: int, axis: int, generator: torch.Generator | None
) -> Tensor:
    """Zero ``num_masks`` random stripes per utterance along ``axis`` (1: time, 2: feature) of (B, T, D) features."""
    batch, size = features.shape[0], features.shape[axis]
    widths = _randint(width_range[0], width_range[1], (batch, num_masks), generator).unsqueeze(2)
    starts = _randint(0, max(1, size - int(widths.max())), (batch, num_masks), generator).unsqueeze(2)
    positions = torch.arange(size)[None, None, :]
    mask = ((starts <= positions) & (positions < starts + widths)).any(dim=1)  # (B, size)
    mask = mask.unsqueeze(2) if axis == 1 else mask.unsqueeze(1)
    return features.masked_fill(mask.to(features.device), 0.0)


class ESPnetSpecAug(nn.Module):
    """ESPnet's ``SpecAug`` with ``time_mask_width_ratio_range``; active in training only. Defaults: ML-SUPERB's."""

    def __init__(
        self,
        warp_window: int = 5,
        freq_mask_width: tuple[int, int] = (0, 27),
        num_freq_masks: int = 2,
        time_mask_ratio: tuple[float, float] = (0.0, 0.05),
        num_time_masks: int = 10,
    ) -> None:
        super().__init__()
        self.warp_window = warp_window
        self.freq_mask_width, self.num_freq_masks = freq_mask_width, num_freq_masks
        self.time_mask_ratio, self.num_time_masks = time_mask_ratio, num_time_masks

    def forward(self, features: Tensor, lengths: Tensor, generator: torch.Generator | None) -> Tensor:
        if not self.training:
            return features
        features = self._warp(features, lengths, generator)
        features = mask_along_axis(features, self.freq_mask_width, self.num_freq_masks, 2, generator)
        frames = features.shape[1]
        narrowest = max(0, math.floor(frames * self.time_mask_ratio[0]))
        widest = min(frames, math.floor(frames * self.time_mask_ratio[1]))
        if widest > narrowest:
            features = mask_along_axis(features, (narrowest, widest), self.num_time_masks, 1, generator)
        return features

    def _warp(self, features: Tensor, lengths: Tensor, generator: torch.Generator | None) -> Tensor:
        valid = [int(length) for length in lengths.tolist()]
        if all(length == valid[0] for length in valid):  # ESPnet applies one warp to the whole batch then
            return time_warp(features, self.warp_window, generator)
        warped = torch.zeros_like(features)
        for row, length in enumerate(valid):
            warped[row, :length] = time_warp(features[row : row + 1, :length], self.warp_window, generator)[0]
        return warped
