"""PR, ASR and SF vocabularies and targets as s3prl 0.4.18 builds them: ASR's fairseq dictionary and targets against
s3prl's own `SequenceDataset`, SF's vocabulary against its `CharacterTextSlotEncoder.load_from_file`, and PR's two G2P
lexicons read as `ctc/corpus/libriphone.py` reads them (that module is not in the installed package: worked
examples)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import torch

from bench.config import load_task_config
from benchcore.errors import BenchError
from downstream_tasks import get_task
from downstream_tasks import pr as pr_module
from downstream_tasks.asr import VOCABULARY, spelled_units
from downstream_tasks.bucketing import num_samples
from downstream_tasks.pr import PHONES, RECIPE_LEXICONS
from upstream.s3prl_compat import import_s3prl_nn


def test_asr_targets_and_vocabulary_equal_s3prl_sequence_dataset(mini_tiny, tmp_path):
    """Every target is `asr/dataset.py`'s `self.Y`: characters, `|` between words and at the end, then `</s>`, over a
    32-symbol fairseq dictionary whose blank is `<s>`; the head has 32 outputs."""
    import_s3prl_nn()
    from s3prl.downstream.asr.dataset import SequenceDataset
    from s3prl.downstream.asr.dictionary import Dictionary

    task, config = get_task("asr"), load_task_config("asr", "mini")
    data = task.load(mini_tiny, None, config)
    dictionary = Dictionary()
    for symbol in VOCABULARY[4:]:  # s3prl asr/char.dict's symbols in file order, as Dictionary.load adds them
        dictionary.add_symbol(symbol)
    assert data.label_names[0] == dictionary.symbols and len(dictionary) == 32
    libri = mini_tiny / "LibriSpeech"
    (tmp_path / "len_for_bucket").mkdir()
    for split, folder in (("train", "train-clean-100"), ("dev", "dev-clean")):
        utterances = data.splits[split]
        pd.DataFrame(
            {
                "file_path": [str(u.path.relative_to(libri)) for u in utterances],
                "length": [num_samples(u) for u in utterances],
            }
        ).to_csv(tmp_path / "len_for_bucket" / f"{folder}.csv")
        theirs = SequenceDataset(
            split, 2, dictionary, str(libri), str(tmp_path / "len_for_bucket"), **{split: [folder]}
        ).Y
        assert {u.path.stem: list(u.label) for u in utterances} == {uid: ids.tolist() for uid, ids in theirs.items()}
        # the LM's words spelled as units (`cer_lm`) are the target tokens s3prl's `forward` scores `uer` against
        for utterance in utterances:
            label = theirs[utterance.path.stem]
            target_tokens = dictionary.string(label[(label != dictionary.pad()) & (label != dictionary.eos())])
            assert spelled_units(task.reference(utterance, data)) == target_tokens
    first = data.splits["train"][0]
    assert [VOCABULARY[t] for t in first.label[-2:]] == ["|", "</s>"]
    assert task.reference(first, data) == " ".join(first.text.split())
    model = task.build_model(3, 8, data, config)
    logits, _ = model(([torch.randn(2, 5, 8) for _ in range(3)], torch.tensor([5, 3])))
    assert logits.shape == (2, 5, 32)


def test_sf_vocabulary_is_s3prl_character_slot_encoder_even_with_a_final_newline(mini_tiny, tmp_path):
    """`text.py` `CharacterTextSlotEncoder.load_from_file` splits slots.txt on newlines and skips the first line, so a
    final newline adds an empty slot name: two more outputs, as the recipe's head has."""
    import_s3prl_nn()
    from s3prl.downstream.ctc.text import CharacterTextSlotEncoder

    vocab_file = tmp_path / "character.txt"  # s3prl downstream/ctc/vocab/character.txt
    vocab_file.write_text("\n".join([" ", *"ABCDEFGHIJKLMNOPQRSTUVWXYZ", "'"]) + "\n")
    root = tmp_path / "root"
    shutil.copytree(mini_tiny / "SNIPS", root / "SNIPS")
    task, config = get_task("sf"), load_task_config("sf", "mini")
    for ending in ("", "\n"):
        slots_file = root / "SNIPS" / "slots.txt"
        slots_file.write_text((mini_tiny / "SNIPS" / "slots.txt").read_text().rstrip("\n") + ending)
        encoder = CharacterTextSlotEncoder.load_from_file(str(vocab_file), str(slots_file))
        data = task.load(root, None, config)
        vocabulary = data.label_names[0]
        assert len(vocabulary) == encoder.vocab_size
        assert vocabulary == encoder._vocab_list + encoder.slots
    assert vocabulary[-2:] == ["B-", "E-"]
    # the rendering of every symbol, as `idx_to_vocab` writes it (`<unk>` as written, markers with their space)
    symbols = range(2, len(vocabulary))
    assert task.render(list(symbols), data) == "".join(encoder.idx_to_vocab(i) for i in symbols)


def _words(root: Path) -> list[str]:
    words = set()
    for transcript in (root / "LibriSpeech").rglob("*.trans.txt"):
        for line in transcript.read_text().splitlines():
            words.update(line.split()[1:])
    return sorted(words)


def _cmu(word: str) -> list[str]:
    return pr_module._cmudict()[word.lower()][0]


