"""Test-side readers of the official dataset layouts, mirroring what the SUPERB recipes read.

They live in the tests on purpose: the generator must not be checked by its own code. Each reader
follows the corresponding s3prl/torchaudio loader (file names, split rules, label parsing), so a
corpus that satisfies them satisfies the real loaders.
"""

from __future__ import annotations

import csv
import hashlib
import re
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import numpy as np
from fixtures.corpora import small_corpus, tiny_corpus  # noqa: F401  (re-exported for the test modules)

KS_CLASSES = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "_unknown_", "_silence_"]


# --- LibriSpeech -------------------------------------------------------------------------------
def read_librispeech(root: Path) -> dict[str, list[dict]]:
    """Like torchaudio's LIBRISPEECH / s3prl's libriphone: walk <spk>/<chapter>/, read trans.txt."""
    out: dict[str, list[dict]] = {}
    for split in ("train-clean-100", "dev-clean", "test-clean"):
        rows = []
        for trans in sorted((root / "LibriSpeech" / split).glob("*/*/*.trans.txt")):
            spk, chapter = trans.parent.parent.name, trans.parent.name
            assert trans.name == f"{spk}-{chapter}.trans.txt"
            for line in trans.read_text().splitlines():
                utt, text = line.split(" ", 1)
                assert re.fullmatch(rf"{spk}-{chapter}-\d{{4}}", utt), utt
                assert text == text.upper() and re.fullmatch(r"[A-Z' ]+", text), text
                flac = trans.parent / f"{utt}.flac"
                assert flac.is_file(), flac
                rows.append({"utt": utt, "path": flac, "text": text, "speaker": spk})
        out[split] = rows
    return out


# --- Speech Commands ---------------------------------------------------------------------------
def ks_which_set(file_name: str) -> str:
    """s3prl ``split_dataset``: sha1 of the name before ``_nohash_``, 10% dev, 10% discarded."""
    max_per_class = 2**27 - 1
    speaker_hash = re.sub(r"_nohash_.*$", "", file_name)
    hashed = hashlib.sha1(speaker_hash.encode("utf-8")).hexdigest()
    pct = (int(hashed, 16) % (max_per_class + 1)) * (100.0 / max_per_class)
    return "dev" if pct < 10 else ("discarded" if pct < 20 else "train")


def read_speech_commands(root: Path) -> dict[str, list[tuple[str, Path]]]:
    """Train/dev exactly as s3prl splits v0.01; test from the separate test-set folder."""
    base = root / "speech_commands_v0.01"
    out: dict[str, list[tuple[str, Path]]] = {"train": [], "dev": [], "discarded": [], "test": []}
    for entry in sorted(base.iterdir()):
        if not entry.is_dir() or entry.name == "_background_noise_":
            continue
        for wav in sorted(entry.glob("*.wav")):
            label = entry.name if entry.name in KS_CLASSES else "_unknown_"
            out[ks_which_set(wav.name)].append((label, wav))
    for entry in sorted((root / "speech_commands_test_set_v0.01").iterdir()):
        for wav in sorted(entry.glob("*.wav")):
            out["test"].append((entry.name, wav))
    return out


# --- QUESST 2014 ---------------------------------------------------------------------------------
def quesst_english(root: Path, lst_name: str) -> list[Path]:
    """s3prl ``english_audio_paths``: keep ``nnenglish`` rows, drop the first path component."""
    base = root / "quesst14Database"
    paths = []
    for line in (base / "scoring" / lst_name).read_text().splitlines():
        audio_path, lang = line.strip().split()
        if lang == "nnenglish":
            paths.append(base / re.sub(r"^.*?/", "", audio_path))
    return paths


def read_quesst_groundtruth(root: Path, qset: str) -> dict:
    gt = root / "quesst14Database" / "scoring" / f"groundtruth_quesst14_{qset}"
    ecf = ET.parse(gt / "quesst14.ecf.xml").getroot()
    tlist = ET.parse(gt / f"quesst14_{qset}.tlist.xml").getroot()
    hits: dict[str, list[tuple[str, float, float]]] = defaultdict(list)
    for line in (gt / f"quesst14_{qset}.rttm").read_text().splitlines():
        fields = line.split()
        assert len(fields) == 9, line
        if fields[0] == "LEXEME":
            hits[fields[5]].append((fields[1], float(fields[3]), float(fields[4])))
    return {
        "ecf": {e.get("audio_filename"): float(e.get("dur")) for e in ecf.iter("excerpt")},
        "ecf_total": float(ecf.get("source_signal_duration")),
        "terms": [t.get("termid") for t in tlist.iter("term")],
        "hits": dict(hits),
    }


# --- VoxCeleb1 -----------------------------------------------------------------------------------
def read_voxceleb_iden(root: Path) -> list[tuple[int, Path, str]]:
    """(split 1/2/3, file, speaker) with s3prl's lookup ``<root>/*/wav/<relative path>``."""
    base = root / "VoxCeleb1"
    rows = []
    for line in (base / "iden_split.txt").read_text().splitlines():
        part, rel = line.split()
        found = list(base.glob("*/wav/" + rel))
        assert len(found) == 1, rel
        rows.append((int(part), found[0], rel.split("/")[0]))
    return rows


