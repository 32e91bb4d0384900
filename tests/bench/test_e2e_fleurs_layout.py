"""`bench run --task mlid,mlasr` on a FLEURS folder in google/fleurs's own layout, built by hand (not superb-mini):
packed audio is refused with the command that extracts it, that command works, and the run and the report follow.
(That both tasks learn is checked on superb-mini, in test_e2e_fleurs.py.)"""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from fixtures.fleurs_layout import build_fleurs_folder

from bench.cli import main
from results.report import load_leaderboard


def test_a_fleurs_download_runs_after_extraction_and_reports_beside_superb(tmp_path, capsys):
    root = build_fleurs_folder(tmp_path / "download", {"train": 8, "dev": 3, "test": 3}, extract=False)
    runs = tmp_path / "runs"
    common = [
        "--upstream",
        "fbank_no_cmvn",
        "--data-root",
        str(root),
        "--output",
        str(runs),
        "--profile",
        "mini",
        "--device",
        "cpu",
        "--quiet",
        "--cache-dir",
        str(tmp_path / "cache"),
        "data.languages=[en_us,cmn_hans_cn,th_th,vi_vn]",
        "total_steps=20",
        "eval_step=10",
        "save_step=10",
        "lr_sweep=[0.001]",
    ]
    assert main(["run", "--task", "mlid,mlasr", *common]) == 2
    message = capsys.readouterr().err.strip()
    assert message.count("\n") == 0 and "12 audio archive(s) are not extracted" in message
    command = re.search(r"Extract them: (.*)$", message).group(1)
    subprocess.run(["bash", "-c", command], check=True)

    assert main(["run", "--task", "mlid,mlasr", *common]) == 0
    for task in ("mlid", "mlasr"):
        record = json.loads((runs / task / "fbank_no_cmvn" / "result.json").read_text())
        assert record["dataset"]["num_files"] == 4 * (8 + 3 + 3)
        assert record["units"] and record["chance"]["metrics"]
    mlid = json.loads((runs / "mlid" / "fbank_no_cmvn" / "result.json").read_text())
    assert {f"acc/{language}" for language in ("en_us", "cmn_hans_cn", "th_th", "vi_vn")} <= set(mlid["metrics"])
    assert sum(value for key, value in mlid["metrics"].items() if key.startswith("confusion/en_us/")) == pytest.approx(
        1.0
    )
    mlasr = json.loads((runs / "mlasr" / "fbank_no_cmvn" / "result.json").read_text())
    assert {"cer", "cer_sd", "cer_pooled", "wer", "cer/th_th", "wer/vi_vn"} <= set(mlasr["metrics"])

    # the FLEURS tasks get their own table and enter neither SUPERB score
    board = load_leaderboard([runs], "card", show_unlearned=True)
    row = board.row("fbank_no_cmvn")
    assert row.cells["mlid"].value is not None and row.cells["mlasr_cer_th_th"].value is not None
    assert row.overall.score.value is None and row.superb_s.score.value is None
    # 20 steps decode nothing (measured: 100% CER in every language). The spread of those CERs is then 0, which has no
    # chance level of its own: it goes with the task's CER and is left out with it, not shown as the best spread
    hidden = load_leaderboard([runs], "card").row("fbank_no_cmvn")
    assert hidden.cells["mlasr_cer"].value is None and hidden.cells["mlasr_cer_sd"].value is None
    assert hidden.cells["mlasr_cer_sd"].withheld == hidden.cells["mlasr_cer"].withheld  # one footnote for the task
    assert (
        "Every MLASR column of fbank_no_cmvn left out: its cer 100.00 does not beat"
        in hidden.cells["mlasr_cer"].withheld
    )
    out = tmp_path / "report"
    assert main(["report", "--runs", str(runs), "--out", str(out), "--references", "card", "--show-unlearned"]) == 0
    markdown = (out / "leaderboard.md").read_text()
    superb_table, fleurs_part = markdown.split("## Multilingual (FLEURS)")
    assert not any(line.startswith("| fbank_no_cmvn") for line in superb_table.splitlines())  # no SUPERB record
    assert "| Model | LID acc↑ (%) | CER avg↓ (%) | CER SD↓ (%) | CER pooled↓ (%) | CER en_us↓ (%)" in fleurs_part
    assert "### LID confusion, fbank_no_cmvn" in fleurs_part and "No published reference rows" in fleurs_part
    assert (out / "figures" / "multilingual.png").is_file()
    assert "Multilingual (FLEURS)" in (out / "leaderboard.tex").read_text()
    assert "<h2>Multilingual (FLEURS)</h2>" in (out / "report.html").read_text()
