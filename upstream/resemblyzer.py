"""Resemblyzer's pretrained GE2E speaker encoder as an upstream (``resemblyzer``), every LSTM layer a hidden state.

The PyPI package ``resemblyzer`` (Apache-2.0) ships the weights in the wheel (``resemblyzer/pretrained.pt``, 17 MB,
step 1,564,501): a 3-layer LSTM (256 units) over 40-bin power mel spectrograms at 10 ms, then ``Linear(256, 256)`` +
ReLU, trained with the GE2E loss on speaker verification (Wan et al., 2018). It is a **speaker** model, trained to
make utterances of one voice similar, not a self-supervised SUPERB encoder: expect it to beat FBANK where the voice
matters (SID, ASV, SD) and not where the words do (PR, ASR, SF).

It is rebuilt here rather than imported, for three reasons: the package's ``VoiceEncoder`` loads its checkpoint with
``strict=False`` (a missing tensor would pass silently), it computes mels with librosa on one utterance at a time on
the CPU, and its stacked ``nn.LSTM`` returns only the last layer's frames. The weights are loaded strictly from the
same file, the mel is torchaudio's with librosa's settings (tested equal), and the stacked LSTM runs layer by layer
(tested equal to the package's own forward), so all layers come out:

- hidden states 0-2: the outputs of LSTM layers 1, 2 and 3 (256 each);
- hidden state 3: ``ReLU(Linear(.))`` of layer 3 at every frame, the un-normalised embedding the model reads off the
  last frame of each 1.6 s window.

The 40-bin mel input is not a hidden state: the weighted sum needs one width, and a zero-padded 40-dim power mel would
be a made-up feature, not the model's. Two preprocessing steps of ``resemblyzer.preprocess_wav`` are handled as
follows: volume normalisation to -30 dBFS (increase only) is applied per utterance, as the package does; silence
trimming with webrtcvad is **not**, since it removes frames and frame-level tasks need one frame per 10 ms of the
original audio. The LSTM is causal and the mel pads with zeros, so a padded batch gives each utterance exactly the
frames it gets alone.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from benchcore.errors import BenchError
from upstream.base import SAMPLE_RATE, Upstream
from upstream.load_integrity import LoadReport, shown

PACKAGE = "resemblyzer"
PACKAGE_VERSION = "0.1.4"
WEIGHTS_FILE = "pretrained.pt"

MEL_CHANNELS = 40
WINDOW_SAMPLES = 400  # 25 ms (hparams.mel_window_length)
HOP_SAMPLES = 160  # 10 ms (hparams.mel_window_step)
HIDDEN_SIZE = 256
NUM_LSTM_LAYERS = 3
TARGET_DBFS = -30.0  # hparams.audio_norm_target_dBFS
INT16_MAX = 2**15 - 1

#: Checkpoint tensors that only GE2E training reads (the similarity matrix's learned scale and bias).
TRAINING_ONLY = ("similarity_bias", "similarity_weight")


def packaged_weights() -> Path:
    """The ``pretrained.pt`` inside the installed ``resemblyzer`` package, found without importing it (its
    ``__init__`` imports librosa and webrtcvad, which the forward here does not need)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise BenchError(
            f"upstream resemblyzer needs the package resemblyzer=={PACKAGE_VERSION} "
            "(`bash setup.sh` installs it); or pass resemblyzer:<path to a GE2E checkpoint .pt>"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / WEIGHTS_FILE
    if not path.is_file():
        raise BenchError(
            f"upstream resemblyzer: the package has no {WEIGHTS_FILE} at {path}; reinstall "
            f"resemblyzer=={PACKAGE_VERSION}"
        )
    return path


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """Every learned tensor of the voice encoder and its shape: ``lstm.*_l{0,1,2}`` and ``linear.*``."""
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in range(NUM_LSTM_LAYERS):
        input_size = MEL_CHANNELS if layer == 0 else HIDDEN_SIZE
        shapes[f"lstm.weight_ih_l{layer}"] = (4 * HIDDEN_SIZE, input_size)
        shapes[f"lstm.weight_hh_l{layer}"] = (4 * HIDDEN_SIZE, HIDDEN_SIZE)
        shapes[f"lstm.bias_ih_l{layer}"] = (4 * HIDDEN_SIZE,)
        shapes[f"lstm.bias_hh_l{layer}"] = (4 * HIDDEN_SIZE,)
    shapes["linear.weight"] = (HIDDEN_SIZE, HIDDEN_SIZE)
    shapes["linear.bias"] = (HIDDEN_SIZE,)
    return shapes


def read_checkpoint(path: Path) -> tuple[dict[str, Tensor], LoadReport]:
    """The voice encoder's tensors from a resemblyzer checkpoint, strictly: a missing, misshapen or non-finite tensor
    stops the load with one line; training-only tensors are reported as unexpected."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as error:
        raise BenchError(
            f"upstream resemblyzer: cannot read the checkpoint {path}: {str(error).splitlines()[0]}"
        ) from None
    state = checkpoint.get("model_state") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise BenchError(f"upstream resemblyzer: {path} is not a resemblyzer checkpoint (no 'model_state' dict)")
    wanted = expected_shapes()
    missing = [name for name in wanted if name not in state]
    if missing:
        raise BenchError(
            f"upstream resemblyzer: {path} lacks {len(missing)} learned tensor(s) the forward reads: "
            f"{shown(missing)}; the checkpoint is incomplete, refusing to run with random weights"
        )
    misshapen = [
        f"{name} {tuple(state[name].shape)} (expected {shape})"
        for name, shape in wanted.items()
        if tuple(state[name].shape) != shape
    ]
    if misshapen:
        raise BenchError(f"upstream resemblyzer: {path} has tensors of the wrong shape: {shown(misshapen)}")
    not_finite = [name for name in wanted if not torch.isfinite(state[name]).all()]
    if not_finite:
        raise BenchError(f"upstream resemblyzer: {path} has NaN or infinite values in {shown(not_finite)}")
    unexpected = tuple(sorted(name for name in state if name not in wanted))
    return {name: state[name].float() for name in wanted}, LoadReport(unexpected=unexpected)


def mel_spectrogram_transform() -> nn.Module:
    """librosa.feature.melspectrogram(sr=16000, n_fft=400, hop_length=160, n_mels=40) as resemblyzer calls it: power 2,
    periodic Hann window, centred frames padded with zeros (librosa >= 0.10), Slaney mel scale and area norm."""
    import torchaudio

    return torchaudio.transforms.MelSpectrogram(
        sample_rate=SAMPLE_RATE,
        n_fft=WINDOW_SAMPLES,
        win_length=WINDOW_SAMPLES,
        hop_length=HOP_SAMPLES,
        f_min=0.0,
        f_max=SAMPLE_RATE / 2,
        n_mels=MEL_CHANNELS,
        power=2.0,
        center=True,
        pad_mode="constant",
        norm="slaney",
        mel_scale="slaney",
    )


def normalize_volume(wav: Tensor) -> Tensor:
    """resemblyzer's ``normalize_volume(wav, -30, increase_only=True)``: raise a quiet utterance to -30 dBFS RMS,
    leave a louder one as it is (a silent one too: it has no level to raise)."""
    rms = torch.sqrt(torch.mean((wav.double() * INT16_MAX) ** 2))
    if rms == 0:
        return wav
    change_db = TARGET_DBFS - 20 * math.log10(float(rms) / INT16_MAX)
    return wav * (10 ** (change_db / 20)) if change_db > 0 else wav


def valid_frames(num_samples: int) -> int:
    """Centred frames of a signal: one per hop, plus the one at sample 0."""
    return 1 + num_samples // HOP_SAMPLES


class ResemblyzerUpstream(Upstream):
    """GE2E voice encoder (resemblyzer): 3 LSTM layers and the embedding projection, 4 hidden states of 256 at 10 ms."""

    padding_policy = "batched"

    def __init__(self, name: str, checkpoint: str | None = None) -> None:
        packaged = checkpoint in (None, "", PACKAGE)
        path = packaged_weights() if packaged else Path(checkpoint).expanduser()  # type: ignore[arg-type]
        if not path.is_file():
            raise BenchError(f"upstream {name}: no checkpoint at {path} (resemblyzer:<path to a GE2E .pt>)")
        super().__init__(name, f"{PACKAGE}=={PACKAGE_VERSION}:{WEIGHTS_FILE}" if packaged else f"resemblyzer:{path}")
        state, self.load_report = read_checkpoint(path)
        self.mel = mel_spectrogram_transform()
        self.layers = nn.ModuleList(
            nn.LSTM(MEL_CHANNELS if layer == 0 else HIDDEN_SIZE, HIDDEN_SIZE, 1, batch_first=True)
            for layer in range(NUM_LSTM_LAYERS)
        )
        for layer, lstm in enumerate(self.layers):
            lstm.load_state_dict(
                {
                    f"{kind}_l0": state[f"lstm.{kind}_l{layer}"]
                    for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
                },
                strict=True,
            )
        self.linear = nn.Linear(HIDDEN_SIZE, HIDDEN_SIZE)
        self.linear.load_state_dict({"weight": state["linear.weight"], "bias": state["linear.bias"]}, strict=True)
        self._stride = HOP_SAMPLES
        self.freeze()

    def mels(self, wavs: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
        """(B, T, 40) power mels of the volume-normalised, zero-padded batch, and each utterance's frame count."""
        normalised = [normalize_volume(wav) for wav in wavs]
        padded = torch.nn.utils.rnn.pad_sequence(normalised, batch_first=True)
        mels = self.mel(padded).transpose(1, 2)  # (B, n_mels, T) -> (B, T, n_mels)
        lengths = torch.tensor([valid_frames(wav.numel()) for wav in wavs], device=mels.device)
        return mels, lengths

    def _lstm_outputs(self, mels: Tensor) -> list[Tensor]:
        """Each LSTM layer's frames, (B, T, 256), the stacked LSTM run one layer at a time."""
        outputs, features = [], mels
        for lstm in self.layers:
            features, _ = lstm(features)
            outputs.append(features)
        return outputs

    def _encode(self, wavs: list[Tensor]) -> tuple[Sequence[Tensor], Tensor]:
        mels, lengths = self.mels(wavs)
        layers = self._lstm_outputs(mels)
        return [*layers, torch.relu(self.linear(layers[-1]))], lengths

    def utterance_embedding(self, mels: Tensor) -> Tensor:
        """The package's ``VoiceEncoder.forward`` on (B, T, 40) mel windows: L2-normalised ReLU(Linear(h_T))."""
        raw = torch.relu(self.linear(self._lstm_outputs(mels)[-1][:, -1]))
        return raw / torch.linalg.vector_norm(raw, dim=1, keepdim=True)
