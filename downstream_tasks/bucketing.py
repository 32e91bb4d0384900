"""s3prl's length bucketing for the sequence tasks: fixed training batches of similar lengths, shuffled each epoch.

Two recipes, two shapes:

- **ASR** (`downstream/asr/dataset.py`): the train list is sorted by length in samples, longest first, and cut into
  buckets of `bucket_size` (32); a full bucket whose longest file exceeds `HALF_BATCHSIZE_TIME` (2000 samples, so
  every real one) is split in two, which makes the effective batch 16; a last partial bucket of two or more files is
  kept whole. The DataLoader (batch 1, shuffle) then draws these fixed buckets in a fresh order each epoch.
- **PR and SF** (`downstream/ctc/data.py`, `corpus/libriphone.py`): the train list is sorted by label length, longest
  first, and item *i* of the dataset is the `batch_size` utterances starting at sorted position min(N - B, i); the
  DataLoader shuffles the N items. In training a batch whose first file is longer than 300,000 samples (18.75 s)
  keeps its first half only.

Batches depend on the data only (never on the feature source), so the cache and the encoder in the loop train on
the same batches. Sorts are stable, so ties keep the listing order and the batches are deterministic.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from benchcore.audio import SAMPLE_RATE
from downstream_tasks.base import Utterance

ASR_HALF_BATCH_SAMPLES = 2000  # s3prl asr/dataset.py HALF_BATCHSIZE_TIME, compared with lengths in samples
CTC_HALF_BATCH_SAMPLES = 300_000  # s3prl ctc/data.py collect_audio_batch(half_batch_size_wav_len=300000)


def num_samples(utterance: Utterance) -> int:
    """The utterance's length in 16 kHz samples, from the file header (s3prl reads `torchaudio.info().num_frames`).

    Headers are read once per process: the runner's frame-cache estimate and every unit's buckets ask again."""
    if utterance.segment is not None:
        return round((utterance.segment[1] - utterance.segment[0]) * SAMPLE_RATE)
    return _file_samples(str(utterance.path))


@functools.cache
def _file_samples(path: str) -> int:
    import soundfile

    info = soundfile.info(path)
    return round(info.frames * SAMPLE_RATE / info.samplerate)


def fixed_length_buckets(
    lengths: Sequence[int], bucket_size: int, half_above: int = ASR_HALF_BATCH_SAMPLES
) -> list[list[int]]:
    """ASR's buckets: indices sorted by length (longest first), cut into `bucket_size`, halved when long."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    buckets: list[list[int]] = []
    for start in range(0, len(order), bucket_size):
        bucket = order[start : start + bucket_size]
        if len(bucket) == bucket_size:
            if bucket_size >= 2 and max(lengths[i] for i in bucket) > half_above:
                buckets += [bucket[: bucket_size // 2], bucket[bucket_size // 2 :]]
            else:
                buckets.append(bucket)
        elif len(bucket) > 1:  # s3prl's "gather the last batch"; a single leftover file is never drawn
            buckets.append(bucket)
    return buckets


def sliding_label_buckets(
    label_lengths: Sequence[int],
    sample_lengths: Sequence[int],
    batch_size: int,
    half_above: int = CTC_HALF_BATCH_SAMPLES,
) -> list[list[int]]:
    """PR/SF's buckets: one per utterance, the `batch_size` label-length neighbours from its sorted position."""
    order = sorted(range(len(label_lengths)), key=lambda i: -label_lengths[i])
    buckets: list[list[int]] = []
    for position in range(len(order)):
        start = max(0, min(len(order) - batch_size, position))
        bucket = order[start : start + batch_size]
        if len(bucket) > 1 and sample_lengths[bucket[0]] > half_above:
            bucket = bucket[: len(bucket) // 2]
        buckets.append(bucket)
    return buckets