def read_voxceleb_trials(root: Path) -> list[tuple[int, Path, Path]]:
    base = root / "VoxCeleb1" / "test" / "wav"
    trials = []
    for line in (root / "VoxCeleb1" / "voxceleb1_test_v2.txt").read_text().splitlines():
        label, a, b = line.split()
        trials.append((int(label), base / a, base / b))
    return trials


# --- Libri2Mix (Kaldi folders) -----------------------------------------------------------------------
def read_kaldi_dir(root: Path, split: str) -> dict:
    """What s3prl's diarization ``KaldiData`` loads, with wav.scp paths relative to LibriMix/."""
    d = root / "LibriMix" / split
    wavs = dict(line.split(None, 1) for line in (d / "wav.scp").read_text().splitlines())
    segments = defaultdict(list)
    for line in (d / "segments").read_text().splitlines():
        utt, rec, st, et = line.split()
        segments[rec].append({"utt": utt, "st": float(st), "et": float(et)})
    utt2spk = dict(line.split(None, 1) for line in (d / "utt2spk").read_text().splitlines())
    spk2utt = {line.split()[0]: line.split()[1:] for line in (d / "spk2utt").read_text().splitlines()}
    reco2dur = {k: float(v) for k, v in (line.split() for line in (d / "reco2dur").read_text().splitlines())}
    rttm = [line.split("\t") for line in (d / "rttm").read_text().splitlines()]
    return {
        "wavs": {k: root / "LibriMix" / v for k, v in wavs.items()},
        "segments": dict(segments),
        "utt2spk": utt2spk,
        "spk2utt": spk2utt,
        "reco2dur": reco2dur,
        "rttm": rttm,
    }


# --- IEMOCAP -------------------------------------------------------------------------------------------
def read_iemocap(root: Path) -> list[dict]:
    """s3prl ``IEMOCAP_preprocess``: lines starting with ``[``, 4 classes, exc merged into hap."""
    base = root / "IEMOCAP_full_release"
    meta = []
    for session in sorted(p for p in base.iterdir() if p.name.startswith("Session")):
        wav_paths = {p.stem: p for p in (session / "sentences" / "wav").rglob("*.wav")}
        for label_path in sorted((session / "dialog" / "EmoEvaluation").glob("*.txt")):
            for line in label_path.read_text().splitlines(keepends=True):
                if line[0] != "[":
                    continue
                fields = list(filter(None, re.split("[\t\n]", line)))
                if fields[2] not in ["neu", "hap", "ang", "sad", "exc"] or fields[1] not in wav_paths:
                    continue
                path = wav_paths[fields[1]]
                meta.append(
                    {
                        "path": path,
                        "label": fields[2].replace("exc", "hap"),
                        "session": session.name,
                        "speaker": re.split("_", path.name)[0],
                        "utt": fields[1],
                        "times": fields[0],
                    }
                )
    return meta


# --- Fluent Speech Commands ----------------------------------------------------------------------------
def read_fsc(root: Path, split: str) -> list[dict]:
    base = root / "fluent_speech_commands_dataset"
    with open(base / "data" / f"{split}_data.csv", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        assert header == ["", "path", "speakerId", "transcription", "action", "object", "location"], header
        rows = []
        for row in reader:
            _, path, spk, text, action, obj, location = row
            rows.append({"path": base / path, "speaker": spk, "text": text, "intent": (action, obj, location)})
    return rows


# --- Audio SNIPS ---------------------------------------------------------------------------------------
SNIPS_SPEAKERS = {
    "train": ["Ivy", "Joanna", "Joey", "Justin", "Kendra", "Kimberly", "Matthew", "Salli"],
    "valid": ["Aditi", "Amy", "Geraint", "Nicole"],
    "test": ["Brian", "Emma", "Raveena", "Russell"],
}


def read_snips(root: Path, split: str) -> list[dict]:
    """s3prl ``dataio/corpus/snips.py``: uid -> line of all.iob.snips.txt; filter by speaker list."""
    base = root / "SNIPS"
    transcripts = {}
    for line in (base / "all.iob.snips.txt").read_text().splitlines():
        parts = line.strip().split(" ")
        transcripts[parts[0]] = " ".join(parts[1:])
    rows = []
    for wav in sorted((base / split).rglob("*.wav")):
        uid = wav.stem
        assert uid in transcripts, uid
        speaker = uid.split("-")[0]
        if speaker not in SNIPS_SPEAKERS[split]:
            continue
        text, iob = transcripts[uid].split("\t")
        rows.append(
            {
                "path": wav,
                "uid": uid,
                "speaker": speaker,
                "transcription": " ".join(text.strip().split(" ")[1:-1]),
                "iob": " ".join(iob.strip().split(" ")[1:-1]),
                "intent": iob.strip().split(" ")[-1],
            }
        )
    return rows


# --- Features for the learnability checks ---------------------------------------------------------------
def fbank_stats(path: Path) -> np.ndarray:
    """Mean and std over frames of 80 log-mel + deltas + delta-deltas, no CMVN (s3prl ``fbank_no_cmvn``-like)."""
    import soundfile as sf
    import torch
    import torchaudio

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # ten times faster than the default on small inputs with 2 cores
    try:
        x, sr = sf.read(str(path), dtype="float32")
        wav = torch.from_numpy(x).unsqueeze(0) * 32768.0
        feats = torchaudio.compliance.kaldi.fbank(wav, num_mel_bins=80, sample_frequency=sr, dither=0.0)
        d1 = torchaudio.functional.compute_deltas(feats.T).T
        d2 = torchaudio.functional.compute_deltas(d1.T).T
        full = torch.cat([feats, d1, d2], dim=1)
        return torch.cat([full.mean(0), full.std(0)]).numpy()
    finally:
        torch.set_num_threads(threads)  # other tests run with the session's thread count


def trivial_cues(path: Path) -> dict[str, np.ndarray]:
    """Duration alone (seconds) and loudness alone (RMS in dB)."""
    import soundfile as sf

    x, sr = sf.read(str(path), dtype="float32")
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-9)
    return {"duration": np.array([len(x) / sr]), "loudness": np.array([20 * np.log10(rms)])}


