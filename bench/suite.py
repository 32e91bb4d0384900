"""`bench suite`: a grid of upstreams x tasks x seeds (x learning rates) as idempotent jobs on an executor.

The grid is `bench run`'s units (bench/runner.py), in three phases of one job graph:

1. extraction: every (upstream, corpus) cache that pending units read and that is not complete is split into
   `extract_shards` jobs; each encodes a disjoint part (:func:`bench.cache.worker_part`) and commits cache shards
   atomically under the cache root (a shared filesystem on a cluster);
2. units: one job per :class:`~bench.runner.RunUnit`, waiting for the extraction jobs of the caches it reads. A
   unit is `TaskRun.run_unit` in a worker, so a retried attempt resumes from the killed one's `checkpoint.pt`,
   and a unit with a record is not run again;
3. summaries: when every unit of an (upstream, task) has its record, the driver writes `result.json` with
   `bench run`'s own :func:`~bench.runner.summarise`, so both commands write the same records.

The driver keeps `OUTPUT/.suite/state.json` (written atomically after every event and every second) and workers
leave a marker per job under `OUTPUT/.suite/jobs/` when they start one: `bench suite --status --output OUTPUT`
reads both from another shell.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import math
import os
import socket
import statistics
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from benchcore.atomic import write_json_atomic
from bench.cache import PooledCache, default_cache_root
from benchcore.errors import BenchError
from bench.executors import Executor, Job, JobOutcome
from bench.record import peak_memory_mb
from bench.runner import FeaturePlan, RunUnit, TaskRun, current_result, current_unit_record, summarise, unit_grid
from downstream_tasks import get_task
from downstream_tasks.base import Utterance

STATE_SCHEMA = "superb-bench/suite-state"
EXTRACT_BATCH_SIZE = 8  # PooledCache.fill's batch size, which TaskRun.fill_cache uses: the split keeps its batches


def state_dir(output: Path) -> Path:
    return output / ".suite"


# ---- the grid ------------------------------------------------------------------------------------


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


def task_overrides(overrides: Sequence[str], tasks: Sequence[str]) -> dict[str, list[str]]:
    """Split `key=value` (every task) and `task:key=value` (one task) overrides by task."""
    per_task: dict[str, list[str]] = {task: [] for task in tasks}
    for override in overrides:
        key = override.partition("=")[0]
        prefix, sep, rest = key.partition(":")
        if sep:
            if prefix not in per_task:
                raise BenchError(f"override '{override}' names task '{prefix}', which is not in --tasks ({', '.join(tasks)})")
            per_task[prefix].append(override[len(prefix) + 1 :])
        else:
            for task in tasks:
                per_task[task].append(override)
    return per_task


@dataclass(frozen=True)
class JobSpec:
    """One job as a worker receives it: everything needed to rebuild its TaskRun, as plain values."""

    job_id: str
    kind: str  # "extract" or "unit"
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
    feature_mode: str = "cache"
    threads: int | None = None


@dataclass
class Group:
    """One (upstream, task): the TaskRun planned in the driver and its units."""

    upstream: str
    task: str
    run: TaskRun
    units: list[RunUnit]
    seeds: list[int]
    lrs: list[float]
    feature_mode: str = "cache"
    finished: dict | None = None  # its result.json when already up to date
    pending_units: list[RunUnit] = field(default_factory=list)
    unit_jobs: list[str] = field(default_factory=list)
    extract_jobs: list[str] = field(default_factory=list)
    result: dict | None = None
    failed: str | None = None


def fold_caches(run: TaskRun) -> dict[str, tuple[PooledCache, list[Utterance]]]:
    """Cache directory -> (cache, every utterance it must hold), in `bench run`'s fill order (folds, then splits)."""
    caches: dict[str, tuple[PooledCache, list[Utterance]]] = {}
    for data in run.data.values():
        cache = run.cache_for(data)
        _, utterances = caches.setdefault(str(cache.directory), (cache, []))
        known = {u.uid for u in utterances}
        utterances.extend(u for u in data.all_utterances() if u.uid not in known)
    return caches


def _unit_label(group: Group, unit: RunUnit) -> str:
    fold = f"{unit.fold} " if unit.fold else ""
    return f"{group.task} {group.upstream} {fold}seed{unit.seed} lr{unit.learning_rate:g}"


