"""ASR: LibriSpeech character CTC (s3prl `downstream/asr`), greedy decoding, WER on test-clean (no LM: SUPERB's number).

Vocabulary, targets and decoding are the recipe's fairseq dictionary (`asr/fairseq_dictionary.py` loading
`asr/char.dict`): `<s>` (the CTC blank, `expert.py` `self.blank = dictionary.bos()`), `<pad>`, `</s>`, `<unk>`, then
char.dict's 28 symbols in file order, 32 outputs. A target is the upper-cased transcript's characters with `|` for each
space and one more `|` at the end, then `</s>` (`asr/dataset.py` `process_trans` and `encode_line(append_eos=True)`),
all of it in the CTC target. Greedy decoding deletes only the blank (`expert.py` `_decode`); the text then leaves out
`<s>` and `</s>` and shows `<pad>` and `<unk>` as written (`Dictionary.string`), and `|` separates words
(`token_to_word`). Head Linear(D, 1024) -> 2-layer BiLSTM 1024 -> Linear, SpecAugment on the featurizer output in
training, effective batch 16, Adam 1e-4. With `decoder.lm` set, dev and test are also decoded with a word LM
(:mod:`downstream_tasks.lm_decoding`) and scored as `wer_lm`/`cer_lm`; the greedy WER stays the SUPERB number.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchcore.atomic import write_text_atomic
from benchcore.errors import BenchError
from downstream_tasks.base import FeatureSource, SplitScore, TaskData, Utterance, eval_batches
from downstream_tasks.bucketing import fixed_length_buckets, num_samples
from downstream_tasks.ctc import CTCTask, TokenLayout, character_text
from downstream_tasks.items import ItemTable, ratio
from downstream_tasks.librispeech import OFFICIAL_SPLIT_SIZES, SPLITS, read_split, transcript_files
from downstream_tasks.lm_decoding import LexiconLMDecoder, LMSettings
from downstream_tasks.metadata import DECODING_NOTHING_ERRORS, ERROR_RATE, SUPERB, MetricSpec, TaskMetadata
from downstream_tasks.metrics.text import edit_counts_per_pair, error_rate

#: fairseq `Dictionary()`'s specials in their order (`asr/fairseq_dictionary.py` `__init__`: bos, pad, eos, unk)
FAIRSEQ_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
BOS, PAD, END_OF_SENTENCE, UNKNOWN = range(len(FAIRSEQ_SPECIALS))
#: s3prl `downstream/asr/char.dict`, in file order (the order is the output index, not the alphabet)
CHARACTERS = [
    "|",
    "E",
    "T",
    "A",
    "O",
    "N",
    "I",
    "H",
    "S",
    "R",
    "D",
    "L",
    "U",
    "M",
    "C",
    "W",
    "F",
    "G",
    "Y",
    "P",
    "B",
    "V",
    "K",
    "'",
    "X",
    "J",
    "Q",
    "Z",
]
VOCABULARY = [*FAIRSEQ_SPECIALS, *CHARACTERS]
WORD_BOUNDARY = "|"
#: the blank is `<s>`; `</s>` ends every target; decoding deletes the blank only (`asr/expert.py` `_decode`)
FAIRSEQ_DICTIONARY = TokenLayout(blank=BOS, end=END_OF_SENTENCE, removed_in_decoding=frozenset({BOS}))


def asr_target(transcript: str, index: dict[str, int]) -> tuple[int, ...] | None:
    """s3prl `asr/dataset.py` `process_trans` + `encode_line`: ids of the upper-cased words' characters, `|` between
    words and after the last, then `</s>`; None when a character is outside char.dict (s3prl would grow its dictionary
    past the head's outputs)."""
    symbols = " ".join(transcript.upper().split()).replace(" ", WORD_BOUNDARY) + WORD_BOUNDARY
    if any(symbol not in index for symbol in symbols):
        return None
    return tuple(index[symbol] for symbol in symbols) + (END_OF_SENTENCE,)


def spelled_units(text: str) -> str:
    """Words as character tokens, each word followed by `|` (the LM lexicon's spelling, `WORD W O R D |`)."""
    return " ".join(unit for word in text.split() for unit in [*word, WORD_BOUNDARY])


class SpeechRecognition(CTCTask):
    metadata = TaskMetadata(
        "asr",
        "ASR",
        "librispeech",
        "frames",
        (
            MetricSpec(
                "wer",
                ERROR_RATE,
                "asr",
                description="speech recognition, word error rate without LM (test-clean)",
                audio_blind=DECODING_NOTHING_ERRORS,
            ),
            MetricSpec("cer", ERROR_RATE, audio_blind=DECODING_NOTHING_ERRORS),
        ),
        benchmark=SUPERB,
    )
    official_split_sizes = OFFICIAL_SPLIT_SIZES
    tokens = FAIRSEQ_DICTIONARY
    rnn_head = True
    uses_specaug = True

    lm_settings: LMSettings | None = None

    def load(self, data_root: Path, fold: str | None, config: Any) -> TaskData:
        decoder = config.get("decoder")
        if decoder is not None and decoder.get("lm"):
            self.lm_settings = LMSettings(
                Path(str(decoder.lm)),
                Path(str(decoder.lexicon)) if decoder.get("lexicon") else None,
                int(decoder.beam),
                float(decoder.beam_threshold),
                float(decoder.lm_weight),
                float(decoder.word_score),
                float(decoder.unk_score),
                float(decoder.sil_score),
            )
        index = {symbol: i for i, symbol in enumerate(VOCABULARY)}
        splits = {}
        for split, folder in SPLITS.items():
            utterances = []
            for uid, path, text, speaker in read_split(data_root, folder):
                target = asr_target(text, index)
                if target is None:
                    unknown = sorted({c for c in text.upper() if c != " " and c not in index})
                    raise BenchError(f"{uid}: characters {unknown} are outside the recipe's A-Z, apostrophe and space")
                utterances.append(Utterance(uid, path, target, speaker, text=text))
            splits[split] = utterances
        return TaskData(self.corpus, data_root, splits, [list(VOCABULARY)], metadata_files=transcript_files(data_root))

    def train_batches(self, utterances: list[Utterance], config: Any) -> list[list[int]] | None:
        """s3prl's `asr/dataset.py` buckets: sorted by samples, buckets of 2 x `batch_size` (the recipe's 32), each
        halved (its HALF_BATCHSIZE_TIME of 2000 samples halves every real bucket), so batches hold `batch_size`."""
        if not config.data.get("bucketing", False):
            return None
        return fixed_length_buckets([num_samples(u) for u in utterances], 2 * int(config.batch_size))

    def render(self, tokens: Sequence[int], data: TaskData) -> str:
        """`Dictionary.string` (drops `<s>` and `</s>`), then `token_to_word` and `.split()`, words joined by spaces."""
        return character_text(tokens, data.label_names[0], WORD_BOUNDARY, hidden=(BOS, END_OF_SENTENCE))

    def metrics(self, predictions: list, utterances: Sequence[Utterance], data: TaskData) -> dict[str, float]:
        """`wer` over words; `cer` is the recipe's `uer` (`asr/expert.py` `_compute_metrics`): edits over the character
        tokens that `Dictionary.string` writes, every `|` included (the reference's final one too), per reference
        token."""
        hypotheses = [self.render(p, data) for p in predictions]
        references = [self.reference(u, data) for u in utterances]
        vocabulary = data.label_names[0]
        hypothesis_units = [" ".join(vocabulary[t] for t in p if t not in (BOS, END_OF_SENTENCE)) for p in predictions]
        return {
            "wer": error_rate(hypotheses, references, "word"),
            "cer": error_rate(hypothesis_units, self._reference_units(utterances, data), "word"),
        }

    def item_table(self, predictions: list, utterances: Sequence[Utterance], data: TaskData) -> ItemTable:
        """Per utterance: word edits and reference words (WER), and the recipe's unit edits and reference units (CER);
        each metric is the ratio of its columns' sums."""
        hypotheses = [self.render(p, data) for p in predictions]
        references = [self.reference(u, data) for u in utterances]
        vocabulary = data.label_names[0]
        hypothesis_units = [" ".join(vocabulary[t] for t in p if t not in (BOS, END_OF_SENTENCE)) for p in predictions]
        word_edits, words = zip(*edit_counts_per_pair(hypotheses, references, "word"))
        unit_edits, units = zip(
            *edit_counts_per_pair(hypothesis_units, self._reference_units(utterances, data), "word")
        )
        return ItemTable(
            self.name,
            "utterance",
            [u.uid for u in utterances],
            {
                "word_edits": list(word_edits),
                "ref_words": list(words),
                "char_edits": list(unit_edits),
                "ref_chars": list(units),
            },
            {"wer": ratio("word_edits", "ref_words"), "cer": ratio("char_edits", "ref_chars")},
        )

    @staticmethod
    def _reference_units(utterances: Sequence[Utterance], data: TaskData) -> list[str]:
        """The target's tokens as `Dictionary.string` writes them, `<pad>` and `</s>` left out (`asr/expert.py`
        `forward`)."""
        vocabulary = data.label_names[0]
        return [" ".join(vocabulary[t] for t in u.label if t not in (BOS, PAD, END_OF_SENTENCE)) for u in utterances]

    def decoding_signature(self) -> dict | None:
        return None if self.lm_settings is None else self.lm_settings.signature()

    def score_split(
        self,
        model: Any,
        data: TaskData,
        source: FeatureSource,
        split: str,
        batch_size: int,
        output_dir: Path | None = None,
    ) -> SplitScore:
        """Greedy WER/CER; at final scoring (``output_dir`` given) with an LM configured, also `wer_lm`/`cer_lm`
        and `<split>_predictions_lm.tsv`. s3prl has no LM CER (its `uer` stays greedy); `cer_lm` spells the LM's words
        as its lexicon does (`W O R D |`) and counts as `cer` does, so the two compare."""
        score = super().score_split(model, data, source, split, batch_size, output_dir)
        if self.lm_settings is None or output_dir is None:
            return score
        decoder = LexiconLMDecoder(
            self.lm_settings, data.label_names[0], blank=FAIRSEQ_SPECIALS[BOS], silence=WORD_BOUNDARY
        )
        utterances = data.splits[split]
        hypotheses: list[str] = []
        for _, (logits, lengths) in eval_batches(model, source, split, range(len(utterances)), batch_size):
            hypotheses.extend(decoder.decode(logits, lengths))
        references = [self.reference(u, data) for u in utterances]
        score.metrics.update(
            {
                "wer_lm": error_rate(hypotheses, references, "word"),
                "cer_lm": error_rate(
                    [spelled_units(h) for h in hypotheses], self._reference_units(utterances, data), "word"
                ),
            }
        )
        lines = [f"{u.uid}\t{h}\t{r}" for u, h, r in zip(utterances, hypotheses, references)]
        write_text_atomic(
            output_dir / f"{split}_predictions_lm.tsv", "\n".join(["uid\tprediction\ttruth", *lines]) + "\n"
        )
        return score
