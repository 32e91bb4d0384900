"""Turn a declarative audio job into a file: espeak-ng speech, mixing, room, noise, level, resampling.

A job (``AudioJob``) is plain picklable data, planned in the main process with seeded random
choices and rendered in a worker process. The worker draws its own randomness (noise, room
impulse response) from ``job.seed`` alone, so a file's bytes depend only on its job, never on
which worker ran it or in which order: that is what makes parallel and resumed runs byte-identical.
"""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
from scipy.signal import fftconvolve, lfilter, resample_poly

from .atomic import write_audio

ESPEAK_RATE = 22050
# Polyphase factors from espeak-ng's 22050 Hz to the corpus rates (gcd-reduced up/down).
_RESAMPLE = {16000: (320, 441), 8000: (160, 441)}
_TRIM_THRESHOLD = 0.01  # of full scale: espeak pads utterances with digital silence


@dataclass(frozen=True)
class Phrase:
    """One espeak-ng call placed on a track of the output.

    ``at`` (seconds) fixes the start on the track; otherwise the phrase follows the previous one on
    the same track after ``gap`` seconds. Separate tracks overlap (diarization mixtures, babble).
    """

    text: str
    voice: str  # espeak voice with variant, e.g. "en-us+m3"
    pitch: int = 50  # espeak -p, 0..99
    rate: int = 170  # espeak -s, words per minute
    pitch_range: str | None = None  # SSML prosody range: x-low, low, medium, high, x-high
    gap: float = 0.0
    at: float | None = None
    track: int = 0


@dataclass(frozen=True)
class Acoustics:
    """The recording conditions of one file; every level is drawn by the planner, not here."""

    level_db: float = -24.0  # RMS of the active speech, dBFS (random per file: loudness is no cue)
    snr_db: float = 35.0  # white noise relative to speech RMS
    room_tone_db: float = -62.0  # low-frequency rumble level, dBFS
    rt60: float = 0.0  # seconds of synthetic reverberation; 0 = dry
    tilt: float = 0.0  # first-order spectral tilt coefficient (channel colour), -0.5..0.5
    hum_hz: float = 0.0  # mains hum fundamental; 0 = none


@dataclass(frozen=True)
class AudioJob:
    """Everything needed to render one audio file."""

    rel_path: str  # relative to the corpus root
    phrases: tuple[Phrase, ...]
    seed: int
    sample_rate: int = 16000
    fmt: str = "WAV"  # or "FLAC"
    lead: float = 0.3  # silence before the first phrase
    tail: float = 0.3  # silence after the last phrase
    duration: float | None = None  # fixed output length (Speech Commands clips); crops or pads
    noise_kind: str | None = None  # noise-only file: white, pink, brown, hum, babble, tap
    acoustics: Acoustics = field(default_factory=Acoustics)


@dataclass(frozen=True)
class RenderResult:
    """What the label writers need to know about a rendered file."""

    rel_path: str
    num_samples: int
    sample_rate: int
    spans: tuple[tuple[float, float, int], ...]  # (start s, end s, track) per phrase, in order
    size: int

    @property
    def duration(self) -> float:
        return self.num_samples / self.sample_rate

    def to_json(self) -> dict:
        return {
            "rel_path": self.rel_path,
            "num_samples": self.num_samples,
            "sample_rate": self.sample_rate,
            "spans": [list(s) for s in self.spans],
            "size": self.size,
        }

    @classmethod
    def from_json(cls, data: dict) -> RenderResult:
        return cls(
            data["rel_path"],
            int(data["num_samples"]),
            int(data["sample_rate"]),
            tuple((float(a), float(b), int(t)) for a, b, t in data["spans"]),
            int(data["size"]),
        )


@functools.lru_cache(maxsize=1)
def espeak_version() -> str:
    """The espeak-ng version number, e.g. ``"1.51"`` (recorded in MANIFEST.json)."""
    out = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True).stdout
    # "eSpeak NG text-to-speech: 1.51  Data at: ..." -> "1.51"
    return out.split(":", 1)[1].split()[0] if ":" in out else out.strip()


def espeak(phrase: Phrase) -> np.ndarray:
    """Synthesise one phrase at 22050 Hz as float32 in [-1, 1].

    The text goes through stdin so that no text can be mistaken for an option. SSML is used only
    for the pitch range (there is no command-line flag for it).
    """
    cmd = [
        "espeak-ng",
        "-v",
        phrase.voice,
        "-p",
        str(int(phrase.pitch)),
        "-s",
        str(int(phrase.rate)),
        "--stdout",
        "--stdin",
    ]
    text = phrase.text
    if phrase.pitch_range:
        cmd.insert(1, "-m")
        text = f'<speak><prosody range="{phrase.pitch_range}">{escape(text)}</prosody></speak>'
    raw = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, check=True).stdout
    return _pcm_from_wav_stream(raw)


