"""`bench run`: train a task's head on a frozen upstream, select on dev, score on test, write records.

A run expands into *units*, one per (fold, seed, learning rate) (:func:`bench.prepared.unit_grid`). A unit has a stable
id (a hash of the upstream's identity, task, fold, seed, learning rate, resolved config and data fingerprint), owns one
directory with its checkpoints, log, predictions and `record.json`, and is never redone once that record exists (unless
forced). :class:`TaskRun` runs units with an encoder on a :class:`~bench.prepared.PreparedTask`;
:func:`bench.summary.summarise` turns their records into the task's result.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from bench.cache import PooledCache
from bench.checkpoints import read_checkpoint
from bench.locks import unit_lock
from bench.prepared import FeaturePlan, PreparedTask, RunUnit, sweep_groups, sweep_settings, unit_grid
from bench.record import device_description, now, peak_memory_mb, versions
from bench.sources import CachedSource, OnTheFlySource, WaveformCropSource
from bench.summary import Extraction, UnitKey, summarise
from bench.sweep_memory import SweepMemory, gigabytes, largest_train_batch, split_line
from bench.sweep_memory import estimate as estimate_sweep_memory
from bench.trainer import SampleOrder, SweepHead, TrainOutcome, evaluate, train, train_sweep
from benchcore.atomic import write_json_atomic, write_text_atomic
from benchcore.cache_root import default_cache_root
from benchcore.errors import BenchError
from benchcore.integrity import set_aside, warn
from downstream_tasks import expand_task_names, get_task
from downstream_tasks.base import FeatureSource, SplitScore, Task, TaskData, checkpoint_file
from downstream_tasks.items import write_items
from results.schema import RecordedMetric, ResultRecord, UnitRecord
from upstream.base import Upstream
from upstream.cost import upstream_cost


@dataclass(frozen=True)
class UnitScores:
    """What training and scoring one unit produced: the parts of its :class:`~results.schema.UnitRecord` that are not
    the run's context."""

    metrics: dict[str, dict[str, float]]  # {"test": ..., "dev": ...}
    best_step: int | None
    dev_history: list[dict[str, Any]]
    resumed_from_step: int
    layer_weights: list[float] | None
    timings: dict[str, float]
    peak_memory: dict[str, Any]
    checkpoints: dict[str, Any] = field(default_factory=dict)
    protocol: dict[str, Any] = field(default_factory=dict)


