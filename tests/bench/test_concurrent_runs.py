"""Two `bench run` processes on one cache and one output at the same time: nothing is encoded or trained twice.

What the test proves, and how it avoids depending on timing:

- Two real child processes run the same `bench run` command with the same `BENCH_CACHE_DIR` and `--output`. Each is
  released from a barrier only once both have imported everything, so they start the run within milliseconds of each
  other and meet in the cache fill and in the units (on the code before the locks, both encoded the whole corpus).
  Whatever the interleaving (the second process blocked on a lock, or run after the first finished), the assertions
  are the same: the test passes only if the locks make every interleaving equivalent to one run.
- The cache holds each utterance exactly once across its shards, and all of the corpus.
- The utterances the two processes encoded add up to the corpus: no utterance went through the encoder twice. The
  count is `PooledCache.fill`'s return value, logged per process by the test's launcher; the records'
  `timings.extract_encoded_utterances` cannot say it, since both processes write the same `result.json` (and a
  process that finds a finished `result.json` returns it as it is, with the first process's count).
- Each unit was trained once: its `train.log` holds one start line (before the locks, each held two, and one
  process resumed from the other's checkpoint).
- `result.json` and every unit's `record.json` equal those of one run of the same command into a fresh cache and
  output (exactly: every process runs with one thread), and no temporary file is left.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
from fixtures.cli import run_args

from bench.config import load_task_config
from downstream_tasks import get_task

# The launcher: imports first (their time varies), then waits at the barrier, then runs `bench` with
# PooledCache.fill wrapped to log how many utterances this process encoded. Test code only: production code has
# no hook for this.
LAUNCHER = (
    r"""
import json, os, sys, time
from pathlib import Path

import bench.cache
import bench.cli, bench.runner, downstream_tasks, upstream.registry  # noqa: F401  (imported before the barrier)

log, barrier = Path(sys.argv[1]), Path(sys.argv[2])
fill = bench.cache.PooledCache.fill

def logged_fill(self, *args, **kwargs):
    started = time.time()
    encoded = fill(self, *args, **kwargs)
    with open(log, "a") as handle:
        handle.write(json.dumps("""
    r"""{"pid": os.getpid(), "encoded": encoded, "started": started, "ended": time.time()}) + "\n")
    return encoded

bench.cache.PooledCache.fill = logged_fill
(barrier / f"ready-{os.getpid()}").touch()
while not (barrier / "go").exists():
    time.sleep(0.002)
sys.exit(bench.cli.main(sys.argv[3:]))
"""
)

OVERRIDES = ("total_steps=20", "eval_step=10", "save_step=5")
UNIT_FIELDS = ("metrics", "best_step", "dev_history", "resumed_from_step", "layer_weights", "config", "splits")
RESULT_FIELDS = ("metrics", "metrics_std", "per_seed", "learning_rate", "layer_weights", "units", "config")


def _command(data_root: Path, output: Path, log: Path, barrier: Path) -> list[str]:
    return [
        sys.executable,
        "-c",
        LAUNCHER,
        str(log),
        str(barrier),
        *run_args(data_root, output, "fbank_no_cmvn", "ic", "--seeds", "2", *OVERRIDES),
    ]


def _env(cache: Path) -> dict[str, str]:
    # one thread everywhere: CPU results depend on the thread count in the last bits; small shards: several commits
    return {
        **os.environ,
        "BENCH_CACHE_DIR": str(cache),
        "BENCH_CACHE_SHARD_UTTERANCES": "16",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
    }


def _start_together(
    commands: list[list[str]], env: dict[str, str], barrier: Path, timeout: float = 600.0
) -> list[subprocess.CompletedProcess]:
    barrier.mkdir(parents=True)
    children = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for command in commands
    ]
    deadline = time.time() + timeout
    while len(list(barrier.glob("ready-*"))) < len(children):
        assert all(child.poll() is None for child in children), [child.communicate() for child in children]
        assert time.time() < deadline, "the children never reached the barrier"
        time.sleep(0.01)
    (barrier / "go").touch()
    finished = []
    for child, command in zip(children, commands):
        stdout, stderr = child.communicate(timeout=timeout)
        finished.append(subprocess.CompletedProcess(command, child.returncode, stdout, stderr))
    return finished


def _fills(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def _shard_uids(cache: Path) -> list[str]:
    return [
        uid for shard in sorted(cache.glob("pooled/*/shards/*.json")) for uid in json.loads(shard.read_text())["uids"]
    ]


def _records(output: Path) -> tuple[dict, dict[str, dict]]:
    (result_path,) = output.glob("ic/*/result.json")
    units = {}
    for path in output.glob("ic/*/units/*/record.json"):
        record = json.loads(path.read_text())
        units[record["unit_id"]] = record
    return json.loads(result_path.read_text()), units


def test_two_concurrent_runs_encode_and_train_once_and_match_one_run(mini_tiny, tmp_path):
    corpus = {u.uid for u in get_task("ic").load(mini_tiny, None, load_task_config("ic", "mini")).all_utterances()}
    cache, output, log = tmp_path / "cache", tmp_path / "runs", tmp_path / "fills.jsonl"
    both = _start_together(
        [_command(mini_tiny, output, log, tmp_path / "barrier")] * 2, _env(cache), tmp_path / "barrier"
    )
    for child in both:
        assert child.returncode == 0, child.stderr

    uids = _shard_uids(cache)
    assert len(uids) == len(set(uids)), f"{len(uids) - len(set(uids))} utterances are in two shards"
    assert set(uids) == corpus
    fills = _fills(log)  # one line per process that reached the fill (a process started after the other's whole
    assert 1 <= len(fills) <= 2  # run would find its result.json and stop before it)
    assert sum(fill["encoded"] for fill in fills) == len(corpus), f"encoded twice: {fills}"

    for log_path in output.glob("ic/*/units/*/train.log"):  # each unit started training once, in one process
        assert log_path.read_text().count(": task ic fold") == 1, log_path.read_text()

    reference_log = tmp_path / "reference_fills.jsonl"
    (reference,) = _start_together(
        [_command(mini_tiny, tmp_path / "reference", reference_log, tmp_path / "barrier_ref")],
        _env(tmp_path / "reference_cache"),
        tmp_path / "barrier_ref",
    )
    assert reference.returncode == 0, reference.stderr
    result, units = _records(output)
    expected_result, expected_units = _records(tmp_path / "reference")
    for field in RESULT_FIELDS:
        assert result[field] == expected_result[field], field
    assert sorted(units) == sorted(expected_units) and len(units) == 2
    for unit_id, record in units.items():
        for field in UNIT_FIELDS:
            assert record[field] == expected_units[unit_id][field], (unit_id, field)
    assert not list(tmp_path.rglob(".tmp-*")), "a temporary file was left behind"


# ---- the locks of a sharded fill (`bench suite`), in one process ----------------------------------------------


def _can_lock(path: Path, shared: bool) -> bool:
    """Whether another holder could take the lock now (a new descriptor: flock excludes it even in this process)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def _ic_cache(mini_tiny: Path, cache_root: Path):
    from bench.runner import TaskRun
    from upstream.registry import load_upstream

    run = TaskRun.prepare(
        load_upstream("fbank_no_cmvn", device="cpu"),
        get_task("ic"),
        mini_tiny,
        cache_root / "runs",
        "mini",
        [],
        cache_root,
        False,
    )
    data = run.prepared.data[None]
    return run, run.cache_for(data), data.all_utterances()[:40]


