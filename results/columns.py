"""The leaderboard's metric columns: the MERaLiON-SpeechEncoder-2 model card's SUPERB table, in its order.

Records store every metric as a fraction (0.9529 = 95.29%). The table shows error rates and accuracies in %
and QbE as the raw MTWV with four decimals, as the card does (its 0.0354 is an MTWV, not a percentage).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    """One metric column: where its value comes from in a record and how it is shown."""

    key: str                # stable id used in data files, CSV headers and `--explain`
    title: str              # the card's header
    task: str               # task name in result records
    metric: str             # metric name in the record's `metrics`
    higher_is_better: bool
    unit: str               # "%" or "MTWV"
    scale: float            # record fraction -> display unit
    decimals: int
    description: str

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"

    @property
    def is_error_rate(self) -> bool:
        """Error rates enter both scores as 100 - value (the leaderboard's score_normalizer)."""
        return not self.higher_is_better

    def display(self, fraction: float) -> float:
        return fraction * self.scale

    def format(self, value: float) -> str:
        return f"{value:.{self.decimals}f}"


COLUMNS: tuple[Column, ...] = (
    Column("pr", "PR", "pr", "per", False, "%", 100.0, 2, "phoneme recognition, phone error rate (LibriSpeech test-clean)"),
    Column("asr", "ASR", "asr", "wer", False, "%", 100.0, 2, "speech recognition, word error rate without LM (test-clean)"),
    Column("ks", "KS", "ks", "acc", True, "%", 100.0, 2, "keyword spotting accuracy (Speech Commands v0.01 test)"),
    Column("qbe", "QbE", "qbe", "mtwv", True, "MTWV", 1.0, 4, "query by example, maximum term-weighted value (QUESST 2014)"),
    Column("sid", "SID", "sid", "acc", True, "%", 100.0, 2, "speaker identification accuracy (VoxCeleb1)"),
    Column("asv", "ASV", "asv", "eer", False, "%", 100.0, 2, "speaker verification, equal error rate (VoxCeleb1 test)"),
    Column("sd", "SD", "sd", "der", False, "%", 100.0, 2, "speaker diarization, diarization error rate (Libri2Mix)"),
    Column("er", "ER", "er", "acc", True, "%", 100.0, 2, "emotion recognition accuracy, mean of 5 IEMOCAP folds"),
    Column("ic", "IC", "ic", "acc", True, "%", 100.0, 2, "intent classification accuracy (Fluent Speech Commands)"),
    Column("sf_f1", "SF F1", "sf", "slot_type_f1", True, "%", 100.0, 2, "slot filling, slot-type F1 (Audio SNIPS)"),
    Column("sf_cer", "SF CER", "sf", "slot_value_cer", False, "%", 100.0, 2, "slot filling, slot-value CER (Audio SNIPS)"),
)

COLUMN_BY_KEY: dict[str, Column] = {column.key: column for column in COLUMNS}
TASK_ORDER: tuple[str, ...] = tuple(dict.fromkeys(column.task for column in COLUMNS))
TASK_TITLES: dict[str, str] = {"pr": "PR", "asr": "ASR", "ks": "KS", "qbe": "QbE", "sid": "SID", "asv": "ASV", "sd": "SD",
                               "er": "ER", "ic": "IC", "sf": "SF"}


def columns_of_task(task: str) -> list[Column]:
    return [column for column in COLUMNS if column.task == task]


def find_column(name: str) -> Column | None:
    """A column by key (`sf_f1`), title (`SF F1`) or a task with one column (`ks`), case-insensitively."""
    wanted = name.strip().lower().replace("-", "_").replace(" ", "_")
    for column in COLUMNS:
        if wanted in (column.key, column.title.lower().replace(" ", "_")):
            return column
    matches = [column for column in COLUMNS if column.task == wanted]
    return matches[0] if len(matches) == 1 else None
