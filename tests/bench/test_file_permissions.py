"""Atomic writes honour the umask exactly as a plain ``open(path, "w")`` does (not mkstemp's private 0600)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fixtures.cli import run_args

from bench.cli import main
from benchcore.atomic import atomic_path, write_json_atomic, write_npy_atomic, write_text_atomic

# umask -> (file mode, directory mode) that open() and mkdir() give under it
MODES = {0o022: (0o644, 0o755), 0o077: (0o600, 0o700), 0o002: (0o664, 0o775)}


@pytest.fixture(params=sorted(MODES), ids=lambda mask: f"umask{mask:03o}")
def umask(request) -> Iterator[int]:
    yield from _under_umask(request.param)


@pytest.fixture(params=[0o022, 0o077], ids=lambda mask: f"umask{mask:03o}")
def run_umask(request) -> Iterator[int]:
    """A real run is a few seconds: the two umasks that matter (shared and private) are enough."""
    yield from _under_umask(request.param)


def _under_umask(mask: int) -> Iterator[int]:
    previous = os.umask(mask)
    try:
        yield mask
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _wrong_modes(root: Path, file_mode: int, dir_mode: int) -> list[str]:
    """Every file and folder below ``root`` whose mode differs from what open()/mkdir() would give."""
    wrong = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath, name)
            if _mode(path) != file_mode:
                wrong.append(f"{path.relative_to(root)}: {_mode(path):o}")
        for name in dirnames:
            path = Path(dirpath, name)
            if _mode(path) != dir_mode:
                wrong.append(f"{path.relative_to(root)}/: {_mode(path):o}")
    return wrong


def test_helpers_give_the_mode_open_gives(tmp_path, umask):
    file_mode, _ = MODES[umask]
    with open(tmp_path / "plain.txt", "w") as handle:  # the reference: what the kernel gives a new file
        handle.write("x")
    assert _mode(tmp_path / "plain.txt") == file_mode
    assert _mode(write_json_atomic(tmp_path / "record.json", {"a": 1})) == file_mode
    assert _mode(write_npy_atomic(tmp_path / "array.npy", np.zeros(3))) == file_mode
    assert _mode(write_text_atomic(tmp_path / "fast.txt", "x", durable=False)) == file_mode
    assert np.load(tmp_path / "array.npy").tolist() == [0.0, 0.0, 0.0]


def test_an_existing_file_keeps_its_mode_as_with_open(tmp_path, umask):
    target = tmp_path / "shared.json"
    write_json_atomic(target, {"v": 1})
    target.chmod(0o640)
    write_json_atomic(target, {"v": 2})
    assert _mode(target) == 0o640 and target.read_text() == '{\n  "v": 2\n}\n'


def test_a_failed_write_leaves_no_temp_file(tmp_path, umask):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "x.bin") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("writer died")
    assert list(tmp_path.iterdir()) == []


def test_run_and_report_files_follow_the_umask(mini_tiny, tmp_path, monkeypatch, run_umask, capsys):
    cache, output = tmp_path / "cache", tmp_path / "out"
    monkeypatch.setenv("BENCH_CACHE_DIR", str(cache))
    assert main(run_args(mini_tiny, output, "fbank_no_cmvn", "ic", "total_steps=4", "eval_step=2")) == 0
    assert main(["report", "--runs", str(output), "--out", str(output / "report")]) == 0
    capsys.readouterr()
    unit = next((output / "ic" / "fbank_no_cmvn" / "units").iterdir())
    written = {path.name for path in unit.iterdir()} | {path.name for path in (output / "report").rglob("*")}
    for name in ("record.json", "best.pt", "checkpoint.pt", "leaderboard.md", "report.html", "task_bars.png"):
        assert name in written  # the walk below covers records, checkpoints, reports and figures
    assert any(path.is_file() for path in cache.rglob("*"))
    file_mode, dir_mode = MODES[run_umask]
    assert _wrong_modes(output, file_mode, dir_mode) == []
    assert _wrong_modes(cache, file_mode, dir_mode) == []
