"""Atomic writes for the corpus: a killed run leaves whole files or none, never half a file.

Built on :mod:`benchcore.atomic`. Thousands of small audio files are written, so they skip ``fsync``
(``durable=False``): a *killed process* (the case resume is for) cannot leave a renamed-but-empty file;
only a power cut could, and then the MANIFEST check (sizes, sha256) catches it. Markers and the manifest,
which decide whether work is skipped, are written durably.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchcore.atomic import is_temp_name, remove_stale_temps, write_atomic, write_text_atomic

__all__ = ["is_temp_name", "remove_stale_temps", "write_audio", "write_bytes", "write_text"]


def write_bytes(path: Path, data: bytes, durable: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return write_atomic(path, lambda tmp: tmp.write_bytes(data), durable)


def write_text(path: Path, text: str, durable: bool = False) -> Path:
    """Write UTF-8 text with ``\\n`` line ends (as the real label files use) atomically."""
    return write_text_atomic(path, text, durable)


def write_audio(path: Path, samples: np.ndarray, sample_rate: int, fmt: str) -> Path:
    """Write mono 16-bit PCM audio (``fmt`` is ``"WAV"`` or ``"FLAC"``) atomically."""
    import soundfile as sf

    return write_atomic(path, lambda tmp: sf.write(str(tmp), samples, sample_rate, subtype="PCM_16", format=fmt), False)
