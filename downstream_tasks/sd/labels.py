"""SD's chunks and frame labels: the ``[start, end)`` chunk ranges of a recording, each chunk's 0/1
``(frames, speakers)`` label matrix from the speaker turns at the upstream's frame stride (s3prl's
``_gen_frame_indices`` and ``_get_labeled_speech``), and its compact encoding as ``Utterance.label``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

SAMPLE_RATE = 16_000


def chunk_ranges(num_frames: int, chunk_size: int) -> list[tuple[int, int]]:
    """``[start, end)`` frame ranges of ``chunk_size`` frames and a shorter last one (s3prl's ``_gen_frame_indices``
    with ``use_last_samples=True``, which is also ``_gen_chunk_indices`` of the test split)."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    return [(start, min(start + chunk_size, num_frames)) for start in range(0, max(num_frames, 0), chunk_size)]


def frame_label_spans(
    turns: Sequence[tuple[float, float, int]], start: int, end: int, frame_shift: int, sample_rate: int = SAMPLE_RATE
) -> list[tuple[int, int, int]]:
    """Active ``(first, last + 1, speaker column)`` frame spans of the chunk ``[start, end)``, relative to its start.

    A turn covers frames ``np.rint(t * sample_rate / frame_shift)`` (round half to even, as s3prl) from its start to
    its end, clipped to the chunk. s3prl skips a turn that starts before the chunk and ends after it (its
    ``rel_start``/``rel_end`` are both None); here such a turn labels the whole chunk.
    """
    spans = []
    for turn_start, turn_end, column in turns:
        first = int(np.rint(turn_start * sample_rate / frame_shift))
        last = int(np.rint(turn_end * sample_rate / frame_shift))
        first, last = max(first, start), min(last, end)
        if last > first:
            spans.append((first - start, last - start, int(column)))
    return spans


def spans_to_matrix(num_frames: int, spans: Sequence[tuple[int, int, int]], num_speakers: int) -> np.ndarray:
    labels = np.zeros((num_frames, num_speakers), dtype=np.float32)
    for first, last, column in spans:
        labels[first:last, column] = 1.0
    return labels


def frame_labels(
    turns: Sequence[tuple[float, float, int]], start: int, end: int, frame_shift: int, num_speakers: int = 2
) -> np.ndarray:
    """The ``(end - start, num_speakers)`` 0/1 label matrix of a chunk (s3prl's ``_get_labeled_speech``)."""
    return spans_to_matrix(end - start, frame_label_spans(turns, start, end, frame_shift), num_speakers)


def encode_label(num_frames: int, spans: Sequence[tuple[int, int, int]]) -> tuple[int, ...]:
    """A chunk's labels as ``Utterance.label``: ``(num_frames, first, last, column, first, last, column, ...)``."""
    return (num_frames, *itertools.chain.from_iterable(spans))


def decode_label(label: Sequence[int], num_speakers: int) -> np.ndarray:
    spans = [tuple(label[i : i + 3]) for i in range(1, len(label), 3)]
    return spans_to_matrix(int(label[0]), spans, num_speakers)
