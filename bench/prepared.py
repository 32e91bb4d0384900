"""A task run's prepared context: what every unit of one (upstream, task) shares, built once.

:class:`PreparedTask` reads the task's data (every fold), fingerprints it, computes the audio-blind level, resolves the
configuration and plans how the heads are fed (:class:`FeaturePlan`). It needs the upstream's identity
(:class:`~upstream.base.UpstreamInfo`), not the encoder itself: `bench suite`'s driver plans and summarises from it
while workers train. :class:`~bench.runner.TaskRun` runs units on it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from bench.cache import PooledCache, PooledCacheKey, audio_effects, loader_gain_db
from bench.config import load_task_config
from bench.crops import BLOCK_MEAN, WAVEFORM, crop_mode, may_be_cropped
from bench.dataset_check import refuse_or_drop_missing, size_warnings, split_sizes
from bench.record import dataset_fingerprint
from benchcore.cache_root import using_cache_root
from benchcore.errors import BenchError
from benchcore.progress import progress_bars
from downstream_tasks.base import Task, TaskData, Utterance
from downstream_tasks.bucketing import num_samples
from downstream_tasks.chance import ChanceLevel
from downstream_tasks.chance import combine as combine_chance
from upstream.base import UpstreamInfo


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


class PreparedTask:
    """One task's data, fingerprint, chance level, configuration and feature plan for one upstream, shared by its units.

    It holds no encoder and no training state (those are :class:`~bench.runner.TaskRun`'s), and nothing in it changes
    after construction."""

    def __init__(
        self,
        info: UpstreamInfo,
        task: Task,
        data_root: Path,
        output_dir: Path,
        profile: str,
        overrides: Sequence[str],
        cache_root: Path | None,
        progress: bool,
    ) -> None:
        self.info = info
        self.task = task
        self.data_root = data_root
        self.config: DictConfig = load_task_config(task.name, profile, overrides)
        self.profile = profile
        self.cache_root = cache_root
        self.directory = output_dir / task.name / slug(info.name)
        if self.probe_layer is not None:  # a per-layer probe's record sits beside the weighted sum's, never over it
            if not 0 <= self.probe_layer < info.num_hidden_states:
                raise BenchError(
                    f"featurizer.layer={self.probe_layer}: {info.name} has hidden states 0 to "
                    f"{info.num_hidden_states - 1}"
                )
            self.directory = self.directory.with_name(f"{self.directory.name}__layer_{self.probe_layer}")
        self.folds = list(task.folds)
        task.prepare(info)
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
        self.chance: ChanceLevel = combine_chance([task.chance_level(data) for data in self.data.values()])
        config_for_id = OmegaConf.to_container(self.config, resolve=True)
        config_for_id.pop("lr_sweep", None)
        config_for_id.pop("decoder", None)  # decoding settings rescore a trained unit, they do not define it
        config_for_id.pop("max_nonfinite_updates", None)  # a guard: a unit it does not stop trains the same
        config_for_id.pop("sweep", None)  # a sweep's heads train the same side by side or one at a time
        if self.probe_layer is None:  # the weighted sum, as before the setting existed: unit ids stay the same
            config_for_id.pop("featurizer", None)
        self.config_digest = _digest(config_for_id)
        self.upstream_digest = _digest([self.info.source, self.info.weights_hash])

    # ---- features -------------------------------------------------------------------------------
    @property
    def probe_layer(self) -> int | None:
        """The one hidden state a per-layer probe trains on (config `featurizer.layer`), None for the weighted sum."""
        layer = self.config.featurizer.get("layer")
        return None if layer is None else int(layer)

    @property
    def layers(self) -> list[int] | None:
        """The hidden states a frame task keeps (config `cache.layers`, default all; a probe's one layer); pooled tasks
        keep all (a pooled probe selects its layer in the featurizer, from the same cache)."""
        if self.task.head_input != "frames":
            return None
        if self.probe_layer is not None:
            return [self.probe_layer]
        if self.config.cache.get("layers") is None:
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

    def cache_for(self, data: TaskData, repairs: list[dict] | None = None) -> PooledCache:
        """The feature cache of ``data`` for this upstream and configuration; ``repairs`` collects the damaged shards
        it moves aside (the run's ``cache_repairs``)."""
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
        return PooledCache(key, self.cache_root, repairs)

    def loader_gain_db(self, data: TaskData) -> float:
        """``data.gain_db``, or 0 where the utterances' sox chain already applied it
        (:func:`bench.cache.loader_gain_db`)."""
        return loader_gain_db(float(self.config.data.gain_db), audio_effects(data.all_utterances()))

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

    # ---- units -----------------------------------------------------------------------------------
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


def lr_selection(prepared: PreparedTask) -> tuple[str, bool] | None:
    """(dev metric, higher is better) that selects the learning rate: the first checkpoint rule on dev; None without."""
    if not prepared.task.trainable:
        return None
    rule = next((rule for rule in prepared.task.checkpoint_rules(prepared.config) if rule.split == "dev"), None)
    return None if rule is None else (rule.metric, rule.higher_is_better)


def unit_grid(prepared: PreparedTask, seeds: list[int], lr_sweep: bool) -> tuple[list[RunUnit], list[int], list[float]]:
    """The units of one task run and the seeds and learning rates they span (`bench run` and `bench suite`)."""
    if not prepared.task.trainable:  # nothing to tune or re-seed: one unit
        lrs, seeds = [0.0], seeds[:1]
    else:
        lrs = [float(lr) for lr in prepared.config.lr_sweep] if lr_sweep else [float(prepared.config.optimizer.lr)]
        if len(lrs) > 1 and lr_selection(prepared) is None:
            raise BenchError(
                f"{prepared.task.title}: this configuration has no dev split to select a learning rate on "
                f"({prepared.task.no_dev_reason(prepared.config)}); run one learning rate (without --lr-sweep) "
                "or add a dev split as that message says"
            )
    return [prepared.unit(fold, seed, lr) for lr in lrs for seed in seeds for fold in prepared.folds], seeds, lrs


def sweep_groups(prepared: PreparedTask, needs_encoder: bool, units: Sequence[RunUnit]) -> list[list[RunUnit]]:
    """The units trained together: where the encoder runs during training (``needs_encoder``: in the loop, or for the
    recipe's crops) and ``sweep.shared`` is on, the units of one (fold, seed), which differ only in learning rate, share
    its forward (bench.trainer.train_sweep); otherwise each unit alone."""
    shared, _ = sweep_settings(prepared.config)
    if not (prepared.task.trainable and needs_encoder and shared):
        return [[unit] for unit in units]
    by_key: dict[tuple[str | None, int], list[RunUnit]] = {}
    for unit in units:
        by_key.setdefault((unit.fold, unit.seed), []).append(unit)
    return list(by_key.values())


def sweep_settings(config: DictConfig) -> tuple[bool, int | None]:
    """(``sweep.shared``, ``sweep.max_heads``), checked: a value of the wrong kind is a one-line error."""
    shared, max_heads = config.sweep.get("shared"), config.sweep.get("max_heads")
    if not isinstance(shared, bool):
        raise BenchError(f"sweep.shared={shared}: true (the default) or false")
    whole = isinstance(max_heads, (int, float)) and not isinstance(max_heads, bool) and float(max_heads).is_integer()
    if max_heads is not None and not (whole and max_heads >= 1):
        raise BenchError(f"sweep.max_heads={max_heads}: a whole number of heads, at least 1 (null: as many as fit)")
    return shared, None if max_heads is None else int(max_heads)
