"""ER: emotion recognition on IEMOCAP, five folds leaving one session out (s3prl `downstream/emotion`).

Labels come from `Session*/dialog/EmoEvaluation/*.txt` as s3prl's `IEMOCAP_preprocess.py` reads them:
neu/hap/ang/sad kept, exc merged into hap, everything else dropped. Fold k tests on Session k; its dev set is
a random 20% of the other sessions (`torch.manual_seed(0)` + `random_split`, as the recipe).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from downstream_tasks.base import ClassificationTask, TaskData, Utterance, require_dir
from downstream_tasks.metadata import MetricSpec, TaskMetadata

ROOT = "IEMOCAP_full_release"
LABELS = ["neu", "hap", "ang", "sad"]
KEEP = {"neu": "neu", "hap": "hap", "ang": "ang", "sad": "sad", "exc": "hap"}


def label_files(session_dir: Path) -> list[Path]:
    # s3prl lists label files with os.listdir (filesystem order); we sort them so folds are reproducible.
    return sorted((session_dir / "dialog" / "EmoEvaluation").glob("*.txt"))


def read_session(data_root: Path, session_dir: Path) -> list[Utterance]:
    """Every kept utterance a label file names, at its official path ``sentences/wav/<dialog>/<utterance>.wav``
    (the dialog is the label file's name), whether or not the file is there: the runner checks."""
    wav_root = session_dir / "sentences" / "wav"
    utterances = []
    for label_file in label_files(session_dir):
        for line in label_file.read_text(errors="replace").splitlines():
            if not line.startswith("["):
                continue
            fields = [field for field in re.split("[\t\n]", line) if field]
            if len(fields) < 3 or fields[2] not in KEEP:
                continue
            wav = wav_root / label_file.stem / f"{fields[1]}.wav"
            utterances.append(Utterance(str(wav.relative_to(data_root)), wav, (LABELS.index(KEEP[fields[2]]),),
                                        speaker=wav.stem.split("_")[0]))
    return utterances


class EmotionRecognition(ClassificationTask):
    metadata = TaskMetadata("er", "ER", "iemocap", "pooled", (
        MetricSpec("acc", True, "er", description="emotion recognition accuracy, mean of 5 IEMOCAP folds"),))
    folds = ("fold1", "fold2", "fold3", "fold4", "fold5")
    # The test sets of s3prl's downstream/emotion/meta_data/Session{k}/test_meta_data.json (5,531 utterances in
    # all); train/dev are a random 80/20 split of the other sessions.
    official_split_sizes = {"fold1/test": 1085, "fold2/test": 1023, "fold3/test": 1151, "fold4/test": 1031,
                            "fold5/test": 1241}

    def load(self, data_root: Path, fold: str | None, config: Any) -> TaskData:
        root = require_dir(data_root / ROOT, "IEMOCAP",
                           f"{ROOT}/Session1..5/sentences/wav/<dialog>/<utt>.wav + Session*/dialog/EmoEvaluation/*.txt")
        sessions = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("Session"))
        test_session = (fold or "fold1").replace("fold", "Session")
        train_pool: list[Utterance] = []
        test: list[Utterance] = []
        for session in sessions:
            (test if session.name == test_session else train_pool).extend(read_session(data_root, session))
        train_count = int((1 - float(config.data.valid_ratio)) * len(train_pool))
        generator = torch.Generator().manual_seed(0)
        order = torch.randperm(len(train_pool), generator=generator).tolist()
        train = [train_pool[i] for i in order[:train_count]]
        dev = [train_pool[i] for i in order[train_count:]]
        return TaskData(self.corpus, data_root, {"train": train, "dev": dev, "test": test}, [LABELS],
                        metadata_files=[path for session in sessions for path in label_files(session)])
