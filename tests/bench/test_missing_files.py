"""Nothing silently lost: a file that the dataset's metadata names but the disk lacks stops `bench run` before any
training, with one line; `data.allow_missing=true` goes on deliberately and the record and the report say so.
Edited label files change the record's dataset fingerprint and the unit ids; real-data split sizes are checked
against the official ones.

Runs on copies of superb-mini tiny (only the corpus folders a test needs), never on the shared corpus. ASV, SD and
QbE have their own tests beside their protocols' (tests/downstream_tasks/).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.cli import main
from bench.prepared import PreparedTask
from downstream_tasks import get_task
from upstream.registry import load_upstream

# task -> (corpus folders it reads, the split whose first utterance is removed)
TASKS = {
    "pr": (["LibriSpeech"], "test"),
    "asr": (["LibriSpeech"], "dev"),
    "ks": (["speech_commands_v0.01", "speech_commands_test_set_v0.01"], "dev"),  # dev files are listed
    "sid": (["VoxCeleb1"], "test"),
    "er": (["IEMOCAP_full_release"], "test"),
    "ic": (["fluent_speech_commands_dataset"], "test"),
    "sf": (["SNIPS"], "train"),
    "mlid": (["fleurs"], "test"),
    "mlasr": (["fleurs"], "dev"),
}


def corpus_copy(mini_tiny: Path, target: Path, folders: list[str]) -> Path:
    for folder in folders:
        shutil.copytree(mini_tiny / folder, target / folder)
    shutil.copy(mini_tiny / "MANIFEST.json", target / "MANIFEST.json")
    return target


def task_run(task: str, root: Path, tmp_path: Path, *overrides: str) -> PreparedTask:
    return PreparedTask(
        load_upstream("fbank_no_cmvn").info(),
        get_task(task),
        root,
        tmp_path / "runs",
        "mini",
        list(overrides),
        tmp_path / "cache",
        progress=False,
    )


def first_of_split(run: PreparedTask, split: str) -> Path:
    data = next(iter(run.data.values()))
    if split == "dev" and run.task.name == "ks":  # a word clip, not a background-noise file
        return next(u.path for u in data.splits["dev"] if u.random_crop_seconds is None)
    return data.splits[split][0].path


@pytest.fixture(params=sorted(TASKS))
def one_file_removed(request, mini_tiny, tmp_path):
    """(task, corpus copy with one metadata-named file deleted, that file relative to the root, a complete run)"""
    task = request.param
    folders, split = TASKS[task]
    root = corpus_copy(mini_tiny, tmp_path / "corpus", folders)
    complete = task_run(task, root, tmp_path)
    victim = first_of_split(complete, split)
    victim.unlink()
    return task, root, str(victim.relative_to(root)), complete


def test_a_missing_file_stops_the_run_before_training(one_file_removed, tmp_path, capsys, monkeypatch):
    task, root, victim, _ = one_file_removed
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    assert (
        main(
            [
                "run",
                "--upstream",
                "fbank_no_cmvn",
                "--task",
                task,
                "--data-root",
                str(root),
                "--output",
                str(tmp_path / "out"),
                "--profile",
                "mini",
                "--device",
                "cpu",
                "--quiet",
            ]
        )
        == 2
    )
    error = capsys.readouterr().err
    assert error.count("\n") == 1, error
    assert "1 file(s) named by the dataset's metadata are missing" in error and victim in error
    assert "data.allow_missing=true" in error
    assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists()  # nothing trained, nothing encoded


def test_allow_missing_goes_on_without_the_file_and_says_so(one_file_removed, tmp_path):
    task, root, victim, complete = one_file_removed
    run = task_run(task, root, tmp_path, "data.allow_missing=true")
    missing = run.dataset["missing"]
    assert missing["count"] == 1 and missing["files"] == [victim]
    assert all(str(u.path.relative_to(root)) != victim for data in run.data.values() for u in data.all_utterances())
    lost = {split: complete.dataset["splits"][split] - count for split, count in run.dataset["splits"].items()}
    assert {split: n for split, n in lost.items() if n} == missing["by_split"]
    assert sum(missing["by_split"].values()) >= 1


def test_er_with_allow_missing_records_it_and_the_report_footnotes_it(mini_tiny, tmp_path, monkeypatch, capsys):
    """The issue's case: one IEMOCAP wav the EmoEvaluation files list is deleted; fold 1 tests on one fewer."""
    root = corpus_copy(mini_tiny, tmp_path / "corpus", ["IEMOCAP_full_release"])
    victim = first_of_split(task_run("er", root, tmp_path), "test")
    victim.unlink()
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    assert (
        main(
            [
                "run",
                "--upstream",
                "fbank_no_cmvn",
                "--task",
                "er",
                "--data-root",
                str(root),
                "--output",
                str(tmp_path / "out"),
                "--profile",
                "mini",
                "--device",
                "cpu",
                "--quiet",
                "data.allow_missing=true",
                "total_steps=4",
                "eval_step=2",
            ]
        )
        == 0
    )
    assert "ran without 1 missing file(s)" in capsys.readouterr().out
    record = json.loads((tmp_path / "out" / "er" / "fbank_no_cmvn" / "result.json").read_text())
    assert record["dataset"]["missing"]["files"] == [str(victim.relative_to(root))]
    assert record["dataset"]["missing"]["by_split"]["fold1/test"] == 1
    assert main(["report", "--runs", str(tmp_path / "out"), "--format", "md", "--out", str(tmp_path / "report")]) == 0
    table = (tmp_path / "report" / "leaderboard.md").read_text()
    assert "run without 1 file(s)" in table and str(victim.relative_to(root)) in table


