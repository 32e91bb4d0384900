"""What an answer that ignores the audio scores, and whether a result beats it.

A head that learned nothing still produces a number: a CTC head stuck in its blank phase decodes nothing (WER 100%), a
classifier that always answers the most frequent label gets that label's share. Such a number looks like a result
and enters the Overall Score. Every task therefore states its **chance level**, the best score an audio-blind answer
reaches on the same test split, and result records carry it, so `bench run` and `bench report` can refuse to show a
cell that does not beat it.

The rule (:func:`beats_chance`): a value beats chance when it is better than the chance level by more than a margin:

- for an accuracy (a metric of kind ``accuracy``) with ``n`` test items, the one-sided 95% binomial margin
  ``1.645 * sqrt(p (1 - p) / n)`` around the majority-label accuracy ``p`` (a classifier guessing in proportion to the
  labels stays below it 95% of the time);
- for every other metric, :data:`FIXED_MARGIN` (5 points of an error rate or F1, 0.05 MTWV). For MTWV this is above
  the 99th percentile of 500 random scorers on superb-mini's QbE trials (0.042).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace

from downstream_tasks.metadata import ACCURACY, ERROR_RATE, KIND_HIGHER_IS_BETTER, MetricSpec

#: Margin for metrics that are not accuracies over counted items (fractions: 0.05 = 5 points).
FIXED_MARGIN = 0.05
#: z of a one-sided 95% normal interval.
Z_ONE_SIDED_95 = 1.645


@dataclass(frozen=True)
class ChanceLevel:
    """The best audio-blind score of each metric on a test split.

    ``n_items`` counts what an accuracy is averaged over (test utterances); None where the binomial margin does not
    apply. ``kinds`` holds each metric's kind (:mod:`downstream_tasks.metadata`: accuracy, error rate, ...), which
    gives its direction and margin rule; records keep it, so a reader needs no task registry to judge a value."""

    metrics: dict[str, float]
    basis: str
    n_items: int | None = None
    kinds: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)

    def with_kinds(self, kinds: dict[str, str]) -> ChanceLevel:
        return replace(self, kinds={**self.kinds, **kinds})

    def _kind(self, metric: str) -> str:
        if metric not in self.kinds:
            raise KeyError(f"chance level of {metric!r} without its kind (declare it in the task's MetricSpec)")
        return self.kinds[metric]

    def margin_for(self, metric: str) -> float:
        """How far beyond this chance level a value of ``metric`` must be."""
        return margin(self.metrics[metric], self.n_items, is_accuracy=self._kind(metric) == ACCURACY)

    def beaten_by(self, metric: str, value: float) -> bool:
        """True when ``value`` of ``metric`` beats this chance level by more than the margin (see the module
        docstring)."""
        kind = self._kind(metric)
        return beats_chance(
            value, self.metrics[metric], KIND_HIGHER_IS_BETTER[kind], self.n_items, is_accuracy=kind == ACCURACY
        )

    @classmethod
    def from_dict(cls, content: dict) -> ChanceLevel:
        metrics = {str(k): float(v) for k, v in content["metrics"].items()}
        kinds = {str(k): str(v) for k, v in content.get("kinds", {}).items()}
        if set(metrics) - set(kinds):  # a record written before chance levels kept kinds (schema version 1.0)
            kinds = {**_declared_kinds(set(metrics) - set(kinds)), **kinds}
        return cls(
            metrics, str(content["basis"]), None if content.get("n_items") is None else int(content["n_items"]), kinds
        )


def _declared_kinds(names: set[str]) -> dict[str, str]:
    """Kinds of metrics an older record's chance level names, from the tasks' declarations: the one place the registry
    is still asked, for records written before ``kinds`` (an undeclared name was an error rate then, as here)."""
    from downstream_tasks import all_metadata  # the registry imports the tasks, which import this module

    declared = {metric.name: metric.kind for metadata in all_metadata() for metric in metadata.metrics}
    return {name: declared.get(name, ERROR_RATE) for name in names}


def data_independent(specs: Sequence[MetricSpec]) -> ChanceLevel:
    """The chance level of the metrics whose audio-blind value does not depend on the data (their ``audio_blind``)."""
    known = {spec.name: spec for spec in specs if spec.audio_blind is not None}
    bases = sorted({spec.audio_blind[1] for spec in known.values()})
    return ChanceLevel(
        {name: spec.audio_blind[0] for name, spec in known.items()},
        "; ".join(bases),
        kinds={name: spec.kind for name, spec in known.items()},
    )


def combine(levels: Sequence[ChanceLevel]) -> ChanceLevel:
    """Folds (ER's five sessions): the mean chance level, the items summed, as fold metrics are averaged."""
    if len(levels) == 1:
        return levels[0]
    names = [name for name in levels[0].metrics if all(name in level.metrics for level in levels)]
    counts = [level.n_items for level in levels]
    return ChanceLevel(
        {name: statistics.fmean(level.metrics[name] for level in levels) for name in names},
        levels[0].basis + f" (mean over {len(levels)} folds)",
        None if any(count is None for count in counts) else sum(counts),  # type: ignore[arg-type]
        {name: kind for name, kind in levels[0].kinds.items() if name in names},
    )


def margin(chance_value: float, n_items: int | None, is_accuracy: bool) -> float:
    """How far beyond the chance level a value must be (see the module docstring)."""
    if is_accuracy and n_items:
        return Z_ONE_SIDED_95 * math.sqrt(max(chance_value * (1 - chance_value), 0.0) / n_items)
    return FIXED_MARGIN


def beats_chance(
    value: float, chance_value: float, higher_is_better: bool, n_items: int | None = None, is_accuracy: bool = False
) -> bool:
    """True when ``value`` is better than ``chance_value`` by more than :func:`margin`."""
    if math.isnan(value):
        return False
    needed = margin(chance_value, n_items, is_accuracy)
    return value > chance_value + needed if higher_is_better else value < chance_value - needed
