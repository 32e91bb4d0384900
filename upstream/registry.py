"""One registry: upstream names and prefixes to loaders.

Names are either a known alias (``meralion2``, ``hubert_large``, ``fbank``, ...) or a prefix form:
``hf:<hub-id-or-dir>``, ``meralion:<hub-id-or-dir>``, ``s3prl:<s3prl-name>``. A built-in encoder is one
:class:`KnownUpstream` line in ``KNOWN_UPSTREAMS`` (or a loader in ``LOADERS`` for a new kind); code outside the harness
adds its own with :func:`register_upstream_kind` (a new ``prefix:<source>`` form backed by its own
:class:`~upstream.base.Upstream` subclass) and :func:`register_upstream` (a named alias), beside the tasks'
``register_task``; `bench run/suite/report --include MODULE` imports such a module first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from benchcore.errors import BenchError
from upstream.base import DTYPES, Upstream


@dataclass(frozen=True)
class KnownUpstream:
    """A named encoder. Layer count, width and stride are the published values; `--probe` measures them."""

    name: str
    kind: str  # a key of LOADERS
    source: str
    num_hidden_states: int
    hidden_size: int
    stride_samples: int
    description: str
    options: dict[str, Any] = field(default_factory=dict)


def _load_hf(name: str, source: str, options: dict[str, Any]) -> Upstream:
    from upstream.hf import HFUpstream

    return HFUpstream(name, source, **options)


def _load_meralion(name: str, source: str, options: dict[str, Any]) -> Upstream:
    from upstream.hf import MeralionUpstream

    return MeralionUpstream(name, source, **options)


def _load_s3prl(name: str, source: str, options: dict[str, Any]) -> Upstream:
    from upstream.s3prl_builtin import S3PRLBuiltinUpstream

    return S3PRLBuiltinUpstream(name, source, **options)


def _load_resemblyzer(name: str, source: str, options: dict[str, Any]) -> Upstream:
    from upstream.resemblyzer import ResemblyzerUpstream

    return ResemblyzerUpstream(name, source, **options)


LOADERS: dict[str, Callable[[str, str, dict[str, Any]], Upstream]] = {
    "hf": _load_hf,
    "meralion": _load_meralion,
    "s3prl": _load_s3prl,
    "resemblyzer": _load_resemblyzer,
}

PREFIX_HELP = {
    "hf": "hf:<hub-id-or-local-dir>  any transformers speech encoder with its feature extractor",
    "meralion": "meralion:<hub-id-or-local-dir>  a MERaLiON-style remote-code encoder (trust_remote_code=True)",
    "s3prl": "s3prl:<name>  any upstream of s3prl's hub (fbank, fbank_no_cmvn, mfcc, hubert, wavlm_large, ...)",
    "resemblyzer": "resemblyzer:<checkpoint.pt>  a GE2E voice encoder checkpoint in resemblyzer's format",
}

# fairseq large models were pre-trained on layer-normalised waveforms; their HF preprocessor configs do
# not always say so (s3prl reads it from the checkpoint), so the aliases force it.
_NORMALIZE_WAVEFORM = {"feature_extractor_overrides": {"do_normalize": True}}

KNOWN_UPSTREAMS: dict[str, KnownUpstream] = {
    entry.name: entry
    for entry in [
        KnownUpstream(
            "meralion2",
            "meralion",
            "MERaLiON/MERaLiON-SpeechEncoder-2",
            25,
            1024,
            640,
            "MERaLiON-SpeechEncoder-2, 630M BEST-RQ conformer, 80-bin mel input, 40 ms frames",
        ),
        KnownUpstream(
            "meralion1",
            "meralion",
            "MERaLiON/MERaLiON-SpeechEncoder-v1",
            25,
            1024,
            640,
            "MERaLiON-SpeechEncoder-v1 (English and Singlish)",
        ),
        KnownUpstream("hubert_base", "hf", "facebook/hubert-base-ls960", 13, 768, 320, "HuBERT Base (LS-960)"),
        KnownUpstream(
            "hubert_large",
            "hf",
            "facebook/hubert-large-ll60k",
            25,
            1024,
            320,
            "HuBERT Large (LL-60k)",
            _NORMALIZE_WAVEFORM,
        ),
        KnownUpstream("wavlm_base_plus", "hf", "microsoft/wavlm-base-plus", 13, 768, 320, "WavLM Base+"),
        KnownUpstream("wavlm_large", "hf", "microsoft/wavlm-large", 25, 1024, 320, "WavLM Large", _NORMALIZE_WAVEFORM),
        KnownUpstream("wav2vec2_base", "hf", "facebook/wav2vec2-base", 13, 768, 320, "wav2vec 2.0 Base (LS-960)"),
        KnownUpstream(
            "wav2vec2_large",
            "hf",
            "facebook/wav2vec2-large-lv60",
            25,
            1024,
            320,
            "wav2vec 2.0 Large (LL-60k), SUPERB's wav2vec2_large_ll60k",
            _NORMALIZE_WAVEFORM,
        ),
        KnownUpstream(
            "w2v_bert2",
            "hf",
            "facebook/w2v-bert-2.0",
            25,
            1024,
            320,
            "Wav2Vec2-BERT 2.0 (conformer, 160-dim stacked mel)",
        ),
        KnownUpstream(
            "fbank",
            "s3prl",
            "fbank",
            1,
            240,
            160,
            "SUPERB's FBANK baseline: 80 log-mel + deltas, per-utterance CMVN (works offline)",
        ),
        KnownUpstream(
            "fbank_no_cmvn",
            "s3prl",
            "fbank_no_cmvn",
            1,
            240,
            160,
            "FBANK without per-utterance normalisation (works offline)",
        ),
        KnownUpstream(
            "resemblyzer",
            "resemblyzer",
            "resemblyzer",
            4,
            256,
            160,
            "Resemblyzer's pretrained GE2E speaker encoder (3-layer LSTM, weights in the PyPI wheel; a "
            "speaker model, not SSL; works offline)",
        ),
    ]
}


def register_upstream_kind(
    kind: str, loader: Callable[[str, str, dict[str, Any]], Upstream], usage: str
) -> Callable[[str, str, dict[str, Any]], Upstream]:
    """Add the prefix form ``kind:<source>``: ``loader(name, source, options)`` builds the :class:`Upstream` (called on
    the machine that encodes). ``usage`` is its line in `bench upstreams` ("kind:<...>  what it loads")."""
    if ":" in kind or not kind:
        raise BenchError(f"an upstream kind is a non-empty prefix without ':', not '{kind}'")
    if kind in LOADERS and LOADERS[kind] is not loader:
        raise BenchError(f"an upstream kind '{kind}' is already registered")
    LOADERS[kind] = loader
    PREFIX_HELP[kind] = usage
    return loader


def register_upstream(entry: KnownUpstream) -> KnownUpstream:
    """Add a named upstream: an alias of a registered kind and source, with its published shape for
    `bench upstreams`."""
    if entry.kind not in LOADERS:
        known = ", ".join(LOADERS)
        raise BenchError(f"upstream '{entry.name}' has kind '{entry.kind}', which is not registered (known: {known})")
    if entry.name in KNOWN_UPSTREAMS and KNOWN_UPSTREAMS[entry.name] != entry:
        raise BenchError(f"an upstream named '{entry.name}' is already registered")
    KNOWN_UPSTREAMS[entry.name] = entry
    return entry


#: Kinds whose models transformers can build from their config alone (`random_init=true`).
RANDOM_INIT_KINDS = ("hf", "meralion")
#: How a random-init upstream is named everywhere (records, caches, every table): ``<upstream> (random init)``.
RANDOM_INIT_SUFFIX = " (random init)"


def _refuse_random_init_of(name: str, kind: str) -> None:
    """Only hf: and meralion: models can be built from their config alone."""
    if kind not in RANDOM_INIT_KINDS:
        raise BenchError(
            f"random_init=true builds a transformers model from its config, so it needs an hf: or meralion: upstream "
            f"(or an alias of one: {', '.join(n for n, e in KNOWN_UPSTREAMS.items() if e.kind in RANDOM_INIT_KINDS)}); "
            f"'{name}' is a {kind} upstream"
        )


def with_random_init(name: str) -> str:
    """The name of ``name``'s random-init lower bound (`random_init=true`), checked: only hf: and meralion: models."""
    if name.endswith(RANDOM_INIT_SUFFIX):
        return name
    _refuse_random_init_of(name, parse_upstream_name(name)[0])
    return name + RANDOM_INIT_SUFFIX


