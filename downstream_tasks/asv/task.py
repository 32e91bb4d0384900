"""ASV's task: :class:`SpeakerVerification` (VoxCeleb1 splits and trial lists, the x-vector head trained with
AM-softmax, trials scored by cosine similarity into an EER), with its checkpoint rules: SUPERB's lowest test EER over
the recipe's checkpoints, and the dev-selected one when dev trials are held out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from benchcore.atomic import write_text_atomic
from benchcore.errors import BenchError
from downstream_tasks.asv.head import AMSoftmax, SpeakerEmbedder, SpeakerLogits, XVectorHead, am_softmax_loss
from downstream_tasks.asv.reader import VerificationData, load_voxceleb1
from downstream_tasks.asv.scoring import score_trials
from downstream_tasks.base import (
    CheckpointRule,
    FeatureSource,
    SplitScore,
    TaskData,
    TrainedTask,
    Utterance,
    eval_batches,
)
from downstream_tasks.items import ItemTable, Statistic
from downstream_tasks.metadata import ERROR_RATE, SAME_SCORE_EVERY_TRIAL, SUPERB, MetricSpec, TaskMetadata
from downstream_tasks.metrics.detection import equal_error_rate
from upstream.base import SAMPLE_RATE, UpstreamInfo


class SpeakerVerification(TrainedTask):
    metadata = TaskMetadata(
        "asv",
        "ASV",
        "voxceleb1",
        "frames",
        (
            MetricSpec(
                "eer",
                ERROR_RATE,
                "asv",
                description="speaker verification, equal error rate (VoxCeleb1 test)",
                audio_blind=SAME_SCORE_EVERY_TRIAL,
            ),
        ),
        benchmark=SUPERB,
    )
    #: s3prl's sv_voxceleb1/voxceleb1_test_v2.txt has 37,720 trials (37,720 lines). No utterance count is sourced:
    #: the test split is whatever files those trials name, and training is a glob of dev/wav.
    official_split_sizes: ClassVar[dict[str, int]] = {"test_trials": 37720}

    def __init__(self) -> None:
        self.stride_samples: int | None = None

    def prepare(self, upstream: UpstreamInfo) -> None:
        self.stride_samples = int(upstream.stride_samples)

    def load(self, data_root: Path, fold: str | None, config: Any) -> VerificationData:
        """VoxCeleb1's splits; training utterances are marked for the recipe's random crop (`data.train_crop_seconds`,
        s3prl's max_timestep 128000 in `sv_voxceleb1/dataset.py:77-80`), which the feature source cuts from the
        waveform, or the head from the frames with `data.crop_mode=frames`."""
        data = load_voxceleb1(data_root, self.corpus, config)
        crop = float(config.data.train_crop_seconds) if config.data.train_crop_seconds else None
        train = [dataclasses.replace(u, random_crop_seconds=crop) for u in data.splits["train"]]
        return dataclasses.replace(data, splits={**data.splits, "train": train})

    def without_files(self, data: TaskData, is_dropped: Callable[[Path], bool]) -> VerificationData:
        """Drop the missing files' trials too, and the files only those trials named: a split of a trial list is the
        files its trials score. A trial list left empty is an error (an EER of no trials is no number)."""
        if not isinstance(data, VerificationData):
            raise TypeError("ASV drops trials: it needs the VerificationData that SpeakerVerification.load returns")
        dropped = {u.uid for u in data.all_utterances() if is_dropped(u.path)}
        trials = {
            split: [t for t in split_trials if t.enrollment not in dropped and t.test not in dropped]
            for split, split_trials in data.trials.items()
        }
        for split, kept in trials.items():
            if not kept:
                raise BenchError(f"ASV: no {split} trial is left without the missing files; restore them")
        splits = {}
        for split, utterances in data.splits.items():
            if split in trials:
                named = {uid for trial in trials[split] for uid in (trial.enrollment, trial.test)}
                splits[split] = [u for u in utterances if u.uid in named]
            else:
                splits[split] = [u for u in utterances if u.uid not in dropped]
        return dataclasses.replace(data, splits=splits, trials=trials)

    def split_counts(self, data: TaskData) -> dict[str, int]:
        """The trials each scored split has (``test_trials`` is checked against the official list's 37,720)."""
        if not isinstance(data, VerificationData):
            return {}
        return {f"{split}_trials": len(trials) for split, trials in data.trials.items()}

    def build_model(self, num_layers: int, hidden_size: int, data: TaskData, config: Any) -> nn.Module:
        from upstream.featurizer import WeightedSumFeaturizer

        if self.stride_samples is None:
            raise RuntimeError(
                "SpeakerVerification.prepare(upstream_info) must run before build_model (it needs the stride)"
            )
        head = XVectorHead(
            hidden_size,
            int(config.head.connector_dim),
            [int(d) for d in config.head.tdnn_dims],
            int(config.head.embedding_dim),
        )
        objective = AMSoftmax(
            int(config.head.embedding_dim),
            len(data.label_names[0]),
            float(config.head.am_scale),
            float(config.head.am_margin),
        )
        # the head crops frames only in the approximation; in the recipe's mode the source encodes waveform crops
        crop_seconds = config.data.train_crop_seconds if config.data.get("crop_mode") == "frames" else None
        crop_frames = int(float(crop_seconds) * SAMPLE_RATE) // self.stride_samples if crop_seconds else None
        return SpeakerEmbedder(WeightedSumFeaturizer(num_layers), head, objective, crop_frames)

    def checkpoint_rules(self, config: Any) -> list[CheckpointRule]:
        """``superb``: the recipe has no validation set; `test_expdir.sh` scores the checkpoints saved every 20,000
        updates (20k ... 200k) on test and reports the lowest EER, so this rule **selects on test**, every
        ``test_eval_step`` updates. ``dev``: with held-out dev trials (``data.dev_videos_per_speaker``), the lowest dev
        EER, scored every ``eval_step``: nothing selected on test."""
        every = int(config.test_eval_step) if config.get("test_eval_step") else None
        rules = [CheckpointRule("superb", "eer", False, split="test", every=every)]
        if config.data.get("dev_videos_per_speaker"):
            rules.append(CheckpointRule("dev", "eer", False))
        return rules

    def no_dev_reason(self, config: Any) -> str:
        return (
            "it trains on all of VoxCeleb1/dev/wav, as s3prl's recipe does; data.dev_videos_per_speaker=3 holds out "
            "one utterance from each of 3 videos per speaker as dev trials to select on"
        )

    def report_test(self, test: dict[str, dict[str, float]], selected: dict[str, dict[str, Any]]) -> dict[str, float]:
        """``eer``: SUPERB's number, the lowest test EER over the scored checkpoints (earliest on ties), from step
        ``superb_step``; ``eer_dev_selected`` (with dev trials): the test EER of the checkpoint dev selected."""
        reported = {"eer": test["superb"]["eer"], "superb_step": float(selected["superb"]["steps"][0])}
        if "dev" in test:
            reported["eer_dev_selected"] = test["dev"]["eer"]
        return reported

    def collate_labels(self, utterances: Sequence[Utterance]) -> Tensor:
        return torch.tensor([u.label[0] for u in utterances], dtype=torch.long)

    def loss(self, outputs: SpeakerLogits, labels: Tensor, data: TaskData) -> Tensor:
        return am_softmax_loss(outputs.cosine, labels.to(outputs.cosine.device), outputs.scale, outputs.margin)

    def embed_split(
        self, model: nn.Module, source: FeatureSource, split: str, utterances: Sequence[Utterance], batch_size: int
    ) -> Tensor:
        """(N, E) L2-normalised embeddings of whole utterances, batched by file size so padding stays small."""
        order = sorted(range(len(utterances)), key=lambda i: utterances[i].path.stat().st_size)
        rows: list[Tensor] = [torch.empty(0)] * len(utterances)
        for indices, embeddings in eval_batches(model, source, split, order, batch_size):
            for i, embedding in zip(indices, embeddings.float().cpu()):
                rows[i] = embedding
        return torch.stack(rows)

    def score_split(
        self,
        model: nn.Module,
        data: TaskData,
        source: FeatureSource,
        split: str,
        batch_size: int,
        output_dir: Path | None = None,
    ) -> SplitScore:
        """Cosine-score the split's trials; with ``output_dir``, write `<split>_trial_scores.txt` there
        (`<label> <uid> <uid> <score>` in trial-list order)."""
        if not isinstance(data, VerificationData) or split not in data.trials:
            raise ValueError(f"ASV scores trial lists; split {split!r} has none")
        utterances, trials = data.splits[split], data.trials[split]
        embeddings = self.embed_split(model, source, split, utterances, batch_size)
        scores = score_trials(embeddings, {u.uid: i for i, u in enumerate(utterances)}, trials).tolist()
        labels = [trial.label for trial in trials]
        eer = equal_error_rate(labels, scores)
        if output_dir is not None:
            write_text_atomic(
                Path(output_dir) / f"{split}_trial_scores.txt",
                "".join(f"{t.label} {t.enrollment} {t.test} {s:.6f}\n" for t, s in zip(trials, scores)),
            )
        lines = [f"{t.enrollment} {t.test}\t{s:.6f}\t{t.label}" for t, s in zip(trials, scores)]
        items = None
        if output_dir is not None:
            speaker = {u.uid: u.speaker or u.uid for u in utterances}
            items = ItemTable(
                self.name,
                "trial",
                [f"{t.enrollment} {t.test}" for t in trials],
                {"score": scores, "label": labels, "speaker": [speaker[t.enrollment] for t in trials]},
                {"eer": Statistic("eer", score="score", label="label")},
                # trials of one enrollment speaker share that speaker's embeddings: not independent items
                block="speaker",
            )
        return SplitScore({"eer": eer}, lines, items)
