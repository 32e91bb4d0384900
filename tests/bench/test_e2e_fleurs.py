"""Both FLEURS tasks learn on superb-mini small's FLEURS part (seven espeak-ng languages, 48 training utterances each)
with the `mini` profile, through `bench run --task mlid,mlasr`.

Chance: LID answering the most frequent test language gets 1/7 = 14.3% (70 test utterances, 10 per language); MLASR
decoding nothing scores a CER of 100% in every language. Measured on this corpus, seed 0: LID with resemblyzer's
pretrained GE2E speaker encoder 61.4% (Malay and Indonesian, which espeak-ng pronounces alike, are the confusion);
MLASR with SUPERB's `fbank`, 360 steps (the average of the 5 lowest dev losses of 8 evaluations, decoded by prefix
search): macro CER 45.6%, pooled 39.1%, every language between 20% (id_id) and 90% (cmn_hans_cn).
(SUPERB's `fbank` cannot do LID here: its per-utterance CMVN makes every time-mean zero, so a mean-pooled head sees
nothing, as SUPERB's own FBANK row scores chance on KS.)
"""

from __future__ import annotations

import json

import pytest

from bench.cli import main
from downstream_tasks.fleurs import DEFAULT_LANGUAGES
from tests.fixtures.items import assert_items_recompute


@pytest.fixture(scope="module")
def fleurs_runs(mini_small, tmp_path_factory):
    output = tmp_path_factory.mktemp("e2e_fleurs")
    common = [
        "--data-root",
        str(mini_small),
        "--output",
        str(output / "runs"),
        "--profile",
        "mini",
        "--device",
        "cpu",
        "--quiet",
        "--cache-dir",
        str(output / "cache"),
    ]
    assert main(["run", "--task", "mlid", "--upstream", "resemblyzer", *common]) == 0
    assert main(["run", "--task", "mlasr", "--upstream", "fbank", *common]) == 0
    return output / "runs"


def test_language_identification_beats_chance(fleurs_runs):
    record = json.loads((fleurs_runs / "mlid" / "resemblyzer" / "result.json").read_text())
    metrics = record["metrics"]
    print("mlid", {key: round(value, 3) for key, value in metrics.items() if key.startswith("acc")})
    assert record["chance"]["metrics"]["acc"] == pytest.approx(1 / 7) and record["chance"]["n_items"] == 70
    assert metrics["acc"] > 0.40  # [measured 61.4%; chance 14.3%, with its 95% margin 21.2%]
    assert sum(metrics[f"acc/{language}"] for language in DEFAULT_LANGUAGES) / 7 == pytest.approx(metrics["acc"])


def test_multilingual_asr_beats_chance_in_every_language(fleurs_runs):
    record = json.loads((fleurs_runs / "mlasr" / "fbank" / "result.json").read_text())
    metrics = record["metrics"]
    print("mlasr", {key: round(value, 3) for key, value in metrics.items()})
    assert metrics["cer"] < 0.70  # [measured 45.6%]
    for language in DEFAULT_LANGUAGES:
        assert metrics[f"cer/{language}"] < 0.95, language  # [measured 20%-90%]
    assert metrics["cer_sd"] > 0 and "wer/th_th" not in metrics and "wer/en_us" in metrics
    assert 0 < metrics["cer_pooled"] < 0.70  # [measured 39.1%]


def test_multilingual_asr_decodes_the_average_of_its_best_dev_loss_checkpoints(fleurs_runs):
    # ML-SUPERB: best_model_criterion [valid, loss, min], keep_nbest_models 5, decoding valid.loss.ave.pth
    run = fleurs_runs / "mlasr" / "fbank"
    result = json.loads((run / "result.json").read_text())
    unit = json.loads((run / result["units"][0]["path"] / "record.json").read_text())
    best = unit["checkpoints"]["best"]
    evaluated = {entry["step"]: entry["loss"] for entry in unit["dev_history"]}
    assert best["averaged"] is True and best["metric"] == "loss" and 1 <= len(best["steps"]) <= 5
    assert best["values"] == sorted(best["values"]) == sorted(evaluated.values())[: len(best["steps"])]
    assert all(evaluated[step] == value for step, value in zip(best["steps"], best["values"]))
    assert "loss" in unit["metrics"]["dev"] and "loss" not in unit["metrics"]["test"]


@pytest.mark.parametrize(("task_name", "upstream"), [("mlid", "resemblyzer"), ("mlasr", "fbank")])
def test_per_item_outputs_recompute_the_recorded_metrics(fleurs_runs, task_name, upstream):
    """LID accuracy, and ML-SUPERB's CERs (each language's, their mean and spread, the pooled one) from per-utterance
    counts."""
    counts = assert_items_recompute(fleurs_runs / task_name / upstream)
    assert counts["exact"] >= 1
