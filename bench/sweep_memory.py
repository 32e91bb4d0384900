"""How many heads of a shared-forward sweep (bench.trainer.train_sweep) train side by side in the memory there is.

Heads train where their features are delivered, on the CPU. During one step of a sweep the batch's hidden states are
held once for all heads; each head keeps its parameters, gradients and optimiser state for the whole run; the tensors
autograd saves for a backward live only while that head's forward and backward run, one head after the other. So the
peak is ``shared + K x persistent + one head's activations``, and only the persistent part grows with K.

The activations are measured, not modelled: one forward and backward of a copy of the head on a real training batch,
counting the storages autograd saves (``torch.autograd.graph.saved_tensors_hooks``), scaled linearly to the largest
training batch (padded frames; heads here are linear in time, up to the crops some make, so this errs high).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from downstream_tasks.bucketing import num_samples
from upstream.base import SAMPLE_RATE

#: optimiser state per parameter, in parameter-sized tensors (Adam: first and second moments)
OPTIMIZER_SLOTS = {"Adam": 2, "AdamW": 2, "Adamax": 2, "NAdam": 2, "RAdam": 2, "Adadelta": 2, "Adagrad": 1}


def optimizer_slots(optimizer: Any) -> int:
    """Parameter-sized tensors the optimiser keeps per parameter (``config.optimizer``: name and options)."""
    name = str(optimizer.name)
    if name == "SGD":
        return 1 if float(optimizer.get("momentum", 0.0) or 0.0) else 0
    if name == "RMSprop":
        return 1 + bool(float(optimizer.get("momentum", 0.0) or 0.0)) + bool(optimizer.get("centered", False))
    return OPTIMIZER_SLOTS.get(name, 2)


def available_bytes() -> int | None:
    """Memory the CPU can still give (``MemAvailable``), None where the system does not say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def tensor_bytes(features: Any) -> int:
    """Bytes of every tensor in ``features`` (a tensor, or tuples and lists of them)."""
    if isinstance(features, Tensor):
        return features.numel() * features.element_size()
    if isinstance(features, (tuple, list)):
        return sum(tensor_bytes(item) for item in features)
    return 0


def padded_size(features: Any) -> int:
    """Batch x padded frames of a frame batch ``(hidden states (L, B, T, D), lengths)``; batch size of pooled rows."""
    if isinstance(features, tuple):
        hidden_states = features[0]
        return int(hidden_states.shape[1] * hidden_states.shape[2])
    return int(features.shape[0])


def saved_activation_bytes(forward_and_loss: Callable[[], Tensor], exclude: Sequence[Tensor] = ()) -> int:
    """Bytes of the storages autograd saves for backward while ``forward_and_loss()`` runs, each storage counted once;
    storages of ``exclude`` (parameters, the shared input) are not counted. The backward runs, freeing them."""
    excluded = {tensor.untyped_storage().data_ptr() for tensor in exclude}
    saved: dict[int, int] = {}

    def pack(tensor: Tensor) -> Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in excluded:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = forward_and_loss()
    loss.backward()
    return sum(saved.values())


def _tensors(features: Any) -> list[Tensor]:
    if isinstance(features, Tensor):
        return [features]
    if isinstance(features, (tuple, list)):
        return [tensor for item in features for tensor in _tensors(item)]
    return []


