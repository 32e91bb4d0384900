"""SD's reader of the dataset's official layout: the Kaldi folders ``LibriMix/{train,dev,test}/`` (``wav.scp``,
``segments``, ``utt2spk``, ``reco2dur``) as s3prl's ``KaldiData`` reads them, one :class:`KaldiRecording` per
``wav.scp`` row with its speaker turns; ``wav.scp`` paths absolute or relative to ``LibriMix/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchcore.errors import BenchError
from downstream_tasks.base import require_dir

ROOT = "LibriMix"
SPLITS = ("train", "dev", "test")
LAYOUT = (
    f"{ROOT}/{{train,dev,test}}/ each with wav.scp, segments, utt2spk, reco2dur and rttm, "
    "as s3prl's LibriMix scripts/prepare_diarization.py writes them"
)

Segment = tuple[float, float, str]


@dataclass(frozen=True)
class KaldiRecording:
    """One recording of a Kaldi folder: its audio, duration (``reco2dur``) and speaker turns (``segments`` +
    ``utt2spk``)."""

    recording: str
    path: Path
    duration: float
    turns: tuple[Segment, ...]

    def speakers(self) -> list[str]:
        """Label columns: the recording's speaker ids, sorted (s3prl's ``np.unique``)."""
        return sorted({speaker for _, _, speaker in self.turns})


def _table(path: Path, min_fields: int, maxsplit: int = -1) -> list[list[str]]:
    if not path.is_file():
        raise BenchError(f"Libri2Mix (SD): missing {path}; expected {LAYOUT}")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.strip().split(None, maxsplit)
        if not fields:
            continue
        if len(fields) < min_fields:
            raise BenchError(f"{path}:{number}: expected at least {min_fields} fields, got {line!r}")
        rows.append(fields)
    return rows


def resolve_wav_path(entry: str, librimix_root: Path, scp: Path) -> Path:
    """A ``wav.scp`` entry as a file path: absolute as is, relative against ``LibriMix/`` (superb-mini writes those).

    Whether the file exists is the runner's check (every missing recording of every split in one line, or dropped
    with ``data.allow_missing=true``), not this one's."""
    if entry.endswith("|") or entry == "-":
        raise BenchError(f"{scp}: piped or stdin wav.scp entries are not supported ({entry!r}); give file paths")
    path = Path(entry)
    return path if path.is_absolute() else librimix_root / path


#: The files of a Kaldi folder that :func:`read_kaldi_dir` reads (``spk2utt`` is not: ``utt2spk`` says the same).
KALDI_FILES = ("wav.scp", "segments", "utt2spk", "reco2dur")


def read_kaldi_dir(directory: Path, librimix_root: Path) -> list[KaldiRecording]:
    """The recordings of one Kaldi folder in ``wav.scp`` order (s3prl's ``KaldiData``), present on disk or not."""
    require_dir(directory, "Libri2Mix (SD)", LAYOUT)
    scp = directory / "wav.scp"
    wavs = {}
    for recording, entry in _table(scp, 2, maxsplit=1):  # an entry may hold spaces (s3prl splits once too)
        wavs[recording] = resolve_wav_path(entry, librimix_root, scp)
    utt2spk = {fields[0]: fields[1] for fields in _table(directory / "utt2spk", 2)}
    durations = {}
    for fields in _table(directory / "reco2dur", 2):
        try:
            durations[fields[0]] = float(fields[1])
        except ValueError:
            raise BenchError(
                f"{directory / 'reco2dur'}: duration of {fields[0]} is not a number: {fields[1]!r}"
            ) from None
    turns: dict[str, list[Segment]] = {}
    for fields in _table(directory / "segments", 4):
        utterance, recording = fields[0], fields[1]
        if utterance not in utt2spk:
            raise BenchError(f"{directory / 'segments'}: segment {utterance} has no speaker in utt2spk")
        try:
            start, end = float(fields[2]), float(fields[3])
        except ValueError:
            raise BenchError(f"{directory / 'segments'}: start/end of {utterance} are not numbers") from None
        turns.setdefault(recording, []).append((start, end, utt2spk[utterance]))
    missing = [recording for recording in wavs if recording not in durations]
    if missing:
        raise BenchError(
            f"{directory / 'reco2dur'}: no duration for {len(missing)} recordings of wav.scp (first: {missing[0]})"
        )
    return [
        KaldiRecording(recording, path, durations[recording], tuple(turns.get(recording, ())))
        for recording, path in wavs.items()
    ]
