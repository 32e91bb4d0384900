"""Our upstreams can be handed to s3prl code as is."""

from __future__ import annotations

import pytest
import torch
from fixtures.signals import noise

from upstream.registry import load_upstream, register_with_s3prl
from upstream.s3prl_compat import import_s3prl_nn


@pytest.mark.parametrize(
    "prefix,fixture", [("hf", "hubert-group"), ("hf", "wav2vec2-bert"), ("meralion", None), ("alias", "resemblyzer")]
)
def test_s3prl_upstream_wraps_ours(prefix, fixture, tiny_hf_dirs, tiny_meralion_dir):
    if prefix == "alias":  # a built-in name: the pretrained resemblyzer encoder
        name = fixture
    else:
        name = f"{prefix}:{tiny_meralion_dir if fixture is None else tiny_hf_dirs[fixture]}"
    entry = register_with_s3prl()
    wrapped = import_s3prl_nn().S3PRLUpstream(entry, path_or_url=name).eval()
    ours = load_upstream(name)
    assert wrapped.num_layers == ours.num_hidden_states
    assert wrapped.downsample_rates == [ours.get_downsample_rates("hidden_states")] * ours.num_hidden_states
    assert not wrapped.upstream.training  # s3prl called .train() on it; a frozen upstream refuses

    wavs = [noise(1.3, 31), noise(0.9, 32)]
    lengths = torch.tensor([wav.numel() for wav in wavs])
    with torch.no_grad():
        states, _ = wrapped(torch.nn.utils.rnn.pad_sequence(wavs, batch_first=True), lengths)
    expected = ours(wavs)
    valid = expected["hidden_states_lengths"].tolist()
    # s3prl pads or trims a batch to ceil(samples / stride) frames (resemblyzer's centred mel frames, 1 + n // hop, are
    # one more; a conv stack's are one or two fewer); the frames both have must agree
    stride = ours.get_downsample_rates("hidden_states")
    for theirs, mine in zip(states, expected["hidden_states"], strict=True):
        assert theirs.shape[1] == -(-max(wav.numel() for wav in wavs) // stride)
        for row, num_frames in enumerate(valid):
            common = min(num_frames, theirs.shape[1])
            assert torch.allclose(theirs[row, :common], mine[row, :common], atol=1e-5)
