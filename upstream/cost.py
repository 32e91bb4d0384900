"""What an encoder costs: parameters, multiply-accumulates per second of audio, and (from the run that filled a cache)
extraction throughput.

MACs are counted, not timed: :class:`torch.utils.flop_counter.FlopCounterMode` sees every matmul, convolution and
attention kernel of one real forward (on whatever device the upstream sits; a 12-layer transformer on 20 s of audio is
a few seconds of CPU) and MACs = FLOPs / 2. Two kernels it does not know are added here: PyTorch's CPU
flash-attention kernel (the one transformers' ``sdpa`` attention reaches on CPU) and the fused LSTM/GRU kernels, whose
weight products are counted like the matmuls they are. Elementwise work, normalisation and a feature extractor's
STFT outside the model are not counted, as in SUPERB's challenge profiler (DeepSpeed's, s3prl issue #356).

Self-attention grows with the square of the input length, so the count is taken at several lengths (SUPERB's
challenge reported several too) and given per second of 16 kHz audio at each.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from upstream.base import SAMPLE_RATE, Upstream
from upstream.load_integrity import parameters_the_forward_reads

#: Input lengths (seconds of 16 kHz audio) at which MACs are counted.
MAC_INPUT_SECONDS: tuple[float, ...] = (2.0, 5.0, 10.0, 20.0)
#: The "short" bucket of SUPERB's SLT-2022 challenge profiler: eight LibriSpeech test-clean utterances, in samples,
#: each encoded alone (github.com/B06901052/DeepSpeed, branch superb-challenge, testing/s3prl_profiling_test.py). The
#: SUPERB leaderboard's ``macsShort`` is the sum of their MACs, so MACs per second over this bucket is the one figure
#: a local row and a published row can share (the leaderboard's MACs column).
SUPERB_SHORT_BUCKET_SAMPLES: tuple[int, ...] = (20560, 34560, 38480, 42560, 45600, 48720, 52000, 55120)
SUPERB_SHORT_BUCKET_SECONDS = sum(SUPERB_SHORT_BUCKET_SAMPLES) / SAMPLE_RATE
COUNTER = (
    "torch.utils.flop_counter.FlopCounterMode on one forward of noise; MACs = FLOPs / 2; matmuls, convolutions, "
    "attention and RNN weight products (elementwise work, normalisation and an STFT outside the model not counted)"
)
COST_SCHEMA = 1

aten = torch.ops.aten


def _weight_products(input_shape: Sequence[int], weights: Sequence[Any]) -> int:
    """FLOPs of a fused RNN layer stack: every 2-D weight (input-hidden, hidden-hidden, projection; each layer and
    direction) multiplies one vector per time step and batch item. ``input_shape`` is (T, B, F), (B, T, F) or (T, F):
    the product of all but its last dimension is the number of steps either way."""
    steps = 1
    for size in input_shape[:-1]:
        steps *= int(size)
    return sum(2 * steps * int(shape[0]) * int(shape[1]) for shape in weights if len(shape) == 2)


def _rnn_flop(input_shape: Sequence[int], *args: Any, **kwargs: Any) -> int:  # noqa: ARG001
    """``aten.lstm``/``gru``/``rnn_*``: (input, hx, params, ...) or, packed, (data, batch_sizes, hx, params, ...); the
    parameter list is the one holding 2-D weights (the states are 3-D)."""
    for argument in args:
        if isinstance(argument, (list, tuple)) and any(len(shape) == 2 for shape in argument):
            return _weight_products(input_shape, argument)
    return 0


def _mkldnn_rnn_layer_flop(
    input_shape: Sequence[int], weight_ih: Any, weight_hh: Any, *args: Any, **kwargs: Any
) -> int:  # noqa: ARG001,E501
    """One layer of oneDNN's LSTM, what ``nn.LSTM`` runs on CPU: (input, weight_ih, weight_hh, biases, states, ...)."""
    return _weight_products(input_shape, [weight_ih, weight_hh])


def _cudnn_rnn_flop(input_shape: Sequence[int], weights: Sequence[Any], *args: Any, **kwargs: Any) -> int:  # noqa: ARG001
    """cuDNN's RNN, what ``nn.LSTM`` runs on CUDA: (input, weight list, ...)."""
    return _weight_products(input_shape, weights)


def _cpu_attention_flop(
    query_shape: Sequence[int], key_shape: Sequence[int], value_shape: Sequence[int], *args: Any, **kwargs: Any
) -> int:  # noqa: ARG001,E501
    return sdpa_flop_count(query_shape, key_shape, value_shape)


#: Kernels FlopCounterMode does not count by itself (PyTorch 2.14), with their formulas (keyed by operator packet, as
#: its registry is).
EXTRA_FORMULAS = {
    aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flop,
    aten._scaled_dot_product_fused_attention_overrideable: _cpu_attention_flop,
    aten.lstm: _rnn_flop,
    aten.gru: _rnn_flop,
    aten.rnn_tanh: _rnn_flop,
    aten.rnn_relu: _rnn_flop,
    aten.mkldnn_rnn_layer: _mkldnn_rnn_layer_flop,
    aten._cudnn_rnn: _cudnn_rnn_flop,
}