def _pcm_from_wav_stream(raw: bytes) -> np.ndarray:
    """espeak-ng's ``--stdout`` WAV has placeholder sizes (it streams), so find ``data`` by hand."""
    pos = raw.find(b"data", 12)
    if pos < 0:
        raise RuntimeError("espeak-ng returned no WAV data")
    pcm = raw[pos + 8 :]
    pcm = pcm[: len(pcm) // 2 * 2]
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def trim(x: np.ndarray, threshold: float = _TRIM_THRESHOLD, margin: int = 220) -> np.ndarray:
    """Cut espeak's leading/trailing silence so that phrase spans are the spoken part."""
    idx = np.flatnonzero(np.abs(x) > threshold)
    if idx.size == 0:
        return x[:0]
    return x[max(idx[0] - margin, 0) : idx[-1] + margin + 1]


def resample(x: np.ndarray, sample_rate: int) -> np.ndarray:
    """22050 Hz -> 16 kHz or 8 kHz with scipy's polyphase filter (deterministic)."""
    up, down = _RESAMPLE[sample_rate]
    return resample_poly(x, up, down).astype(np.float32)


def _place(job: AudioJob) -> tuple[np.ndarray, list[tuple[float, float, int]]]:
    """Synthesise and lay out the phrases at 22050 Hz; returns the mix and phrase spans (s)."""
    pieces: list[tuple[int, np.ndarray, int]] = []
    cursors: dict[int, float] = {}
    for phrase in job.phrases:
        audio = trim(espeak(phrase))
        if phrase.at is not None:
            start = job.lead + phrase.at
        else:
            start = cursors.get(phrase.track, job.lead) + phrase.gap
        begin = int(round(start * ESPEAK_RATE))
        pieces.append((begin, audio, phrase.track))
        cursors[phrase.track] = (begin + len(audio)) / ESPEAK_RATE
    end = max((b + len(a) for b, a, _ in pieces), default=0)
    total = end + int(round(job.tail * ESPEAK_RATE))
    if job.duration is not None:
        total = int(round(job.duration * ESPEAK_RATE))
    mix = np.zeros(max(total, 1), dtype=np.float32)
    spans: list[tuple[float, float, int]] = []
    for begin, audio, track in pieces:
        stop = min(begin + len(audio), len(mix))
        if stop > begin:
            mix[begin:stop] += audio[: stop - begin]
        spans.append((begin / ESPEAK_RATE, max(stop, begin) / ESPEAK_RATE, track))
    return mix, spans


def _colored_noise(rng: np.random.Generator, n: int, kind: str, sample_rate: int) -> np.ndarray:
    white = rng.standard_normal(n).astype(np.float32)
    if kind == "white":
        return white
    if kind == "pink":  # Paul Kellet's filter approximation of 1/f
        b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
        a = [1, -2.494956002, 2.017265875, -0.522189400]
        return lfilter(b, a, white).astype(np.float32)
    if kind == "brown":
        return lfilter([1.0], [1.0, -0.995], white).astype(np.float32)
    if kind == "hum":
        t = np.arange(n) / sample_rate
        f0 = 50.0 if rng.random() < 0.5 else 60.0
        tone = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi)) / k for k in (1, 2, 3, 5))
        return (tone + 0.05 * white).astype(np.float32)
    if kind == "tap":  # running water: band-passed noise with a slow flutter
        band = lfilter([1.0, 0.0, -1.0], [1.0, -1.6, 0.8], white)
        t = np.arange(n) / sample_rate
        return (band * (1 + 0.4 * np.sin(2 * np.pi * rng.uniform(2, 6) * t))).astype(np.float32)
    raise ValueError(f"unknown noise kind {kind!r}")


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def _room(rng: np.random.Generator, x: np.ndarray, rt60: float, sample_rate: int) -> np.ndarray:
    """Convolve with an exponentially decaying noise tail: a cheap stand-in for a room."""
    n = int(rt60 * sample_rate)
    t = np.arange(n) / sample_rate
    ir = rng.standard_normal(n).astype(np.float32) * np.exp(-6.9 * t / rt60).astype(np.float32)
    ir[0] = 1.0
    ir /= np.sqrt(np.sum(ir**2))
    return fftconvolve(x, ir)[: len(x)].astype(np.float32)


def render_samples(job: AudioJob) -> tuple[np.ndarray, list[tuple[float, float, int]]]:
    """The finished float32 signal at ``job.sample_rate`` plus phrase spans in seconds."""
    rng = np.random.default_rng(job.seed)
    sr = job.sample_rate
    acoustics = job.acoustics
    if job.noise_kind is not None and job.noise_kind != "babble":
        n = int(round((job.duration or 1.0) * sr))
        signal = _colored_noise(rng, n, job.noise_kind, sr)
        signal *= 10 ** (acoustics.level_db / 20) / max(_rms(signal), 1e-9)
        return signal, []
    mix, spans = _place(job)
    x = resample(mix, sr)
    if acoustics.tilt:
        x = lfilter([1.0, -acoustics.tilt], [1.0], x).astype(np.float32)
    if acoustics.rt60 > 0:
        x = _room(rng, x, acoustics.rt60, sr)
    active = np.abs(x) > 0.003
    speech_rms = _rms(x[active]) if active.any() else _rms(x)
    x *= 10 ** (acoustics.level_db / 20) / max(speech_rms, 1e-9)
    noise = _colored_noise(rng, len(x), "white", sr)
    x += noise * (10 ** ((acoustics.level_db - acoustics.snr_db) / 20))
    rumble = _colored_noise(rng, len(x), "brown", sr)
    x += rumble * (10 ** (acoustics.room_tone_db / 20) / max(_rms(rumble), 1e-9))
    if acoustics.hum_hz:
        t = np.arange(len(x)) / sr
        x += (10 ** ((acoustics.room_tone_db - 3) / 20) * np.sin(2 * np.pi * acoustics.hum_hz * t)).astype(np.float32)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak > 0.95:  # keep clear of clipping without touching the level of most files
        x *= 0.95 / peak
    return x, spans


def render(job: AudioJob, root: str) -> RenderResult:
    """Render ``job`` and write it under ``root``; runs in a worker process."""
    samples, spans = render_samples(job)
    pcm = np.clip(np.round(samples * 32767.0), -32768, 32767).astype(np.int16)
    path = Path(root) / job.rel_path
    write_audio(path, pcm, job.sample_rate, job.fmt)
    return RenderResult(
        job.rel_path,
        int(len(pcm)),
        job.sample_rate,
        tuple((round(a, 4), round(b, 4), t) for a, b, t in spans),
        path.stat().st_size,
    )
