"""`bench suite`: the grid of `bench run` units on the local executor and on a local Ray instance with 2 workers.

The suite is 2 upstreams (fbank, fbank_no_cmvn) x 2 tasks (KS, SID) x 2 seeds on superb-mini tiny. Its records
must be `bench run`'s (same unit ids, same metrics, same layer weights), whichever executor ran them, with the
Ray run's feature caches extracted in 2 shards from scratch and one KS unit's worker SIGKILLed mid-training:
Ray retries it and it resumes from its checkpoint to the same numbers. KS trains 240 steps (a checkpoint every
10) so the kill lands between a checkpoint and the record; SID trains 20.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.cache import list_caches, worker_part
from bench.cli import main
from bench.suite import estimate_eta, state_dir, task_overrides
from benchcore.errors import BenchError

UPSTREAMS = ("fbank", "fbank_no_cmvn")
TASKS = ("ks", "sid")
SEEDS = "2"
OVERRIDES = {
    "ks": ["total_steps=240", "eval_step=80", "save_step=10"],
    "sid": ["total_steps=20", "eval_step=10", "save_step=10"],
}
SUITE_OVERRIDES = [f"{task}:{override}" for task, overrides in OVERRIDES.items() for override in overrides]
COMPARED = ("metrics", "metrics_std", "per_seed", "learning_rate", "layer_weights", "units", "dataset", "config")


def _suite_args(data_root: Path, output: Path, cache: Path, *extra: str) -> list[str]:
    return [
        "suite",
        "--upstreams",
        ",".join(UPSTREAMS),
        "--tasks",
        ",".join(TASKS),
        "--seeds",
        SEEDS,
        "--data-root",
        str(data_root),
        "--output",
        str(output),
        "--cache-dir",
        str(cache),
        "--profile",
        "mini",
        "--device",
        "cpu",
        "--quiet",
        *extra,
        *SUITE_OVERRIDES,
    ]


def _results(output: Path) -> dict[tuple[str, str], dict]:
    return {
        (upstream, task): json.loads((output / task / upstream / "result.json").read_text())
        for upstream in UPSTREAMS
        for task in TASKS
    }


def _unit_records(output: Path) -> dict[str, dict]:
    records = {}
    for path in output.glob("*/*/units/*/record.json"):
        record = json.loads(path.read_text())
        assert record["unit_id"] not in records, f"duplicate unit {record['unit_id']}"
        records[record["unit_id"]] = record
    return records


def _mtimes(output: Path) -> dict[Path, int]:
    return {path: path.stat().st_mtime_ns for task in TASKS for path in (output / task).rglob("*") if path.is_file()}


def _assert_same_records(output: Path, reference: Path) -> None:
    results, expected = _results(output), _results(reference)
    for key in expected:
        for field in COMPARED:
            assert results[key][field] == expected[key][field], (key, field)
    units, expected_units = _unit_records(output), _unit_records(reference)
    assert sorted(units) == sorted(expected_units) and len(units) == len(UPSTREAMS) * len(TASKS) * int(SEEDS)
    for unit_id, record in units.items():
        for field in ("metrics", "dev_history", "best_step", "layer_weights", "config"):
            assert record[field] == expected_units[unit_id][field], (unit_id, field)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Ray gives each 1-CPU job one thread; in-process runs get the same, which keeps them fast on a busy 2-core
    machine (the records do not depend on it: the local test compares them across thread counts anyway)."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def reference(mini_tiny, tmp_path_factory) -> Path:
    """`bench run` of the same grid: the records every executor must reproduce."""
    root = tmp_path_factory.mktemp("suite_reference")
    for upstream in UPSTREAMS:
        for task in TASKS:
            assert (
                main(
                    [
                        "run",
                        "--upstream",
                        upstream,
                        "--task",
                        task,
                        "--seeds",
                        SEEDS,
                        "--data-root",
                        str(mini_tiny),
                        "--output",
                        str(root / "runs"),
                        "--cache-dir",
                        str(root / "cache"),
                        "--profile",
                        "mini",
                        "--device",
                        "cpu",
                        "--quiet",
                        *OVERRIDES[task],
                    ]
                )
                == 0
            )
    return root


def test_worker_parts_split_batches_without_changing_them(mini_tiny):
    from bench.config import load_task_config
    from downstream_tasks import get_task

    utterances = get_task("ks").load(mini_tiny, None, load_task_config("ks", "mini")).all_utterances()
    alone = worker_part(utterances, 0, 1)
    alone_batches = [tuple(u.uid for u in alone[start : start + 8]) for start in range(0, len(alone), 8)]
    parts = [worker_part(utterances, index, 3) for index in range(3)]
    assert sorted(u.uid for part in parts for u in part) == sorted(u.uid for u in utterances)  # disjoint and complete
    part_batches = {tuple(u.uid for u in part[start : start + 8]) for part in parts for start in range(0, len(part), 8)}
    assert part_batches == set(alone_batches)  # every utterance is encoded in the same padded batch
    assert abs(len(parts[0]) - len(parts[2])) <= 8
    with pytest.raises(ValueError):
        worker_part(utterances, 3, 3)


def test_task_scoped_overrides_and_eta():
    assert task_overrides(["save_step=5", "ks:total_steps=3"], ["ks", "sid"]) == {
        "ks": ["save_step=5", "total_steps=3"],
        "sid": ["save_step=5"],
    }
    with pytest.raises(BenchError, match="names task 'er'"):
        task_overrides(["er:total_steps=3"], ["ks"])
    jobs = [
        {"kind": "unit", "state": "done", "seconds": 10.0},
        {"kind": "unit", "state": "pending"},
        {"kind": "unit", "state": "running", "started": 96.0},
        {"kind": "extract", "state": "pending"},
    ]
    assert estimate_eta(jobs, slots=2, clock=100.0) == pytest.approx((10 + 6 + 10) / 2)  # extract: mean of all kinds
    assert estimate_eta(jobs[1:], slots=2, clock=100.0) is None  # nothing finished yet: unknown


def test_local_suite_writes_bench_run_records_and_reruns_nothing(mini_tiny, reference, tmp_path, capsys):
    output = tmp_path / "local"
    # the reference's cache is complete: the local run trains only (extraction is covered by the Ray test)
    assert main(_suite_args(mini_tiny, output, reference / "cache", "--executor", "local")) == 0
    _assert_same_records(output, reference / "runs")
    state = json.loads((state_dir(output) / "state.json").read_text())
    assert [job["kind"] for job in state["jobs"]] == ["unit"] * 8 and state["finished"]
    mtimes = _mtimes(output)
    capsys.readouterr()
    assert main(_suite_args(mini_tiny, output, reference / "cache", "--executor", "ray")) == 0  # no Ray is started
    assert "nothing to do: all 4 results are up to date" in capsys.readouterr().out
    assert _mtimes(output) == mtimes


def _kill_a_training_worker(output: Path, driver: subprocess.Popen, timeout: float = 300.0) -> tuple[str, int]:
    """SIGKILL the Ray worker of the first unit seen with a checkpoint and no record; return (unit id, pid)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for checkpoint in output.glob("*/*/units/*/checkpoint.pt"):
            unit_id = checkpoint.parent.name.rsplit("-", 1)[-1]
            marker_path = state_dir(output) / "jobs" / f"unit-{unit_id}.json"
            if (checkpoint.parent / "record.json").exists() or not marker_path.exists():
                continue
            marker = json.loads(marker_path.read_text())
            if marker["state"] == "running" and marker["pid"] != driver.pid:
                os.kill(marker["pid"], signal.SIGKILL)
                return unit_id, marker["pid"]
        assert driver.poll() is None, "the suite finished before a worker could be killed"
        time.sleep(0.005)
    raise AssertionError("no unit reached a checkpoint")


