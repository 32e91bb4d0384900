"""Crash safety and determinism of `bench run`, with a real SIGKILL of a child process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from fixtures.cli import run_args

from bench.cache import list_caches
from bench.cli import main


def _run_args(data_root: Path, output: Path, upstream: str, task: str, *overrides: str) -> list[str]:
    return run_args(data_root, output, upstream, task, *overrides)


def _unit_dir(output: Path) -> Path:
    (unit,) = list(output.glob("*/*/units/*"))
    return unit


def _kill_when(process: subprocess.Popen, ready, timeout: float = 120.0) -> bool:
    """SIGKILL the child as soon as `ready()` holds; False if it finished first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if ready():
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.005)
    process.kill()
    raise AssertionError("child never reached the kill point")


def _best_state(output: Path) -> dict[str, torch.Tensor]:
    return torch.load(_unit_dir(output) / "best.pt", weights_only=False)["model"]


def test_kill_during_extraction_and_training_then_resume_matches_uninterrupted(mini_tiny, tiny_hf_dirs, tmp_path):
    upstream = f"hf:{tiny_hf_dirs['hubert-layer']}"
    overrides = ("total_steps=1500", "save_step=25", "eval_step=500")
    env = {
        **os.environ,
        "BENCH_CACHE_DIR": str(tmp_path / "cache_killed"),
        "BENCH_CACHE_SHARD_UTTERANCES": "8",
        "PYTHONUNBUFFERED": "1",
    }
    killed_output = tmp_path / "killed"
    command = [sys.executable, "-m", "bench.cli", *_run_args(mini_tiny, killed_output, upstream, "ic", *overrides)]

    # 1) killed while encoding: after the first shard is committed, before the last
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert _kill_when(child, lambda: any((tmp_path / "cache_killed").glob("pooled/*/shards/*.json")))
    assert not list(killed_output.glob("*/*/units/*/checkpoint.pt"))
    # 2) killed while training: after a checkpoint exists, before the record
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert _kill_when(child, lambda: any(killed_output.glob("*/*/units/*/checkpoint.pt")))
    assert not list(killed_output.glob("*/*/units/*/record.json"))
    # 3) the same command again finishes the job
    finished = subprocess.run(command, env=env, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    resumed = json.loads((_unit_dir(killed_output) / "record.json").read_text())
    assert 0 < resumed["resumed_from_step"] < 1500

    # uninterrupted reference: same command, fresh cache and output, also in a child process (same thread count)
    clean_env = {**env, "BENCH_CACHE_DIR": str(tmp_path / "cache_clean")}
    clean_command = [
        sys.executable,
        "-m",
        "bench.cli",
        *_run_args(mini_tiny, tmp_path / "clean", upstream, "ic", *overrides),
    ]
    reference = subprocess.run(clean_command, env=clean_env, capture_output=True, text=True)
    assert reference.returncode == 0, reference.stderr
    clean = json.loads((_unit_dir(tmp_path / "clean") / "record.json").read_text())
    assert resumed["unit_id"] == clean["unit_id"]
    assert resumed["metrics"] == clean["metrics"]
    assert resumed["layer_weights"] == clean["layer_weights"]
    for name, tensor in _best_state(tmp_path / "clean").items():
        assert torch.equal(tensor, _best_state(killed_output)[name]), name
    # the killed extraction left no half-written entry: both caches hold the same utterances
    counts = {entry["utterances"] for root in ("cache_killed", "cache_clean") for entry in list_caches(tmp_path / root)}
    assert len(counts) == 1


def test_same_seed_same_record_and_finished_runs_are_not_redone(mini_tiny, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    args_a = _run_args(mini_tiny, tmp_path / "a", "fbank_no_cmvn", "ks", "total_steps=60", "eval_step=20")
    args_b = _run_args(mini_tiny, tmp_path / "b", "fbank_no_cmvn", "ks", "total_steps=60", "eval_step=20")
    assert main(args_a) == 0 and main(args_b) == 0
    record_a = json.loads(next((tmp_path / "a").glob("ks/*/result.json")).read_text())
    record_b = json.loads(next((tmp_path / "b").glob("ks/*/result.json")).read_text())
    for key in ("metrics", "layer_weights", "learning_rate", "units"):
        assert record_a[key] == record_b[key]
    assert record_b["timings"]["extract_encoded_utterances"] == 0  # the second run reused the cache

    unit_record = next((tmp_path / "a").glob("ks/*/units/*/record.json"))
    before = unit_record.stat().st_mtime_ns
    assert main(args_a) == 0
    assert unit_record.stat().st_mtime_ns == before  # finished: not redone
    assert main([*args_a, "--force"]) == 0
    assert unit_record.stat().st_mtime_ns != before
    assert (
        json.loads(unit_record.read_text())["metrics"]
        == json.loads(next((tmp_path / "b").glob("ks/*/units/*/record.json")).read_text())["metrics"]
    )

    other_seed = _run_args(mini_tiny, tmp_path / "c", "fbank_no_cmvn", "ks", "total_steps=60", "eval_step=20")
    assert main([*other_seed, "--seed", "1"]) == 0
    record_c = json.loads(next((tmp_path / "c").glob("ks/*/result.json")).read_text())
    assert record_c["units"][0]["unit_id"] != record_a["units"][0]["unit_id"]
