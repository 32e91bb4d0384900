"""MLASR: multilingual ASR on FLEURS with one character vocabulary shared by all languages (ML-SUPERB's setting).

Text is normalised as ML-SUPERB does (:func:`downstream_tasks.fleurs.normalise`); the vocabulary is every character of
the normalised training transcripts over all languages, `|` marking word boundaries, after s3prl's specials (a dev or
test character outside it becomes `<unk>` in the target and counts as an error). The head is ML-SUPERB's
(:mod:`downstream_tasks.transformer_ctc`) on the weighted sum of hidden states, trained with CTC on
`data.train_hours_per_language` of each language; frames are cached or the encoder runs in the loop, as for ASR.

Metrics, greedy decoding: CER per language (`cer/<lang>`), WER per language for languages written with spaces
(`wer/<lang>`; Chinese, Japanese and Thai are scored by CER only), their macro averages `cer` (the task's number)
and `wer`, and `cer_sd`, the population standard deviation of the per-language CERs (ML-SUPERB 2.0 reports that spread).
"""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any, Sequence

from downstream_tasks.base import TaskData, Utterance
from downstream_tasks.chance import ChanceLevel
from downstream_tasks.ctc import EOS, SPECIALS, UNK, CTCTask, FrameCTCModel, SpecAugment, character_text
from downstream_tasks.fleurs import BENCHMARK, CORPUS, DEFAULT_LANGUAGES, has_word_boundaries, load_fleurs, normalise
from downstream_tasks.metadata import MetricSpec, TaskMetadata
from downstream_tasks.metrics.text import error_rate
from downstream_tasks.transformer_ctc import TransformerCTCHead
from upstream.featurizer import WeightedSumFeaturizer

WORD_BOUNDARY = "|"


def language_of(uid: str) -> str:
    """The FLEURS language of an utterance id (`fleurs/<lang>/audio/<split>/<file>`)."""
    return uid.split("/")[1]


def cer_key(language: str) -> str:
    return f"cer/{language}"


def wer_key(language: str) -> str:
    return f"wer/{language}"


def _language_metrics() -> tuple[MetricSpec, ...]:
    """A report column for the CER of each default language (other configured languages are recorded, without column)."""
    return tuple(MetricSpec(cer_key(language), False, f"mlasr_cer_{language}", f"CER {language}",
                            description=f"multilingual ASR: character error rate on FLEURS {language} (test)")
                 for language in DEFAULT_LANGUAGES)


class MultilingualSpeechRecognition(CTCTask):
    metadata = TaskMetadata("mlasr", "MLASR", CORPUS, "frames", (
        MetricSpec("cer", False, "mlasr_cer", "CER avg",
                   description="multilingual ASR: character error rate, macro average over the FLEURS languages (test)"),
        MetricSpec("cer_sd", False, "mlasr_cer_sd", "CER SD",
                   description="multilingual ASR: standard deviation of the per-language CERs (test)"),
        MetricSpec("wer", False,
                   description="multilingual ASR: word error rate, macro average over languages written with spaces"),
        *_language_metrics()), benchmark=BENCHMARK)

    def load(self, data_root: Path, fold: str | None, config: Any) -> TaskData:
        fleurs = load_fleurs(data_root, config)
        texts = {split: [normalise(u.transcription, u.language) for u in utterances]
                 for split, utterances in fleurs.splits.items()}
        characters = sorted({char for text in texts["train"] for char in text if char != " "})
        vocabulary = SPECIALS + [WORD_BOUNDARY] + [char for char in characters if char != WORD_BOUNDARY]
        index = {symbol: i for i, symbol in enumerate(vocabulary)}
        splits = {}
        for split, utterances in fleurs.splits.items():
            splits[split] = [
                Utterance(u.uid, u.path, tuple(index.get(char, UNK) for char in text.replace(" ", WORD_BOUNDARY)) + (EOS,),
                          text=text)
                for u, text in zip(utterances, texts[split])]
        return TaskData(self.corpus, data_root, splits, [vocabulary], metadata_files=fleurs.tsv_files)

    def build_model(self, num_layers: int, hidden_size: int, data: TaskData, config: Any) -> FrameCTCModel:
        head = config.head
        model_head = TransformerCTCHead(hidden_size, len(data.label_names[0]), int(head.preencoder_dim), int(head.d_model),
                                        int(head.attention_heads), int(head.linear_units), int(head.num_blocks),
                                        float(head.dropout), head.get("conv_channels"))
        specaug = None
        if config.get("specaug", False):  # ML-SUPERB's: warp window 5, 2 masks of 0-27 dims, 10 of 0-5% of the frames
            specaug = SpecAugment(warp_window=5, num_time_masks=10, freq_mask_width=(0, 27), num_freq_masks=2,
                                  time_mask_width=(0, 0), time_mask_ratio=0.05)
        return FrameCTCModel(WeightedSumFeaturizer(num_layers), model_head, specaug)

    def render(self, tokens: Sequence[int], data: TaskData) -> str:
        return character_text(tokens, data.label_names[0], WORD_BOUNDARY)

    def reference(self, utterance: Utterance, data: TaskData) -> str:
        return utterance.text or ""

    def hypothesis(self, tokens: Sequence[int], utterance: Utterance, data: TaskData) -> str:
        """The decoded text, normalised as the reference (no spaces for languages written without them)."""
        return normalise(self.render(tokens, data), language_of(utterance.uid))

    def metrics(self, predictions: list, utterances: Sequence[Utterance], data: TaskData) -> dict[str, float]:
        pairs: dict[str, tuple[list[str], list[str]]] = {}
        for tokens, utterance in zip(predictions, utterances):
            hypotheses, references = pairs.setdefault(language_of(utterance.uid), ([], []))
            hypotheses.append(self.hypothesis(tokens, utterance, data))
            references.append(self.reference(utterance, data))
        scores: dict[str, float] = {}
        for language, (hypotheses, references) in pairs.items():
            scores[cer_key(language)] = error_rate(hypotheses, references, "char")
            if has_word_boundaries(language):
                scores[wer_key(language)] = error_rate(hypotheses, references, "word")
        cers = [scores[cer_key(language)] for language in pairs]
        wers = [scores[wer_key(language)] for language in pairs if has_word_boundaries(language)]
        scores["cer"] = statistics.fmean(cers) if cers else float("nan")
        scores["cer_sd"] = statistics.pstdev(cers) if cers else float("nan")
        if wers:
            scores["wer"] = statistics.fmean(wers)
        return scores

    def prediction_lines(self, predictions: list, utterances: Sequence[Utterance], data: TaskData) -> list[str]:
        return [f"{u.uid}\t{self.hypothesis(p, u, data)}\t{self.reference(u, data)}" for p, u in zip(predictions, utterances)]

    def chance(self, data: TaskData) -> ChanceLevel:
        """Decoding nothing: every error rate 100%, in every language (the spread then is 0, which is no result)."""
        languages = list(dict.fromkeys(language_of(u.uid) for u in data.splits["test"]))
        metrics = {"cer": 1.0, **{cer_key(language): 1.0 for language in languages}}
        spaced = [language for language in languages if has_word_boundaries(language)]
        if spaced:
            metrics.update({"wer": 1.0, **{wer_key(language): 1.0 for language in spaced}})
        return ChanceLevel(metrics, "decoding nothing")