def test_ray_suite_with_a_killed_worker_matches_bench_run(mini_tiny, reference, tmp_path, capsys):
    output, cache = tmp_path / "ray", tmp_path / "cache"
    log = tmp_path / "driver.log"
    command = [
        sys.executable,
        "-m",
        "bench.cli",
        *_suite_args(mini_tiny, output, cache, "--executor", "ray", "--num-cpus", "2"),
    ]
    started = time.time()
    with open(log, "w") as handle:
        driver = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT)
        try:
            killed_unit, killed_pid = _kill_a_training_worker(output, driver)
            capsys.readouterr()
            assert main(["suite", "--status", "--output", str(output)]) == 0  # from another process, while it runs
            status = capsys.readouterr().out
            assert "driver running" in status and "2 at once" in status and "jobs: 16 to run" in status
            assert driver.wait(timeout=600) == 0, log.read_text()
        finally:
            if driver.poll() is None:
                driver.kill()
    print(f"ray suite: {time.time() - started:.1f} s; killed worker {killed_pid} of unit {killed_unit}")

    _assert_same_records(output, reference / "runs")  # sharded extraction and the resumed unit change nothing
    resumed = _unit_records(output)[killed_unit]
    # killed after a checkpoint: the retry resumed from it (at the last step when the kill hit the final scoring)
    assert 0 < resumed["resumed_from_step"] <= resumed["config"]["total_steps"]
    state = json.loads((state_dir(output) / "state.json").read_text())
    by_id = {job["id"]: job for job in state["jobs"]}
    assert all(job["state"] == "done" for job in state["jobs"])
    assert by_id[f"unit-{killed_unit}"]["attempts"] == 2 and by_id[f"unit-{killed_unit}"]["resumed_from_step"] > 0
    extract = [job for job in state["jobs"] if job["kind"] == "extract"]
    assert len(extract) == 8 and {job["pid"] for job in extract} != {extract[0]["pid"]}  # 4 caches x 2 workers
    for entry in list_caches(cache):  # each utterance cached once, in shards from both workers
        uids = [
            uid for shard in Path(entry["path"]).glob("shards/*.json") for uid in json.loads(shard.read_text())["uids"]
        ]
        assert len(uids) == len(set(uids)) == entry["utterances"]
        assert len(list(Path(entry["path"]).glob("shards/*.json"))) >= 2  # one fill per worker part

    capsys.readouterr()
    assert main(["suite", "--status", "--output", str(output)]) == 0
    status = capsys.readouterr().out
    assert "16 done, 0 running, 0 failed, 0 pending" in status and "results: 4 of 4" in status
    assert "retried and finished: ks" in status

    mtimes = _mtimes(output)
    assert main(_suite_args(mini_tiny, output, cache, "--executor", "ray", "--num-cpus", "2")) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert _mtimes(output) == mtimes