def test_sharded_workers_fill_in_parallel_but_never_beside_a_whole_fill(mini_tiny, tmp_path):
    _, cache, _ = _ic_cache(mini_tiny, tmp_path)
    locks = cache.directory / "locks"
    with cache._fill_lock(0, 2, progress=False):
        assert _can_lock(locks / "fill.lock", shared=True)  # worker 2 of 2 can run beside worker 1
        assert _can_lock(locks / "fill-2of2.lock", shared=False)
        assert not _can_lock(locks / "fill-1of2.lock", shared=False)  # a second worker 1 of 2 waits
        assert not _can_lock(locks / "fill.lock", shared=False)  # a whole fill (`bench run`) waits
    with cache._fill_lock(0, 1, progress=False):
        assert not _can_lock(locks / "fill.lock", shared=True)  # during a whole fill, every worker waits
    assert _can_lock(locks / "fill.lock", shared=False)  # released


def test_fills_split_different_ways_commit_every_utterance_once(mini_tiny, tmp_path, monkeypatch):
    """The one overlap the fill locks allow: workers of two suites that split the corpus differently (2 and 3 ways)
    encode overlapping parts at once. The later commit leaves out what the earlier one committed meanwhile."""
    from bench.cache import PooledCache

    run, cache, utterances = _ic_cache(mini_tiny, tmp_path / "raced")
    encode = PooledCache._encode
    inner: list[int] = []

    def encode_after_another_worker(self, *args, **kwargs):
        monkeypatch.undo()  # the other worker encodes as usual
        # while worker 1 of 2 encodes, worker 1 of 3 fills and commits (batches 0 and 3 of 5)
        inner.append(cache.fill(utterances, lambda: run.upstream, progress=False, worker_index=0, num_workers=3))
        return encode(self, *args, **kwargs)

    monkeypatch.setattr(PooledCache, "_encode", encode_after_another_worker)
    outer = cache.fill(
        utterances, lambda: run.upstream, progress=False, worker_index=0, num_workers=2
    )  # batches 0, 2, 4
    assert (outer, inner) == (24, [16])  # batch 0 was encoded by both: the locks allow it only here
    assert cache.fill(utterances, lambda: run.upstream, progress=False, worker_index=1, num_workers=2) == 8  # batch 1
    uids = _shard_uids(tmp_path / "raced")
    assert len(uids) == len(set(uids)) == len(utterances)

    _, clean, _ = _ic_cache(mini_tiny, tmp_path / "clean")
    assert clean.fill(utterances, lambda: run.upstream, progress=False) == len(utterances)
    indices = list(range(len(utterances)))
    assert torch.equal(cache.load(utterances).batch(indices), clean.load(utterances).batch(indices))
