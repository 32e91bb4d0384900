"""`bench upstreams --probe`: the first-load checklist of an encoder, measured, not read from its config.

Each line is a fact a user must see before trusting a run: what loading repaired or ignored, what the feature
extractor does (mel bins, hop, whether it truncates a 60 s clip), the frame stride, the number of hidden states,
output lengths for 1 s and 0.5 s, and whether an utterance gives the same hidden states alone and in a padded batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from upstream.base import SAMPLE_RATE, Upstream
from upstream.cost import SUPERB_SHORT_BUCKET_SECONDS, format_macs, format_parameters, measure_cost
from upstream.load_integrity import shown

#: Feature-extractor settings worth showing, under the names transformers' extractors use for them.
FEATURE_EXTRACTOR_KEYS = (
    "feature_size",
    "num_mel_bins",
    "n_mels",
    "sampling_rate",
    "hop_length",
    "frame_shift_ms",
    "frame_length_ms",
    "win_length",
    "n_fft",
    "stride",
    "max_length",
    "chunk_length",
    "n_samples",
    "do_normalize",
    "padding_value",
    "return_attention_mask",
)
LONG_CLIP_SECONDS = 60.0
#: Largest max abs difference between an utterance alone and in a padded batch that counts as equal (fp32).
BATCH_TOLERANCE = 1e-4


@dataclass(frozen=True)
class ProbeLine:
    label: str
    value: str
    ok: bool = True  # False: something the user must look at before trusting a run


def _noise(seconds: float, seed: int) -> torch.Tensor:
    return 0.01 * torch.randn(int(seconds * SAMPLE_RATE), generator=torch.Generator().manual_seed(seed))


def _load_lines(upstream: Upstream) -> list[ProbeLine]:
    report = upstream.load_report
    if report is None:
        return [ProbeLine("load", "no transformers checkpoint (built-in upstream)")]
    if report.random_init_seed is not None:
        return [
            ProbeLine(
                "load",
                f"random init (a lower bound): the config's architecture with the model's own initialisation, seed "
                f"{report.random_init_seed}; no checkpoint read; nothing left on meta",
            )
        ]
    lines = [ProbeLine("load", "every learned tensor came from the checkpoint; nothing left on meta")]
    lines.append(ProbeLine("rebuilt", shown(report.rebuilt) if report.rebuilt else "nothing"))
    if report.missing_unused:
        lines.append(
            ProbeLine(
                "missing, unused",
                f"{shown(report.missing_unused)} (absent from the checkpoint, never read by the eval forward)",
                ok=False,
            )
        )
    if report.unexpected:
        lines.append(ProbeLine("unexpected", f"{shown(report.unexpected)} (in the checkpoint, ignored)", ok=False))
    return lines


def _feature_extractor_lines(upstream: Upstream) -> list[ProbeLine]:
    extractor = getattr(upstream, "feature_extractor", None)
    if extractor is None:
        return [ProbeLine("feature extractor", "none: the upstream takes 16 kHz waveforms")]
    settings = extractor.to_dict()
    shown_settings = ", ".join(f"{key}={settings[key]}" for key in FEATURE_EXTRACTOR_KEYS if key in settings)
    called_with = {**upstream._feature_extractor_kwargs(), "return_attention_mask": True}
    lines = [
        ProbeLine("feature extractor", f"{type(extractor).__name__}: {shown_settings}"),
        ProbeLine("called with", ", ".join(f"{key}={value}" for key, value in sorted(called_with.items()))),
    ]
    frames = {}
    for seconds in (1.0, LONG_CLIP_SECONDS):
        inputs = extractor(
            [_noise(seconds, 3).numpy()],
            sampling_rate=SAMPLE_RATE,
            return_attention_mask=True,
            return_tensors="pt",
            **upstream._feature_extractor_kwargs(),
        )
        frames[seconds] = int(inputs["attention_mask"].sum())
        shape = tuple(inputs[upstream.input_key].shape)
    hop = (LONG_CLIP_SECONDS - 1.0) * SAMPLE_RATE / max(1, frames[LONG_CLIP_SECONDS] - frames[1.0])
    expected = frames[1.0] * LONG_CLIP_SECONDS
    truncates = frames[LONG_CLIP_SECONDS] < 0.95 * expected
    if len(shape) == 2:  # (B, samples): the model takes the waveform itself
        lines.append(
            ProbeLine(
                "input samples",
                f"1 s -> {frames[1.0]}, {LONG_CLIP_SECONDS:g} s -> "
                f"{frames[LONG_CLIP_SECONDS]} (raw waveform, input {shape})",
            )
        )
    else:
        lines.append(
            ProbeLine(
                "input frames",
                f"1 s -> {frames[1.0]}, {LONG_CLIP_SECONDS:g} s -> "
                f"{frames[LONG_CLIP_SECONDS]} (input {shape}); hop {hop:.0f} samples "
                f"({hop / 16:.1f} ms)",
            )
        )
    lines.append(
        ProbeLine(
            "truncates long audio",
            f"yes: {LONG_CLIP_SECONDS:g} s gives {frames[LONG_CLIP_SECONDS]} frames, not ~{expected:.0f}"
            if truncates
            else "no",
            ok=not truncates,
        )
    )
    return lines


def _output_lines(upstream: Upstream) -> list[ProbeLine]:
    stride = upstream.get_downsample_rates("hidden_states")
    one, half = _noise(1.0, 1), _noise(0.5, 2)
    alone = upstream([half])
    batched = upstream([one, half])
    single_one = upstream([one])
    lengths = {"1 s": int(single_one["hidden_states_lengths"][0]), "0.5 s": int(alone["hidden_states_lengths"][0])}
    valid = lengths["0.5 s"]
    batched_valid = int(batched["hidden_states_lengths"][1])
    difference = max(
        float((a[0, :valid] - b[1, :valid]).abs().max())
        for a, b in zip(alone["hidden_states"], batched["hidden_states"])
    )
    same = batched_valid == valid and difference <= BATCH_TOLERANCE
    long = upstream([_noise(LONG_CLIP_SECONDS, 4)])
    long_frames = int(long["hidden_states_lengths"][0])
    expected_long = LONG_CLIP_SECONDS * SAMPLE_RATE / stride
    long_ok = long_frames >= 0.95 * expected_long
    parameters = list(upstream.parameters())
    weights_dtype = str(parameters[0].dtype).replace("torch.", "") if parameters else "no parameters"
    return [
        ProbeLine("stride", f"{stride} samples ({stride / 16:g} ms), measured from 2 s and 4 s of audio"),
        ProbeLine("hidden states", f"{upstream.num_hidden_states} x {upstream.hidden_size}"),
        ProbeLine(
            "output lengths",
            f"1 s -> {lengths['1 s']} frames, 0.5 s -> {lengths['0.5 s']} frames, "
            f"{LONG_CLIP_SECONDS:g} s -> {long_frames} (expected ~{expected_long:.0f})",
            ok=long_ok,
        ),
        ProbeLine(
            "batched vs single",
            f"0.5 s clip padded beside 1 s: {batched_valid} frames (alone {valid}), max abs "
            f"difference {difference:.2g} over all hidden states ({upstream.padding_policy})",
            ok=same,
        ),
        ProbeLine(
            "dtype",
            f"weights {weights_dtype}, forward {upstream.forward_dtype_name}, device {upstream.device}",
        ),
    ]


def _cost_lines(upstream: Upstream) -> list[ProbeLine]:
    cost = measure_cost(upstream)
    used = "unknown" if cost.forward_parameters is None else format_parameters(cost.forward_parameters)
    per_length = ", ".join(f"{seconds} s: {format_macs(macs)}" for seconds, macs in cost.macs_per_second.items())
    return [
        ProbeLine("parameters", f"{format_parameters(cost.parameters)} in all, {used} read by the forward"),
        ProbeLine("MACs per second", f"{per_length} (input length; attention grows with its square)"),
        ProbeLine(
            "MACs/s, SUPERB",
            f"{format_macs(cost.superb_short_macs_per_second)} over SUPERB's short profiling bucket "
            f"({SUPERB_SHORT_BUCKET_SECONDS:.1f} s, the leaderboard's MACs column)",
        ),
    ]


def probe(upstream: Upstream) -> list[ProbeLine]:
    """Measure the checklist for a loaded upstream (a few forwards, one of them on 60 s of audio; the MAC count runs
    one forward per length)."""
    return [
        ProbeLine("source", f"{upstream.source} ({type(getattr(upstream, 'model', upstream)).__name__})"),
        *_load_lines(upstream),
        *_feature_extractor_lines(upstream),
        *_output_lines(upstream),
        *_cost_lines(upstream),
    ]


def format_probe(name: str, lines: list[ProbeLine]) -> str:
    width = max(len(line.label) for line in lines)
    body = [f"  {'  ' if line.ok else '! '}{line.label.ljust(width)}  {line.value}" for line in lines]
    flagged = sum(not line.ok for line in lines)
    verdict = (
        "all checks as expected" if not flagged else f"{flagged} line(s) marked ! need a look before trusting a run"
    )
    return "\n".join([f"{name}:", *body, f"  => {verdict}"])
