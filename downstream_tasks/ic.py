"""IC: intent classification on Fluent Speech Commands (s3prl `downstream/fluent_commands`).

Three outputs (action, object, location) whose value lists follow their first appearance in
`data/train_data.csv` (s3prl builds them from a Counter); a prediction counts only if all three are right.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from benchcore.errors import BenchError
from downstream_tasks.base import ClassificationTask, TaskData, Utterance, require_dir, require_file
from downstream_tasks.metadata import ACCURACY, SUPERB, MetricSpec, TaskMetadata

ROOT = "fluent_speech_commands_dataset"
SLOTS = ("action", "object", "location")
SPLIT_FILES = {"train": "train_data.csv", "dev": "valid_data.csv", "test": "test_data.csv"}


class IntentClassification(ClassificationTask):
    metadata = TaskMetadata(
        "ic",
        "IC",
        "fluent_speech_commands",
        "pooled",
        (MetricSpec("acc", ACCURACY, "ic", description="intent classification accuracy (Fluent Speech Commands)"),),
        benchmark=SUPERB,
    )
    # Fluent Speech Commands' official data/{train,valid,test}_data.csv (s3prl's fluent_commands recipe reads them)
    official_split_sizes = {"train": 23132, "dev": 3118, "test": 3793}

    def load(self, data_root: Path, fold: str | None, config: Any) -> TaskData:
        root = require_dir(
            data_root / ROOT,
            "Fluent Speech Commands",
            f"{ROOT}/wavs/speakers/<spk>/*.wav + {ROOT}/data/{{train,valid,test}}_data.csv",
        )
        frames = {}
        for split, file_name in SPLIT_FILES.items():
            csv = require_file(
                root / "data" / file_name,
                "Fluent Speech Commands",
                "columns path, speakerId, transcription, action, object, location",
            )
            frame = pd.read_csv(csv, keep_default_na=False)
            missing = [column for column in ("path", "speakerId", *SLOTS) if column not in frame.columns]
            if missing:
                raise BenchError(f"{csv}: missing column(s) {', '.join(missing)}")
            frames[split] = frame
        vocabularies = [list(dict.fromkeys(frames["train"][slot])) for slot in SLOTS]
        indices = [{value: i for i, value in enumerate(values)} for values in vocabularies]
        splits: dict[str, list[Utterance]] = {}
        for split, frame in frames.items():
            utterances = []
            for row in frame.itertuples(index=False):
                values = [getattr(row, slot) for slot in SLOTS]
                unknown = [value for value, index in zip(values, indices) if value not in index]
                if unknown:
                    raise BenchError(
                        f"{ROOT}/data/{SPLIT_FILES[split]}: value(s) {unknown} never occur in train_data.csv"
                    )
                path = root / row.path
                utterances.append(
                    Utterance(
                        str(path.relative_to(data_root)),
                        path,
                        tuple(index[value] for value, index in zip(values, indices)),
                        str(row.speakerId),
                    )
                )
            splits[split] = utterances
        return TaskData(
            self.corpus,
            data_root,
            splits,
            vocabularies,
            metadata_files=[root / "data" / file_name for file_name in SPLIT_FILES.values()],
        )
