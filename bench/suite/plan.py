"""Grid planning for `bench suite`: what was asked for (:class:`SuiteSpec`, with `task:key=value` overrides split by
task), the (upstream, task) groups planned in the driver with their pending units (:func:`plan_groups`), and the job
graph built from them (:func:`build_jobs`): extraction shards of each incomplete feature cache, then one job per
pending unit waiting for the shards of the cache it reads (or, where the encoder runs in the loop, one "sweep" job per
fold and seed training its learning rates side by side). Every job is a :class:`JobSpec` of plain values that a
worker (bench.suite.worker) can rebuild its TaskRun from. Nothing here touches the executor or the state files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.cache import PooledCache
from bench.executors import Job
from bench.prepared import PreparedTask, RunUnit, sweep_groups, unit_grid
from bench.runner import current_result, current_unit_record
from benchcore.errors import BenchError
from downstream_tasks import get_task
from downstream_tasks.base import Utterance
from results.schema import ResultRecord

EXTRACT_BATCH_SIZE = 8  # PooledCache.fill's batch size, which TaskRun.fill_cache uses: the split keeps its batches


@dataclass(frozen=True)
class SuiteSpec:
    """What `bench suite` was asked for. Overrides `key=value` apply to every task, `task:key=value` to one."""

    upstreams: tuple[str, ...]
    tasks: tuple[str, ...]
    data_root: Path
    output: Path
    seeds: tuple[int, ...]
    lr_sweep: bool = False
    profile: str = "superb"
    overrides: tuple[str, ...] = ()
    cache_root: Path | None = None
    device: str = "auto"
    dtype: str = "fp32"
    force: bool = False
    extract_shards: int | None = None  # per cache; None: as many as the executor runs at once
    threads: int | None = None  # torch threads per job; None: the process's own (what `bench run` uses)
    includes: tuple[str, ...] = ()  # --include: modules every job imports first (user tasks and upstreams)


def task_overrides(overrides: Sequence[str], tasks: Sequence[str]) -> dict[str, list[str]]:
    """Split `key=value` (every task) and `task:key=value` (one task) overrides by task."""
    per_task: dict[str, list[str]] = {task: [] for task in tasks}
    for override in overrides:
        key = override.partition("=")[0]
        prefix, sep, rest = key.partition(":")
        if sep:
            if prefix not in per_task:
                raise BenchError(
                    f"override '{override}' names task '{prefix}', which is not in --tasks ({', '.join(tasks)})"
                )
            per_task[prefix].append(override[len(prefix) + 1 :])
        else:
            for task in tasks:
                per_task[task].append(override)
    return per_task


@dataclass(frozen=True)
class JobSpec:
    """One job as a worker receives it: everything needed to rebuild its TaskRun, as plain values."""

    job_id: str
    kind: str  # "extract", "unit" or "sweep" (units of one fold and seed trained side by side: `sweep`)
    label: str
    suite_run: str  # id of the `bench suite` invocation (markers of older invocations are ignored)
    upstream: str
    task: str
    data_root: str
    output: str
    profile: str
    overrides: tuple[str, ...]
    cache_root: str
    device: str
    dtype: str
    cache_dir: str | None = None  # extract: the cache to fill
    worker_index: int = 0
    num_workers: int = 1
    fold: str | None = None  # unit
    seed: int = 0
    learning_rate: float = 0.0
    unit_id: str | None = None
    #: a "sweep" job: (learning rate, unit id) of each unit it trains side by side, one encoder forward per step
    sweep: tuple[tuple[float, str], ...] = ()
    feature_mode: str = "cache"
    threads: int | None = None
    includes: tuple[str, ...] = ()


@dataclass
class Group:
    """One (upstream, task): the task prepared in the driver and its units."""

    upstream: str
    task: str
    prepared: PreparedTask
    units: list[RunUnit]
    seeds: list[int]
    lrs: list[float]
    feature_mode: str = "cache"
    needs_encoder: bool = False  # its units run the encoder (in the loop, or for the recipe's random crops)
    finished: ResultRecord | None = None  # its result.json when already up to date
    pending_units: list[RunUnit] = field(default_factory=list)
    unit_jobs: list[str] = field(default_factory=list)
    extract_jobs: list[str] = field(default_factory=list)
    result: ResultRecord | None = None
    failed: str | None = None


def fold_caches(
    prepared: PreparedTask, repairs: list[dict] | None = None
) -> dict[str, tuple[PooledCache, list[Utterance]]]:
    """Cache directory -> (cache, every utterance it must hold), in `bench run`'s fill order (folds, then splits);
    ``repairs`` collects the damaged shards the caches move aside."""
    caches: dict[str, tuple[PooledCache, list[Utterance]]] = {}
    for data in prepared.data.values():
        cache = prepared.cache_for(data, repairs)
        _, utterances = caches.setdefault(str(cache.directory), (cache, []))
        known = {u.uid for u in utterances}
        utterances.extend(u for u in prepared.cached_utterances(data) if u.uid not in known)
    return caches


def _unit_label(group: Group, units: Sequence[RunUnit]) -> str:
    fold = f"{units[0].fold} " if units[0].fold else ""
    rates = ",".join(f"{unit.learning_rate:g}" for unit in units)
    shared = f" ({len(units)} units, one encoder forward per step)" if len(units) > 1 else ""
    return f"{group.task} {group.upstream} {fold}seed{units[0].seed} lr{rates}{shared}"


def plan_groups(spec: SuiteSpec, progress: bool = True) -> list[Group]:
    """Load each upstream once (on CPU: only its identity is needed here), prepare every task and list its units."""
    from upstream.registry import load_upstream

    per_task = task_overrides(spec.overrides, spec.tasks)
    groups = []
    for upstream_name in spec.upstreams:
        if progress:
            print(f"planning {upstream_name}: {', '.join(spec.tasks)}", flush=True)
        info = load_upstream(upstream_name, device="cpu").info()  # the weights are freed at once
        for task_name in spec.tasks:
            prepared = PreparedTask(
                info,
                get_task(task_name),
                spec.data_root,
                spec.output,
                spec.profile,
                per_task[task_name],
                spec.cache_root,
                progress=False,
            )
            units, seeds, lrs = unit_grid(prepared, list(spec.seeds), spec.lr_sweep)
            group = Group(upstream_name, task_name, prepared, units, seeds, lrs)
            group.finished = None if spec.force else current_result(prepared, units)
            if group.finished is None:
                plan = prepared.plan_features()
                group.feature_mode, group.needs_encoder = plan.mode, plan.needs_encoder
                group.pending_units = (
                    units if spec.force else [u for u in units if current_unit_record(prepared, u) is None]
                )
            groups.append(group)
    return groups


def build_jobs(
    spec: SuiteSpec, groups: list[Group], slots: int, suite_run: str, cpu_units: bool = False
) -> list[tuple[Job, str, Group]]:
    """Extraction jobs (caches that pending units read and that are incomplete), then one job per pending unit.

    `cpu_units`: units that read a feature cache alone run on the CPU and request no GPU. Heads train on the CPU from
    cached features (as in `bench run`), so on a GPU cluster only extraction and units that run the encoder (in the
    loop, or for the recipe's random crops: SID, KS, ASV) hold GPUs, and the cached units spread over the CPUs. Their
    records then name the CPU as their device."""
    shards_wanted = max(1, spec.extract_shards or slots)
    cache_root = str(spec.cache_root)
    jobs: list[tuple[Job, str, Group]] = []
    extraction_of: dict[str, list[str]] = {}  # cache dir -> its extraction job ids

    def job_spec(group: Group, job_id: str, kind: str, label: str, **extra: Any) -> JobSpec:
        return JobSpec(
            job_id=job_id,
            kind=kind,
            label=label,
            suite_run=suite_run,
            upstream=group.upstream,
            task=group.task,
            data_root=str(spec.data_root),
            output=str(spec.output),
            profile=spec.profile,
            overrides=tuple(task_overrides(spec.overrides, spec.tasks)[group.task]),
            cache_root=cache_root,
            device=spec.device,
            dtype=spec.dtype,
            threads=spec.threads,
            includes=spec.includes,
            **extra,
        )

    for group in groups:
        if not group.pending_units or group.feature_mode != "cache":
            continue
        caches = fold_caches(group.prepared)
        needed = {
            str(group.prepared.cache_for(group.prepared.data[unit.fold]).directory) for unit in group.pending_units
        }
        for cache_dir in sorted(needed):
            if cache_dir in extraction_of:
                continue
            cache, utterances = caches[cache_dir]
            if not cache.missing(utterances):
                extraction_of[cache_dir] = []
                continue
            shards = min(shards_wanted, math.ceil(len(utterances) / EXTRACT_BATCH_SIZE))
            ids = []
            for index in range(shards):
                job_id = f"extract-{Path(cache_dir).name}-{index + 1}of{shards}"
                label = f"extract {group.upstream} {cache.key.corpus} {index + 1}/{shards}"
                payload = job_spec(
                    group, job_id, "extract", label, cache_dir=cache_dir, worker_index=index, num_workers=shards
                )
                jobs.append((Job(job_id, payload), "extract", group))
                ids.append(job_id)
            extraction_of[cache_dir] = ids
            group.extract_jobs.extend(ids)
    for group in groups:
        for units in sweep_groups(group.prepared, group.needs_encoder, group.pending_units):
            unit = units[0]
            after: tuple[str, ...] = ()
            if group.feature_mode == "cache":
                after = tuple(extraction_of[str(group.prepared.cache_for(group.prepared.data[unit.fold]).directory)])
            kind = "sweep" if len(units) > 1 else "unit"
            ids = "+".join(sorted(u.unit_id for u in units)).encode()
            job_id = f"unit-{unit.unit_id}" if kind == "unit" else f"sweep-{hashlib.sha256(ids).hexdigest()[:12]}"
            on_cpu = cpu_units and not group.needs_encoder
            payload = job_spec(
                group,
                job_id,
                kind,
                _unit_label(group, units),
                fold=unit.fold,
                seed=unit.seed,
                learning_rate=unit.learning_rate,
                unit_id=unit.unit_id,
                sweep=tuple((u.learning_rate, u.unit_id) for u in units) if kind == "sweep" else (),
                feature_mode=group.feature_mode,
            )
            if on_cpu:
                payload = dataclasses.replace(payload, device="cpu", dtype="fp32")
            jobs.append((Job(job_id, payload, after, gpu=not on_cpu), kind, group))
            group.unit_jobs.append(job_id)
    return jobs
