"""The progress view of `bench suite`, from the driver's `OUTPUT/.suite/state.json` and the workers' job markers:
:func:`format_status` is `bench suite --status` (from any shell), and the helpers it uses (pending jobs a worker has
started shown as running, counts by state, :func:`estimate_eta`, :func:`format_seconds`) also drive the driver's
live progress bar. It only reads files; it never plans or runs a job.
"""

from __future__ import annotations

import os
import socket
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from bench.suite.worker import _read_json, state_dir
from benchcore.errors import BenchError


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
            job.update(
                state="running",
                started=marker["started"],
                host=marker["host"],
                pid=marker["pid"],
                attempts=marker["attempt"],
            )
    return jobs


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


def _unit_line(jobs: Sequence[dict]) -> list[str]:
    """How many units the unit jobs train, when shared-forward sweeps make that differ from the job count."""
    sweeps = [job for job in jobs if job["kind"] == "sweep"]
    if not sweeps:
        return []
    units = sum(int(job.get("units", 1)) for job in jobs if job["kind"] in ("unit", "sweep"))
    in_sweeps = sum(int(job.get("units", 1)) for job in sweeps)
    return [f"units: {units}, {in_sweeps} of them in {len(sweeps)} shared-forward sweeps (one job each)"]


def format_status(output: Path) -> str:
    """`bench suite --status`: jobs done/running/failed/pending, ETA, running and failed jobs, results written."""
    state = _read_json(state_dir(output) / "state.json")
    if state is None:
        raise BenchError(
            f"no suite state under {output} (expected {state_dir(output) / 'state.json'}); "
            "start one with bench suite --output " + str(output)
        )
    jobs = _merge_markers(state, output)
    counts = _counts(jobs)
    clock = time.time()
    eta = None if state.get("finished") else estimate_eta(jobs, int(state.get("slots", 1)), clock)
    results = state.get("results", [])
    lines = [
        f"suite {state['output']}: {state['executor']}; "
        f"started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(state['started']))}, "
        f"driver {_driver_alive(state)}",
        f"jobs: {len(jobs)} to run: {counts['done']} done, {counts['running']} running, {counts['failed']} failed, "
        f"{counts['pending']} pending" + ("" if state.get("finished") else f"; ETA {format_seconds(eta)}"),
        *_unit_line(jobs),
        f"results: {sum(r['state'] == 'done' for r in results)} of {len(results)} (upstream x task) written",
    ]
    running = [job for job in jobs if job["state"] == "running"]
    if running:
        lines.append("running:")
        lines += [
            f"  {job['label']}  {job.get('host')} pid {job.get('pid')}  {format_seconds(clock - job['started'])}"
            + (f"  attempt {job['attempts']}" if job.get("attempts", 1) > 1 else "")
            for job in running
        ]
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
