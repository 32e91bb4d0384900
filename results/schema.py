"""The two record types, declared once: `bench run` writes them (``bench.runner``) and `bench report` reads them.

A **unit record** (``<unit dir>/record.json``) is one trained head: one (fold, seed, learning rate). A **result record**
(``<output>/<task>/<upstream>/result.json``) summarises a task's units: the dev-selected learning rate, test metrics
as mean and std over seeds. Metric values are fractions (0.9529 = 95.29%). ``to_dict`` gives the JSON the files hold and
``from_dict`` reads it back; ``from_dict(to_dict(r)) == r``. Keys a newer writer adds are kept in ``extra`` and written
back, so reading a record and writing it again loses nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from benchcore.errors import BenchError
from downstream_tasks.chance import ChanceLevel
from downstream_tasks.metadata import KIND_HIGHER_IS_BETTER

#: The one schema version both record types carry; :data:`SUPPORTED_VERSIONS` are those a reader accepts.
#: Version 2 added the result record's ``metric_kinds``; a version-1 record reads with it empty (the ranked metric's
#: direction is in ``metric`` in both).
SCHEMA_VERSION = 2
SUPPORTED_VERSIONS = (1, 2)
UNIT_SCHEMA = "superb-bench/unit-record"
RESULT_SCHEMA = "superb-bench/result-record"


@dataclass(frozen=True)
class RecordedMetric:
    """The metric a record is selected and ranked on, and its direction. Values are always fractions."""

    name: str
    higher_is_better: bool
    unit: str = "fraction"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, content: dict[str, Any]) -> RecordedMetric:
        return cls(str(content["name"]), bool(content["higher_is_better"]), str(content.get("unit", "fraction")))


def numeric_entries(metrics: dict[str, Any]) -> dict[str, float]:
    """The numeric entries (NaN kept: a metric a run could not compute); None, counts-as-bools and text dropped."""
    return {
        key: float(value)
        for key, value in metrics.items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    }


class _Record:
    """Shared (de)serialisation: the schema header, typed fields in declaration order, then unknown keys."""

    SCHEMA: ClassVar[str]

    @classmethod
    def _json_fields(cls) -> list[tuple[str, dataclasses.Field]]:
        """(JSON key, field) of every field the file holds, in declaration order (``metadata["key"]`` renames)."""
        return [
            (spec.metadata.get("key", spec.name), spec)
            for spec in dataclasses.fields(cls)  # type: ignore[arg-type]
            if spec.metadata.get("json", True)
        ]

    def to_dict(self) -> dict[str, Any]:
        content: dict[str, Any] = {"schema": self.SCHEMA, "schema_version": SCHEMA_VERSION}
        for key, spec in self._json_fields():
            value = getattr(self, spec.name)
            if spec.metadata.get("flatten"):
                content.update(value)
            elif spec.metadata.get("optional") and not value:
                continue
            else:
                content[key] = value.to_dict() if hasattr(value, "to_dict") else value
        return content

    @classmethod
    def _parse(cls, content: Any, where: str, build: Callable[[dict[str, Any]], Any]) -> Any:
        """Check the header, then ``build(keys no field declares)``; a missing or ill-typed field is a one-line
        error."""
        kind = cls.SCHEMA.split("/")[-1]
        if not isinstance(content, dict) or content.get("schema") != cls.SCHEMA:
            raise BenchError(f"{where}: not a {kind.replace('-', ' ')} (schema '{cls.SCHEMA}' expected)")
        if content.get("schema_version") not in SUPPORTED_VERSIONS:
            raise BenchError(
                f"{where}: {kind} schema version {content.get('schema_version')} is not "
                f"supported (this harness reads version {', '.join(map(str, SUPPORTED_VERSIONS))})"
            )
        known = {
            "schema",
            "schema_version",
            *(key for key, spec in cls._json_fields() if not spec.metadata.get("flatten")),
        }
        try:
            return build({key: value for key, value in content.items() if key not in known})
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise BenchError(f"{where}: malformed {kind.replace('-', ' ')} ({type(error).__name__}: {error})") from None


def _metric_kinds(content: dict[str, Any]) -> dict[str, str]:
    unknown = sorted(str(kind) for kind in content.values() if kind not in KIND_HIGHER_IS_BETTER)
    if unknown:
        raise ValueError(f"metric kind(s) {', '.join(unknown)} not one of {', '.join(KIND_HIGHER_IS_BETTER)}")
    return {str(name): str(kind) for name, kind in content.items()}


def _flattened() -> Any:
    """A dict field whose keys are written at the top level of the record (protocol extras, unknown keys)."""
    return field(default_factory=dict, metadata={"flatten": True})


@dataclass(frozen=True)
class UnitRecord(_Record):
    """One trained (or, for protocols without a head, scored) unit."""

    SCHEMA: ClassVar[str] = UNIT_SCHEMA

    created: str
    unit_id: str
    task: str
    fold: str | None
    seed: int
    learning_rate: float
    upstream: dict[str, Any]
    metric: RecordedMetric
    metrics: dict[str, dict[str, float]]  # {"test": ..., "dev": ...}
    best_step: int | None
    dev_history: list[dict[str, Any]]
    resumed_from_step: int
    layer_weights: list[float] | None
    timings: dict[str, Any]
    peak_memory: dict[str, Any]
    decoding: dict[str, Any] | None
    layers: list[int] | None
    feature_mode: str
    splits: dict[str, int]
    config: dict[str, Any]
    profile: str | None
    device: str
    versions: dict[str, Any]
    dataset: dict[str, Any]
    #: each checkpoint rule's selection (a trained unit): its metric, split, steps, values, whether averaged, and the
    #: test metrics of its checkpoint; ``metrics.test`` is what the task reports from them
    checkpoints: dict[str, Any] = field(default_factory=dict, metadata={"optional": True})
    #: True when the unit was rescored with other decoding settings instead of retrained (written only then)
    rescored: bool = field(default=False, metadata={"optional": True})
    #: How the recipe's random crops were made, for tasks that crop (SID, KS, ASV; written only there): "waveform"
    #: (the recipe: each crop encoded alone) or an approximation, "block_mean" or "frames" (bench/crops.py)
    crop_mode: str | None = field(default=None, metadata={"optional": True})
    #: The learning rates of the heads this one trained beside, one encoder forward per step feeding all of them (a
    #: shared-forward sweep, bench.trainer.train_sweep; written only then). Its training is what it would be alone.
    shared_forward: list[float] | None = field(default=None, metadata={"optional": True})
    #: what a protocol without a head adds at the top level (QbE: chosen_layer, per_layer_dev, test_detail,
    #: dtw_timings), and keys a newer writer added
    protocol: dict[str, Any] = _flattened()

    @classmethod
    def from_dict(cls, content: Any, where: str = "unit record") -> UnitRecord:
        return cls._parse(
            content,
            where,
            lambda unknown: cls(
                created=str(content["created"]),
                unit_id=str(content["unit_id"]),
                task=str(content["task"]),
                fold=content["fold"],
                seed=int(content["seed"]),
                learning_rate=float(content["learning_rate"]),
                upstream=dict(content["upstream"]),
                metric=RecordedMetric.from_dict(content["metric"]),
                metrics={split: dict(values) for split, values in content["metrics"].items()},
                best_step=content.get("best_step"),
                dev_history=list(content.get("dev_history") or []),
                resumed_from_step=int(content.get("resumed_from_step") or 0),
                layer_weights=content.get("layer_weights"),
                timings=dict(content.get("timings") or {}),
                peak_memory=dict(content.get("peak_memory") or {}),
                decoding=content.get("decoding"),
                layers=content.get("layers"),
                feature_mode=str(content.get("feature_mode", "cache")),
                splits=dict(content.get("splits") or {}),
                config=dict(content.get("config") or {}),
                profile=content.get("profile"),
                checkpoints=dict(content.get("checkpoints") or {}),
                device=str(content.get("device", "")),
                versions=dict(content.get("versions") or {}),
                dataset=dict(content.get("dataset") or {}),
                rescored=bool(content.get("rescored", False)),
                crop_mode=content.get("crop_mode"),
                shared_forward=content.get("shared_forward"),
                protocol=unknown,
            ),
        )


@dataclass(frozen=True)
class ResultRecord(_Record):
    """One task's result for one upstream, as `bench run` summarised it; ``path`` is where it was read from."""

    SCHEMA: ClassVar[str] = RESULT_SCHEMA

    created: str
    task: str
    task_title: str
    upstream: dict[str, Any]
    metric: RecordedMetric
    #: the declared kind of each metric in ``metrics`` (downstream_tasks.metadata: accuracy, error_rate, detection,
    #: f1), so each column's direction is read from the records; empty in version-1 records
    metric_kinds: dict[str, str]
    metrics: dict[str, float]
    metrics_std: dict[str, float]
    seeds: list[int]
    per_seed: list[dict[str, Any]]
    learning_rate: float | None
    lr_sweep: list[dict[str, Any]] | None
    layer_weights: list[float] | None
    units: list[dict[str, Any]]
    profile: str | None
    config: dict[str, Any]
    timings: dict[str, Any]
    peak_memory: dict[str, Any]
    decoding: dict[str, Any] | None
    device: str | None
    versions: dict[str, Any]
    dataset: dict[str, Any]
    #: the audio-blind level of each metric (:class:`downstream_tasks.chance.ChanceLevel` as a dict); None before it
    chance_level: dict[str, Any] | None = field(default=None, metadata={"key": "chance"})
    #: the task's checkpoint rules as the units ran them (name, metric, higher_is_better, split, every, average_best),
    #: the recipe's first: a first rule on ``test`` means the reported numbers are selected on test
    checkpoint_rules: list[dict[str, Any]] = field(default_factory=list, metadata={"optional": True})
    #: damaged feature-cache shards the run moved aside and encoded again before training (bench.cache; written only
    #: then): shard, cache key, what was wrong, utterances, where the files went
    cache_repairs: list[dict[str, Any]] = field(default_factory=list, metadata={"optional": True})
    #: what the upstream costs (upstream.cost.UpstreamCost: parameters, MACs per second of audio at several lengths and
    #: over SUPERB's short profiling bucket) and, under ``extraction``, the throughput of the cache fill this run did
    cost: dict[str, Any] = field(default_factory=dict, metadata={"optional": True})
    extra: dict[str, Any] = _flattened()
    path: Path | None = field(default=None, compare=False, metadata={"json": False})

    @property
    def upstream_name(self) -> str:
        return str(self.upstream["name"])

    @property
    def directory(self) -> Path:
        if self.path is None:
            raise ValueError("a result record built in memory has no directory")
        return self.path.parent

    @property
    def on_superb_mini(self) -> bool:
        """superb-mini writes a MANIFEST.json whose checksum the record cites; the real datasets have none."""
        return bool(self.dataset.get("manifest_checksum"))

    @property
    def chance(self) -> ChanceLevel | None:
        """The audio-blind score of each metric on the record's test split; None in records written before it."""
        return ChanceLevel.from_dict(self.chance_level) if self.chance_level else None

    @property
    def probe_layer(self) -> int | None:
        """The hidden state a per-layer probe trained on alone (`bench layers`, config ``featurizer.layer``); None for
        the weighted sum. Probe records never enter a leaderboard or its scores."""
        layer = (self.config.get("featurizer") or {}).get("layer")
        return None if layer is None else int(layer)

    @property
    def layer_indices(self) -> list[int] | None:
        """The hidden-state index of each layer weight (frame tasks may keep a subset, `cache.layers`)."""
        if self.layer_weights is None:
            return None
        if self.probe_layer is not None:
            return [self.probe_layer]
        selected = (self.config.get("cache") or {}).get("layers")
        if selected is not None and len(selected) == len(self.layer_weights):
            return [int(layer) for layer in selected]
        return list(range(len(self.layer_weights)))

    def higher_is_better(self, metric: str) -> bool | None:
        """The direction of ``metric`` as this record states it: from its declared kind, or for the ranked metric from
        ``metric``; None for another metric of a version-1 record, which stated no kind."""
        kind = self.metric_kinds.get(metric)
        if kind is not None:
            return KIND_HIGHER_IS_BETTER[kind]
        return self.metric.higher_is_better if metric == self.metric.name else None

    @property
    def selected_on_test(self) -> bool:
        """Whether the reported numbers come from a checkpoint selected on test (ASV's SUPERB protocol)."""
        return bool(self.checkpoint_rules) and self.checkpoint_rules[0].get("split") == "test"

    def selected_lr_note(self) -> str:
        """'1e-03' or '1e-03 (dev-selected of 1e-04, 1e-03, 1e-02)'."""
        if self.learning_rate is None or self.learning_rate == 0.0:
            return "none (no trained head)"
        if not self.lr_sweep:
            return f"{self.learning_rate:.0e}"
        points = ", ".join(f"{point['learning_rate']:.0e}" for point in self.lr_sweep)
        return f"{self.learning_rate:.0e} (dev-selected of {points})"

    @classmethod
    def from_dict(cls, content: Any, path: Path | None = None) -> ResultRecord:
        where = str(path) if path is not None else "result record"
        return cls._parse(
            content,
            where,
            lambda unknown: cls(
                created=str(content.get("created", "")),
                task=str(content["task"]),
                task_title=str(content.get("task_title", content["task"])),
                upstream=dict(content["upstream"]),
                metric=RecordedMetric.from_dict(content["metric"]),
                metric_kinds=_metric_kinds(content.get("metric_kinds") or {}),
                metrics=numeric_entries(content["metrics"]),
                metrics_std=numeric_entries(content.get("metrics_std") or {}),
                seeds=list(content.get("seeds") or []),
                per_seed=list(content.get("per_seed") or []),
                learning_rate=content.get("learning_rate"),
                lr_sweep=content.get("lr_sweep"),
                layer_weights=content.get("layer_weights"),
                units=list(content.get("units") or []),
                profile=content.get("profile"),
                config=dict(content.get("config") or {}),
                timings=dict(content.get("timings") or {}),
                peak_memory=dict(content.get("peak_memory") or {}),
                decoding=content.get("decoding"),
                device=content.get("device"),
                versions=dict(content.get("versions") or {}),
                dataset=dict(content.get("dataset") or {}),
                chance_level=content.get("chance"),
                checkpoint_rules=list(content.get("checkpoint_rules") or []),
                cache_repairs=list(content.get("cache_repairs") or []),
                cost=dict(content.get("cost") or {}),
                extra=unknown,
                path=path,
            ),
        )
