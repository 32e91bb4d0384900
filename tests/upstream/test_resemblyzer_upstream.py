"""The pretrained GE2E speaker encoder (`resemblyzer`): the package's own functions give the same mels, frames and
embeddings; every layer is a hidden state; a damaged checkpoint stops the load with one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fixtures.signals import noise

from bench.sample_audio import SAMPLE_DIR
from benchcore.audio import load_audio
from benchcore.errors import BenchError
from upstream.registry import load_upstream
from upstream.resemblyzer import HOP_SAMPLES, ResemblyzerUpstream, normalize_volume, packaged_weights

resemblyzer = pytest.importorskip("resemblyzer")
from resemblyzer import VoiceEncoder, audio  # noqa: E402


@pytest.fixture(scope="module")
def ours() -> ResemblyzerUpstream:
    return load_upstream("resemblyzer")


@pytest.fixture(scope="module")
def theirs() -> VoiceEncoder:
    return VoiceEncoder("cpu", verbose=False)


@pytest.fixture(scope="module")
def speech() -> torch.Tensor:
    return load_audio(sorted(SAMPLE_DIR.glob("*.wav"))[0])


def test_mel_equals_the_packages_librosa_mel(ours, speech):
    expected = audio.wav_to_mel_spectrogram(speech.numpy())
    mels, lengths = ours.mels([speech])
    assert mels.shape[1:] == expected.shape and int(lengths[0]) == expected.shape[0]
    assert np.abs(mels[0].numpy() - expected).max() <= 1e-4 * np.abs(expected).max()


def test_volume_normalisation_equals_the_packages(speech):
    quiet = 0.01 * speech
    expected = audio.normalize_volume(quiet.numpy().astype(np.float64), -30, increase_only=True)
    assert np.allclose(normalize_volume(quiet).numpy(), expected, rtol=1e-5, atol=1e-7)
    loud = speech / speech.abs().max()
    assert torch.equal(normalize_volume(loud), loud)  # increase only: a loud utterance is left as it is
    assert torch.equal(normalize_volume(torch.zeros(1600)), torch.zeros(1600))


def test_layer_by_layer_lstm_equals_the_stacked_one(ours, theirs, speech):
    mels, _ = ours.mels([speech])
    hidden = ours([speech])["hidden_states"]
    with torch.no_grad():
        stacked, _ = theirs.lstm(mels)
        projected = torch.relu(theirs.linear(stacked))
    assert torch.allclose(hidden[2], stacked, atol=1e-5)
    assert torch.allclose(hidden[3], projected, atol=1e-5)


def test_utterance_embedding_equals_embed_utterance(ours, theirs, speech):
    """The package's embed_utterance (1.6 s windows at 1.3 per second, averaged) from our mels and layers."""
    wav = normalize_volume(speech).numpy()
    expected = theirs.embed_utterance(wav)
    wav_slices, mel_slices = theirs.compute_partial_slices(len(wav), rate=1.3, min_coverage=0.75)
    padded = np.pad(wav, (0, max(0, wav_slices[-1].stop - len(wav))))
    mels, _ = ours.mels([torch.from_numpy(padded)])
    partials = ours.utterance_embedding(torch.stack([mels[0, window] for window in mel_slices]))
    embedding = partials.mean(dim=0)
    embedding = (embedding / embedding.norm()).numpy()
    assert np.abs(embedding - expected).max() < 1e-4


def test_hidden_states_contract(ours):
    assert ours.num_hidden_states == 4 and ours.hidden_size == 256
    assert ours.get_downsample_rates("hidden_states") == HOP_SAMPLES == 160
    wavs = [noise(1.3, 1), noise(0.55, 2)]
    out = ours(wavs)
    assert out["hidden_states_lengths"].tolist() == [1 + wav.numel() // HOP_SAMPLES for wav in wavs]
    alone = ours([wavs[1]])
    frames = int(alone["hidden_states_lengths"][0])
    for batched, single in zip(out["hidden_states"], alone["hidden_states"], strict=True):
        assert torch.allclose(batched[1, :frames], single[0], atol=1e-5)  # causal LSTM, zero-padded mel: exact
    assert ours.info().load_report == {
        "rebuilt": [],
        "missing_unused": [],
        "unexpected": ["similarity_bias", "similarity_weight"],
    }
    assert not any(parameter.requires_grad for parameter in ours.parameters())


def _damaged(tmp_path, change) -> str:
    checkpoint = torch.load(packaged_weights(), map_location="cpu", weights_only=True)
    change(checkpoint["model_state"])
    path = tmp_path / "damaged.pt"
    torch.save(checkpoint, path)
    return f"resemblyzer:{path}"


def test_a_missing_tensor_stops_the_load(tmp_path):
    name = _damaged(tmp_path, lambda state: state.pop("lstm.weight_hh_l1"))
    with pytest.raises(BenchError, match=r"lacks 1 learned tensor\(s\) the forward reads: lstm.weight_hh_l1"):
        load_upstream(name)


def test_a_non_finite_or_misshapen_tensor_stops_the_load(tmp_path):
    def poison(state):
        state["linear.bias"][3] = float("nan")

    with pytest.raises(BenchError, match="NaN or infinite values in linear.bias"):
        load_upstream(_damaged(tmp_path, poison))

    def shrink(state):
        state["linear.weight"] = state["linear.weight"][:128]

    with pytest.raises(BenchError, match=r"wrong shape: linear.weight \(128, 256\)"):
        load_upstream(_damaged(tmp_path, shrink))
    with pytest.raises(BenchError, match="no checkpoint at"):
        load_upstream(f"resemblyzer:{tmp_path / 'absent.pt'}")