def count_macs(run: Any) -> tuple[int, dict[str, int]]:
    """MACs of calling ``run()`` once, in total and per aten operator."""
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=EXTRA_FORMULAS) as counter:
        run()
    per_operator = {str(op): flops // 2 for op, flops in counter.get_flop_counts().get("Global", {}).items()}
    return counter.get_total_flops() // 2, per_operator


@dataclass(frozen=True)
class UpstreamCost:
    """Parameters and MACs of one encoder (a property of its architecture and weights, not of a task)."""

    parameters: int
    #: parameters at least one hidden state depends on (a gradient reaches them from the outputs); the rest are
    #: pre-training heads or buffers-as-parameters the frozen forward never reads. None when it could not be measured.
    forward_parameters: int | None
    #: MACs per second of audio, counted on an input of each length in :data:`MAC_INPUT_SECONDS` (keys "2", "5", ...)
    macs_per_second: dict[str, float]
    #: MACs per second over SUPERB's short profiling bucket (:data:`SUPERB_SHORT_BUCKET_SAMPLES`)
    superb_short_macs_per_second: float | None = None
    counter: str = COUNTER
    schema: int = COST_SCHEMA
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        content = asdict(self)
        content.pop("extra")
        return {**content, **self.extra}

    @classmethod
    def from_dict(cls, content: dict[str, Any]) -> UpstreamCost:
        known = {
            "parameters",
            "forward_parameters",
            "macs_per_second",
            "superb_short_macs_per_second",
            "counter",
            "schema",
        }
        return cls(
            parameters=int(content["parameters"]),
            forward_parameters=None
            if content.get("forward_parameters") is None
            else int(content["forward_parameters"]),
            macs_per_second={str(key): float(value) for key, value in content["macs_per_second"].items()},
            superb_short_macs_per_second=_optional_float(content.get("superb_short_macs_per_second")),
            counter=str(content.get("counter", COUNTER)),
            schema=int(content.get("schema", COST_SCHEMA)),
            extra={key: value for key, value in content.items() if key not in known},
        )


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def seconds_key(seconds: float) -> str:
    return f"{seconds:g}"


def _noise(seconds: float) -> torch.Tensor:
    return _noise_samples(int(seconds * SAMPLE_RATE))


def _noise_samples(samples: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return 0.01 * torch.randn(samples, generator=generator)


def forward_parameter_count(upstream: Upstream) -> int | None:
    """How many parameters the hidden states depend on, from one gradient of a 1 s forward (None if the upstream's
    forward runs where no gradient can reach, e.g. under inference mode)."""
    names = [name for name, _ in upstream.named_parameters()]
    if not names:
        return 0
    probe = _noise(1.0).to(upstream.device)
    read = parameters_the_forward_reads(upstream, names, lambda: upstream._encode([probe])[0])
    if not read:
        return None
    sizes = dict(upstream.named_parameters())
    return sum(sizes[name].numel() for name in read)


def measure_cost(upstream: Upstream, lengths: Sequence[float] = MAC_INPUT_SECONDS) -> UpstreamCost:
    """Count parameters and MACs of ``upstream``: one forward of noise per length, then SUPERB's short bucket (each
    utterance alone, as the challenge's profiler ran them)."""
    macs = {}
    for seconds in lengths:
        total, _ = count_macs(lambda seconds=seconds: upstream([_noise(seconds)]))
        macs[seconds_key(seconds)] = total / seconds
    bucket = sum(count_macs(lambda n=n: upstream([_noise_samples(n)]))[0] for n in SUPERB_SHORT_BUCKET_SAMPLES)
    return UpstreamCost(
        parameters=sum(parameter.numel() for parameter in upstream.parameters()),
        forward_parameters=forward_parameter_count(upstream),
        macs_per_second=macs,
        superb_short_macs_per_second=bucket / SUPERB_SHORT_BUCKET_SECONDS,
    )


def _cost_path(cache_root: Path, name: str, weights_hash: str | None) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[-80:] or "upstream"
    return Path(cache_root) / "cost" / f"{safe}-{weights_hash or 'no-weights'}.json"


def cached_cost(cache_root: Path, name: str, weights_hash: str | None) -> UpstreamCost | None:
    """The cost counted earlier for this upstream and weights, if any (`bench suite`'s driver reads it without loading
    the encoder)."""
    path = _cost_path(cache_root, name, weights_hash)
    try:
        return UpstreamCost.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def upstream_cost(upstream: Upstream, cache_root: Path) -> UpstreamCost | None:
    """:func:`measure_cost`, counted once per upstream and weights and kept beside the feature caches. A forward the
    counter cannot follow costs the record its cost fields (a warning says why), never the run's results."""
    from benchcore.atomic import write_json_atomic

    info = upstream.info()
    known = cached_cost(cache_root, info.name, info.weights_hash)
    if known is not None:
        return known
    try:
        cost = measure_cost(upstream)
    except Exception as error:  # noqa: BLE001 - any failure of the count leaves the record without cost fields
        logging.getLogger(__name__).warning("upstream '%s': its MACs could not be counted (%s)", info.name, error)
        return None
    write_json_atomic(_cost_path(cache_root, info.name, info.weights_hash), cost.as_dict())
    return cost


def format_macs(macs: float | None) -> str:
    """'6.95 G', '512 M', '0' or '–'."""
    if macs is None:
        return "–"
    for scale, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if macs >= scale:
            return f"{macs / scale:.3g} {unit}"
    return f"{macs:.0f}"


def format_parameters(count: int | float | None) -> str:
    """'94.68M', '0' or '–' (SUPERB's leaderboard style)."""
    if count is None:
        return "–"
    if count == 0:
        return "0"
    if count >= 1e9:
        return f"{count / 1e9:.2f}B"
    if count >= 1e6:
        return f"{count / 1e6:.2f}M"
    return f"{count / 1e3:.1f}k"
