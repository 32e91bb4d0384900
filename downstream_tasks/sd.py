"""SD: two-speaker diarization on Libri2Mix (s3prl `downstream/diarization`, legacy recipe).

Data: the Kaldi folders ``LibriMix/{train,dev,test}/`` that s3prl's LibriMix fork writes with
``scripts/prepare_diarization.py`` (``wav.scp``, ``segments``, ``utt2spk``, ``spk2utt``, ``reco2dur``, ``rttm``).
``wav.scp`` paths may be absolute (the real script) or relative to ``LibriMix/`` (superb-mini).

Protocol, as ``diarization/{dataset,expert,model,utils}.py`` and ``score.sh`` do it:

* every recording is cut into chunks of ``chunk_size`` (2000) label frames at the upstream's own frame stride
  (``frame_shift: null`` in the recipe = the upstream's downsample rate); the last chunk is shorter. Train, dev and
  test use the same chunks; the encoder sees each chunk's audio alone (an :class:`Utterance` with a ``segment``);
* frame labels come from ``segments`` + ``utt2spk`` (what s3prl's ``KaldiData`` reads), speaker columns in sorted
  speaker-id order, boundaries at ``np.rint(seconds * 16000 / frame_shift)``;
* head: weighted sum of hidden states, then ``LSTM(D, 512)`` (1 layer, unidirectional), ``Linear(512, 2)``; no
  projector. Features are matched to the label length as ``_match_length`` does (tile by the rounded length ratio,
  then truncate or repeat the last frame);
* loss: permutation-invariant BCE-with-logits over the 2! speaker orders, masked by length (``utils.py::pit_loss``);
* scoring: sigmoid posteriors per recording (its chunks concatenated), then RTTM for each of ``median in {1, 11}`` x
  ``threshold in {0.3, ..., 0.7}``, scored with DER (collar 0, overlap scored) against the split's ``rttm``.

Reported (all fractions): ``der`` = the lowest test DER over the grid (the recipe's number, **selected on test**),
``der_dev_selected`` = the test DER at the grid point with the lowest dev DER, ``acc`` = frame accuracy under the PIT
permutation (s3prl's ``calc_diarization_error``), mean over chunks. Checkpoints and the learning rate are selected on
dev ``der`` (the lowest dev DER over the grid) rather than the legacy recipe's dev frame accuracy: see the README.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import itertools
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchcore.atomic import atomic_path, write_json_atomic, write_text_atomic
from benchcore.errors import BenchError
from downstream_tasks.base import SplitScore, TaskData, TrainedTask, eval_batches, Utterance, require_dir
from downstream_tasks.chance import ChanceLevel
from downstream_tasks.metadata import MetricSpec, TaskMetadata
from downstream_tasks.metrics.detection import diarization_error_rate, posteriors_to_segments, read_rttm, write_rttm
from upstream.featurizer import WeightedSumFeaturizer

ROOT = "LibriMix"
SPLITS = ("train", "dev", "test")
SAMPLE_RATE = 16_000
#: Decimals of the DER column in `<split>_der_grid.tsv` (a reader comparing it with the summary JSON rounds to this).
DER_GRID_DECIMALS = 6
LAYOUT = (f"{ROOT}/{{train,dev,test}}/ each with wav.scp, segments, utt2spk, reco2dur and rttm, "
          "as s3prl's LibriMix scripts/prepare_diarization.py writes them")

Segment = tuple[float, float, str]


# ---- the Kaldi folders ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KaldiRecording:
    """One recording of a Kaldi folder: its audio, duration (``reco2dur``) and speaker turns (``segments`` + ``utt2spk``)."""

    recording: str
    path: Path
    duration: float
    turns: tuple[Segment, ...]

    def speakers(self) -> list[str]:
        """Label columns: the recording's speaker ids, sorted (s3prl's ``np.unique``)."""
        return sorted({speaker for _, _, speaker in self.turns})


def _table(path: Path, min_fields: int, maxsplit: int = -1) -> list[list[str]]:
    if not path.is_file():
        raise BenchError(f"Libri2Mix (SD): missing {path}; expected {LAYOUT}")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.strip().split(None, maxsplit)
        if not fields:
            continue
        if len(fields) < min_fields:
            raise BenchError(f"{path}:{number}: expected at least {min_fields} fields, got {line!r}")
        rows.append(fields)
    return rows


def resolve_wav_path(entry: str, librimix_root: Path, scp: Path) -> Path:
    """A ``wav.scp`` entry as a file path: absolute as is, relative against ``LibriMix/`` (superb-mini writes those).

    Whether the file exists is the runner's check (every missing recording of every split in one line, or dropped
    with ``data.allow_missing=true``), not this one's."""
    if entry.endswith("|") or entry == "-":
        raise BenchError(f"{scp}: piped or stdin wav.scp entries are not supported ({entry!r}); give file paths")
    path = Path(entry)
    return path if path.is_absolute() else librimix_root / path


