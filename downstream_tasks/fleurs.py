"""FLEURS (google/fleurs) as the multilingual tasks read it: `mlid` (language identification) and `mlasr` (ASR).

Layout, that of the dataset's Hugging Face repository with its audio archives extracted (each
``data/<lang>/audio/<split>.tar.gz`` holds ``<split>/<file_name>``)::

    fleurs/<lang>/{train,dev,test}.tsv
    fleurs/<lang>/audio/{train,dev,test}/<file_name>.wav

Each TSV line has seven tab-separated fields and no header: id (the FLoRes sentence id, shared by the parallel
sentence in every language), file_name, raw_transcription, transcription (normalised), a character field (unused),
num_samples (16 kHz) and gender.

Training uses a fixed budget per language, as ML-SUPERB does with its 10-minute and 1-hour sets (Shi et al., "ML-SUPERB:
Multilingual Speech Universal PERformance Benchmark", Interspeech 2023, arXiv:2305.10615; ESPnet
``egs2/ml_superb/asr1/conf/tuning/train_asr_s3prl_1h.yaml``): `data.train_hours_per_language` (default 1.0) hours of
each language's train.tsv, chosen by a hash of the file name so the choice is fixed whatever the line order. Dev and
test are FLEURS's whole dev and test sets.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchcore.errors import BenchError
from downstream_tasks.base import require_dir, require_file

CORPUS = "fleurs"
#: the report table and scores these tasks belong to (never the SUPERB ones)
BENCHMARK = "fleurs"
ROOT = "fleurs"
SPLITS = ("train", "dev", "test")
SAMPLE_RATE = 16000
#: The languages of MERaLiON-SpeechEncoder-2's training focus, in FLEURS's codes (configs' `data.languages` default).
DEFAULT_LANGUAGES = ("en_us", "cmn_hans_cn", "ms_my", "ta_in", "id_id", "th_th", "vi_vn")
#: Languages written without spaces between words: ML-SUPERB removes all whitespace from their text and scores them by
#: CER only (its normalisation names Chinese, Japanese and Thai).
NO_WORD_BOUNDARIES = ("cmn_hans_cn", "ja_jp", "th_th")
TSV_FIELDS = 7
LAYOUT = (
    f"{ROOT}/<lang>/{{train,dev,test}}.tsv and {ROOT}/<lang>/audio/{{train,dev,test}}/<file_name>.wav, "
    "google/fleurs's data/ folder with its audio archives extracted"
)


@dataclass(frozen=True)
class FleursUtterance:
    """One TSV line of one language and split."""

    language: str
    split: str
    sentence_id: str
    file_name: str
    raw_transcription: str
    transcription: str
    num_samples: int
    gender: str
    path: Path

    @property
    def uid(self) -> str:
        """The file's path relative to the corpus root (`mlid` and `mlasr` share cache entries through it)."""
        return f"{ROOT}/{self.language}/audio/{self.split}/{self.file_name}"


def normalise(text: str, language: str) -> str:
    """ML-SUPERB's text normalisation: lower case, every Unicode punctuation character (category P*) removed, and for
    languages without word boundaries every whitespace removed; elsewhere runs of whitespace become one space."""
    lowered = "".join(char for char in text.lower() if not unicodedata.category(char).startswith("P"))
    if language in NO_WORD_BOUNDARIES:
        return re.sub(r"\s+", "", lowered)
    return " ".join(lowered.split())


def has_word_boundaries(language: str) -> bool:
    return language not in NO_WORD_BOUNDARIES


