"""The benchmark scripts run, so they cannot rot: `gpu_check.sh --dry` on the CPU, `scale.py` at toy sizes,
`crop_deviation.py` on superb-mini tiny, `gpu_hours.py` and `cache_integrity.py` at toy sizes.

None asserts a speed (timed tests are flaky; the figures live in the README and docs/performance.md): they check that
every stage ran through the real code path and that the tables carry what the issue asks for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_gpu_check_runs_in_dry_mode(tmp_path, mini_tiny):
    out = subprocess.run(
        [
            "bash",
            "benchmarks/gpu_check.sh",
            "--dry",
            "--json",
            str(tmp_path / "rows.json"),
            "--mini-root",
            str(mini_tiny),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable},
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    rows = {row["check"].split(" (")[0].split(",")[0]: row for row in json.loads((tmp_path / "rows.json").read_text())}
    assert rows["hidden states fp32"]["passed"] is True and float(rows["hidden states fp32"]["value"]) == 0.0
    assert rows["hidden states bf16"]["value"].startswith("skipped")
    assert float(rows["extraction throughput ratio"]["value"]) > 0
    assert "steps/s" in rows["ASR encoder in the loop"]["value"] and rows["ASR encoder in the loop"]["passed"] is True
    assert rows["bench suite --executor ray"]["passed"] is True
    assert "x training" in rows["ASR 3-rate sweep in the loop"]["value"]  # ran both ways, records identical
    assert "all checks passed" in out.stdout


def test_scale_benchmark_prints_growth_exponents(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "benchmarks/scale.py",
            "--sizes",
            "200,400",
            "--pr-sizes",
            "200,400",
            "--steps",
            "5",
            "--work",
            str(tmp_path / "work"),
            "--json",
            str(tmp_path / "scale.json"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    measured = json.loads((tmp_path / "scale.json").read_text())
    assert set(measured) == {"sid", "asv", "pr"}
    sid_small, sid_large = measured["sid"]["results"]
    assert (sid_small["utterances"], sid_large["utterances"]) == (200, 400) and sid_large["feature_mode"] == "cache"
    assert sid_large["cache_mb"] > sid_small["cache_mb"] > 0
    assert measured["pr"]["results"][0]["feature_mode"] == "cache"  # PR measured with the frame cache
    assert all(result["trials"] > 0 and 0 <= result["eer"] <= 1 for result in measured["asv"]["results"])
    assert out.stdout.count("k 200->400") == 3


def test_crop_deviation_measures_the_approximation_through_the_harness(mini_tiny):
    out = subprocess.run(
        [
            sys.executable,
            "benchmarks/crop_deviation.py",
            "--data-root",
            str(mini_tiny),
            "--task",
            "ks",
            "--upstream",
            "fbank_no_cmvn",
            "--limit",
            "3",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "3 KS training utterances longer than the crop, 1 s crops on a 1 s block grid" in out.stdout
    assert float(out.stdout.split("mean over layers: ")[1].split(";")[0]) >= 0


def test_gpu_hours_prices_the_recipe_crops():
    out = subprocess.run(
        [sys.executable, "benchmarks/gpu_hours.py"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rows = {
        line.split()[0]: line.split()
        for line in out.stdout.splitlines()
        if line[:3].strip() in ("KS", "SID", "ASV", "IC")
    }
    for task in ("KS", "SID"):  # the crops encoded in the loop cost GPU time the approximation did not
        assert "crops" in rows[task] and float(rows[task][-1]) > float(rows[task][-2])
    assert float(rows["IC"][-1]) == float(rows["IC"][-2])  # no crops, no change
    assert "34.4% of utterances are longer than 8 s" in out.stdout


def test_gpu_hours_prices_a_sweep_with_shared_forwards():
    command = [sys.executable, "benchmarks/gpu_hours.py", "--sweep", "3"]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = {line.split()[0]: line.split() for line in out.stdout.splitlines() if line.split()[:1]}
    s3prl, alone, shared = (float(value) for value in rows["PR"][-3:])
    # in the loop, one rate at a time costs s3prl's 3 whole runs; shared forwards pay the training encoder once
    assert alone == s3prl and shared < alone / 2
    s3prl, alone, shared = (float(value) for value in rows["IC"][-3:])
    assert shared == alone < s3prl  # from the pooled cache a sweep costs head steps only: nothing to share
    assert float(rows["QbE"][-3]) == float(rows["QbE"][-1])  # no training, nothing to sweep
    assert "s3prl x3 GPU-h" in out.stdout and "shared fwd GPU-h" in out.stdout


def test_cache_integrity_times_checksums_against_reads():
    out = subprocess.run(
        [
            sys.executable,
            "benchmarks/cache_integrity.py",
            "--pooled-utterances",
            "300",
            "--frame-utterances",
            "3",
            "--frame-seconds",
            "1",
            "--throughput-mib",
            "8",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "xxh3_128" in out.stdout and "pooled: 300 utterances" in out.stdout and "frames: 3 utterances" in out.stdout
    assert out.stdout.count("verification / one epoch = ") == 2
