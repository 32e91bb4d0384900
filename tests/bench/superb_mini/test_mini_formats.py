"""Each dataset of the tiny corpus parses the way its official reader/recipe parses it."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import soundfile as sf
from mini_helpers import (
    KS_CLASSES,
    SNIPS_SPEAKERS,
    ks_which_set,
    quesst_english,
    read_fsc,
    read_iemocap,
    read_kaldi_dir,
    read_librispeech,
    read_quesst_groundtruth,
    read_snips,
    read_speech_commands,
    read_voxceleb_iden,
    read_voxceleb_trials,
    tiny_corpus,
)


@pytest.fixture(scope="module")
def root() -> Path:
    return tiny_corpus()


def assert_pcm16_mono(path: Path, rate: int, fmt: str = "WAV") -> sf._SoundFileInfo:
    info = sf.info(str(path))
    assert (info.samplerate, info.channels, info.subtype, info.format) == (rate, 1, "PCM_16", fmt), (path, info)
    return info


def test_top_level_folders(root: Path) -> None:
    expected = {
        "LibriSpeech",
        "speech_commands_v0.01",
        "speech_commands_test_set_v0.01",
        "quesst14Database",
        "VoxCeleb1",
        "LibriMix",
        "IEMOCAP_full_release",
        "fluent_speech_commands_dataset",
        "SNIPS",
        "fleurs",
    }
    assert expected <= {p.name for p in root.iterdir() if p.is_dir()}
    assert (root / "MANIFEST.json").is_file()
    assert not (root / ".superb_mini_state").exists()


def test_librispeech(root: Path) -> None:
    data = read_librispeech(root)
    speakers = {split: {r["speaker"] for r in rows} for split, rows in data.items()}
    assert all(rows for rows in data.values())
    assert not speakers["train-clean-100"] & speakers["dev-clean"]
    assert not speakers["train-clean-100"] & speakers["test-clean"]
    assert not speakers["dev-clean"] & speakers["test-clean"]
    train_text = {r["text"] for r in data["train-clean-100"]}
    assert not train_text & {r["text"] for r in data["test-clean"] + data["dev-clean"]}
    for rows in data.values():
        for r in rows[:3]:
            assert_pcm16_mono(r["path"], 16000, "FLAC")
    # Every audio file has a transcript line and vice versa.
    flacs = sorted((root / "LibriSpeech").rglob("*.flac"))
    assert len(flacs) == sum(len(rows) for rows in data.values())
    lines = (root / "LibriSpeech" / "SPEAKERS.TXT").read_text().splitlines()
    table = [line.split("|") for line in lines if not line.startswith(";")]
    assert {int(t[0]) for t in table} == {int(s) for v in speakers.values() for s in v}
    assert {t[1].strip() for t in table} <= {"M", "F"}


def test_speech_commands(root: Path) -> None:
    base = root / "speech_commands_v0.01"
    data = read_speech_commands(root)
    name = re.compile(r"^[0-9a-f]{8}_nohash_\d+\.wav$")
    for split in ("train", "dev", "discarded", "test"):
        assert data[split], split
        for _, path in data[split]:
            assert name.match(path.name), path
    assert {label for label, _ in data["train"]} == set(KS_CLASSES) - {"_silence_"}
    assert {label for label, _ in data["dev"]} == set(KS_CLASSES) - {"_silence_"}
    assert Counter(label for label, _ in data["test"]).keys() == set(KS_CLASSES)
    # The list files agree with the hash rule s3prl applies instead of reading them.
    for list_name, part in (("validation_list.txt", "dev"), ("testing_list.txt", "discarded")):
        listed = set((base / list_name).read_text().split())
        assert listed == {f"{p.parent.name}/{p.name}" for _, p in data[part]}
        assert all(ks_which_set(entry.split("/")[1]) == part for entry in listed)
    # Speakers never straddle partitions.
    partition_of = {}
    for part in ("train", "dev", "discarded"):
        for _, path in data[part]:
            assert partition_of.setdefault(path.name.split("_")[0], part) == part
    for _, path in data["train"][:20] + data["test"][:20]:
        info = assert_pcm16_mono(path, 16000)
        assert info.frames <= 16000
    for _, path in data["test"]:
        assert sf.info(str(path)).frames == 16000
    noise = sorted((base / "_background_noise_").glob("*.wav"))
    assert len(noise) >= 3
    assert all(sf.info(str(p)).duration >= 3.0 for p in noise)


def test_quesst14(root: Path) -> None:
    base = root / "quesst14Database"
    docs = sorted((base / "Audio").glob("*.wav"))
    assert docs and all(re.fullmatch(r"quesst14_\d{5}\.wav", p.name) for p in docs)
    for qset, digits in (("dev", 4), ("eval", 4)):
        queries = sorted((base / f"{qset}_queries").glob("*.wav"))
        assert queries and all(re.fullmatch(rf"quesst14_{qset}_\d{{{digits}}}\.wav", p.name) for p in queries)
    for path in docs[:5]:
        assert_pcm16_mono(path, 8000)
    # Language keys list every file exactly once; the English filter keeps a strict subset.
    for lst, folder in (
        ("language_key_utterances.lst", "Audio"),
        ("language_key_dev.lst", "dev_queries"),
        ("language_key_eval.lst", "eval_queries"),
    ):
        rows = [line.split() for line in (base / "scoring" / lst).read_text().splitlines()]
        assert all(len(r) == 2 and r[0].startswith(f"quesst14Database/{folder}/") for r in rows)
        assert sorted(r[0].split("/")[-1] for r in rows) == sorted(p.name for p in (base / folder).glob("*.wav"))
        english = quesst_english(root, lst)
        assert 0 < len(english) < len(rows)
        assert all(p.is_file() for p in english)
    doc_durations = {p.stem: sf.info(str(p)).duration for p in docs}
    english_docs = {p.stem for p in quesst_english(root, "language_key_utterances.lst")}
    for qset in ("dev", "eval"):
        gt = read_quesst_groundtruth(root, qset)
        assert set(gt["ecf"]) == set(doc_durations)
        assert all(abs(gt["ecf"][d] - doc_durations[d]) < 2e-3 for d in doc_durations)
        assert abs(gt["ecf_total"] - sum(doc_durations.values())) < 0.05
        queries = [p.stem for p in sorted((base / f"{qset}_queries").glob("*.wav"))]
        assert sorted(gt["terms"]) == queries
        english_queries = {p.stem for p in quesst_english(root, f"language_key_{qset}.lst")}
        for term in english_queries:
            hits = gt["hits"].get(term, [])
            hit_docs = {doc for doc, _, _ in hits}
            assert hits, f"{term} occurs in no document"
            assert hit_docs <= english_docs and len(hit_docs) < len(english_docs)
            for doc, start, dur in hits:
                assert 0 <= start and dur > 0.1 and start + dur <= doc_durations[doc] + 1e-3


def test_voxceleb1(root: Path) -> None:
    base = root / "VoxCeleb1"
    pattern = re.compile(r"^(dev|test)/wav/id\d{5}/[A-Za-z0-9_-]{11}/\d{5}\.wav$")
    wavs = sorted(p.relative_to(base).as_posix() for p in base.rglob("*.wav"))
    assert wavs and all(pattern.match(w) for w in wavs)
    iden = read_voxceleb_iden(root)
    assert sorted(p.relative_to(base).as_posix() for _, p, _ in iden) == wavs
    parts_of = defaultdict(set)
    for part, _, spk in iden:
        parts_of[spk].add(part)
    assert all(parts == {1, 2, 3} for parts in parts_of.values())
    n_speakers = len(parts_of)
    assert all(0 <= int(spk[2:]) - 10001 < n_speakers for spk in parts_of)  # s3prl's label formula
    dev_speakers = {p.name for p in (base / "dev" / "wav").iterdir()}
    test_speakers = {p.name for p in (base / "test" / "wav").iterdir()}
    assert dev_speakers and test_speakers and not dev_speakers & test_speakers
    trials = read_voxceleb_trials(root)
    labels = Counter(label for label, _, _ in trials)
    assert labels[1] == labels[0] > 0
    for label, a, b in trials:
        assert a.is_file() and b.is_file() and a != b
        assert a.parts[-3] in test_speakers and b.parts[-3] in test_speakers
        assert (a.parts[-3] == b.parts[-3]) == (label == 1)
    durations = [sf.info(str(base / w)).duration for w in wavs]
    assert sum(d > 2.0 for d in durations) / len(durations) > 0.9  # ASV drops utterances <= 2 s
    assert_pcm16_mono(base / wavs[0], 16000)


def test_librimix(root: Path) -> None:
    libri = read_librispeech(root)
    libri_speakers = {split: {r["speaker"] for r in rows} for split, rows in libri.items()}
    for split, libri_split in (("train", "train-clean-100"), ("dev", "dev-clean"), ("test", "test-clean")):
        data = read_kaldi_dir(root, split)
        assert data["wavs"] and set(data["wavs"]) == set(data["reco2dur"]) == set(data["segments"])
        overlap_seen = silence_seen = False
        for rec, path in data["wavs"].items():
            assert re.fullmatch(r"\d+-\d+-\d{4}_\d+-\d+-\d{4}", rec), rec
            info = assert_pcm16_mono(path, 16000)
            assert abs(info.frames / 16000 - data["reco2dur"][rec]) < 1e-6
            segs = data["segments"][rec]
            speakers = {data["utt2spk"][s["utt"]] for s in segs}
            assert len(speakers) == 2 and speakers <= libri_speakers[libri_split]
            assert all(0 <= s["st"] < s["et"] <= data["reco2dur"][rec] for s in segs)
            assert all(s["utt"].startswith(rec + "_") for s in segs)
            by_spk = defaultdict(list)
            for s in segs:
                by_spk[data["utt2spk"][s["utt"]]].append((s["st"], s["et"]))
            a, b = by_spk.values()
            overlap_seen |= any(min(e1, e2) > max(s1, s2) for s1, e1 in a for s2, e2 in b)
            covered = sum(e - s for s, e in a + b)
            silence_seen |= covered < data["reco2dur"][rec]
        assert overlap_seen and silence_seen
        assert set(data["spk2utt"]) == set(data["utt2spk"].values())
        assert len(data["rttm"]) == sum(len(v) for v in data["segments"].values())
        for fields in data["rttm"]:
            assert len(fields) == 9 and fields[0] == "SPEAKER" and fields[2] == "1" and fields[7] in data["spk2utt"]


def test_iemocap(root: Path) -> None:
    base = root / "IEMOCAP_full_release"
    assert sorted(p.name for p in base.iterdir()) == [f"Session{k}" for k in range(1, 6)]
    meta = read_iemocap(root)
    by_session = defaultdict(Counter)
    for m in meta:
        by_session[m["session"]][m["label"]] += 1
        assert re.fullmatch(r"\[\d+\.\d{4} - \d+\.\d{4}\]", m["times"])
        start, end = map(float, m["times"][1:-1].split(" - "))
        assert abs((end - start) - sf.info(str(m["path"])).duration) < 2e-3
        assert re.fullmatch(r"Ses0\d[FM]_(impro\d\d|script\d\d_\d)_[FM]\d{3}", m["utt"])
    assert all(set(c) == {"neu", "hap", "ang", "sad"} for c in by_session.values()) and len(by_session) == 5
    raw = Counter()
    for label_file in base.glob("Session*/dialog/EmoEvaluation/*.txt"):
        text = label_file.read_text()
        assert text.startswith("% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n")
        raw.update(line.split("\t")[2] for line in text.splitlines() if line.startswith("["))
    assert raw["exc"] > 0 and raw["fru"] + raw["xxx"] + raw["sur"] > 0
    wavs = list(base.glob("Session*/sentences/wav/*/*.wav"))
    assert len(wavs) == sum(raw.values())
    assert_pcm16_mono(wavs[0], 16000)


def test_fluent_speech_commands(root: Path) -> None:
    splits = {s: read_fsc(root, s) for s in ("train", "valid", "test")}
    speakers = {s: {r["speaker"] for r in rows} for s, rows in splits.items()}
    assert all(splits.values())
    assert not (
        speakers["train"] & speakers["valid"]
        or speakers["train"] & speakers["test"]
        or speakers["valid"] & speakers["test"]
    )
    train_intents = {r["intent"] for r in splits["train"]}
    assert {r["intent"] for r in splits["test"]} <= train_intents
    for rows in splits.values():
        for r in rows:
            assert r["path"].is_file()
            assert r["path"].parent.name == r["speaker"] and re.fullmatch(r"[A-Za-z0-9]{16}", r["speaker"])
    assert_pcm16_mono(splits["test"][0]["path"], 16000)


def test_snips(root: Path) -> None:
    base = root / "SNIPS"
    slots = (base / "slots.txt").read_text().split("\n")[1:]  # the readers skip the first line
    assert slots and "" not in slots
    trans = dict(line.split(" ", 1) for line in (base / "all-trans.txt").read_text().splitlines())
    for split in ("train", "valid", "test"):
        rows = read_snips(root, split)
        assert rows and {r["speaker"] for r in rows} <= set(SNIPS_SPEAKERS[split])
        all_wavs = list((base / split).glob("*.wav"))
        assert len(all_wavs) > len(rows), "each split folder should hold some other-split voices"
        for r in rows:
            words, tags = r["transcription"].split(" "), r["iob"].split(" ")
            assert len(words) == len(tags)
            assert set(tags) <= set(slots) | {"O"}
            assert re.fullmatch(r"[A-Z' ]+", r["transcription"])
            assert trans[r["uid"]] == r["transcription"]
            assert re.fullmatch(rf"[A-Za-z]+-snips-{split}-\d+", r["uid"])
        assert len({r["intent"] for r in rows}) >= 3
    assert_pcm16_mono(next((base / "test").glob("*.wav")), 16000)
