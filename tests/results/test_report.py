"""`bench report` on real records: cells, seeds, missing cells, the four formats, --explain, figures, HTML in
Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image
import pandas
import pytest

from bench.cli import main
from downstream_tasks.chance import margin as chance_margin
from results.columns import column_by_key
from results.records import load_records, read_record, records_frame
from results.references import select_references
from results.report import load_leaderboard


def _record(report_runs, task, upstream="fbank_no_cmvn"):
    return next(
        record
        for record in load_records([report_runs.runs]).records
        if record.task == task and record.upstream_name == upstream
    )


def test_cells_come_from_the_records(report_runs):
    board = load_leaderboard([report_runs.runs], "card", show_unlearned=True)
    row = board.row("fbank_no_cmvn")
    ks, ic = _record(report_runs, "ks"), _record(report_runs, "ic")
    # KS: 2 seeds -> mean ± sample std, in %, from the record's per-seed values
    assert ks.seeds == [0, 1] and len(ks.lr_sweep) == 2
    cell = row.cells["ks"]
    per_seed = [100 * entry["acc"] for entry in ks.per_seed]
    assert cell.value == pytest.approx(sum(per_seed) / 2) and cell.n_seeds == 2
    assert cell.std == pytest.approx(abs(per_seed[0] - per_seed[1]) / 2**0.5)
    assert cell.text() == f"{cell.value:.2f} ± {cell.std:.2f}"
    assert row.cells["ic"].value == pytest.approx(100 * ic.metrics["acc"]) and "±" not in row.cells["ic"].text()
    # missing tasks: "–", left out of both scores, which are then partial and footnoted
    assert row.cells["pr"].text() == "–" and row.cells["sf_cer"].value is None
    assert row.overall.score.used == ("ks", "ic") and row.overall.score.partial
    assert row.overall.score.value == pytest.approx((row.cells["ks"].value + row.cells["ic"].value) / 2)
    assert row.superb_s.score.used == ("ks", "ic")
    assert "Partial score" in board.footnotes[row.overall.notes[0] - 1]
    assert "superb-mini" in board.footnotes[row.label_notes[0] - 1]
    # a partial row never wins a score column (KS's bold, a tie group, is tested below)
    assert not row.overall.best
    assert board.row("card:wavlm_large").overall.best
    frame = records_frame(load_records([report_runs.runs]).records)
    assert set(frame.upstream) == {"fbank_no_cmvn", report_runs.hubert_name}
    assert frame.query("task == 'ks' and upstream == 'fbank_no_cmvn'")["n_seeds"].tolist() == [2]


def test_report_writes_the_four_formats(report_runs, report_dir):
    ks = _record(report_runs, "ks")
    markdown = (report_dir / "leaderboard.md").read_text()
    header = markdown.splitlines()[2]
    assert header.startswith("| Model | Overall Score (card) | SUPERB_s | PR↓ (%) | ASR↓ (%) | KS↑ (%) | QbE↑ (MTWV)")
    assert "SF F1↑ / CER↓ (%)" in header
    assert f"{100 * ks.metrics['acc']:.2f} ± {100 * ks.metrics_std['acc']:.2f}" in markdown
    assert "**84.77**" in markdown  # WavLM large's Overall Score, the best complete row
    assert "## Provenance of the measured cells" in markdown and str(ks.path) in markdown

    wide = pandas.read_csv(report_dir / "leaderboard.csv").set_index("row_id")
    assert wide.loc["fbank_no_cmvn", "ks"] == pytest.approx(100 * ks.metrics["acc"], abs=1e-4)
    assert wide.loc["fbank_no_cmvn", "ks_n_seeds"] == 2 and pandas.isna(wide.loc["fbank_no_cmvn", "pr"])
    assert wide.loc["card:meralion2", "overall_score_card"] == pytest.approx(82.7164, abs=1e-4)
    assert wide.loc["superb:wavlm_base_plus", "superb_s"] == pytest.approx(1106.2, abs=0.05)
    assert bool(wide.loc["fbank_no_cmvn", "superb_s_partial"]) and not bool(
        wide.loc["superb:fbank", "superb_s_partial"]
    )
    cells = pandas.read_csv(report_dir / "cells.csv")
    ks_cell = cells[(cells.row_id == "fbank_no_cmvn") & (cells.column == "ks")].iloc[0]
    assert ks_cell.source == str(ks.path) and ks_cell.seeds == "0 1" and ks_cell.lr_sweep == "0.001 0.01"
    assert cells[cells.row_id == "card:meralion2"].source.str.contains("huggingface.co/MERaLiON").all()

    tex = (report_dir / "leaderboard.tex").read_text()
    assert r"\toprule" in tex and r"\textbf{84.77}" in tex and r"fbank\_no\_cmvn" in tex and r"$\pm$" in tex
    body = tex.split(r"\midrule")[1].split(r"\bottomrule")[0]
    assert all(line.count("&") == 14 for line in body.strip().splitlines())  # 13 columns, Params and MACs/s
    assert re.search(r"(?<!\\)[_%#]", body.replace("$^{", "").replace(r"\_", "").replace(r"\%", "")) is None

    html = (report_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4 and 'src="http' not in html and "<link" not in html
    assert str(ks.path) in html  # provenance of the measured cells


def test_explain_prints_the_records_behind_a_cell(report_runs, capsys):
    ks = _record(report_runs, "ks")
    assert main(["report", "--runs", str(report_runs.runs), "--explain", "fbank_no_cmvn", "ks"]) == 0
    text = capsys.readouterr().out
    assert str(ks.path) in text and "seeds: 0, 1" in text and "<- selected on dev" in text
    assert ks.dataset["files_sha256"] in text
    unit_dirs = re.findall(r"^\s+\w{12}\s+fold None\s+seed \d\s+lr \S+\s+(\S+)", text, re.MULTILINE)
    assert len(unit_dirs) == 4 and all((Path(path) / "record.json").is_file() for path in unit_dirs)
    assert text.count("(sweep only)") == 2  # the 2 seeds of the rate not selected

    assert main(["report", "--runs", str(report_runs.runs), "--explain", "card:hubert_large", "overall"]) == 0
    text = capsys.readouterr().out
    assert "82.2555" in text and "prints an Overall Score of 82.25" in text and "82.2455" in text

    assert main(["report", "--runs", str(report_runs.runs), "--explain", "fbank_no_cmvn", "superb_s"]) == 0
    text = capsys.readouterr().out
    assert "KS" in text and "PR          –   left out" in text

    assert main(["report", "--runs", str(report_runs.runs), "--explain", "nobody", "ks"]) == 2
    assert "no row 'nobody'" in capsys.readouterr().err
    assert main(["report", "--runs", str(report_runs.runs), "--format", "md,pdf"]) == 2
    assert "unknown format(s) pdf" in capsys.readouterr().err


def test_figures_are_written_readable(report_runs, report_dir):
    figures = report_dir / "figures"
    names = sorted(path.name for path in figures.iterdir())
    heatmaps = [name for name in names if name.startswith("layer_weights_")]
    # the tiny HuBERT learned 3 weights; FBANK has one hidden state and gets no heatmap
    assert len(heatmaps) == 2 and all("hf_" in name for name in heatmaps)
    for stem in ("task_bars", "superb_s_tasks", heatmaps[0][:-4]):
        image = matplotlib.image.imread(figures / f"{stem}.png")
        assert image.shape[1] >= 1200 and image.std() > 0.05  # 200 dpi on a 7.2 in page, not blank
        svg = (figures / f"{stem}.svg").read_text()
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    weights = _record(report_runs, "ks", report_runs.hubert_name).layer_weights
    assert len(weights) == 3 and sum(weights) == pytest.approx(1.0)


def test_dev_selected_values_and_duplicate_records_are_footnoted(report_runs, tmp_path):
    """Schema-level: an ASV-style record carrying `eer_dev_selected`, and the same (upstream, task) in two folders."""
    ks = json.loads(_record(report_runs, "ks").path.read_text())
    asv = dict(
        ks,
        task="asv",
        task_title="ASV",
        metric={"name": "eer", "higher_is_better": False, "unit": "fraction"},
        metrics={"eer": 0.25, "eer_dev_selected": 0.3},
        metrics_std={"eer": 0.0},
        lr_sweep=None,
        seeds=[0],
        per_seed=[{"seed": 0, "eer": 0.25, "eer_dev_selected": 0.3, "per_fold": None}],
    )
    (tmp_path / "a" / "asv" / "fbank_no_cmvn").mkdir(parents=True)
    (tmp_path / "a" / "asv" / "fbank_no_cmvn" / "result.json").write_text(json.dumps(asv))
    older = dict(ks, created="2000-01-01T00:00:00+00:00", metrics={"acc": 0.99})
    (tmp_path / "b" / "ks" / "fbank_no_cmvn").mkdir(parents=True)
    (tmp_path / "b" / "ks" / "fbank_no_cmvn" / "result.json").write_text(json.dumps(older))
    board = load_leaderboard([report_runs.runs, tmp_path / "a", tmp_path / "b"], "none", show_unlearned=True)
    row = board.row("fbank_no_cmvn")
    assert row.cells["asv"].text() == "25.00"
    assert "dev instead it is 30.00" in board.footnotes[row.cells["asv"].notes[0] - 1]
    assert row.cells["ks"].value == pytest.approx(100 * ks["metrics"]["acc"])  # the newer record wins
    assert any("is left out" in board.footnotes[number - 1] for number in row.cells["ks"].notes)
    assert read_record(tmp_path / "a" / "asv" / "fbank_no_cmvn" / "result.json").metric.name == "eer"
    assert column_by_key()["asv"].metric == "eer"


def test_a_record_stating_the_other_direction_stops_the_report(report_runs, tmp_path, capsys):
    """Each column ranks by the direction its records state; one written under another definition of the metric
    (accuracy recorded as an error rate) cannot be ranked beside the others, and the report says so in one line."""
    ks = json.loads(_record(report_runs, "ks").path.read_text())
    assert ks["metric_kinds"] == {"acc": "accuracy"}
    flipped = dict(ks, metric_kinds={"acc": "error_rate"})
    (tmp_path / "ks" / "fbank_no_cmvn").mkdir(parents=True)
    (tmp_path / "ks" / "fbank_no_cmvn" / "result.json").write_text(json.dumps(flipped))
    assert main(["report", "--runs", str(tmp_path), "--out", str(tmp_path / "report")]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert "records acc as lower is better, but this harness declares higher is better for the KS column" in error
    assert "bench run --task ks --force" in error


def test_bad_records_are_one_line_errors(tmp_path, capsys):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "result.json").write_text(
        json.dumps({"schema": "superb-bench/result-record", "schema_version": 9})
    )
    assert main(["report", "--runs", str(tmp_path)]) == 2
    assert "schema version 9 is not supported" in capsys.readouterr().err
    assert main(["report", "--runs", str(tmp_path / "none")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
    assert main(["report", "--runs", str(tmp_path / "x"), "--references", "nope"]) == 2
    assert "unknown name 'nope'" in capsys.readouterr().err
    assert len(select_references("superb")) == 8


CHROMIUM = next(
    (shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome") if shutil.which(name)), None
)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (Debian package `chromium`; setup.sh installs it)")
def test_html_report_renders_offline_in_headless_chromium(report_dir, tmp_path):
    page = (report_dir / "report.html").resolve().as_uri()
    flags = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--hide-scrollbars",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--window-size=1400,1600",
    ]
    dom = subprocess.run(
        [*flags, "--virtual-time-budget=5000", "--dump-dom", page], capture_output=True, text=True, timeout=120
    ).stdout
    # the page's own check: every embedded figure decoded (naturalWidth > 0) once the page loaded
    assert 'data-images-loaded="4/4"' in dom  # with the tiny HuBERT's per-layer probe figure
    assert "Per-layer probes" in dom
    assert "Overall Score (card)" in dom and "fbank_no_cmvn" in dom
    shot = tmp_path / "report.png"
    subprocess.run([*flags, f"--screenshot={shot}", page], capture_output=True, timeout=120)
    image = matplotlib.image.imread(shot)
    assert image.shape[:2] == (1600, 1400) and image.std() > 0.05
    shutil.copy(shot, report_dir / "chromium_screenshot.png")


def test_markdown_is_printed(report_runs, capsys, tmp_path):
    assert (
        main(
            [
                "report",
                "--runs",
                str(report_runs.runs),
                "--out",
                str(tmp_path),
                "--format",
                "md",
                "--no-plots",
                "--references",
                "none",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    table = [line for line in out.splitlines() if line.startswith("|")]
    assert len(table) == 2 + 2  # header, rule, fbank_no_cmvn, the tiny HuBERT
    assert sorted(path.name for path in tmp_path.iterdir()) == ["leaderboard.md"]


def _copy_record(report_runs, root, source_task, **changes):
    """A copy of a real record of the fixture (of ``source_task``) under ``root`` with some fields changed."""
    content = dict(_record(report_runs, source_task).to_dict(), **changes)
    directory = root / content["task"] / str(content["upstream"]["name"])
    directory.mkdir(parents=True)
    (directory / "result.json").write_text(json.dumps(content))
    return content


def test_a_value_at_chance_is_left_out_with_its_reason(report_runs, tmp_path):
    ks = _record(report_runs, "ks")
    chance = ks.chance
    assert chance is not None and chance.basis == "the most frequent test label" and chance.n_items > 0
    margin_needed = chance_margin(chance.metrics["acc"], chance.n_items, is_accuracy=True)
    at_chance = {"acc": chance.metrics["acc"] + 0.5 * margin_needed}
    _copy_record(report_runs, tmp_path / "blind", "ks", metrics=at_chance, metrics_std={"acc": 0.0}, seeds=[0])
    _copy_record(report_runs, tmp_path / "learned", "ks", metrics={"acc": 1.0}, metrics_std={"acc": 0.0}, seeds=[0])

    board = load_leaderboard([tmp_path / "blind"], "none")
    cell = board.row("fbank_no_cmvn").cells["ks"]
    assert cell.value is None and cell.text() == "–" and cell.record is not None
    note = board.footnotes[cell.notes[0] - 1]
    assert "KS of fbank_no_cmvn left out" in note and "the most frequent test label" in note
    assert f"{100 * chance.metrics['acc']:.2f}" in note
    assert board.row("fbank_no_cmvn").overall.score.value is None  # nothing learned, nothing to score

    shown = load_leaderboard([tmp_path / "blind"], "none", show_unlearned=True).row("fbank_no_cmvn").cells["ks"]
    assert shown.value == pytest.approx(100 * at_chance["acc"])
    assert load_leaderboard([tmp_path / "learned"], "none").row("fbank_no_cmvn").cells["ks"].value == pytest.approx(
        100.0
    )


def test_a_decoding_nothing_asr_row_is_left_out(report_runs, tmp_path):
    """The audio-blind answer of a CTC task does not depend on the data: decoding nothing is a WER of 100%."""
    _copy_record(
        report_runs,
        tmp_path,
        "ks",
        task="asr",
        task_title="ASR",
        metric={"name": "wer", "higher_is_better": False, "unit": "fraction"},
        metrics={"wer": 0.97, "cer": 0.9},
        metrics_std={"wer": 0.0},
        seeds=[0],
        chance={"metrics": {"wer": 1.0, "cer": 1.0}, "basis": "decoding nothing", "n_items": None},
    )
    board = load_leaderboard([tmp_path], "none")
    cell = board.row("fbank_no_cmvn").cells["asr"]
    assert (
        cell.value is None and "97.00 does not beat the audio-blind answer (decoding nothing: 100.00)" in cell.withheld
    )


def test_superb_mini_rows_do_not_take_the_bold_from_published_rows(report_runs, tmp_path):
    """A superb-mini QbE of 0.5 is above every published MTWV, yet the published best (WavLM large) keeps the bold;
    among the superb-mini rows the better one has it."""
    qbe = dict(
        task="qbe",
        task_title="QbE",
        metric={"name": "mtwv", "higher_is_better": True, "unit": "fraction"},
        metrics_std={"mtwv": 0.0},
        seeds=[0],
        chance={"metrics": {"mtwv": 0.0}, "basis": "no detection", "n_items": None},
    )
    _copy_record(report_runs, tmp_path / "a", "ks", metrics={"mtwv": 0.5}, **qbe)
    other = dict(_record(report_runs, "ks").upstream, name="other_smoke_row")
    _copy_record(report_runs, tmp_path / "b", "ks", metrics={"mtwv": 0.3}, upstream=other, **qbe)
    board = load_leaderboard([tmp_path], "card")
    assert not board.row("other_smoke_row").cells["qbe"].best
    run = board.row("fbank_no_cmvn")
    assert run.cells["qbe"].value == pytest.approx(0.5)
    published = [row for row in board.rows if row.kind == "reference"]
    best_published = max(published, key=lambda row: row.cells["qbe"].value or -1)
    assert best_published.cells["qbe"].best
    assert run.cells["qbe"].best  # the best among the superb-mini rows (it is the only one)
    assert not any(row.cells["qbe"].best for row in published if row is not best_published)


def test_measured_cells_carry_95_percent_intervals_and_published_ones_say_why_not(report_runs, report_dir, capsys):
    """Every run cell gets a percentile bootstrap interval from its units' test_items.tsv (KS here: two seeds, the
    items resampled once for both, around their mean); the CSVs carry it and --explain says how it was computed."""
    board = load_leaderboard([report_runs.runs], "card", show_unlearned=True)
    cell = board.row("fbank_no_cmvn").cells["ks"]
    assert cell.interval.n_resamples == 10_000 and cell.interval.units == "utterances"
    low, high = cell.interval_bounds()
    assert low <= cell.value <= high and high > low
    assert board.row("card:hubert_large").cells["ks"].interval is None
    # both scores: KS's and IC's items resampled, the score recomputed on each resample
    row = board.row("fbank_no_cmvn")
    for score in (row.overall, row.superb_s):
        assert score.interval[0] <= score.score.value <= score.interval[1] and score.interval[0] < score.interval[1]
    assert (
        load_leaderboard([report_runs.runs], "none", show_unlearned=True, bootstrap=0)
        .row("fbank_no_cmvn")
        .cells["ks"]
        .interval
        is None
    )

    cells = pandas.read_csv(report_dir / "cells.csv")
    ks = cells[(cells.row_id == "fbank_no_cmvn") & (cells.column == "ks")].iloc[0]
    assert (ks.ci_low, ks.ci_high) == pytest.approx((low, high), abs=1e-4)
    assert ks.ci_method.startswith("95% percentile bootstrap over")
    published = cells[cells.row_id == "card:hubert_large"].iloc[0]
    assert published.ci_method == "none: a published value (no per-item outputs)"
    wide = pandas.read_csv(report_dir / "leaderboard.csv")
    assert {"ks_ci_low", "ks_ci_high", "overall_score_card_ci_low", "superb_s_ci_high"} <= set(wide.columns)
    page = (report_dir / "report.html").read_text()
    assert "95% interval: [" in page  # the cell tooltips
    assert re.search(r"<h2>A = .+ vs B = .+</h2>", page) and "<td>KS ↑</td>" in page  # the two best measured rows

    assert main(["report", "--runs", str(report_runs.runs), "--explain", "fbank_no_cmvn", "ks"]) == 0
    explained = capsys.readouterr().out
    assert "95% interval: [" in explained and "the seeds' spread" in explained
    explain_overall = ["--show-unlearned", "--explain", "fbank_no_cmvn", "overall"]
    assert main(["report", "--runs", str(report_runs.runs), *explain_overall]) == 0
    assert "95% interval: [" in capsys.readouterr().out
    assert main(["report", "--runs", str(report_runs.runs), "--bootstrap", "-1"]) == 2


def test_a_measured_row_not_significantly_worse_than_the_best_is_bold_too(report_runs, capsys):
    """KS has two measured superb-mini rows: the lower one is tested against the best on the same items and is bold
    exactly when its Holm-corrected paired-bootstrap p-value is at least 5 %; --explain prints the test."""
    board = load_leaderboard([report_runs.runs], "none", show_unlearned=True)
    cells = [board.row(name).cells["ks"] for name in ("fbank_no_cmvn", report_runs.hubert_name)]
    best, other = sorted(cells, key=lambda cell: -cell.value)
    assert best.best and best.tie is None
    p_value = float(re.match(r"p = ([0-9.]+) against ", other.tie).group(1))
    assert other.best == (p_value >= 0.05)
    untested = load_leaderboard([report_runs.runs], "none", show_unlearned=True, bootstrap=0)
    assert all(row.cells["ks"].tie is None for row in untested.rows)
    other_name = "fbank_no_cmvn" if other is cells[0] else report_runs.hubert_name
    assert main(["report", "--runs", str(report_runs.runs), "--show-unlearned", "--explain", other_name, "ks"]) == 0
    assert "tie with the column's best: p = " in capsys.readouterr().out