def test_status_without_a_suite_and_bad_arguments(tmp_path, capsys):
    assert main(["suite", "--status", "--output", str(tmp_path)]) == 2
    assert "no suite state" in capsys.readouterr().err
    assert main(["suite", "--tasks", "ks", "--data-root", str(tmp_path)]) == 2
    assert "needs --upstreams" in capsys.readouterr().err
    assert (
        main(
            [
                "suite",
                "--upstreams",
                "fbank",
                "--tasks",
                "ks",
                "--data-root",
                str(tmp_path),
                "--executor",
                "local",
                "--address",
                "auto",
            ]
        )
        == 2
    )
    assert "use it with --executor ray" in capsys.readouterr().err


def test_failed_jobs_are_reported_and_a_rerun_finishes(mini_tiny, tmp_path, monkeypatch, capsys):
    import bench.suite.worker

    args = [
        "suite",
        "--upstreams",
        "fbank_no_cmvn",
        "--tasks",
        "sid",
        "--seeds",
        "2",
        "--data-root",
        str(mini_tiny),
        "--output",
        str(tmp_path / "out"),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--profile",
        "mini",
        "--device",
        "cpu",
        "--quiet",
        "total_steps=20",
        "eval_step=10",
    ]
    real_execute = bench.suite.worker.execute_job

    def broken_extraction(job, *dependencies):
        if job.kind == "extract":
            raise RuntimeError("disk full")
        return real_execute(job, *dependencies)

    monkeypatch.setattr(bench.suite.worker, "execute_job", broken_extraction)
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "failed: extract fbank_no_cmvn voxceleb1 1/1: RuntimeError: disk full" in err
    assert err.count("not run: extract-") == 2 and "3 jobs failed" in err  # both units waited for it
    assert main(["suite", "--status", "--output", str(tmp_path / "out")]) == 0
    status = capsys.readouterr().out
    assert "3 failed" in status and "no result for sid fbank_no_cmvn: 2 of its units failed" in status

    monkeypatch.setattr(bench.suite.worker, "execute_job", real_execute)
    assert main(args) == 0
    assert json.loads((tmp_path / "out" / "sid" / "fbank_no_cmvn" / "result.json").read_text())["seeds"] == [0, 1]
    # a driver stopped after the units and before the summary: the rerun only writes the summary
    (tmp_path / "out" / "sid" / "fbank_no_cmvn" / "result.json").unlink()
    records = _mtimes(tmp_path / "out")
    assert main(args) == 0
    assert (tmp_path / "out" / "sid" / "fbank_no_cmvn" / "result.json").exists()
    assert {path: mtime for path, mtime in _mtimes(tmp_path / "out").items() if path in records} == records
    assert json.loads((state_dir(tmp_path / "out") / "state.json").read_text())["jobs"] == []


