"""docs/contributing/adding-a-task.md, step by step: an 11th task needs its class (with its metadata), its YAML and one
registration, and nothing else. Its module, taken from the page as printed, is written beside a copy of KS's YAML;
`--include` makes it appear in `bench run --help`; it runs through the unchanged runner and gets a table of its own in
`bench report`, outside the SUPERB scores. The task is keyword spotting with two classes (a command word or not) on
superb-mini's Speech Commands layout.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fixtures.guides import guide_code

from bench.cli import main
from bench.config import CONFIG_DIR
from bench.includes import import_include
from bench.runner import expand_tasks
from downstream_tasks import task_names, unregister_task
from downstream_tasks.metadata import ACCURACY, MetricSpec, TaskMetadata
from results.columns import all_columns, superb_columns
from results.report import load_leaderboard
from results.scores import card_overall_score


@pytest.fixture
def toy_module(tmp_path) -> Path:
    """The guide's module and its YAML (a copy of KS's, as the guide says), registered until the test ends."""
    module = tmp_path / "my_task.py"
    module.write_text(guide_code("adding-a-task.md"))
    shutil.copy(CONFIG_DIR / "ks.yaml", tmp_path / "cmd.yaml")
    yield module
    unregister_task("cmd")


def test_a_registered_task_runs_and_gets_its_own_report_table(toy_module, mini_tiny, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["run", "--include", str(toy_module), "--help"])
    assert "a task (pr, asr, ks, qbe, sid, asv, sd, er, ic, sf, mlid, mlasr, cmd)" in " ".join(
        capsys.readouterr().out.split()
    )
    assert "cmd" in task_names() and "cmd" not in expand_tasks("all") and len(expand_tasks("all")) == 10

    runs = tmp_path / "runs"
    common = [
        "--upstream",
        "fbank_no_cmvn",
        "--data-root",
        str(mini_tiny),
        "--output",
        str(runs),
        "--profile",
        "mini",
        "--device",
        "cpu",
        "--quiet",
        "--cache-dir",
        str(tmp_path / "cache"),
        "total_steps=40",
        "eval_step=20",
        "save_step=20",
    ]
    assert main(["run", "--include", str(toy_module), "--task", "cmd,ks", *common]) == 0
    assert (runs / "cmd" / "fbank_no_cmvn" / "result.json").is_file()

    assert [column.key for column in all_columns()] == (
        [column.key for column in superb_columns()] + [column.key for column in all_columns("fleurs")] + ["cmd"]
    )
    board = load_leaderboard([runs], "none", show_unlearned=True)
    row = board.row("fbank_no_cmvn")
    assert row.cells["cmd"].value is not None and 0 <= row.cells["cmd"].value <= 100
    # the SUPERB scores see only the SUPERB columns: the same Overall Score as from the row's KS alone
    assert row.overall.score.value == pytest.approx(card_overall_score({"ks": row.cells["ks"].value}).value)
    assert "cmd" not in row.overall.score.used and "cmd" not in row.overall.score.missing

    out = tmp_path / "report"
    assert (
        main(
            ["report", "--include", str(toy_module), "--runs", str(runs), "--out", str(out), "--references", "card"]
            + ["--no-plots", "--show-unlearned"]
        )
        == 0
    )
    superb_part, toy_part = (out / "leaderboard.md").read_text().split("\n## toy\n")  # its benchmark's own table
    superb_header = next(line for line in superb_part.splitlines() if line.startswith("| Model"))
    assert "CMD" not in superb_header and superb_header.rstrip(" |").endswith("SF F1↑ / CER↓ (%) | Params | MACs/s")
    assert next(line for line in toy_part.splitlines() if line.startswith("| Model")) == "| Model | CMD↑ (%) |"
    assert "cmd" in (out / "leaderboard.csv").read_text().splitlines()[0]


def test_a_task_may_not_declare_its_facts_twice(toy_module):
    command_or_not = import_include(str(toy_module)).CommandOrNot
    with pytest.raises(TypeError, match="beside its metadata"):
        type("Twice", (command_or_not,), {"metadata": command_or_not.metadata, "metric": "f1"})


def test_metadata_refuses_what_no_runner_can_read():
    with pytest.raises(ValueError, match="head_input"):
        TaskMetadata("x", "X", "c", "waveform", (MetricSpec("acc", ACCURACY),), benchmark="toy")
    with pytest.raises(ValueError, match="at least one metric"):
        TaskMetadata("x", "X", "c", "pooled", (), benchmark="toy")
    with pytest.raises(ValueError, match="kind 'percent' is not one of accuracy, error_rate, detection, f1"):
        MetricSpec("acc", "percent")
    with pytest.raises(TypeError, match="benchmark"):  # no default: a task says which table it joins
        TaskMetadata("x", "X", "c", "pooled", (MetricSpec("acc", ACCURACY),))
