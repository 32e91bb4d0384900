"""End to end on superb-mini (small): `bench run --task ks,sid,er,ic` with `fbank_no_cmvn` beats chance on each.

Chance is the accuracy of always answering the most frequent test label (for ER, averaged over the five folds).
Thresholds, with the values measured at seed 0 (profile `mini`, learning rate 1e-3) in brackets:
KS >= 3 x chance [44.8% vs 8.3%], SID >= 5 x chance [81.0% vs 3.6%], ER >= chance + 10 points [44.2% vs 26.6%],
IC >= 2.5 x chance [27.1% vs 8.3%]. Mean-pooled heads see only each hidden state's time-average, so these are far
from the spectral probes of tests/bench/superb_mini (mean + std statistics), and SUPERB's own `fbank` (with
per-utterance CMVN) sits near chance by construction.
"""

from __future__ import annotations

import json
import statistics

import pytest

from bench.cli import main
from bench.config import load_task_config
from bench.runner import chance_level
from downstream_tasks import get_task
from tests.fixtures.items import assert_items_recompute

THRESHOLDS = {
    "ks": lambda acc, chance: acc >= 3 * chance,
    "sid": lambda acc, chance: acc >= 5 * chance,
    "er": lambda acc, chance: acc >= chance + 0.10,
    "ic": lambda acc, chance: acc >= 2.5 * chance,
}


@pytest.fixture(scope="module")
def small_run(mini_small, tmp_path_factory):
    output = tmp_path_factory.mktemp("e2e")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BENCH_CACHE_DIR", str(output / "cache"))
        assert (
            main(
                [
                    "run",
                    "--upstream",
                    "fbank_no_cmvn",
                    "--task",
                    "ks,sid,er,ic",
                    "--data-root",
                    str(mini_small),
                    "--output",
                    str(output / "runs"),
                    "--profile",
                    "mini",
                    "--device",
                    "cpu",
                    "--quiet",
                ]
            )
            == 0
        )
    return output / "runs"


@pytest.mark.parametrize("task_name", sorted(THRESHOLDS))
def test_each_task_beats_chance(task_name, small_run, mini_small):
    task = get_task(task_name)
    config = load_task_config(task_name, "mini")
    chance = statistics.fmean(chance_level(task, task.load(mini_small, fold, config)) for fold in task.folds)
    record = json.loads((small_run / task_name / "fbank_no_cmvn" / "result.json").read_text())
    accuracy = record["metrics"]["acc"]
    print(f"{task_name}: accuracy {accuracy:.3f}, chance {chance:.3f}")
    assert THRESHOLDS[task_name](accuracy, chance), (task_name, accuracy, chance)
    assert (
        record["dataset"]["manifest_checksum"]
        == json.loads((mini_small / "MANIFEST.json").read_text())["overall_sha256"]
    )


@pytest.mark.parametrize("task_name", sorted(THRESHOLDS))
def test_per_item_outputs_recompute_the_recorded_accuracy(small_run, task_name):
    """Every unit (ER: each fold) keeps `test_items.tsv`, from which the recorded accuracy is recomputed."""
    counts = assert_items_recompute(small_run / task_name / "fbank_no_cmvn")
    assert counts["exact"] >= 1 and counts["within_1e-12"] == 0
