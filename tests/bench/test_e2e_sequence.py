"""ASR and SF learn on superb-mini small within CI-sized runs (the `mini` profile: 300 steps; ASR 200 here with one
BiLSTM layer instead of two, which halves its training time), and their decoded hypotheses are saved per split.

Chance for these error rates is 100%: a model that has not left CTC's blank phase decodes nothing, which scores a WER,
CER and slot-value CER of 100% and a slot-type F1 of 0. The thresholds below sit far from that and leave room under
what was measured on this corpus with SUPERB's `fbank` (CMVN filterbanks), seed 0 [measured: see each assertion].
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from bench.cli import main
from tests.fixtures.arpa import write_bigram_arpa
from tests.fixtures.items import assert_items_recompute


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def _train_transcripts(root: Path) -> list[str]:
    lines = []
    for transcript in sorted((root / "LibriSpeech" / "train-clean-100").rglob("*.trans.txt")):
        lines += [line.split(" ", 1)[1] for line in transcript.read_text().splitlines() if " " in line]
    return lines


ASR_OVERRIDES = ("total_steps=200", "head.rnn_layers=1")


@pytest.fixture(scope="module")
def sequence_runs(mini_small, tmp_path_factory):
    output = tmp_path_factory.mktemp("e2e_sequence")
    lm = write_bigram_arpa(output / "train_bigram.arpa", _train_transcripts(mini_small))  # train text only
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BENCH_CACHE_DIR", str(output / "cache"))
        common = [
            "--upstream",
            "fbank",
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
        # ASR at 200 of the profile's 300 steps with one BiLSTM layer (the head's code is the same; the suite's time is
        # not), which still leaves a margin under the thresholds below
        assert main(["run", "--task", "asr", *common, "--lm", str(lm), *ASR_OVERRIDES]) == 0
        assert main(["run", "--task", "sf", *common]) == 0
    return output / "runs"


def _unit_dir(runs: Path, task: str) -> Path:
    record = json.loads((runs / task / "fbank" / "result.json").read_text())
    return runs / task / "fbank" / record["units"][0]["path"]


def test_asr_learns_and_the_lm_decoding_is_reported(sequence_runs):
    record = json.loads((sequence_runs / "asr" / "fbank" / "result.json").read_text())
    metrics = record["metrics"]
    print("asr", metrics)
    assert record["metric"] == {"name": "wer", "higher_is_better": False, "unit": "fraction"}
    # [measured, 200 steps, one BiLSTM layer, seed 0, 2 torch threads, test: WER 62.9% / CER 19.0% (s3prl's uer, `|`
    # counted); with the LM, WER 28.3%, CER 22.9%.
    # With the profile's two layers: WER 49.1% / CER 13.6%, LM 16.2% / 12.3%]
    assert metrics["cer"] < 0.35 and metrics["wer"] < 0.75
    assert metrics["wer_lm"] < 0.75 and metrics["cer_lm"] < 0.35
    assert (
        record["decoding"]["lm_sha256"] and record["decoding"]["beam"] == 5 and record["decoding"]["lm_weight"] == 2.0
    )


def test_asr_hypotheses_and_references_are_saved_per_split(sequence_runs, mini_small):
    unit = _unit_dir(sequence_runs, "asr")
    references = {}
    for transcript in (mini_small / "LibriSpeech" / "test-clean").rglob("*.trans.txt"):
        for line in transcript.read_text().splitlines():
            uid, text = line.split(" ", 1)
            references[uid] = text
    for name in ("dev_predictions.tsv", "test_predictions.tsv", "test_predictions_lm.tsv", "dev_predictions_lm.tsv"):
        assert (unit / name).is_file(), name
    test_rows = _rows(unit / "test_predictions.tsv")
    assert len(test_rows) == len(references)
    assert {row["truth"] for row in test_rows} == set(references.values())
    assert sum(row["prediction"] == "" for row in test_rows) < len(test_rows) / 2  # the model decodes something


def test_sf_learns_slots(sequence_runs):
    record = json.loads((sequence_runs / "sf" / "fbank" / "result.json").read_text())
    metrics = record["metrics"]
    print("sf", metrics)
    assert record["metric"]["name"] == "slot_type_f1"
    # [measured, 300 steps, seed 0, 2 torch threads, test: slot-type F1 0.500 / slot-value CER 0.663 (dev: F1 0.26);
    # before decoding went on past <eos>: 0.435 / 0.738 at 2 threads, 0.399 / 0.738 at 1]
    assert metrics["slot_type_f1"] > 0.3 and metrics["slot_value_cer"] < 0.85
    assert "lm_sha256" not in json.dumps(record.get("decoding"))  # --lm touches ASR only


def test_lm_change_rescores_without_retraining(sequence_runs, mini_small, tmp_path):
    """A second --lm on a finished run rescores the unit from its checkpoint: same training, new LM numbers."""
    unit = _unit_dir(sequence_runs, "asr")
    before = json.loads((unit / "record.json").read_text())
    lm = write_bigram_arpa(tmp_path / "other.arpa", _train_transcripts(mini_small)[:50])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BENCH_CACHE_DIR", str(sequence_runs.parent / "cache"))
        assert (
            main(
                [
                    "run",
                    "--upstream",
                    "fbank",
                    "--task",
                    "asr",
                    "--data-root",
                    str(mini_small),
                    "--output",
                    str(sequence_runs),
                    "--profile",
                    "mini",
                    "--device",
                    "cpu",
                    "--quiet",
                    "--lm",
                    str(lm),
                    *ASR_OVERRIDES,
                ]
            )
            == 0
        )
    after = json.loads((unit / "record.json").read_text())
    assert after["unit_id"] == before["unit_id"] and after["rescored"] is True
    assert after["metrics"]["test"]["wer"] == before["metrics"]["test"]["wer"]  # same checkpoint, same greedy output
    assert after["decoding"]["lm_sha256"] != before["decoding"]["lm_sha256"]
    assert after["timings"]["train_s"] == before["timings"]["train_s"]


@pytest.mark.parametrize("task_name", ["asr", "sf"])
def test_per_item_outputs_recompute_the_recorded_error_rates(sequence_runs, task_name):
    """WER/CER and slot F1/slot CER from summed per-utterance counts equal the recorded corpus-level values exactly."""
    counts = assert_items_recompute(sequence_runs / task_name / "fbank")
    assert counts["exact"] >= 2 and counts["within_1e-12"] == 0
