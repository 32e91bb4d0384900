"""Shared-forward learning-rate sweeps (bench.trainer.train_sweep): heads trained side by side from one encoder forward
per step give exactly the records of training each rate alone, with the encoder in the loop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fixtures.cli import run_args

import bench.sources
from bench.cli import main

pytestmark = pytest.mark.slow

#: what must not differ between a head trained in a shared sweep and the same unit trained alone
SAME = ("unit_id", "metrics", "best_step", "dev_history", "layer_weights", "checkpoints", "learning_rate")


def _sweep(data_root: Path, output: Path, upstream: str, task: str, *overrides: str, frames: bool = True) -> list[str]:
    # no frame cache (frame tasks): the encoder runs in the loop, as for every real corpus
    in_loop = ["cache.max_gb=0"] if frames else []
    return run_args(data_root, output, upstream, task, "--lr-sweep", *in_loop, *overrides)


def _unit_records(output: Path) -> dict[float, dict]:
    records = [json.loads(path.read_text()) for path in output.glob("*/*/units/*/record.json")]
    return {record["learning_rate"]: record for record in records}


def _count_encoder_calls(monkeypatch) -> list[int]:
    calls = [0]
    encode = bench.sources.encode

    def counted(*args, **kwargs):
        calls[0] += 1
        return encode(*args, **kwargs)

    monkeypatch.setattr(bench.sources, "encode", counted)
    return calls


@pytest.mark.parametrize(
    "task,overrides",
    [
        # CTC with SpecAugment (the head's generator) and a BiLSTM's dropout (torch's global generator)
        # (the mini profile turns both off: the recipe's values are set here)
        (
            "asr",
            (
                "total_steps=12",
                "eval_step=6",
                "save_step=6",
                "batch_size=4",
                "head.dropout=0.2",
                "specaug=true",
                "lr_sweep=[1e-4,1e-3,1e-2]",
            ),
        ),
        # ASV: the recipe's waveform crops (drawn before the shared forward) and its frame crops (in each head)
        (
            "asv",
            (
                "total_steps=12",
                "eval_step=6",
                "save_step=6",
                "test_eval_step=6",
                "lr_sweep=[1e-4,1e-3,1e-2]",
            ),
        ),
    ],
)
def test_shared_sweep_records_equal_one_rate_at_a_time(task, overrides, mini_tiny, tiny_hf_dirs, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    upstream = f"hf:{tiny_hf_dirs['hubert-layer']}"
    calls = _count_encoder_calls(monkeypatch)
    assert main(_sweep(mini_tiny, tmp_path / "shared", upstream, task, *overrides)) == 0
    shared_calls, calls[0] = calls[0], 0
    assert main(_sweep(mini_tiny, tmp_path / "alone", upstream, task, *overrides, "sweep.shared=false")) == 0
    alone_calls = calls[0]

    shared, alone = _unit_records(tmp_path / "shared"), _unit_records(tmp_path / "alone")
    assert sorted(shared) == sorted(alone) == [1e-4, 1e-3, 1e-2]
    for lr, record in shared.items():
        assert record["feature_mode"] == "in_loop"
        assert record["shared_forward"] == [other for other in (1e-4, 1e-3, 1e-2) if other != lr]
        assert "shared_forward" not in alone[lr]
        for key in SAME:
            assert record[key] == alone[lr][key], (lr, key)
    # the three heads learned different things: identity is not an artefact of one head standing in for all
    assert len({json.dumps(record["layer_weights"]) for record in shared.values()}) == 3
    # training read each batch once instead of three times (evaluation still encodes dev/test once per head)
    assert shared_calls < alone_calls
    for lr in shared:
        unit_dir = next((tmp_path / "shared").glob(f"*/*/units/*-lr{lr:g}-*"))
        assert (unit_dir / "best.pt").is_file() or list(unit_dir.glob("*.pt"))
        assert (unit_dir / "test_predictions.tsv").is_file()
    summary = json.loads(next((tmp_path / "shared").glob("*/*/result.json")).read_text())
    reference = json.loads(next((tmp_path / "alone").glob("*/*/result.json")).read_text())
    assert summary["metrics"] == reference["metrics"] and summary["learning_rate"] == reference["learning_rate"]


def _kill_when_all_checkpointed(process: subprocess.Popen, output: Path, units: int, timeout: float = 300.0) -> None:
    """SIGKILL the child once every unit has a resume checkpoint and none has its record."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(list(output.glob("*/*/units/*/checkpoint.pt"))) == units:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            assert not list(output.glob("*/*/units/*/record.json")), "killed too late: a unit had finished"
            return
        assert process.poll() is None, "the sweep finished before it could be killed"
        time.sleep(0.005)
    process.kill()
    raise AssertionError("the sweep never checkpointed every unit")