def test_ray_places_extraction_on_gpus_and_units_that_encode_crops_too(mini_tiny, reference, tmp_path):
    """One machine with 2 GPUs (declared to Ray: this CI machine has no CUDA, so the jobs' encoders fall back to the
    CPU): each extraction shard holds one GPU, Ray hands the two concurrent shards different ones; SID's units encode
    the recipe's 8-s crops in the loop, so they hold a GPU as well (units that only read the cache get none:
    test_crops.py::test_suite_gives_units_with_crops_in_the_loop_the_encoder_device). The records are still
    `bench run`'s."""
    output = tmp_path / "gpus"
    assert (
        main(
            [
                "suite",
                "--upstreams",
                "fbank_no_cmvn",
                "--tasks",
                "sid",
                "--seeds",
                SEEDS,
                "--data-root",
                str(mini_tiny),
                "--output",
                str(output),
                "--cache-dir",
                str(tmp_path / "cache"),
                "--profile",
                "mini",
                "--quiet",
                "--executor",
                "ray",
                "--num-cpus",
                "2",
                "--num-gpus",
                "2",
                *OVERRIDES["sid"],
            ]
        )
        == 0
    )
    state = json.loads((state_dir(output) / "state.json").read_text())
    assert "2 GPUs; 1 CPU and 1 GPU per job, 2 at once" in state["executor"]
    extract = [job for job in state["jobs"] if job["kind"] == "extract"]
    units = [job for job in state["jobs"] if job["kind"] == "unit"]
    assert len(extract) == 2 and len(units) == 2
    assert {job["cuda_visible_devices"] for job in extract} <= {"0", "1"}
    if extract[0]["started"] < extract[1]["finished"] and extract[1]["started"] < extract[0]["finished"]:
        assert extract[0]["cuda_visible_devices"] != extract[1]["cuda_visible_devices"]
    assert all(job["cuda_visible_devices"] in {"0", "1"} for job in units)
    result = json.loads((output / "sid" / "fbank_no_cmvn" / "result.json").read_text())
    expected = json.loads((reference / "runs" / "sid" / "fbank_no_cmvn" / "result.json").read_text())
    for field in COMPARED:
        assert result[field] == expected[field], field
    assert result["device"].startswith("cpu:")
