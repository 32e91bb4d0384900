"""docs/contributing/adding-a-report-format.md, step by step: its module (taken from the page as printed) is written to
a file, and `bench report --include` lists and writes the new format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures.guides import guide_code

from bench.cli import main
from results import report


@pytest.fixture
def guide_module(tmp_path) -> Path:
    code = guide_code("adding-a-report-format.md")
    path = tmp_path / "my_format.py"
    path.write_text(code)
    yield path
    report.REPORT_FORMATS.pop("json", None)  # the rest of the session knows the built-in formats only


def test_the_guides_format_is_listed_and_written(guide_module, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no runs/ here: the report holds the model card's reference rows
    with pytest.raises(SystemExit):
        main(["report", "--include", str(guide_module), "--help"])
    assert "json: leaderboard.json" in " ".join(capsys.readouterr().out.split())

    out = tmp_path / "report"
    assert main(["report", "--include", str(guide_module), "--format", "json,md", "--no-plots", "--out", str(out)]) == 0
    rows = {row["row"]: row["cells"] for row in json.loads((out / "leaderboard.json").read_text())}
    assert rows["MERaLiON-SpeechEncoder-2 (card)"]["ks"] == pytest.approx(97.57)
    assert (out / "leaderboard.md").exists()
