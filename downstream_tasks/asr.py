"""ASR: LibriSpeech character CTC (s3prl `downstream/asr`), greedy decoding, WER on test-clean (no LM: SUPERB's number).

Vocabulary as the recipe's `char.dict`: `|` (word boundary), A-Z and the apostrophe, after s3prl's specials.
Head Linear(D, 1024) -> 2-layer BiLSTM 1024 -> Linear, SpecAugment on the featurizer output in training,
effective batch 16, Adam 1e-4. With `decoder.lm` set, dev and test are also decoded with a word LM
(:mod:`downstream_tasks.lm_decoding`) and scored as `wer_lm`/`cer_lm`; the greedy WER stays the SUPERB number.
"""
from __future__ import annotations

import string
from pathlib import Path
from typing import Any, Sequence

from benchcore.errors import BenchError
from benchcore.atomic import write_text_atomic
from downstream_tasks.base import FeatureSource, SplitScore, TaskData, Utterance, eval_batches
from downstream_tasks.bucketing import fixed_length_buckets, num_samples
from downstream_tasks.ctc import EOS, SPECIALS, CTCTask, character_text
from downstream_tasks.librispeech import OFFICIAL_SPLIT_SIZES, SPLITS, read_split, transcript_files
from downstream_tasks.lm_decoding import LexiconLMDecoder, LMSettings
from downstream_tasks.metadata import MetricSpec, TaskMetadata
from downstream_tasks.metrics.text import error_rate

CHARACTERS = ["|", *string.ascii_uppercase, "'"]


class SpeechRecognition(CTCTask):
    metadata = TaskMetadata("asr", "ASR", "librispeech", "frames", (
        MetricSpec("wer", False, "asr", description="speech recognition, word error rate without LM (test-clean)"),
        MetricSpec("cer", False)))
    official_split_sizes = OFFICIAL_SPLIT_SIZES
    rnn_head = True
    uses_specaug = True

    lm_settings: LMSettings | None = None

    def load(self, data_root: Path, fold: str | None, config: Any) -> TaskData:
        decoder = config.get("decoder")
        if decoder is not None and decoder.get("lm"):
            self.lm_settings = LMSettings(
                Path(str(decoder.lm)), Path(str(decoder.lexicon)) if decoder.get("lexicon") else None, int(decoder.beam),
                float(decoder.beam_threshold), float(decoder.lm_weight), float(decoder.word_score),
                float(decoder.unk_score), float(decoder.sil_score))
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
        return TaskData(self.corpus, data_root, splits, [vocabulary], metadata_files=transcript_files(data_root))

    def train_batches(self, utterances: list[Utterance], config: Any) -> list[list[int]] | None:
        """s3prl's `asr/dataset.py` buckets: sorted by samples, buckets of 2 x `batch_size` (the recipe's 32), each
        halved (its HALF_BATCHSIZE_TIME of 2000 samples halves every real bucket), so batches hold `batch_size`."""
        if not config.data.get("bucketing", False):
            return None
        return fixed_length_buckets([num_samples(u) for u in utterances], 2 * int(config.batch_size))

    def render(self, tokens: Sequence[int], data: TaskData) -> str:
        return character_text(tokens, data.label_names[0])

    def metrics(self, predictions: list, utterances: Sequence[Utterance], data: TaskData) -> dict[str, float]:
        hypotheses = [self.render(p, data) for p in predictions]
        references = [self.reference(u, data) for u in utterances]
        return {"wer": error_rate(hypotheses, references, "word"), "cer": error_rate(hypotheses, references, "char")}

    def decoding_signature(self) -> dict | None:
        return None if self.lm_settings is None else self.lm_settings.signature()

    def score_split(self, model: Any, data: TaskData, source: FeatureSource, split: str, batch_size: int,
                    output_dir: Path | None = None) -> SplitScore:
        """Greedy WER/CER; at final scoring (``output_dir`` given) with an LM configured, also `wer_lm`/`cer_lm`
        and `<split>_predictions_lm.tsv`."""
        score = super().score_split(model, data, source, split, batch_size, output_dir)
        if self.lm_settings is None or output_dir is None:
            return score
        decoder = LexiconLMDecoder(self.lm_settings, data.label_names[0], blank=SPECIALS[0], silence="|")
        utterances = data.splits[split]
        hypotheses: list[str] = []
        for _, (logits, lengths) in eval_batches(model, source, split, range(len(utterances)), batch_size):
            hypotheses.extend(decoder.decode(logits, lengths))
        references = [self.reference(u, data) for u in utterances]
        score.metrics.update({"wer_lm": error_rate(hypotheses, references, "word"),
                              "cer_lm": error_rate(hypotheses, references, "char")})
        lines = [f"{u.uid}\t{h}\t{r}" for u, h, r in zip(utterances, hypotheses, references)]
        write_text_atomic(output_dir / f"{split}_predictions_lm.tsv", "\n".join(["uid\tprediction\ttruth", *lines]) + "\n")
        return score
