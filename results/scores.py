"""The two aggregate scores, computed from one row's values in the table's units (%, raw MTWV), over the SUPERB
columns only: tasks of other benchmarks (``TaskMetadata.benchmark``) have columns but never enter these scores.

**Overall Score (model card).** The plain mean of the card's 11 numbers, each turned "higher is better":
error rates (PR, ASR, ASV, SD, SF-CER) enter as 100 - value, accuracies and SF-F1 as they are, and QbE as
MTWV x 100. SF therefore counts twice (F1 and CER), every other task once. This reproduces the card's printed
values from its own numbers for WavLM large (84.77), MERaLiON v1 (82.62) and v2 (82.72). For HuBERT large the
card's own numbers give 82.2555 -> 82.26, one hundredth above the printed 82.25; with the SUPERB leaderboard's
QbE 0.0353 or SF-F1 89.81 (where the card's row differs) it gives 82.25, so the card's score was computed from
the leaderboard's numbers. No other simple rule (QbE unscaled or x10/x1000, SF averaged first, one metric left
out) reproduces all four rows.

**SUPERB_s (official).** The SUPERB leaderboard's score (frontend/src/overall_metrics.js): each metric is scaled
linearly between the FBANK baseline (0) and the SUPERB paper's best upstream (1000), the metrics of a task are
averaged (SF: F1 and CER), then the tasks. Values are not clipped. The leaderboard shows no score for a row
that misses a task; we compute it over the tasks present and mark it partial.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from downstream_tasks.metadata import SUPERB
from results.columns import column_by_key, columns_of_task, superb_columns, task_order
from results.references import ReferencePoints

OVERALL_LABEL = "Overall Score (card)"
SUPERB_S_LABEL = "SUPERB_s"
QBE_CARD_SCALE = 100.0  # the card's Overall Score counts QbE as MTWV x 100


@dataclass(frozen=True)
class Score:
    value: float | None          # None when nothing is available
    used: tuple[str, ...]        # column keys (Overall) or tasks (SUPERB_s) that entered the mean
    missing: tuple[str, ...]     # those left out because the row has no value

    @property
    def partial(self) -> bool:
        return bool(self.missing) and self.value is not None


def card_points(column_key: str, value: float) -> float:
    """One value as it enters the card's Overall Score."""
    column = column_by_key()[column_key]
    if column.is_error_rate:
        return 100.0 - value
    return value * QBE_CARD_SCALE if column.key == "qbe" else value


def card_overall_score(values: dict[str, float]) -> Score:
    """The model card's Overall Score over the columns present in ``values`` (column key -> table value)."""
    used = [column.key for column in superb_columns() if values.get(column.key) is not None]
    missing = tuple(column.key for column in superb_columns() if column.key not in used)
    if not used:
        return Score(None, (), missing)
    return Score(statistics.fmean(card_points(key, values[key]) for key in used), tuple(used), missing)


def normalised_metric(column_key: str, value: float, points: ReferencePoints) -> float:
    """1000 * (s' - s'_FBANK) / (s'_top - s'_FBANK), s' = 100 - s for error rates: 0 = FBANK, 1000 = topline."""
    column = column_by_key()[column_key]
    point = points.points[column_key]

    def flip(score: float) -> float:
        return 100.0 - score if column.is_error_rate else score

    return 1000.0 * (flip(value) - flip(point.baseline)) / (flip(point.topline) - flip(point.baseline) + 1e-12)


def normalised_task_scores(values: dict[str, float], points: ReferencePoints) -> dict[str, float]:
    """Task -> mean of its metrics' normalised scores, for the tasks with at least one value."""
    scores = {}
    for task in task_order(SUPERB):
        present = [column.key for column in columns_of_task(task) if values.get(column.key) is not None]
        if present:
            scores[task] = statistics.fmean(normalised_metric(key, values[key], points) for key in present)
    return scores


def superb_score(values: dict[str, float], points: ReferencePoints) -> Score:
    per_task = normalised_task_scores(values, points)
    missing = tuple(task for task in task_order(SUPERB) if task not in per_task)
    if not per_task:
        return Score(None, (), missing)
    return Score(statistics.fmean(per_task.values()), tuple(per_task), missing)
