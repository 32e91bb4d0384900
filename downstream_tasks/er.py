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

ROOT = "IEMOCAP_full_release"
LABELS = ["neu", "hap", "ang", "sad"]
KEEP = {"neu": "neu", "hap": "hap", "ang": "ang", "sad": "sad", "exc": "hap"}


def read_session(data_root: Path, session_dir: Path) -> list[Utterance]:
    wav_root = session_dir / "sentences" / "wav"
    wavs = {wav.stem: wav for wav in sorted(wav_root.rglob("*.wav"))}
    utterances = []
    # s3prl lists label files with os.listdir (filesystem order); we sort them so folds are reproducible.
    for label_file in sorted((session_dir / "dialog" / "EmoEvaluation").glob("*.txt")):
        for line in label_file.read_text(errors="replace").splitlines():
            if not line.startswith("["):
                continue
            fields = [field for field in re.split("[\t\n]", line) if field]
            if len(fields) < 3 or fields[2] not in KEEP or fields[1] not in wavs:
                continue
            wav = wavs[fields[1]]
            utterances.append(Utterance(str(wav.relative_to(data_root)), wav, (LABELS.index(KEEP[fields[2]]),),
                                        speaker=wav.stem.split("_")[0]))
    return utterances


class EmotionRecognition(ClassificationTask):
    name = "er"
    title = "ER"
    corpus = "iemocap"
    folds = ("fold1", "fold2", "fold3", "fold4", "fold5")

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
        return TaskData(self.corpus, data_root, {"train": train, "dev": dev, "test": test}, [LABELS])
