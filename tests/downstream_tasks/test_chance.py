"""Chance levels: what an audio-blind answer scores, and the margin a result must clear to be shown."""

from __future__ import annotations

import math

import pytest

from downstream_tasks import get_task
from downstream_tasks.base import ClassificationTask, TaskData, Utterance
from downstream_tasks.chance import ChanceLevel, beats_chance, combine, data_independent, margin
from downstream_tasks.metadata import ACCURACY, ERROR_RATE, MetricSpec


def _data(test_labels):
    test = [Utterance(f"u{i}", None, label) for i, label in enumerate(test_labels)]  # type: ignore[arg-type]
    return TaskData("toy", None, {"train": [], "dev": [], "test": test})  # type: ignore[arg-type]


def test_majority_label_is_the_classification_chance_level():
    level = ClassificationTask().chance(_data([(0,), (1,), (1,), (2,)]))
    assert level == ChanceLevel({"acc": 0.5}, "the most frequent test label", 4)
    # IC-style multi-slot labels: the most frequent whole triple, not each slot's majority
    triples = [(0, 0, 0), (0, 0, 0), (0, 1, 1), (1, 1, 1), (1, 1, 0)]
    assert ClassificationTask().chance(_data(triples)).metrics["acc"] == pytest.approx(0.4)


def test_binomial_margin_for_accuracies_and_a_fixed_one_otherwise():
    # 84 test utterances at 1/28 chance (superb-mini SID): 1.645 * sqrt(p (1 - p) / n) = 3.3 points
    p = 1 / 28
    assert margin(p, 84, is_accuracy=True) == pytest.approx(1.645 * math.sqrt(p * (1 - p) / 84))
    assert beats_chance(p + 0.034, p, True, 84, is_accuracy=True)
    assert not beats_chance(p + 0.032, p, True, 84, is_accuracy=True)
    assert not beats_chance(p, p, True, 84, is_accuracy=True)
    # error rates against decoding nothing: 5 points
    assert not beats_chance(0.97, 1.0, False) and beats_chance(0.94, 1.0, False)
    assert not beats_chance(0.04, 0.0, True) and beats_chance(0.06, 0.0, True)  # MTWV
    assert not beats_chance(float("nan"), 0.5, False)


def test_data_independent_levels_and_folds():
    asr = get_task("asr").chance(_data([]))
    assert asr.metrics == {"wer": 1.0, "cer": 1.0} and asr.basis == "decoding nothing"
    assert get_task("sf").chance(_data([])).metrics == {"slot_type_f1": 0.0, "slot_value_cer": 1.0}
    assert get_task("asv").chance(_data([])).metrics == {"eer": 0.5}
    assert get_task("qbe").chance(_data([])).metrics == {"mtwv": 0.0}
    assert data_independent([MetricSpec("acc", ACCURACY)]).metrics == {}  # the majority label depends on the data
    kinds = {"acc": ACCURACY}
    folds = combine(
        [
            ChanceLevel({"acc": 0.2}, "the most frequent test label", 10, kinds),
            ChanceLevel({"acc": 0.4}, "the most frequent test label", 30, kinds),
        ]
    )
    assert folds.metrics["acc"] == pytest.approx(0.3) and folds.n_items == 40 and "mean over 2 folds" in folds.basis
    assert folds.kinds == kinds and ChanceLevel.from_dict(folds.as_dict()) == folds


def test_the_run_records_each_metrics_kind_from_the_tasks_declaration():
    assert get_task("ks").chance_level(_data([(0,), (1,), (1,)])).kinds == {"acc": ACCURACY}
    assert get_task("sf").chance_level(_data([])).kinds == {"slot_type_f1": "f1", "slot_value_cer": ERROR_RATE}
    # a record written before chance levels kept kinds reads with the declared ones
    legacy = {"metrics": {"acc": 0.5, "wer": 1.0}, "basis": "toy", "n_items": 100}
    assert ChanceLevel.from_dict(legacy).kinds == {"acc": ACCURACY, "wer": ERROR_RATE}


def test_a_level_knows_each_metrics_direction_and_margin():
    level = ChanceLevel({"acc": 0.5, "wer": 1.0}, "toy", 100, {"acc": ACCURACY, "wer": ERROR_RATE})
    assert level.margin_for("acc") == pytest.approx(1.645 * 0.05) and level.margin_for("wer") == 0.05
    assert level.beaten_by("acc", 0.59) and not level.beaten_by("acc", 0.58)
    assert level.beaten_by("wer", 0.9) and not level.beaten_by("wer", 0.96)
    # the kind, not the name, gives the binomial margin: an accuracy named otherwise keeps it
    top1 = ChanceLevel({"top1": 0.5}, "toy", 100, {"top1": ACCURACY})
    assert top1.margin_for("top1") == pytest.approx(1.645 * 0.05)
    with pytest.raises(KeyError, match="without its kind"):
        ChanceLevel({"top1": 0.5}, "toy", 100).margin_for("top1")