def accuracy(train_x, train_y, test_x, test_y) -> float:
    """Logistic regression on standardised features; accuracy on the test part."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000, C=0.5))
    model.fit(np.asarray(train_x), np.asarray(train_y))
    return float(np.mean(model.predict(np.asarray(test_x)) == np.asarray(test_y)))


def chance(train_y, test_y) -> float:
    """Majority-class baseline: the best accuracy without looking at the audio."""
    values, counts = np.unique(np.asarray(train_y), return_counts=True)
    majority = values[np.argmax(counts)]
    return float(np.mean(np.asarray(test_y) == majority))


def learnability(task: str, root: Path) -> dict[str, float]:
    """Accuracies of spectral, duration-only and loudness-only features for KS, SID, ER or IC.

    Each is pooled over the task's folds (ER: the five leave-one-session-out folds; the others: one
    train/test split), i.e. the fraction of all test examples classified correctly.
    """
    cache: dict[Path, dict[str, np.ndarray]] = {}

    def feats(path: Path) -> dict[str, np.ndarray]:
        if path not in cache:
            cache[path] = {"spectral": fbank_stats(path), **trivial_cues(path)}
        return cache[path]

    correct = {"chance": 0.0, "spectral": 0.0, "duration": 0.0, "loudness": 0.0}
    n_train = n_test = 0
    for train, test in task_folds(task, root):
        ytr = [label for label, _ in train]
        yte = [label for label, _ in test]
        n_train += len(train)
        n_test += len(test)
        correct["chance"] += chance(ytr, yte) * len(test)
        for kind in ("spectral", "duration", "loudness"):
            xtr = [feats(p)[kind] for _, p in train]
            xte = [feats(p)[kind] for _, p in test]
            correct[kind] += accuracy(xtr, ytr, xte, yte) * len(test)
    return {"n_train": float(n_train), "n_test": float(n_test), **{k: v / n_test for k, v in correct.items()}}


def task_folds(task: str, root: Path) -> list[tuple[list[tuple[str, Path]], list[tuple[str, Path]]]]:
    """(train, test) pairs of (label, path) lists, split the way the recipe splits them."""
    if task == "ER":  # five folds: Session k is the test set, the other four sessions train
        meta = read_iemocap(root)
        return [
            (
                [(m["label"], m["path"]) for m in meta if m["session"] != f"Session{k}"],
                [(m["label"], m["path"]) for m in meta if m["session"] == f"Session{k}"],
            )
            for k in range(1, 6)
        ]
    return [task_examples(task, root)]


def task_examples(task: str, root: Path) -> tuple[list[tuple[str, Path]], list[tuple[str, Path]]]:
    """(label, path) train and test lists for the single-split tasks."""
    if task == "KS":
        data = read_speech_commands(root)
        # _silence_ comes from 1 s crops of the background noise in the recipe; take fixed crops here.
        return data["train"], [(label, path) for label, path in data["test"] if label != "_silence_"]
    if task == "SID":
        rows = read_voxceleb_iden(root)
        return ([(spk, p) for part, p, spk in rows if part == 1], [(spk, p) for part, p, spk in rows if part == 3])
    if task == "IC":
        train = read_fsc(root, "train") + read_fsc(root, "valid")
        test = read_fsc(root, "test")
        return ([("|".join(r["intent"]), r["path"]) for r in train], [("|".join(r["intent"]), r["path"]) for r in test])
    raise ValueError(task)
