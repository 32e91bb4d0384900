"""QbE (QUESST 2014, English subset): reader and English filter against s3prl's, ground truth, TWV over the official
trials, stdlist output, and the per-layer protocol (choice on dev) on a synthetic feature source."""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.config import load_task_config
from benchcore.errors import BenchError
from downstream_tasks import get_task
from downstream_tasks.base import Utterance
from downstream_tasks.qbe import (
    DOCUMENTS,
    GroundTruth,
    QbeData,
    choose_layer,
    file_id,
    layer_groups,
    read_ground_truth,
    scores_as_written,
    twv_metrics,
    write_stdlist,
)

S3PRL_DATASET = Path(__import__("s3prl").__file__).parent / "downstream" / "quesst14_dtw" / "dataset.py"


def _load(root: Path):
    return get_task("qbe").load(root, None, load_task_config("qbe", "mini"))


def _s3prl_english_audio_paths():
    """``english_audio_paths`` compiled from s3prl's quesst14_dtw/dataset.py (importing the module needs sox
    effects)."""
    tree = ast.parse(S3PRL_DATASET.read_text())
    function = next(
        node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "english_audio_paths"
    )
    namespace = {"re": re}
    exec(compile(ast.Module([function], []), str(S3PRL_DATASET), "exec"), namespace)
    return namespace["english_audio_paths"]