def test_killed_shared_sweep_resumes_every_head_and_the_suite_runs_it_as_one_job(
    mini_tiny, tiny_hf_dirs, tmp_path, monkeypatch, capsys
):
    upstream = f"hf:{tiny_hf_dirs['hubert-layer']}"
    overrides = ("total_steps=60", "eval_step=30", "save_step=5", "batch_size=4", "lr_sweep=[1e-3,1e-2,1e-1]")
    env = {**os.environ, "BENCH_CACHE_DIR": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1"}
    killed = tmp_path / "killed"
    command = [sys.executable, "-m", "bench.cli", *_sweep(mini_tiny, killed, upstream, "pr", *overrides)]
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _kill_when_all_checkpointed(child, killed, 3)
    finished = subprocess.run(command, env=env, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    resumed = _unit_records(killed)
    assert all(0 < record["resumed_from_step"] < 60 for record in resumed.values())

    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    suite = tmp_path / "suite"
    suite_args = [
        "suite",
        "--upstreams",
        upstream,
        "--tasks",
        "pr",
        "--data-root",
        str(mini_tiny),
        "--output",
        str(suite),
        "--profile",
        "mini",
        "--device",
        "cpu",
        "--executor",
        "local",
        "--quiet",
        "--lr-sweep",
        "cache.max_gb=0",
        "sweep.max_heads=2",  # the job trains two heads side by side, then the third: the same records
        *overrides,
    ]
    capsys.readouterr()
    assert main(suite_args) == 0
    (line,) = [line for line in capsys.readouterr().err.splitlines() if "learning-rate sweep of 3 heads" in line]
    assert "trains in 2 groups of 2/1" in line and "sweep.max_heads=2" in line
    state = json.loads((suite / ".suite" / "state.json").read_text())
    (job,) = state["jobs"]
    assert job["kind"] == "sweep" and job["units"] == 3 and job["state"] == "done"
    assert "(3 units, one encoder forward per step)" in job["label"]
    capsys.readouterr()
    assert main(["suite", "--status", "--output", str(suite)]) == 0
    assert "units: 3, 3 of them in 1 shared-forward sweeps (one job each)" in capsys.readouterr().out
    uninterrupted = _unit_records(suite)
    assert sorted(uninterrupted) == sorted(resumed) == [1e-3, 1e-2, 1e-1]
    for lr, record in uninterrupted.items():
        assert record["resumed_from_step"] == 0
        for key in SAME:
            assert record[key] == resumed[lr][key], (lr, key)


def test_a_head_whose_loss_stays_nan_stops_alone_and_the_others_finish(mini_tiny, tmp_path, monkeypatch, capsys):
    """KS encodes the recipe's `_silence_` crops in the loop, so its sweep shares forwards; one rate sends its head to
    Inf: that unit stops with the one-line error, the other rate's head trains on and writes its record."""
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    args = [
        *_sweep(mini_tiny, tmp_path / "out", "fbank_no_cmvn", "ks", frames=False),
        "total_steps=20",
        "eval_step=10",
        "save_step=10",
        "lr_sweep=[1e-3,1e30]",
        "max_nonfinite_updates=5",
    ]
    assert main(args) == 2
    (line,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert "lr=1e+30" in line and "NaN/Inf for 5 consecutive updates" in line, line
    records = _unit_records(tmp_path / "out")
    assert list(records) == [1e-3] and records[1e-3]["shared_forward"] == [1e30]
    assert records[1e-3]["metrics"]["test"]["acc"] > 0