def plan_groups(spec: SuiteSpec, progress: bool = True) -> list[Group]:
    """Load each upstream once (on CPU: only its identity is needed here), build every task's TaskRun and units."""
    from upstream.registry import load_upstream

    per_task = task_overrides(spec.overrides, spec.tasks)
    groups = []
    for upstream_name in spec.upstreams:
        if progress:
            print(f"planning {upstream_name}: {', '.join(spec.tasks)}", flush=True)
        upstream = load_upstream(upstream_name, device="cpu")
        for task_name in spec.tasks:
            run = TaskRun(upstream, get_task(task_name), spec.data_root, spec.output, spec.profile, per_task[task_name],
                          spec.cache_root, progress=False)
            units, seeds, lrs = unit_grid(run, list(spec.seeds), spec.lr_sweep)
            group = Group(upstream_name, task_name, run, units, seeds, lrs)
            group.finished = None if spec.force else current_result(run, units)
            if group.finished is None:
                group.feature_mode = run.plan_features().mode
                group.pending_units = units if spec.force else [u for u in units if current_unit_record(run, u) is None]
            groups.append(group)
        for group in groups:  # the driver needs the upstream's identity, not its weights: free them
            if group.run.upstream is upstream:
                group.run.upstream = None  # type: ignore[assignment]
        del upstream
    return groups


def build_jobs(spec: SuiteSpec, groups: list[Group], slots: int, suite_run: str,
               cpu_units: bool = False) -> list[tuple[Job, str, Group]]:
    """Extraction jobs (caches that pending units read and that are incomplete), then one job per pending unit.

    `cpu_units`: units that read a feature cache run on the CPU and request no GPU. Heads train on the CPU from
    cached features (as in `bench run`), so on a GPU cluster only extraction and encoder-in-the-loop units hold
    GPUs, and the cached units spread over the CPUs. Their records then name the CPU as their device."""
    shards_wanted = max(1, spec.extract_shards or slots)
    cache_root = str(spec.cache_root)
    jobs: list[tuple[Job, str, Group]] = []
    extraction_of: dict[str, list[str]] = {}  # cache dir -> its extraction job ids

    def job_spec(group: Group, job_id: str, kind: str, label: str, **extra: Any) -> JobSpec:
        return JobSpec(job_id=job_id, kind=kind, label=label, suite_run=suite_run, upstream=group.upstream,
                       task=group.task, data_root=str(spec.data_root), output=str(spec.output), profile=spec.profile,
                       overrides=tuple(task_overrides(spec.overrides, spec.tasks)[group.task]), cache_root=cache_root,
                       device=spec.device, dtype=spec.dtype, threads=spec.threads, **extra)

    for group in groups:
        if not group.pending_units or group.feature_mode != "cache":
            continue
        caches = fold_caches(group.run)
        needed = {str(group.run.cache_for(group.run.data[unit.fold]).directory) for unit in group.pending_units}
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
                payload = job_spec(group, job_id, "extract", label, cache_dir=cache_dir, worker_index=index, num_workers=shards)
                jobs.append((Job(job_id, payload), "extract", group))
                ids.append(job_id)
            extraction_of[cache_dir] = ids
            group.extract_jobs.extend(ids)
    for group in groups:
        for unit in group.pending_units:
            after: tuple[str, ...] = ()
            if group.feature_mode == "cache":
                after = tuple(extraction_of[str(group.run.cache_for(group.run.data[unit.fold]).directory)])
            job_id = f"unit-{unit.unit_id}"
            on_cpu = cpu_units and group.feature_mode == "cache"
            payload = job_spec(group, job_id, "unit", _unit_label(group, unit), fold=unit.fold, seed=unit.seed,
                               learning_rate=unit.learning_rate, unit_id=unit.unit_id, feature_mode=group.feature_mode)
            if on_cpu:
                payload = dataclasses.replace(payload, device="cpu", dtype="fp32")
            jobs.append((Job(job_id, payload, after, gpu=not on_cpu), "unit", group))
            group.unit_jobs.append(job_id)
    return jobs


# ---- what a worker runs --------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}  # a worker process keeps its last upstream and TaskRuns: Ray reuses worker processes


