"""The s3prl upstream contract every encoder in the harness honours.

``forward(list of 1-D 16 kHz tensors) -> {"hidden_states": (B, T, D) tensors, ...}`` and
``get_downsample_rates(key) -> int``: exactly what s3prl's ``S3PRLUpstream`` and its legacy runner
expect, so any of our upstreams can be handed to s3prl code as is. On top of the contract we add
``"hidden_states_lengths"`` (valid frames per utterance, as the model itself reports them) because
a frame-exact cache and correct pooling need them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

if TYPE_CHECKING:
    from upstream.load_integrity import LoadReport

SAMPLE_RATE = 16_000

#: How a padded batch is run. ``batched``: one forward over the padded batch (the model masks padding
#: exactly). ``per_utterance``: each utterance runs alone and the outputs are padded afterwards (for models
#: whose outputs leak padding: conformer convolutions, batch-dependent length rules).
PaddingPolicy = Literal["batched", "per_utterance"]

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}

#: 25 ms: one analysis window of every speech front end here (Kaldi fbank, Whisper/MERaLiON mel, wav2vec 2.0's conv
#: stack, whose receptive field is exactly 400 samples). No audio file shorter than this is encoded (bench.encode).
MIN_ANALYSIS_SAMPLES = 400


@dataclass(frozen=True)
class UpstreamInfo:
    """What `bench upstreams --probe` and result records report about a loaded encoder."""

    name: str
    source: str
    num_hidden_states: int
    hidden_size: int
    stride_samples: int
    padding_policy: str
    weights_hash: str | None = None
    #: What loading the checkpoint found and repaired (:class:`upstream.load_integrity.LoadReport`); None for
    #: encoders that load no checkpoint through transformers (s3prl built-ins).
    load_report: dict | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def pad_and_stack(frames: Sequence[Tensor]) -> Tensor:
    """Zero-pad a list of (T_i, D) tensors to (B, max T, D)."""
    longest = max(item.shape[0] for item in frames)
    return torch.stack([F.pad(item, (0, 0, 0, longest - item.shape[0])) for item in frames])


class Upstream(nn.Module):
    """A frozen speech encoder that returns all of its hidden states.

    Subclasses implement :meth:`_encode`, which runs one padded batch and returns the hidden states
    with the valid length of each utterance. This base class owns what must be the same for every
    encoder: frozen weights, eval mode that cannot be switched off (s3prl's ``S3PRLUpstream`` calls
    ``.train()`` on what it wraps, which would put BatchNorm layers into batch-statistics mode), the
    padding policy, mixed precision on GPU, and the frame stride measured from real output lengths.
    """

    padding_policy: PaddingPolicy = "batched"
    load_report: LoadReport | None = None

    def __init__(self, name: str, source: str) -> None:
        super().__init__()
        self.name = name
        self.source = source
        self.autocast_dtype: torch.dtype = torch.float32
        self._stride: int | None = None
        self._num_hidden_states: int | None = None
        self._hidden_size: int | None = None
        self._min_samples: int | None = None
        self._device = torch.device("cpu")

    # ---- frozen -------------------------------------------------------------------------------
    def freeze(self) -> Upstream:
        for parameter in self.parameters():
            parameter.requires_grad_(False)
        return self.train(False)

    def train(self, mode: bool = True) -> Upstream:  # noqa: ARG002 - frozen encoders never train
        return super().train(False)

    def set_precision(self, dtype: str) -> Upstream:
        """Run the forward in ``fp32``, ``bf16`` or ``fp16`` (the latter two via autocast on CUDA)."""
        if dtype not in DTYPES:
            raise ValueError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
        self.autocast_dtype = DTYPES[dtype]
        return self

    @property
    def forward_dtype_name(self) -> str:
        """The dtype the forward runs in, as records and the probe print it (``float32``, ``bfloat16``, ``float16``)."""
        return str(self.autocast_dtype).removeprefix("torch.")

    def to_device(self, device: str | torch.device) -> Upstream:
        """Move the encoder to ``device``; parameter-free encoders (FBANK) remember it for their inputs."""
        self._device = torch.device(device)
        return self.to(self._device)

    @property
    def device(self) -> torch.device:
        for tensor in list(self.parameters()) + list(self.buffers()):
            return tensor.device
        return self._device

    # ---- the s3prl contract -------------------------------------------------------------------
    def forward(self, wavs: Sequence[Tensor]) -> dict:
        if len(wavs) == 0:
            raise ValueError("forward() needs at least one waveform")
        wavs = [wav.reshape(-1).to(self.device, torch.float32) for wav in wavs]
        with torch.no_grad(), self._autocast():
            if self.padding_policy == "per_utterance" and len(wavs) > 1:
                singles = [self._encode([wav]) for wav in wavs]
                num_states = len(singles[0][0])
                hidden_states = [
                    pad_and_stack([states[layer][0, : lengths[0]] for states, lengths in singles])
                    for layer in range(num_states)
                ]
                lengths = torch.cat([lengths for _, lengths in singles])
            else:
                hidden_states, lengths = self._encode(wavs)
        hidden_states = tuple(state.float() for state in hidden_states)
        return {
            "hidden_states": hidden_states,
            "last_hidden_state": hidden_states[-1],
            "hidden_states_lengths": lengths.to(torch.long).cpu(),
        }

    def get_downsample_rates(self, key: str = "hidden_states") -> int:  # noqa: ARG002 - one stride for all keys
        if self._stride is None:
            self._probe()
        return self._stride

    # ---- measured facts -----------------------------------------------------------------------
    @property
    def num_hidden_states(self) -> int:
        if self._num_hidden_states is None:
            self._probe()
        return self._num_hidden_states

    @property
    def hidden_size(self) -> int:
        if self._hidden_size is None:
            self._probe()
        return self._hidden_size

    def _probe(self) -> None:
        """Measure layer count, width and frame stride from two real forwards (2 s and 4 s of noise).

        The stride is the extra audio divided by the extra frames, so an encoder at 40 ms (MERaLiON's
        4x-subsampled 10 ms mel) reports 640 and a wav2vec 2.0 one 320, without anyone hard-coding it.
        """
        generator = torch.Generator().manual_seed(0)
        short = 0.01 * torch.randn(2 * SAMPLE_RATE, generator=generator)
        long = 0.01 * torch.randn(4 * SAMPLE_RATE, generator=generator)
        out_short = self.forward([short])
        out_long = self.forward([long])
        extra_frames = int(out_long["hidden_states_lengths"][0] - out_short["hidden_states_lengths"][0])
        if extra_frames <= 0:
            raise RuntimeError(f"upstream {self.name} returned no more frames for 4 s than for 2 s of audio")
        self._stride = int(round((long.numel() - short.numel()) / extra_frames))
        self._num_hidden_states = len(out_short["hidden_states"])
        self._hidden_size = int(out_short["hidden_states"][0].shape[-1])

    @property
    def min_input_samples(self) -> int:
        """The shortest audio file this encoder is given: its receptive field, i.e. :data:`MIN_ANALYSIS_SAMPLES` or, for
        a front end that needs more, the shortest noise it returns a frame for without failing (measured once)."""
        if self._min_samples is None:
            self._min_samples = self._shortest_encodable()
        return self._min_samples

    def _shortest_encodable(self) -> int:
        generator = torch.Generator().manual_seed(0)

        def gives_a_frame(num_samples: int) -> bool:
            try:
                output = self.forward([0.01 * torch.randn(num_samples, generator=generator)])
            except (RuntimeError, ValueError, IndexError):  # a convolution longer than its input
                return False
            return int(output["hidden_states_lengths"][0]) >= 1

        low, high = MIN_ANALYSIS_SAMPLES, MIN_ANALYSIS_SAMPLES
        while not gives_a_frame(high):
            low, high = high + 1, high * 2
            if high > 10 * SAMPLE_RATE:
                raise RuntimeError(f"upstream {self.name} returns no frame for 10 s of audio")
        while low < high:  # the shortest working length in [low, high]
            middle = (low + high) // 2
            low, high = (low, middle) if gives_a_frame(middle) else (middle + 1, high)
        return high

    def info(self) -> UpstreamInfo:
        return UpstreamInfo(
            name=self.name,
            source=self.source,
            num_hidden_states=self.num_hidden_states,
            hidden_size=self.hidden_size,
            stride_samples=self.get_downsample_rates("hidden_states"),
            padding_policy=self.padding_policy,
            weights_hash=self.weights_hash(),
            load_report=self.load_report.as_dict() if self.load_report is not None else None,
        )

    def weights_hash(self) -> str | None:
        """A short content hash of the weights: result records and cache keys cite the exact model."""
        import hashlib

        state = self.state_dict()
        if not state:
            return None
        digest = hashlib.sha256()
        for key in sorted(state):
            tensor = state[key].detach().to("cpu").contiguous()
            digest.update(key.encode())
            digest.update(str(tuple(tensor.shape)).encode())
            digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
        return digest.hexdigest()[:16]

    # ---- subclass hook ------------------------------------------------------------------------
    def _encode(self, wavs: list[Tensor]) -> tuple[Sequence[Tensor], Tensor]:
        """Run one batch: return (hidden states, each (B, T, D), valid frame counts (B,))."""
        raise NotImplementedError

    def _autocast(self):
        if self.autocast_dtype == torch.float32 or self.device.type != "cuda":
            import contextlib

            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.autocast_dtype)
