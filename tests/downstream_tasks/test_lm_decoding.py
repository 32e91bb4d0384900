"""ASR LM decoding: the lexicon-constrained beam search fixes what greedy decoding gets wrong, with the recipe's
settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchcore.errors import BenchError
from downstream_tasks.asr import BOS, FAIRSEQ_DICTIONARY, VOCABULARY
from downstream_tasks.ctc import greedy_decode
from downstream_tasks.lm_decoding import LexiconLMDecoder, LMSettings, arpa_unigrams
from tests.fixtures.arpa import write_bigram_arpa

TOKENS = VOCABULARY  # ASR's: blank `<s>` first
BLANK = TOKENS[BOS]


def emissions_for(text: str, confusions: dict[int, tuple[str, float]] | None = None) -> torch.Tensor:
    """(1, T, V) logits: each character (| between words) over two frames with a blank between, so greedy decoding
    spells `text`; `confusions[i] = (char, margin)` makes character i lose to `char` by `margin` nats."""
    confusions = confusions or {}
    symbols = list(text.replace(" ", "|"))
    frames = []
    for i, symbol in enumerate(symbols):
        row = torch.full((len(TOKENS),), -8.0)
        row[TOKENS.index(symbol)] = 0.0
        if i in confusions:
            wrong, margin = confusions[i]
            row[TOKENS.index(wrong)] = margin
        frames += [row, row.clone()]
        blank = torch.full((len(TOKENS),), -8.0)
        blank[BOS] = 0.0
        frames.append(blank)
    return torch.stack(frames).unsqueeze(0)


def test_lexicon_and_lm_fix_a_misspelling(tmp_path: Path) -> None:
    lm = write_bigram_arpa(tmp_path / "lm.arpa", ["HELLO WORLD", "HELLO THERE", "WORLD PEACE"])
    logits = emissions_for("HELLO WORLD", confusions={4: ("P", 1.0)})  # greedy reads HELLP
    lengths = torch.tensor([logits.shape[1]])
    tokens = greedy_decode(logits, lengths, removed=FAIRSEQ_DICTIONARY.removed_in_decoding)[0]
    greedy = "".join(TOKENS[t] for t in tokens).replace("|", " ")
    assert greedy == "HELLP WORLD"
    decoder = LexiconLMDecoder(LMSettings(lm), TOKENS, blank=BLANK, silence="|")
    assert decoder.decode(logits, lengths) == ["HELLO WORLD"]


def test_unigrams_exclude_sentence_markers(tmp_path: Path) -> None:
    lm = write_bigram_arpa(tmp_path / "lm.arpa", ["A B", "B C"])
    assert sorted(arpa_unigrams(lm)) == ["A", "B", "C"]


def test_binary_lm_needs_a_lexicon_and_missing_files_are_one_line_errors(tmp_path: Path) -> None:
    binary = tmp_path / "lm.bin"
    binary.write_bytes(b"mmap lm http://kheafield.com/code format version 5\x00" + bytes(64))
    with pytest.raises(BenchError, match="binary LM: give its word lexicon"):
        LexiconLMDecoder(LMSettings(binary), TOKENS, blank=BLANK, silence="|")
    with pytest.raises(BenchError, match="no such file"):
        LexiconLMDecoder(LMSettings(tmp_path / "absent.arpa"), TOKENS, blank=BLANK, silence="|")
