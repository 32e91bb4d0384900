"""SF: slot filling on Audio SNIPS (s3prl `downstream/ctc`, `snips.yaml`).

`SNIPS/{train,valid,test}/<Voice>-snips-<split>-<n>.wav` with labels in `all.iob.snips.txt`; a split keeps only the
recipe's voices (extra voices in a folder are ignored, as s3prl's reader does). Targets are characters (space, A-Z,
apostrophe) with `B-<slot>`/`E-<slot>` tokens around slot values, punctuation dropped and `&` read as AND (s3prl's
`CharacterTextSlotEncoder`). The vocabulary is s3prl's: its specials, `vocab/character.txt`, then a `B-`/`E-` pair for
every line of `slots.txt` after the first, as `load_from_file` splits the file on newlines (a final newline gives an
empty slot name, whose two outputs no target uses). Decoding drops every `<pad>` and `<eos>` and renders `<unk>` as
written (`ctc/expert.py`, `CharacterTextSlotEncoder.decode`). Metrics: slot-type F1 (selects the checkpoint) and
slot-value CER, as s3prl defines them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchcore.errors import BenchError
from downstream_tasks.base import TaskData, Utterance, require_dir, require_file
from downstream_tasks.ctc import EOS, SPECIALS, UNK, CTCTask
from downstream_tasks.items import ItemTable, ratio
from downstream_tasks.metadata import (
    DECODING_NOTHING_ERRORS,
    DECODING_NOTHING_F1,
    ERROR_RATE,
    F1,
    SUPERB,
    MetricSpec,
    TaskMetadata,
)
from downstream_tasks.metrics.text import sf_metrics, slot_type_f1_per_utterance, slot_value_counts_per_utterance

ROOT = "SNIPS"
CHARACTERS = [" ", *"ABCDEFGHIJKLMNOPQRSTUVWXYZ", "'"]
VOICES = {
    "train": ("Ivy", "Joanna", "Joey", "Justin", "Kendra", "Kimberly", "Matthew", "Salli"),
    "dev": ("Aditi", "Amy", "Geraint", "Nicole"),
    "test": ("Brian", "Emma", "Raveena", "Russell"),
}
FOLDERS = {"train": "train", "dev": "valid", "test": "test"}


def _uid_split(uid: str) -> str | None:
    """The split folder a SNIPS uid names (``Joanna-snips-valid-12`` -> ``valid``)."""
    parts = uid.split("-")
    return parts[2] if len(parts) >= 4 and parts[1] == "snips" else None


def encode_line(words: list[str], tags: list[str], index: dict[str, int]) -> list[int]:
    """s3prl's CharacterTextSlotEncoder.encode on the words and IOB tags between BOS and EOS."""
    tokens: list[int] = []
    for i, (word, tag) in enumerate(zip(words, tags)):
        if word in "?!.,;-":
            continue
        word = "AND" if word == "&" else word
        if tag != "O" and (i == 0 or tags[i - 1] != tag):
            tokens.append(index[f"B-{tag}"])
        tokens += [index.get(c, UNK) for c in word]
        if tag != "O" and (i == len(words) - 1 or tags[i + 1] != tag):
            tokens.append(index[f"E-{tag}"])
        tokens.append(EOS if i == len(words) - 1 else index[" "])
    return tokens