def _job_device(job: JobSpec) -> str:
    """`auto` in a Ray task means the GPUs Ray gave it: none, then the CPU (Ray leaves CUDA_VISIBLE_DEVICES unset for
    tasks without GPUs, so CUDA would otherwise find every GPU of the node)."""
    if job.device != "auto":
        return job.device
    try:
        import ray
    except ImportError:  # pragma: no cover - ray is a pinned dependency
        return job.device
    if ray.is_initialized() and ray.get_runtime_context().worker.mode == ray.WORKER_MODE and not ray.get_gpu_ids():
        return "cpu"
    return job.device


def _worker_run(job: JobSpec) -> TaskRun:
    from upstream.registry import load_upstream

    device = _job_device(job)
    upstream_key = (job.upstream, device, job.dtype)
    if _WORKER.get("upstream_key") != upstream_key:
        _WORKER.clear()
        _WORKER["upstream"] = load_upstream(job.upstream, device=device, dtype=job.dtype)
        _WORKER["upstream_key"] = upstream_key
        _WORKER["runs"] = {}
    run_key = (job.task, job.data_root, job.output, job.profile, job.overrides, job.cache_root)
    runs = _WORKER["runs"]
    if run_key not in runs:
        runs[run_key] = TaskRun(_WORKER["upstream"], get_task(job.task), Path(job.data_root), Path(job.output), job.profile,
                                list(job.overrides), Path(job.cache_root), progress=False)
    return runs[run_key]


def _marker_path(job: JobSpec) -> Path:
    return state_dir(Path(job.output)) / "jobs" / f"{job.job_id}.json"


def _mark(job: JobSpec, state: str, attempt: int, started: float) -> None:
    write_json_atomic(_marker_path(job), {"suite_run": job.suite_run, "job_id": job.job_id, "state": state,
                                          "attempt": attempt, "host": socket.gethostname(), "pid": os.getpid(),
                                          "started": started, "updated": time.time()})


def execute_job(job: JobSpec, *_dependencies: Any) -> dict:
    """Run one extraction shard or one unit (in a Ray worker or in the driver). Safe to run again after a kill.

    With `job.threads` the job runs with that many torch threads: CPU results of some heads (CTC, LSTM) depend on
    the thread count in the last bits, so equal thread counts are what make records identical across executors."""
    import torch

    previous_threads = torch.get_num_threads()
    if job.threads:
        torch.set_num_threads(job.threads)
    try:
        return _execute(job)
    finally:
        torch.set_num_threads(previous_threads)


def _execute(job: JobSpec) -> dict:
    started = time.time()
    previous = _read_json(_marker_path(job))
    attempt = previous["attempt"] + 1 if previous and previous.get("suite_run") == job.suite_run else 1
    _mark(job, "running", attempt, started)
    run = _worker_run(job)
    if job.kind == "extract":
        cache, utterances = fold_caches(run)[job.cache_dir]
        encoded = cache.fill(utterances, lambda: run.upstream, batch_size=EXTRACT_BATCH_SIZE, progress=False,
                             worker_index=job.worker_index, num_workers=job.num_workers)
        result: dict[str, Any] = {"encoded": encoded, "peak_memory": peak_memory_mb(run.upstream.device)}
    elif job.kind == "unit":
        unit = run.unit(job.fold, job.seed, job.learning_rate)
        if unit.unit_id != job.unit_id:
            raise BenchError(f"this worker computes unit id {unit.unit_id} for {job.label}, the driver planned {job.unit_id}: "
                             "every node must see the same --data-root, configs and upstream weights")
        run.follow_plan(FeaturePlan(job.feature_mode, "planned by bench suite"))
        if job.feature_mode == "cache":
            data = run.data[job.fold]
            missing = run.cache_for(data).missing(data.all_utterances())
            if missing:
                raise BenchError(f"the feature cache {run.cache_for(data).directory} lacks {len(missing)} utterances "
                                 f"(first: {missing[0].uid}); its extraction did not complete")
        record = run.run_unit(unit)
        result = {"unit_id": record["unit_id"], "device": record["device"], "resumed_from_step": record.get("resumed_from_step")}
    else:
        raise ValueError(f"unknown job kind {job.kind}")
    seconds = time.time() - started
    _mark(job, "finished", attempt, started)
    return {**result, "seconds": round(seconds, 3), "attempt": attempt, "host": socket.gethostname(), "pid": os.getpid(),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}


