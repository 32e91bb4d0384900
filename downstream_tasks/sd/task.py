"""SD's task: :class:`SpeakerDiarization` (chunked Libri2Mix data at the upstream's stride, the PIT-trained head,
the DER grid scored on dev and test with the recipe's test-selected and the dev-selected numbers, and the files a run
writes: per-setting DER tables, RTTMs, the summary and the posteriors) and its :class:`DiarizationData`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from benchcore.atomic import atomic_path, write_json_atomic, write_text_atomic
from benchcore.errors import BenchError
from downstream_tasks.base import (
    CheckpointRule,
    FeatureSource,
    SplitScore,
    TaskData,
    TrainedTask,
    Utterance,
    eval_batches,
    require_dir,
)
from downstream_tasks.chance import ChanceLevel
from downstream_tasks.metadata import ERROR_RATE, SUPERB, MetricSpec, TaskMetadata
from downstream_tasks.metrics.detection import diarization_error_rate, posteriors_to_segments, read_rttm, write_rttm
from downstream_tasks.sd.head import ChunkFeatures, DiarizationHead, DiarizationModel, frame_accuracies, pit_loss
from downstream_tasks.sd.kaldi import KALDI_FILES, LAYOUT, ROOT, SPLITS, Segment, read_kaldi_dir
from downstream_tasks.sd.labels import SAMPLE_RATE, chunk_ranges, decode_label, encode_label, frame_label_spans
from downstream_tasks.sd.scoring import (
    GridPoint,
    best_point,
    der_grid,
    grid_item_table,
    point_at,
    recording_segments,
)
from upstream.base import UpstreamInfo
from upstream.featurizer import WeightedSumFeaturizer

#: Decimals of the DER column in `<split>_der_grid.tsv` (a reader comparing it with the summary JSON rounds to this).
DER_GRID_DECIMALS = 6


def _format_turns(turns: Sequence[tuple]) -> str:
    return " ".join(
        f"{speaker}:{start:.2f}-{end:.2f}" for start, end, speaker in sorted(turns, key=lambda t: (t[0], t[2]))
    )


def _model_fingerprint(model: nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


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
    metadata = TaskMetadata(
        "sd",
        "SD",
        "librimix",
        "frames",
        (MetricSpec("der", ERROR_RATE, "sd", description="speaker diarization, diarization error rate (Libri2Mix)"),),
        benchmark=SUPERB,
    )
    # No sourced official count that this reader's splits are comparable with. The HF `superb` card's 13,901 / 3,014
    # / 3,002 (train/dev/test) are not recordings but 2000-frame chunks at a fixed 160-sample shift (datasets'
    # superb.py `SdArgs`, `_generate_chunk_indices`); the chunks here follow the upstream's own stride, so their
    # number depends on the upstream, and no sourced recording count of s3prl's Libri2Mix SD folders exists.
    official_split_sizes: ClassVar[dict[str, int]] = {}

    def __init__(self) -> None:
        self.frame_shift: int | None = None
        self.num_speakers = 2
        self._dev_grid: tuple[str, list[GridPoint]] | None = None

    def prepare(self, upstream: UpstreamInfo) -> None:
        self.frame_shift = int(upstream.stride_samples)

    # ---- data ----
    def load(self, data_root: Path, fold: str | None, config: Any) -> DiarizationData:
        if self.frame_shift is None:
            raise RuntimeError("SD labels are built at the upstream's frame stride: call prepare(upstream_info) first")
        librimix = require_dir(data_root / ROOT, "Libri2Mix (SD)", LAYOUT)
        chunk_size = int(config.data.chunk_size)
        self.num_speakers = int(config.data.num_speakers)
        shift = self.frame_shift
        data = DiarizationData(
            self.corpus,
            data_root,
            {},
            frame_shift=shift,
            median_filters=[int(m) for m in config.scoring.median_filters],
            thresholds=[float(t) for t in config.scoring.thresholds],
        )
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
                    raise BenchError(
                        f"{directory}: recording {recording.recording} has {len(speakers)} speakers "
                        f"({', '.join(speakers)}), more than data.num_speakers={self.num_speakers}"
                    )
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
                    utterances.append(
                        Utterance(
                            f"{relative}#{segment[0]:.4f}-{segment[1]:.4f}", recording.path, label, segment=segment
                        )
                    )
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
                references[split] = {
                    recording: turns for recording, turns in data.references[split].items() if recording not in gone
                }
        return dataclasses.replace(data, splits=splits, recordings=recordings, references=references)

    def chance(self, data: DiarizationData) -> ChanceLevel:  # type: ignore[override]
        """The best of three audio-blind answers scored like a run on the test rttm: nobody speaks, one speaker talks
        through every whole recording, both speakers do (62.5%, one speaker, on superb-mini small)."""
        durations = {
            recording: max(data.splits["test"][i].segment[1] for i in indices)  # type: ignore[index]
            for recording, indices in data.recordings["test"]
            if indices
        }
        answers = {
            "nobody speaks": {recording: [] for recording in durations},
            "one speaker through every recording": {rec: [(0.0, end, "a")] for rec, end in durations.items()},
            "both speakers through every recording": {
                rec: [(0.0, end, "a"), (0.0, end, "b")] for rec, end in durations.items()
            },
        }
        ders = {
            name: diarization_error_rate(data.references["test"], answer)["der"] for name, answer in answers.items()
        }
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
        head = DiarizationHead(
            hidden_size, int(config.data.num_speakers), int(config.head.hidden_size), int(config.head.rnn_layers)
        )
        return DiarizationModel(WeightedSumFeaturizer(num_layers), head)

    def collate_labels(self, utterances: Sequence[Utterance]) -> tuple[Tensor, Tensor]:
        matrices = [torch.from_numpy(decode_label(u.label, self.num_speakers)) for u in utterances]
        return nn.utils.rnn.pad_sequence(matrices, batch_first=True), torch.tensor([m.shape[0] for m in matrices])

    def loss(self, outputs: ChunkFeatures, labels: tuple[Tensor, Tensor], data: TaskData) -> Tensor:
        targets, lengths = labels
        return pit_loss(outputs.logits(lengths), targets, lengths)[0]

    # ---- checkpoints ----
    def checkpoint_rules(self, config: Any) -> list[CheckpointRule]:
        """``best``: the recipe's, the highest dev frame accuracy (`diarization/expert.py` keeps `best-states-dev.ckpt`
        when `average_acc > best_score`), which also selects the learning rate. ``der``: the lowest dev DER of the
        scoring grid, the checkpoint of the all-on-dev figure ``der_dev_selected``."""
        return [CheckpointRule("best", "acc", True), CheckpointRule("der", "der", False)]

    def report_test(self, test: dict[str, dict[str, float]], selected: dict[str, dict[str, Any]]) -> dict[str, float]:
        """The recipe's checkpoint gives ``der`` (its lowest test DER over the grid: selected on test, SUPERB's number)
        and ``acc``; ``der_dev_selected`` is the dev-DER checkpoint's test DER at its dev-best grid point."""
        return {**test["best"], "der_dev_selected": test["der"]["der_dev_selected"]}

    # ---- scoring ----
    def posteriors(
        self, model: nn.Module, data: DiarizationData, source: FeatureSource, split: str, batch_size: int
    ) -> tuple[dict[str, np.ndarray], float]:
        """Sigmoid posteriors per recording (its chunks' valid frames concatenated) and the mean chunk frame
        accuracy."""
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
        per_recording = {
            recording: np.concatenate([chunk_posteriors[i] for i in indices]) if indices else empty
            for recording, indices in data.recordings[split]
        }
        return per_recording, (float(np.mean(accuracies)) if accuracies else math.nan)

    def score_split(
        self,
        model: nn.Module,
        data: TaskData,
        source: FeatureSource,
        split: str,
        batch_size: int,
        output_dir: Path | None = None,
    ) -> SplitScore:
        """dev: ``der`` = lowest dev DER over the grid, ``acc`` (each selects a checkpoint, see
        :meth:`checkpoint_rules`). test: ``der`` = lowest test DER
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
                self._dev_grid = (
                    fingerprint,
                    der_grid(
                        data.references["dev"], dev_posteriors, shift_seconds, data.median_filters, data.thresholds
                    ),
                )
            dev_best = best_point(self._dev_grid[1])
            chosen["der_dev_selected"] = point_at(points, dev_best.median, dev_best.threshold)
            metrics["der_dev_selected"] = chosen["der_dev_selected"].der
        if output_dir is not None:
            self._write_outputs(Path(output_dir), split, data, points, chosen, posteriors)
        # per recording at the grid point of ``der``: "<speaker>:<start>-<end>" turns, hypothesis columns 0/1
        lines = []
        for recording, post in posteriors.items():
            hypothesis = posteriors_to_segments(post, shift_seconds, best.threshold, best.median) if len(post) else []
            lines.append(f"{recording}\t{_format_turns(hypothesis)}\t{_format_turns(reference.get(recording, []))}")
        items = grid_item_table(self.name, points, chosen) if output_dir is not None else None
        return SplitScore(metrics, lines, items)

    def _write_outputs(
        self,
        directory: Path,
        split: str,
        data: DiarizationData,
        points: list[GridPoint],
        chosen: dict[str, GridPoint],
        posteriors: dict[str, np.ndarray],
    ) -> None:
        shift_seconds = data.frame_shift / SAMPLE_RATE
        header = "median\tthreshold\tder\tfalse_alarm_s\tmissed_s\tconfusion_s\tscored_speech_s"
        rows = [
            f"{p.median}\t{p.threshold:g}\t{p.der:.{DER_GRID_DECIMALS}f}\t{p.false_alarm:.3f}\t{p.missed:.3f}\t{p.confusion:.3f}\t{p.total:.3f}"
            for p in points
        ]
        write_text_atomic(directory / f"{split}_der_grid.tsv", "\n".join([header, *rows]) + "\n")
        protocols = {
            "der": (
                "lowest test DER over the grid: the grid point is selected on test (s3prl score.sh's reported number)"
                if split == "test"
                else "lowest dev DER over the grid: what selects the checkpoint of der_dev_selected"
            ),
            "der_dev_selected": "test DER at the grid point with the lowest dev DER: everything selected on dev",
        }
        summary = {
            "split": split,
            "frame_shift_seconds": shift_seconds,
            "collar": 0.0,
            "skip_overlap": False,
            "grid": {"median_filters": data.median_filters, "thresholds": data.thresholds},
            "chosen": {},
        }
        for name, point in chosen.items():
            rttm = f"{split}_hyp_th{point.threshold:g}_med{point.median}.rttm"
            turns = {
                recording: recording_segments(post, recording, shift_seconds, point.threshold, point.median)
                for recording, post in posteriors.items()
            }
            write_text_atomic(directory / rttm, "".join(line + "\n" for line in write_rttm(None, turns)))
            summary["chosen"][name] = {
                "protocol": protocols[name],
                "median": point.median,
                "threshold": point.threshold,
                "der": point.der,
                "rttm": rttm,
            }
        write_json_atomic(directory / f"{split}_der_summary.json", summary)
        with atomic_path(directory / f"{split}_posteriors.npz") as tmp:
            buffer = io.BytesIO()
            np.savez_compressed(
                buffer,
                frame_shift_seconds=np.float64(shift_seconds),
                **{recording: post.astype(np.float16) for recording, post in posteriors.items()},
            )
            tmp.write_bytes(buffer.getvalue())
