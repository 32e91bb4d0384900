"""Reading audio files: 16 kHz mono float32, with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile
import torch

from benchcore.errors import BenchError

SAMPLE_RATE = 16_000
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".sph", ".aiff", ".aif")


def load_audio(
    path: str | Path, sample_rate: int = SAMPLE_RATE, segment: tuple[float, float] | None = None
) -> torch.Tensor:
    """Return a 1-D float32 tensor at ``sample_rate`` (channels averaged, resampled if needed).

    ``segment`` = (start, end) in seconds reads only that window (Kaldi `segments`, SD's training chunks).
    """
    path = Path(path)
    if not path.is_file():
        raise BenchError(f"audio file not found: {path}")
    try:
        samples, file_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.SoundFileError, RuntimeError, ValueError, TypeError) as error:
        raise BenchError(
            f"cannot read audio file {path}: {str(error).splitlines()[0] or 'not a supported audio format'}"
        ) from error
    if samples.shape[0] == 0:
        raise BenchError(f"audio file {path} contains no samples")
    require_finite(samples, path, file_rate)
    waveform = torch.from_numpy(np.ascontiguousarray(samples.mean(axis=1)))
    if file_rate != sample_rate:
        import torchaudio.functional

        waveform = torchaudio.functional.resample(waveform, file_rate, sample_rate)
    if segment is not None:
        start, end = (max(0, round(seconds * sample_rate)) for seconds in segment)
        waveform = waveform[start:end]
        if waveform.numel() == 0:
            raise BenchError(f"audio file {path}: the segment {segment[0]:.2f}-{segment[1]:.2f} s holds no samples")
    return waveform


def require_finite(samples: np.ndarray, path: str | Path, sample_rate: int = SAMPLE_RATE) -> None:
    """Stop on NaN or Inf samples (a float WAV can hold them): one line naming the file and where the first one is.
    Encoders do not fail on them, they turn every feature of the utterance into NaN or into plausible-looking noise."""
    finite = np.isfinite(samples)
    if finite.all():
        return
    bad = np.flatnonzero(~finite.reshape(len(samples), -1).all(axis=1))
    raise BenchError(
        f"audio file {path} holds {int((~finite).sum())} NaN/Inf samples (the first at "
        f"{bad[0] / sample_rate:.3f} s); repair or remove the file"
    )


def list_audio_files(path: str | Path) -> tuple[Path, list[Path]]:
    """Return (root, sorted audio files): a single file, or every audio file below a directory."""
    path = Path(path)
    if path.is_file():
        return path.parent, [path]
    if not path.is_dir():
        raise BenchError(f"--audio {path}: no such file or directory")
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        raise BenchError(f"--audio {path}: no audio files ({', '.join(AUDIO_EXTENSIONS)}) below this directory")
    return path, files
