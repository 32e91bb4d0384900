"""One encoder call with the checks every encoding gets (the cache fill, the encoder in the loop, `bench extract`).

Before: an audio file shorter than the encoder's receptive field (:attr:`upstream.base.Upstream.min_input_samples`)
stops the run with one line naming it; a recipe's own cut of a longer file (SD's last chunk of a recording) is encoded
as the recipe encodes it, padded within its batch. After: NaN or Inf in any hidden state stops the run with one line
naming the utterance, the hidden state and the precision (fp16 overflows on long inputs).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from benchcore.errors import BenchError
from upstream.base import SAMPLE_RATE, Upstream

#: Every receptive field is shorter than a second: clips at least this long are never measured against it.
_SURELY_LONG_ENOUGH = SAMPLE_RATE


def encode(
    upstream: Upstream, waveforms: Sequence[Tensor], names: Sequence[str], whole_files: Sequence[bool] | None = None
) -> dict:
    """``upstream(waveforms)`` after :func:`refuse_short_files` and checked by :func:`require_finite_outputs`."""
    refuse_short_files(upstream, waveforms, names, whole_files)
    output = upstream(list(waveforms))
    require_finite_outputs(upstream, output, names)
    return output


def refuse_short_files(
    upstream: Upstream, waveforms: Sequence[Tensor], names: Sequence[str], whole_files: Sequence[bool] | None = None
) -> None:
    """One line for the first whole audio file shorter than the encoder's receptive field (the harness's one policy for
    every upstream: refuse, never pad silently). ``whole_files[i]`` False marks a recipe's segment of a longer file."""
    if all(waveform.numel() >= _SURELY_LONG_ENOUGH for waveform in waveforms):
        return
    minimum = upstream.min_input_samples
    for index, waveform in enumerate(waveforms):
        if waveform.numel() < minimum and (whole_files is None or whole_files[index]):
            raise BenchError(
                f"audio file {names[index]} has {waveform.numel()} samples "
                f"({1000 * waveform.numel() / SAMPLE_RATE:.1f} ms), shorter than {upstream.name}'s receptive "
                f"field of {minimum} samples ({1000 * minimum / SAMPLE_RATE:.0f} ms); remove it from the "
                "corpus (every upstream refuses such clips)"
            )


def require_finite_outputs(upstream: Upstream, output: dict, names: Sequence[str]) -> None:
    """Stop at the first NaN/Inf in a valid frame of any hidden state, naming the utterance, state and precision."""
    lengths = output["hidden_states_lengths"]
    for layer, states in enumerate(output["hidden_states"]):
        if bool(torch.isfinite(states).all()):
            continue
        for row, length in enumerate(lengths.tolist()):
            if not bool(torch.isfinite(states[row, :length]).all()):
                precision = str(upstream.autocast_dtype).removeprefix("torch.")
                advice = (
                    "rerun with --dtype fp32 or --dtype bf16 (fp16 overflows)"
                    if precision != "float32"
                    else "the encoder itself produced them in float32: check the audio and the checkpoint"
                )
                raise BenchError(
                    f"{upstream.name} returned NaN/Inf for {names[row]} in hidden state {layer} "
                    f"(forward in {precision}); {advice}"
                )
