"""ER's train/dev/test lists on the real IEMOCAP's utterances are the ones s3prl's own emotion expert builds.

The real ids come from s3prl's committed meta_data JSONs (tests/fixtures/iemocap_s3prl_meta.tsv); an IEMOCAP layout
holding just those label files is read by our reader, and s3prl 0.4.18's ``DownstreamExpert`` (emotion/expert.py,
imported from the installed package) is built on the JSONs themselves, for every fold.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from fixtures.iemocap_s3prl import dialog_of, s3prl_sessions, wav_path, write_iemocap_label_files, write_s3prl_meta_data

from bench.config import load_task_config
from benchcore.errors import BenchError
from downstream_tasks import get_task
from downstream_tasks.er import ROOT
from downstream_tasks.er_partition import S3PRL_SESSIONS, session_digest

FOLDS = ("fold1", "fold2", "fold3", "fold4", "fold5")


@pytest.fixture(scope="module")
def real_ids(tmp_path_factory) -> tuple[Path, Path]:
    """(a data root whose IEMOCAP_full_release has the real label files' kept turns, s3prl's meta_data folder)"""
    root = tmp_path_factory.mktemp("iemocap_real_ids")
    return write_iemocap_label_files(root / "data"), write_s3prl_meta_data(root / "meta_data")


def _ours(data_root: Path, fold: str, *overrides: str) -> dict[str, list[str]]:
    data = get_task("er").load(data_root, fold, load_task_config("er", "superb", overrides))
    return {split: [u.uid.removeprefix(f"{ROOT}/") for u in utterances] for split, utterances in data.splits.items()}


def _s3prls(meta_data: Path, fold: str, monkeypatch) -> dict[str, list[str]]:
    """The lists s3prl's emotion expert trains, selects and tests on, built from its JSONs."""
    from upstream.s3prl_compat import import_s3prl_nn

    import_s3prl_nn()  # the torchaudio shims s3prl's package import needs
    from s3prl.downstream.emotion import dataset as s3prl_dataset
    from s3prl.downstream.emotion.expert import DownstreamExpert

    # IEMOCAPDataset reads its first wav only for the sampling rate; there is no audio here.
    monkeypatch.setattr(s3prl_dataset.torchaudio, "load", lambda path: (torch.zeros(1, 160), 16000))
    recipe = {
        "datarc": {
            "root": "unused",
            "meta_data": str(meta_data),
            "test_fold": fold,
            "pre_load": False,
            "train_batch_size": 4,
            "eval_batch_size": 4,
            "num_workers": 0,
            "valid_ratio": 0.2,
        },
        "modelrc": {"projector_dim": 256, "select": "UtteranceLevel", "UtteranceLevel": {"pooling": "MeanPooling"}},
    }
    with torch.random.fork_rng():  # the expert calls torch.manual_seed(0); leave other tests' global RNG alone
        expert = DownstreamExpert(8, recipe, "unused")
    lists = {
        split: [subset.dataset.meta_data[i]["path"] for i in subset.indices]
        for split, subset in (("train", expert.train_dataset), ("dev", expert.dev_dataset))
    }
    lists["test"] = [entry["path"] for entry in expert.test_dataset.meta_data]
    return lists


@pytest.mark.parametrize("fold", FOLDS)
def test_folds_are_s3prls_on_the_real_ids(real_ids, fold, monkeypatch):
    data_root, meta_data = real_ids
    ours = _ours(data_root, fold)
    assert ours == _s3prls(meta_data, fold, monkeypatch)  # same utterances in the same order, train, dev and test
    official = get_task("er").official_split_sizes
    assert {split: len(ours[split]) for split in ours} == {split: official[f"{fold}/{split}"] for split in ours}


def test_name_order_would_give_another_dev_set(real_ids):
    """Why the order matters: the old rule (label files in name order) shares about a fifth of s3prl's dev set."""
    data_root, _ = real_ids
    s3prl, by_name = _ours(data_root, "fold1"), _ours(data_root, "fold1", "data.partition=sorted")
    assert sorted(by_name["train"] + by_name["dev"]) == sorted(s3prl["train"] + s3prl["dev"])
    assert by_name["test"] == sorted(s3prl["test"])
    assert len(set(by_name["dev"]) & set(s3prl["dev"])) < 0.3 * len(s3prl["dev"])


def test_shipped_listing_is_the_meta_datas():
    """er_partition's dialog order, counts and digests say what the meta_data JSONs (the fixture) list."""
    from downstream_tasks.base import Utterance
    from downstream_tasks.er import LABELS

    sessions = s3prl_sessions()
    assert list(S3PRL_SESSIONS) == list(sessions)
    for name, entries in sessions.items():
        dialogs: dict[str, int] = {}
        for utterance, _ in entries:
            dialogs[dialog_of(utterance)] = dialogs.get(dialog_of(utterance), 0) + 1
        assert S3PRL_SESSIONS[name].dialogs == tuple(dialogs.items())
        utterances = [
            Utterance(wav_path(name, u), Path(wav_path(name, u)), (LABELS.index(label),)) for u, label in entries
        ]
        assert S3PRL_SESSIONS[name].sha256 == session_digest(utterances, LABELS)


def _edited(sessions: dict[str, list[tuple[str, str]]], edit: str) -> dict[str, list[tuple[str, str]]]:
    turns = list(sessions["Session3"])
    if edit == "relabelled":
        turns[5] = (turns[5][0], "sad" if turns[5][1] != "sad" else "ang")
    elif edit == "reordered":  # two turns of one dialog swapped in its label file
        turns[5], turns[6] = turns[6], turns[5]
    elif edit == "turn dropped":
        del turns[5]
    elif edit == "dialog dropped":
        turns = [turn for turn in turns if dialog_of(turn[0]) != dialog_of(turns[5][0])]
    return {**sessions, "Session3": turns}


@pytest.mark.parametrize(
    "edit,message",
    [
        ("relabelled", "labels or line order"),
        ("reordered", "labels or line order"),
        ("turn dropped", "s3prl lists"),
        ("dialog dropped", "missing or empty"),
    ],
)
def test_a_corpus_that_is_not_s3prls_is_refused(tmp_path, edit, message):
    sessions = s3prl_sessions()
    assert dialog_of(sessions["Session3"][5][0]) == dialog_of(sessions["Session3"][6][0])
    data_root = write_iemocap_label_files(tmp_path, _edited(sessions, edit))
    with pytest.raises(BenchError, match=f"IEMOCAP Session3: .*{message}.*data.partition=sorted"):
        _ours(data_root, "fold1")
    assert _ours(data_root, "fold1", "data.partition=sorted")["test"]  # the named way forward works


def test_superb_profile_refuses_superb_mini_and_mini_profile_cuts_it_by_name(mini_tiny):
    with pytest.raises(BenchError, match="not the corpus s3prl's meta_data lists.*data.partition=sorted"):
        _ours(mini_tiny, "fold1")
    assert load_task_config("er", "mini").data.partition == "sorted"
    data = get_task("er").load(mini_tiny, "fold1", load_task_config("er", "mini"))
    assert data.splits["train"] and data.splits["dev"]


def test_unknown_partition_names_the_choices(real_ids):
    with pytest.raises(BenchError, match="data.partition=listdir: choose s3prl .* or sorted"):
        _ours(real_ids[0], "fold1", "data.partition=listdir")