# ---- the driver ----------------------------------------------------------------------------------


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


@contextlib.contextmanager
def driver_lock(output: Path) -> Iterator[None]:
    """One driver per output folder: a second `bench suite` on the same output is refused, not interleaved."""
    path = state_dir(output) / "driver.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            raise BenchError(f"another bench suite is running on {output} ({handle.read().strip() or 'unknown pid'}); "
                             f"watch it with: bench suite --status --output {output}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def estimate_eta(jobs: Sequence[dict], slots: int, clock: float) -> float | None:
    """Seconds left: the mean time of the jobs of each kind done so far, over what remains, divided by the slots."""
    durations: dict[str, list[float]] = {}
    for job in jobs:
        if job["state"] == "done" and job.get("seconds") is not None:
            durations.setdefault(job["kind"], []).append(job["seconds"])
    remaining = [job for job in jobs if job["state"] in ("pending", "running")]
    if not remaining:
        return 0.0
    every = [value for values in durations.values() for value in values]
    total = 0.0
    for job in remaining:
        values = durations.get(job["kind"]) or every
        if not values:
            return None
        elapsed = clock - job["started"] if job["state"] == "running" and job.get("started") else 0.0
        total += max(statistics.fmean(values) - elapsed, 0.0)
    return total / max(slots, 1)


def _merge_markers(state: dict, output: Path) -> list[dict]:
    """The state's jobs with pending ones a worker has started shown as running (from the workers' markers)."""
    jobs = [dict(job) for job in state.get("jobs", [])]
    directory = state_dir(output) / "jobs"
    for job in jobs:
        if job["state"] != "pending":
            continue
        marker = _read_json(directory / f"{job['id']}.json")
        if marker and marker.get("suite_run") == state.get("suite_run") and marker.get("state") == "running":
            job.update(state="running", started=marker["started"], host=marker["host"], pid=marker["pid"],
                       attempts=marker["attempt"])
    return jobs