def split_random_init(overrides: list[str]) -> tuple[bool, list[str]]:
    """Take `random_init=true|false` out of a command's key=value overrides (it names the upstream, not the task's
    config): (whether it was true, the other overrides)."""
    chosen, rest = False, []
    for item in overrides:
        key, sep, value = item.partition("=")
        if sep and key.strip() == "random_init":
            if value.strip().lower() not in ("true", "false"):
                raise BenchError(f"random_init={value}: use random_init=true or random_init=false")
            chosen = value.strip().lower() == "true"
        else:
            rest.append(item)
    return chosen, rest


def parse_upstream_name(name: str) -> tuple[str, str, dict[str, Any]]:
    """Return (kind, source, options) for an alias or a ``prefix:source`` name; ``<name> (random init)`` is that
    upstream's architecture built from its config (``options["random_init"]``)."""
    if name.endswith(RANDOM_INIT_SUFFIX):
        base = name[: -len(RANDOM_INIT_SUFFIX)]
        kind, source, options = parse_upstream_name(base)
        _refuse_random_init_of(base, kind)
        return kind, source, {**options, "random_init": True}
    if name in KNOWN_UPSTREAMS:
        entry = KNOWN_UPSTREAMS[name]
        return entry.kind, entry.source, dict(entry.options)
    prefix, sep, source = name.partition(":")
    if sep and prefix in LOADERS and source:
        return prefix, source, {}
    known = ", ".join(KNOWN_UPSTREAMS)
    prefixes = ", ".join(f"{prefix}:<...>" for prefix in LOADERS)
    raise BenchError(f"unknown upstream '{name}'; known names: {known}; or a prefix form: {prefixes}")


