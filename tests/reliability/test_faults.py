"""Fault injection: each way storage or a sample can be bad gives one line and either repairs itself or stops, and never
a record with a wrong number (the README's "Reliability" table, row by row).

Every case runs `bench run` on superb-mini tiny's KS with the FBANK baseline (seconds per run) and compares with one
undamaged run of the same command; damaged caches, outputs and corpora are copies, never the shared session corpus.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
import soundfile

from bench.cache import list_caches
from bench.cli import main

ROOT = Path(__file__).resolve().parents[2]
KS_FOLDERS = ["speech_commands_v0.01", "speech_commands_test_set_v0.01"]
OVERRIDES = ("total_steps=60", "eval_step=20", "save_step=20")


def _args(data_root: Path, output: Path, cache: Path, upstream: str = "fbank_no_cmvn") -> list[str]:
    return [
        "run",
        "--upstream",
        upstream,
        "--task",
        "ks",
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
        *OVERRIDES,
    ]


def _result(output: Path) -> dict:
    return json.loads(next(output.glob("ks/*/result.json")).read_text())


def _shards(cache: Path, suffix: str) -> list[Path]:
    return sorted(cache.glob(f"pooled/*/shards/*{suffix}"))


def _one_line(captured: str) -> list[str]:
    return [line for line in captured.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def clean_run(mini_tiny, tmp_path_factory) -> tuple[Path, Path, dict]:
    """(cache, output, result) of the undamaged run every case compares with."""
    root = tmp_path_factory.mktemp("clean")
    assert main(_args(mini_tiny, root / "out", root / "cache")) == 0
    return root / "cache", root / "out", _result(root / "out")


@pytest.mark.parametrize("damage", ["overwritten", "truncated"])
def test_a_damaged_cache_shard_is_moved_aside_and_encoded_again(damage, clean_run, mini_tiny, tmp_path, capsys):
    clean_cache, _, clean = clean_run
    cache = tmp_path / "cache"
    shutil.copytree(clean_cache, cache)
    target = _shards(cache, ".means.npy")[0]
    content = bytearray(target.read_bytes())
    if damage == "overwritten":  # 2 KB of other bytes inside the array, same size: only the checksum sees it
        content[len(content) // 2 : len(content) // 2 + 2048] = os.urandom(2048)
    else:
        content = content[: len(content) // 2]
    target.write_bytes(bytes(content))
    capsys.readouterr()

    assert main(_args(mini_tiny, tmp_path / "out", cache)) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and target.with_suffix("").stem in warnings[0] and "encoded again" in warnings[0]
    result = _result(tmp_path / "out")
    assert result["metrics"] == clean["metrics"] and result["layer_weights"] == clean["layer_weights"]
    assert result["timings"]["extract_encoded_utterances"] > 0
    (repair,) = result["cache_repairs"]
    assert repair["shard"] == target.name.removesuffix(".means.npy") and Path(repair["moved_to"]).is_dir()
    assert not target.exists()  # moved aside, not read again

    # the cache is whole again: `bench cache verify` finds nothing; damage left in place is reported and exits 1
    assert main(["cache", "verify", "--cache-dir", str(cache)]) == 0
    fresh = _shards(cache, ".counts.npy")[0]
    fresh.write_bytes(fresh.read_bytes()[:-8])
    capsys.readouterr()
    assert main(["cache", "verify", "--cache-dir", str(cache)]) == 1
    assert f"damaged: {fresh.with_name(fresh.name.removesuffix('.counts.npy') + '.json')}" in capsys.readouterr().out
    assert main(["cache", "verify", "--repair", "--cache-dir", str(cache)]) == 0
    assert main(["cache", "verify", "--cache-dir", str(cache)]) == 0


def test_an_unreadable_resume_checkpoint_restarts_the_unit(clean_run, mini_tiny, tmp_path, capsys):
    clean_cache, clean_output, clean = clean_run
    output = tmp_path / "out"
    shutil.copytree(clean_output, output)
    (unit,) = output.glob("ks/*/units/*")
    (unit / "checkpoint.pt").write_bytes(os.urandom(3000))
    for finished in [unit / "record.json", *output.glob("ks/*/result.json")]:
        finished.unlink()
    capsys.readouterr()
    assert main(_args(mini_tiny, output, clean_cache)) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "checkpoint.pt is unreadable" in warnings[0]
    assert (unit / "checkpoint.pt.damaged").exists()
    assert json.loads((unit / "record.json").read_text())["resumed_from_step"] == 0
    assert _result(output)["metrics"] == clean["metrics"]

    # a kept (best) checkpoint that cannot be read: the unit trains again instead of scoring with it
    (unit / "best.pt").write_bytes(b"not a checkpoint")
    for finished in [unit / "record.json", *output.glob("ks/*/result.json")]:
        finished.unlink()
    assert main(_args(mini_tiny, output, clean_cache)) == 0
    assert "training this unit again" in capsys.readouterr().err
    assert _result(output)["metrics"] == clean["metrics"]


def _ks_copy(mini_tiny: Path, target: Path) -> Path:
    for folder in KS_FOLDERS:
        shutil.copytree(mini_tiny / folder, target / folder)
    return target


def test_nan_samples_stop_the_run_naming_the_file(clean_run, mini_tiny, tmp_path, capsys):
    corpus = _ks_copy(mini_tiny, tmp_path / "corpus")
    victim = sorted((corpus / "speech_commands_v0.01" / "yes").glob("*.wav"))[0]
    samples, rate = soundfile.read(victim, dtype="float32")
    samples[100:110] = np.nan
    soundfile.write(victim, samples, rate, subtype="FLOAT")
    assert main(_args(corpus, tmp_path / "out", tmp_path / "cache")) == 2
    (line,) = _one_line(capsys.readouterr().err)
    assert line.startswith("error: audio file") and str(victim) in line and "NaN/Inf" in line
    assert not list((tmp_path / "out").glob("ks/*/result.json"))

    soundfile.write(victim, np.nan_to_num(samples), rate, subtype="PCM_16")  # repaired: the run goes through
    assert main(_args(corpus, tmp_path / "out", tmp_path / "cache")) == 0


def test_a_clip_shorter_than_the_receptive_field_is_refused_for_every_upstream(
    tiny_hf_dirs, mini_tiny, tmp_path, capsys
):
    corpus = _ks_copy(mini_tiny, tmp_path / "corpus")
    victim = sorted((corpus / "speech_commands_test_set_v0.01" / "no").glob("*.wav"))[0]
    with wave.open(str(victim), "wb") as handle:  # 10 samples: wav2vec 2.0's conv front end cannot take them
        handle.setnchannels(1), handle.setsampwidth(2), handle.setframerate(16000)
        handle.writeframes(np.arange(10, dtype=np.int16).tobytes())
    for upstream in (f"hf:{tiny_hf_dirs['wav2vec2-group']}", "fbank_no_cmvn"):
        assert main(_args(corpus, tmp_path / "out", tmp_path / "cache", upstream)) == 2
        (line,) = _one_line(capsys.readouterr().err)
        assert str(victim) in line and "10 samples" in line and "receptive field of 400 samples" in line, line
    assert not list((tmp_path / "out").glob("ks/*/result.json"))


def _limited_run(args: list[str], file_size_limit: int) -> subprocess.CompletedProcess:
    """`bench run` in a child whose files cannot grow past ``file_size_limit`` bytes (a full disk, as the kernel tells a
    writer: EFBIG; Python ignores SIGXFSZ)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    return subprocess.run(
        [sys.executable, "-m", "bench.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        preexec_fn=limit,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_a_full_disk_stops_with_one_line_and_the_rerun_completes(clean_run, mini_tiny, tmp_path):
    _, _, clean = clean_run
    args = _args(mini_tiny, tmp_path / "out", tmp_path / "cache")
    failed = _limited_run(args, 50_000)  # a shard's arrays are larger: the first cache write fails
    assert failed.returncode == 2, failed.stderr
    (line,) = _one_line(failed.stderr)
    assert line.startswith("error: cannot write ") and "bytes requested" in line and "--cache-dir" in line, line
    assert not list((tmp_path / "out").glob("ks/*/result.json"))
    assert all(entry["utterances"] == 0 for entry in list_caches(tmp_path / "cache"))  # nothing half-committed
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.name.startswith(".tmp-")]

    # space freed: the same command completes with the undamaged run's numbers, and raises no warning from the
    # harness's own modules (PyTorch's one-time "NumPy array is not writable" warning on memory-mapped shards among
    # them): those are errors in this child, a fresh process since PyTorch shows that warning once per process
    script = (
        "import sys, warnings\n"
        "warnings.filterwarnings('error', module=r'(bench|benchcore|upstream|downstream_tasks|results)(\\..*)?$')\n"
        "from bench.cli import main\n"
        f"sys.exit(main({args!r}))\n"
    )
    finished = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "Warning" not in finished.stderr, finished.stderr[-3000:]
    assert _result(tmp_path / "out")["metrics"] == clean["metrics"]


def test_a_head_whose_loss_stays_nan_stops_without_a_record(mini_tiny, tmp_path, capsys):
    """A learning rate that sends the head to Inf: s3prl skips each NaN update; here the unit stops after
    `max_nonfinite_updates` consecutive ones instead of writing the record of a head that never trained."""
    args = [*_args(mini_tiny, tmp_path / "out", tmp_path / "cache"), "optimizer.lr=1e30", "max_nonfinite_updates=5"]
    assert main(args) == 2
    (line,) = _one_line(capsys.readouterr().err)
    assert "NaN/Inf for 5 consecutive updates" in line and "max_nonfinite_updates=50" in line, line
    assert not list((tmp_path / "out").glob("ks/*/units/*/record.json"))
