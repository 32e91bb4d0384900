"""ER: emotion recognition on IEMOCAP, five folds leaving one session out (s3prl `downstream/emotion`).

Labels come from `Session*/dialog/EmoEvaluation/*.txt` as s3prl's `IEMOCAP_preprocess.py` reads them:
neu/hap/ang/sad kept, exc merged into hap, everything else dropped. Fold k tests on Session k; its dev set is
a random 20% of the other sessions (`torch.manual_seed(0)` + `random_split`, as the recipe's expert.py:47-52), cut
from the pool in the order ``data.partition`` sets (downstream_tasks/er_partition.py: s3prl's own order by default).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from downstream_tasks.base import ClassificationTask, TaskData, Utterance, require_dir
from downstream_tasks.er_partition import ordered_sessions
from downstream_tasks.metadata import ACCURACY, SUPERB, MetricSpec, TaskMetadata

ROOT = "IEMOCAP_full_release"
LABELS = ["neu", "hap", "ang", "sad"]
KEEP = {"neu": "neu", "hap": "hap", "ang": "ang", "sad": "sad", "exc": "hap"}


def label_files(session_dir: Path) -> list[Path]:
    # In name order; the order the pool is cut in is er_partition's business (s3prl's was os.listdir's).
    return sorted((session_dir / "dialog" / "EmoEvaluation").glob("*.txt"))


def read_session(data_root: Path, session_dir: Path) -> dict[str, list[Utterance]]:
    """Each label file's dialog -> its kept utterances in line order (dialogs in name order), at their official
    paths ``sentences/wav/<dialog>/<utterance>.wav``, whether or not the file is there: the runner checks."""
    wav_root = session_dir / "sentences" / "wav"
    by_dialog: dict[str, list[Utterance]] = {}
    for label_file in label_files(session_dir):
        utterances = by_dialog.setdefault(label_file.stem, [])
        for line in label_file.read_text(errors="replace").splitlines():
            if not line.startswith("["):
                continue
            fields = [field for field in re.split("[\t\n]", line) if field]
            if len(fields) < 3 or fields[2] not in KEEP:
                continue
            wav = wav_root / label_file.stem / f"{fields[1]}.wav"
            utterances.append(
                Utterance(
                    str(wav.relative_to(data_root)),
                    wav,
                    (LABELS.index(KEEP[fields[2]]),),
                    speaker=wav.stem.split("_")[0],
                )
            )
    return by_dialog


class EmotionRecognition(ClassificationTask):
    metadata = TaskMetadata(
        "er",
        "ER",
        "iemocap",
        "pooled",
        (MetricSpec("acc", ACCURACY, "er", description="emotion recognition accuracy, mean of 5 IEMOCAP folds"),),
        benchmark=SUPERB,
    )
    folds = ("fold1", "fold2", "fold3", "fold4", "fold5")
    # s3prl's downstream/emotion/meta_data/Session{k}/{test,train}_meta_data.json (5,531 utterances in all): test is
    # Session k, train/dev the int(0.8 * n) / rest cut of the other sessions' n (expert.py:48, valid_ratio 0.2).
    official_split_sizes = {
        "fold1/train": 3556,
        "fold1/dev": 890,
        "fold1/test": 1085,
        "fold2/train": 3606,
        "fold2/dev": 902,
        "fold2/test": 1023,
        "fold3/train": 3504,
        "fold3/dev": 876,
        "fold3/test": 1151,
        "fold4/train": 3600,
        "fold4/dev": 900,
        "fold4/test": 1031,
        "fold5/train": 3432,
        "fold5/dev": 858,
        "fold5/test": 1241,
    }

    def load(self, data_root: Path, fold: str | None, config: Any) -> TaskData:
        root = require_dir(
            data_root / ROOT,
            "IEMOCAP",
            f"{ROOT}/Session1..5/sentences/wav/<dialog>/<utt>.wav + Session*/dialog/EmoEvaluation/*.txt",
        )
        sessions = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("Session"))
        test_session = (fold or "fold1").replace("fold", "Session")
        train_pool: list[Utterance] = []
        test: list[Utterance] = []
        ordered = ordered_sessions(
            {session.name: read_session(data_root, session) for session in sessions}, LABELS, str(config.data.partition)
        )
        for name, utterances in ordered.items():
            (test if name == test_session else train_pool).extend(utterances)
        train_count = int((1 - float(config.data.valid_ratio)) * len(train_pool))
        generator = torch.Generator().manual_seed(0)
        order = torch.randperm(len(train_pool), generator=generator).tolist()
        train = [train_pool[i] for i in order[:train_count]]
        dev = [train_pool[i] for i in order[train_count:]]
        return TaskData(
            self.corpus,
            data_root,
            {"train": train, "dev": dev, "test": test},
            [LABELS],
            metadata_files=[path for session in sessions for path in label_files(session)],
        )
