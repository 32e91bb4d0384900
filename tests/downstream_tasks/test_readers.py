"""Task readers on the tiny superb-mini corpus (the real datasets' layouts) against the s3prl recipes."""

from __future__ import annotations

import ast
import hashlib
import re
from pathlib import Path

import pytest
import torch
from torch.utils.data import random_split

from bench.config import load_task_config
from benchcore.errors import BenchError
from downstream_tasks import get_task
from downstream_tasks.ks import CLASSES

S3PRL_DOWNSTREAM = Path(__import__("s3prl").__file__).parent / "downstream"


def _load(task: str, root: Path, fold=None):
    return get_task(task).load(root, fold, load_task_config(task, "mini"))


def _s3prl_function(relative: str, name: str, namespace: dict):
    """Execute one function from an s3prl recipe file whose module cannot be imported (it needs catalyst)."""
    tree = ast.parse((S3PRL_DOWNSTREAM / relative).read_text())
    function = next(node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == name)
    exec(compile(ast.Module([function], []), relative, "exec"), namespace)
    return namespace[name]


def test_ks_split_is_s3prls(mini_tiny):
    from typing import Union

    split_dataset = _s3prl_function(
        "speech_commands/expert.py",
        "split_dataset",
        {"Path": Path, "re": re, "hashlib": hashlib, "List": list, "Tuple": tuple, "Union": Union},
    )
    theirs_train, theirs_dev = split_dataset(mini_tiny / "speech_commands_v0.01")
    data = _load("ks", mini_tiny)
    ours = {
        split: sorted(str(u.path) for u in data.splits[split] if u.random_crop_seconds is None)
        for split in ("train", "dev")
    }
    assert ours["train"] == sorted(str(path) for _, path in theirs_train)
    assert ours["dev"] == sorted(str(path) for _, path in theirs_dev)
    assert data.label_names == [CLASSES]
    for split in ("train", "dev"):
        silence = [u for u in data.splits[split] if u.label == (CLASSES.index("_silence_"),)]
        assert silence and all(u.random_crop_seconds == 1.0 and "_background_noise_" in u.uid for u in silence)
    assert {CLASSES[u.label[0]] for u in data.splits["test"]} == set(CLASSES)


def test_ks_samplers_are_class_balanced(mini_tiny):
    task, data = get_task("ks"), _load("ks", mini_tiny)
    weights = task.train_sample_weights(data.splits["train"])
    per_class: dict[int, float] = {}
    for utterance, weight in zip(data.splits["train"], weights):
        per_class[utterance.label[0]] = per_class.get(utterance.label[0], 0.0) + weight
    assert max(per_class.values()) == pytest.approx(min(per_class.values()))  # every class has equal total mass


def test_sid_uses_iden_split(mini_tiny):
    data = _load("sid", mini_tiny)
    lines = (mini_tiny / "VoxCeleb1" / "iden_split.txt").read_text().split("\n")
    expected = {"train": "1", "dev": "2", "test": "3"}
    for split, code in expected.items():
        listed = sorted(line.split()[1] for line in lines if line.startswith(code + " "))
        ours = sorted(u.uid.split("/wav/", 1)[1] for u in data.splits[split])
        assert ours == listed
    for utterance in data.all_utterances():
        assert data.label_names[0][utterance.label[0]] == utterance.uid.split("/wav/")[1].split("/")[0]
    assert all(u.random_crop_seconds == 8.0 for u in data.splits["train"])
    assert not any(u.random_crop_seconds for u in data.splits["dev"] + data.splits["test"])


@pytest.mark.parametrize("fold", ["fold1", "fold3", "fold5"])
def test_er_folds_leave_one_session_out(mini_tiny, fold):
    data = _load("er", mini_tiny, fold)
    session = fold.replace("fold", "Session")
    assert all(f"/{session}/" in u.uid for u in data.splits["test"])
    assert not any(f"/{session}/" in u.uid for u in data.splits["train"] + data.splits["dev"])
    assert not {u.speaker for u in data.splits["test"]} & {u.speaker for u in data.splits["train"]}
    pool = data.splits["train"] + data.splits["dev"]
    assert len(data.splits["train"]) == int(0.8 * len(pool))
    assert data.label_names == [["neu", "hap", "ang", "sad"]]


