"""s3prl's sox chain (sv_voxceleb1/dataset.py ``EFFECTS``) run through the sox command and cached once per file.

The reference is a direct ``sox -D`` run writing 32-bit float, the conversion torchaudio's ``apply_effects_file``
uses too (``SOX_SAMPLE_TO_FLOAT_32BIT``): the chain's output must equal it bit for bit, from sox and from the cache.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile

import benchcore.sox_effects as sox_effects
from benchcore.errors import BenchError
from benchcore.sox_effects import SoxChain, gained_float32, s3prl_sv_chain

RATE = 16_000
pytestmark = pytest.mark.skipif(
    not any(Path(d, "sox").exists() for d in os.environ.get("PATH", "").split(os.pathsep)),
    reason="the sox command is not installed (setup.sh installs it)",
)


def _burst(rng: np.random.Generator, seconds: float) -> np.ndarray:
    """Speech-like: a voiced tone plus noise under a smooth envelope, peaking near 0.3 of full scale."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    envelope = np.sin(np.pi * np.arange(n) / n) ** 0.5
    return 0.3 * envelope * (0.5 * np.sin(2 * np.pi * 180 * t) + 0.5 * rng.standard_normal(n))


def _noise(rng: np.random.Generator, seconds: float, rms: float) -> np.ndarray:
    return rms * rng.standard_normal(int(seconds * RATE))


def write_speech_with_silences(path: Path, seed: int = 0) -> Path:
    """2.25 s of bursts among stretches sox's ``silence 1 0.1 0.1% -1 0.1 0.1%`` after ``gain -3`` must cut or keep.

    0.1 % after -3 dB is 0.141 % before it: noise at 0.13 % is cut only because the gain comes first; 0.16 % is kept.
    """
    rng = np.random.default_rng(seed)
    parts = [
        np.zeros(int(0.3 * RATE)),  # leading silence: cut
        _burst(rng, 0.5),
        np.zeros(int(0.05 * RATE)),  # a gap shorter than 0.1 s: kept
        _burst(rng, 0.4),
        _noise(rng, 0.3, 0.0013),  # below the threshold after the gain: cut
        _burst(rng, 0.4),
        _noise(rng, 0.3, 0.0016),  # above it: kept
        _burst(rng, 0.3),
        _noise(rng, 0.2, 0.0005),  # well below: cut
        _burst(rng, 0.3),
        np.zeros(int(0.4 * RATE)),
    ]  # trailing silence: cut
    pcm16 = np.clip(np.round(np.concatenate(parts) * 32768), -32768, 32767).astype(np.int16)
    soundfile.write(path, pcm16, RATE, subtype="PCM_16")
    return path


def direct_sox(source: Path, effects: list[list[str]], tmp_path: Path) -> np.ndarray:
    """The reference: the sox command itself, no dither, writing a 32-bit float WAV read back as float32."""
    target = tmp_path / f"direct-{source.stem}.wav"
    subprocess.run(
        [
            "sox",
            "-D",
            str(source),
            "-e",
            "floating-point",
            "-b",
            "32",
            str(target),
            *(word for effect in effects for word in effect),
        ],
        check=True,
        capture_output=True,
    )
    samples, rate = soundfile.read(target, dtype="float32")
    assert rate == RATE
    return samples


def _effects(chain: SoxChain) -> list[list[str]]:
    return [list(effect) for effect in chain.effects]


def test_chain_equals_a_direct_sox_run_and_cuts_what_the_recipe_cuts(tmp_path):
    source = write_speech_with_silences(tmp_path / "speech.wav")
    chain = s3prl_sv_chain(-3.0, tmp_path / "cache")
    assert _effects(chain) == [
        ["channels", "1"],
        ["rate", "16000"],
        ["gain", "-3.0"],
        ["silence", "1", "0.1", "0.1%", "-1", "0.1", "0.1%"],
    ]  # s3prl dataset.py EFFECTS
    trimmed = chain.samples(source)
    reference = direct_sox(source, _effects(chain), tmp_path)
    assert trimmed.dtype == np.float32 and np.array_equal(trimmed, reference)
    assert 2.1 * RATE < len(trimmed) < 2.45 * RATE  # the 2.25 s of bursts and kept stretches, give or take a window
    # the order matters on this file: a trim before the gain keeps the 0.13 % stretch
    reordered = [
        ["channels", "1"],
        ["rate", "16000"],
        ["silence", "1", "0.1", "0.1%", "-1", "0.1", "0.1%"],
        ["gain", "-3.0"],
    ]
    assert len(direct_sox(source, reordered, tmp_path)) > len(trimmed) + 0.25 * RATE
    # stored as the kept 16-bit samples: at most one byte per input byte
    entry = chain.entry(source)
    assert np.load(entry).dtype == np.int16 and entry.stat().st_size <= source.stat().st_size
    assert chain.length(source) == len(trimmed) and chain.load(source).numpy().tobytes() == reference.tobytes()