#: The files of a Kaldi folder that :func:`read_kaldi_dir` reads (``spk2utt`` is not: ``utt2spk`` says the same).
KALDI_FILES = ("wav.scp", "segments", "utt2spk", "reco2dur")


def read_kaldi_dir(directory: Path, librimix_root: Path) -> list[KaldiRecording]:
    """The recordings of one Kaldi folder in ``wav.scp`` order (s3prl's ``KaldiData``), present on disk or not."""
    require_dir(directory, "Libri2Mix (SD)", LAYOUT)
    scp = directory / "wav.scp"
    wavs = {}
    for recording, entry in _table(scp, 2, maxsplit=1):  # an entry may hold spaces (s3prl splits once too)
        wavs[recording] = resolve_wav_path(entry, librimix_root, scp)
    utt2spk = {fields[0]: fields[1] for fields in _table(directory / "utt2spk", 2)}
    durations = {}
    for fields in _table(directory / "reco2dur", 2):
        try:
            durations[fields[0]] = float(fields[1])
        except ValueError:
            raise BenchError(f"{directory / 'reco2dur'}: duration of {fields[0]} is not a number: {fields[1]!r}") from None
    turns: dict[str, list[Segment]] = {}
    for fields in _table(directory / "segments", 4):
        utterance, recording = fields[0], fields[1]
        if utterance not in utt2spk:
            raise BenchError(f"{directory / 'segments'}: segment {utterance} has no speaker in utt2spk")
        try:
            start, end = float(fields[2]), float(fields[3])
        except ValueError:
            raise BenchError(f"{directory / 'segments'}: start/end of {utterance} are not numbers") from None
        turns.setdefault(recording, []).append((start, end, utt2spk[utterance]))
    missing = [recording for recording in wavs if recording not in durations]
    if missing:
        raise BenchError(f"{directory / 'reco2dur'}: no duration for {len(missing)} recordings of wav.scp (first: {missing[0]})")
    return [KaldiRecording(recording, path, durations[recording], tuple(turns.get(recording, ())))
            for recording, path in wavs.items()]


# ---- chunks and frame labels ---------------------------------------------------------------------------------------


