"""docs/contributing/adding-a-metric.md, step by step: its module (taken from the page as printed) adds balanced
accuracy beside KS's accuracy; the record holds both, each with its chance level and kind, and the report shows both
columns."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fixtures.guides import guide_code

from bench.cli import main
from bench.config import CONFIG_DIR
from downstream_tasks import unregister_task


@pytest.fixture
def guide_module(tmp_path) -> Path:
    module = tmp_path / "my_metric.py"
    module.write_text(guide_code("adding-a-metric.md"))
    shutil.copy(CONFIG_DIR / "ks.yaml", tmp_path / "ks_bal.yaml")
    yield module
    unregister_task("ks_bal")


@pytest.mark.slow
def test_the_guides_metric_is_recorded_judged_and_reported(guide_module, mini_tiny, tmp_path):
    runs = tmp_path / "runs"
    args = ["run", "--include", str(guide_module), "--task", "ks_bal", "--upstream", "fbank_no_cmvn", "--data-root"]
    args += [str(mini_tiny), "--output", str(runs), "--profile", "mini", "--device", "cpu", "--quiet"]
    assert main([*args, "--cache-dir", str(tmp_path / "cache"), "total_steps=40", "eval_step=20", "save_step=20"]) == 0
    record = json.loads((runs / "ks_bal" / "fbank_no_cmvn" / "result.json").read_text())
    assert 0 <= record["metrics"]["balanced_acc"] <= 1 and 0 <= record["metrics"]["acc"] <= 1
    chance = record["chance"]
    assert chance["kinds"] == {"acc": "accuracy", "balanced_acc": "accuracy"}
    assert chance["metrics"]["balanced_acc"] == pytest.approx(1 / 12)  # superb-mini's test set has all 12 classes

    out = tmp_path / "report"
    report = ["report", "--include", str(guide_module), "--runs", str(runs), "--out", str(out), "--references", "none"]
    assert main([*report, "--no-plots", "--format", "md", "--show-unlearned"]) == 0
    header = next(line for line in (out / "leaderboard.md").read_text().splitlines() if "KSb acc" in line)
    assert "KSb bal." in header
