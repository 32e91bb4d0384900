"""Where a unit's features come from (:class:`~downstream_tasks.base.FeatureSource`): the cache, the encoder in the
loop, or the cache with the recipe's random crops encoded in the loop.

A pooled head reads ``(B, L, D)`` per-layer time-means, a frame head ``(hidden states (L, B, T, D), lengths (B,))``, all
on the CPU. ``batch(split, indices, generator)`` crops the utterances marked with ``random_crop_seconds`` when given a
generator (the trainer's during training; a fixed-seed one when a task scores a split that has marked utterances, see
``TrainedTask.score_split``) and reads whole utterances without one. Every source draws its crops in batch order, one
draw per cropped read, so sources that agree on the features train to the same parameters (tests/bench/test_crops.py,
test_cache_exactness.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from bench.cache import (
    CachedFeatures,
    PooledCache,
    crop_block_count,
    crop_block_range,
    encoder_input,
    frame_rows,
    pooled_row,
)
from bench.crops import BLOCK_MEAN, WAVEFORM, crop_waveform, may_be_cropped
from bench.encode import encode
from downstream_tasks.base import TaskData, Utterance
from upstream.base import SAMPLE_RATE, Upstream


def encode_waveforms(
    upstream: Upstream,
    waveforms: Sequence[Tensor],
    layers: Sequence[int] | None,
    utterances: Sequence[Utterance] | None = None,
) -> list[Tensor]:
    """One encoder call (:func:`bench.encode.encode`: short files refused, NaN/Inf outputs stopped, naming
    ``utterances``' files): each waveform's valid hidden states, (L, T_i, D) on the CPU (only ``layers`` when given)."""
    names = (
        [str(u.path) for u in utterances] if utterances is not None else [f"input {i}" for i in range(len(waveforms))]
    )
    whole = [u.segment is None for u in utterances] if utterances is not None else None
    output = encode(upstream, waveforms, names, whole)
    stacked = torch.stack(output["hidden_states"]).cpu()  # (L, B, T, D)
    if layers is not None:
        stacked = stacked[list(layers)]
    return [stacked[:, row, : int(length)] for row, length in enumerate(output["hidden_states_lengths"])]


def stack_frames(rows: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    """(L, T_i, D) rows -> zero-padded ``(L, B, max T, D)`` float32 and lengths ``(B,)``: a frame head's batch."""
    lengths = torch.tensor([row.shape[1] for row in rows])
    num_layers, _, dim = rows[0].shape
    stacked = torch.zeros((num_layers, len(rows), int(lengths.max()), dim), dtype=torch.float32)
    for index, row in enumerate(rows):
        stacked[:, index, : row.shape[1]] = row
    return stacked, lengths


class CachedSource:
    """Features from the cache: per-layer means (B, L, D) for pooled heads, or frames for frame heads. With a
    generator, a pooled cache of time blocks averages a random block-aligned window of each marked utterance
    (``data.crop_mode=block_mean``); a cache of whole-utterance means has no window to draw."""

    def __init__(self, features: dict[str, CachedFeatures], frames: bool = False) -> None:
        self.features = features
        self.frames = frames

    def batch(self, split: str, indices: Sequence[int], generator: torch.Generator | None) -> Any:
        if self.frames:
            return self.features[split].frames(indices)
        return self.features[split].batch(indices, generator)


class OnTheFlySource:
    """Runs the encoder on every batch, as s3prl does (the ``in_loop`` plan, and the reference of the exactness tests).

    Crops follow ``crop_mode``: ``waveform`` cuts each marked utterance's crop from its waveform before encoding
    (s3prl); ``block_mean`` keeps a random block-aligned window of the whole utterance's frames (``block_seconds``), the
    same windows the block cache averages; ``frames`` crops nothing here (the head cuts its frames). Frame heads get
    ``(L, B, T, D)`` frames; ``pooled_dtype`` gives pooled rows instead, with the cache's arithmetic at that dtype.
    """

    def __init__(
        self,
        upstream: Upstream,
        data: TaskData,
        gain_db: float,
        layers: Sequence[int] | None = None,
        crop_mode: str = WAVEFORM,
        block_seconds: float | None = None,
        pooled_dtype: str | None = None,
    ) -> None:
        self.upstream = upstream
        self.data = data
        self.gain_db = gain_db
        self.layers = None if layers is None else list(layers)
        self.crop_mode = crop_mode
        self.block_seconds = block_seconds
        self.pooled_dtype = pooled_dtype
        stride = upstream.get_downsample_rates("hidden_states")
        self.block_frames = None if block_seconds is None else max(1, round(block_seconds * SAMPLE_RATE / stride))

    def batch(self, split: str, indices: Sequence[int], generator: torch.Generator | None) -> Any:
        utterances = [self.data.splits[split][i] for i in indices]
        waveforms = [encoder_input(u, self.gain_db) for u in utterances]
        if generator is not None and self.crop_mode == WAVEFORM:
            waveforms = [crop_waveform(waveform, u, generator) for waveform, u in zip(waveforms, utterances)]
        rows = encode_waveforms(self.upstream, waveforms, self.layers, utterances)
        if generator is not None and self.crop_mode == BLOCK_MEAN:
            rows = [self._block_window(row, u, generator) for row, u in zip(rows, utterances)]
        if self.pooled_dtype is not None:
            return torch.stack([pooled_row(row, self.pooled_dtype) for row in rows])
        return stack_frames(rows)

    def _block_window(self, row: Tensor, utterance: Any, generator: torch.Generator) -> Tensor:
        frames = row.shape[1]
        size = frames if self.block_frames is None else self.block_frames
        num_blocks = max(1, math.ceil(frames / size))
        start, stop = crop_block_range(
            num_blocks, crop_block_count(utterance.random_crop_seconds, self.block_seconds), generator
        )
        return row[:, start * size : min(stop * size, frames)]


class WaveformCropSource:
    """The recipe's crops on top of the cache (``data.crop_mode=waveform``): each read of an utterance that may be
    longer than its crop is cut from its waveform and encoded alone, in the loop; every other read comes from the cache.

    Crops are encoded together, one encoder call per batch, and pass through the cache's own arithmetic
    (:func:`~bench.cache.pooled_row`, :func:`~bench.cache.frame_rows`), so a crop that covers the whole utterance gives
    the cached features exactly. The utterances ``cached`` leaves out (only ever read as crops) are encoded whole in the
    loop if something reads them without a generator.
    """

    def __init__(
        self,
        upstream: Upstream,
        data: TaskData,
        cache: PooledCache,
        gain_db: float,
        layers: Sequence[int] | None,
        frames: bool,
        cached: set[str],
    ) -> None:
        self.upstream = upstream
        self.data = data
        self.gain_db = gain_db
        self.layers = None if layers is None else list(layers)
        self.frames = frames
        self.dtype = cache.key.dtype
        self.position: dict[str, dict[int, int]] = {}  # split -> utterance index -> row in the cached features
        self.features: dict[str, CachedFeatures] = {}
        for split, utterances in data.splits.items():
            kept = [index for index, u in enumerate(utterances) if u.uid in cached]
            self.position[split] = {index: row for row, index in enumerate(kept)}
            self.features[split] = cache.load([utterances[index] for index in kept])

    def batch(self, split: str, indices: Sequence[int], generator: torch.Generator | None) -> Any:
        utterances, position = self.data.splits[split], self.position[split]
        looped: dict[int, Tensor] = {}  # row of the batch -> the waveform encoded in the loop
        for row, index in enumerate(indices):
            utterance = utterances[index]
            if generator is not None and may_be_cropped(utterance):
                looped[row] = crop_waveform(encoder_input(utterance, self.gain_db), utterance, generator)
            elif index not in position:
                looped[row] = encoder_input(utterance, self.gain_db)
        cached_rows = [row for row in range(len(indices)) if row not in looped]
        cached_indices = [position[indices[row]] for row in cached_rows]
        if not looped:
            return self._read(split, cached_indices)
        encoded = encode_waveforms(
            self.upstream, list(looped.values()), self.layers, [utterances[indices[row]] for row in looped]
        )
        features: dict[int, Tensor] = {}
        for row, hidden_states in zip(looped, encoded):
            features[row] = (
                frame_rows(hidden_states, self.dtype) if self.frames else pooled_row(hidden_states, self.dtype)
            )
        if cached_indices:
            if self.frames:
                stacked, lengths = self.features[split].frames(cached_indices)
                for column, row in enumerate(cached_rows):
                    features[row] = stacked[:, column, : int(lengths[column])]
            else:
                for row, pooled in zip(cached_rows, self.features[split].batch(cached_indices)):
                    features[row] = pooled
        ordered = [features[row] for row in range(len(indices))]
        return stack_frames(ordered) if self.frames else torch.stack(ordered)

    def _read(self, split: str, cached_indices: list[int]) -> Any:
        if self.frames:
            return self.features[split].frames(cached_indices)
        return self.features[split].batch(cached_indices)