def chunk_ranges(num_frames: int, chunk_size: int) -> list[tuple[int, int]]:
    """``[start, end)`` frame ranges of ``chunk_size`` frames and a shorter last one (s3prl's ``_gen_frame_indices``
    with ``use_last_samples=True``, which is also ``_gen_chunk_indices`` of the test split)."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    return [(start, min(start + chunk_size, num_frames)) for start in range(0, max(num_frames, 0), chunk_size)]


def frame_label_spans(turns: Sequence[tuple[float, float, int]], start: int, end: int, frame_shift: int,
                      sample_rate: int = SAMPLE_RATE) -> list[tuple[int, int, int]]:
    """Active ``(first, last + 1, speaker column)`` frame spans of the chunk ``[start, end)``, relative to its start.

    A turn covers frames ``np.rint(t * sample_rate / frame_shift)`` (round half to even, as s3prl) from its start to
    its end, clipped to the chunk. s3prl skips a turn that starts before the chunk and ends after it (its
    ``rel_start``/``rel_end`` are both None); here such a turn labels the whole chunk.
    """
    spans = []
    for turn_start, turn_end, column in turns:
        first = int(np.rint(turn_start * sample_rate / frame_shift))
        last = int(np.rint(turn_end * sample_rate / frame_shift))
        first, last = max(first, start), min(last, end)
        if last > first:
            spans.append((first - start, last - start, int(column)))
    return spans


def spans_to_matrix(num_frames: int, spans: Sequence[tuple[int, int, int]], num_speakers: int) -> np.ndarray:
    labels = np.zeros((num_frames, num_speakers), dtype=np.float32)
    for first, last, column in spans:
        labels[first:last, column] = 1.0
    return labels


def frame_labels(turns: Sequence[tuple[float, float, int]], start: int, end: int, frame_shift: int,
                 num_speakers: int = 2) -> np.ndarray:
    """The ``(end - start, num_speakers)`` 0/1 label matrix of a chunk (s3prl's ``_get_labeled_speech``)."""
    return spans_to_matrix(end - start, frame_label_spans(turns, start, end, frame_shift), num_speakers)


def encode_label(num_frames: int, spans: Sequence[tuple[int, int, int]]) -> tuple[int, ...]:
    """A chunk's labels as ``Utterance.label``: ``(num_frames, first, last, column, first, last, column, ...)``."""
    return (num_frames, *itertools.chain.from_iterable(spans))


def decode_label(label: Sequence[int], num_speakers: int) -> np.ndarray:
    spans = [tuple(label[i : i + 3]) for i in range(1, len(label), 3)]
    return spans_to_matrix(int(label[0]), spans, num_speakers)


# ---- loss, accuracy and the head ----------------------------------------------------------------------------------


def length_mask(lengths: Tensor, max_len: int) -> Tensor:
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def pit_loss(logits: Tensor, labels: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
    """s3prl's ``pit_loss``: per utterance, the speaker order with the lowest summed (over valid frames) mean (over
    speakers) BCE-with-logits; the loss is the sum of those minima over the batch divided by the total valid frames.
    Returns ``(loss, index of the chosen permutation per utterance)`` into :func:`permutations`."""
    lengths = lengths.to(logits.device)
    mask = length_mask(lengths, labels.shape[1]).to(logits.dtype)  # (B, T)
    per_permutation = []
    for order in permutations(labels.shape[2]):
        bce = F.binary_cross_entropy_with_logits(logits, labels[:, :, list(order)], reduction="none")
        per_permutation.append((bce.mean(dim=2) * mask).sum(dim=1))
    losses = torch.stack(per_permutation, dim=1)  # (B, permutations)
    best, index = losses.min(dim=1)
    return best.sum() / lengths.sum().to(logits.dtype), index


def permutations(num_speakers: int) -> list[tuple[int, ...]]:
    return list(itertools.permutations(range(num_speakers)))


def frame_accuracies(logits: Tensor, labels: Tensor, lengths: Tensor, permutation_index: Tensor) -> list[float]:
    """Per utterance, s3prl's ``correct / num_frames`` of ``calc_diarization_error``: the fraction of (frame, speaker)
    decisions ``logit > 0`` that match the labels in the PIT-chosen order, over valid frames."""
    orders = permutations(labels.shape[2])
    accuracies = []
    for row, length in enumerate(lengths.tolist()):
        truth = labels[row, :length][:, list(orders[int(permutation_index[row])])]
        decided = (logits[row, :length] > 0).to(truth.dtype)
        accuracies.append(float((decided == truth).float().mean()) if length > 0 else 0.0)
    return accuracies


def match_lengths(features: Tensor, lengths: Tensor, target_lengths: Sequence[int]) -> Tensor:
    """Each row's valid frames matched to its label length as s3prl's ``_match_length`` does: tile every frame by
    ``round(label_len / feature_len)`` when that exceeds 1, then truncate, or repeat the last frame. Per row rather
    than on the padded batch, so a short row is extended with its own last frame and not with padding."""
    rows = []
    for row, (length, target) in enumerate(zip(lengths.tolist(), target_lengths)):
        valid = features[row, : max(int(length), 1)]
        factor = int(round(int(target) / valid.shape[0]))
        if factor > 1:
            valid = valid.repeat_interleave(factor, dim=0)
        if valid.shape[0] >= target:
            valid = valid[: int(target)]
        else:
            valid = torch.cat([valid, valid[-1:].expand(int(target) - valid.shape[0], -1)])
        rows.append(valid)
    return nn.utils.rnn.pad_sequence(rows, batch_first=True)


class DiarizationHead(nn.Module):
    """s3prl ``diarization/model.py``: ``LSTM(D, hidden, rnn_layers)`` (unidirectional) then ``Linear(hidden, S)``;
    ``rnn_layers=0`` is the linear head. Padding comes after the valid frames, so a causal LSTM never reads it."""

    def __init__(self, input_dim: int, num_speakers: int, hidden_size: int = 512, rnn_layers: int = 1) -> None:
        super().__init__()
        self.rnn = nn.LSTM(input_dim, hidden_size, num_layers=rnn_layers, batch_first=True) if rnn_layers > 0 else None
        self.linear = nn.Linear(hidden_size if rnn_layers > 0 else input_dim, num_speakers)

    def forward(self, features: Tensor) -> Tensor:
        hidden = self.rnn(features.float())[0] if self.rnn is not None else features.float()
        return self.linear(hidden)


@dataclass
class ChunkFeatures:
    """The featurizer's output for a batch of chunks. The head runs in :meth:`logits`, once the label lengths are
    known, because ``_match_length`` acts on the head's input (a repeated last frame goes through the LSTM)."""

    features: Tensor
    lengths: Tensor
    head: DiarizationHead

    def logits(self, label_lengths: Tensor) -> Tensor:
        return self.head(match_lengths(self.features, self.lengths, label_lengths.tolist()))


class DiarizationModel(nn.Module):
    def __init__(self, featurizer: WeightedSumFeaturizer, head: DiarizationHead) -> None:
        super().__init__()
        self.featurizer = featurizer
        self.head = head

    def forward(self, features: tuple[list[Tensor], Tensor], generator: torch.Generator | None = None) -> ChunkFeatures:  # noqa: ARG002
        hidden_states, lengths = features
        combined, lengths = self.featurizer(hidden_states, lengths)
        return ChunkFeatures(combined, lengths, self.head)


# ---- scoring -------------------------------------------------------------------------------------------------------


@dataclass
class GridPoint:
    """DER of one (median filter, threshold) setting over a split, with its components in seconds."""

    median: int
    threshold: float
    der: float
    false_alarm: float
    missed: float
    confusion: float
    total: float


def recording_segments(posteriors: np.ndarray, recording: str, frame_shift_seconds: float, threshold: float,
                       median: int) -> list[Segment]:
    """Hypothesis turns of one recording, speakers named ``<recording>_<column>`` as s3prl's ``make_rttm.py``."""
    if len(posteriors) == 0:
        return []
    return [(start, end, f"{recording}_{column}")
            for start, end, column in posteriors_to_segments(posteriors, frame_shift_seconds, threshold, median)]


def der_grid(references: dict[str, list[Segment]], posteriors: dict[str, np.ndarray], frame_shift_seconds: float,
             medians: Sequence[int], thresholds: Sequence[float]) -> list[GridPoint]:
    """score.sh's sweep: DER of every (median, threshold) over all recordings (collar 0, overlap scored)."""
    points = []
    for median in medians:
        for threshold in thresholds:
            hypotheses = {recording: recording_segments(post, recording, frame_shift_seconds, threshold, median)
                          for recording, post in posteriors.items()}
            scored = diarization_error_rate(references, hypotheses, collar=0.0, skip_overlap=False)
            points.append(GridPoint(int(median), float(threshold), float(scored["der"]), scored["false_alarm"],
                                    scored["missed"], scored["confusion"], scored["total"]))
    return points


def best_point(points: Sequence[GridPoint]) -> GridPoint:
    """The lowest DER; ties go to the first point in grid order (median, then threshold)."""
    return min(points, key=lambda point: point.der)


def point_at(points: Sequence[GridPoint], median: int, threshold: float) -> GridPoint:
    return next(p for p in points if p.median == median and math.isclose(p.threshold, threshold))


def _format_turns(turns: Sequence[tuple]) -> str:
    return " ".join(f"{speaker}:{start:.2f}-{end:.2f}" for start, end, speaker in sorted(turns, key=lambda t: (t[0], t[2])))


def _model_fingerprint(model: nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


# ---- the task ------------------------------------------------------------------------------------------------------


@dataclass
class DiarizationData(TaskData):
    """TaskData whose utterances are chunks; ``recordings[split]`` lists ``(recording id, its chunk indices in
    order)``, ``references[split]`` the split's ``rttm`` turns (the DER reference); ``median_filters`` x
    ``thresholds`` is the scoring grid (config ``scoring``)."""

    frame_shift: int = 160
    median_filters: list[int] = field(default_factory=lambda: [1, 11])
    thresholds: list[float] = field(default_factory=lambda: [0.3, 0.4, 0.5, 0.6, 0.7])
    recordings: dict[str, list[tuple[str, list[int]]]] = field(default_factory=dict)
    references: dict[str, dict[str, list[Segment]]] = field(default_factory=dict)


class SpeakerDiarization(TrainedTask):
    metadata = TaskMetadata("sd", "SD", "librimix", "frames", (
        MetricSpec("der", False, "sd", description="speaker diarization, diarization error rate (Libri2Mix)"),))
    # No sourced official count that this reader's splits are comparable with. The HF `superb` card's 13,901 / 3,014
    # / 3,002 (train/dev/test) are not recordings but 2000-frame chunks at a fixed 160-sample shift (datasets'
    # superb.py `SdArgs`, `_generate_chunk_indices`); the chunks here follow the upstream's own stride, so their
    # number depends on the upstream, and no sourced recording count of s3prl's Libri2Mix SD folders exists.
    official_split_sizes: ClassVar[dict[str, int]] = {}

    def __init__(self) -> None:
        self.frame_shift: int | None = None
        self.num_speakers = 2
        self._dev_grid: tuple[str, list[GridPoint]] | None = None

    def prepare(self, upstream: Any) -> None:
        self.frame_shift = int(upstream.stride_samples)

    # ---- data ----
    def load(self, data_root: Path, fold: str | None, config: Any) -> DiarizationData:
        if self.frame_shift is None:
            raise RuntimeError("SD labels are built at the upstream's frame stride: call prepare(upstream_info) first")
        librimix = require_dir(data_root / ROOT, "Libri2Mix (SD)", LAYOUT)
        chunk_size = int(config.data.chunk_size)
        self.num_speakers = int(config.data.num_speakers)
        shift = self.frame_shift
        data = DiarizationData(self.corpus, data_root, {}, frame_shift=shift,
                               median_filters=[int(m) for m in config.scoring.median_filters],
                               thresholds=[float(t) for t in config.scoring.thresholds])
        if any(m < 1 or m % 2 == 0 for m in data.median_filters):
            raise BenchError(f"scoring.median_filters must be odd kernel sizes >= 1, got {data.median_filters}")
        for split in SPLITS:
            directory = librimix / split
            recordings = read_kaldi_dir(directory, librimix)
            utterances: list[Utterance] = []
            grouping: list[tuple[str, list[int]]] = []
            for recording in recordings:
                speakers = recording.speakers()
                if len(speakers) > self.num_speakers:
                    raise BenchError(f"{directory}: recording {recording.recording} has {len(speakers)} speakers "
                                     f"({', '.join(speakers)}), more than data.num_speakers={self.num_speakers}")
                turns = [(start, end, speakers.index(speaker)) for start, end, speaker in recording.turns]
                try:
                    relative = str(recording.path.relative_to(data_root))
                except ValueError:
                    relative = str(recording.path)
                num_frames = int(recording.duration * SAMPLE_RATE / shift)  # s3prl: int(reco2dur * rate / frame_shift)
                indices = []
                for start, end in chunk_ranges(num_frames, chunk_size):
                    segment = (start * shift / SAMPLE_RATE, end * shift / SAMPLE_RATE)
                    label = encode_label(end - start, frame_label_spans(turns, start, end, shift))
                    indices.append(len(utterances))
                    utterances.append(Utterance(f"{relative}#{segment[0]:.4f}-{segment[1]:.4f}", recording.path, label,
                                                segment=segment))
                grouping.append((recording.recording, indices))
            data.splits[split] = utterances
            data.recordings[split] = grouping
            data.metadata_files.extend(directory / name for name in KALDI_FILES)
            if split != "train":  # train's rttm is not read: its labels come from segments + utt2spk
                data.references[split] = self._reference(directory, [r.recording for r in recordings])
                data.metadata_files.append(directory / "rttm")
        return data

    def without_files(self, data: TaskData, is_dropped: Callable[[Path], bool]) -> DiarizationData:
        """Drop a missing recording whole: its chunks, its entry in ``recordings`` (the others' chunk indices
        renumbered) and its DER reference, so that it is neither trained on nor scored as all missed speech."""
        if not isinstance(data, DiarizationData):
            raise TypeError("SD drops recordings: it needs the DiarizationData that SpeakerDiarization.load returns")
        splits, recordings, references = {}, {}, {}
        for split, utterances in data.splits.items():
            kept_chunks: list[Utterance] = []
            grouping: list[tuple[str, list[int]]] = []
            gone: set[str] = set()
            for recording, indices in data.recordings[split]:
                # every chunk of a recording is a segment of the same file
                if any(is_dropped(utterances[i].path) for i in indices):
                    gone.add(recording)
                    continue
                grouping.append((recording, list(range(len(kept_chunks), len(kept_chunks) + len(indices)))))
                kept_chunks.extend(utterances[i] for i in indices)
            if not grouping:
                raise BenchError(f"SD: no {split} recording is left without the missing files; restore them")
            splits[split], recordings[split] = kept_chunks, grouping
            if split in data.references:
                references[split] = {recording: turns for recording, turns in data.references[split].items()
                                     if recording not in gone}
        return dataclasses.replace(data, splits=splits, recordings=recordings, references=references)

    def chance(self, data: DiarizationData) -> ChanceLevel:  # type: ignore[override]
        """The best of three audio-blind answers scored like a run on the test rttm: nobody speaks, one speaker talks
        through every whole recording, both speakers do (62.5%, one speaker, on superb-mini small)."""
        durations = {recording: max(data.splits["test"][i].segment[1] for i in indices)  # type: ignore[index]
                     for recording, indices in data.recordings["test"] if indices}
        answers = {
            "nobody speaks": {recording: [] for recording in durations},
            "one speaker through every recording": {rec: [(0.0, end, "a")] for rec, end in durations.items()},
            "both speakers through every recording": {rec: [(0.0, end, "a"), (0.0, end, "b")]
                                                      for rec, end in durations.items()},
        }
        ders = {name: diarization_error_rate(data.references["test"], answer)["der"] for name, answer in answers.items()}
        best = min(ders, key=lambda name: ders[name])
        return ChanceLevel({"der": ders[best]}, f"{best} (the best of nobody, one and both speakers everywhere)")

    @staticmethod
    def _reference(directory: Path, recordings: list[str]) -> dict[str, list[Segment]]:
        rttm = directory / "rttm"
        if not rttm.is_file():
            raise BenchError(f"Libri2Mix (SD): missing {rttm} (the DER reference); expected {LAYOUT}")
        reference = read_rttm(rttm)
        unknown = sorted(set(reference) - set(recordings))
        if unknown:
            raise BenchError(f"{rttm}: {len(unknown)} recordings are not in wav.scp (first: {unknown[0]})")
        return reference

    # ---- model ----
    def build_model(self, num_layers: int, hidden_size: int, data: TaskData, config: Any) -> nn.Module:
        head = DiarizationHead(hidden_size, int(config.data.num_speakers), int(config.head.hidden_size),
                               int(config.head.rnn_layers))
        return DiarizationModel(WeightedSumFeaturizer(num_layers), head)

    def collate_labels(self, utterances: Sequence[Utterance]) -> tuple[Tensor, Tensor]:
        matrices = [torch.from_numpy(decode_label(u.label, self.num_speakers)) for u in utterances]
        return nn.utils.rnn.pad_sequence(matrices, batch_first=True), torch.tensor([m.shape[0] for m in matrices])

    def loss(self, outputs: ChunkFeatures, labels: tuple[Tensor, Tensor], data: TaskData) -> Tensor:
        targets, lengths = labels
        return pit_loss(outputs.logits(lengths), targets, lengths)[0]

    # ---- scoring ----
    def posteriors(self, model: nn.Module, data: DiarizationData, source: Any, split: str,
                   batch_size: int) -> tuple[dict[str, np.ndarray], float]:
        """Sigmoid posteriors per recording (its chunks' valid frames concatenated) and the mean chunk frame accuracy."""
        utterances = data.splits[split]
        chunk_posteriors: list[np.ndarray | None] = [None] * len(utterances)
        accuracies: list[float] = []
        for indices, outputs in eval_batches(model, source, split, range(len(utterances)), batch_size):
            labels, lengths = self.collate_labels([utterances[i] for i in indices])
            logits = outputs.logits(lengths)
            _, order = pit_loss(logits, labels.to(logits.device), lengths)
            accuracies += frame_accuracies(logits.cpu(), labels, lengths, order.cpu())
            probabilities = torch.sigmoid(logits).cpu().numpy()
            for row, index in enumerate(indices):
                chunk_posteriors[index] = probabilities[row, : int(lengths[row])]
        empty = np.zeros((0, self.num_speakers), dtype=np.float32)
        per_recording = {recording: np.concatenate([chunk_posteriors[i] for i in indices]) if indices else empty
                         for recording, indices in data.recordings[split]}
        return per_recording, (float(np.mean(accuracies)) if accuracies else math.nan)

    def score_split(self, model: nn.Module, data: TaskData, source: Any, split: str, batch_size: int,
                    output_dir: Path | None = None) -> SplitScore:
        """dev: ``der`` = lowest dev DER over the grid (the selection value), ``acc``. test: ``der`` = lowest test DER
        over the grid (the recipe's number, selected on test), ``der_dev_selected`` = test DER at the dev-best grid
        point of the same model, ``acc``. With ``output_dir``: the per-setting tables, the RTTM of the chosen settings
        and the posteriors."""
        assert isinstance(data, DiarizationData)
        posteriors, accuracy = self.posteriors(model, data, source, split, batch_size)
        reference = data.references[split]
        shift_seconds = data.frame_shift / SAMPLE_RATE
        points = der_grid(reference, posteriors, shift_seconds, data.median_filters, data.thresholds)
        best = best_point(points)
        metrics = {"der": best.der, "acc": accuracy}
        chosen = {"der": best}
        if split == "dev":
            self._dev_grid = (_model_fingerprint(model), points)
        if split == "test":
            fingerprint = _model_fingerprint(model)
            if self._dev_grid is None or self._dev_grid[0] != fingerprint:
                dev_posteriors, _ = self.posteriors(model, data, source, "dev", batch_size)
                self._dev_grid = (fingerprint, der_grid(data.references["dev"], dev_posteriors, shift_seconds,
                                                        data.median_filters, data.thresholds))
            dev_best = best_point(self._dev_grid[1])
            chosen["der_dev_selected"] = point_at(points, dev_best.median, dev_best.threshold)
            metrics["der_dev_selected"] = chosen["der_dev_selected"].der
        if output_dir is not None:
            self._write_outputs(Path(output_dir), split, data, points, chosen, posteriors)
        lines = []  # per recording at the grid point of ``der``: "<speaker>:<start>-<end>" turns, hypothesis columns 0/1
        for recording, post in posteriors.items():
            hypothesis = posteriors_to_segments(post, shift_seconds, best.threshold, best.median) if len(post) else []
            lines.append(f"{recording}\t{_format_turns(hypothesis)}\t{_format_turns(reference.get(recording, []))}")
        return SplitScore(metrics, lines)

    def _write_outputs(self, directory: Path, split: str, data: DiarizationData, points: list[GridPoint],
                       chosen: dict[str, GridPoint], posteriors: dict[str, np.ndarray]) -> None:
        shift_seconds = data.frame_shift / SAMPLE_RATE
        header = "median\tthreshold\tder\tfalse_alarm_s\tmissed_s\tconfusion_s\tscored_speech_s"
        rows = [f"{p.median}\t{p.threshold:g}\t{p.der:.{DER_GRID_DECIMALS}f}\t{p.false_alarm:.3f}\t{p.missed:.3f}\t{p.confusion:.3f}\t{p.total:.3f}"
                for p in points]
        write_text_atomic(directory / f"{split}_der_grid.tsv", "\n".join([header, *rows]) + "\n")
        protocols = {
            "der": ("lowest test DER over the grid: the grid point is selected on test (s3prl score.sh's reported number)"
                    if split == "test" else "lowest dev DER over the grid: what selects the checkpoint and the learning rate"),
            "der_dev_selected": "test DER at the grid point with the lowest dev DER: everything selected on dev",
        }
        summary = {"split": split, "frame_shift_seconds": shift_seconds, "collar": 0.0, "skip_overlap": False,
                   "grid": {"median_filters": data.median_filters, "thresholds": data.thresholds}, "chosen": {}}
        for name, point in chosen.items():
            rttm = f"{split}_hyp_th{point.threshold:g}_med{point.median}.rttm"
            turns = {recording: recording_segments(post, recording, shift_seconds, point.threshold, point.median)
                     for recording, post in posteriors.items()}
            write_text_atomic(directory / rttm, "".join(line + "\n" for line in write_rttm(None, turns)))
            summary["chosen"][name] = {"protocol": protocols[name], "median": point.median,
                                       "threshold": point.threshold, "der": point.der, "rttm": rttm}
        write_json_atomic(directory / f"{split}_der_summary.json", summary)
        with atomic_path(directory / f"{split}_posteriors.npz") as tmp:
            buffer = io.BytesIO()
            np.savez_compressed(buffer, frame_shift_seconds=np.float64(shift_seconds),
                                **{recording: post.astype(np.float16) for recording, post in posteriors.items()})
            tmp.write_bytes(buffer.getvalue())
