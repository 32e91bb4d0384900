"""Render a dataset's audio jobs in a process pool, resumably.

Resume works per file: after a worker has written a file (atomically), the main process appends
its ``RenderResult`` to the dataset's journal (one JSON line, flushed). A restarted run skips jobs
whose journal line exists and whose file is still there with the recorded size; a torn last line
from a kill is ignored. Only the main process writes the journal, so there are no races.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from pathlib import Path

from .errors import MiniCorpusError
from .synth import AudioJob, RenderResult, render


def make_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes, forked where the platform allows.

    ``fork`` lets a plain script call ``generate_corpus`` without an ``if __name__ == "__main__"``
    guard (``spawn`` and ``forkserver`` re-import the caller's main module). Forking is safe here
    because the workers only run espeak-ng subprocesses, numpy, scipy and soundfile, never torch or
    OpenMP code that a parent's thread pools could have left locked.
    """
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method))


def load_journal(path: Path, root: Path) -> dict[str, RenderResult]:
    """Results of files finished by earlier runs that are still intact on disk."""
    done: dict[str, RenderResult] = {}
    if not path.exists():
        return done
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            result = RenderResult.from_json(json.loads(line))
        except (ValueError, KeyError, TypeError):
            continue  # a line torn by a kill
        target = root / result.rel_path
        if target.exists() and target.stat().st_size == result.size:
            done[result.rel_path] = result
    return done


def run_jobs(
    jobs: Iterable[AudioJob], root: Path, journal: Path, pool: Executor | None, progress: bool, desc: str
) -> dict[str, RenderResult]:
    """Render every job not already done; returns results for all jobs, keyed by relative path."""
    from tqdm import tqdm

    jobs = list(jobs)
    results = load_journal(journal, root)
    todo = [job for job in jobs if job.rel_path not in results]
    journal.parent.mkdir(parents=True, exist_ok=True)
    bar = tqdm(
        total=len(jobs),
        initial=len(jobs) - len(todo),
        desc=desc,
        unit="file",
        disable=not progress,
        leave=True,
        dynamic_ncols=True,
    )
    with open(journal, "a+", encoding="utf-8") as log:
        if log.tell() > 0:  # a kill may have torn the last line: start on a fresh one
            log.seek(log.tell() - 1)
            if log.read(1) != "\n":
                log.write("\n")

        def record(result: RenderResult) -> None:
            results[result.rel_path] = result
            log.write(json.dumps(result.to_json()) + "\n")
            log.flush()
            bar.update(1)

        if pool is None:
            for job in todo:
                try:
                    record(render(job, str(root)))
                except (OSError, subprocess.CalledProcessError) as err:
                    raise MiniCorpusError(f"could not render {job.rel_path}: {err}") from err
        else:
            # Bounded in-flight work keeps memory flat and the journal close to the disk state.
            pending: dict = {}
            limit = 4 * max(os.cpu_count() or 1, 1)
            for job in todo:
                pending[pool.submit(render, job, str(root))] = job
                if len(pending) >= limit:
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in finished:
                        record(_result(fut, pending.pop(fut)))
            for fut in wait(pending).done:
                record(_result(fut, pending[fut]))
    bar.close()
    return {job.rel_path: results[job.rel_path] for job in jobs}


def _result(future: Future, job: AudioJob) -> RenderResult:
    """A worker's result, with the file named when synthesis or writing failed."""
    try:
        return future.result()
    except (OSError, subprocess.CalledProcessError) as err:
        raise MiniCorpusError(f"could not render {job.rel_path}: {err}") from err
