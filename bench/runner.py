"""`bench run`: train a task's head on a frozen upstream, select on dev, score on test, write records.

A run expands into *units*, one per (fold, seed, learning rate). A unit has a stable id (a hash of the upstream's
identity, task, fold, seed, learning rate, resolved config and data fingerprint), owns one directory with its
checkpoints, log, predictions and `record.json`, and is never redone once that record exists (unless forced).
The learning rate is selected on the dev metric averaged over folds and seeds, as SUPERB tuned it per task.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from bench.cache import PooledCache, PooledCacheKey, audio_effects, loader_gain_db
from bench.checkpoints import read_checkpoint
from bench.config import load_task_config
from bench.crops import BLOCK_MEAN, WAVEFORM, crop_mode, may_be_cropped
from bench.dataset_check import refuse_or_drop_missing, size_warnings, split_sizes
from bench.locks import unit_lock
from bench.record import dataset_fingerprint, device_description, now, peak_memory_mb, versions
from bench.sources import CachedSource, OnTheFlySource, WaveformCropSource
from bench.trainer import evaluate, train
from benchcore.atomic import write_json_atomic, write_text_atomic
from benchcore.cache_root import using_cache_root
from benchcore.errors import BenchError
from benchcore.integrity import set_aside, warn
from benchcore.progress import progress_bars
from downstream_tasks import expand_task_names, get_task
from downstream_tasks.base import FeatureSource, Task, TaskData, Utterance, checkpoint_file
from downstream_tasks.bucketing import num_samples
from downstream_tasks.chance import ChanceLevel
from downstream_tasks.chance import combine as combine_chance
from results.schema import RecordedMetric, ResultRecord, UnitRecord
from upstream.base import Upstream


@dataclass(frozen=True)
class RunUnit:
    """One idempotent job: what a later executor fans out over machines."""

    upstream: str
    task: str
    fold: str | None
    seed: int
    learning_rate: float
    config_digest: str
    upstream_digest: str
    data_digest: str

    @property
    def unit_id(self) -> str:
        payload = json.dumps(self.__dict__, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class FeaturePlan:
    """How a task run feeds its heads: ``mode`` is "cache" (features computed once, heads train from the cache) or
    "in_loop" (the encoder runs on every batch, as s3prl does); ``reason`` is the line printed for the user.
    ``crops_in_loop`` counts the utterances whose random crops the encoder encodes during training although the rest
    comes from the cache (``data.crop_mode=waveform``)."""

    mode: str
    reason: str
    crops_in_loop: int = 0

    def __post_init__(self) -> None:
        if self.mode not in ("cache", "in_loop"):
            raise ValueError(f"feature mode {self.mode!r}: 'cache' or 'in_loop'")

    @property
    def needs_encoder(self) -> bool:
        """Whether the units train with the encoder loaded (on the GPU in `bench suite`), not from the cache alone."""
        return self.mode == "in_loop" or self.crops_in_loop > 0


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")[-80:]


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


class TaskRun:
    """Everything one `bench run` of one task needs, prepared once and shared by its units."""

    def __init__(
        self,
        upstream: Upstream,
        task: Task,
        data_root: Path,
        output_dir: Path,
        profile: str,
        overrides: Sequence[str],
        cache_root: Path | None,
        progress: bool,
    ) -> None:
        self.upstream = upstream
        self.info = upstream.info()
        self.task = task
        self.data_root = data_root
        self.config = load_task_config(task.name, profile, overrides)
        self.profile = profile
        self.cache_root = cache_root
        self.progress = progress
        self.directory = output_dir / task.name / slug(upstream.name)
        self.folds = list(task.folds)
        task.prepare(self.info)
        # caches a reader makes (ASV's trimmed audio) follow --cache-dir too, and its progress bars --quiet
        with using_cache_root(cache_root), progress_bars(progress):
            loaded = {fold: task.load(data_root, fold, self.config) for fold in self.folds}
        self.data, missing = refuse_or_drop_missing(task, loaded, data_root, bool(self.config.data.allow_missing))
        files = {(u.uid, u.path.stat().st_size) for data in self.data.values() for u in data.all_utterances()}
        metadata = [path for data in self.data.values() for path in data.metadata_files]
        self.dataset = dataset_fingerprint(data_root, sorted(files), metadata)
        self.dataset["splits"] = split_sizes(task, self.data)
        self.dataset["size_warnings"] = size_warnings(task, self.dataset["splits"], data_root)
        if missing is not None:
            self.dataset["missing"] = missing.as_dict()
        for warning in self.dataset["size_warnings"]:
            logging.getLogger(__name__).warning("%s", warning)
        self.chance = combine_chance([task.chance_level(data) for data in self.data.values()])
        config_for_id = OmegaConf.to_container(self.config, resolve=True)
        config_for_id.pop("lr_sweep", None)
        config_for_id.pop("decoder", None)  # decoding settings rescore a trained unit, they do not define it
        config_for_id.pop("max_nonfinite_updates", None)  # a guard: a unit it does not stop trains the same
        self.config_digest = _digest(config_for_id)
        self.upstream_digest = _digest([self.info.source, self.info.weights_hash])
        self.timings: dict[str, float] = {}
        #: peak memory of the cache fill (``fill_cache``, or the suite's extraction jobs); None before it
        self.extract_memory: dict[str, float] | None = None
        self._feature_plan: FeaturePlan | None = None
        #: damaged cache shards this run moved aside and encoded again (bench.cache.PooledCache.repairs)
        self.cache_repairs: list[dict] = []

    # ---- features -------------------------------------------------------------------------------
    @property
    def layers(self) -> list[int] | None:
        """The hidden states a frame task keeps (config `cache.layers`, default all); pooled tasks keep all."""
        if self.task.head_input != "frames" or self.config.cache.get("layers") is None:
            return None
        return [int(layer) for layer in self.config.cache.layers]

    @property
    def num_layers(self) -> int:
        return len(self.layers) if self.layers is not None else self.info.num_hidden_states

    @property
    def crop_mode(self) -> str:
        """How the recipe's random crops are made (``data.crop_mode``, bench.crops): ``waveform`` (the recipe) or an
        opt-in approximation (``block_mean``, ``frames``)."""
        return crop_mode(self.config, self.task.name, self.task.head_input)

    @property
    def cache_block_seconds(self) -> float | None:
        """The cache's time blocks: only the block-mean approximation averages windows of them; otherwise the cache
        holds one mean per utterance."""
        if self.task.head_input == "frames" or self.crop_mode != BLOCK_MEAN or self.config.cache.block_seconds is None:
            return None
        return float(self.config.cache.block_seconds)

    def cropped_in_loop(self, data: TaskData) -> list[Utterance]:
        """The utterances whose reads are crops encoded in the loop (``waveform`` mode: marked, and possibly longer
        than their crop), in listing order; none in the approximations."""
        if self.crop_mode != WAVEFORM:
            return []
        seen: dict[str, Utterance] = {}
        for utterances in data.splits.values():
            for utterance in utterances:
                if may_be_cropped(utterance):
                    seen.setdefault(utterance.uid, utterance)
        return list(seen.values())

    def cached_utterances(self, data: TaskData) -> list[Utterance]:
        """What the cache holds for ``data``: every utterance except those only ever read as crops encoded in the loop
        (an utterance read whole in some split is kept)."""
        read_whole = {
            u.uid
            for utterances in data.splits.values()
            for u in utterances
            if not (self.crop_mode == WAVEFORM and may_be_cropped(u))
        }
        return [u for u in data.all_utterances() if u.uid in read_whole]

    def cache_for(self, data: TaskData) -> PooledCache:
        frames = self.task.head_input == "frames"
        effects = audio_effects(data.all_utterances())
        key = PooledCacheKey(
            self.info.name,
            self.info.source,
            self.info.weights_hash,
            data.corpus,
            str(data.corpus_root.resolve()),
            self.loader_gain_db(data),
            self.cache_block_seconds,
            str(self.config.cache.dtype),
            layout="frames" if frames else "pooled",
            layers=None if self.layers is None else tuple(self.layers),
            audio_effects=effects,
        )
        return PooledCache(key, self.cache_root, self.cache_repairs)

    def loader_gain_db(self, data: TaskData) -> float:
        """``data.gain_db``, or 0 where the utterances' sox chain already applied it
        (:func:`bench.cache.loader_gain_db`)."""
        return loader_gain_db(float(self.config.data.gain_db), audio_effects(data.all_utterances()))

    @property
    def feature_plan(self) -> FeaturePlan:
        """The plan this run follows: the one set by :meth:`fill_cache` or :meth:`follow_plan`, else planned now."""
        if self._feature_plan is None:
            self._feature_plan = self.plan_features()
        return self._feature_plan

    def follow_plan(self, plan: FeaturePlan) -> None:
        """Use a plan made elsewhere (a suite worker follows its driver's)."""
        self._feature_plan = plan

    def plan_features(self) -> FeaturePlan:
        """Pooled tasks always cache. Frame tasks cache frames when the estimate fits `cache.max_gb`, else run the
        encoder in the loop as s3prl does. With the cache, the recipe's random crops (``data.crop_mode=waveform``) are
        encoded in the loop, and what is only ever cropped is not cached."""
        plan = self._whole_utterance_plan()
        cropped = {u.uid: u for data in self.data.values() for u in self.cropped_in_loop(data)}
        seconds = "/".join(f"{length:g}" for length in sorted({u.random_crop_seconds for u in cropped.values()}))
        if plan.mode == "in_loop":
            crops = (
                f"; random {seconds} s crops of the waveform, as the recipe (data.crop_mode=waveform)"
                if cropped
                else ""
            )
            return FeaturePlan(plan.mode, plan.reason + crops)
        if not cropped:
            if self.crop_mode != WAVEFORM and any(
                u.random_crop_seconds for data in self.data.values() for u in data.all_utterances()
            ):
                return FeaturePlan(
                    plan.mode,
                    f"{plan.reason}; random crops approximated (data.crop_mode="
                    f"{self.crop_mode}: the encoder saw the whole utterance)",
                )
            return plan
        return FeaturePlan(
            plan.mode,
            f"cache + random {seconds} s crops of {len(cropped)} utterances encoded in the "
            f"loop, as the recipe (data.crop_mode=waveform); {plan.reason}",
            len(cropped),
        )

    def _whole_utterance_plan(self) -> FeaturePlan:
        if self.task.head_input != "frames":
            return FeaturePlan(
                "cache", "the head is linear up to mean pooling: per-layer time-means are an exact cache"
            )
        samples = sum(num_samples(u) for data in self.data.values() for u in self.cached_utterances(data))
        frames = samples / self.info.stride_samples
        bytes_per_value = 2 if str(self.config.cache.dtype) == "fp16" else 4
        estimate_gb = frames * self.num_layers * self.info.hidden_size * bytes_per_value / 1e9
        budget = float(self.config.cache.max_gb)
        if estimate_gb <= budget:
            return FeaturePlan(
                "cache",
                f"frame cache of {self.num_layers} layers in {self.config.cache.dtype}: "
                f"{estimate_gb:.2f} GB <= cache.max_gb={budget:g}",
            )
        return FeaturePlan(
            "in_loop",
            f"a frame cache would take {estimate_gb:.1f} GB > cache.max_gb={budget:g}; "
            "running the encoder in the loop (raise cache.max_gb or set cache.layers to cache)",
        )

    def fill_cache(self) -> int:
        started = time.perf_counter()
        self._feature_plan = self.plan_features()
        if self.progress:
            print(f"{self.task.title}: {self._feature_plan.reason}")
        encoded = 0
        if self._feature_plan.mode == "cache":
            for data in self.data.values():
                encoded += self.cache_for(data).fill(
                    self.cached_utterances(data), lambda: self.upstream, progress=self.progress
                )
        self.timings["extract_s"] = round(time.perf_counter() - started, 3)
        self.timings["extract_encoded_utterances"] = encoded
        self.extract_memory = peak_memory_mb(self.upstream.device)
        return encoded

    def source_for(self, data: TaskData) -> FeatureSource:
        gain_db, frames = self.loader_gain_db(data), self.task.head_input == "frames"
        if self.feature_plan.mode == "in_loop":
            return OnTheFlySource(self.upstream, data, gain_db, self.layers, self.crop_mode)
        cache = self.cache_for(data)
        if self.cropped_in_loop(data):
            return WaveformCropSource(
                self.upstream, data, cache, gain_db, self.layers, frames, {u.uid for u in self.cached_utterances(data)}
            )
        return CachedSource({split: cache.load(utterances) for split, utterances in data.splits.items()}, frames=frames)

    # ---- units ----------------------------------------------------------------------------------
    def unit(self, fold: str | None, seed: int, lr: float) -> RunUnit:
        return RunUnit(
            self.info.name,
            self.task.name,
            fold,
            seed,
            float(lr),
            self.config_digest,
            self.upstream_digest,
            _digest([self.dataset["files_sha256"], self.dataset["metadata_sha256"]]),
        )

    def unit_dir(self, unit: RunUnit) -> Path:
        parts = [unit.fold or "all", f"seed{unit.seed}", f"lr{unit.learning_rate:g}", unit.unit_id]
        return self.directory / "units" / "-".join(parts)

    def run_unit(self, unit: RunUnit, force: bool = False) -> dict:
        # one process at a time decides and trains: one that waited finds the record and reuses it, as a rerun does
        with unit_lock(self.unit_dir(unit), self.progress):
            return self._run_unit(unit, force)

    def _run_unit(self, unit: RunUnit, force: bool) -> dict:
        run_dir = self.unit_dir(unit)
        record_path = run_dir / "record.json"
        previous = None if force else _read_unit_record(record_path)
        if previous is not None and previous.get("decoding") == self.task.decoding_signature():
            return previous
        if force and run_dir.exists():
            remove_training_state(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        write_text_atomic(run_dir / "config.yaml", OmegaConf.to_yaml(self.config))
        log = logging.getLogger(f"bench.unit.{unit.unit_id}")
        log.setLevel(logging.INFO)
        handler = logging.FileHandler(run_dir / "train.log")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        try:
            record = self._train_and_score(unit, run_dir, log)
            if previous is not None:  # rescored with other decoding settings: the training time is the original one
                record["timings"]["train_s"] = previous["timings"]["train_s"]
                record["rescored"] = True
                write_json_atomic(record_path, record)
            return record
        finally:
            log.removeHandler(handler)
            handler.close()

    def _train_and_score(self, unit: RunUnit, run_dir: Path, log: logging.Logger) -> dict:
        data = self.data[unit.fold]
        source = self.source_for(data)
        log.info(
            "unit %s: task %s fold %s seed %d lr %g upstream %s",
            unit.unit_id,
            self.task.name,
            unit.fold,
            unit.seed,
            unit.learning_rate,
            self.info.name,
        )
        if self.task.trainable:
            scores = self._train(unit, data, source, run_dir, log)
        else:
            scores = self._score_untrained(data, source, run_dir, log)
        record = UnitRecord(
            created=now(),
            unit_id=unit.unit_id,
            task=self.task.name,
            fold=unit.fold,
            seed=unit.seed,
            learning_rate=unit.learning_rate,
            upstream=self.info.as_dict(),
            metric=RecordedMetric(self.task.metric, self.task.higher_is_better),
            **scores,
            decoding=self.task.decoding_signature(),
            layers=self.layers,
            feature_mode=self.feature_plan.mode,
            crop_mode=self.crop_mode if any(u.random_crop_seconds for u in data.all_utterances()) else None,
            splits={split: len(utterances) for split, utterances in data.splits.items()},
            config=OmegaConf.to_container(self.config, resolve=True),
            profile=self.profile,
            device=device_description(self.upstream.device),
            versions=versions(),
            dataset=self.dataset,
        ).to_dict()
        write_json_atomic(run_dir / "record.json", record)
        return record

    def _write_predictions(self, run_dir: Path, split: str, lines: list[str]) -> None:
        write_text_atomic(run_dir / f"{split}_predictions.tsv", "\n".join(["uid\tprediction\ttruth", *lines]) + "\n")

    def _train(self, unit: RunUnit, data: TaskData, source: FeatureSource, run_dir: Path, log: logging.Logger) -> dict:
        """Train the head (resumable), then score test with each checkpoint rule's checkpoint (the first rule's files go
        in the unit directory, another rule's in `selected_by_<rule>/`) and dev with the first dev rule's."""
        task = self.task
        rules = task.checkpoint_rules(self.config)
        for attempt in range(2):
            torch.manual_seed(unit.seed)
            model = task.build_model(self.num_layers, self.info.hidden_size, data, self.config)
            outcome = train(
                task,
                data,
                source,
                model,
                self.config,
                unit.learning_rate,
                unit.seed,
                run_dir,
                progress=self.progress,
                log=log,
            )
            kept = {
                rule.name: read_checkpoint(run_dir / checkpoint_file(rules, rule), f"the {rule.name} checkpoint")
                for rule in rules
            }
            if all(state is not None for state in kept.values()):
                break
            if attempt == 1:
                raise BenchError(
                    f"{run_dir}: the checkpoints training kept cannot be read back even after training "
                    "again; check the output filesystem (--output)"
                )
            # a kept checkpoint is damaged: the resume state alone cannot rebuild it, so the unit trains again
            warn(f"{run_dir}: a kept checkpoint was unreadable; training this unit again from step 0")
            (run_dir / "checkpoint.pt").unlink(missing_ok=True)
        train_memory = peak_memory_mb(self.upstream.device)
        started = time.perf_counter()
        dev_rule = next((rule for rule in rules if rule.split == "dev"), None)
        batch_size = int(self.config.batch_size)
        test_by_rule: dict[str, dict[str, float]] = {}
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
                self._write_predictions(output_dir, "dev", dev.lines)
                dev_metrics = dev.metrics
            test = evaluate(model, task, data, source, "test", batch_size, output_dir)
            self._write_predictions(output_dir, "test", test.lines)
            test_by_rule[rule.name] = test.metrics
        test_metrics = task.report_test(test_by_rule, outcome.selected)
        eval_seconds = time.perf_counter() - started
        log.info("test %s (selected: %s)", test_metrics, outcome.selected)
        return {
            "metrics": {"test": test_metrics, "dev": dev_metrics},
            "best_step": outcome.best_step,
            "dev_history": outcome.dev_history,
            "checkpoints": {
                name: {**selection, "test": test_by_rule[name]} for name, selection in outcome.selected.items()
            },
            "resumed_from_step": outcome.resumed_from_step,
            "layer_weights": layer_weights,
            "timings": {"train_s": round(outcome.train_seconds, 3), "eval_s": round(eval_seconds, 3)},
            "peak_memory": {"train": train_memory, "eval": peak_memory_mb(self.upstream.device)},
        }

    def _score_untrained(self, data: TaskData, source: FeatureSource, run_dir: Path, log: logging.Logger) -> dict:
        """Protocols without a head (QbE): the task scores dev and test itself."""
        started = time.perf_counter()
        outcome = self.task.score_without_training(data, source, self.config, run_dir, self.progress)
        self._write_predictions(run_dir, "test", outcome.test.lines)
        log.info("dev %s test %s", outcome.dev, outcome.test.metrics)
        extra = dict(outcome.extra)
        return {
            "metrics": {"test": outcome.test.metrics, "dev": outcome.dev},
            "best_step": None,
            "dev_history": [],
            "resumed_from_step": 0,
            "layer_weights": extra.pop("layer_weights", None),
            "protocol": extra,
            "timings": {"train_s": 0.0, "eval_s": round(time.perf_counter() - started, 3)},
            "peak_memory": {"eval": peak_memory_mb(self.upstream.device)},
        }


def remove_training_state(run_dir: Path) -> None:
    """Forget a unit's record, resume state and kept checkpoints (`--force`): it trains again from scratch."""
    for path in [run_dir / "record.json", run_dir / "checkpoint.pt", *run_dir.glob("best*.pt")]:
        path.unlink(missing_ok=True)


def _read_unit_record(path: Path) -> dict | None:
    """A unit's `record.json`, checked against the schema (a foreign or malformed record is a one-line error); None when
    there is none or it is not JSON at all (damaged storage: moved aside, and the unit runs again)."""
    content = read_json_or_set_aside(path)
    return None if content is None else UnitRecord.from_dict(content, str(path)).to_dict()


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


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def summarise(
    run: TaskRun, unit_records: dict[tuple, dict], seeds: list[int], lrs: list[float], device: str | None = None
) -> dict:
    """Select the learning rate on dev (mean over folds and seeds), then report test mean ± std over seeds.

    `device` is the device description to record (default: the run's upstream's); `bench suite` passes the one
    its units ran on, since it summarises in the driver."""
    task = run.task
    selection = lr_selection(run)
    sweep = []
    for lr in lrs:
        if selection is None:  # one learning rate and no dev split (unit_grid refuses a sweep then)
            sweep.append({"learning_rate": lr})
            continue
        metric, _ = selection
        dev_values = [unit_records[(fold, seed, lr)]["metrics"]["dev"][metric] for fold in run.folds for seed in seeds]
        sweep.append({"learning_rate": lr, "dev_" + metric: statistics.fmean(dev_values)})
    if selection is None:
        chosen = lrs[0]
    else:
        metric, higher_is_better = selection
        pick = max if higher_is_better else min
        chosen = pick(sweep, key=lambda point: point["dev_" + metric])["learning_rate"]
    per_seed = []
    for seed in seeds:
        folds = [unit_records[(fold, seed, chosen)]["metrics"]["test"] for fold in run.folds]
        per_seed.append(
            {
                "seed": seed,
                **task.combine_folds(folds),
                "per_fold": {str(fold): metrics for fold, metrics in zip(run.folds, folds)}
                if len(run.folds) > 1
                else None,
            }
        )
    metric_names = [key for key in per_seed[0] if key not in ("seed", "per_fold")]
    means, stds = {}, {}
    for name in metric_names:
        means[name], stds[name] = _mean_std([entry[name] for entry in per_seed])
    chosen_units = [unit_records[(fold, seed, chosen)] for fold in run.folds for seed in seeds]
    if chosen_units[0]["layer_weights"] is None:
        layer_weights = None
    else:
        num_layers = len(chosen_units[0]["layer_weights"])
        layer_weights = [statistics.fmean(unit["layer_weights"][i] for unit in chosen_units) for i in range(num_layers)]
    return ResultRecord(
        created=now(),
        task=task.name,
        task_title=task.title,
        upstream=run.info.as_dict(),
        metric=RecordedMetric(task.metric, task.higher_is_better),
        metrics=means,
        metrics_std=stds,
        seeds=seeds,
        per_seed=per_seed,
        learning_rate=chosen,
        lr_sweep=sweep if len(lrs) > 1 else None,
        layer_weights=layer_weights,
        units=[
            {
                "unit_id": record["unit_id"],
                "fold": fold,
                "seed": seed,
                "learning_rate": lr,
                "path": str(run.unit_dir(run.unit(fold, seed, lr)).relative_to(run.directory)),
            }
            for (fold, seed, lr), record in sorted(unit_records.items(), key=lambda item: str(item[0]))
        ],
        profile=run.profile,
        config=OmegaConf.to_container(run.config, resolve=True),
        timings={
            "extract_s": run.timings.get("extract_s"),
            "extract_encoded_utterances": run.timings.get("extract_encoded_utterances"),
            "train_s": round(sum(r["timings"]["train_s"] for r in unit_records.values()), 3),
            "eval_s": round(sum(r["timings"]["eval_s"] for r in unit_records.values()), 3),
        },
        peak_memory={"extract": run.extract_memory},
        decoding=task.decoding_signature(),
        device=device or device_description(run.upstream.device),
        versions=versions(),
        dataset=run.dataset,
        chance_level=run.chance.as_dict(),
        checkpoint_rules=[dataclasses.asdict(rule) for rule in task.checkpoint_rules(run.config)]
        if task.trainable
        else [],
        cache_repairs=list(run.cache_repairs),
    ).to_dict()


def lr_selection(run: TaskRun) -> tuple[str, bool] | None:
    """(dev metric, higher is better) that selects the learning rate: the first checkpoint rule on dev; None without."""
    if not run.task.trainable:
        return None
    rule = next((rule for rule in run.task.checkpoint_rules(run.config) if rule.split == "dev"), None)
    return None if rule is None else (rule.metric, rule.higher_is_better)


def unit_grid(run: TaskRun, seeds: list[int], lr_sweep: bool) -> tuple[list[RunUnit], list[int], list[float]]:
    """The units of one task run and the seeds and learning rates they span (`bench run` and `bench suite`)."""
    if not run.task.trainable:  # nothing to tune or re-seed: one unit
        lrs, seeds = [0.0], seeds[:1]
    else:
        lrs = [float(lr) for lr in run.config.lr_sweep] if lr_sweep else [float(run.config.optimizer.lr)]
        if len(lrs) > 1 and lr_selection(run) is None:
            raise BenchError(
                f"{run.task.title}: this configuration has no dev split to select a learning rate on "
                f"({run.task.no_dev_reason(run.config)}); run one learning rate (without --lr-sweep) "
                "or add a dev split as that message says"
            )
    return [run.unit(fold, seed, lr) for lr in lrs for seed in seeds for fold in run.folds], seeds, lrs


def current_result(run: TaskRun, units: Sequence[RunUnit]) -> dict | None:
    """The existing `result.json` when it summarises exactly these units with the current decoding, else None."""
    result_path = run.directory / "result.json"
    content = read_json_or_set_aside(result_path)
    if content is None:
        return None
    previous = ResultRecord.from_dict(content, result_path).to_dict()
    if (
        sorted(u["unit_id"] for u in previous.get("units", [])) == sorted(u.unit_id for u in units)
        and previous.get("decoding") == run.task.decoding_signature()
    ):
        return previous
    return None


def current_unit_record(run: TaskRun, unit: RunUnit) -> dict | None:
    """The unit's `record.json` when it exists and matches the current decoding (what `run_unit` would return as is)."""
    record = _read_unit_record(run.unit_dir(unit) / "record.json")
    if record is None:
        return None
    return record if record.get("decoding") == run.task.decoding_signature() else None


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
    on_unit: Callable[[RunUnit], None] | None = None,
) -> dict:
    """Run every unit of one task and write `<output>/<task>/<upstream>/result.json`; return that record."""
    task = get_task(task_name)
    run = TaskRun(upstream, task, data_root, output_dir, profile, overrides, cache_root, progress)
    units, seeds, lrs = unit_grid(run, seeds, lr_sweep)
    result_path = run.directory / "result.json"
    previous = None if force else current_result(run, units)
    if previous is not None:
        return previous
    run.fill_cache()
    records = {}
    for unit in units:
        if on_unit:
            on_unit(unit)
        records[(unit.fold, unit.seed, unit.learning_rate)] = run.run_unit(unit, force=force)
    result = summarise(run, records, seeds, lrs)
    write_json_atomic(result_path, result)
    return result


def expand_tasks(task: str) -> list[str]:
    """`--task`: `all` is the ten SUPERB tasks; a benchmark name (`fleurs`) its tasks; else comma-separated names."""
    return expand_task_names(task)


def format_summary(results: list[dict]) -> str:
    lines = [f"{'task':<5} {'upstream':<24} {'metric':<7} {'test':>15} {'lr':>8} {'seeds':>5} {'train s':>8}"]
    for result in results:
        name = result["metric"]["name"]
        spec = get_task(result["task"]).metric_spec(name)
        unit = f" {spec.unit_suffix}" if spec.unit_suffix else ""
        cell = spec.shown(result["metrics"][name]) + (
            f" ± {spec.shown(result['metrics_std'][name])}" if len(result["seeds"]) > 1 else ""
        )
        lines.append(
            f"{result['task_title']:<5} {result['upstream']['name'][-24:]:<24} {name + unit:<7} {cell:>15} "
            f"{result['learning_rate']:>8.0e} {len(result['seeds']):>5} {result['timings']['train_s']:>8.1f}"
        )
    for result in results:
        at_chance = metrics_at_chance(result)
        task = get_task(result["task"])
        for metric, value, level in at_chance[:1]:
            spec = task.metric_spec(metric)
            lines.append(
                f"not learned: {result['task_title']} {metric} {spec.shown(value)}{spec.unit_suffix} does not beat the "
                f"audio-blind answer ({level.basis}: {spec.shown(level.metrics[metric])}{spec.unit_suffix}); "
                "`bench report` leaves it out"
            )
        if len(at_chance) > 1:  # one line for the rest (MLASR has a CER per language)
            lines.append(
                f"not learned either: {result['task_title']} "
                + ", ".join(
                    f"{metric} {task.metric_spec(metric).shown(value)}{task.metric_spec(metric).unit_suffix}"
                    for metric, value, _ in at_chance[1:]
                )
            )
        dataset = result.get("dataset", {})
        for warning in dataset.get("size_warnings", []):
            lines.append(f"warning: {warning}")
        if dataset.get("missing"):
            lines.append(
                f"warning: {result['task_title']} ran without {dataset['missing']['count']} missing file(s) "
                f"(data.allow_missing=true): {', '.join(dataset['missing']['files'][:3])}"
            )
    return "\n".join(lines)


def metrics_at_chance(result: dict) -> list[tuple[str, float, ChanceLevel]]:
    """(metric, value, chance level) for each metric of a result record with a chance level that it does not beat."""
    if not result.get("chance"):
        return []
    level = ChanceLevel.from_dict(result["chance"])
    primary_first = sorted(level.metrics, key=lambda name: name != result["metric"]["name"])
    return [
        (name, float(result["metrics"][name]), level)
        for name in primary_first
        if name in result["metrics"] and not level.beaten_by(name, float(result["metrics"][name]))
    ]


def chance_level(task: Task, data: TaskData) -> float:
    """The audio-blind value of the task's metric on ``data``'s test split (:meth:`Task.chance`)."""
    return task.chance_level(data).metrics.get(task.metric, math.nan)
