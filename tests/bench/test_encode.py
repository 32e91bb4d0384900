"""bench.encode: what every encoder call is checked for, with stand-in encoders (no training)."""

from __future__ import annotations

import pytest
import torch

from bench.encode import encode
from benchcore.errors import BenchError
from upstream.base import Upstream


class Scripted(Upstream):
    """Hidden states of ones with a NaN at (utterance ``bad_row``, hidden state ``bad_layer``), 20 ms frames; a front
    end that needs ``min_samples`` of input, as a convolution stack does."""

    def __init__(self, bad_row: int | None = None, bad_layer: int = 1, min_samples: int = 400) -> None:
        super().__init__("scripted", "test")
        self.bad_row, self.bad_layer, self.min_samples = bad_row, bad_layer, min_samples

    def _encode(self, wavs):
        if max(wav.numel() for wav in wavs) < self.min_samples:  # a padded batch is as long as its longest
            raise RuntimeError("Kernel size can't be greater than actual input size")
        lengths = torch.tensor([wav.numel() // 320 for wav in wavs])
        states = [torch.ones(len(wavs), int(lengths.max()), 4) for _ in range(3)]
        if self.bad_row is not None and len(wavs) > self.bad_row:
            states[self.bad_layer][self.bad_row, 0, 0] = float("nan")
        return states, lengths


def test_nan_in_a_hidden_state_names_the_utterance_the_state_and_the_precision():
    waveforms = [torch.zeros(16000), torch.zeros(8000)]
    with pytest.raises(BenchError, match=r"NaN/Inf for b\.wav in hidden state 2 \(forward in float32\)"):
        encode(Scripted(bad_row=1, bad_layer=2), waveforms, ["a.wav", "b.wav"])
    fp16 = Scripted(bad_row=0, bad_layer=0).set_precision("fp16")
    with pytest.raises(BenchError, match=r"a\.wav in hidden state 0 \(forward in float16\); rerun with --dtype fp32"):
        encode(fp16, waveforms, ["a.wav", "b.wav"])
    assert encode(Scripted(), waveforms, ["a.wav", "b.wav"])["hidden_states_lengths"].tolist() == [50, 25]


def test_the_receptive_field_is_measured_and_only_whole_files_are_refused():
    wide = Scripted(min_samples=1000)
    assert wide.min_input_samples == 1000  # more than one 25 ms window: measured by bisection
    assert Scripted(min_samples=10).min_input_samples == 400  # never below one analysis window
    waveforms = [torch.zeros(16000), torch.zeros(700)]
    with pytest.raises(BenchError, match=r"audio file short\.wav has 700 samples .* receptive field of 1000 samples"):
        encode(wide, waveforms, ["long.wav", "short.wav"])
    # a recipe's segment of a longer file (SD's last chunk) is not a file of its own: the batch pads it, as s3prl's
    encode(wide, waveforms, ["long.wav", "long.wav#9.95-10.00"], whole_files=[True, False])