def test_float_input_is_stored_as_float32_and_still_exact(tmp_path):
    samples, _ = soundfile.read(write_speech_with_silences(tmp_path / "speech.wav"), dtype="float32")
    source = tmp_path / "float.wav"
    soundfile.write(source, samples * 0.9, RATE, subtype="FLOAT")  # not a 16-bit grid any more
    chain = s3prl_sv_chain(-3.0, tmp_path / "cache")
    assert np.array_equal(chain.samples(source), direct_sox(source, _effects(chain), tmp_path))
    assert np.load(chain.entry(source)).dtype == np.float32


@pytest.mark.parametrize("gain_db", [-3.0, 2.5])
def test_gained_float32_is_sox_gain_for_every_16bit_value(gain_db, tmp_path):
    every = np.arange(-32768, 32768, dtype=np.int16)
    source = tmp_path / "every.wav"
    soundfile.write(source, every, RATE, subtype="PCM_16")
    reference = direct_sox(source, [["gain", repr(gain_db)]], tmp_path)  # +2.5 dB clips the loudest values
    assert np.array_equal(gained_float32(every, gain_db), reference)


def test_the_second_read_runs_no_sox_and_an_edited_file_runs_it_again(tmp_path, monkeypatch):
    source = write_speech_with_silences(tmp_path / "speech.wav")
    first = s3prl_sv_chain(-3.0, tmp_path / "cache").samples(source)
    calls = []
    real_run = subprocess.run

    def counting_run(command, *args, **kwargs):
        calls.append(command)
        return real_run(command, *args, **kwargs)

    monkeypatch.setattr(sox_effects.subprocess, "run", counting_run)
    chain = s3prl_sv_chain(-3.0, tmp_path / "cache")  # a new object, as in a new process
    assert np.array_equal(chain.samples(source), first) and chain.lengths([source, source]) == [len(first)] * 2
    assert calls == []
    write_speech_with_silences(source, seed=1)  # same layout, other noise: a new identity (size or mtime)
    os.utime(source, ns=(1, 1))
    assert not np.array_equal(chain.samples(source), first) and len(calls) == 1


def test_lengths_of_many_files_in_parallel_match_one_at_a_time(tmp_path):
    sources = [write_speech_with_silences(tmp_path / f"{seed}.wav", seed) for seed in range(4)]
    chain = s3prl_sv_chain(-3.0, tmp_path / "cache")
    lengths = chain.lengths(sources, progress=False, workers=2)
    assert lengths == [len(direct_sox(source, _effects(chain), tmp_path)) for source in sources]


def test_a_cut_short_entry_is_computed_again(tmp_path):
    source = write_speech_with_silences(tmp_path / "speech.wav")
    chain = s3prl_sv_chain(-3.0, tmp_path / "cache")
    expected = chain.samples(source)
    entry = chain.entry(source)
    entry.write_bytes(entry.read_bytes()[:-10])  # a power cut before the unsynced entry reached the disk
    assert chain.length(source) == len(expected) and np.array_equal(chain.samples(source), expected)


def test_missing_sox_is_one_line_naming_the_file_and_the_switch(tmp_path, monkeypatch):
    source = write_speech_with_silences(tmp_path / "speech.wav")
    monkeypatch.setenv("PATH", str(tmp_path / "no-binaries-here"))
    with pytest.raises(BenchError) as caught:
        s3prl_sv_chain(-3.0, tmp_path / "cache", switch="data.trim_silence=false").samples(source)
    message = str(caught.value)
    assert "\n" not in message and "speech.wav" in message and "sox" in message and "data.trim_silence=false" in message


def test_a_sox_failure_names_the_file(tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00not really a wave file")
    with pytest.raises(BenchError, match="broken.wav") as caught:
        s3prl_sv_chain(-3.0, tmp_path / "cache").samples(broken)
    assert "\n" not in str(caught.value)


def test_a_file_of_silence_leaves_nothing_and_loading_it_says_so(tmp_path):
    source = tmp_path / "quiet.wav"
    soundfile.write(source, np.zeros(RATE, dtype=np.int16), RATE, subtype="PCM_16")
    chain = s3prl_sv_chain(-3.0, tmp_path / "cache", switch="data.trim_silence=false")
    assert chain.length(source) == 0
    with pytest.raises(BenchError, match="quiet.wav.*data.trim_silence=false"):
        chain.load(source)


class _Terminal:
    """A stderr that says it is a terminal, so tqdm's `disable=None` draws the bar."""

    def __init__(self) -> None:
        self.written: list[str] = []

    def write(self, text: str) -> int:
        self.written.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("shown", [True, False])
def test_the_sox_bar_shows_on_a_terminal_unless_the_run_is_quiet(shown, tmp_path, monkeypatch):
    from benchcore.progress import progress_bars

    terminal = _Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    files = [write_speech_with_silences(tmp_path / f"{i}.wav", seed=i) for i in range(2)]
    with progress_bars(shown):  # what `bench run` binds around its readers: not --quiet
        s3prl_sv_chain(-3.0, tmp_path / "cache").lengths(files)
    assert ("sox" in "".join(terminal.written)) == shown
