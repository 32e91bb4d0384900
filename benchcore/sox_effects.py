"""A sox effect chain run on an audio file, as s3prl's ``torchaudio.sox_effects.apply_effects_file`` runs it, through
the ``sox`` command and cached once per file.

s3prl's speaker verification (``downstream/sv_voxceleb1/dataset.py``, ``EFFECTS``) reads every train and test file
through ``channels 1, rate 16000, gain -3.0, silence 1 0.1 0.1% -1 0.1 0.1%``: the gain comes first, so the silence
threshold applies to the attenuated signal, and every stretch of 0.1 s or more whose 20 ms RMS stays at or below 0.1 %
of full scale is cut (at the start, inside and at the end). :func:`s3prl_sv_chain` builds that chain and
:class:`SoxChain` runs it.

Why the output is exactly s3prl's: torchaudio runs the same libsox effects and turns sox's 32-bit samples into float32
with ``SOX_SAMPLE_TO_FLOAT_32BIT`` (torchaudio ``csrc/sox/utils.cpp``, ``convert_to_tensor``), the macro the sox
command uses to write 32-bit float (sox 14.4.2 ``src/sox.h``). ``-D`` turns off the dither the command would otherwise
add when it writes 32-bit float (24 bits of precision) from the chain's 32-bit samples.

Storage: ``silence`` only drops samples, so the output is a subsequence of the gained input. For 16-bit input the gained
value of a sample is a function of its 16-bit value (:func:`gained_float32`, sox's ``gain`` arithmetic), so an entry
stores the kept 16-bit samples (2 bytes a sample, at most one byte per byte of a 16-bit WAV) and the gain is applied
again on reading; the entry is written only after the gain is checked to give back sox's float32 output bit for bit,
otherwise (other encodings, resampling) it stores sox's float32 output itself.

Entries live under ``<cache root>/sox/<chain digest>/``, one ``.npy`` a file, keyed by the file's resolved path, size
and modification time, written atomically (two processes computing the same file write the same bytes). An entry's
length is read from its header, so the lengths of a whole corpus are read back without running sox.
"""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import json
import math
import os
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from benchcore.atomic import write_atomic, write_json_atomic
from benchcore.audio import require_finite
from benchcore.errors import BenchError

#: s3prl sv_voxceleb1/dataset.py ``EFFECTS``: the trim of leading, inner and trailing silences of 0.1 s or more
SILENCE_TRIM = ("silence", "1", "0.1", "0.1%", "-1", "0.1", "0.1%")
SAMPLE_RATE = 16_000
#: sox's sample scale: full scale is 2**31 (sox.h ``SOX_SAMPLE_MAX + 1``)
_FULL_SCALE = 2.0**31
_INT32_MAX = 2**31 - 1
#: an ``np.save`` header (format 1.0) of a 1-D little-endian int16 or float32 array: item size, length
_NPY_HEADER = re.compile(
    rb"\x93NUMPY\x01\x00..\{'descr': '<[if]([24])', 'fortran_order': False, 'shape': \((\d+),\), \}", re.DOTALL
)
_HEADER_BYTES = 128


def s3prl_sv_chain(gain_db: float, cache_root: Path, switch: str = "") -> SoxChain:
    """s3prl sv_voxceleb1/dataset.py ``EFFECTS`` with the gain in dB (the recipe's is -3.0)."""
    effects = (("channels", "1"), ("rate", str(SAMPLE_RATE)), ("gain", repr(float(gain_db))), SILENCE_TRIM)
    return SoxChain(effects, Path(cache_root), switch)


def gained_float32(pcm16: np.ndarray, gain_db: float) -> np.ndarray:
    """16-bit samples after sox's ``gain gain_db``, as the float32 that torchaudio (and ``sox -e floating-point``)
    gives.

    sox 14.4.2: a 16-bit sample enters as ``x << 16`` (sox.h ``SOX_SIGNED_TO_SAMPLE``), ``gain`` multiplies by
    ``exp(gain_db * ln 10 / 20)`` (util.h ``dB_to_linear``) and rounds half away from zero with clipping (gain.c
    ``flow``, sox.h ``SOX_ROUND_CLIP_COUNT``); float32 output rounds to a multiple of 128 first (sox.h
    ``SOX_SAMPLE_TO_FLOAT_32BIT``).
    """
    scaled = pcm16.astype(np.float64) * 65536.0 * math.exp(gain_db * math.log(10) * 0.05)
    rounded = np.where(scaled < 0, np.trunc(scaled - 0.5), np.trunc(scaled + 0.5))
    samples = np.clip(rounded, -_FULL_SCALE, _INT32_MAX).astype(np.int64)
    quantised = ((samples + 64) & ~127).astype(np.float64) / _FULL_SCALE
    return np.where(samples > _INT32_MAX - 64, 1.0, quantised).astype(np.float32)


