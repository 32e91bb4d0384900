"""Encoders loaded through transformers: any hub id or local directory with a feature extractor.

``hf:<id-or-dir>`` covers wav2vec 2.0, HuBERT, WavLM, data2vec-audio, Wav2Vec2-Conformer and
Wav2Vec2-BERT; ``meralion:<id-or-dir>`` is the same path with ``trust_remote_code=True`` and the
MERaLiON calling convention (80-bin mel ``input_values`` + mel-frame ``attention_mask``).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from benchcore.errors import BenchError
from upstream.base import SAMPLE_RATE, PaddingPolicy, Upstream
from upstream.hub import HubUnavailable, cached_file, describe, load_pretrained
from upstream.load_integrity import (
    LoadReport,
    parameters_the_forward_reads,
    repair_loaded_model,
    shown,
    tensors_on_meta,
)

log = logging.getLogger(__name__)

# Model families whose padded-batch outputs equal their single-utterance outputs once the
# convolutional front end (GroupNorm over time in "group" models) runs per utterance. Measured
# by tests/upstream/test_padding_invariance.py; every other family runs one utterance at a time.
BATCH_SAFE_MODEL_TYPES = {"wav2vec2", "hubert", "wavlm", "wav2vec2-bert"}
#: The seed of a `random_init=true` upstream's weights (the model's own initialisation, drawn once, reproducibly).
RANDOM_INIT_SEED = 0


class _PerUtteranceFrontEnd(nn.Module):
    """Runs a wav2vec2-style conv feature encoder on each unpadded waveform, then zero-pads.

    GroupNorm in the first conv layer of "group" models normalises over the whole padded time axis,
    so padding changes every frame. Running the front end per utterance removes that leak while the
    transformer still runs batched with its attention mask.
    """

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.sample_lengths: list[int] | None = None

    def forward(self, input_values: Tensor) -> Tensor:
        if self.sample_lengths is None:
            return self.inner(input_values)
        outputs = [self.inner(input_values[i : i + 1, :length]) for i, length in enumerate(self.sample_lengths)]
        longest = max(output.shape[-1] for output in outputs)
        return torch.cat([nn.functional.pad(output, (0, longest - output.shape[-1])) for output in outputs])


def _load_error(source: str, error: Exception, trust_remote_code: bool) -> BenchError:
    local_hint = (
        "pass a local directory instead "
        "(e.g. hf:/path/to/model, after `huggingface-cli download` on a machine with network)"
    )
    if Path(source).exists():
        return BenchError(f"cannot load the transformers model in {source}: {error}".splitlines()[0])
    if isinstance(error, HubUnavailable):
        # Say which case stopped us, and whether a cached copy exists but failed to load (then its error matters).
        cached = (
            f"; its copy in the local cache does not load ({describe(error.cached_error)})"
            if cached_file(source)
            else " and it is not in the local cache"
        )
        why = f" ({error.reason}){cached}"
    else:
        why = f" and it is not in the local cache ({describe(error)})"
    return BenchError(
        f"cannot fetch '{source}' from the Hugging Face hub{why}; "
        f"{local_hint}"
        + ("; remote code needs trust_remote_code, which this upstream sets" if trust_remote_code else "")
    )


class HFUpstream(Upstream):
    """A transformers speech encoder with its own feature extractor."""

    trust_remote_code = False

    def __init__(
        self,
        name: str,
        source: str,
        feature_extractor_overrides: dict[str, Any] | None = None,
        padding_policy: PaddingPolicy | None = None,
        random_init: bool = False,
    ) -> None:
        super().__init__(name, source)
        from transformers import AutoConfig, AutoFeatureExtractor, AutoModel
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()

        def load_feature_extractor(**hub_kwargs: Any) -> Any:
            return AutoFeatureExtractor.from_pretrained(source, trust_remote_code=self.trust_remote_code, **hub_kwargs)

        def build_from_config(**hub_kwargs: Any) -> tuple[Any, nn.Module, dict[str, Any]]:
            """The same architecture with the model's own initialisation, seeded; no checkpoint is read."""
            feature_extractor = load_feature_extractor(**hub_kwargs)
            config = AutoConfig.from_pretrained(source, trust_remote_code=self.trust_remote_code, **hub_kwargs)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(RANDOM_INIT_SEED)
                model = AutoModel.from_config(config, trust_remote_code=self.trust_remote_code, dtype=torch.float32)
            return feature_extractor, model, {}

        def load(**hub_kwargs: Any) -> tuple[Any, nn.Module, dict[str, Any]]:
            # hub_kwargs is local_files_only=True on the first try of a hub id (see upstream.hub).
            feature_extractor = load_feature_extractor(**hub_kwargs)
            # fp32 weights whatever the checkpoint's dtype: bf16/fp16 run through autocast (set_precision), never
            # through weights silently rounded at load time.
            model, loading_info = AutoModel.from_pretrained(
                source,
                trust_remote_code=self.trust_remote_code,
                dtype=torch.float32,
                output_loading_info=True,
                **hub_kwargs,
            )
            return feature_extractor, model, loading_info

        try:
            self.feature_extractor, self.model, loading_info = load_pretrained(
                source, build_from_config if random_init else load
            )
        except (OSError, ValueError, HubUnavailable) as error:
            raise _load_error(source, error, self.trust_remote_code) from error
        if random_init:
            left = tensors_on_meta(self.model)
            if left:
                raise BenchError(f"upstream '{name}': building from the config left {shown(left)} on meta")
            self.load_report, missing_parameters = LoadReport(random_init_seed=RANDOM_INIT_SEED), []
        else:
            self.load_report, missing_parameters = repair_loaded_model(self.model, loading_info, f"'{name}'")
        self.feature_extractor_overrides = dict(feature_extractor_overrides or {})
        self.input_key = self.feature_extractor.model_input_names[0]
        self._disable_layerdrop()
        self.padding_policy = padding_policy or self._default_padding_policy()
        self._front_end: _PerUtteranceFrontEnd | None = None
        if self.padding_policy == "batched" and getattr(self.model.config, "feat_extract_norm", None) == "group":
            self._front_end = _PerUtteranceFrontEnd(self.model.feature_extractor)
            self.model.feature_extractor = self._front_end
        self.freeze()
        self._refuse_missing_parameters_the_forward_reads(missing_parameters)

    def _refuse_missing_parameters_the_forward_reads(self, missing: list[str]) -> None:
        """A learned weight absent from the checkpoint is random; refuse it unless the eval forward never reads it."""
        probe = 0.01 * torch.randn(SAMPLE_RATE, generator=torch.Generator().manual_seed(0))
        used = parameters_the_forward_reads(self.model, missing, lambda: self._encode([probe])[0])
        if used:
            raise BenchError(
                f"upstream '{self.name}': the checkpoint in {self.source} lacks {len(used)} learned parameter(s) that "
                f"the forward reads: {shown(used)}; transformers would fill them with random values, and a benchmark "
                "of random weights is worthless; use the complete checkpoint (check the revision or re-save it)"
            )
        unused = tuple(sorted(missing))
        if unused:
            log.warning(
                "upstream '%s': %d learned parameter(s) missing from the checkpoint are never read by the "
                "eval forward (left as initialised): %s",
                self.name,
                len(unused),
                shown(unused),
            )
        if self.load_report.unexpected:
            log.warning(
                "upstream '%s': %d checkpoint tensor(s) have no place in the model and were ignored: %s",
                self.name,
                len(self.load_report.unexpected),
                shown(self.load_report.unexpected),
            )
        if self.load_report.rebuilt:
            log.info(
                "upstream '%s': rebuilt %d non-learned tensor(s) that loading left wrong: %s",
                self.name,
                len(self.load_report.rebuilt),
                shown(self.load_report.rebuilt),
            )
        self.load_report = dataclasses.replace(self.load_report, missing_unused=unused)

    def _default_padding_policy(self) -> PaddingPolicy:
        return "batched" if self.model.config.model_type in BATCH_SAFE_MODEL_TYPES else "per_utterance"

    def _disable_layerdrop(self) -> None:
        """Layerdrop changes the number of hidden states between calls; a frozen benchmark needs it off."""
        if hasattr(self.model.config, "layerdrop"):
            self.model.config.layerdrop = 0.0
        for module in self.model.modules():
            if isinstance(getattr(module, "layerdrop", None), float):
                module.layerdrop = 0.0

    def _feature_extractor_kwargs(self) -> dict[str, Any]:
        return {"padding": True, **self.feature_extractor_overrides}

    def _encode(self, wavs: list[Tensor]) -> tuple[Sequence[Tensor], Tensor]:
        arrays = [wav.detach().to("cpu", torch.float32).numpy() for wav in wavs]
        inputs = self.feature_extractor(
            arrays,
            sampling_rate=SAMPLE_RATE,
            return_attention_mask=True,
            return_tensors="pt",
            **self._feature_extractor_kwargs(),
        )
        inputs = {
            key: value.to(self.device) for key, value in inputs.items() if key in (self.input_key, "attention_mask")
        }
        if inputs[self.input_key].is_floating_point():
            inputs[self.input_key] = inputs[self.input_key].float()
        if self._front_end is not None:
            self._front_end.sample_lengths = [wav.numel() for wav in wavs]
        try:
            output = self.model(**inputs, output_hidden_states=True, return_dict=True)
        finally:
            if self._front_end is not None:
                self._front_end.sample_lengths = None
        lengths = self._output_lengths(output, inputs)
        return output.hidden_states, lengths

    def _output_lengths(self, output: Any, inputs: dict[str, Tensor]) -> Tensor:
        if "output_lengths" in output:
            return torch.as_tensor(output["output_lengths"]).long()
        mask_lengths = inputs["attention_mask"].sum(-1)
        if hasattr(self.model, "_get_feat_extract_output_lengths"):
            lengths = self.model._get_feat_extract_output_lengths(mask_lengths)
        else:
            lengths = mask_lengths
        return lengths.long().clamp(max=output.hidden_states[0].shape[1])


class MeralionUpstream(HFUpstream):
    """MERaLiON-SpeechEncoder (v1, 2): remote code, 80-bin mel input, BatchNorm in every conformer block.

    Called exactly as the model card does (``do_normalize=False``, ``return_attention_mask=True``,
    ``input_values`` + ``attention_mask``). It runs one utterance at a time: its depthwise
    convolutions see padded frames and its output-length rule depends on the padded batch length,
    so batching would change the features of short utterances.
    """

    trust_remote_code = True

    def _default_padding_policy(self) -> PaddingPolicy:
        return "per_utterance"

    def _feature_extractor_kwargs(self) -> dict[str, Any]:
        return {"padding": True, "do_normalize": False, **self.feature_extractor_overrides}