def _write_recipe_lexicons(folder: Path, words: list[str]) -> list[Path]:
    """A lexicon pair in the real files' format (`WORD<TAB>PH1 PH2 ...`) for the corpus' words: the first file knows the
    first half, each word twice (`SIL` + its CMU phones, then `SPN`); the second knows all of them (CMU phones)."""
    folder.mkdir(parents=True, exist_ok=True)
    half = words[: len(words) // 2]
    first = [f"{word}\tSIL {' '.join(_cmu(word))}\n{word}\tSPN" for word in half]
    second = [f"{word}\t{' '.join(_cmu(word))}" for word in words]
    paths = [folder / name for name in RECIPE_LEXICONS]
    paths[0].write_text("\n".join(first) + "\n")
    paths[1].write_text("\n".join(second) + "\n")
    return paths


def test_pr_reads_both_lexicons_in_order_first_pronunciation_wins(mini_tiny, tmp_path):
    """`ctc/corpus/libriphone.py:41-57`: every line of every file in order is kept per word, then `phonemes_all[0]`; so
    a word of the first file takes its first line there (`SIL` + CMU phones here), the others come from the second
    file."""
    words = _words(mini_tiny)
    paths = _write_recipe_lexicons(tmp_path / "lexicon", words)
    task = get_task("pr")
    config = load_task_config("pr", "superb", [f"data.lexicon=[{paths[0]},{paths[1]}]"])
    data = task.load(mini_tiny, None, config)
    vocabulary = data.label_names[0]
    assert vocabulary[3:] == PHONES
    in_first = set(words[: len(words) // 2])
    for utterance in data.splits["train"] + data.splits["test"]:
        expected = [
            phone for word in utterance.text.split() for phone in (["SIL"] if word in in_first else []) + _cmu(word)
        ]
        assert [vocabulary[t] for t in utterance.label] == expected + ["<eos>"]
    assert set(paths) <= set(data.metadata_files)  # the record's fingerprint hashes the lexicons
    # the other order gives other targets: the order is honoured
    swapped = task.load(mini_tiny, None, load_task_config("pr", "superb", [f"data.lexicon=[{paths[1]},{paths[0]}]"]))
    assert swapped.splits["train"][0].label != data.splits["train"][0].label


def test_pr_without_the_recipe_lexicons_stops_in_one_line_naming_both(mini_tiny, monkeypatch, tmp_path):
    monkeypatch.setattr(pr_module, "installed_recipe_lexicons", lambda: None)
    with pytest.raises(BenchError) as error:
        get_task("pr").load(mini_tiny, None, load_task_config("pr", "superb"))
    message = str(error.value)
    assert "\n" not in message and all(name in message for name in RECIPE_LEXICONS)
    assert "s3prl/downstream/ctc/lexicon/" in message and "data.lexicon=[" in message
    # the mini profile falls back on CMUdict, which covers superb-mini's words
    data = get_task("pr").load(mini_tiny, None, load_task_config("pr", "mini"))
    assert data.splits["train"][0].label[-1] == 1


def test_pr_uses_the_installed_packages_lexicons_when_it_ships_them(mini_tiny, monkeypatch, tmp_path):
    package = tmp_path / "site" / "s3prl"
    paths = _write_recipe_lexicons(package / "downstream" / "ctc" / "lexicon", _words(mini_tiny))
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name: SimpleNamespace(submodule_search_locations=[str(package)]) if name == "s3prl" else None,
    )
    assert pr_module.installed_recipe_lexicons() == paths
    data = get_task("pr").load(mini_tiny, None, load_task_config("pr", "superb"))
    assert set(paths) <= set(data.metadata_files)


def test_pr_unknown_words_and_phones_are_one_line_errors(mini_tiny, tmp_path):
    lexicon = tmp_path / "lexicon.txt"
    lexicon.write_text("ZZYZX Z IH1 Z IH0 K S\n")
    transcript = next((mini_tiny / "LibriSpeech" / "train-clean-100").glob("*/*/*.trans.txt"))
    copy = tmp_path / "root"
    shutil.copytree(mini_tiny / "LibriSpeech", copy / "LibriSpeech")
    edited = copy / transcript.relative_to(mini_tiny)
    lines = edited.read_text().splitlines()
    lines[0] = lines[0] + " ZZYZX QWXRTY"
    edited.write_text("\n".join(lines) + "\n")
    task = get_task("pr")
    # mini: the lexicon first, CMUdict for the rest; only QWXRTY is nowhere
    with pytest.raises(BenchError, match=r"1 words are in none of the lexicons .*: QWXRTY;"):
        task.load(copy, None, load_task_config("pr", "mini", [f"data.lexicon={lexicon}"]))
    # superb: no CMUdict, so every other word is missing too
    with pytest.raises(BenchError, match=r"words are in none of the lexicons") as error:
        task.load(copy, None, load_task_config("pr", "superb", [f"data.lexicon={lexicon}"]))
    assert "cmudict" not in str(error.value)
    lexicon.write_text("ZZYZX Z IH Z\n")  # unstressed vowel: not in the recipe's phone set
    with pytest.raises(BenchError, match=r"lexicon.txt:1: phones \['IH'\] are not in the recipe's phone set"):
        task.load(copy, None, load_task_config("pr", "mini", [f"data.lexicon={lexicon}"]))