class TaskRun:
    """Runs the units of one prepared task with an encoder: fills the feature cache, feeds the heads (from the cache or
    the encoder in the loop), trains, scores and writes each unit's record."""

    def __init__(self, upstream: Upstream, prepared: PreparedTask, progress: bool) -> None:
        self.upstream = upstream
        self.prepared = prepared
        self.progress = progress
        self._feature_plan: FeaturePlan | None = None
        #: damaged cache shards this run moved aside and encoded again (bench.cache.PooledCache.repairs)
        self.cache_repairs: list[dict] = []

    @classmethod
    def prepare(
        cls,
        upstream: Upstream,
        task: Task,
        data_root: Path,
        output_dir: Path,
        profile: str,
        overrides: Sequence[str],
        cache_root: Path | None,
        progress: bool,
    ) -> TaskRun:
        """Prepare ``task`` for ``upstream`` (read and fingerprint the data, resolve the config) and a runner on it."""
        prepared = PreparedTask(upstream.info(), task, data_root, output_dir, profile, overrides, cache_root, progress)
        return cls(upstream, prepared, progress)

    # ---- features -------------------------------------------------------------------------------
    @property
    def feature_plan(self) -> FeaturePlan:
        """The plan this run follows: the one set by :meth:`fill_cache` or :meth:`follow_plan`, else planned now."""
        if self._feature_plan is None:
            self._feature_plan = self.prepared.plan_features()
        return self._feature_plan

    def follow_plan(self, plan: FeaturePlan) -> None:
        """Use a plan made elsewhere (a suite worker follows its driver's)."""
        self._feature_plan = plan

    def cache_for(self, data: TaskData) -> PooledCache:
        """``data``'s feature cache, whose repairs this run records."""
        return self.prepared.cache_for(data, self.cache_repairs)

    def fill_cache(self) -> Extraction:
        """Plan the features and, with a cache, encode what it lacks; what it took goes into the result record."""
        prepared = self.prepared
        started = time.perf_counter()
        self._feature_plan = prepared.plan_features()
        if self.progress:
            print(f"{prepared.task.title}: {self._feature_plan.reason}")
        encoded, audio_seconds, encoding_seconds = 0, 0.0, 0.0
        if self._feature_plan.mode == "cache":
            for data in prepared.data.values():
                cache = self.cache_for(data)
                encoded += cache.fill(prepared.cached_utterances(data), lambda: self.upstream, progress=self.progress)
                audio_seconds += cache.encoded_audio_seconds
                encoding_seconds += cache.encoding_seconds
        return Extraction(
            round(time.perf_counter() - started, 3),
            encoded,
            peak_memory_mb(self.upstream.device),
            audio_seconds=audio_seconds,
            encoding_seconds=encoding_seconds,
            device=device_description(self.upstream.device),
            dtype=self.upstream.forward_dtype_name,
        )

    def source_for(self, data: TaskData) -> FeatureSource:
        prepared = self.prepared
        gain_db, frames = prepared.loader_gain_db(data), prepared.task.head_input == "frames"
        if self.feature_plan.mode == "in_loop":
            return OnTheFlySource(self.upstream, data, gain_db, prepared.layers, prepared.crop_mode)
        cache = self.cache_for(data)
        if prepared.cropped_in_loop(data):
            return WaveformCropSource(
                self.upstream,
                data,
                cache,
                gain_db,
                prepared.layers,
                frames,
                {u.uid for u in prepared.cached_utterances(data)},
            )
        return CachedSource({split: cache.load(utterances) for split, utterances in data.splits.items()}, frames=frames)

    # ---- units ----------------------------------------------------------------------------------
    def run_units(self, units: Sequence[RunUnit], force: bool = False) -> dict[RunUnit, UnitRecord]:
        """Every unit's record, training sweeps side by side where :func:`bench.prepared.sweep_groups` says so."""
        records: dict[RunUnit, UnitRecord] = {}
        for group in sweep_groups(self.prepared, self.feature_plan.needs_encoder, units):
            if len(group) == 1:
                records[group[0]] = self.run_unit(group[0], force)
            else:
                records.update(self.run_sweep(group, force))
        return records

    def run_unit(self, unit: RunUnit, force: bool = False) -> UnitRecord:
        # one process at a time decides and trains: one that waited finds the record and reuses it, as a rerun does
        with unit_lock(self.prepared.unit_dir(unit), self.progress):
            return self._run_unit(unit, force)

    def run_sweep(self, units: Sequence[RunUnit], force: bool = False) -> dict[RunUnit, UnitRecord]:
        """Train units of one (fold, seed) that differ only in learning rate side by side, one encoder forward per
        step (:func:`bench.trainer.train_sweep`); each writes its own checkpoints, predictions and record, as
        :meth:`run_unit` would. Units already finished are reused; a unit whose loss stays NaN fails after the others'
        records are written."""
        prepared = self.prepared
        with contextlib.ExitStack() as locks:
            for unit in sorted(units, key=lambda unit: str(prepared.unit_dir(unit))):
                locks.enter_context(unit_lock(prepared.unit_dir(unit), self.progress))
            records: dict[RunUnit, UnitRecord] = {}
            pending = []
            for unit in units:
                previous = None if force else _read_unit_record(prepared.unit_dir(unit) / "record.json")
                if previous is None:
                    pending.append(unit)
                else:  # finished, or rescored from its checkpoints with other decoding settings: nothing to train
                    records[unit] = self._run_unit(unit, force=False)
            if len(pending) == 1:
                records[pending[0]] = self._run_unit(pending[0], force)
            elif pending:
                records.update(self._train_sweep(pending, force))
            return records

    def _train_sweep(self, units: list[RunUnit], force: bool) -> dict[RunUnit, UnitRecord]:
        """Train ``units`` side by side, in groups when the memory estimate (:mod:`bench.sweep_memory`) or
        ``sweep.max_heads`` says not all of them fit at once."""
        prepared = self.prepared
        data = prepared.data[units[0].fold]
        source = self.source_for(data)
        _, max_heads = sweep_settings(prepared.config)
        memory = self._sweep_memory(units[0], data, source)
        sizes = memory.group_sizes(len(units), max_heads)
        if len(sizes) > 1:
            warn(split_line(prepared.task.title, memory, len(units), sizes, max_heads))
        records: dict[RunUnit, UnitRecord] = {}
        errors: list[BenchError] = []
        start = 0
        for size in sizes:
            try:
                records.update(self._train_together(units[start : start + size], force, data, source, memory))
            except BenchError as error:  # a head whose loss stayed NaN: the next group still trains
                errors.append(error)
            start += size
        if errors:
            raise errors[0]
        return records

    def _sweep_memory(self, unit: RunUnit, data: TaskData, source: FeatureSource) -> SweepMemory:
        """The memory estimate of a sweep, measured on its first training batch (one extra read from ``source``)."""
        prepared = self.prepared
        task, config = prepared.task, prepared.config
        generator = torch.Generator().manual_seed(unit.seed)
        indices = SampleOrder.for_task(task, data, config, generator).next_batch()
        features = source.batch("train", indices, generator)
        labels = task.collate_labels([data.splits["train"][i] for i in indices])
        frames = task.head_input == "frames"
        return estimate_sweep_memory(
            lambda: self._build_model(unit, data),
            features,
            lambda outputs: task.loss(outputs, labels, data),
            config.optimizer,
            largest_train_batch(task, data, config, prepared.info.stride_samples, frames),
            encoder_on_head_device=self.upstream.device.type == "cpu",
            generator=generator,
        )

    def _train_together(
        self, units: list[RunUnit], force: bool, data: TaskData, source: FeatureSource, memory: SweepMemory
    ) -> dict[RunUnit, UnitRecord]:
        if len(units) == 1:
            return {units[0]: self._run_unit(units[0], force)}
        prepared = self.prepared
        task, config = prepared.task, prepared.config
        rates = [unit.learning_rate for unit in units]
        with contextlib.ExitStack() as logs:
            heads = []
            for unit in units:
                run_dir = self._start_unit_dir(unit, force)
                log = logs.enter_context(_unit_log(unit, run_dir))
                self._log_unit(unit, log)
                log.info(
                    "trained beside lr %s, one encoder forward per step; memory estimate %s peak for %d heads "
                    "(%s free on the %s)",
                    ", ".join(f"{lr:g}" for lr in rates),
                    gigabytes(memory.peak_bytes(len(units))),
                    len(units),
                    "?" if memory.free_bytes is None else gigabytes(memory.free_bytes),
                    memory.device,
                )
                model = self._build_model(unit, data)
                heads.append(SweepHead(model, unit.learning_rate, unit.seed, run_dir, log))
            outcomes = train_sweep(task, data, source, heads, config, progress=self.progress)
            train_memory = peak_memory_mb(self.upstream.device)
            records: dict[RunUnit, UnitRecord] = {}
            errors = []
            for unit, head, outcome in zip(units, heads, outcomes):
                if isinstance(outcome, BenchError):
                    errors.append(outcome)
                    continue
                kept = self._kept_checkpoints(head.run_dir)
                if kept is None:  # a kept checkpoint is damaged: this unit trains again, alone, from step 0
                    warn(f"{head.run_dir}: a kept checkpoint was unreadable; training this unit again from step 0")
                    (head.run_dir / "checkpoint.pt").unlink(missing_ok=True)
                    records[unit] = self._run_unit(unit, force=False)
                    continue
                scores = self._score_trained(data, source, head.run_dir, head.log, head.model, outcome, kept)
                scores = dataclasses.replace(scores, peak_memory={**scores.peak_memory, "train": train_memory})
                others = [lr for lr in rates if lr != unit.learning_rate]
                record = dataclasses.replace(self._unit_record(unit, scores, rescored=False), shared_forward=others)
                write_json_atomic(head.run_dir / "record.json", record.to_dict())
                records[unit] = record
            if errors:
                raise errors[0]
            return records

    def _start_unit_dir(self, unit: RunUnit, force: bool) -> Path:
        """The unit's directory, with its resolved config; ``force`` forgets its training state first."""
        run_dir = self.prepared.unit_dir(unit)
        if force and run_dir.exists():
            remove_training_state(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(run_dir / "config.yaml", OmegaConf.to_yaml(self.prepared.config))
        return run_dir

    def _run_unit(self, unit: RunUnit, force: bool) -> UnitRecord:
        run_dir = self.prepared.unit_dir(unit)
        record_path = run_dir / "record.json"
        previous = None if force else _read_unit_record(record_path)
        if previous is not None and previous.decoding == self.prepared.task.decoding_signature():
            return previous
        run_dir = self._start_unit_dir(unit, force)
        with _unit_log(unit, run_dir) as log:
            scores = self._train_and_score(unit, run_dir, log)
            if previous is not None:  # rescored with other decoding settings: the training time is the original one
                scores = dataclasses.replace(scores, timings={**scores.timings, "train_s": previous.timings["train_s"]})
            record = self._unit_record(unit, scores, rescored=previous is not None)
            if previous is not None and previous.shared_forward:
                record = dataclasses.replace(record, shared_forward=previous.shared_forward)
            write_json_atomic(record_path, record.to_dict())
            return record

    def _log_unit(self, unit: RunUnit, log: logging.Logger) -> None:
        log.info(
            "unit %s: task %s fold %s seed %d lr %g upstream %s",
            unit.unit_id,
            self.prepared.task.name,
            unit.fold,
            unit.seed,
            unit.learning_rate,
            self.prepared.info.name,
        )

    def _train_and_score(self, unit: RunUnit, run_dir: Path, log: logging.Logger) -> UnitScores:
        prepared = self.prepared
        data = prepared.data[unit.fold]
        source = self.source_for(data)
        self._log_unit(unit, log)
        if prepared.task.trainable:
            return self._train(unit, data, source, run_dir, log)
        return self._score_untrained(data, source, run_dir, log)

    def _unit_record(self, unit: RunUnit, scores: UnitScores, rescored: bool) -> UnitRecord:
        prepared, task = self.prepared, self.prepared.task
        data = prepared.data[unit.fold]
        return UnitRecord(
            created=now(),
            unit_id=unit.unit_id,
            task=task.name,
            fold=unit.fold,
            seed=unit.seed,
            learning_rate=unit.learning_rate,
            upstream=prepared.info.as_dict(),
            metric=RecordedMetric(task.metric, task.higher_is_better),
            metrics=scores.metrics,
            best_step=scores.best_step,
            dev_history=scores.dev_history,
            resumed_from_step=scores.resumed_from_step,
            layer_weights=scores.layer_weights,
            timings=scores.timings,
            peak_memory=scores.peak_memory,
            decoding=task.decoding_signature(),
            layers=prepared.layers,
            feature_mode=self.feature_plan.mode,
            splits={split: len(utterances) for split, utterances in data.splits.items()},
            config=OmegaConf.to_container(prepared.config, resolve=True),
            profile=prepared.profile,
            device=device_description(self.upstream.device),
            versions=versions(),
            dataset=prepared.dataset,
            checkpoints=scores.checkpoints,
            rescored=rescored,
            crop_mode=prepared.crop_mode if any(u.random_crop_seconds for u in data.all_utterances()) else None,
            protocol=scores.protocol,
        )

    def _write_predictions(self, run_dir: Path, split: str, score: SplitScore) -> None:
        """``<split>_predictions.tsv`` and, where the task keeps them, ``<split>_items.tsv``
        (:mod:`downstream_tasks.items`)."""
        lines = ["uid\tprediction\ttruth", *score.lines]
        write_text_atomic(run_dir / f"{split}_predictions.tsv", "\n".join(lines) + "\n")
        if score.items is not None:
            write_items(run_dir / f"{split}_items.tsv", score.items)

    def _train(
        self, unit: RunUnit, data: TaskData, source: FeatureSource, run_dir: Path, log: logging.Logger
    ) -> UnitScores:
        """Train the head (resumable), then score it (:meth:`_score_trained`)."""
        prepared = self.prepared
        task, config = prepared.task, prepared.config
        for attempt in range(2):
            model = self._build_model(unit, data)
            outcome = train(
                task,
                data,
                source,
                model,
                config,
                unit.learning_rate,
                unit.seed,
                run_dir,
                progress=self.progress,
                log=log,
            )
            kept = self._kept_checkpoints(run_dir)
            if kept is not None:
                break
            if attempt == 1:
                raise BenchError(
                    f"{run_dir}: the checkpoints training kept cannot be read back even after training "
                    "again; check the output filesystem (--output)"
                )
            # a kept checkpoint is damaged: the resume state alone cannot rebuild it, so the unit trains again
            warn(f"{run_dir}: a kept checkpoint was unreadable; training this unit again from step 0")
            (run_dir / "checkpoint.pt").unlink(missing_ok=True)
        return self._score_trained(data, source, run_dir, log, model, outcome, kept)

    def _build_model(self, unit: RunUnit, data: TaskData) -> torch.nn.Module:
        """The unit's featurizer + head, initialised from its seed (torch's global generator is seeded here, so the
        head's dropout then draws what it draws in any run of this unit)."""
        prepared = self.prepared
        torch.manual_seed(unit.seed)
        model = prepared.task.build_model(prepared.num_layers, prepared.info.hidden_size, data, prepared.config)
        _check_probe_layer(prepared, model)
        return model

    def _kept_checkpoints(self, run_dir: Path) -> dict[str, dict[str, Any]] | None:
        """Each checkpoint rule's kept checkpoint; None when one cannot be read (moved aside by read_checkpoint)."""
        rules = self.prepared.task.checkpoint_rules(self.prepared.config)
        kept = {
            rule.name: read_checkpoint(run_dir / checkpoint_file(rules, rule), f"the {rule.name} checkpoint")
            for rule in rules
        }
        return kept if all(state is not None for state in kept.values()) else None  # type: ignore[return-value]

    def _score_trained(
        self,
        data: TaskData,
        source: FeatureSource,
        run_dir: Path,
        log: logging.Logger,
        model: torch.nn.Module,
        outcome: TrainOutcome,
        kept: dict[str, dict[str, Any]],
    ) -> UnitScores:
        """Score test with each checkpoint rule's checkpoint (the first rule's files go in the unit directory, another
        rule's in `selected_by_<rule>/`) and dev with the first dev rule's."""
        prepared = self.prepared
        task, config = prepared.task, prepared.config
        rules = task.checkpoint_rules(config)
        train_memory = peak_memory_mb(self.upstream.device)
        started = time.perf_counter()
        dev_rule = next((rule for rule in rules if rule.split == "dev"), None)
        batch_size = int(config.batch_size)
        test_by_rule: dict[str, dict[str, float]] = {}
        scores_by_rule: dict[str, tuple[Path, SplitScore]] = {}
        dev_metrics: dict[str, float] = {}
        layer_weights: list[float] = []
        for rule in rules:
            model.load_state_dict(kept[rule.name]["model"])
            output_dir = run_dir if rule == rules[0] else run_dir / f"selected_by_{rule.name}"
            output_dir.mkdir(exist_ok=True)
            if rule == rules[0]:
                layer_weights = list(model.featurizer.layer_weights().values())
            if rule == dev_rule:
                dev = evaluate(model, task, data, source, "dev", batch_size, output_dir)
                self._write_predictions(output_dir, "dev", dev)
                dev_metrics = dev.metrics
            test = evaluate(model, task, data, source, "test", batch_size, output_dir)
            test_by_rule[rule.name] = test.metrics
            scores_by_rule[rule.name] = (output_dir, test)
        test_metrics = task.report_test(test_by_rule, outcome.selected)
        for name, (output_dir, test) in scores_by_rule.items():
            if name == rules[0].name and test.items is not None:
                # the unit's own items recompute what its record reports from this checkpoint; a value the task takes
                # from another rule's checkpoint (SD's der_dev_selected) is itemised in that rule's folder
                test.items.statistics = {
                    metric: statistic
                    for metric, statistic in test.items.statistics.items()
                    if test_metrics.get(metric) == test.metrics.get(metric)
                }
            self._write_predictions(output_dir, "test", test)
        eval_seconds = time.perf_counter() - started
        log.info("test %s (selected: %s)", test_metrics, outcome.selected)
        return UnitScores(
            metrics={"test": test_metrics, "dev": dev_metrics},
            best_step=outcome.best_step,
            dev_history=outcome.dev_history,
            checkpoints={
                name: {**selection, "test": test_by_rule[name]} for name, selection in outcome.selected.items()
            },
            resumed_from_step=outcome.resumed_from_step,
            layer_weights=layer_weights,
            timings={"train_s": round(outcome.train_seconds, 3), "eval_s": round(eval_seconds, 3)},
            peak_memory={"train": train_memory, "eval": peak_memory_mb(self.upstream.device)},
        )

    def _score_untrained(self, data: TaskData, source: FeatureSource, run_dir: Path, log: logging.Logger) -> UnitScores:
        """Protocols without a head (QbE): the task scores dev and test itself."""
        started = time.perf_counter()
        outcome = self.prepared.task.score_without_training(data, source, self.prepared.config, run_dir, self.progress)
        self._write_predictions(run_dir, "test", outcome.test)
        log.info("dev %s test %s", outcome.dev, outcome.test.metrics)
        extra = dict(outcome.extra)
        return UnitScores(
            metrics={"test": outcome.test.metrics, "dev": outcome.dev},
            best_step=None,
            dev_history=[],
            resumed_from_step=0,
            layer_weights=extra.pop("layer_weights", None),
            protocol=extra,
            timings={"train_s": 0.0, "eval_s": round(time.perf_counter() - started, 3)},
            peak_memory={"eval": peak_memory_mb(self.upstream.device)},
        )


@contextlib.contextmanager
def _unit_log(unit: RunUnit, run_dir: Path) -> Iterator[logging.Logger]:
    """The unit's logger, writing to its `train.log` for the ``with`` block."""
    log = logging.getLogger(f"bench.unit.{unit.unit_id}")
    log.setLevel(logging.INFO)
    handler = logging.FileHandler(run_dir / "train.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    try:
        yield log
    finally:
        log.removeHandler(handler)
        handler.close()


def remove_training_state(run_dir: Path) -> None:
    """Forget a unit's record, resume state and kept checkpoints (`--force`): it trains again from scratch."""
    for path in [run_dir / "record.json", run_dir / "checkpoint.pt", *run_dir.glob("best*.pt")]:
        path.unlink(missing_ok=True)


def _read_unit_record(path: Path) -> UnitRecord | None:
    """A unit's `record.json`, checked against the schema (a foreign or malformed record is a one-line error); None when
    there is none or it is not JSON at all (damaged storage: moved aside, and the unit runs again)."""
    content = read_json_or_set_aside(path)
    return None if content is None else UnitRecord.from_dict(content, str(path))


def read_json_or_set_aside(path: Path) -> Any | None:
    """The JSON in ``path``; None when the file is absent, or unreadable as JSON (records are written atomically, so
    that is damage: the file is moved aside to ``<name>.damaged`` with one warning line and its unit or summary is
    redone)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        aside = set_aside(path)
        warn(f"{path} is not readable JSON ({type(error).__name__}); moved aside to {aside.name}; it is written again")
        return None


def current_result(prepared: PreparedTask, units: Sequence[RunUnit]) -> ResultRecord | None:
    """The existing `result.json` when it summarises exactly these units with the current decoding, else None."""
    result_path = prepared.directory / "result.json"
    content = read_json_or_set_aside(result_path)
    if content is None:
        return None
    previous = ResultRecord.from_dict(content, result_path)
    if (
        sorted(u["unit_id"] for u in previous.units) == sorted(u.unit_id for u in units)
        and previous.decoding == prepared.task.decoding_signature()
    ):
        return previous
    return None


def current_unit_record(prepared: PreparedTask, unit: RunUnit) -> UnitRecord | None:
    """The unit's `record.json` when it exists and matches the current decoding (what `run_unit` would return as is)."""
    record = _read_unit_record(prepared.unit_dir(unit) / "record.json")
    if record is None:
        return None
    return record if record.decoding == prepared.task.decoding_signature() else None


def _check_probe_layer(prepared: PreparedTask, model: torch.nn.Module) -> None:
    """A pooled probe (``featurizer.layer=L``) must train on layer L alone: a task whose model ignores the setting
    would silently train the weighted sum under a probe's name. (Frame tasks keep only layer L in their features.)"""
    if prepared.probe_layer is None or prepared.task.head_input == "frames":
        return
    selected = getattr(getattr(model, "featurizer", None), "layer_selections", None)
    if selected != [prepared.probe_layer]:
        raise BenchError(
            f"{prepared.task.title}: featurizer.layer={prepared.probe_layer} asks for a per-layer probe, but the "
            f"task's model reads hidden states {selected}; its build_model must pass probe_layer_selection(config) to "
            "its featurizer (downstream_tasks.base)"
        )


def run_task(
    upstream: Upstream,
    task_name: str,
    data_root: Path,
    output_dir: Path,
    seeds: list[int],
    lr_sweep: bool = False,
    profile: str = "superb",
    overrides: Sequence[str] = (),
    force: bool = False,
    cache_root: Path | None = None,
    progress: bool = True,
) -> ResultRecord:
    """Run every unit of one task and write `<output>/<task>/<upstream>/result.json`; return that record."""
    run = TaskRun.prepare(
        upstream, get_task(task_name), data_root, output_dir, profile, overrides, cache_root, progress
    )
    prepared = run.prepared
    units, seeds, lrs = unit_grid(prepared, seeds, lr_sweep)
    previous = None if force else current_result(prepared, units)
    if previous is not None:
        return previous
    extraction = run.fill_cache()
    records: dict[UnitKey, UnitRecord] = {
        (unit.fold, unit.seed, unit.learning_rate): record for unit, record in run.run_units(units, force).items()
    }
    result = summarise(
        prepared,
        records,
        seeds,
        lrs,
        device=device_description(upstream.device),
        extraction=extraction,
        cache_repairs=run.cache_repairs,
        cost=upstream_cost(upstream, prepared.cache_root or default_cache_root()),
    )
    result_path = prepared.directory / "result.json"
    write_json_atomic(result_path, result.to_dict())
    return dataclasses.replace(result, path=result_path)


def expand_tasks(task: str) -> list[str]:
    """`--task`: `all` is the ten SUPERB tasks; a benchmark name (`fleurs`) its tasks; else comma-separated names."""
    return expand_task_names(task)


def chance_level(task: Task, data: TaskData) -> float:
    """The audio-blind value of the task's metric on ``data``'s test split (:meth:`Task.chance`)."""
    return task.chance_level(data).metrics.get(task.metric, math.nan)