def make_layout(
    root: Path, documents: dict[str, str], queries: dict[str, dict[str, str]], occurrences: dict[str, list[str]]
) -> Path:
    """A hand-made quesst14Database/: empty audio files, language keys, ecf/tlist/rttm for the dev and eval sets."""
    base = root / "quesst14Database"
    for folder in ("Audio", "dev_queries", "eval_queries", "scoring"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    rows = []
    for name, language in documents.items():
        (base / "Audio" / f"{name}.wav").touch()
        rows.append(f"quesst14Database/Audio/{name}.wav {language}\n")
    (base / "scoring" / "language_key_utterances.lst").write_text("".join(rows) + "\n")  # a trailing blank line is fine
    for query_set, names in queries.items():
        (base / "scoring" / f"language_key_{query_set}.lst").write_text(
            "".join(f"quesst14Database/{query_set}_queries/{name}.wav {language}\n" for name, language in names.items())
        )
        for name in names:
            (base / f"{query_set}_queries" / f"{name}.wav").touch()
        gt = base / "scoring" / f"groundtruth_quesst14_{query_set}"
        gt.mkdir()
        # the ecf may name a file with a folder and a suffix; the scorer's id is the bare stem
        (gt / "quesst14.ecf.xml").write_text(
            '<ecf source_signal_duration="1.0" language="multiple">'
            + "".join(
                f'<excerpt audio_filename="Audio/{d}.wav" channel="1" tbeg="0.000" dur="1.0"/>' for d in documents
            )
            + "</ecf>"
        )
        (gt / f"quesst14_{query_set}.tlist.xml").write_text(
            '<termlist ecf_filename="quesst14.ecf.xml">'
            + "".join(f'<term termid="{q}"><termtext>{q}</termtext></term>' for q in names)
            + "</termlist>"
        )
        lines = [f"SPEAKER {d} 1 0.000 1.000 <NA> <NA> {d} <NA>" for d in documents] + ["# comment", ""]
        lines += [f"LEXEME {d} 1 0.100 0.300 {q} lex <NA> <NA>" for q in names for d in occurrences.get(q, [])]
        (gt / f"quesst14_{query_set}.rttm").write_text("\n".join(lines) + "\n")
    return root


DOCS = {
    "quesst14_00001": "nnenglish",
    "quesst14_00002": "albanian",
    "quesst14_00003": "nnenglish",
    "quesst14_00004": "nnenglish",
    "quesst14_00005": "czech",
}
QUERIES = {
    "dev": {"quesst14_dev_0001": "nnenglish", "quesst14_dev_0002": "czech", "quesst14_dev_0003": "nnenglish"},
    "eval": {"quesst14_eval_0001": "basque", "quesst14_eval_0002": "nnenglish"},
}
OCCURRENCES = {
    "quesst14_dev_0001": ["quesst14_00001", "quesst14_00004"],
    "quesst14_dev_0002": ["quesst14_00005"],
    "quesst14_dev_0003": ["quesst14_00003"],
    "quesst14_eval_0002": ["quesst14_00003"],
}


# ------------------------------------------------------------------------------------------------------------ reading
def test_english_filter_matches_s3prl(mini_tiny):
    english_audio_paths = _s3prl_english_audio_paths()
    data = _load(mini_tiny)
    root = mini_tiny / "quesst14Database"
    for split, key in (
        (DOCUMENTS, "language_key_utterances.lst"),
        ("dev", "language_key_dev.lst"),
        ("test", "language_key_eval.lst"),
    ):
        assert [u.path for u in data.splits[split]] == english_audio_paths(root, key)  # same files, same order
    all_docs = (root / "scoring" / "language_key_utterances.lst").read_text().split("\n")
    assert 0 < len(data.splits[DOCUMENTS]) < len([line for line in all_docs if line])  # the filter drops something
    assert all(u.uid.startswith("quesst14Database/") and u.path == mini_tiny / u.uid for u in data.splits["dev"])


def test_ground_truth_of_mini_tiny(mini_tiny):
    data = _load(mini_tiny)
    scoring = mini_tiny / "quesst14Database" / "scoring"
    for split, query_set in (("dev", "dev"), ("test", "eval")):
        truth = data.ground_truth[split]
        keys = (scoring / f"language_key_{query_set}.lst").read_text().split()[::2]
        assert truth.queries == tuple(file_id(path) for path in keys)  # every language's queries
        assert len(truth.documents) == len((scoring / "language_key_utterances.lst").read_text().split()) // 2
        rows = [
            line.split()
            for line in (scoring / f"groundtruth_quesst14_{query_set}" / f"quesst14_{query_set}.rttm")
            .read_text()
            .splitlines()
            if line.startswith("LEXEME")
        ]
        assert {(r[5], r[1]) for r in rows} == {(q, d) for q, docs in truth.occurrences.items() for d in docs}


def test_hand_made_layout(tmp_path):
    data = _load(make_layout(tmp_path, DOCS, QUERIES, OCCURRENCES))
    assert [file_id(u.uid) for u in data.splits[DOCUMENTS]] == ["quesst14_00001", "quesst14_00003", "quesst14_00004"]
    assert [file_id(u.uid) for u in data.splits["dev"]] == ["quesst14_dev_0001", "quesst14_dev_0003"]
    assert [file_id(u.uid) for u in data.splits["test"]] == ["quesst14_eval_0002"]
    truth = data.ground_truth["dev"]
    assert truth.documents == tuple(DOCS)  # "Audio/quesst14_00001.wav" in the ecf -> quesst14_00001
    assert truth.queries == tuple(QUERIES["dev"])
    assert truth.occurrences["quesst14_dev_0002"] == {"quesst14_00005"}
    np.testing.assert_array_equal(
        truth.targets(["quesst14_dev_0001", "quesst14_dev_0003"], ["quesst14_00001", "quesst14_00003"]),
        [[True, False], [False, True]],
    )
    assert data.ground_truth["test"].occurrences == {"quesst14_eval_0002": {"quesst14_00003"}}


def test_missing_or_bad_layout_is_one_line_error(tmp_path):
    with pytest.raises(BenchError, match="quesst14Database/Audio") as caught:
        _load(tmp_path)
    assert "\n" not in str(caught.value) and "--data-root" in str(caught.value)

    root = make_layout(tmp_path / "a", DOCS, QUERIES, OCCURRENCES)
    (root / "quesst14Database" / "scoring" / "groundtruth_quesst14_eval" / "quesst14_eval.rttm").unlink()
    with pytest.raises(BenchError, match="quesst14_eval.rttm"):
        _load(root)

    root = make_layout(tmp_path / "b", DOCS, QUERIES, OCCURRENCES)
    (root / "quesst14Database" / "Audio" / "quesst14_00003.wav").unlink()
    # a missing audio file is still listed: the runner's check counts every one (or data.allow_missing drops them)
    assert root / "quesst14Database" / "Audio" / "quesst14_00003.wav" in {u.path for u in _load(root).splits[DOCUMENTS]}

    root = make_layout(tmp_path / "c", DOCS, QUERIES, OCCURRENCES)
    (root / "quesst14Database" / "scoring" / "language_key_dev.lst").write_text("quesst14Database/dev_queries/x.wav\n")
    with pytest.raises(BenchError, match="line 1"):
        _load(root)

    english_nowhere = {q: d for q, d in OCCURRENCES.items() if not q.startswith("quesst14_eval")}
    with pytest.raises(BenchError, match="MTWV is undefined"):
        _load(make_layout(tmp_path / "d", DOCS, QUERIES, english_nowhere))


def test_metadata_files_are_the_language_keys_and_the_ground_truth(tmp_path):
    root = make_layout(tmp_path, DOCS, QUERIES, OCCURRENCES)
    scoring = root / "quesst14Database" / "scoring"
    expected = [scoring / "language_key_utterances.lst"]
    for query_set in ("dev", "eval"):
        truth = scoring / f"groundtruth_quesst14_{query_set}"
        expected += [
            scoring / f"language_key_{query_set}.lst",
            truth / "quesst14.ecf.xml",
            truth / f"quesst14_{query_set}.tlist.xml",
            truth / f"quesst14_{query_set}.rttm",
        ]
    assert _load(root).metadata_files == expected


def test_without_files_drops_queries_documents_and_their_ground_truth(tmp_path):
    root = make_layout(tmp_path, DOCS, QUERIES, OCCURRENCES)
    data = _load(root)
    base = root / "quesst14Database"
    task = get_task("qbe")

    kept = task.without_files(data, lambda path: path == base / "dev_queries" / "quesst14_dev_0001.wav")
    assert [file_id(u.uid) for u in kept.splits["dev"]] == ["quesst14_dev_0003"]
    dev = kept.ground_truth["dev"]
    assert dev.queries == ("quesst14_dev_0002", "quesst14_dev_0003") and "quesst14_dev_0001" not in dev.occurrences
    assert (
        dev.documents == data.ground_truth["dev"].documents and kept.ground_truth["test"] == data.ground_truth["test"]
    )

    # quesst14_00003 is eval_0002's only occurrence: the query stays in the tlist, with nothing to find, as a query
    # that occurs nowhere (which the scorer does not score)
    kept = task.without_files(data, lambda path: path == base / "Audio" / "quesst14_00003.wav")
    assert [file_id(u.uid) for u in kept.splits[DOCUMENTS]] == ["quesst14_00001", "quesst14_00004"]
    for split in ("dev", "test"):
        assert "quesst14_00003" not in kept.ground_truth[split].documents
        assert kept.ground_truth[split].queries == data.ground_truth[split].queries
    assert kept.ground_truth["dev"].occurrences == {
        "quesst14_dev_0001": {"quesst14_00001", "quesst14_00004"},
        "quesst14_dev_0002": {"quesst14_00005"},
    }
    assert kept.ground_truth["test"].occurrences == {}
    # the official trials are the kept ecf x tlist: the scorer sees neither the document nor its occurrence
    scores = np.zeros((1, 2))
    result = twv_metrics(
        scores, ["quesst14_dev_0001"], ["quesst14_00001", "quesst14_00004"], kept.ground_truth["dev"], 2.0
    )
    assert result["scored_documents"] == 4
    assert len(data.splits[DOCUMENTS]) == 3 and "quesst14_00003" in data.ground_truth["dev"].documents  # not modified

    with pytest.raises(BenchError, match="no English test file is left"):
        task.without_files(data, lambda path: path == base / "eval_queries" / "quesst14_eval_0002.wav")


def test_read_ground_truth_rejects_empty_lists(tmp_path):
    root = make_layout(tmp_path, DOCS, QUERIES, OCCURRENCES)
    gt = root / "quesst14Database" / "scoring" / "groundtruth_quesst14_dev"
    (gt / "quesst14_dev.tlist.xml").write_text("<termlist></termlist>")
    with pytest.raises(BenchError, match="termid"):
        read_ground_truth(gt, "dev")


# ------------------------------------------------------------------------------------------------------------ scoring
TRUTH = GroundTruth(
    documents=("d0", "d1", "d2", "f0"),
    queries=("q0", "q1", "qf"),
    occurrences={"q0": frozenset({"d0"}), "q1": frozenset({"d1", "d2"}), "qf": frozenset({"f0"})},
)


def test_twv_over_official_and_english_trials_hand_worked():
    # English queries q0, q1 against English documents d0, d1, d2 (qf and f0 are another language: never scored).
    scores = np.array([[3.0, 1.0, -1.0],
                       [0.5, 2.5, 0.0]])  # fmt: skip
    # Official trials (what score-TWV-Cnxe.sh <dir> <gt> -10 scores): 3 queries x 4 documents, the 6 unscored trials at
    # the default -10 with decision NO. beta = 12.49. N_true: q0 1, q1 2, qf 1; non-targets: 3, 2, 3. Q = 3. A hit adds
    # 1/(Q N_true): q0 1/3, q1 1/6; a false alarm subtracts beta/(Q N_nontarget): q0 12.49/9 = 1.3878,
    # q1 12.49/6 = 2.0817. Down the scores: 3.0 (q0 d0 hit) -> 1/3; 2.5 (q1 d1 hit) -> 1/2; 1.0 (q0 d1 FA) ->
    # 1/2 - 1.3878 < 0; lower thresholds only add more false alarms than hits. MTWV = 1/2 (at 2.5): qf's miss caps it at
    # 2/3.
    # ATWV (YES where z > 2): q0 d0 and q1 d1, both hits: 1 - (0 + 1/2 + 1)/3 = 1/2.
    # English trials only: Q = 2, non-targets q0 2, q1 1. Hits add q0 1/2, q1 1/4: 3.0 -> 1/2; 2.5 -> 3/4; then a false
    # alarm (q0 12.49/4 = 3.12) -> negative. MTWV = ATWV = 3/4.
    result = twv_metrics(scores, ["q0", "q1"], ["d0", "d1", "d2"], TRUTH, 2.0)
    assert result["mtwv"] == pytest.approx(0.5) and result["mtwv_threshold"] == 2.5
    assert result["atwv"] == pytest.approx(0.5)
    assert result["mtwv_english"] == pytest.approx(0.75) and result["atwv_english"] == pytest.approx(0.75)
    assert (result["scored_queries"], result["scored_documents"], result["english_queries"]) == (3, 4, 2)
    # a query outside the tlist is ignored by the official scorer; a document order change changes nothing
    more = twv_metrics(
        np.vstack([scores[:, ::-1], [9.0, 9.0, 9.0]]), ["q0", "q1", "zz"], ["d2", "d1", "d0"], TRUTH, 2.0
    )
    assert more["mtwv"] == pytest.approx(0.5) and more["atwv"] == pytest.approx(0.5)


def test_scores_are_rounded_as_written_but_decisions_are_not(tmp_path):
    np.testing.assert_array_equal(scores_as_written(np.array([[1.23456, -0.00004, 2.00001]])), [[1.2346, -0.0, 2.0]])
    path = write_stdlist(
        tmp_path / "stdlist_test" / "benchmark.stdlist.xml",
        ["q0", "q1"],
        ["d0", "d1", "d2"],
        np.array([[2.00001, 2.0, -1.0], [0.5, 3.25, 0.0]]),
        2.0,
    )
    root = ET.parse(path).getroot()
    assert root.tag == "stdlist" and root.get("system_id") == "benchmark"
    lists = root.findall("detected_termlist")
    assert [e.get("termid") for e in lists] == ["q0", "q1"]
    terms = [(e.get("file"), e.get("score"), e.get("decision")) for e in lists[0].findall("term")]
    # s3prl decides on the unrounded z-score (> 2.0) and writes it with 4 decimals
    assert terms == [("d0", "2.0000", "YES"), ("d1", "2.0000", "NO"), ("d2", "-1.0000", "NO")]


def test_choose_layer_and_groups():
    entries = [{"mtwv": 0.1}, {"mtwv": 0.3}, {"mtwv": 0.3}, {"mtwv": float("nan")}]
    assert choose_layer(entries) == 1  # ties go to the lower layer, nan never wins
    assert choose_layer([{"mtwv": float("nan")}]) == 0
    with pytest.raises(ValueError):
        choose_layer([])
    assert layer_groups(5, None, 8.0) == [[0, 1, 2, 3, 4]]
    assert layer_groups(5, 3e9, 8.0) == [[0, 1], [2, 3], [4]]
    assert layer_groups(3, 20e9, 8.0) == [[0], [1], [2]]  # one layer at a time at least


# ------------------------------------------------------------------------------------------------------------ protocol
class PlantedSource:
    """Frames with 3 hidden states: only hidden state 1 carries the words (a query is its word, slightly perturbed; a
    document has its words between stretches of noise); hidden states 0 and 2 are independent noise. Returns what a
    frame cache returns."""

    def __init__(
        self, splits: dict[str, list[list[str]]], words: dict[str, np.ndarray], dim: int, seed: int = 0
    ) -> None:
        rng = np.random.default_rng(seed)
        self.frames = {}
        for split, contents in splits.items():
            utterances = []
            gap = 6 if split == DOCUMENTS else 0
            for content in contents:  # content: the words of the utterance, in order
                parts = [rng.normal(size=(gap, dim))]
                for word in content:
                    parts += [words[word] + 0.05 * rng.normal(size=words[word].shape), rng.normal(size=(gap, dim))]
                informative = np.concatenate(parts).astype(np.float32)
                noise = [rng.normal(size=informative.shape).astype(np.float32) for _ in range(2)]
                utterances.append([noise[0], informative, noise[1]])
            self.frames[split] = utterances

    def batch(self, split, indices, generator):
        assert generator is None
        items = [self.frames[split][i] for i in indices]
        lengths = torch.tensor([item[0].shape[0] for item in items])
        layers = [
            torch.nn.utils.rnn.pad_sequence([torch.from_numpy(item[k]) for item in items], batch_first=True)
            for k in range(3)
        ]
        return layers, lengths


def test_protocol_chooses_the_informative_layer_on_dev(tmp_path):
    rng = np.random.default_rng(1)
    dim = 16
    words = {name: rng.normal(size=(10, dim)) for name in ("q0", "q1", "e0", "e1", "other")}
    docs = {
        "d0": ["q0", "other"],
        "d1": ["other", "q0"],
        "d2": ["q1"],
        "d3": ["e0"],
        "d4": ["e1", "other"],
        "d5": ["other", "e1"],
        "d6": ["other"],
        "d7": [],
    }
    doc_ids = list(docs)
    dev_truth = GroundTruth(
        tuple(doc_ids) + ("f0",),
        ("q0", "q1", "qf"),
        {"q0": frozenset({"d0", "d1"}), "q1": frozenset({"d2"}), "qf": frozenset({"f0"})},
    )
    test_truth = GroundTruth(
        tuple(doc_ids) + ("f0",), ("e0", "e1", "ef"), {"e0": frozenset({"d3"}), "e1": frozenset({"d4", "d5"})}
    )  # ef occurs nowhere: not scored

    def utterances(folder, names):
        return [
            Utterance(f"quesst14Database/{folder}/{name}.wav", Path(f"/nonexistent/{name}.wav"), ()) for name in names
        ]

    data = QbeData(
        "quesst14",
        tmp_path,
        {
            DOCUMENTS: utterances("Audio", doc_ids),
            "dev": utterances("dev_queries", ["q0", "q1"]),
            "test": utterances("eval_queries", ["e0", "e1"]),
        },
        ground_truth={"dev": dev_truth, "test": test_truth},
    )
    source = PlantedSource(
        {DOCUMENTS: list(docs.values()), "dev": [["q0"], ["q1"]], "test": [["e0"], ["e1"]]}, words, dim
    )
    config = load_task_config("qbe", "mini", ["dtw.workers=1", "batch_size=3"])
    outcome = get_task("qbe").score_without_training(data, source, config, tmp_path, progress=False)

    per_layer = outcome.extra["per_layer_dev"]
    assert [entry["layer"] for entry in per_layer] == [0, 1, 2]
    assert outcome.extra["chosen_layer"] == 1 and outcome.extra["layer_weights"] == [0.0, 1.0, 0.0]
    # the planted layer separates every English target: the English trials give 1; the official trials 2/3 (qf, another
    # language's query, is never found); the noise layers are far below
    assert per_layer[1]["mtwv_english"] == pytest.approx(1.0) and per_layer[1]["mtwv"] == pytest.approx(2 / 3)
    assert max(per_layer[0]["mtwv"], per_layer[2]["mtwv"]) < 0.4
    assert outcome.dev == {key: per_layer[1][key] for key in ("mtwv", "atwv", "mtwv_english", "atwv_english")}
    assert outcome.test.metrics["mtwv"] == pytest.approx(1.0)  # ef has no occurrence: the scorer drops it
    rows = [line.split("\t") for line in outcome.test.lines]  # query, best-scoring document, documents it occurs in
    assert [row[0] for row in rows] == ["e0", "e1"] and [row[2] for row in rows] == ["d3", "d4,d5"]
    assert all(best in truth.split(",") for _, best, truth in rows)
    written = ET.parse(tmp_path / "stdlist_test" / "benchmark.stdlist.xml").getroot()
    assert [e.get("termid") for e in written] == ["e0", "e1"] and len(written[0]) == len(doc_ids)
    assert (tmp_path / "stdlist_dev" / "benchmark.stdlist.xml").is_file()
    assert (tmp_path / "dev_predictions.tsv").read_text().splitlines()[0] == "uid\tprediction\ttruth"


def test_cache_layers_name_the_hidden_states(tmp_path):
    """With ``cache.layers`` the source holds only those hidden states; the record names them, not their positions."""
    rng = np.random.default_rng(2)
    words = {name: rng.normal(size=(10, 8)) for name in ("q0", "e0")}
    truth = {
        "dev": GroundTruth(("d0", "d1", "d2"), ("q0",), {"q0": frozenset({"d1"})}),
        "test": GroundTruth(("d0", "d1", "d2"), ("e0",), {"e0": frozenset({"d2"})}),
    }
    data = QbeData(
        "quesst14",
        tmp_path,
        {
            DOCUMENTS: [Utterance(f"a/{d}.wav", Path(f"{d}.wav"), ()) for d in ("d0", "d1", "d2")],
            "dev": [Utterance("b/q0.wav", Path("q0.wav"), ())],
            "test": [Utterance("c/e0.wav", Path("e0.wav"), ())],
        },
        ground_truth=truth,
    )
    source = PlantedSource({DOCUMENTS: [[], ["q0"], ["e0"]], "dev": [["q0"]], "test": [["e0"]]}, words, 8)
    config = load_task_config("qbe", "mini", ["dtw.workers=1", "cache.layers=[3,7,9]"])
    outcome = get_task("qbe").score_without_training(data, source, config, tmp_path, progress=False)
    assert [entry["layer"] for entry in outcome.extra["per_layer_dev"]] == [3, 7, 9]
    assert outcome.extra["chosen_layer"] == 7 and outcome.extra["layer_weights"] == [0.0, 1.0, 0.0]