class SuiteDriver:
    """Runs the job graph on an executor, keeps the state file and the live view, writes the summaries."""

    def __init__(self, spec: SuiteSpec, executor: Executor, progress: bool = True) -> None:
        self.spec = spec
        self.executor = executor
        self.progress = progress
        self.suite_run = uuid.uuid4().hex[:12]
        self.state_path = state_dir(spec.output) / "state.json"
        self.jobs: dict[str, dict] = {}
        self.group_of: dict[str, Group] = {}
        self.extract_results: dict[str, dict] = {}
        self.started = time.time()
        self.bar = None
        self.executor_description = executor.name

    # state
    def _state(self) -> dict:
        return {
            "schema": STATE_SCHEMA, "schema_version": 1, "suite_run": self.suite_run,
            "output": str(self.spec.output), "executor": self.executor_description, "slots": self.executor.slots,
            "driver": {"host": socket.gethostname(), "pid": os.getpid()},
            "started": self.started, "updated": time.time(), "finished": getattr(self, "finished", None),
            "stopped": getattr(self, "stopped", None),
            "spec": {key: (str(value) if isinstance(value, Path) else value) for key, value in asdict(self.spec).items()},
            "jobs": list(self.jobs.values()),
            "results": [{"upstream": group.upstream, "task": group.task,
                         "path": str(group.run.directory.relative_to(self.spec.output) / "result.json"),
                         "state": "done" if (group.result or group.finished) else ("failed" if group.failed else "pending"),
                         "error": group.failed} for group in self.groups],
        }

    def write_state(self) -> None:
        state = self._state()
        write_json_atomic(self.state_path, state)
        if self.bar is not None:
            jobs = _merge_markers(state, self.spec.output)
            counts = _counts(jobs)
            eta = estimate_eta(jobs, self.executor.slots, time.time())
            self.bar.set_postfix_str(f"{counts['running']} running, {counts['failed']} failed, ETA {format_seconds(eta)}",
                                     refresh=True)

    # events
    def on_outcome(self, outcome: JobOutcome) -> None:
        job = self.jobs[outcome.job_id]
        job["finished"] = time.time()
        if outcome.ok:
            result = outcome.result
            job.update(state="done", seconds=result["seconds"], attempts=result["attempt"], host=result["host"],
                       pid=result["pid"], started=job["finished"] - result["seconds"],
                       cuda_visible_devices=result.get("cuda_visible_devices"))
            if job["kind"] == "unit":
                job["resumed_from_step"] = result.get("resumed_from_step")
            else:
                self.extract_results[outcome.job_id] = result
        else:
            job.update(state="failed", error=outcome.error)
        if self.bar is not None:
            self.bar.update(1)
        group = self.group_of[outcome.job_id]
        if job["kind"] == "unit" and all(self.jobs[j]["state"] in ("done", "failed") for j in group.unit_jobs):
            self.summarise(group)
        self.write_state()

    def summarise(self, group: Group) -> None:
        failed = [self.jobs[j] for j in group.unit_jobs if self.jobs[j]["state"] == "failed"]
        if failed:
            group.failed = f"{len(failed)} of its units failed (first: {failed[0]['label']}: {failed[0]['error']})"
            return
        run = group.run
        records = {}
        for unit in group.units:
            record = current_unit_record(run, unit)
            if record is None:
                group.failed = f"unit {unit.unit_id} has no record after it ran"
                return
            records[(unit.fold, unit.seed, unit.learning_rate)] = record
        extractions = [self.extract_results[j] for j in group.extract_jobs if j in self.extract_results]
        run.timings = {"extract_s": round(sum(self.jobs[j].get("seconds") or 0.0 for j in group.extract_jobs), 3),
                       "extract_encoded_utterances": sum(result["encoded"] for result in extractions)}
        run.extract_memory = extractions[0]["peak_memory"] if extractions else None
        device = records[(group.units[0].fold, group.units[0].seed, group.units[0].learning_rate)]["device"]
        group.result = summarise(run, records, group.seeds, group.lrs, device=device)
        write_json_atomic(run.directory / "result.json", group.result)

    # the run
    def run(self) -> "SuiteOutcome":
        from bench.executors import RayExecutor

        spec = self.spec
        with driver_lock(spec.output):
            self.groups = plan_groups(spec, self.progress)
            if spec.force:
                self._clear_for_force()
            needs_work = any(group.pending_units for group in self.groups)
            if all(group.finished is not None for group in self.groups):  # a finished suite: touch nothing
                return self._outcome()
            if needs_work:
                self.executor.start()
            try:
                if isinstance(self.executor, RayExecutor):
                    self.executor_description = self.executor.describe()
                planned = build_jobs(spec, self.groups, self.executor.slots, self.suite_run,
                                     cpu_units=isinstance(self.executor, RayExecutor))
                for job, kind, group in planned:
                    payload: JobSpec = job.payload
                    self.jobs[job.job_id] = {"id": job.job_id, "kind": kind, "label": payload.label, "upstream": group.upstream,
                                             "task": group.task, "state": "pending", "after": list(job.after), "attempts": 0}
                    self.group_of[job.job_id] = group
                for group in self.groups:  # every unit already has its record: only the summary is missing
                    if group.finished is None and not group.unit_jobs:
                        self.summarise(group)
                self.write_state()
                if planned:
                    if self.progress:
                        from tqdm import tqdm

                        print(f"{len(planned)} jobs ({sum(k == 'extract' for _, k, _ in planned)} extraction shards, "
                              f"{sum(k == 'unit' for _, k, _ in planned)} units) on {self.executor_description}; "
                              f"watch from another shell: bench suite --status --output {spec.output}", flush=True)
                        self.bar = tqdm(total=len(planned), desc="suite", unit="job", dynamic_ncols=True)
                    self.executor.run(execute_job, [job for job, _, _ in planned], self.on_outcome, self.write_state)
            except BaseException as error:
                self.stopped = f"{type(error).__name__}: {error}".splitlines()[0]
                raise
            finally:
                if self.bar is not None:
                    self.bar.close()
                    self.bar = None
                if needs_work:
                    self.executor.close()
                self.finished = time.time()
                self.write_state()
        return self._outcome()

    def _outcome(self) -> "SuiteOutcome":
        return SuiteOutcome(
            results=[group.result or group.finished for group in self.groups if group.result or group.finished],
            failed_jobs=[job for job in self.jobs.values() if job["state"] == "failed"],
            failed_groups=[(group.upstream, group.task, group.failed) for group in self.groups if group.failed],
            ran=len(self.jobs), up_to_date=sum(group.finished is not None for group in self.groups),
            summarised=sum(group.result is not None for group in self.groups))

    def _clear_for_force(self) -> None:
        """--force: redo every unit. The driver clears records once, so a retried attempt still resumes."""
        for group in self.groups:
            (group.run.directory / "result.json").unlink(missing_ok=True)
            for unit in group.units:
                for name in ("record.json", "checkpoint.pt", "best.pt"):
                    (group.run.unit_dir(unit) / name).unlink(missing_ok=True)