class SlotFilling(CTCTask):
    metadata = TaskMetadata(
        "sf",
        "SF",
        "snips",
        "frames",
        (
            MetricSpec(
                "slot_type_f1",
                F1,
                "sf_f1",
                "SF F1",
                description="slot filling, slot-type F1 (Audio SNIPS)",
                audio_blind=DECODING_NOTHING_F1,
            ),
            MetricSpec(
                "slot_value_cer",
                ERROR_RATE,
                "sf_cer",
                "SF CER",
                description="slot filling, slot-value CER (Audio SNIPS)",
                audio_blind=DECODING_NOTHING_ERRORS,
            ),
        ),
        benchmark=SUPERB,
    )
    rnn_head = True
    uses_specaug = True

    def load(self, data_root: Path, fold: str | None, config: Any) -> TaskData:
        root = require_dir(
            data_root / ROOT, "Audio SNIPS", f"{ROOT}/{{train,valid,test}}/*.wav + all.iob.snips.txt + slots.txt"
        )
        slots = [
            name.strip()
            for name in require_file(root / "slots.txt", "Audio SNIPS", "slot names, first line skipped")
            .read_text()
            .split("\n")[1:]
        ]
        vocabulary = SPECIALS + CHARACTERS + [f"{edge}-{slot}" for slot in slots for edge in ("B", "E")]
        index = {symbol: i for i, symbol in enumerate(vocabulary)}
        labels: dict[str, tuple[list[str], list[str]]] = {}
        label_file = require_file(root / "all.iob.snips.txt", "Audio SNIPS", "<uid> BOS words EOS<TAB>O tags intent")
        for line in label_file.read_text().splitlines():
            if "\t" not in line:
                continue
            sentence, tags = line.strip().split("\t")
            uid, *words = sentence.split(" ")
            labels[uid] = (words[1:-1], tags.split(" ")[1:-1])
        splits = {}
        for split, folder in FOLDERS.items():
            utterances = []
            found = {
                wav.stem: wav
                for wav in require_dir(root / folder, "Audio SNIPS", f"{ROOT}/{folder}/*.wav").rglob("*.wav")
            }
            # s3prl keeps the folder's wavs that are labelled and spoken by the split's voices; a labelled uid of
            # those voices ('<Voice>-snips-<split>-<n>') that the folder lacks is listed at its path, to be reported.
            expected = {
                uid: root / folder / f"{uid}.wav"
                for uid in labels
                if _uid_split(uid) == folder and uid.split("-")[0] in VOICES[split]
            }
            for wav in sorted({**expected, **found}.values()):
                voice = wav.stem.split("-")[0]
                if wav.stem not in labels or voice not in VOICES[split]:
                    continue
                words, tags = labels[wav.stem]
                unknown = sorted({tag for tag in tags if tag != "O" and f"B-{tag}" not in index})
                if unknown:
                    raise BenchError(f"{wav.stem}: slot types {unknown} are not in slots.txt")
                tokens = encode_line(words, tags, index)
                utterances.append(
                    Utterance(str(wav.relative_to(data_root)), wav, tuple(tokens), voice, text=" ".join(words))
                )
            if not utterances:
                raise BenchError(
                    f"Audio SNIPS {folder}: no labelled recordings by the recipe's voices {', '.join(VOICES[split])}"
                )
            splits[split] = utterances
        return TaskData(self.corpus, data_root, splits, [vocabulary], metadata_files=[root / "slots.txt", label_file])

    def render(self, tokens: Sequence[int], data: TaskData) -> str:
        """`CharacterTextSlotEncoder.decode` after decoding removed `<pad>`/`<eos>`: characters and `<unk>` as written,
        `B-<slot>` followed by a space, `E-<slot>` preceded by one (`idx_to_vocab`)."""
        vocabulary, first_slot = data.label_names[0], len(SPECIALS) + len(CHARACTERS)
        parts = []
        for token in tokens:
            symbol = vocabulary[token]
            parts.append(symbol if token < first_slot else f"{symbol} " if symbol.startswith("B-") else f" {symbol}")
        return "".join(parts)

    def metrics(self, predictions: list, utterances: Sequence[Utterance], data: TaskData) -> dict[str, float]:
        hypotheses = [self.render(p, data) for p in predictions]
        references = [self.reference(u, data) for u in utterances]
        return sf_metrics(hypotheses, references)

    def item_table(self, predictions: list, utterances: Sequence[Utterance], data: TaskData) -> ItemTable:
        """Per utterance: its slot-type F1 (the metric is their mean) and its slot values' character edits and
        reference characters (slot-value CER: the ratio of their sums)."""
        hypotheses = [self.render(p, data) for p in predictions]
        references = [self.reference(u, data) for u in utterances]
        edits, characters = zip(*slot_value_counts_per_utterance(hypotheses, references, "char"))
        return ItemTable(
            self.name,
            "utterance",
            [u.uid for u in utterances],
            {
                "slot_type_f1": slot_type_f1_per_utterance(hypotheses, references),
                "count": [1] * len(utterances),
                "slot_char_edits": list(edits),
                "slot_ref_chars": list(characters),
            },
            {
                "slot_type_f1": ratio("slot_type_f1", "count"),
                "slot_value_cer": ratio("slot_char_edits", "slot_ref_chars"),
            },
        )
