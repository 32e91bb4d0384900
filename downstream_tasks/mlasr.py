"""MLASR: multilingual ASR on FLEURS with one character vocabulary shared by all languages, trained and decoded as
ML-SUPERB's 1-hour recipe (ESPnet ``egs2/ml_superb/asr1``: ``run_multi.sh`` with ``conf/tuning/train_asr_s3prl_1h.yaml``
and ``conf/decode_asr.yaml``).

Text is normalised as ML-SUPERB does (:func:`downstream_tasks.fleurs.normalise`); the vocabulary is every character of
the normalised training transcripts over all languages, `|` marking word boundaries (ESPnet's ``<space>``), after the
specials: `<pad>` the CTC blank (ESPnet's ``<blank>``), `<eos>` (ESPnet's ``<sos/eos>``, an output that is never a
target) and `<unk>` (a dev or test character outside the vocabulary, which counts as an error). CTC targets are the
characters alone, without `<eos>` (ESPnet's ``CTC`` gets the text's token ids only). Train and dev keep utterances
strictly between `data.min_seconds` and `data.max_seconds` with a non-empty transcript (``asr.sh`` stage 4, whose
``min_wav_duration=0.1`` and ``max_wav_duration=20`` the recipe keeps; test is never filtered).

Model and training (:mod:`downstream_tasks.transformer_ctc`): weighted sum of hidden states -> ESPnet's SpecAugment
(:mod:`downstream_tasks.espnet_specaug`) -> utterance mean normalisation -> linear pre-encoder -> conv2d2 ->
Transformer -> CTC, with ESPnet's CTC loss (the batch's summed utterance losses over the batch size). Batches are
ESPnet's ``batch_type: sorted`` (`data.bucketing`). Dev reports `loss`, ESPnet's ``valid.loss``: the mean utterance CTC
loss over dev, in eval mode. The checkpoint is the average of the 5 evaluations with the lowest dev loss
(``best_model_criterion: valid loss min``, ``keep_nbest_models: 5``, decoded with ``valid.loss.ave.pth``).

Decoding: at final scoring (dev and test of the averaged model), ML-SUPERB's width-1 CTC prefix search
(:mod:`downstream_tasks.ctc_prefix_search`); the evaluations during training decode best-path, as ESPnet's validation
``cer_ctc`` does (they only report; the loss selects).

Metrics: CER per language (`cer/<lang>`), WER per language for languages written with spaces (`wer/<lang>`; Chinese,
Japanese and Thai are scored by CER only), their macro averages `cer` (the task's number) and `wer`, `cer_sd`, the
population standard deviation of the per-language CERs (ML-SUPERB 2.0 reports that spread), and `cer_pooled`, the
character errors of all languages over all their reference characters (ML-SUPERB's ``local/score.sh`` scores the
pooled ``hyp.trn`` of every language with sclite).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from downstream_tasks.base import CheckpointRule, FeatureSource, SplitScore, TaskData, Utterance, eval_batches
from downstream_tasks.bucketing import num_samples
from downstream_tasks.chance import ChanceLevel
from downstream_tasks.ctc import BLANK, EOS, SPECIALS, UNK, CTCTask, FrameCTCModel, character_text, greedy_decode
from downstream_tasks.ctc_prefix_search import ctc_prefix_search_batch
from downstream_tasks.espnet_specaug import ESPnetSpecAug
from downstream_tasks.fleurs import (
    BENCHMARK,
    CORPUS,
    DEFAULT_LANGUAGES,
    SAMPLE_RATE,
    FleursUtterance,
    has_word_boundaries,
    load_fleurs,
    normalise,
)
from downstream_tasks.items import ItemTable, Statistic, ratio
from downstream_tasks.metadata import ERROR_RATE, MetricSpec, TaskMetadata
from downstream_tasks.metrics.text import edit_counts_per_pair, error_rate
from downstream_tasks.transformer_ctc import TransformerCTCHead, espnet_ctc_loss, utterance_ctc_losses
from upstream.featurizer import WeightedSumFeaturizer

WORD_BOUNDARY = "|"
#: ``keep_nbest_models: 5`` with ``best_model_criterion: [valid, loss, min]``: the decoded model averages these many
AVERAGED_CHECKPOINTS = 5


def language_of(uid: str) -> str:
    """The FLEURS language of an utterance id (`fleurs/<lang>/audio/<split>/<file>`)."""
    return uid.split("/")[1]


def cer_key(language: str) -> str:
    return f"cer/{language}"


def wer_key(language: str) -> str:
    return f"wer/{language}"


def within_durations(
    utterances: Sequence[FleursUtterance], min_seconds: float | None, max_seconds: float | None
) -> list[FleursUtterance]:
    """``asr.sh`` stage 4 on a train or dev list: keep ``int(min * fs) < samples < int(max * fs)`` (None: no bound)."""
    low = -1 if min_seconds is None else int(float(min_seconds) * SAMPLE_RATE)
    high = None if max_seconds is None else int(float(max_seconds) * SAMPLE_RATE)
    return [u for u in utterances if low < u.num_samples and (high is None or u.num_samples < high)]


def sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """ESPnet's ``batch_type: sorted`` (``espnet2/samplers/sorted_batch_sampler.py``, drop_last false): indices sorted
    longest first, cut into ``max(n // batch_size, 1)`` batches as even as possible (so batches hold ``batch_size`` or
    a few more), the batch list then reversed (``sort_batch: ascending``). The iterator shuffles their order each
    epoch."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    count = max(len(order) // batch_size, 1)
    batches = [order[i * len(order) // count : (i + 1) * len(order) // count] for i in range(count)]
    return batches[::-1]


def _language_metrics() -> tuple[MetricSpec, ...]:
    """A report column for the CER of each default language (other configured languages are recorded, without
    column)."""
    return tuple(
        MetricSpec(
            cer_key(language),
            ERROR_RATE,
            f"mlasr_cer_{language}",
            f"CER {language}",
            description=f"multilingual ASR: character error rate on FLEURS {language} (test)",
        )
        for language in DEFAULT_LANGUAGES
    )


class MultilingualSpeechRecognition(CTCTask):
    metadata = TaskMetadata(
        "mlasr",
        "MLASR",
        CORPUS,
        "frames",
        (
            MetricSpec(
                "cer",
                ERROR_RATE,
                "mlasr_cer",
                "CER avg",
                description="multilingual ASR: character error rate, macro average over the FLEURS languages (test)",
            ),
            MetricSpec(
                "cer_sd",
                ERROR_RATE,
                "mlasr_cer_sd",
                "CER SD",
                description="multilingual ASR: standard deviation of the per-language CERs (test)",
            ),
            MetricSpec(
                "cer_pooled",
                ERROR_RATE,
                "mlasr_cer_pooled",
                "CER pooled",
                description="multilingual ASR: character errors of every language over all their reference "
                "characters (ML-SUPERB's scoring, test)",
            ),
            MetricSpec(
                "wer",
                ERROR_RATE,
                description="multilingual ASR: word error rate, macro average over languages written with spaces",
            ),
            *_language_metrics(),
        ),
        benchmark=BENCHMARK,
    )

    def load(self, data_root: Path, fold: str | None, config: Any) -> TaskData:
        fleurs = load_fleurs(data_root, config)
        texts: dict[str, list[str]] = {}
        kept: dict[str, list[FleursUtterance]] = {}
        for split, utterances in fleurs.splits.items():
            if split != "test":  # asr.sh filters train and dev only ("to keep original data" of the test sets)
                utterances = within_durations(
                    utterances, config.data.get("min_seconds"), config.data.get("max_seconds")
                )
            normalised = [normalise(u.transcription, u.language) for u in utterances]
            pairs = [(u, text) for u, text in zip(utterances, normalised) if split == "test" or text]
            kept[split], texts[split] = [u for u, _ in pairs], [text for _, text in pairs]
        characters = sorted({char for text in texts["train"] for char in text if char != " "})
        vocabulary = SPECIALS + [WORD_BOUNDARY] + [char for char in characters if char != WORD_BOUNDARY]
        index = {symbol: i for i, symbol in enumerate(vocabulary)}
        splits = {}
        for split, utterances in kept.items():
            splits[split] = [
                Utterance(
                    u.uid, u.path, tuple(index.get(char, UNK) for char in text.replace(" ", WORD_BOUNDARY)), text=text
                )
                for u, text in zip(utterances, texts[split])
            ]
        return TaskData(self.corpus, data_root, splits, [vocabulary], metadata_files=fleurs.tsv_files)

    def checkpoint_rules(self, config: Any) -> list[CheckpointRule]:
        """The average of the 5 evaluations with the lowest dev loss (ESPnet's ``valid.loss.ave_5best.pth``)."""
        return [CheckpointRule("best", "loss", False, average_best=AVERAGED_CHECKPOINTS)]

    def build_model(self, num_layers: int, hidden_size: int, data: TaskData, config: Any) -> FrameCTCModel:
        head = config.head
        model_head = TransformerCTCHead(
            hidden_size,
            len(data.label_names[0]),
            int(head.preencoder_dim),
            int(head.d_model),
            int(head.attention_heads),
            int(head.linear_units),
            int(head.num_blocks),
            float(head.dropout),
            head.get("conv_channels"),
        )
        specaug = ESPnetSpecAug() if config.get("specaug", False) else None
        return FrameCTCModel(WeightedSumFeaturizer(num_layers), model_head, specaug)

    def train_batches(self, utterances: list[Utterance], config: Any) -> list[list[int]] | None:
        """ESPnet's sorted batches (`data.bucketing`, on in the recipe's ``batch_type: sorted``); None: plain
        shuffling."""
        if not config.data.get("bucketing", False):
            return None
        return sorted_batches([num_samples(u) for u in utterances], int(config.batch_size))

    def loss(self, outputs: tuple[Tensor, Tensor], labels: tuple[Tensor, Tensor], data: TaskData) -> Tensor:
        return espnet_ctc_loss(*outputs, *labels, blank=BLANK)

    def score_split(
        self,
        model: nn.Module,
        data: TaskData,
        source: FeatureSource,
        split: str,
        batch_size: int,
        output_dir: Path | None = None,
    ) -> SplitScore:
        """The metrics of a split, and on dev `loss` (ESPnet's ``valid.loss``: the reporter weights each batch's loss,
        summed utterance losses over the batch size, by the batch size, which makes it the mean utterance loss).
        Final scoring (``output_dir`` given) decodes with the recipe's prefix search, evaluations during training
        best-path."""
        utterances = data.splits[split]
        predictions: list[list[int]] = []
        total_loss = 0.0
        for indices, (logits, lengths) in eval_batches(model, source, split, range(len(utterances)), batch_size):
            targets, target_lengths = self.collate_labels([utterances[i] for i in indices])
            total_loss += float(
                utterance_ctc_losses(
                    logits, lengths, targets.to(logits.device), target_lengths.to(logits.device), BLANK
                ).sum()
            )
            if output_dir is None:
                predictions.extend(greedy_decode(logits, lengths))
            else:
                predictions.extend(ctc_prefix_search_batch(logits, lengths, BLANK, EOS))
        metrics = self.metrics(predictions, utterances, data)
        if split == "dev":
            metrics["loss"] = total_loss / len(utterances) if utterances else float("nan")
        items = self.item_table(predictions, utterances, data) if output_dir is not None else None
        return SplitScore(metrics, self.prediction_lines(predictions, utterances, data), items)

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
        every_hypothesis = [h for hypotheses, _ in pairs.values() for h in hypotheses]
        every_reference = [r for _, references in pairs.values() for r in references]
        scores["cer_pooled"] = (
            error_rate(every_hypothesis, every_reference, "char") if every_reference else float("nan")
        )
        if wers:
            scores["wer"] = statistics.fmean(wers)
        return scores

    def item_table(self, predictions: list, utterances: Sequence[Utterance], data: TaskData) -> ItemTable:
        """Per utterance: its language, character edits and reference characters (and words where the language
        spaces them). Each language's CER is the ratio of its rows' sums, ``cer`` and ``cer_sd`` the mean and spread
        of those, ``cer_pooled`` the ratio over every row."""
        languages = [language_of(u.uid) for u in utterances]
        hypotheses = [self.hypothesis(p, u, data) for p, u in zip(predictions, utterances)]
        references = [self.reference(u, data) for u in utterances]
        char_counts = edit_counts_per_pair(hypotheses, references, "char") if utterances else []
        word_counts = [
            edit_counts_per_pair([h], [r], "word")[0] if has_word_boundaries(language) else (0, 0)
            for h, r, language in zip(hypotheses, references, languages)
        ]
        columns = {
            "language": languages,
            "char_edits": [edits for edits, _ in char_counts],
            "ref_chars": [total for _, total in char_counts],
            "word_edits": [edits for edits, _ in word_counts],
            "ref_words": [total for _, total in word_counts],
        }
        statistics = {
            "cer": Statistic("mean_of_ratios", "char_edits", "ref_chars", group="language"),
            "cer_sd": Statistic("sd_of_ratios", "char_edits", "ref_chars", group="language"),
            "cer_pooled": ratio("char_edits", "ref_chars"),
        }
        for language in dict.fromkeys(languages):
            statistics[cer_key(language)] = ratio("char_edits", "ref_chars", group="language", where=language)
            if has_word_boundaries(language):
                statistics[wer_key(language)] = ratio("word_edits", "ref_words", group="language", where=language)
        return ItemTable(self.name, "utterance", [u.uid for u in utterances], columns, statistics)

    def prediction_lines(self, predictions: list, utterances: Sequence[Utterance], data: TaskData) -> list[str]:
        return [
            f"{u.uid}\t{self.hypothesis(p, u, data)}\t{self.reference(u, data)}"
            for p, u in zip(predictions, utterances)
        ]

    def metric_spec(self, name: str) -> MetricSpec:
        """Declared metrics, and the CER/WER of any configured language (only the default languages have columns)."""
        declared = self.metadata.metric_spec(name)
        return declared if declared is not None else MetricSpec(name, ERROR_RATE)

    def chance(self, data: TaskData) -> ChanceLevel:
        """Decoding nothing: every error rate 100%, in every language (the spread then is 0, which is no result)."""
        languages = list(dict.fromkeys(language_of(u.uid) for u in data.splits["test"]))
        metrics = {"cer": 1.0, "cer_pooled": 1.0, **{cer_key(language): 1.0 for language in languages}}
        spaced = [language for language in languages if has_word_boundaries(language)]
        if spaced:
            metrics.update({"wer": 1.0, **{wer_key(language): 1.0 for language in spaced}})
        return ChanceLevel(metrics, "decoding nothing")