@dataclass
class SuiteOutcome:
    results: list[dict]
    failed_jobs: list[dict]
    failed_groups: list[tuple[str, str, str | None]]
    ran: int  # jobs run (extraction shards and units)
    up_to_date: int  # (upstream, task) results that were already up to date
    summarised: int  # results written by this run


def run_suite(spec: SuiteSpec, executor: Executor, progress: bool = True) -> SuiteOutcome:
    """Plan the grid, run what is not done yet on `executor`, write every (upstream, task)'s result.json."""
    spec = SuiteSpec(**{**asdict(spec), "data_root": Path(spec.data_root).resolve(), "output": Path(spec.output).resolve(),
                        "cache_root": Path(spec.cache_root or default_cache_root()).resolve()})
    return SuiteDriver(spec, executor, progress).run()


# ---- status --------------------------------------------------------------------------------------


def _counts(jobs: Sequence[dict]) -> dict[str, int]:
    counts = {state: 0 for state in ("done", "running", "failed", "pending")}
    for job in jobs:
        counts[job["state"]] = counts.get(job["state"], 0) + 1
    return counts


def _driver_alive(state: dict) -> str:
    driver = state.get("driver", {})
    if state.get("stopped"):
        return f"stopped by {state['stopped']} (rerun the command to resume)"
    if state.get("finished"):
        return "finished"
    if driver.get("host") != socket.gethostname():
        return f"running on {driver.get('host')} (pid {driver.get('pid')})"
    try:
        os.kill(int(driver.get("pid")), 0)
    except (OSError, TypeError, ValueError):
        return f"not running (driver pid {driver.get('pid')} is gone; rerun the command to resume)"
    return f"running (pid {driver.get('pid')})"


def format_status(output: Path) -> str:
    """`bench suite --status`: jobs done/running/failed/pending, ETA, running and failed jobs, results written."""
    state = _read_json(state_dir(output) / "state.json")
    if state is None:
        raise BenchError(f"no suite state under {output} (expected {state_dir(output) / 'state.json'}); "
                         "start one with bench suite --output " + str(output))
    jobs = _merge_markers(state, output)
    counts = _counts(jobs)
    clock = time.time()
    eta = None if state.get("finished") else estimate_eta(jobs, int(state.get("slots", 1)), clock)
    results = state.get("results", [])
    lines = [
        f"suite {state['output']}: {state['executor']}; started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(state['started']))}, "
        f"driver {_driver_alive(state)}",
        f"jobs: {len(jobs)} to run: {counts['done']} done, {counts['running']} running, {counts['failed']} failed, "
        f"{counts['pending']} pending" + ("" if state.get("finished") else f"; ETA {format_seconds(eta)}"),
        f"results: {sum(r['state'] == 'done' for r in results)} of {len(results)} (upstream x task) written",
    ]
    running = [job for job in jobs if job["state"] == "running"]
    if running:
        lines.append("running:")
        lines += [f"  {job['label']}  {job.get('host')} pid {job.get('pid')}  {format_seconds(clock - job['started'])}"
                  + (f"  attempt {job['attempts']}" if job.get("attempts", 1) > 1 else "") for job in running]
    failed = [job for job in jobs if job["state"] == "failed"]
    if failed:
        lines.append("failed:")
        lines += [f"  {job['label']}: {job.get('error')}" for job in failed]
    failed_results = [r for r in results if r["state"] == "failed"]
    for result in failed_results:
        lines.append(f"  no result for {result['task']} {result['upstream']}: {result['error']}")
    retried = [job for job in jobs if job["state"] == "done" and job.get("attempts", 1) > 1]
    if retried:
        lines.append(f"retried and finished: {', '.join(job['label'] for job in retried)}")
    return "\n".join(lines)
