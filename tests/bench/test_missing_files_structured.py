"""Missing audio in the tasks whose data is more than utterances (ASV trials, SD recordings and references, QbE ground
truth), on a copy of superb-mini tiny with one file the metadata names deleted.

* without ``data.allow_missing``, ``bench run`` stops with one line (count, split, path) before any feature is
  extracted;
* with it, the run finishes, ``dataset.missing`` names the file, and whatever referred to the file (trials, a recording
  and its chunks and DER reference, a query or document and its ground truth) is gone too;
* an edit of one metadata file (a trial label, an rttm turn, a ground-truth occurrence) changes the record's
  ``dataset.metadata_sha256`` and the unit id, so an old record is not taken for the new data.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fixtures.cli import run_args

from bench.cli import main
from bench.prepared import PreparedTask
from downstream_tasks import get_task
from downstream_tasks.qbe import DOCUMENTS, file_id
from upstream.registry import load_upstream

UPSTREAM = "fbank_no_cmvn"
#: the fewest steps that still train, evaluate and write a record on superb-mini tiny
TINY_TRAINING = {
    "asv": ["total_steps=4", "eval_step=2", "save_step=2"],
    "sd": ["total_steps=4", "eval_step=2", "save_step=2"],
    "qbe": [],
}


@pytest.fixture
def corpus(mini_tiny: Path, tmp_path: Path) -> Path:
    """A private copy of superb-mini tiny: these tests delete and edit its files."""
    return Path(shutil.copytree(mini_tiny, tmp_path / "corpus"))


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _run(task: str, corpus: Path, output: Path, *overrides: str) -> int:
    return main(run_args(corpus, output, UPSTREAM, task, *overrides))


def _task_run(task: str, corpus: Path, output: Path, *overrides: str) -> PreparedTask:
    return PreparedTask(
        load_upstream(UPSTREAM).info(), get_task(task), corpus, output, "mini", list(overrides), None, False
    )


def _unit_id(run: PreparedTask) -> str:
    return run.unit(None, 0, 1e-3).unit_id


def _assert_refused(
    task: str, corpus: Path, tmp_path: Path, capsys: pytest.CaptureFixture, split: str, relative: str
) -> None:
    """(a) exit status 2, one stderr line naming the count, the split and the path, and nothing extracted or trained."""
    capsys.readouterr()
    assert _run(task, corpus, tmp_path / "runs") == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert "1 file(s)" in lines[0] and f"{split} " in lines[0] and relative in lines[0], lines[0]
    assert "data.allow_missing=true" in lines[0]
    cache = tmp_path / "cache"
    # no feature was extracted (ASV's reader may have filled the per-file sox cache, `sox/`: audio, not features)
    assert not cache.exists() or not any(path.name != "sox" for path in cache.iterdir())
    assert not list((tmp_path / "runs").rglob("record.json"))


def _assert_missing_recorded(task: str, corpus: Path, tmp_path: Path, relative: str) -> dict:
    """(b) with data.allow_missing=true the run finishes and its result says which file it ran without."""
    assert _run(task, corpus, tmp_path / "runs", "data.allow_missing=true", *TINY_TRAINING[task]) == 0
    (result_file,) = (tmp_path / "runs" / task).glob("*/result.json")
    missing = json.loads(result_file.read_text())["dataset"]["missing"]
    assert missing["count"] == 1 and missing["files"] == [relative], missing
    return missing


# ---- ASV: a test-trial file ------------------------------------------------------------------------------------------


def _asv_trial_file(corpus: Path) -> tuple[str, str]:
    """A test file the trial list names: (path under VoxCeleb1/test/wav, path under the data root)."""
    first = (corpus / "VoxCeleb1" / "voxceleb1_test_v2.txt").read_text().split()[2]
    return first, f"VoxCeleb1/test/wav/{first}"


def test_asv_refuses_a_missing_trial_file(corpus, tmp_path, capsys):
    _, relative = _asv_trial_file(corpus)
    (corpus / relative).unlink()
    _assert_refused("asv", corpus, tmp_path, capsys, "test", relative)


def test_asv_runs_without_the_file_and_its_trials(corpus, tmp_path):
    in_list, relative = _asv_trial_file(corpus)
    trial_lines = (corpus / "VoxCeleb1" / "voxceleb1_test_v2.txt").read_text().splitlines()
    naming = [line for line in trial_lines if in_list in line.split()[1:]]
    (corpus / relative).unlink()
    missing = _assert_missing_recorded("asv", corpus, tmp_path, relative)
    assert missing["by_split"] == {"test": 1}

    run = _task_run("asv", corpus, tmp_path / "check", "data.allow_missing=true")
    data = run.data[None]
    kept = data.trials["test"]
    assert len(kept) == len(trial_lines) - len(naming) and naming
    assert all(relative not in (trial.enrollment, trial.test) for trial in kept)
    assert relative not in {u.uid for u in data.splits["test"]}
    # the test split is the files the kept trials name, and the record counts the trials it scored
    assert {u.uid for u in data.splits["test"]} == {uid for trial in kept for uid in (trial.enrollment, trial.test)}
    assert run.dataset["splits"]["test_trials"] == len(kept)
    assert run.dataset["splits"]["dev_trials"] == len(data.trials["dev"])


def test_asv_trial_list_edit_changes_the_fingerprint_and_the_unit(corpus, tmp_path):
    before = _task_run("asv", corpus, tmp_path / "a")
    assert before.dataset["num_metadata_files"] == 1
    trials = corpus / "VoxCeleb1" / "voxceleb1_test_v2.txt"
    lines = trials.read_text().splitlines()
    lines[0] = ("0" if lines[0][0] == "1" else "1") + lines[0][1:]  # flip one label: same files, another test set
    trials.write_text("\n".join(lines) + "\n")
    after = _task_run("asv", corpus, tmp_path / "b")
    assert after.dataset["files_sha256"] == before.dataset["files_sha256"]
    assert after.dataset["metadata_sha256"] != before.dataset["metadata_sha256"]
    assert _unit_id(after) != _unit_id(before)


# ---- SD: one wav.scp recording ---------------------------------------------------------------------------------------


def _sd_recording(corpus: Path, split: str = "test") -> tuple[str, str]:
    """The first recording of a split's wav.scp: (recording id, path under the data root)."""
    recording, entry = (corpus / "LibriMix" / split / "wav.scp").read_text().splitlines()[0].split(None, 1)
    return recording, f"LibriMix/{entry}"


