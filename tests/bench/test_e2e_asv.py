"""End to end on superb-mini (small): `bench run --task asv` with `s3prl:fbank_no_cmvn` verifies speakers well above
chance.

Chance is an EER of 0.5 (scores that ignore the speakers). Threshold: both protocols' test EER <= 0.30, i.e. at most
60% of chance. Measured with the `mini` profile (400 steps, lr 3e-4; 192 test trials, 120 dev trials): at seed 0 with
2 threads, SUPERB protocol 0.115 (lowest test EER, step 300) and dev-selected 0.115 (step 400) before the silence trim,
0.125 (step 350) and 0.125 with it (`data.trim_silence`, on in `mini`); over seeds 0-2 both
protocols stayed within 0.10-0.19, and `s3prl:fbank` within 0.10-0.20. The test EER is 0.43 after 50 steps, so the
threshold checks that the head learned speaker information, with room for the noise of 192 trials.
"""

from __future__ import annotations

import json

import pytest

from bench.cli import main
from downstream_tasks.items import read_items
from results.bootstrap import bootstrap_eer, percentile_interval
from tests.fixtures.items import assert_items_recompute

MAX_EER = 0.30


@pytest.fixture(scope="module")
def asv_run(mini_small, tmp_path_factory):
    output = tmp_path_factory.mktemp("e2e_asv")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BENCH_CACHE_DIR", str(output / "cache"))
        assert (
            main(
                [
                    "run",
                    "--upstream",
                    "s3prl:fbank_no_cmvn",
                    "--task",
                    "asv",
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
    directory = output / "runs" / "asv" / "s3prl_fbank_no_cmvn"
    result = json.loads((directory / "result.json").read_text())
    unit_dir = directory / result["units"][0]["path"]
    return result, json.loads((unit_dir / "record.json").read_text()), unit_dir


def test_both_protocols_beat_chance(asv_run):
    result, _, _ = asv_run
    metrics = result["metrics"]
    print(
        f"ASV test EER: SUPERB protocol {metrics['eer']:.3f} (step {metrics['superb_step']:.0f}), "
        f"dev-selected {metrics['eer_dev_selected']:.3f}; chance 0.5"
    )
    assert result["metric"] == {"name": "eer", "higher_is_better": False, "unit": "fraction"}
    assert metrics["eer"] <= MAX_EER and metrics["eer_dev_selected"] <= MAX_EER


def test_record_holds_both_protocols_and_the_trial_scores(asv_run, mini_small):
    _, record, unit_dir = asv_run
    history, test = record["dev_history"], record["metrics"]["test"]
    config = record["config"]
    every = config["eval_step"]
    assert [entry["step"] for entry in history] == list(range(every, config["total_steps"] + 1, every))
    superb = min(history, key=lambda entry: entry["test"]["eer"])
    assert test["eer"] == superb["test"]["eer"] and test["superb_step"] == superb["step"]
    selected = next(entry for entry in history if entry["step"] == record["best_step"])
    assert record["metrics"]["dev"]["eer"] == selected["eer"] == min(entry["eer"] for entry in history)
    # each rule's checkpoint re-scored after training gives exactly the test EER the history recorded at its step
    assert test["eer_dev_selected"] == pytest.approx(selected["test"]["eer"], abs=1e-9)
    assert record["checkpoints"]["superb"]["steps"] == [test["superb_step"]]
    assert record["checkpoints"]["dev"]["steps"] == [record["best_step"]]
    listed = (mini_small / "VoxCeleb1" / "voxceleb1_test_v2.txt").read_text().split("\n")
    listed = [line.split() for line in listed if line.strip()]
    assert record["splits"]["test"] == len({path for _, *pair in listed for path in pair})
    lines = [line.split() for line in (unit_dir / "test_trial_scores.txt").read_text().splitlines()]
    assert [(label, a, b) for label, a, b, _ in lines] == [
        (label, f"VoxCeleb1/test/wav/{a}", f"VoxCeleb1/test/wav/{b}") for label, a, b in listed
    ]
    # the dev-selected checkpoint's files are under selected_by_dev/ (the unit directory holds the SUPERB checkpoint's)
    dev_lines = (unit_dir / "selected_by_dev" / "dev_trial_scores.txt").read_text().splitlines()
    assert (unit_dir / "selected_by_dev" / "test_trial_scores.txt").is_file()
    assert (
        len(dev_lines) == 2 * record["splits"]["dev"]
    )  # 3 held-out videos per speaker: 3 target + 3 non-target trials


def test_per_item_outputs_recompute_the_recorded_eer(asv_run):
    """Every trial's score, label and enrollment speaker (the bootstrap's block) recompute the recorded EER."""
    _, _, unit_dir = asv_run
    counts = assert_items_recompute(unit_dir.parent.parent)
    assert counts == {"exact": 1, "within_1e-12": 0}


def test_the_speaker_blocked_interval_is_wider_than_the_trial_level_one(asv_run):
    """Trials of one enrollment speaker reuse its embeddings: resampling speakers (the report's interval) spreads the
    EER more than resampling trials as if they were independent, which would overstate the certainty."""
    _, _, unit_dir = asv_run
    table = read_items(unit_dir / "test_items.tsv")
    scores, labels, speakers = table.columns["score"], table.columns["label"], table.columns["speaker"]
    blocked = percentile_interval(bootstrap_eer(scores, labels, seed=0, blocks=speakers, n_resamples=4000))
    trials = percentile_interval(bootstrap_eer(scores, labels, seed=0, n_resamples=4000))
    print(f"ASV EER 95% interval over {len(set(speakers))} speakers: {blocked}; over {len(scores)} trials: {trials}")
    assert blocked[1] - blocked[0] > trials[1] - trials[0]
