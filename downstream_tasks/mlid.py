"""MLID: spoken language identification over the FLEURS languages of `data.languages` (ML-SUPERB's LID task).

The head is SUPERB's utterance head (Linear -> mean over frames -> Linear, as KS), so the per-layer time-mean cache is
exact. Training takes `data.train_hours_per_language` of each language (:mod:`downstream_tasks.fleurs`), sampled
class-balanced; dev and test are FLEURS's dev and test sets. Metrics: accuracy over all test utterances (`acc`), the
accuracy of each language (`acc/<lang>`) and the confusion matrix (`confusion/<true>/<predicted>`: the fraction of
`<true>`'s utterances labelled `<predicted>`; each row sums to 1). Like every metric they are means over seeds in the
result record; `bench report` draws the matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from downstream_tasks.base import ClassificationTask, TaskData, Utterance, class_balanced_weights
from downstream_tasks.fleurs import BENCHMARK, CORPUS, load_fleurs
from downstream_tasks.metadata import ACCURACY, MetricSpec, TaskMetadata


def accuracy_key(language: str) -> str:
    return f"acc/{language}"


def confusion_key(true_language: str, predicted_language: str) -> str:
    return f"confusion/{true_language}/{predicted_language}"


def confusion_matrix(metrics: dict[str, float]) -> tuple[list[str], list[list[float]]]:
    """(languages, rows) from a record's `confusion/<true>/<predicted>` metrics, languages in first-seen order."""
    languages: list[str] = []
    for key in metrics:
        if key.startswith("confusion/"):
            _, true_language, _ = key.split("/")
            if true_language not in languages:
                languages.append(true_language)
    return languages, [
        [float(metrics.get(confusion_key(true, predicted), 0.0)) for predicted in languages] for true in languages
    ]


class LanguageIdentification(ClassificationTask):
    metadata = TaskMetadata(
        "mlid",
        "LID",
        CORPUS,
        "pooled",
        (
            MetricSpec(
                "acc",
                ACCURACY,
                "mlid",
                "LID acc",
                description="language identification accuracy over the FLEURS languages (test)",
            ),
        ),
        benchmark=BENCHMARK,
    )

    def load(self, data_root: Path, fold: str | None, config: Any) -> TaskData:
        fleurs = load_fleurs(data_root, config)
        index = {language: i for i, language in enumerate(fleurs.languages)}
        splits = {
            split: [Utterance(u.uid, u.path, (index[u.language],)) for u in utterances]
            for split, utterances in fleurs.splits.items()
        }
        return TaskData(self.corpus, data_root, splits, [list(fleurs.languages)], metadata_files=fleurs.tsv_files)

    def train_sample_weights(self, utterances: list[Utterance]) -> list[float]:
        # a time budget gives each language a different number of utterances; balance them as KS balances classes
        return class_balanced_weights([u.label[0] for u in utterances])

    def metrics(
        self, predictions: list, utterances: Sequence[Utterance], data: TaskData | None = None
    ) -> dict[str, float]:
        scores = super().metrics(predictions, utterances, data)
        if data is None or not predictions:
            return scores
        languages = data.label_names[0]
        for true_index, true_language in enumerate(languages):
            predicted = [p[0] for p, u in zip(predictions, utterances) if u.label[0] == true_index]
            if not predicted:
                continue
            scores[accuracy_key(true_language)] = predicted.count(true_index) / len(predicted)
            for predicted_index, predicted_language in enumerate(languages):
                scores[confusion_key(true_language, predicted_language)] = predicted.count(predicted_index) / len(
                    predicted
                )
        return scores