def test_sd_refuses_a_missing_recording(corpus, tmp_path, capsys):
    _, relative = _sd_recording(corpus)
    (corpus / relative).unlink()
    _assert_refused("sd", corpus, tmp_path, capsys, "test", relative)


def test_sd_runs_without_the_recording_its_chunks_and_its_reference(corpus, tmp_path):
    recording, relative = _sd_recording(corpus)
    complete = _task_run("sd", corpus, tmp_path / "complete").data[None]
    (corpus / relative).unlink()
    _assert_missing_recorded("sd", corpus, tmp_path, relative)

    data = _task_run("sd", corpus, tmp_path / "check", "data.allow_missing=true").data[None]
    assert recording in complete.references["test"]
    assert recording not in data.references["test"] and recording not in dict(data.recordings["test"])
    assert all(u.path != corpus / relative for u in data.splits["test"])
    kept = [
        (name, [complete.splits["test"][i].uid for i in indices])
        for name, indices in complete.recordings["test"]
        if name != recording
    ]
    # every kept recording still points at its own chunks, in order, after the re-indexing
    assert [(name, [data.splits["test"][i].uid for i in indices]) for name, indices in data.recordings["test"]] == kept
    assert data.references["test"] == {
        name: turns for name, turns in complete.references["test"].items() if name != recording
    }
    assert data.splits["dev"] == complete.splits["dev"] and data.references["dev"] == complete.references["dev"]


def test_sd_rttm_edit_changes_the_fingerprint_and_the_unit(corpus, tmp_path):
    before = _task_run("sd", corpus, tmp_path / "a")
    # wav.scp, segments, utt2spk and reco2dur of three splits, and the rttm of dev and test (train's is not read)
    assert before.dataset["num_metadata_files"] == 14
    rttm = corpus / "LibriMix" / "test" / "rttm"
    lines = rttm.read_text().splitlines()
    fields = lines[0].split("\t")
    fields[4] = f"{float(fields[4]) + 0.5:.4f}"  # one reference turn half a second longer
    lines[0] = "\t".join(fields)
    rttm.write_text("\n".join(lines) + "\n")
    after = _task_run("sd", corpus, tmp_path / "b")
    assert after.dataset["files_sha256"] == before.dataset["files_sha256"]
    assert after.dataset["metadata_sha256"] != before.dataset["metadata_sha256"]
    assert _unit_id(after) != _unit_id(before)


