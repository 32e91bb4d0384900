"""An 11th task needs its class (with its metadata), its YAML and one registry entry, and nothing else: it appears in
`bench run --help`, runs through the unchanged runner, and gets a column of its own in `bench report`, outside the
SUPERB scores. The toy task is keyword spotting with two classes (a command word or not) on superb-mini's Speech
Commands layout, registered with :func:`downstream_tasks.register_task` as a task defined outside the harness would be.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest

from bench.cli import build_parser, main
from bench.config import CONFIG_DIR
from bench.runner import expand_tasks
from downstream_tasks import register_task, task_names, unregister_task
from downstream_tasks.base import TaskData
from downstream_tasks.ks import KeywordSpotting
from downstream_tasks.metadata import ACCURACY, MetricSpec, TaskMetadata
from results.columns import all_columns, superb_columns
from results.report import load_leaderboard
from results.scores import card_overall_score

NOT_A_COMMAND = ("_silence_", "_unknown_")


class CommandOrNot(KeywordSpotting):
    """Is the clip one of the ten command words? The KS reader, labels folded to two classes."""

    metadata = TaskMetadata(
        "cmd",
        "CMD",
        "speech_commands",
        "pooled",
        (MetricSpec("acc", ACCURACY, "cmd", description="command word or not, accuracy (Speech Commands v0.01 test)"),),
        benchmark="toy",
    )

    def load(self, data_root: Path, fold: str | None, config: Any) -> TaskData:
        data = super().load(data_root, fold, config)
        names = data.label_names[0]
        relabel = lambda utterance: dataclasses.replace(  # noqa: E731
            utterance, label=(int(names[utterance.label[0]] not in NOT_A_COMMAND),)
        )
        return dataclasses.replace(
            data,
            splits={split: [relabel(u) for u in us] for split, us in data.splits.items()},
            label_names=[["other", "command"]],
        )


@pytest.fixture
def toy_task(tmp_path):
    config = tmp_path / "cmd.yaml"
    shutil.copy(CONFIG_DIR / "ks.yaml", config)
    task = type(
        "CommandOrNot", (CommandOrNot,), {"metadata": dataclasses.replace(CommandOrNot.metadata, config_file=config)}
    )
    register_task(task)
    yield task
    unregister_task("cmd")


def test_a_registered_task_runs_and_gets_its_own_report_table(toy_task, mini_tiny, tmp_path, capsys):
    assert "cmd" in task_names() and "cmd" not in expand_tasks("all") and len(expand_tasks("all")) == 10
    run_help = next(
        action
        for action in build_parser()._subparsers._group_actions[0].choices["run"]._actions
        if action.dest == "task"
    ).help
    assert "cmd" in run_help

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
    assert main(["run", "--task", "cmd,ks", *common]) == 0
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
            ["report", "--runs", str(runs), "--out", str(out), "--references", "card", "--no-plots", "--show-unlearned"]
        )
        == 0
    )
    superb_part, toy_part = (out / "leaderboard.md").read_text().split("\n## toy\n")  # its benchmark's own table
    superb_header = next(line for line in superb_part.splitlines() if line.startswith("| Model"))
    assert "CMD" not in superb_header and superb_header.rstrip(" |").endswith("SF F1↑ / CER↓ (%)")
    assert next(line for line in toy_part.splitlines() if line.startswith("| Model")) == "| Model | CMD↑ (%) |"
    assert "cmd" in (out / "leaderboard.csv").read_text().splitlines()[0]


def test_a_task_may_not_declare_its_facts_twice():
    with pytest.raises(TypeError, match="beside its metadata"):
        type("Twice", (CommandOrNot,), {"metadata": CommandOrNot.metadata, "metric": "f1"})


def test_metadata_refuses_what_no_runner_can_read():
    with pytest.raises(ValueError, match="head_input"):
        TaskMetadata("x", "X", "c", "waveform", (MetricSpec("acc", ACCURACY),), benchmark="toy")
    with pytest.raises(ValueError, match="at least one metric"):
        TaskMetadata("x", "X", "c", "pooled", (), benchmark="toy")
    with pytest.raises(ValueError, match="kind 'percent' is not one of accuracy, error_rate, detection, f1"):
        MetricSpec("acc", "percent")
    with pytest.raises(TypeError, match="benchmark"):  # no default: a task says which table it joins
        TaskMetadata("x", "X", "c", "pooled", (MetricSpec("acc", ACCURACY),))
