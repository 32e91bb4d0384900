"""How much of each dataset a size preset generates.

``tiny`` exists for unit tests (whole corpus in well under 30 s on 2 cores, yet enough examples
per class for the learnability checks); ``small`` is the default smoke-run corpus (under 5 minutes
and 350 MB; FLEURS's seven languages take 50 MB of it). All counts are per split unless named otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import MiniCorpusError


@dataclass(frozen=True)
class SizeSpec:
    name: str
    # LibriSpeech: speakers per split, utterances per speaker (train / dev / test)
    libri_speakers: tuple[int, int, int]
    libri_utts: tuple[int, int, int]
    # Speech Commands: speakers per hash partition (train / validation / testing), auxiliary words,
    # second-take probability, test-set clips per class
    ks_speakers: tuple[int, int, int]
    ks_aux_words: int
    ks_repeat_prob: float
    ks_test_per_class: int
    # QUESST: documents (English), foreign documents, queries per set (English), foreign queries per set
    qbe_docs: int
    qbe_foreign_docs: int
    qbe_queries: int
    qbe_foreign_queries: int
    # VoxCeleb1: dev-folder speakers, test-folder speakers, videos per speaker, utterances per video
    vox_dev_speakers: int
    vox_test_speakers: int
    vox_videos: int
    vox_utts: int
    # Libri2Mix: mixtures per split (train / dev / test)
    mix_count: tuple[int, int, int]
    # IEMOCAP: utterances per speaker per dialog, dialogs per session
    emo_utts_per_dialog: int
    emo_dialogs: int
    # Fluent Speech Commands: speakers per split, utterances per speaker, number of intents
    fsc_speakers: tuple[int, int, int]
    fsc_utts: int
    fsc_intents: int
    # Audio SNIPS: sentences per split (train / valid / test), cross-split distractor files per split
    snips_sentences: tuple[int, int, int]
    snips_distractors: int
    # FLEURS: speakers per split (train / dev / test), utterances per speaker per split; every language alike
    fleurs_speakers: tuple[int, int, int]
    fleurs_utts: tuple[int, int, int]


SIZES: dict[str, SizeSpec] = {
    "tiny": SizeSpec(
        name="tiny",
        libri_speakers=(4, 2, 2),
        libri_utts=(4, 3, 3),
        ks_speakers=(12, 3, 3),
        ks_aux_words=4,
        ks_repeat_prob=0.0,
        ks_test_per_class=4,
        qbe_docs=16,
        qbe_foreign_docs=3,
        qbe_queries=4,
        qbe_foreign_queries=1,
        vox_dev_speakers=8,
        vox_test_speakers=4,
        vox_videos=4,
        vox_utts=3,
        mix_count=(4, 2, 2),
        emo_utts_per_dialog=8,
        emo_dialogs=3,
        fsc_speakers=(8, 2, 3),
        fsc_utts=24,
        fsc_intents=12,
        snips_sentences=(24, 8, 8),
        snips_distractors=2,
        fleurs_speakers=(2, 1, 1),
        fleurs_utts=(4, 3, 3),
    ),
    "small": SizeSpec(
        name="small",
        libri_speakers=(20, 6, 6),
        libri_utts=(12, 8, 8),
        ks_speakers=(30, 6, 6),
        ks_aux_words=8,
        ks_repeat_prob=0.3,
        ks_test_per_class=16,
        qbe_docs=60,
        qbe_foreign_docs=8,
        qbe_queries=10,
        qbe_foreign_queries=2,
        vox_dev_speakers=20,
        vox_test_speakers=8,
        vox_videos=4,
        vox_utts=3,
        mix_count=(40, 12, 12),
        emo_utts_per_dialog=12,
        emo_dialogs=3,
        fsc_speakers=(36, 4, 4),
        fsc_utts=36,
        fsc_intents=12,
        snips_sentences=(200, 48, 48),
        snips_distractors=8,
        fleurs_speakers=(6, 2, 2),
        fleurs_utts=(8, 5, 5),
    ),
}


def get_size(name: str) -> SizeSpec:
    """The preset called ``name``; a clear error for anything else."""
    try:
        return SIZES[name]
    except KeyError:
        raise MiniCorpusError(f"unknown size {name!r}; choose one of {', '.join(SIZES)}") from None