@dataclass(frozen=True)
class SoxChain:
    """A sox effect chain and the cache of its outputs. ``switch`` is the override that turns it off, named in
    errors."""

    effects: tuple[tuple[str, ...], ...]
    cache_root: Path
    switch: str = ""

    @property
    def signature(self) -> str:
        """The chain as sox's command line spells it: what the feature cache's key records."""
        return " ".join(" ".join(effect) for effect in self.effects)

    @functools.cached_property
    def directory(self) -> Path:
        return self.cache_root / "sox" / hashlib.sha256(self.signature.encode()).hexdigest()[:16]

    @property
    def gain_db(self) -> float:
        """The chain's total ``gain`` in dB (0 without one): what turns a stored 16-bit entry back into sox's output."""
        return sum(float(effect[1]) for effect in self.effects if effect[0] == "gain" and len(effect) == 2)

    # ---- one file -------------------------------------------------------------------------------
    def entry(self, path: str | os.PathLike) -> Path:
        """The cache file of ``path``'s output: a new path whenever the file is replaced or edited."""
        try:
            status = os.stat(path)
        except FileNotFoundError:
            raise BenchError(f"audio file not found: {path}") from None
        # absolute, not resolved: resolving symlinks costs more than the rest of a cached read
        identity = json.dumps([os.path.abspath(path), status.st_size, status.st_mtime_ns])
        digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
        return Path(os.path.join(self.directory, digest[:2], f"{digest}.npy"))

    def samples(self, path: str | os.PathLike) -> np.ndarray:
        """The chain's float32 output for ``path`` (may be empty: a file of silence), from the cache when there."""
        entry = self.entry(path)
        stored = _read_entry(entry)
        if stored is None:
            stored = self._compute(path, entry)
        return _gain_table(self.gain_db)[stored.astype(np.int32) + 32768] if stored.dtype == np.int16 else stored

    def length(self, path: str | os.PathLike) -> int:
        """The number of samples the chain leaves; runs sox only if the file has no entry yet."""
        entry = self.entry(path)
        length = _entry_length(entry)
        return length if length is not None else len(self._compute(path, entry))

    def load(self, path: str | os.PathLike, segment: tuple[float, float] | None = None) -> torch.Tensor:
        """The 1-D float32 tensor an encoder sees, as :func:`benchcore.audio.load_audio` but after the chain."""
        samples = self.samples(path)
        require_finite(samples, path)
        waveform = torch.from_numpy(samples)
        if segment is not None:
            start, end = (max(0, round(seconds * SAMPLE_RATE)) for seconds in segment)
            waveform = waveform[start:end]
        if waveform.numel() == 0:
            raise BenchError(
                f"audio file {path} holds no sound after sox `{self.signature}`"
                + (f"; leave it out or set {self.switch}" if self.switch else "")
            )
        return waveform

    # ---- many files -----------------------------------------------------------------------------
    def lengths(
        self, paths: Iterable[str | os.PathLike], progress: bool | None = None, workers: int | None = None
    ) -> list[int]:
        """:meth:`length` of every path, in order. Files without an entry run sox in ``workers`` parallel processes
        (default: the cores this process may use), with a progress bar (``progress=None``: on a terminal, unless the
        run is `--quiet`: :mod:`benchcore.progress`)."""
        from tqdm import tqdm

        from benchcore.progress import tqdm_disable

        paths = list(paths)
        lengths: list[int | None] = [_entry_length(self.entry(path)) for path in paths]
        todo = [index for index, length in enumerate(lengths) if length is None]
        if todo:
            workers = workers or len(os.sched_getaffinity(0))
            with (
                concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool,
                tqdm(
                    total=len(todo),
                    desc=f"sox {self.signature}",
                    unit="file",
                    disable=tqdm_disable() if progress is None else not progress,
                ) as bar,
            ):
                for index, length in zip(todo, pool.map(self.length, [paths[i] for i in todo])):
                    lengths[index] = length
                    bar.update()
        return [int(length) for length in lengths]  # type: ignore[arg-type]

    # ---- computing ------------------------------------------------------------------------------
    def _compute(self, path: str | os.PathLike, entry: Path) -> np.ndarray:
        """Run sox on ``path``, store the entry, return what was stored (16-bit when that is exact, else float32)."""
        _require_finite_source(path)
        output = self._run_sox(path)
        stored: np.ndarray = output
        pcm16 = _as_pcm16(output, self.gain_db)
        if pcm16 is not None:
            stored = pcm16
        if not (self.directory / "chain.json").exists():
            write_json_atomic(
                self.directory / "chain.json", {"effects": [list(e) for e in self.effects], "sox": _sox_version()}
            )

        def _write(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                np.save(handle, stored, allow_pickle=False)

        # no fsync: an entry is re-creatable, and one cut short by a power loss reads as absent (_read_entry)
        write_atomic(entry, _write, durable=False)
        return stored

    def _run_sox(self, path: str | os.PathLike) -> np.ndarray:
        command = [
            "sox",
            "-D",
            "-V1",
            os.fspath(path),
            "-t",
            "raw",
            "-e",
            "floating-point",
            "-b",
            "32",
            "-L",
            "-",
            *(word for effect in self.effects for word in effect),
        ]
        hint = f", or set {self.switch}" if self.switch else ""
        try:
            finished = subprocess.run(command, capture_output=True, check=False)
        except FileNotFoundError:
            raise BenchError(
                f"cannot trim {path}: the `sox` command is not installed (setup.sh installs it, or "
                f"apt-get install sox{hint})"
            ) from None
        if finished.returncode != 0:
            message = finished.stderr.decode(errors="replace").strip().splitlines()
            raise BenchError(
                f"sox failed on {path} (exit {finished.returncode}): {message[-1] if message else 'no message'}{hint}"
            )
        return np.frombuffer(finished.stdout, dtype="<f4").astype(np.float32)


def _require_finite_source(path: str | os.PathLike) -> None:
    """Floating-point files can hold NaN/Inf, which sox would pass on or clip without a word: refuse them first."""
    import soundfile

    try:
        subtype = soundfile.info(os.fspath(path)).subtype
    except (soundfile.SoundFileError, RuntimeError):
        return  # not a format soundfile reads: sox reports what is wrong with it
    if subtype in ("FLOAT", "DOUBLE"):
        require_finite(soundfile.read(os.fspath(path), dtype="float32", always_2d=True)[0], path)


@functools.lru_cache(maxsize=8)
def _gain_table(gain_db: float) -> np.ndarray:
    """:func:`gained_float32` of every 16-bit value (index ``x + 32768``): a lookup is several times faster to apply."""
    return gained_float32(np.arange(-32768, 32768, dtype=np.int16), gain_db)


def _as_pcm16(output: np.ndarray, gain_db: float) -> np.ndarray | None:
    """The 16-bit samples whose gained values are exactly ``output``, or None when there are none (not 16-bit input)."""
    if output.size == 0:
        return output.astype(np.int16)
    step = 65536.0 * math.exp(gain_db * math.log(10) * 0.05) / _FULL_SCALE
    candidate = np.rint(output.astype(np.float64) / step)
    if np.abs(candidate).max() > 32768:
        return None
    pcm16 = np.clip(candidate, -32768, 32767).astype(np.int16)
    return pcm16 if np.array_equal(_gain_table(gain_db)[pcm16.astype(np.int32) + 32768], output) else None


def _read_entry(entry: Path) -> np.ndarray | None:
    """The stored array, or None when there is none or it is unreadable (then it is computed again)."""
    try:
        return np.load(entry, allow_pickle=False)
    except FileNotFoundError:
        return None
    except (ValueError, OSError, EOFError):
        return None


def _entry_length(entry: Path) -> int | None:
    """The entry's sample count from its .npy header alone, or None when it is missing or cut short.

    A corpus's lengths are read back on every load (148,642 files for VoxCeleb1 dev), so the version 1.0 header that
    ``np.save`` writes is matched directly (numpy's own reader evaluates it as Python, several times slower).
    """
    try:
        with open(entry, "rb") as handle:
            head = handle.read(_HEADER_BYTES)
            size = os.fstat(handle.fileno()).st_size
    except FileNotFoundError:
        return None
    except OSError:
        return None
    match = _NPY_HEADER.match(head)
    if match is None:
        return None
    header_end = 10 + int.from_bytes(head[8:10], "little")
    length = int(match.group(2))
    return length if size == header_end + length * int(match.group(1)) else None


def _sox_version() -> str:
    try:
        return subprocess.run(["sox", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    except FileNotFoundError:
        return "unknown"
