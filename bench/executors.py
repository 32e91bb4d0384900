"""Executors: run a graph of jobs in this process (`local`) or as Ray tasks (`ray`).

An executor knows nothing about units or caches: it calls one module-level function on each job's payload,
after the jobs it depends on have succeeded, and reports every outcome. `bench suite` builds the jobs
(bench/suite/plan.py); what the suite driver needs to know of an executor is a member of :class:`Executor`
(`slots`, `describe()`, `cached_units_on_cpu`), never its class. The Ray executor starts a local Ray instance on
this machine (all its CPUs and GPUs, or `num_cpus`/`num_gpus`), or joins an existing cluster by address: ``auto``
for the cluster this machine belongs to (a KubeRay head pod, a Slurm allocation started with `ray start`, VMs),
``ray://host:10001`` for Ray Client.
Each job is one Ray task with its resource request; a task whose worker process dies (killed, OOM, lost node) is
retried by Ray up to `max_retries` times, and the job function resumes from what the killed attempt committed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from benchcore.errors import BenchError

JobFunction = Callable[..., Any]  # function(payload, *results of the jobs it waits for) -> result


@dataclass(frozen=True)
class Job:
    job_id: str
    payload: Any  # picklable; passed to the job function
    after: tuple[str, ...] = ()  # ids of jobs that must succeed first (earlier in the list)
    gpu: bool = True  # False: the job never touches a GPU, so it requests none (Ray) whatever --gpus-per-job says


@dataclass(frozen=True)
class JobOutcome:
    job_id: str
    ok: bool
    result: Any = None
    error: str | None = None


OnOutcome = Callable[[JobOutcome], None]
OnTick = Callable[[], None]


class Executor(Protocol):
    name: str

    @property
    def slots(self) -> int:
        """How many GPU jobs can run at once (sizes the extraction split and the ETA)."""
        ...

    @property
    def cached_units_on_cpu(self) -> bool:
        """True: units that read a feature cache run on the CPU and request no GPU (`Job.gpu=False`), so only
        extraction and encoder-in-the-loop units hold GPUs; False: every unit runs on the device it was asked for."""
        ...

    def describe(self) -> str:
        """One line on where and how the jobs run (the suite prints it and keeps it in its state file); after
        :meth:`start`, since it may name what `start` found."""
        ...

    def start(self) -> None: ...

    def close(self) -> None: ...

    def run(
        self, function: JobFunction, jobs: Sequence[Job], on_outcome: OnOutcome, on_tick: OnTick | None = None
    ) -> None:
        """Run every job (a job whose dependency failed is reported failed, not run); return when all are settled."""
        ...


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def _check_order(jobs: Sequence[Job]) -> None:
    seen: set[str] = set()
    for job in jobs:
        unknown = [dep for dep in job.after if dep not in seen]
        if unknown:
            raise ValueError(f"job {job.job_id} waits for {unknown[0]}, which is not listed before it")
        seen.add(job.job_id)


class LocalExecutor:
    """One job at a time, in this process, in list order: a laptop, or a debugger."""

    name = "local"
    cached_units_on_cpu = False  # units run in this process on the device they were asked for, as in `bench run`

    @property
    def slots(self) -> int:
        return 1

    def describe(self) -> str:
        return self.name

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    def run(
        self, function: JobFunction, jobs: Sequence[Job], on_outcome: OnOutcome, on_tick: OnTick | None = None
    ) -> None:
        _check_order(jobs)
        results: dict[str, Any] = {}
        failed: set[str] = set()
        for job in jobs:
            blocked = [dep for dep in job.after if dep in failed]
            if blocked:
                failed.add(job.job_id)
                on_outcome(JobOutcome(job.job_id, False, error=f"not run: {blocked[0]} failed"))
                continue
            if on_tick:
                on_tick()
            try:
                result = function(job.payload, *(results[dep] for dep in job.after))
            except Exception as error:  # noqa: BLE001 - a failed job is reported; the others go on
                failed.add(job.job_id)
                on_outcome(JobOutcome(job.job_id, False, error=_one_line(error)))
            else:
                results[job.job_id] = result
                on_outcome(JobOutcome(job.job_id, True, result))
        if on_tick:
            on_tick()


class RayExecutor:
    """Each job is a Ray task requesting `cpus_per_job` CPUs, `gpus_per_job` GPUs (none for jobs marked `gpu=False`)
    and `memory_per_job_gb` of memory.

    Without `address` a local Ray instance is started on this machine (and shut down by :meth:`close`): with
    `gpus_per_job=1` on a machine with N GPUs that is one job per GPU, Ray setting each worker's
    CUDA_VISIBLE_DEVICES. Dependencies are passed to Ray as object references, so a unit starts as soon as the
    extraction shards of its cache are done, while other extractions still run.
    """

    name = "ray"
    cached_units_on_cpu = True  # heads train on the CPU from cached features: those units leave the GPUs to encoding

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        num_gpus: int | None = None,
        cpus_per_job: float = 1.0,
        gpus_per_job: float | None = None,
        memory_per_job_gb: float | None = None,
        max_retries: int = 3,
        poll_seconds: float = 1.0,
    ) -> None:
        if address and (num_cpus is not None or num_gpus is not None):
            raise BenchError("--num-cpus/--num-gpus size a local Ray instance; with --address the cluster has its own")
        if cpus_per_job <= 0:
            raise BenchError("--cpus-per-job must be positive")
        self.address = address
        self.num_cpus, self.num_gpus = num_cpus, num_gpus
        self.cpus_per_job, self.gpus_per_job = float(cpus_per_job), gpus_per_job
        self.memory_per_job_gb = memory_per_job_gb
        self.max_retries = max_retries
        self.poll_seconds = poll_seconds
        self._started_ray = False
        self._slots = 1
        self.cluster: dict[str, float] = {}

    @property
    def slots(self) -> int:
        return self._slots

    def describe(self) -> str:
        where = f"cluster {self.address}" if self.address else "a local Ray instance"
        if self.gpus_per_job:
            per_job = (
                f"{self.cpus_per_job:g} CPU and {self.gpus_per_job:g} GPU per job, {self._slots} at once; "
                f"{self.cpus_per_job:g} CPU per job that needs no GPU"
            )
        else:
            per_job = f"{self.cpus_per_job:g} CPU per job, {self._slots} at once"
        return f"ray ({where}: {self.cluster.get('CPU', 0):g} CPUs, {self.cluster.get('GPU', 0):g} GPUs; {per_job})"

    def start(self) -> None:
        try:
            import ray
        except ImportError as error:  # pragma: no cover - ray is a pinned dependency
            raise BenchError("--executor ray needs the ray package (pip install ray)") from error
        import logging

        if not ray.is_initialized():
            options: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "logging_level": logging.WARNING,
            }
            try:
                if self.address:
                    ray.init(address=self.address, **options)
                else:
                    ray.init(num_cpus=self.num_cpus, num_gpus=self.num_gpus, **options)
            except ConnectionError as error:
                raise BenchError(
                    f"cannot reach a Ray cluster at --address {self.address}: {error}".splitlines()[0]
                ) from error
            self._started_ray = True
        self.cluster = {
            key: float(value) for key, value in ray.cluster_resources().items() if key in ("CPU", "GPU", "memory")
        }
        gpus = self.cluster.get("GPU", 0.0)
        if self.gpus_per_job is None:  # one job per GPU where there are GPUs
            self.gpus_per_job = 1.0 if gpus else 0.0
        if self.gpus_per_job > gpus:
            raise BenchError(f"--gpus-per-job {self.gpus_per_job:g} but the Ray cluster has {gpus:g} GPUs")
        if self.cpus_per_job > self.cluster.get("CPU", 0.0):
            raise BenchError(
                f"--cpus-per-job {self.cpus_per_job:g} but the Ray cluster has {self.cluster.get('CPU', 0):g} CPUs"
            )
        by_cpu = self.cluster.get("CPU", 0.0) / self.cpus_per_job
        by_gpu = gpus / self.gpus_per_job if self.gpus_per_job else math.inf
        self._slots = max(1, int(min(by_cpu, by_gpu) + 1e-9))

    def close(self) -> None:
        if self._started_ray:
            import ray

            ray.shutdown()
            self._started_ray = False

    def _task_options(self, job: Job) -> dict[str, Any]:
        options: dict[str, Any] = {
            "num_cpus": self.cpus_per_job,
            "num_gpus": (self.gpus_per_job or 0) if job.gpu else 0,
            "max_retries": self.max_retries,
            "retry_exceptions": False,
        }
        if self.memory_per_job_gb:
            options["memory"] = int(self.memory_per_job_gb * 2**30)
        return options

    def run(
        self, function: JobFunction, jobs: Sequence[Job], on_outcome: OnOutcome, on_tick: OnTick | None = None
    ) -> None:
        import ray
        from ray.exceptions import RayTaskError

        _check_order(jobs)
        # a fresh worker process for each GPU job: a reused one would keep the CUDA context of its first GPU
        remotes = {False: ray.remote(function), True: ray.remote(max_calls=1)(function)}
        refs: dict[str, Any] = {}
        job_of: dict[Any, Job] = {}
        for job in jobs:
            options = self._task_options(job)
            remote = remotes[bool(options["num_gpus"])]
            ref = remote.options(name=job.job_id, **options).remote(job.payload, *(refs[dep] for dep in job.after))
            refs[job.job_id] = ref
            job_of[ref] = job
        position = {job.job_id: index for index, job in enumerate(jobs)}
        failed: set[str] = set()
        errors: dict[str, str] = {}

        def dependency_failed(dep: str) -> bool:  # Ray hands a failed dependency's error to its dependents
            if dep in failed or dep in errors:
                return True
            if not ray.wait([refs[dep]], timeout=0)[0]:
                return False
            try:
                ray.get(refs[dep])
            except ray.exceptions.RayError:
                return True
            return False

        pending = list(job_of)
        last_tick = 0.0
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=self.poll_seconds)
            for ref in sorted(ready, key=lambda r: position[job_of[r].job_id]):
                job = job_of[ref]
                try:
                    result = ray.get(ref)
                except RayTaskError as error:
                    cause = error.cause if getattr(error, "cause", None) is not None else error
                    errors[job.job_id] = _one_line(cause)
                except ray.exceptions.RayError as error:  # the worker died more often than max_retries, ...
                    errors[job.job_id] = _one_line(error)
                else:
                    on_outcome(JobOutcome(job.job_id, True, result))
                    continue
                blocked = [dep for dep in job.after if dependency_failed(dep)]
                failed.add(job.job_id)
                message = f"not run: {blocked[0]} failed" if blocked else errors[job.job_id]
                on_outcome(JobOutcome(job.job_id, False, error=message))
            if on_tick and time.monotonic() - last_tick >= self.poll_seconds:
                on_tick()
                last_tick = time.monotonic()
        if on_tick:
            on_tick()


def make_executor(
    name: str,
    address: str | None = None,
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    cpus_per_job: float = 1.0,
    gpus_per_job: float | None = None,
    memory_per_job_gb: float | None = None,
    max_retries: int = 3,
) -> Executor:
    if name == "local":
        if address:
            raise BenchError("--address joins a Ray cluster: use it with --executor ray")
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(address, num_cpus, num_gpus, cpus_per_job, gpus_per_job, memory_per_job_gb, max_retries)
    raise BenchError(f"unknown executor '{name}'; choose local or ray")