def load_upstream(name: str, device: str = "cpu", dtype: str = "fp32") -> Upstream:
    """Build a frozen, eval-mode upstream on ``device`` that runs its forward in ``dtype``."""
    kind, source, options = parse_upstream_name(name)
    resolved_device = resolve_device(device)
    if dtype not in DTYPES:
        raise BenchError(f"unknown dtype '{dtype}'; choose one of {', '.join(DTYPES)}")
    if dtype != "fp32" and resolved_device.type != "cuda":
        raise BenchError(f"--dtype {dtype} runs through CUDA autocast; on {resolved_device} use --dtype fp32")
    upstream = LOADERS[kind](name, source, options)
    return upstream.to_device(resolved_device).set_precision(dtype)


def resolve_device(device: str) -> torch.device:
    """``auto`` means CUDA when present, else CPU; asking for CUDA without one is a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise BenchError(f"unknown device '{device}'; use cpu, cuda, cuda:N or auto") from error
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise BenchError(f"device '{device}' requested but CUDA is not available on this machine; use --device cpu")
    return resolved


def register_with_s3prl(entry_name: str = "bench") -> str:
    """Expose every harness upstream to s3prl's hub, e.g. ``S3PRLUpstream("bench", path_or_url="meralion2")``.

    s3prl resolves upstream names with ``getattr(s3prl.hub, name)`` and calls the entry with ``ckpt`` and
    ``refresh``; our upstreams already honour its forward/get_downsample_rates contract.
    """
    from upstream.s3prl_compat import import_s3prl_hub

    def entry(ckpt: str, refresh: bool = False, **_: Any) -> Upstream:  # noqa: ARG001 - s3prl passes refresh
        return load_upstream(ckpt)

    setattr(import_s3prl_hub(), entry_name, entry)
    return entry_name
