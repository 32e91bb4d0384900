"""LibriSpeech's official layout, shared by PR and ASR: `<split>/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac` +
`<spk>-<chapter>.trans.txt`. SUPERB trains on train-clean-100, selects on dev-clean and tests on test-clean."""
from __future__ import annotations

from pathlib import Path

from bench.errors import BenchError
from downstream_tasks.base import require_dir

ROOT = "LibriSpeech"
SPLITS = {"train": "train-clean-100", "dev": "dev-clean", "test": "test-clean"}


def read_split(data_root: Path, folder: str) -> list[tuple[str, Path, str, str]]:
    """[(uid, audio path, UPPER CASE transcript, speaker)] in sorted order."""
    root = require_dir(data_root / ROOT / folder, "LibriSpeech",
                       f"{ROOT}/{folder}/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac + <spk>-<chapter>.trans.txt")
    rows = []
    for transcript in sorted(root.glob("*/*/*.trans.txt")):
        for line in transcript.read_text().splitlines():
            if not line.strip():
                continue
            uid, _, text = line.partition(" ")
            audio = transcript.parent / f"{uid}.flac"
            if not audio.is_file():
                raise BenchError(f"{transcript}: {uid} has no audio file {audio.name}")
            rows.append((str(audio.relative_to(data_root)), audio, text.strip(), uid.split("-")[0]))
    if not rows:
        raise BenchError(f"LibriSpeech {folder}: no <spk>-<chapter>.trans.txt files under {root}")
    return rows
