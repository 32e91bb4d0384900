"""SD's scoring: hypothesis turns from per-recording posteriors, DER over score.sh's grid of (median filter,
threshold) settings (collar 0, overlap scored), one :class:`GridPoint` per setting, and picking a point on it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from downstream_tasks.items import ItemTable, Statistic, ratio
from downstream_tasks.metrics.detection import diarization_error_rate, posteriors_to_segments
from downstream_tasks.sd.kaldi import Segment


@dataclass
class GridPoint:
    """DER of one (median filter, threshold) setting over a split, with its components in seconds."""

    median: int
    threshold: float
    der: float
    false_alarm: float
    missed: float
    confusion: float
    total: float
    #: (recording, error seconds = false alarm + missed + confusion, scored speech seconds) in scoring order: the
    #: per-item outputs (downstream_tasks.items), whose sums give ``der``
    per_recording: tuple[tuple[str, float, float], ...] = field(default=(), compare=False, repr=False)

    @property
    def key(self) -> str:
        """The setting's name in item tables: ``m<median>_t<threshold>``."""
        return f"m{self.median}_t{self.threshold:g}"


def recording_segments(
    posteriors: np.ndarray, recording: str, frame_shift_seconds: float, threshold: float, median: int
) -> list[Segment]:
    """Hypothesis turns of one recording, speakers named ``<recording>_<column>`` as s3prl's ``make_rttm.py``."""
    if len(posteriors) == 0:
        return []
    return [
        (start, end, f"{recording}_{column}")
        for start, end, column in posteriors_to_segments(posteriors, frame_shift_seconds, threshold, median)
    ]


def der_grid(
    references: dict[str, list[Segment]],
    posteriors: dict[str, np.ndarray],
    frame_shift_seconds: float,
    medians: Sequence[int],
    thresholds: Sequence[float],
) -> list[GridPoint]:
    """score.sh's sweep: DER of every (median, threshold) over all recordings (collar 0, overlap scored)."""
    points = []
    for median in medians:
        for threshold in thresholds:
            hypotheses = {
                recording: recording_segments(post, recording, frame_shift_seconds, threshold, median)
                for recording, post in posteriors.items()
            }
            scored = diarization_error_rate(references, hypotheses, collar=0.0, skip_overlap=False)
            points.append(
                GridPoint(
                    int(median),
                    float(threshold),
                    float(scored["der"]),
                    scored["false_alarm"],
                    scored["missed"],
                    scored["confusion"],
                    scored["total"],
                    tuple(
                        (recording, row["false_alarm"] + row["missed"] + row["confusion"], row["total"])
                        for recording, row in scored["per_recording"].items()
                    ),
                )
            )
    return points


def grid_item_table(task: str, points: Sequence[GridPoint], chosen: dict[str, GridPoint]) -> ItemTable:
    """Per recording: error and speech seconds at every grid point. ``chosen`` names the metrics read at one point
    (``der_dev_selected``: the dev-best setting) and ``der``, the lowest DER over the grid, is the minimum of the
    points' ratios, recomputed per resample (the setting is selected on the same data, as score.sh reports it)."""
    recordings = [recording for recording, _, _ in points[0].per_recording]
    columns: dict[str, list] = {}
    for point in points:
        if [recording for recording, _, _ in point.per_recording] != recordings:
            raise ValueError("grid points scored different recordings")
        columns[f"errors_{point.key}"] = [errors for _, errors, _ in point.per_recording]
        columns[f"speech_{point.key}"] = [speech for _, _, speech in point.per_recording]
    statistics = {
        "der": Statistic(
            "select_ratio",
            tuple(f"errors_{point.key}" for point in points),
            tuple(f"speech_{point.key}" for point in points),
            select="min",
        )
    }
    for metric, point in chosen.items():
        if metric != "der":
            statistics[metric] = ratio(f"errors_{point.key}", f"speech_{point.key}")
    return ItemTable(task, "recording", recordings, columns, statistics)


def best_point(points: Sequence[GridPoint]) -> GridPoint:
    """The lowest DER; ties go to the first point in grid order (median, then threshold)."""
    return min(points, key=lambda point: point.der)


def point_at(points: Sequence[GridPoint], median: int, threshold: float) -> GridPoint:
    return next(p for p in points if p.median == median and math.isclose(p.threshold, threshold))
