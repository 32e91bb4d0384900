"""What a task declares: its metadata, its data (read from the real dataset layout), and either a head to train
(:class:`TrainedTask`) or a protocol that scores frozen features directly (:class:`ProtocolTask`).

The runner, the cache and the CLI only talk to these interfaces; a new task is one module, one YAML and one registry
line.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from benchcore.errors import BenchError
from downstream_tasks.chance import ChanceLevel, data_independent
from downstream_tasks.items import ItemTable, ratio
from downstream_tasks.metadata import MetricSpec, TaskMetadata
from upstream.base import UpstreamInfo

if TYPE_CHECKING:
    from benchcore.sox_effects import SoxChain

DEV_RESAMPLE_SEED = 1337  # s3prl re-seeds to 1337 before every evaluation (KS's balanced dev resample and crops)


@dataclass(frozen=True)
class Utterance:
    """One example: an audio file and its label(s).

    ``uid`` is the file's path relative to the corpus root, so tasks that share a corpus (SID and ASV share
    VoxCeleb1) share cache entries; an utterance that is a ``segment`` (start, end seconds) of its file needs a uid
    of its own (e.g. ``path#start-end``). ``random_crop_seconds`` asks for a fresh random crop of that length at every
    read that draws crops (SID's and ASV's 8 s training crops, KS's 1 s ``_silence_`` crops of background noise; see
    bench.crops).
    ``effects``: a sox chain the file goes through first (ASV's gain and silence trimming), cached once per file; its
    output is final, so the loaders add no ``data.gain_db`` of their own.
    """

    uid: str
    path: Path
    label: tuple[int, ...]
    speaker: str | None = None
    random_crop_seconds: float | None = None
    text: str | None = None  # the reference transcription (sequence tasks)
    segment: tuple[float, float] | None = None  # (start, end) seconds within the file; None = the whole file
    effects: SoxChain | None = None

    def audio(self) -> Tensor:
        """The waveform the encoder sees: 16 kHz mono float32, only the segment when there is one."""
        from benchcore.audio import load_audio

        if self.effects is not None:
            return self.effects.load(self.path, segment=self.segment)
        return load_audio(self.path, segment=self.segment)


@dataclass
class TaskData:
    """The utterances of one fold: ``splits`` maps train/dev/test to utterances; ``corpus_root`` anchors uids."""

    corpus: str
    corpus_root: Path
    splits: dict[str, list[Utterance]]
    label_names: list[list[str]] = field(default_factory=list)
    #: The label, list and trial files the reader read: the record's dataset fingerprint hashes their contents, so
    #: an edited label invalidates the record.
    metadata_files: list[Path] = field(default_factory=list)

    def all_utterances(self) -> list[Utterance]:
        seen: dict[str, Utterance] = {}
        for utterances in self.splits.values():
            for utterance in utterances:
                seen.setdefault(utterance.uid, utterance)
        return list(seen.values())


@dataclass
class SplitScore:
    """Scoring one split: its metrics (fractions), `uid<TAB>prediction<TAB>truth` lines for
    `<split>_predictions.tsv`, and at final scoring what each item contributed (`<split>_items.tsv`,
    :mod:`downstream_tasks.items`)."""

    metrics: dict[str, float]
    lines: list[str] = field(default_factory=list)
    items: ItemTable | None = None


@dataclass
class UntrainedOutcome:
    """What a task without a trained head (QbE) reports for a unit: dev and test metrics plus record extras
    (``layer_weights`` there stands for the layer(s) the protocol chose)."""

    dev: dict[str, float]
    test: SplitScore
    extra: dict[str, Any] = field(default_factory=dict)


def require_dir(path: Path, dataset: str, layout: str) -> Path:
    """A missing dataset folder is a one-line error naming the expected layout."""
    if not path.is_dir():
        raise BenchError(
            f"{dataset} not found: expected the directory {path} ({layout}); "
            "pass the folder that contains it as --data-root, or generate superb-mini with `bench data mini`"
        )
    return path


def require_file(path: Path, dataset: str, what: str) -> Path:
    if not path.is_file():
        raise BenchError(f"{dataset}: missing {path} ({what})")
    return path


class MeanPoolLinearHead(nn.Module):
    """SUPERB's utterance head: Linear(D, 256) -> mean over valid frames -> Linear(256, C).

    It has no non-linearity, so ``forward_pooled`` on the time-mean of the features equals
    ``forward_frames`` on the frames: the reason a per-layer time-mean cache is exact.
    """

    def __init__(self, input_dim: int, num_outputs: int, projector_dim: int = 256) -> None:
        super().__init__()
        self.projector = nn.Linear(input_dim, projector_dim)
        self.classifier = nn.Linear(projector_dim, num_outputs)

    def forward_frames(self, features: Tensor, lengths: Tensor) -> Tensor:
        projected = self.projector(features)
        mask = torch.arange(features.shape[1], device=features.device)[None, :] < lengths.to(features.device)[:, None]
        pooled = (projected * mask.unsqueeze(-1)).sum(dim=1) / lengths.to(features.device).clamp(min=1).unsqueeze(-1)
        return self.classifier(pooled)

    def forward_pooled(self, pooled_features: Tensor) -> Tensor:
        return self.classifier(self.projector(pooled_features))


class FeatureSource(Protocol):
    """Where a task's features come from (``bench.sources``: the cache, the encoder in the loop, or both).

    ``batch(split, indices, generator)`` returns, for utterances ``indices`` of ``split``, ``(B, L, D)`` per-layer
    time-means for pooled heads or ``(hidden_states, lengths)`` for frame heads; ``generator`` draws the random crops
    of the utterances marked with ``random_crop_seconds`` (None: whole utterances)."""

    def batch(self, split: str, indices: Sequence[int], generator: torch.Generator | None) -> Any: ...


@dataclass(frozen=True)
class CheckpointRule:
    """How a unit chooses one of its checkpoints: the evaluation with the best ``metric`` on ``split``.

    ``split`` is scored every ``every`` updates (None: the config's ``eval_step``) and at the last one. With
    ``average_best`` N > 1 the parameters of the N best evaluations are averaged (ESPnet's ``keep_nbest_models`` with
    ``valid.<metric>.ave``); otherwise the best one is kept, the earliest on ties (s3prl's strict ``>``). A rule on
    ``split="test"`` selects on test: s3prl's ASV recipe reports the lowest test EER over its saved checkpoints.
    """

    name: str
    metric: str
    higher_is_better: bool
    split: str = "dev"
    every: int | None = None
    average_best: int = 1

    def __post_init__(self) -> None:
        if self.split not in ("dev", "test"):
            raise ValueError(f"checkpoint rule {self.name!r}: split {self.split!r} is neither 'dev' nor 'test'")
        if self.average_best < 1 or (self.every is not None and self.every < 1):
            raise ValueError(f"checkpoint rule {self.name!r}: average_best and every must be positive")

    def is_better(self, value: float, than: float | None) -> bool:
        """Whether ``value`` beats ``than`` (None: nothing yet). NaN never beats a number, and any number beats NaN."""
        if than is None or (math.isnan(than) and not math.isnan(value)):
            return True
        if math.isnan(value):
            return False
        return value > than if self.higher_is_better else value < than


def checkpoint_file(rules: Sequence[CheckpointRule], rule: CheckpointRule) -> str:
    """The file a rule's checkpoint is kept in: `best.pt` for the first rule (the recipe's), `best-<name>.pt` else."""
    return "best.pt" if rule == rules[0] else f"best-{rule.name}.pt"


#: Attributes a task's :class:`TaskMetadata` defines; a task class may not set them itself (one source of truth).
_FROM_METADATA = ("name", "title", "corpus", "metric", "higher_is_better", "head_input", "secondary_metrics")


class Task:
    """What the runner needs from any task: metadata, data, chance level, folds. A task is a :class:`TrainedTask` (a
    head trained on frozen features) or a :class:`ProtocolTask` (frozen features scored directly, QbE's DTW)."""

    #: Declared once per task; ``name``, ``title``, ``corpus``, ``metric``, ``higher_is_better``, ``head_input`` and
    #: ``secondary_metrics`` are set from it on the class (see :mod:`downstream_tasks.metadata`).
    metadata: ClassVar[TaskMetadata]
    name: ClassVar[str]
    title: ClassVar[str]
    corpus: ClassVar[str]
    metric: ClassVar[str]
    higher_is_better: ClassVar[bool]
    #: what the head (or protocol) consumes: "pooled" per-layer time-means (exactly cacheable) or "frames"
    head_input: ClassVar[str] = "pooled"
    #: Metrics besides ``metric`` (their chance levels go into the record too): SF's slot-value CER, ASR's CER.
    secondary_metrics: ClassVar[tuple[str, ...]] = ()
    folds: ClassVar[Sequence[str | None]] = (None,)
    #: True for :class:`TrainedTask`, False for :class:`ProtocolTask`: set by the interface, never by a task
    trainable: ClassVar[bool]
    #: The official corpus's number of utterances per split (``"test"``, ``"fold1/test"``, or a task's own count
    #: such as ``"test_trials"``, see :meth:`split_counts`), from s3prl's recipe metadata; a run on real data
    #: whose counts differ gets a warning in its summary and record. Empty where no sourced count exists.
    official_split_sizes: ClassVar[dict[str, int]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = [attribute for attribute in _FROM_METADATA if attribute in cls.__dict__]
        if "metadata" not in cls.__dict__:
            return
        if declared:
            raise TypeError(
                f"{cls.__name__} sets {', '.join(declared)} beside its metadata: declare them in the metadata only"
            )
        metadata: TaskMetadata = cls.__dict__["metadata"]
        cls.name, cls.title, cls.corpus, cls.head_input = (
            metadata.name,
            metadata.title,
            metadata.corpus,
            metadata.head_input,
        )
        cls.metric, cls.higher_is_better = metadata.metric.name, metadata.metric.higher_is_better
        cls.secondary_metrics = metadata.secondary_metrics

    def prepare(self, upstream: UpstreamInfo) -> None:
        """Called with the upstream's ``UpstreamInfo`` before :meth:`load`; tasks whose labels depend on the encoder
        (SD's frame labels at its stride) keep what they need here."""

    def load(self, data_root: Path, fold: str | None, config: Any) -> TaskData:
        """Read the dataset's official layout. List every audio file the metadata names as an utterance whether or not
        it is on disk: the runner checks that they exist (and stops, or drops them with ``data.allow_missing``)."""
        raise NotImplementedError

    def without_files(self, data: TaskData, is_dropped: Callable[[Path], bool]) -> TaskData:
        """``data`` without the utterances whose file is dropped (``data.allow_missing=true``). Tasks whose data
        holds more than utterances (trials, ground truth, recordings) drop what refers to those files too."""
        return dataclasses.replace(
            data,
            splits={
                split: [u for u in utterances if not is_dropped(u.path)] for split, utterances in data.splits.items()
            },
        )

    def split_counts(self, data: TaskData) -> dict[str, int]:
        """Counts beyond utterances per split that the official sizes are checked against (ASV: trials)."""
        return {}

    def chance(self, data: TaskData) -> ChanceLevel:
        """The best score an audio-blind answer gets on ``data``'s test split (:mod:`downstream_tasks.chance`): the
        declared ``audio_blind`` values of the metrics. Tasks whose blind answer depends on the labels (majority class,
        one speaker everywhere) override it."""
        return data_independent(self.metadata.metrics)

    def metric_spec(self, name: str) -> MetricSpec:
        """The spec of a metric this task records; a task recording metrics it cannot declare up front (MLASR's
        per-language error rates) overrides it."""
        spec = self.metadata.metric_spec(name)
        if spec is None:
            raise KeyError(f"task {self.name} declares no metric {name!r}")
        return spec

    def chance_level(self, data: TaskData) -> ChanceLevel:
        """:meth:`chance` with each metric's kind attached, as the record keeps it (direction and margin rule)."""
        level = self.chance(data)
        return level.with_kinds({name: self.metric_spec(name).kind for name in level.metrics})

    def combine_folds(self, per_fold: list[dict[str, float]]) -> dict[str, float]:
        """Folds average metric by metric (ER's five sessions); single-fold tasks pass through."""
        keys = per_fold[0].keys()
        return {key: sum(fold[key] for fold in per_fold) / len(per_fold) for key in keys}

    def decoding_signature(self) -> dict | None:
        """How predictions are decoded when that can change without retraining (ASR's optional LM); a finished unit
        whose record has another signature is rescored from its checkpoints instead of retrained."""
        return None


class ProtocolTask(Task):
    """A task without a head to train: its protocol scores dev and test from frozen features (QbE's DTW)."""

    trainable: ClassVar[bool] = False

    def score_without_training(
        self, data: TaskData, source: FeatureSource, config: Any, output_dir: Path, progress: bool
    ) -> UntrainedOutcome:
        """The whole protocol. ``source.batch(split, indices, None)`` gives the features of whole utterances."""
        raise NotImplementedError


class TrainedTask(Task):
    """A head trained on frozen features: model, loss, predictions, metrics, and how batches and test are chosen.
    Subclasses: utterance classification, CTC sequences, ASV, SD."""

    trainable: ClassVar[bool] = True

    def checkpoint_rules(self, config: Any) -> list[CheckpointRule]:
        """The checkpoints a unit keeps, the recipe's first: its test scores make the unit's reported numbers (see
        :meth:`report_test`), and the first rule that reads dev also gives the unit's dev metrics and selects the
        learning rate. By default: the best dev value of the task's metric."""
        return [CheckpointRule("best", self.metric, self.higher_is_better)]

    def no_dev_reason(self, config: Any) -> str:
        """Why no checkpoint rule reads dev under ``config``, and how to get one (the message of a refused sweep)."""
        return "no checkpoint rule of this task reads a dev split"

    def report_test(self, test: dict[str, dict[str, float]], selected: dict[str, dict[str, Any]]) -> dict[str, float]:
        """The test metrics a unit reports, from ``test[rule name]`` (each rule's checkpoint scored on test) and
        ``selected[rule name]`` (its ``steps`` and ``values``). By default the first rule's test metrics."""
        return dict(next(iter(test.values())))

    def build_model(self, num_layers: int, hidden_size: int, data: TaskData, config: Any) -> nn.Module:
        """Featurizer + head; ``model(features, generator)`` returns what :meth:`loss` and :meth:`predict` take."""
        raise NotImplementedError

    def collate_labels(self, utterances: Sequence[Utterance]) -> Any:
        return torch.tensor([u.label for u in utterances], dtype=torch.long)

    def loss(self, outputs: Any, labels: Any, data: TaskData) -> Tensor:
        raise NotImplementedError

    def predict(self, outputs: Any, data: TaskData) -> list:
        raise NotImplementedError

    def metrics(self, predictions: list, utterances: Sequence[Utterance], data: TaskData) -> dict[str, float]:
        raise NotImplementedError

    def prediction_lines(self, predictions: list, utterances: Sequence[Utterance], data: TaskData) -> list[str]:
        """Tab-separated `uid, prediction, truth` lines for `<split>_predictions.tsv`."""
        raise NotImplementedError

    def item_table(self, predictions: list, utterances: Sequence[Utterance], data: TaskData) -> ItemTable | None:
        """What each utterance contributed to :meth:`metrics`, with the statistic that recomputes each metric from it
        (:mod:`downstream_tasks.items`); written at final scoring. None: the task keeps no per-item outputs."""
        return None

    def score_split(
        self,
        model: nn.Module,
        data: TaskData,
        source: FeatureSource,
        split: str,
        batch_size: int,
        output_dir: Path | None = None,
    ) -> SplitScore:
        """Score a split with the model in eval mode. ``source.batch(split, indices, None)`` gives the features of whole
        utterances. The default predicts batch by batch and calls :meth:`metrics`; the dev split of a task with
        :meth:`dev_sample_weights` is a fixed-seed resample as s3prl's. A split with utterances marked for random crops
        (KS's dev `_silence_`) is read with crops drawn from the same fixed-seed generator, after the resample: s3prl
        re-seeds before every evaluation (`runner.py:442-447`), so every evaluation of a unit sees the same examples and
        crops. ``output_dir`` is the unit's directory when the caller wants files (RTTM, trial scores) beside the
        predictions; None during training."""
        utterances = data.splits[split]
        weights = self.dev_sample_weights(utterances) if split == "dev" else None
        generator = torch.Generator().manual_seed(DEV_RESAMPLE_SEED)
        if weights is not None:
            order = torch.multinomial(
                torch.tensor(weights, dtype=torch.double), len(utterances), replacement=True, generator=generator
            ).tolist()
        else:
            order = list(range(len(utterances)))
        crops = generator if any(u.random_crop_seconds for u in utterances) else None
        predictions: list = []
        for _indices, outputs in eval_batches(model, source, split, order, batch_size, crops):
            predictions.extend(self.predict(outputs, data))
        ordered = [utterances[i] for i in order]
        return SplitScore(
            self.metrics(predictions, ordered, data),
            self.prediction_lines(predictions, ordered, data),
            self.item_table(predictions, ordered, data) if output_dir is not None else None,
        )

    def train_sample_weights(self, utterances: list[Utterance]) -> list[float] | None:
        """Per-utterance sampling weights for the training sampler; None means plain shuffling."""
        return None

    def train_batches(self, utterances: list[Utterance], config: Any) -> list[list[int]] | None:
        """Fixed training batches (indices into ``utterances``) that each epoch draws in a new order, as s3prl's
        length bucketing does; None means batches of ``batch_size`` from a shuffle (or the weights above)."""
        return None

    def dev_sample_weights(self, utterances: list[Utterance]) -> list[float] | None:
        return None


def eval_batches(
    model: nn.Module,
    source: FeatureSource,
    split: str,
    order: Sequence[int],
    batch_size: int,
    crops: torch.Generator | None = None,
) -> Iterator[tuple[list[int], Any]]:
    """``(indices, model outputs)`` for consecutive batches of ``order`` over ``split``, with the model in eval mode
    and no gradients; the model's training mode is restored afterwards, also when the caller stops early. ``crops``
    draws the random crops of marked utterances (None: whole utterances); the model itself gets no generator."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(order), batch_size):
                indices = list(order[start : start + batch_size])
                yield indices, model(source.batch(split, indices, crops))
    finally:
        model.train(was_training)


class ClassificationTask(TrainedTask):
    """An utterance-level task with one or more categorical outputs (IC has three: action, object, location).

    Loss is the sum of the cross-entropies of the output slices; a prediction is a hit only when every slice is right.
    """

    metric: ClassVar[str] = "acc"
    higher_is_better: ClassVar[bool] = True
    head_input: ClassVar[str] = "pooled"

    def output_sizes(self, data: TaskData) -> list[int]:
        return [len(names) for names in data.label_names]

    def chance(self, data: TaskData) -> ChanceLevel:
        """Always answering the most frequent test label (for IC: the most frequent action/object/location triple)."""
        from collections import Counter

        labels = [utterance.label for utterance in data.splits["test"]]
        if not labels:
            return ChanceLevel({}, "no test utterances", 0)
        return ChanceLevel(
            {self.metric: Counter(labels).most_common(1)[0][1] / len(labels)},
            "the most frequent test label",
            len(labels),
        )

    def build_head(self, input_dim: int, data: TaskData, config: Any) -> MeanPoolLinearHead:
        return MeanPoolLinearHead(input_dim, sum(self.output_sizes(data)), int(config.head.projector_dim))

    def build_model(self, num_layers: int, hidden_size: int, data: TaskData, config: Any) -> nn.Module:
        from upstream.featurizer import WeightedSumFeaturizer

        featurizer = WeightedSumFeaturizer(num_layers, probe_layer_selection(config))
        return UtteranceClassifier(featurizer, self.build_head(hidden_size, data, config))

    def loss(self, logits: Tensor, labels: Tensor, data: TaskData) -> Tensor:
        total = logits.new_zeros(())
        for slice_logits, slice_labels in zip(self._slices(logits, data), labels.T):
            total = total + F.cross_entropy(slice_logits, slice_labels)
        return total

    def predict(self, logits: Tensor, data: TaskData) -> list[tuple[int, ...]]:
        return [
            tuple(row)
            for row in torch.stack([part.argmax(dim=-1) for part in self._slices(logits, data)], dim=1).tolist()
        ]

    def metrics(
        self, predictions: list, utterances: Sequence[Utterance], data: TaskData | None = None
    ) -> dict[str, float]:
        if not predictions:
            return {"acc": float("nan")}
        hits = [tuple(predicted) == tuple(u.label) for predicted, u in zip(predictions, utterances)]
        return {"acc": sum(hits) / len(hits)}

    def item_table(self, predictions: list, utterances: Sequence[Utterance], data: TaskData) -> ItemTable:
        """Per utterance: ``correct`` (1 when every label part is right) over ``count`` (1): accuracy is their ratio."""
        correct = [int(tuple(predicted) == tuple(u.label)) for predicted, u in zip(predictions, utterances)]
        return ItemTable(
            self.name,
            "utterance",
            [u.uid for u in utterances],
            {"correct": correct, "count": [1] * len(correct)},
            {"acc": ratio("correct", "count")},
        )

    def prediction_lines(self, predictions: list, utterances: Sequence[Utterance], data: TaskData) -> list[str]:
        def names(label: Sequence[int]) -> str:
            return "|".join(vocabulary[i] for vocabulary, i in zip(data.label_names, label))

        return [f"{u.uid}\t{names(p)}\t{names(u.label)}" for p, u in zip(predictions, utterances)]

    def _slices(self, logits: Tensor, data: TaskData) -> list[Tensor]:
        return list(torch.split(logits, self.output_sizes(data), dim=-1))


def probe_layer_selection(config: Any) -> list[int] | None:
    """``[L]`` when the config asks for a per-layer probe (``featurizer.layer=L``), else None (every hidden state)."""
    featurizer = config.get("featurizer") if hasattr(config, "get") else None
    layer = None if featurizer is None else featurizer.get("layer")
    return None if layer is None else [int(layer)]


class UtteranceClassifier(nn.Module):
    """Weighted sum of hidden states -> SUPERB mean-pool head; takes cached per-layer means or frames."""

    def __init__(self, featurizer: nn.Module, head: MeanPoolLinearHead) -> None:
        super().__init__()
        self.featurizer = featurizer
        self.head = head

    def forward(self, features: Any, generator: torch.Generator | None = None) -> Tensor:  # noqa: ARG002 - no augmentation
        if isinstance(features, Tensor):  # (B, L, D) per-layer means
            return self.head.forward_pooled(self.featurizer.combine(features.transpose(0, 1)))
        hidden_states, lengths = features
        combined, lengths = self.featurizer(hidden_states, lengths)
        return self.head.forward_frames(combined, lengths)


def class_balanced_weights(labels: Sequence[int]) -> list[float]:
    """s3prl's WeightedRandomSampler weights: N / count(class) for each example."""
    counts: dict[int, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    return [len(labels) / counts[label] for label in labels]
