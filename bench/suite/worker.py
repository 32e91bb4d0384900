"""What a worker runs for `bench suite`, in a Ray worker process or in the driver's own (local executor):
:func:`execute_job` rebuilds a job's TaskRun from its :class:`~bench.suite.plan.JobSpec` (keeping the last upstream
and TaskRuns in a module-global cache, since Ray reuses worker processes), then fills one extraction shard, runs one
unit or trains a shared-forward sweep of units, safe to run again after a kill. It leaves a marker per job under
`OUTPUT/.suite/jobs/` (:func:`state_dir` names the suite's state folder) that the driver's live view and
`bench suite --status` read.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from bench.prepared import FeaturePlan
from bench.record import device_description, peak_memory_mb
from bench.runner import TaskRun
from bench.suite.plan import EXTRACT_BATCH_SIZE, JobSpec, fold_caches
from benchcore.atomic import write_json_atomic
from benchcore.cache_root import default_cache_root
from benchcore.errors import BenchError
from downstream_tasks import get_task
from upstream.cost import upstream_cost


def state_dir(output: Path) -> Path:
    return output / ".suite"


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


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
        runs[run_key] = TaskRun.prepare(
            _WORKER["upstream"],
            get_task(job.task),
            Path(job.data_root),
            Path(job.output),
            job.profile,
            list(job.overrides),
            Path(job.cache_root),
            progress=False,
        )
    return runs[run_key]


def _marker_path(job: JobSpec) -> Path:
    return state_dir(Path(job.output)) / "jobs" / f"{job.job_id}.json"


def _mark(job: JobSpec, state: str, attempt: int, started: float) -> None:
    write_json_atomic(
        _marker_path(job),
        {
            "suite_run": job.suite_run,
            "job_id": job.job_id,
            "state": state,
            "attempt": attempt,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": started,
            "updated": time.time(),
        },
    )


def execute_job(job: JobSpec, *_dependencies: Any) -> dict:
    """Run one extraction shard or one unit (in a Ray worker or in the driver). Safe to run again after a kill.

    With `job.threads` the job runs with that many torch threads: CPU results of some heads (CTC, LSTM) depend on
    the thread count in the last bits, so equal thread counts are what make records identical across executors."""
    import torch

    from bench.includes import import_includes

    import_includes(job.includes)  # a Ray worker process knows the user's tasks and upstreams only once imported
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
        cache, utterances = fold_caches(run.prepared, run.cache_repairs)[job.cache_dir]
        encoded = cache.fill(
            utterances,
            lambda: run.upstream,
            batch_size=EXTRACT_BATCH_SIZE,
            progress=False,
            worker_index=job.worker_index,
            num_workers=job.num_workers,
        )
        result: dict[str, Any] = {
            "encoded": encoded,
            "peak_memory": peak_memory_mb(run.upstream.device),
            "audio_seconds": cache.encoded_audio_seconds,
            "encoding_seconds": cache.encoding_seconds,
            "device": device_description(run.upstream.device),
            "dtype": run.upstream.forward_dtype_name,
        }
        if job.worker_index == 0:  # the upstream's parameters and MACs, counted once and kept in the cache root
            upstream_cost(run.upstream, run.prepared.cache_root or default_cache_root())
    elif job.kind in ("unit", "sweep"):
        planned = job.sweep or ((job.learning_rate, job.unit_id),)
        units = [run.prepared.unit(job.fold, job.seed, lr) for lr, _ in planned]
        for unit, (_, unit_id) in zip(units, planned):
            if unit.unit_id != unit_id:
                raise BenchError(
                    f"this worker computes unit id {unit.unit_id} for {job.label}, the driver planned {unit_id}: "
                    "every node must see the same --data-root, configs and upstream weights"
                )
        run.follow_plan(FeaturePlan(job.feature_mode, "planned by bench suite"))
        if job.feature_mode == "cache":
            data = run.prepared.data[job.fold]
            missing = run.cache_for(data).missing(run.prepared.cached_utterances(data))
            if missing:
                raise BenchError(
                    f"the feature cache {run.cache_for(data).directory} lacks {len(missing)} utterances "
                    f"(first: {missing[0].uid}); its extraction did not complete"
                )
        records = list(run.run_sweep(units).values()) if job.kind == "sweep" else [run.run_unit(units[0])]
        result = {
            "unit_id": records[0].unit_id,
            "unit_ids": [record.unit_id for record in records],
            "device": records[0].device,
            "resumed_from_step": min(record.resumed_from_step for record in records),
        }
    else:
        raise ValueError(f"unknown job kind {job.kind}")
    seconds = time.time() - started
    _mark(job, "finished", attempt, started)
    return {
        **result,
        "seconds": round(seconds, 3),
        "attempt": attempt,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
