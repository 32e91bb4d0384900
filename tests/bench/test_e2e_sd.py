"""End to end on superb-mini (small): `bench run --task sd` with `fbank_no_cmvn` diarizes clearly better than any
trivial answer.

The trivial answers are scored here with the same DER function on the same test RTTM: nobody speaks (DER 1), both
speakers talk through every whole recording, one speaker talks through every whole recording (the best of them on
superb-mini small: 62.5%). The threshold is the best trivial DER minus 15 points; measured (profile `mini`, one
thread): 31.8% for fbank_no_cmvn at seed 0 (33.0 +- 1.6% over seeds 0-2; 36.6% with two threads), 21.8 +- 2.2% for
SUPERB's `fbank`. Getting below ~43% needs speaker discrimination, not only speech detection: an oracle
speech-activity detector answering one speaker scores 43.0% on this split.

The run uses one torch thread: the head's LSTM steps through ~900 frames one at a time, and with two threads on a
shared CPU each step waits for the busier core (training took 569 s with two threads and 46 s with one, both at a
load average of ~9 on two cores). One thread also fixes the numbers: results differ between thread counts.
"""

from __future__ import annotations

import json

import pytest
import torch

from bench.cli import main
from downstream_tasks.items import read_items, recompute
from downstream_tasks.metrics.detection import diarization_error_rate, read_rttm
from downstream_tasks.sd import DER_GRID_DECIMALS
from tests.fixtures.items import assert_items_recompute

MARGIN = 0.15


@pytest.fixture(scope="module")
def sd_run(mini_small, tmp_path_factory):
    output = tmp_path_factory.mktemp("e2e_sd")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("BENCH_CACHE_DIR", str(output / "cache"))
            assert (
                main(
                    [
                        "run",
                        "--upstream",
                        "fbank_no_cmvn",
                        "--task",
                        "sd",
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
    finally:
        torch.set_num_threads(threads)
    return output / "runs" / "sd" / "fbank_no_cmvn"


def trivial_ders(librimix) -> dict[str, float]:
    reference = read_rttm(librimix / "test" / "rttm")
    durations = {
        line.split()[0]: float(line.split()[1]) for line in (librimix / "test" / "reco2dur").read_text().splitlines()
    }
    answers = {
        "nobody": {rec: [] for rec in durations},
        "both everywhere": {rec: [(0.0, d, "a"), (0.0, d, "b")] for rec, d in durations.items()},
        "one everywhere": {rec: [(0.0, d, "a")] for rec, d in durations.items()},
    }
    return {name: diarization_error_rate(reference, answer)["der"] for name, answer in answers.items()}


def test_sd_beats_every_trivial_answer(sd_run, mini_small):
    record = json.loads((sd_run / "result.json").read_text())
    assert record["metric"] == {"name": "der", "higher_is_better": False, "unit": "fraction"}
    der, dev_selected = record["metrics"]["der"], record["metrics"]["der_dev_selected"]
    baselines = trivial_ders(mini_small / "LibriMix")
    print(f"sd: der {der:.3f} (test-selected), {dev_selected:.3f} (dev-selected); trivial {baselines}")
    assert der <= min(baselines.values()) - MARGIN, (der, baselines)
    # the record's own chance level is the same best trivial answer (scored over the chunks' span of each recording,
    # which ends up to one frame before reco2dur's duration)
    assert record["chance"]["metrics"]["der"] == pytest.approx(min(baselines.values()), abs=0.005)
    assert record["chance"]["basis"].startswith("one speaker through every recording")
    assert dev_selected <= min(baselines.values()) - MARGIN, (dev_selected, baselines)


def test_sd_selects_checkpoints_as_the_recipe_and_on_dev_der(sd_run):
    """The SUPERB number comes from the checkpoint with the best dev frame accuracy (diarization/expert.py keeps
    best-states-dev.ckpt on `average_acc > best_score`); der_dev_selected from the lowest dev DER one."""
    result = json.loads((sd_run / "result.json").read_text())
    unit = json.loads((sd_run / result["units"][0]["path"] / "record.json").read_text())
    history, checkpoints = unit["dev_history"], unit["checkpoints"]
    best_acc = max(entry["acc"] for entry in history)
    assert checkpoints["best"]["steps"] == [next(e["step"] for e in history if e["acc"] == best_acc)]
    assert checkpoints["der"]["steps"] == [min(history, key=lambda entry: entry["der"])["step"]]
    assert unit["best_step"] == checkpoints["best"]["steps"][0] and unit["metrics"]["dev"]["acc"] == best_acc
    test = unit["metrics"]["test"]
    assert test["der"] == checkpoints["best"]["test"]["der"]
    assert test["der_dev_selected"] == checkpoints["der"]["test"]["der_dev_selected"]
    # on one checkpoint, the recipe's number is the minimum over the grid on test
    assert checkpoints["best"]["test"]["der_dev_selected"] >= checkpoints["best"]["test"]["der"]


def test_sd_unit_writes_the_grid_and_the_chosen_hypotheses(sd_run, mini_small):
    unit = sd_run / json.loads((sd_run / "result.json").read_text())["units"][0]["path"]
    summary = json.loads((unit / "test_der_summary.json").read_text())
    grid = (unit / "test_der_grid.tsv").read_text().splitlines()[1:]
    # The grid file holds DERs rounded to DER_GRID_DECIMALS; the summary JSON holds them unrounded. Compare like with
    # like: round the summary's value the same way (a relative tolerance would hang on the 7th digit, which moves
    # with the thread count and the machine).
    assert len(grid) == 10
    assert min(float(row.split("\t")[2]) for row in grid) == round(summary["chosen"]["der"]["der"], DER_GRID_DECIMALS)
    reference = read_rttm(mini_small / "LibriMix" / "test" / "rttm")
    for chosen in summary["chosen"].values():
        hypothesis = read_rttm(unit / chosen["rttm"])
        assert set(hypothesis) <= set(reference)
        assert diarization_error_rate(reference, hypothesis)["der"] == pytest.approx(chosen["der"], abs=1e-3)


def test_per_item_outputs_recompute_the_recorded_der(sd_run):
    """Per recording error and speech seconds at every grid point recompute both DERs: the lowest over the grid from
    the recipe's checkpoint (the unit's own items), the one at the dev-chosen point from the dev-DER checkpoint's
    (``selected_by_der/``)."""
    assert sum(assert_items_recompute(sd_run).values()) == 1
    result = json.loads((sd_run / "result.json").read_text())
    unit = sd_run / result["units"][0]["path"]
    recorded = json.loads((unit / "record.json").read_text())["metrics"]["test"]["der_dev_selected"]
    recomputed = recompute(read_items(unit / "selected_by_der" / "test_items.tsv"))["der_dev_selected"]
    assert recomputed == pytest.approx(recorded, rel=1e-12)
