"""The recipes' random crops, and how a run makes them (``data.crop_mode``).

Three recipes crop an utterance to a random window every time it is read, and encode the window alone:

- SID, training utterances longer than 8 s (s3prl `downstream/voxceleb1/dataset.py:110-114`, `max_timestep` 128000,
  set for the train dataset only, `voxceleb1/expert.py:47-49`);
- KS, every `_silence_` item (a background-noise file) to 1 s, in train and dev (`speech_commands/dataset.py:81-84`);
- ASV, training utterances longer than 8 s, after the gain and silence trimming (`sv_voxceleb1/dataset.py:73-80`).

Each draws ``start = random.randint(0, length - n)`` (both ends included) and keeps ``wav[start:start + n]``; an
utterance not longer than ``n`` is read whole. A task marks such utterances with ``Utterance.random_crop_seconds``.

``data.crop_mode`` chooses how a run makes the crops:

- ``waveform`` (the recipe, the default): the crop is cut from the waveform the loader returns and encoded alone. The
  start is drawn from the trainer's generator, so a resumed run draws the same crops.
- ``block_mean`` (pooled heads, opt-in): the per-layer mean over a random block-aligned window of the whole
  utterance's cached block means (``cache.block_seconds``). The encoder saw the whole utterance as context, and the
  offsets are quantised to the block grid.
- ``frames`` (frame heads, opt-in; ASV): a random window of the whole utterance's encoded frames, cut by the head.
  The encoder saw the whole utterance as context.

The two approximations need no encoder during training. Records name the mode, and the report footnotes them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from benchcore.errors import BenchError
from downstream_tasks.base import Utterance
from downstream_tasks.bucketing import num_samples
from upstream.base import SAMPLE_RATE

WAVEFORM, BLOCK_MEAN, FRAMES = "waveform", "block_mean", "frames"
#: The modes a head input allows: the recipe's, and the approximation that head's features allow.
CROP_MODES = {"pooled": (WAVEFORM, BLOCK_MEAN), "frames": (WAVEFORM, FRAMES)}
APPROXIMATIONS = (BLOCK_MEAN, FRAMES)


def crop_mode(config: Any, task_name: str, head_input: str) -> str:
    """The run's validated ``data.crop_mode`` (``waveform`` when the task's config has no such key)."""
    mode = str(config.data.get("crop_mode", WAVEFORM))
    allowed = CROP_MODES.get(head_input, (WAVEFORM,))
    if mode not in allowed:
        raise BenchError(
            f"{task_name}: data.crop_mode={mode} is not one of {', '.join(allowed)} for a {head_input} "
            f"head; pass data.crop_mode={WAVEFORM} for the recipe's crops"
        )
    return mode


def crop_samples(seconds: float) -> int:
    """A crop's length in 16 kHz samples (8 s: s3prl's max_timestep 128000)."""
    return round(seconds * SAMPLE_RATE)


def may_be_cropped(utterance: Utterance) -> bool:
    """Whether a marked utterance can be longer than its crop, from its file's header.

    The header bounds what the loader returns: trimming silence only removes samples, and resampling adds at most
    one to the header's rounded count (hence ``>=``). An utterance for which this is False is never cropped."""
    if not utterance.random_crop_seconds:
        return False
    return num_samples(utterance) >= crop_samples(utterance.random_crop_seconds)


def draw_crop_start(length: int, crop: int, generator: torch.Generator) -> int | None:
    """s3prl's ``if length > max_timestep: start = random.randint(0, length - max_timestep)``: a start in
    ``[0, length - crop]``, both ends included, or None (no draw) when the waveform is not longer than the crop."""
    if length <= crop:
        return None
    return int(torch.randint(0, length - crop + 1, (1,), generator=generator))


def crop_waveform(waveform: Tensor, utterance: Utterance, generator: torch.Generator) -> Tensor:
    """The window of a marked utterance's waveform that one read sees (the whole waveform when it is not longer than
    the crop); unmarked utterances pass unchanged. Draws once per cropped read, from ``generator``."""
    if not utterance.random_crop_seconds:
        return waveform
    crop = crop_samples(utterance.random_crop_seconds)
    start = draw_crop_start(waveform.shape[-1], crop, generator)
    return waveform if start is None else waveform[start : start + crop]
