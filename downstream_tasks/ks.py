"""KS: keyword spotting on Speech Commands v0.01, 12 classes (s3prl `downstream/speech_commands`).

Train/dev come from `speech_commands_v0.01/` split by s3prl's speaker hash (<10% dev, 10-20% discarded,
rest train); the six `_background_noise_` files join both as `_silence_`, cropped to a random 1 s at every
access; training and dev sampling are class-balanced (dev through a fixed-seed balanced resample, as s3prl's
evaluation re-seeds to 1337); test is the separate v0.01 test set. Audio gets s3prl's -3 dB gain.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from downstream_tasks.base import ClassificationTask, TaskData, Utterance, class_balanced_weights, require_dir
from downstream_tasks.metadata import ACCURACY, SUPERB, MetricSpec, TaskMetadata

CLASSES = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "_unknown_", "_silence_"]
TRAIN_ROOT = "speech_commands_v0.01"
TEST_ROOT = "speech_commands_test_set_v0.01"
MAX_UTTERANCES_PER_CLASS = 2**27 - 1


def hash_split(file_name: str) -> str:
    """The Speech Commands README's split rule as s3prl applies it: 'dev', 'discarded' or 'train'."""
    speaker = re.sub(r"_nohash_.*$", "", file_name)
    hashed = int(hashlib.sha1(speaker.encode("utf-8")).hexdigest(), 16)
    percentage = (hashed % (MAX_UTTERANCES_PER_CLASS + 1)) * (100.0 / MAX_UTTERANCES_PER_CLASS)
    if percentage < 10:
        return "dev"
    if percentage < 20:
        return "discarded"
    return "train"


def _list_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


class KeywordSpotting(ClassificationTask):
    metadata = TaskMetadata(
        "ks",
        "KS",
        "speech_commands",
        "pooled",
        (MetricSpec("acc", ACCURACY, "ks", description="keyword spotting accuracy (Speech Commands v0.01 test)"),),
        benchmark=SUPERB,
    )
    # speech_commands_test_set_v0.01 (s3prl's test set; 3,081 in the HF superb card). Train and dev have no sourced
    # count that matches s3prl's hash split with the background-noise files added, so they are not checked.
    official_split_sizes = {"test": 3081}

    def load(self, data_root: Path, fold: str | None, config: Any) -> TaskData:
        layout = f"{TRAIN_ROOT}/<word>/<speaker>_nohash_<n>.wav and {TRAIN_ROOT}/_background_noise_/*.wav"
        train_root = require_dir(data_root / TRAIN_ROOT, "Speech Commands v0.01", layout)
        test_root = require_dir(
            data_root / TEST_ROOT, "Speech Commands v0.01 test set", f"{TEST_ROOT}/<one of the 12 classes>/*.wav"
        )
        index = {name: i for i, name in enumerate(CLASSES)}
        splits: dict[str, list[Utterance]] = {"train": [], "dev": []}
        for word_dir in sorted(p for p in train_root.iterdir() if p.is_dir() and p.name != "_background_noise_"):
            label = index.get(word_dir.name, index["_unknown_"])
            for wav in sorted(word_dir.glob("*.wav")):
                part = hash_split(wav.name)
                if part != "discarded":
                    splits[part].append(Utterance(f"{TRAIN_ROOT}/{word_dir.name}/{wav.name}", wav, (label,)))
        # The word folders have no file list, but the archive's validation_list.txt names the dev files (the same
        # hash rule made it): a listed file that is not on disk is a dev utterance to report.
        listed = [line.strip() for line in _list_lines(train_root / "validation_list.txt")]
        present = {u.uid for u in splits["dev"]}
        for relative in listed:
            word = relative.split("/")[0]
            if f"{TRAIN_ROOT}/{relative}" not in present and hash_split(relative.split("/")[-1]) == "dev":
                label = index.get(word, index["_unknown_"])
                splits["dev"].append(Utterance(f"{TRAIN_ROOT}/{relative}", train_root / relative, (label,)))
        noise_files = sorted((train_root / "_background_noise_").glob("*.wav"))
        for part in ("train", "dev"):
            splits[part] += [
                Utterance(
                    f"{TRAIN_ROOT}/_background_noise_/{wav.name}", wav, (index["_silence_"],), random_crop_seconds=1.0
                )
                for wav in noise_files
            ]
        splits["test"] = [
            Utterance(f"{TEST_ROOT}/{class_dir.name}/{wav.name}", wav, (index[class_dir.name],))
            for class_dir in sorted(p for p in test_root.iterdir() if p.is_dir() and p.name in index)
            for wav in sorted(class_dir.glob("*.wav"))
        ]
        return TaskData(
            self.corpus,
            data_root,
            splits,
            [CLASSES],
            metadata_files=[
                path for path in (train_root / "validation_list.txt", train_root / "testing_list.txt") if path.is_file()
            ],
        )

    def train_sample_weights(self, utterances: list[Utterance]) -> list[float]:
        return class_balanced_weights([u.label[0] for u in utterances])

    def dev_sample_weights(self, utterances: list[Utterance]) -> list[float]:
        return class_balanced_weights([u.label[0] for u in utterances])
