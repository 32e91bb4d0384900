"""SID: speaker identification on VoxCeleb1 (s3prl `downstream/voxceleb1`).

`iden_split.txt` lines "<1|2|3> idXXXXX/<video>/NNNNN.wav" pick train/dev/test; files live under
`VoxCeleb1/{dev,test}/wav/`. Labels index the sorted speaker ids (for the real 1,251 speakers this equals
s3prl's `int(id[2:]) - 10001`). Training takes a random 8 s crop of longer utterances at every access.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchcore.errors import BenchError
from downstream_tasks.base import ClassificationTask, TaskData, Utterance, require_dir, require_file
from downstream_tasks.metadata import ACCURACY, SUPERB, MetricSpec, TaskMetadata

ROOT = "VoxCeleb1"
SPLIT_NAMES = {"1": "train", "2": "dev", "3": "test"}


def read_iden_split(voxceleb_root: Path) -> list[tuple[str, str]]:
    """[(split, 'idXXXXX/video/file.wav')] from the official iden_split.txt."""
    split_file = require_file(voxceleb_root / "iden_split.txt", "VoxCeleb1", "the official identification split file")
    entries = []
    for line_number, line in enumerate(split_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in SPLIT_NAMES:
            raise BenchError(f"{split_file}:{line_number}: expected '<1|2|3> idXXXXX/video/file.wav', got {line!r}")
        entries.append((SPLIT_NAMES[parts[0]], parts[1]))
    return entries


def locate(voxceleb_root: Path, relative: str) -> Path:
    """Where a file of iden_split.txt lives: ``dev/wav`` or ``test/wav``. A missing file is expected in the folder
    that holds its speaker (VoxCeleb1's 40 test speakers are in ``test/wav``), else in ``dev/wav``; the runner
    reports it missing."""
    for folder in ("dev", "test"):
        candidate = voxceleb_root / folder / "wav" / relative
        if candidate.is_file():
            return candidate
    speaker = relative.split("/")[0]
    folder = "test" if (voxceleb_root / "test" / "wav" / speaker).is_dir() else "dev"
    return voxceleb_root / folder / "wav" / relative


class SpeakerIdentification(ClassificationTask):
    metadata = TaskMetadata(
        "sid",
        "SID",
        "voxceleb1",
        "pooled",
        (MetricSpec("acc", ACCURACY, "sid", description="speaker identification accuracy (VoxCeleb1)"),),
        benchmark=SUPERB,
    )
    # the official iden_split.txt (s3prl's downstream/voxceleb1/veri_test_class.txt is the same file)
    official_split_sizes = {"train": 138361, "dev": 6904, "test": 8251}

    def load(self, data_root: Path, fold: str | None, config: Any) -> TaskData:
        root = require_dir(
            data_root / ROOT, "VoxCeleb1", f"{ROOT}/{{dev,test}}/wav/idXXXXX/<video>/NNNNN.wav + {ROOT}/iden_split.txt"
        )
        entries = read_iden_split(root)
        speakers = sorted({relative.split("/")[0] for _, relative in entries})
        index = {speaker: i for i, speaker in enumerate(speakers)}
        crop = float(config.data.train_crop_seconds) if config.data.train_crop_seconds else None
        splits: dict[str, list[Utterance]] = {"train": [], "dev": [], "test": []}
        for split, relative in entries:
            path = locate(root, relative)
            speaker = relative.split("/")[0]
            splits[split].append(
                Utterance(
                    str(path.relative_to(data_root)),
                    path,
                    (index[speaker],),
                    speaker,
                    random_crop_seconds=crop if split == "train" else None,
                )
            )
        return TaskData(self.corpus, data_root, splits, [speakers], metadata_files=[root / "iden_split.txt"])
