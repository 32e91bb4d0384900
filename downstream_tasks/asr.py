"""ASR: LibriSpeech character CTC (s3prl `downstream/asr`), greedy decoding, WER on test-clean (no LM: SUPERB's number).

Vocabulary as the recipe's `char.dict`: `|` (word boundary), A-Z and the apostrophe, after s3prl's specials.
Head Linear(D, 1024) -> 2-layer BiLSTM 1024 -> Linear, SpecAugment on the featurizer output in training,
effective batch 16, Adam 1e-4.
"""
from __future__ import annotations

import string
from pathlib import Path
from typing import Any, Sequence

from bench.errors import BenchError
from downstream_tasks.base import TaskData, Utterance
from downstream_tasks.ctc import EOS, SPECIALS, CTCTask
from downstream_tasks.librispeech import SPLITS, read_split
from downstream_tasks.metrics.text import error_rate

CHARACTERS = ["|", *string.ascii_uppercase, "'"]


class SpeechRecognition(CTCTask):
    name = "asr"
    title = "ASR"
    corpus = "librispeech"
    metric = "wer"
    rnn_head = True
    uses_specaug = True

    def load(self, data_root: Path, fold: str | None, config: Any) -> TaskData:
        vocabulary = SPECIALS + CHARACTERS
        index = {symbol: i for i, symbol in enumerate(vocabulary)}
        splits = {}
        for split, folder in SPLITS.items():
            utterances = []
            for uid, path, text, speaker in read_split(data_root, folder):
                symbols = text.replace(" ", "|")
                unknown = sorted({c for c in symbols if c not in index})
                if unknown:
                    raise BenchError(f"{uid}: characters {unknown} are outside the recipe's A-Z, apostrophe and space")
                utterances.append(Utterance(uid, path, tuple(index[c] for c in symbols) + (EOS,), speaker, text=text))
            splits[split] = utterances
        return TaskData(self.corpus, data_root, splits, [vocabulary])

    def render(self, tokens: Sequence[int], data: TaskData) -> str:
        text = "".join(data.label_names[0][t] for t in tokens if t >= len(SPECIALS))
        return " ".join(text.replace("|", " ").split())

    def metrics(self, predictions: list, utterances: Sequence[Utterance], data: TaskData) -> dict[str, float]:
        hypotheses = [self.render(p, data) for p in predictions]
        references = [self.reference(u, data) for u in utterances]
        return {"wer": error_rate(hypotheses, references, "word"), "cer": error_rate(hypotheses, references, "char")}
