"""A wheel install runs: `pip install` of the built wheel into a fresh venv, then `bench run` on superb-mini tiny.

The fresh venv borrows the dependencies (torch & co.) from the project's venv through a path entry, so the test takes
seconds and needs no index; the harness itself, its YAML configs and its data files come only from the wheel. It
runs from a folder outside the checkout, so nothing can be found relative to the source tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from omegaconf import OmegaConf

from bench.config import load_task_config

REPO = Path(__file__).resolve().parents[2]


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def test_wheel_installs_into_a_fresh_venv_and_bench_run_works(mini_tiny, tmp_path):
    # build from a copy of the sources: a `build/` folder left in the checkout would otherwise feed stale files in
    source = tmp_path / "source"
    top_level = {".git", ".venv", "build", "runs", "data", "cache", ".pytest_cache"}
    shutil.copytree(
        REPO,
        source,
        ignore=lambda folder, names: [
            name
            for name in names
            if (Path(folder) == REPO and name in top_level) or name == "__pycache__" or name.endswith(".egg-info")
        ],
    )
    wheels = tmp_path / "wheels"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(source),
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(wheels),
        ],
        cwd=tmp_path,
    )
    (wheel,) = wheels.glob("superb_bench-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "configs/asr.yaml",
        "configs/ks.yaml",
        "results/data/reference_rows.yaml",
        "bench/sample_audio/sample_1.wav",
    } <= names
    assert not any(name.startswith("tests/") for name in names)

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path
        ).stdout.strip()
    )
    # dependencies only: a plain path entry does not run the project venv's .pth files (its editable-install finder)
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)],
        cwd=tmp_path,
    )

    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["BENCH_CACHE_DIR"] = str(tmp_path / "cache")
    where = _run(
        [str(python), "-c", "import bench, configs; print(bench.__file__); print(configs.__file__)"],
        cwd=tmp_path,
        env=env,
    ).stdout.split()
    assert all(Path(path).is_relative_to(site) for path in where), where  # the wheel's copy, not the checkout
    _run(
        [
            str(venv / "bin" / "bench"),
            "run",
            "--upstream",
            "fbank",
            "--task",
            "ks",
            "--data-root",
            str(mini_tiny),
            "--output",
            str(tmp_path / "runs"),
            "--profile",
            "mini",
            "--device",
            "cpu",
            "--quiet",
            "total_steps=20",
        ],
        cwd=tmp_path,
        env=env,
    )
    record = json.loads((tmp_path / "runs" / "ks" / "fbank" / "result.json").read_text())
    expected = OmegaConf.to_container(load_task_config("ks", "mini", ["total_steps=20"]), resolve=True)
    assert record["task"] == "ks" and record["profile"] == "mini"
    assert record["config"] == expected  # the wheel's YAML, resolved the same way as in the checkout