def test_er_dev_split_reproduces_random_split(mini_tiny):
    """The mini profile's partition (sorted): label files in name order, then s3prl's seed-0 random_split."""
    from downstream_tasks.er import read_session

    root = mini_tiny / "IEMOCAP_full_release"
    pool = [
        u
        for s in sorted(root.glob("Session*"))
        if s.name != "Session1"
        for dialog, utterances in sorted(read_session(mini_tiny, s).items())
        for u in utterances
    ]
    train_count = int(0.8 * len(pool))
    torch.manual_seed(0)
    train_subset, dev_subset = random_split(pool, [train_count, len(pool) - train_count])
    data = _load("er", mini_tiny, "fold1")
    assert [u.uid for u in data.splits["train"]] == [pool[i].uid for i in train_subset.indices]
    assert [u.uid for u in data.splits["dev"]] == [pool[i].uid for i in dev_subset.indices]


def test_er_label_mapping(mini_tiny):
    """exc counts as hap; labels outside neu/hap/ang/sad/exc are dropped, as IEMOCAP_preprocess.py does."""
    data = _load("er", mini_tiny, "fold1")
    labels = {}
    for text in (mini_tiny / "IEMOCAP_full_release").glob("Session*/dialog/EmoEvaluation/*.txt"):
        for line in text.read_text().splitlines():
            if line.startswith("["):
                fields = line.split("\t")
                labels[fields[1]] = fields[2]
    assert "exc" in labels.values() and set(labels.values()) - {"neu", "hap", "ang", "sad", "exc"}
    for utterance in data.all_utterances():
        original = labels[Path(utterance.uid).stem]
        assert data.label_names[0][utterance.label[0]] == ("hap" if original == "exc" else original)
    kept = sum(1 for value in labels.values() if value in {"neu", "hap", "ang", "sad", "exc"})
    assert len(data.all_utterances()) == kept


def test_ic_vocabularies_follow_train_order_and_all_slots_must_match(mini_tiny):
    import pandas as pd

    data = _load("ic", mini_tiny)
    train_csv = pd.read_csv(mini_tiny / "fluent_speech_commands_dataset" / "data" / "train_data.csv")
    assert data.label_names == [list(dict.fromkeys(train_csv[slot])) for slot in ("action", "object", "location")]
    task = get_task("ic")
    sizes = task.output_sizes(data)
    labels = torch.tensor([[0, 1, 2], [1, 1, 1]])
    logits = torch.full((2, sum(sizes)), -5.0)
    for row, (action, obj, location) in enumerate([(0, 1, 2), (1, 0, 1)]):  # second row gets the object wrong
        logits[row, action] = logits[row, sizes[0] + obj] = logits[row, sizes[0] + sizes[1] + location] = 5.0
    from downstream_tasks.base import Utterance

    references = [Utterance(f"u{i}", Path(f"u{i}.wav"), tuple(row)) for i, row in enumerate(labels.tolist())]
    assert task.metrics(task.predict(logits, data), references, data) == {"acc": 0.5}
    expected_loss = sum(
        torch.nn.functional.cross_entropy(part, target)
        for part, target in zip(torch.split(logits, sizes, dim=1), labels.T)
    )
    assert torch.allclose(task.loss(logits, labels, data), expected_loss)


@pytest.mark.parametrize(
    "task,folder",
    [
        ("ks", "speech_commands_v0.01"),
        ("sid", "VoxCeleb1"),
        ("er", "IEMOCAP_full_release"),
        ("ic", "fluent_speech_commands_dataset"),
    ],
)
def test_missing_dataset_names_the_expected_layout(task, folder, tmp_path):
    with pytest.raises(BenchError) as caught:
        _load(task, tmp_path, get_task(task).folds[0])
    assert folder in str(caught.value) and "--data-root" in str(caught.value)