# ---- QbE: one query, and separately one document ---------------------------------------------------------------------


def _qbe_english(corpus: Path, key: str) -> str:
    """The first English row of a language key, as a path under the data root."""
    for line in (corpus / "quesst14Database" / "scoring" / key).read_text().splitlines():
        fields = line.split()
        if fields and fields[1] == "nnenglish":
            return fields[0]  # "quesst14Database/..." already
    raise AssertionError(f"no English row in {key}")


def _qbe_query_with_a_document(corpus: Path) -> str:
    """An English dev query that occurs in an English document (so dropping it changes the scored trials)."""
    data = _task_run("qbe", corpus, corpus.parent / "probe").data[None]
    documents = {file_id(u.uid) for u in data.splits[DOCUMENTS]}
    truth = data.ground_truth["dev"]
    return next(u.uid for u in data.splits["dev"] if truth.occurrences.get(file_id(u.uid), frozenset()) & documents)


@pytest.mark.parametrize(
    "key, split",
    [("language_key_dev.lst", "dev"), ("language_key_utterances.lst", DOCUMENTS)],
    ids=["query", "document"],
)
def test_qbe_refuses_a_missing_query_or_document(corpus, tmp_path, capsys, key, split):
    relative = _qbe_english(corpus, key)
    (corpus / relative).unlink()
    _assert_refused("qbe", corpus, tmp_path, capsys, split, relative)


def test_qbe_runs_without_a_query_and_its_ground_truth(corpus, tmp_path):
    query = _qbe_query_with_a_document(corpus)
    complete = _task_run("qbe", corpus, tmp_path / "complete").data[None]
    (corpus / query).unlink()
    _assert_missing_recorded("qbe", corpus, tmp_path, query)

    data = _task_run("qbe", corpus, tmp_path / "check", "data.allow_missing=true").data[None]
    name = file_id(query)
    truth = data.ground_truth["dev"]
    assert query not in {u.uid for u in data.splits["dev"]}
    assert name in complete.ground_truth["dev"].queries and name in complete.ground_truth["dev"].occurrences
    # the scorer's trials are the tlist's queries x the ecf's documents: the dropped query is in neither any more
    assert name not in truth.queries and name not in truth.occurrences
    assert truth.documents == complete.ground_truth["dev"].documents
    assert data.ground_truth["test"] == complete.ground_truth["test"]
    assert data.splits[DOCUMENTS] == complete.splits[DOCUMENTS]


def test_qbe_runs_without_a_document_and_its_ground_truth(corpus, tmp_path):
    document = _qbe_english(corpus, "language_key_utterances.lst")
    complete = _task_run("qbe", corpus, tmp_path / "complete").data[None]
    (corpus / document).unlink()
    _assert_missing_recorded("qbe", corpus, tmp_path, document)

    data = _task_run("qbe", corpus, tmp_path / "check", "data.allow_missing=true").data[None]
    name = file_id(document)
    assert document not in {u.uid for u in data.splits[DOCUMENTS]}
    for split in ("dev", "test"):
        truth, full = data.ground_truth[split], complete.ground_truth[split]
        assert name in full.documents and name not in truth.documents
        assert truth.queries == full.queries
        assert all(name not in documents for documents in truth.occurrences.values())
        assert {q: d - {name} for q, d in full.occurrences.items() if d - {name}} == truth.occurrences


def test_qbe_ground_truth_edit_changes_the_fingerprint_and_the_unit(corpus, tmp_path):
    before = _task_run("qbe", corpus, tmp_path / "a")
    # three language keys, and each query set's ecf, tlist and rttm
    assert before.dataset["num_metadata_files"] == 9
    rttm = corpus / "quesst14Database" / "scoring" / "groundtruth_quesst14_eval" / "quesst14_eval.rttm"
    lines = rttm.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith("LEXEME"))
    fields = lines[index].split()
    fields[1] = "quesst14_99999"  # the occurrence moves to another document
    lines[index] = " ".join(fields)
    rttm.write_text("\n".join(lines) + "\n")
    after = _task_run("qbe", corpus, tmp_path / "b")
    assert after.dataset["files_sha256"] == before.dataset["files_sha256"]
    assert after.dataset["metadata_sha256"] != before.dataset["metadata_sha256"]
    assert _unit_id(after) != _unit_id(before)
