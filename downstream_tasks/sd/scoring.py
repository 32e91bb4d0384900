"""SD's scoring: hypothesis turns from per-recording posteriors, DER over score.sh's grid of (median filter,
threshold) settings (collar 0, overlap scored), one :class:`GridPoint` per setting, and picking a point on it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

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
                )
            )
    return points


def best_point(points: Sequence[GridPoint]) -> GridPoint:
    """The lowest DER; ties go to the first point in grid order (median, then threshold)."""
    return min(points, key=lambda point: point.der)


def point_at(points: Sequence[GridPoint], median: int, threshold: float) -> GridPoint:
    return next(p for p in points if p.median == median and math.isclose(p.threshold, threshold))
