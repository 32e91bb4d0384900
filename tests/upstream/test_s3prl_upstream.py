"""s3prl's own upstreams by name: FBANK (SUPERB's baseline) offline."""

from __future__ import annotations

import math

import pytest
import torch
from fixtures.signals import noise

from benchcore.errors import BenchError
from upstream.registry import load_upstream
from upstream.s3prl_compat import import_s3prl_nn


@pytest.mark.parametrize("name", ["fbank", "s3prl:fbank", "fbank_no_cmvn"])
def test_fbank_shapes_lengths_and_stride(name):
    upstream = load_upstream(name)
    wavs = [noise(1.0, 21), noise(0.75, 22)]
    output = upstream(wavs)
    assert len(output["hidden_states"]) == 1
    assert output["hidden_states"][0].shape == (2, 100, 240)
    assert output["hidden_states_lengths"].tolist() == [math.ceil(16000 / 160), math.ceil(12000 / 160)]
    assert upstream.get_downsample_rates("hidden_states") == 160


def test_same_numbers_as_s3prl_itself_one_utterance_at_a_time():
    """s3prl's own output for each utterance alone. (In a padded batch s3prl fills the ceil(len/160) - kaldi
    frames of a short utterance with zeros instead of repeats, so we run FBANK per utterance.)"""
    reference = import_s3prl_nn().S3PRLUpstream("fbank").eval()
    wavs = [noise(1.2, 23), noise(0.6, 24)]
    ours = load_upstream("fbank")(wavs)
    for row, wav in enumerate(wavs):
        with torch.no_grad():
            states, state_lengths = reference(wav[None], torch.tensor([wav.numel()]))
        num_frames = int(state_lengths[0][0])
        assert int(ours["hidden_states_lengths"][row]) == num_frames
        assert torch.equal(ours["hidden_states"][0][row, :num_frames], states[0][0, :num_frames])


def test_cmvn_makes_utterance_means_vanish():
    """Why mean-pooled heads on SUPERB's FBANK sit near chance: per-utterance CMVN zeroes the mean."""
    with_cmvn = load_upstream("fbank")([noise(1.0, 25)])["hidden_states"][0]
    without = load_upstream("fbank_no_cmvn")([noise(1.0, 25)])["hidden_states"][0]
    # (not exactly zero: s3prl pads 98 kaldi frames to ceil(16000/160) = 100 by repeating the last one)
    assert with_cmvn.mean(dim=1).abs().max() < 0.1
    assert without.mean(dim=1).abs().max() > 1.0


def test_unknown_s3prl_name_is_a_clear_error():
    with pytest.raises(BenchError, match="s3prl has no upstream named 'fbankk'"):
        load_upstream("s3prl:fbankk")
