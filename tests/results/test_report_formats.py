"""Report formats live in one table (`results.report.REPORT_FORMATS`): `--format`'s choices and help come from it, and
a module can add one with `register_report_format` (`bench report --include`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchcore.atomic import write_text_atomic
from benchcore.errors import BenchError
from results import report


@pytest.fixture
def json_format():
    def write(board, out_dir: Path, figures, notes) -> list[Path]:
        rows = [row.label for row in board.rows]
        return [write_text_atomic(out_dir / "rows.json", json.dumps(rows))]

    added = report.register_report_format(report.ReportFormat("json", "rows.json: the row labels", write))
    yield added
    report.REPORT_FORMATS.pop("json")


def test_a_registered_format_is_written_and_listed(json_format, tmp_path):
    board = report.load_leaderboard([tmp_path / "no-runs"], references="card", allow_no_runs=True)
    output = report.write_report(board, tmp_path / "out", report.parse_formats("json,md"), plots=False)
    assert [path.name for path in output.files] == ["leaderboard.md", "rows.json"]  # the table's order
    assert "MERaLiON-SpeechEncoder-2 (card)" in json.loads((tmp_path / "out" / "rows.json").read_text())
    assert "json: rows.json: the row labels" in report.format_help()
    assert report.parse_formats(None) == ["md", "csv", "tex", "html", "json"]


def test_unknown_formats_and_name_clashes_are_refused(json_format):
    with pytest.raises(BenchError, match="choose from md,csv,tex,html,json"):
        report.parse_formats("md,docx")
    with pytest.raises(BenchError, match="already registered"):
        report.register_report_format(report.ReportFormat("md", "another", json_format.write))