@dataclass(frozen=True)
class SweepMemory:
    """The estimate for one sweep: bytes held once (the largest batch's hidden states, and the encoder's working memory
    when it runs on the heads' device), bytes each head keeps, one head's activations at the largest batch, and what
    the heads' device has free now (None: unknown)."""

    shared_bytes: int
    persistent_bytes: int
    activation_bytes: int
    free_bytes: int | None
    device: str = "cpu"

    def peak_bytes(self, heads: int) -> int:
        return self.shared_bytes + heads * self.persistent_bytes + self.activation_bytes

    def heads_that_fit(self) -> int | None:
        """The most heads side by side within the free memory (at least 1: one head is what training alone needs);
        None when the free memory is unknown."""
        if self.free_bytes is None:
            return None
        room = self.free_bytes - self.shared_bytes - self.activation_bytes
        return max(1, room // max(self.persistent_bytes, 1))

    def group_sizes(self, heads: int, max_heads: int | None = None) -> list[int]:
        """Sizes of the groups the sweep trains one after the other: as equal as possible, each within what fits and
        ``max_heads`` (``sweep.max_heads``)."""
        limit = min(value for value in (heads, self.heads_that_fit(), max_heads) if value is not None)
        groups = math.ceil(heads / max(limit, 1))
        return [heads // groups + (index < heads % groups) for index in range(groups)]


def estimate(
    build_model: Callable[[], nn.Module],
    features: Any,
    loss: Callable[[Any], Tensor],
    optimizer: Any,
    largest_batch: int,
    encoder_on_head_device: bool,
    generator: torch.Generator | None = None,
) -> SweepMemory:
    """Measure one head on ``features`` (a real training batch, read from the source) and scale to ``largest_batch``
    (padded frames, or batch size for pooled rows: :func:`padded_size` of the largest training batch).

    ``loss(outputs)`` is the task's loss on the batch's labels; ``generator`` the head's augmentation generator (a
    copy is used, so nothing a caller holds is advanced). The head's global random draws (dropout) run in a fork of
    torch's generators."""
    draws = None
    if generator is not None:
        draws = torch.Generator().manual_seed(0)
        draws.set_state(generator.get_state())
    with torch.random.fork_rng(devices=[]):  # building and probing the head leave torch's generators as they were
        model = build_model()
        parameters = [parameter for parameter in model.parameters() if parameter.requires_grad]
        parameter_bytes = sum(parameter.numel() * parameter.element_size() for parameter in parameters)
        persistent = parameter_bytes * (2 + optimizer_slots(optimizer))
        model.train()
        measured = saved_activation_bytes(
            lambda: loss(model(features, draws)), exclude=[*model.parameters(), *_tensors(features)]
        )
    scale = max(largest_batch, 1) / max(padded_size(features), 1)
    shared = round(tensor_bytes(features) * scale * (2 if encoder_on_head_device else 1))
    return SweepMemory(shared, persistent, round(measured * scale), available_bytes())


def largest_train_batch(task: Any, data: Any, config: Any, stride_samples: int, frames: bool) -> int:
    """Padded frames (frame heads) or rows (pooled heads) of the largest batch training can draw: the largest length
    bucket, else ``batch_size`` times the longest utterance (its crop, for utterances the recipe crops)."""
    utterances = data.splits["train"]
    if not frames:
        return int(config.batch_size)

    def length(utterance: Any) -> int:
        samples = num_samples(utterance)
        if utterance.random_crop_seconds:
            samples = min(samples, round(utterance.random_crop_seconds * SAMPLE_RATE))
        return max(1, samples // stride_samples)

    lengths = [length(utterance) for utterance in utterances]
    buckets = task.train_batches(utterances, config)
    if buckets:
        return max(len(bucket) * max(lengths[index] for index in bucket) for bucket in buckets)
    return int(config.batch_size) * max(lengths)


def gigabytes(value: int) -> str:
    return f"{value / 1e9:.2f} GB"


def split_line(task: str, memory: SweepMemory, heads: int, sizes: list[int], max_heads: int | None) -> str:
    """The one line that says a sweep trains in groups, and why."""
    free = "unknown" if memory.free_bytes is None else gigabytes(memory.free_bytes)
    why = (
        f"sweep.max_heads={max_heads}"
        if max_heads is not None and max_heads < heads and (memory.heads_that_fit() or heads) >= max_heads
        else f"{heads} heads need ~{gigabytes(memory.peak_bytes(heads))} ({gigabytes(memory.persistent_bytes)} each "
        f"for parameters, gradients and optimiser state), {free} free on the {memory.device}"
    )
    return (
        f"{task}: learning-rate sweep of {heads} heads trains in {len(sizes)} groups of "
        f"{'/'.join(map(str, sizes))} sharing the encoder's forward: {why} "
        "(sweep.max_heads=N sets the group size; sweep.shared=false trains one rate at a time)"
    )
