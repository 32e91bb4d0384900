from __future__ import annotations

import numpy as np
import pytest
import soundfile

from benchcore.audio import list_audio_files, load_audio
from benchcore.errors import BenchError


def test_stereo_8k_becomes_mono_16k(tmp_path):
    t = np.arange(8000) / 8000
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    soundfile.write(tmp_path / "a.wav", np.stack([left, left], axis=1), 8000)
    waveform = load_audio(tmp_path / "a.wav")
    assert waveform.ndim == 1 and waveform.numel() == 16000
    assert abs(float(waveform.abs().max()) - 0.5) < 0.02


def test_flac_round_trip(tmp_path):
    samples = (np.random.default_rng(0).standard_normal(4000) * 0.1).astype(np.float32)
    soundfile.write(tmp_path / "a.flac", samples, 16000)
    assert np.allclose(load_audio(tmp_path / "a.flac").numpy(), samples, atol=1e-4)


def test_corrupt_audio_names_the_file(tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00not really a wave file")
    with pytest.raises(BenchError, match="broken.wav"):
        load_audio(bad)


def test_listing_errors(tmp_path):
    with pytest.raises(BenchError, match="no such file or directory"):
        list_audio_files(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(BenchError, match="no audio files"):
        list_audio_files(tmp_path)
