"""LibriSpeech's official layout, shared by PR and ASR: `<split>/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac` +
`<spk>-<chapter>.trans.txt`. SUPERB trains on train-clean-100, selects on dev-clean and tests on test-clean."""

from __future__ import annotations

from pathlib import Path

from benchcore.errors import BenchError
from downstream_tasks.base import require_dir

ROOT = "LibriSpeech"
SPLITS = {"train": "train-clean-100", "dev": "dev-clean", "test": "test-clean"}
#: Utterances of train-clean-100 / dev-clean / test-clean (s3prl's superb PR/ASR splits; LibriSpeech's own counts).
OFFICIAL_SPLIT_SIZES = {"train": 28539, "dev": 2703, "test": 2620}


def transcript_files(data_root: Path) -> list[Path]:
    """Every ``<spk>-<chapter>.trans.txt`` of the three splits: the metadata the record's fingerprint hashes."""
    return sorted(path for folder in SPLITS.values() for path in (data_root / ROOT / folder).glob("*/*/*.trans.txt"))


def read_split(data_root: Path, folder: str) -> list[tuple[str, Path, str, str]]:
    """[(uid, audio path, UPPER CASE transcript, speaker)] in sorted order."""
    root = require_dir(
        data_root / ROOT / folder,
        "LibriSpeech",
        f"{ROOT}/{folder}/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac + <spk>-<chapter>.trans.txt",
    )
    rows = []
    for transcript in sorted(root.glob("*/*/*.trans.txt")):
        for line in transcript.read_text().splitlines():
            if not line.strip():
                continue
            uid, _, text = line.partition(" ")
            audio = transcript.parent / f"{uid}.flac"  # listed even when missing: the runner reports it
            rows.append((str(audio.relative_to(data_root)), audio, text.strip(), uid.split("-")[0]))
    if not rows:
        raise BenchError(f"LibriSpeech {folder}: no <spk>-<chapter>.trans.txt files under {root}")
    return rows