def read_split(corpus_root: Path, language: str, split: str) -> list[FleursUtterance]:
    """The utterances `<lang>/<split>.tsv` lists (whether or not their audio is on disk: the runner checks that)."""
    language_dir = require_dir(corpus_root / language, f"FLEURS {language}", LAYOUT)
    tsv = require_file(language_dir / f"{split}.tsv", f"FLEURS {language}", f"the {split} list; layout {LAYOUT}")
    audio_dir = language_dir / "audio" / split
    refuse_unextracted([audio_dir.parent / f"{split}.tar.gz"] if not audio_dir.is_dir() else [])
    require_dir(audio_dir, f"FLEURS {language} {split} audio", LAYOUT)
    utterances = []
    for number, line in enumerate(tsv.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != TSV_FIELDS:
            raise BenchError(
                f"{tsv}:{number}: {len(fields)} tab-separated fields, FLEURS has {TSV_FIELDS} (id, file_name, "
                "raw_transcription, transcription, characters, num_samples, gender)"
            )
        sentence_id, file_name, raw, transcription, _characters, samples, gender = fields
        if not samples.strip().isdigit():
            raise BenchError(f"{tsv}:{number}: num_samples is {samples!r}, not a number of samples")
        utterances.append(
            FleursUtterance(
                language, split, sentence_id, file_name, raw, transcription, int(samples), gender, audio_dir / file_name
            )
        )
    if not utterances:
        raise BenchError(f"FLEURS {language}: {tsv} lists no utterances")
    return utterances


def refuse_unextracted(archives: Sequence[Path]) -> None:
    """FLEURS ships each split's audio as `<lang>/audio/<split>.tar.gz`; the reader wants them extracted. One error for
    all of them, with the command that extracts them in place."""
    packed = [archive for archive in archives if archive.is_file()]
    if not packed:
        return
    command = (
        f"tar -xzf {packed[0]} -C {packed[0].parent}"
        if len(packed) == 1
        else f'for a in {packed[0].parents[2]}/*/audio/*.tar.gz; do tar -xzf "$a" -C "$(dirname "$a")"; done'
    )
    raise BenchError(
        f"FLEURS: {len(packed)} audio archive(s) are not extracted ({packed[0]}"
        f"{', ...' if len(packed) > 1 else ''}); each holds <split>/<file_name>.wav. Extract them: {command}"
    )


def _hashed_order(utterance: FleursUtterance) -> str:
    return hashlib.sha1(utterance.file_name.encode("utf-8")).hexdigest()


def within_budget(utterances: Sequence[FleursUtterance], hours: float | None) -> list[FleursUtterance]:
    """The training subset of one language: utterances in the order of a hash of their file name, as long as their
    total stays within ``hours`` (None: all of them). A language with less audio than the budget is an error: its
    numbers would not be at the budget the record states."""
    if hours is None:
        return list(utterances)
    budget = float(hours) * 3600 * SAMPLE_RATE
    available = sum(u.num_samples for u in utterances)
    if available < budget:
        language = utterances[0].language if utterances else "?"
        raise BenchError(
            f"FLEURS {language}: train.tsv holds {available / SAMPLE_RATE / 3600:.2f} h, less than "
            f"data.train_hours_per_language={hours:g}; pass data.train_hours_per_language=null to train "
            "on all of it (or a smaller budget)"
        )
    chosen, total = [], 0
    for utterance in sorted(utterances, key=_hashed_order):
        if total + utterance.num_samples > budget:
            break
        chosen.append(utterance)
        total += utterance.num_samples
    return sorted(chosen, key=lambda u: u.file_name)


@dataclass
class FleursSplits:
    """What both tasks read: the utterances of each split over the configured languages, and the TSVs read."""

    languages: list[str]
    splits: dict[str, list[FleursUtterance]]
    tsv_files: list[Path]


def configured_languages(config: Any) -> list[str]:
    languages = [str(language) for language in (config.data.get("languages") or [])]
    if not languages:
        raise BenchError("data.languages is empty; list FLEURS language codes, e.g. data.languages=[en_us,cmn_hans_cn]")
    if len(set(languages)) != len(languages):
        raise BenchError(f"data.languages repeats a language: {languages}")
    return languages


def load_fleurs(data_root: Path, config: Any) -> FleursSplits:
    """Read the configured languages' TSVs; train is cut to `data.train_hours_per_language` per language."""
    corpus_root = require_dir(data_root / ROOT, "FLEURS", LAYOUT)
    languages = configured_languages(config)
    hours = config.data.get("train_hours_per_language")
    refuse_unextracted(
        [
            corpus_root / language / "audio" / f"{split}.tar.gz"
            for language in languages
            for split in SPLITS
            if not (corpus_root / language / "audio" / split).is_dir()
        ]
    )
    splits: dict[str, list[FleursUtterance]] = {split: [] for split in SPLITS}
    tsv_files = []
    for language in languages:
        for split in SPLITS:
            utterances = read_split(corpus_root, language, split)
            if split == "train":
                utterances = within_budget(utterances, None if hours is None else float(hours))
            splits[split] += utterances
            tsv_files.append(corpus_root / language / f"{split}.tsv")
    return FleursSplits(languages, splits, tsv_files)
