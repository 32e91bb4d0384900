"""What an answer that ignores the audio scores, and whether a result beats it.

A head that learned nothing still produces a number: a CTC head stuck in its blank phase decodes nothing (WER 100%), a
classifier that always answers the most frequent label gets that label's share. Such a number looks like a result
and enters the Overall Score. Every task therefore states its **chance level**, the best score an audio-blind answer
reaches on the same test split, and result records carry it, so `bench run` and `bench report` can refuse to show a
cell that does not beat it.

The rule (:func:`beats_chance`): a value beats chance when it is better than the chance level by more than a margin:

- for an accuracy with ``n`` test items, the one-sided 95% binomial margin ``1.645 * sqrt(p (1 - p) / n)`` around the
  majority-label accuracy ``p`` (a classifier guessing in proportion to the labels stays below it 95% of the time);
- for every other metric, :data:`FIXED_MARGIN` (5 points of an error rate or F1, 0.05 MTWV). For MTWV this is above
  the 99th percentile of 500 random scorers on superb-mini's QbE trials (0.042).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass
from typing import Sequence

#: Margin for metrics that are not accuracies over counted items (fractions: 0.05 = 5 points).
FIXED_MARGIN = 0.05
#: z of a one-sided 95% normal interval.
Z_ONE_SIDED_95 = 1.645

#: Audio-blind answers that do not depend on the data: decoding nothing (every error rate 100%, slot F1 0), scoring
#: every trial alike (EER 50%), answering "no" to every query (MTWV 0).
DATA_INDEPENDENT: dict[str, tuple[float, str]] = {
    "per": (1.0, "decoding nothing"),
    "wer": (1.0, "decoding nothing"),
    "cer": (1.0, "decoding nothing"),
    "slot_type_f1": (0.0, "decoding nothing"),
    "slot_value_cer": (1.0, "decoding nothing"),
    "slot_value_wer": (1.0, "decoding nothing"),
    "eer": (0.5, "the same score for every trial"),
    "mtwv": (0.0, "no detection"),
}


def metric_higher_is_better(name: str) -> bool:
    """The direction the tasks' metadata declares for a metric; a metric no task declares counts as an error rate."""
    from downstream_tasks import all_metadata  # the registry imports the tasks, which import this module

    return any(metric.name == name and metric.higher_is_better for metadata in all_metadata() for metric in metadata.metrics)


@dataclass(frozen=True)
class ChanceLevel:
    """The best audio-blind score of each metric on a test split.

    ``n_items`` counts what an accuracy is averaged over (test utterances); None where the binomial margin does not
    apply."""

    metrics: dict[str, float]
    basis: str
    n_items: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)

    def margin_for(self, metric: str) -> float:
        """How far beyond this chance level a value of ``metric`` must be."""
        return margin(self.metrics[metric], self.n_items, is_accuracy=metric == "acc")

    def beaten_by(self, metric: str, value: float) -> bool:
        """True when ``value`` of ``metric`` beats this chance level by more than the margin (see the module docstring)."""
        return beats_chance(value, self.metrics[metric], metric_higher_is_better(metric), self.n_items,
                            is_accuracy=metric == "acc")

    @classmethod
    def from_dict(cls, content: dict) -> "ChanceLevel":
        return cls({str(k): float(v) for k, v in content["metrics"].items()}, str(content["basis"]),
                   None if content.get("n_items") is None else int(content["n_items"]))


def data_independent(metric_names: Sequence[str]) -> ChanceLevel:
    """The chance level of metrics whose audio-blind value does not depend on the data."""
    known = {name: DATA_INDEPENDENT[name] for name in metric_names if name in DATA_INDEPENDENT}
    bases = sorted({basis for _, basis in known.values()})
    return ChanceLevel({name: value for name, (value, _) in known.items()}, "; ".join(bases))


def combine(levels: Sequence[ChanceLevel]) -> ChanceLevel:
    """Folds (ER's five sessions): the mean chance level, the items summed, as fold metrics are averaged."""
    if len(levels) == 1:
        return levels[0]
    names = [name for name in levels[0].metrics if all(name in level.metrics for level in levels)]
    counts = [level.n_items for level in levels]
    return ChanceLevel({name: statistics.fmean(level.metrics[name] for level in levels) for name in names},
                       levels[0].basis + f" (mean over {len(levels)} folds)",
                       None if any(count is None for count in counts) else sum(counts))  # type: ignore[arg-type]


def margin(chance_value: float, n_items: int | None, is_accuracy: bool) -> float:
    """How far beyond the chance level a value must be (see the module docstring)."""
    if is_accuracy and n_items:
        return Z_ONE_SIDED_95 * math.sqrt(max(chance_value * (1 - chance_value), 0.0) / n_items)
    return FIXED_MARGIN


def beats_chance(value: float, chance_value: float, higher_is_better: bool, n_items: int | None = None,
                 is_accuracy: bool = False) -> bool:
    """True when ``value`` is better than ``chance_value`` by more than :func:`margin`."""
    if math.isnan(value):
        return False
    needed = margin(chance_value, n_items, is_accuracy)
    return value > chance_value + needed if higher_is_better else value < chance_value - needed
