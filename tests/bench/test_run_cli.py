"""`bench run` records: seeds, learning-rate sweep, ER folds, config errors, and `bench cache`."""

from __future__ import annotations

import json
import statistics

import pytest
from fixtures.cli import run_args

from bench.cli import main
from results.schema import SCHEMA_VERSION


@pytest.fixture()
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _run(mini_tiny, output, task, *extra):
    return main(run_args(mini_tiny, output, "fbank_no_cmvn", task, *extra))


@pytest.mark.slow
def test_seeds_and_lr_sweep(mini_tiny, tmp_path, cache_dir, capsys):
    assert (
        _run(
            mini_tiny,
            tmp_path / "out",
            "ic",
            "--seeds",
            "2",
            "--lr-sweep",
            "total_steps=40",
            "eval_step=20",
            "lr_sweep=[1e-4,1e-2]",
        )
        == 0
    )
    summary = capsys.readouterr().out
    assert "IC" in summary and "±" in summary
    record = json.loads((tmp_path / "out" / "ic" / "fbank_no_cmvn" / "result.json").read_text())
    assert record["schema"] == "superb-bench/result-record" and record["schema_version"] == SCHEMA_VERSION
    assert [point["learning_rate"] for point in record["lr_sweep"]] == [1e-4, 1e-2]
    best = max(record["lr_sweep"], key=lambda point: point["dev_acc"])
    assert record["learning_rate"] == best["learning_rate"]
    assert record["seeds"] == [0, 1] and len(record["units"]) == 4
    values = [entry["acc"] for entry in record["per_seed"]]
    assert record["metrics"]["acc"] == pytest.approx(statistics.fmean(values))
    assert record["metrics_std"]["acc"] == pytest.approx(statistics.stdev(values))
    assert len(record["layer_weights"]) == 1 and record["upstream"]["stride_samples"] == 160
    assert (
        record["dataset"]["manifest_checksum"]
        == json.loads((mini_tiny / "MANIFEST.json").read_text())["overall_sha256"]
    )
    unit = json.loads(
        (tmp_path / "out" / "ic" / "fbank_no_cmvn" / record["units"][0]["path"] / "record.json").read_text()
    )
    for key in (
        "unit_id",
        "metrics",
        "config",
        "timings",
        "peak_memory",
        "versions",
        "device",
        "dev_history",
        "learning_rate",
    ):
        assert key in unit
    assert (tmp_path / "out" / "ic" / "fbank_no_cmvn" / record["units"][0]["path"] / "test_predictions.tsv").exists()


@pytest.mark.slow
def test_er_runs_five_folds_and_averages_them(mini_tiny, tmp_path, cache_dir):
    assert _run(mini_tiny, tmp_path / "out", "er", "total_steps=20", "eval_step=10") == 0
    record = json.loads((tmp_path / "out" / "er" / "fbank_no_cmvn" / "result.json").read_text())
    per_fold = record["per_seed"][0]["per_fold"]
    assert sorted(per_fold) == ["fold1", "fold2", "fold3", "fold4", "fold5"]
    assert record["metrics"]["acc"] == pytest.approx(statistics.fmean(fold["acc"] for fold in per_fold.values()))
    assert record["timings"]["extract_encoded_utterances"] > 0


def test_config_errors_are_one_line(mini_tiny, tmp_path, cache_dir, capsys):
    assert _run(mini_tiny, tmp_path / "out", "ks", "optimizer.lrr=3") == 2
    err = capsys.readouterr().err
    assert "unknown config key 'optimizer.lrr'" in err and "optimizer.lr" in err and err.count("\n") == 1
    assert _run(mini_tiny, tmp_path / "out", "nope") == 2
    assert "unknown task 'nope'" in capsys.readouterr().err
    assert main(["run", "--upstream", "fbank", "--task", "ks", "--data-root", str(tmp_path / "none")]) == 2
    assert "no such directory" in capsys.readouterr().err


@pytest.mark.slow
def test_cache_ls_and_rm(mini_tiny, tmp_path, cache_dir, capsys):
    assert main(["cache", "ls"]) == 0
    assert "no cached features" in capsys.readouterr().out
    assert _run(mini_tiny, tmp_path / "out", "ks", "total_steps=5", "eval_step=5") == 0
    capsys.readouterr()
    assert main(["cache", "ls"]) == 0
    listing = capsys.readouterr().out.strip().splitlines()
    assert len(listing) == 1 and "fbank_no_cmvn" in listing[0] and "speech_commands" in listing[0]
    key = listing[0].split()[0]
    assert main(["cache", "rm", key]) == 0
    assert not (cache_dir / "pooled" / key).exists()
    assert main(["cache", "rm", "deadbeef"]) == 2


def test_run_and_suite_share_one_declaration_of_the_unit_options():
    """`bench run` and `bench suite` take the same nine unit options, declared once, with the same defaults."""
    from bench.cli import build_parser

    parser = build_parser()
    run = parser.parse_args(["run", "--upstream", "fbank", "--task", "ks", "--data-root", "x"])
    suite = parser.parse_args(["suite"])
    shared = ("device", "dtype", "profile", "seed", "seeds", "lr_sweep", "force", "cache_dir", "quiet")
    assert (
        {key: getattr(run, key) for key in shared}
        == {key: getattr(suite, key) for key in shared}
        == {
            "device": "auto",
            "dtype": "fp32",
            "profile": "superb",
            "seed": 0,
            "seeds": 1,
            "lr_sweep": False,
            "force": False,
            "cache_dir": None,
            "quiet": False,
        }
    )
    flags = [
        "--device",
        "cuda:1",
        "--dtype",
        "bf16",
        "--profile",
        "mini",
        "--seed",
        "3",
        "--seeds",
        "2",
        "--lr-sweep",
        "--force",
        "--cache-dir",
        "c",
        "--quiet",
    ]
    run = parser.parse_args(["run", "--upstream", "fbank", "--task", "ks", "--data-root", "x", *flags, "total_steps=5"])
    suite = parser.parse_args(["suite", *flags, "ks:total_steps=5"])
    assert {key: getattr(run, key) for key in shared} == {key: getattr(suite, key) for key in shared}
    assert run.overrides == ["total_steps=5"] and suite.overrides == ["ks:total_steps=5"]
