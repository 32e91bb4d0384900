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
from collections.abc import Callable
from dataclasses import dataclass

from results.columns import column_by_key
from results.references import ReferencePoints

OVERALL_LABEL = "Overall Score (card)"
SUPERB_S_LABEL = "SUPERB_s"


def _complement(value: float) -> float:  # an error rate, as 100 - value
    return 100.0 - value


def _as_is(value: float) -> float:
    return value


def _mtwv_times_100(value: float) -> float:  # the card counts QbE's MTWV x 100
    return value * 100.0


#: The card's Overall Score: its eleven columns, each with how its table value enters ("higher is better"). Listed
#: here, not derived from the registry: a task added to the `superb` benchmark does not join the card's score
#: silently (`tests/results/test_scores.py` checks that this list and the registry's SUPERB columns agree).
CARD_OVERALL_POINTS: dict[str, Callable[[float], float]] = {
    "pr": _complement,
    "asr": _complement,
    "ks": _as_is,
    "qbe": _mtwv_times_100,
    "sid": _as_is,
    "asv": _complement,
    "sd": _complement,
    "er": _as_is,
    "ic": _as_is,
    "sf_f1": _as_is,
    "sf_cer": _complement,
}

#: SUPERB_s: the leaderboard's ten tasks and the columns each averages (SF: F1 and CER), listed for the same reason.
SUPERB_S_TASKS: dict[str, tuple[str, ...]] = {
    "pr": ("pr",),
    "asr": ("asr",),
    "ks": ("ks",),
    "qbe": ("qbe",),
    "sid": ("sid",),
    "asv": ("asv",),
    "sd": ("sd",),
    "er": ("er",),
    "ic": ("ic",),
    "sf": ("sf_f1", "sf_cer"),
}


@dataclass(frozen=True)
class Score:
    value: float | None  # None when nothing is available
    used: tuple[str, ...]  # column keys (Overall) or tasks (SUPERB_s) that entered the mean
    missing: tuple[str, ...]  # those left out because the row has no value

    @property
    def partial(self) -> bool:
        return bool(self.missing) and self.value is not None


def card_points(column_key: str, value: float) -> float:
    """One value as it enters the card's Overall Score."""
    return CARD_OVERALL_POINTS[column_key](value)


def card_overall_score(values: dict[str, float]) -> Score:
    """The model card's Overall Score over the columns present in ``values`` (column key -> table value)."""
    used = [key for key in CARD_OVERALL_POINTS if values.get(key) is not None]
    missing = tuple(key for key in CARD_OVERALL_POINTS if key not in used)
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
    for task, columns in SUPERB_S_TASKS.items():
        present = [key for key in columns if values.get(key) is not None]
        if present:
            scores[task] = statistics.fmean(normalised_metric(key, values[key], points) for key in present)
    return scores


def superb_score(values: dict[str, float], points: ReferencePoints) -> Score:
    per_task = normalised_task_scores(values, points)
    missing = tuple(task for task in SUPERB_S_TASKS if task not in per_task)
    if not per_task:
        return Score(None, (), missing)
    return Score(statistics.fmean(per_task.values()), tuple(per_task), missing)
