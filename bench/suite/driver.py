"""The driver of `bench suite`: one per output folder (:func:`driver_lock`), it plans the grid, runs the job graph on
an executor (any :class:`~bench.executors.Executor`: how it is described and where cached units run are its own),
keeps `OUTPUT/.suite/state.json` written atomically after every event and every second, shows the live view, and
writes each (upstream, task)'s `result.json` with `bench run`'s own summary once all its units have records.
:func:`run_suite` is the entry point.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.cache import default_cache_root
from bench.executors import Executor, JobOutcome
from bench.runner import current_unit_record, remove_training_state
from bench.suite import worker
from bench.suite.plan import Group, JobSpec, SuiteSpec, build_jobs, plan_groups
from bench.suite.status import _counts, _merge_markers, estimate_eta, format_seconds
from bench.suite.worker import state_dir
from bench.summary import Extraction, summarise
from benchcore.atomic import write_json_atomic
from benchcore.errors import BenchError
from results.schema import ResultRecord
from upstream.cost import cached_cost

STATE_SCHEMA = "superb-bench/suite-state"


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
            raise BenchError(
                f"another bench suite is running on {output} ({handle.read().strip() or 'unknown pid'}); "
                f"watch it with: bench suite --status --output {output}"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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
            "schema": STATE_SCHEMA,
            "schema_version": 1,
            "suite_run": self.suite_run,
            "output": str(self.spec.output),
            "executor": self.executor_description,
            "slots": self.executor.slots,
            "driver": {"host": socket.gethostname(), "pid": os.getpid()},
            "started": self.started,
            "updated": time.time(),
            "finished": getattr(self, "finished", None),
            "stopped": getattr(self, "stopped", None),
            "spec": {
                key: (str(value) if isinstance(value, Path) else value) for key, value in asdict(self.spec).items()
            },
            "jobs": list(self.jobs.values()),
            "results": [
                {
                    "upstream": group.upstream,
                    "task": group.task,
                    "path": str(group.prepared.directory.relative_to(self.spec.output) / "result.json"),
                    "state": "done" if (group.result or group.finished) else ("failed" if group.failed else "pending"),
                    "error": group.failed,
                }
                for group in self.groups
            ],
        }

    def write_state(self) -> None:
        state = self._state()
        write_json_atomic(self.state_path, state)
        if self.bar is not None:
            jobs = _merge_markers(state, self.spec.output)
            counts = _counts(jobs)
            eta = estimate_eta(jobs, self.executor.slots, time.time())
            self.bar.set_postfix_str(
                f"{counts['running']} running, {counts['failed']} failed, ETA {format_seconds(eta)}", refresh=True
            )

    # events
    def on_outcome(self, outcome: JobOutcome) -> None:
        job = self.jobs[outcome.job_id]
        job["finished"] = time.time()
        if outcome.ok:
            result = outcome.result
            job.update(
                state="done",
                seconds=result["seconds"],
                attempts=result["attempt"],
                host=result["host"],
                pid=result["pid"],
                started=job["finished"] - result["seconds"],
                cuda_visible_devices=result.get("cuda_visible_devices"),
            )
            if job["kind"] in ("unit", "sweep"):
                job["resumed_from_step"] = result.get("resumed_from_step")
            else:
                self.extract_results[outcome.job_id] = result
        else:
            job.update(state="failed", error=outcome.error)
        if self.bar is not None:
            self.bar.update(1)
        group = self.group_of[outcome.job_id]
        finished = all(self.jobs[j]["state"] in ("done", "failed") for j in group.unit_jobs)
        if job["kind"] in ("unit", "sweep") and finished:
            self.summarise(group)
        self.write_state()

    def summarise(self, group: Group) -> None:
        failed = [self.jobs[j] for j in group.unit_jobs if self.jobs[j]["state"] == "failed"]
        if failed:
            group.failed = f"{len(failed)} of its units failed (first: {failed[0]['label']}: {failed[0]['error']})"
            return
        prepared = group.prepared
        records = {}
        for unit in group.units:
            record = current_unit_record(prepared, unit)
            if record is None:
                group.failed = f"unit {unit.unit_id} has no record after it ran"
                return
            records[(unit.fold, unit.seed, unit.learning_rate)] = record
        extractions = [self.extract_results[j] for j in group.extract_jobs if j in self.extract_results]
        extraction = Extraction(
            round(sum(self.jobs[j].get("seconds") or 0.0 for j in group.extract_jobs), 3),
            sum(result["encoded"] for result in extractions),
            extractions[0]["peak_memory"] if extractions else None,
            audio_seconds=sum(result.get("audio_seconds") or 0.0 for result in extractions),
            # parallel workers encode side by side: the fill took as long as its slowest part
            encoding_seconds=max((result.get("encoding_seconds") or 0.0 for result in extractions), default=0.0),
            device=extractions[0].get("device") if extractions else None,
            dtype=extractions[0].get("dtype") if extractions else None,
        )
        first = group.units[0]
        device = records[(first.fold, first.seed, first.learning_rate)].device
        cost = cached_cost(prepared.cache_root or default_cache_root(), prepared.info.name, prepared.info.weights_hash)
        result = summarise(prepared, records, group.seeds, group.lrs, device=device, extraction=extraction, cost=cost)
        write_json_atomic(prepared.directory / "result.json", result.to_dict())
        group.result = dataclasses.replace(result, path=prepared.directory / "result.json")

    # the run
    def run(self) -> SuiteOutcome:
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
                self.executor_description = self.executor.describe()
                planned = build_jobs(
                    spec, self.groups, self.executor.slots, self.suite_run, cpu_units=self.executor.cached_units_on_cpu
                )
                for job, kind, group in planned:
                    payload: JobSpec = job.payload
                    self.jobs[job.job_id] = {
                        "id": job.job_id,
                        "kind": kind,
                        "label": payload.label,
                        "upstream": group.upstream,
                        "task": group.task,
                        "state": "pending",
                        "after": list(job.after),
                        "attempts": 0,
                        "units": len(payload.sweep) or (0 if kind == "extract" else 1),
                    }
                    self.group_of[job.job_id] = group
                for group in self.groups:  # every unit already has its record: only the summary is missing
                    if group.finished is None and not group.unit_jobs:
                        self.summarise(group)
                self.write_state()
                if planned:
                    if self.progress:
                        from tqdm import tqdm

                        print(
                            f"{len(planned)} jobs ({sum(k == 'extract' for _, k, _ in planned)} extraction shards, "
                            f"{sum(self.jobs[job.job_id]['units'] for job, _, _ in planned)} units"
                            + (
                                f", {sweeps} of them shared-forward sweeps"
                                if (sweeps := sum(k == "sweep" for _, k, _ in planned))
                                else ""
                            )
                            + f") on {self.executor_description}; "
                            f"watch from another shell: bench suite --status --output {spec.output}",
                            flush=True,
                        )
                        self.bar = tqdm(total=len(planned), desc="suite", unit="job", dynamic_ncols=True)
                    self.executor.run(
                        worker.execute_job, [job for job, _, _ in planned], self.on_outcome, self.write_state
                    )
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

    def _outcome(self) -> SuiteOutcome:
        return SuiteOutcome(
            results=[group.result or group.finished for group in self.groups if group.result or group.finished],
            failed_jobs=[job for job in self.jobs.values() if job["state"] == "failed"],
            failed_groups=[(group.upstream, group.task, group.failed) for group in self.groups if group.failed],
            ran=len(self.jobs),
            up_to_date=sum(group.finished is not None for group in self.groups),
            summarised=sum(group.result is not None for group in self.groups),
        )

    def _clear_for_force(self) -> None:
        """--force: redo every unit. The driver clears records once, so a retried attempt still resumes."""
        for group in self.groups:
            (group.prepared.directory / "result.json").unlink(missing_ok=True)
            for unit in group.units:
                remove_training_state(group.prepared.unit_dir(unit))


@dataclass
class SuiteOutcome:
    results: list[ResultRecord]
    failed_jobs: list[dict]
    failed_groups: list[tuple[str, str, str | None]]
    ran: int  # jobs run (extraction shards and units)
    up_to_date: int  # (upstream, task) results that were already up to date
    summarised: int  # results written by this run


def run_suite(spec: SuiteSpec, executor: Executor, progress: bool = True) -> SuiteOutcome:
    """Plan the grid, run what is not done yet on `executor`, write every (upstream, task)'s result.json."""
    spec = SuiteSpec(
        **{
            **asdict(spec),
            "data_root": Path(spec.data_root).resolve(),
            "output": Path(spec.output).resolve(),
            "cache_root": Path(spec.cache_root or default_cache_root()).resolve(),
        }
    )
    return SuiteDriver(spec, executor, progress).run()
