"""The per-item outputs format (downstream_tasks.items): it reads back what it wrote, refuses other formats in one
line, and each statistic recomputes a hand-worked value."""

from __future__ import annotations

import pytest

from benchcore.errors import BenchError
from downstream_tasks.items import ItemTable, Statistic, ratio, read_items, recompute, write_items
from downstream_tasks.metrics.detection import equal_error_rate
from downstream_tasks.metrics.text import edit_counts_per_pair, error_rate


def _table() -> ItemTable:
    return ItemTable(
        "toy",
        "utterance",
        ["a", "b", "c", "d"],
        {
            "edits": [1, 0, 2, 3],
            "words": [4, 3, 5, 2],
            "language": ["en", "en", "1", "1"],  # a language named "1" stays text
            "score": [0.9, 0.1, 0.35, 0.8],
            "label": [1, 0, 0, 1],
            "other_edits": [0, 0, 0, 0],
            "speaker": ["s1", "s1", "s2", "s2"],
        },
        {
            "wer": ratio("edits", "words"),
            "wer/en": ratio("edits", "words", group="language", where="en"),
            "mean": Statistic("mean_of_ratios", "edits", "words", group="language"),
            "spread": Statistic("sd_of_ratios", "edits", "words", group="language"),
            "best": Statistic("select_ratio", ("edits", "other_edits"), ("words", "words"), select="min"),
            "eer": Statistic("eer", score="score", label="label"),
        },
        block="speaker",
    )


def test_a_table_reads_back_as_written_and_recomputes_hand_worked_values(tmp_path):
    path = tmp_path / "test_items.tsv"
    write_items(path, _table())
    table = read_items(path)
    assert table == _table()
    values = recompute(table)
    assert values["wer"] == 6 / 14
    assert values["wer/en"] == 1 / 7
    assert values["mean"] == pytest.approx((1 / 7 + 5 / 7) / 2)
    assert values["spread"] == pytest.approx(2 / 7)
    assert values["best"] == 0.0
    assert values["eer"] == equal_error_rate([1, 0, 0, 1], [0.9, 0.1, 0.35, 0.8]) == 0.0


def test_per_pair_edit_counts_sum_to_the_corpus_error_rate():
    hypotheses = ["a b c", "x y", "", "p q r s"]
    references = ["a c d", "x y z w", "m n", "p r"]
    for unit in ("word", "char"):
        counts = edit_counts_per_pair(hypotheses, references, unit)
        assert sum(e for e, _ in counts) / sum(n for _, n in counts) == error_rate(hypotheses, references, unit)
    assert edit_counts_per_pair(hypotheses, references, "word") == [(2, 3), (2, 4), (2, 2), (2, 2)]


def test_another_format_or_version_is_a_one_line_refusal(tmp_path):
    path = tmp_path / "test_items.tsv"
    write_items(path, _table())
    lines = path.read_text().split("\n")
    path.write_text("\n".join([lines[0].replace(" 1 ", " 9 ", 1), *lines[1:]]))
    with pytest.raises(BenchError, match="items version 9 is not supported"):
        read_items(path)
    path.write_text("uid\tprediction\ttruth\n")
    with pytest.raises(BenchError, match="not an items file"):
        read_items(path)


def test_a_statistic_naming_an_unknown_column_is_refused():
    with pytest.raises(ValueError, match="unknown column"):
        ItemTable("toy", "utterance", ["a"], {"edits": [1]}, {"wer": ratio("edits", "words")})
    with pytest.raises(ValueError, match="3 values for 2 items"):
        ItemTable("toy", "utterance", ["a", "b"], {"edits": [1, 2, 3]})