@pytest.mark.parametrize(
    "task, edit",
    [
        (
            "ic",
            lambda root: _replace_once(
                root / "fluent_speech_commands_dataset/data/test_data.csv", "increase", "decrease"
            ),
        ),
        (
            "er",
            lambda root: _replace_once(
                next((root / "IEMOCAP_full_release").glob("Session1/dialog/EmoEvaluation/*.txt")), "\tneu\t", "\tsad\t"
            ),
        ),
    ],
)
def test_an_edited_label_file_changes_the_fingerprint_and_the_unit(task, edit, mini_tiny, tmp_path):
    folders = {"ic": ["fluent_speech_commands_dataset"], "er": ["IEMOCAP_full_release"]}[task]
    root = corpus_copy(mini_tiny, tmp_path / "corpus", folders)
    before = task_run(task, root, tmp_path)
    edit(root)
    after = task_run(task, root, tmp_path)
    assert after.dataset["files_sha256"] == before.dataset["files_sha256"]  # same audio
    assert after.dataset["metadata_sha256"] != before.dataset["metadata_sha256"]
    fold = before.folds[0]
    assert after.unit(fold, 0, 1e-3).unit_id != before.unit(fold, 0, 1e-3).unit_id


def _replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def test_split_sizes_are_recorded_and_checked_against_the_official_ones_on_real_data(mini_tiny, tmp_path, capsys):
    root = corpus_copy(mini_tiny, tmp_path / "corpus", ["fluent_speech_commands_dataset"])
    on_mini = task_run("ic", root, tmp_path)
    sizes = on_mini.dataset["splits"]
    assert set(sizes) == {"train", "dev", "test"} and all(count > 0 for count in sizes.values())
    assert on_mini.dataset["size_warnings"] == []  # superb-mini is small by design
    (root / "MANIFEST.json").unlink()  # now it looks like a real (partial) FSC download
    real = task_run("ic", root, tmp_path)
    assert real.dataset["size_warnings"] == [
        f"IC {split}: {sizes[split]} utterances, the official corpus has {official:,}"
        for split, official in (("train", 23132), ("dev", 3118), ("test", 3793))
    ]
