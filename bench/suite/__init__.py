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

The package is split by role, each module importing only those before it: :mod:`bench.suite.plan` (the spec, the
groups and the job graph) < :mod:`bench.suite.worker` (what a job runs, its markers, the state folder) <
:mod:`bench.suite.status` (the progress view: `--status`, counts, ETA) < :mod:`bench.suite.driver` (the lock, the
state file, the live view, the summaries, :func:`run_suite`). This module re-exports the names other code uses.
"""

from __future__ import annotations

from bench.suite.driver import run_suite
from bench.suite.plan import SuiteSpec, task_overrides
from bench.suite.status import estimate_eta, format_status
from bench.suite.worker import state_dir

__all__ = ["SuiteSpec", "estimate_eta", "format_status", "run_suite", "state_dir", "task_overrides"]
