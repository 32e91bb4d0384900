"""`bench compare A B` on real records (tests/results/conftest.py: fbank_no_cmvn with KS over 2 seeds and IC, a tiny
HuBERT with KS): paired tests on the same items, identical systems, items that differ, the files it writes."""

from __future__ import annotations

import shutil

import pandas
import pytest

from bench.cli import main
from benchcore.errors import BenchError
from results.compare import compare
from results.records import load_records


def test_two_upstreams_are_compared_on_their_common_tasks(report_runs):
    comparison = compare(load_records([report_runs.runs]), "fbank_no_cmvn", report_runs.hubert_name, 2000)
    (row,) = comparison.rows  # KS is the only task both ran
    assert row.column.key == "ks" and row.resampled.endswith(" utterances") and row.n_resamples == 2000
    records = {r.upstream_name: r for r in load_records([report_runs.runs]).records if r.task == "ks"}
    assert row.value_a == pytest.approx(100 * records["fbank_no_cmvn"].metrics["acc"])
    assert row.difference == pytest.approx(row.value_a - row.value_b)
    assert 0.0 <= row.p_value <= 1.0 and row.p_holm == row.p_value  # one column: Holm changes nothing
    assert row.p_mcnemar is None  # fbank's KS has two seeds: no single right/wrong per item
    assert row.interval[0] <= row.difference <= row.interval[1]


def test_an_upstream_against_itself_differs_by_nothing(report_runs):
    comparison = compare(load_records([report_runs.runs]), "fbank_no_cmvn", "fbank_no_cmvn", 500)
    assert {row.column.key for row in comparison.rows} == {"ks", "ic"}
    for row in comparison.rows:
        assert row.difference == 0.0 and row.p_value == 1.0 and row.p_holm == 1.0
        assert row.verdict == "no significant difference"
    ic = next(row for row in comparison.rows if row.column.key == "ic")
    assert ic.p_mcnemar == 1.0


def test_runs_on_different_items_are_refused_at_the_first_difference(report_runs, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(report_runs.runs, runs, ignore=shutil.ignore_patterns("*.pt"))
    (items,) = [
        path
        for path in runs.glob("ks/*/units/*/test_items.tsv")
        if "fbank" not in str(path) and "__layer_" not in str(path)  # the tiny HuBERT's weighted sum, not a probe
    ]
    lines = items.read_text().split("\n")
    lines[4] = "renamed_utterance\t" + lines[4].split("\t", 1)[1]
    items.write_text("\n".join(lines))
    with pytest.raises(BenchError, match=r"did not score the same test items \(item 3: '.+' vs 'renamed_utterance'\)"):
        compare(load_records([runs]), "fbank_no_cmvn", report_runs.hubert_name, 100)


def test_the_command_prints_markdown_and_writes_csv(report_runs, tmp_path, capsys):
    arguments = ["compare", "fbank_no_cmvn", report_runs.hubert_name, "--runs", str(report_runs.runs)]
    assert main([*arguments, "--format", "md,csv", "--out", str(tmp_path), "--bootstrap", "500"]) == 0
    printed = capsys.readouterr().out
    assert "| KS ↑ |" in printed and "Holm-corrected" in printed
    frame = pandas.read_csv(tmp_path / "comparison.csv")
    assert list(frame.column) == ["ks"] and {"ci_low", "ci_high", "p_bootstrap", "p_holm"} <= set(frame.columns)
    assert (tmp_path / "comparison.md").read_text().startswith("A = fbank_no_cmvn")
    assert main(["compare", "fbank_no_cmvn", "nobody", "--runs", str(report_runs.runs)]) == 2
    assert "no records of upstream 'nobody'" in capsys.readouterr().err
