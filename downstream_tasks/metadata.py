"""What a task *is*, declared once per task: the frozen :class:`TaskMetadata` a task class carries as ``metadata``.

Everything else that names tasks or metrics is derived from it: the task's own class attributes (``name``, ``metric``,
``higher_is_better``, ...), the registry, `bench run --help`, the report's columns and titles, and the metric
directions the chance levels use. Shaped after MTEB's ``TaskMetadata`` and lm-evaluation-harness's ``metric_list``
(``higher_is_better`` beside each metric).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: The benchmark whose ten tasks the Overall Score and SUPERB_s cover; tasks of any other benchmark get report columns
#: of their own but never enter those scores.
SUPERB = "superb"
HEAD_INPUTS = ("pooled", "frames")


@dataclass(frozen=True)
class BenchmarkInfo:
    """How the report presents a benchmark's tasks: its table's title and the notes under it."""

    name: str
    title: str
    notes: tuple[str, ...] = ()


#: Benchmarks with a title of their own; any other benchmark a task names gets a table titled by its name.
BENCHMARKS: dict[str, BenchmarkInfo] = {
    SUPERB: BenchmarkInfo(SUPERB, "SUPERB"),
    "fleurs": BenchmarkInfo(
        "fleurs",
        "Multilingual (FLEURS)",
        (
            "FLEURS tasks beyond SUPERB's English: LID is language identification (SUPERB's utterance head, accuracy "
            "over the languages), MLASR multilingual character CTC with one vocabulary for every language (ML-SUPERB's "
            "Transformer head). Both train on a fixed budget per language, ML-SUPERB's 1 hour by default "
            "(data.train_hours_per_language), and enter neither the Overall Score nor SUPERB_s.",
            "CER avg: the mean of the per-language CERs; CER SD: their population standard deviation across languages "
            "(ML-SUPERB 2.0 reports that spread); CER pooled: every language's character errors over all their "
            "reference characters (ML-SUPERB's sclite scoring). Text is normalised as ML-SUPERB does (lower case, no "
            "punctuation; no spaces in Chinese, Japanese and Thai, which are scored by CER only).",
            "No published reference rows: ML-SUPERB and ML-SUPERB 2.0 publish numbers on their own mixtures of corpora "
            "and languages, not on FLEURS alone with these languages and heads, so none is comparable; every row here "
            "is a run of this harness.",
        ),
    ),
}


def benchmark_info(name: str) -> BenchmarkInfo:
    return BENCHMARKS.get(name, BenchmarkInfo(name, name))


#: Metric kinds. The kind fixes the direction and how a result is told apart from an audio-blind answer: an accuracy
#: over counted items gets the binomial margin, every other kind a fixed one (:mod:`downstream_tasks.chance`).
ACCURACY = "accuracy"  # fraction of test items right (KS, SID, ER, IC, LID)
ERROR_RATE = "error_rate"  # PER, WER, CER, EER, DER, slot-value CER
DETECTION = "detection"  # a detection score where 0 is no detection (QbE's MTWV)
F1 = "f1"  # an F-score (SF's slot-type F1)
KIND_HIGHER_IS_BETTER = {ACCURACY: True, ERROR_RATE: False, DETECTION: True, F1: True}

#: The audio-blind answers that do not depend on the data, as (value, basis).
DECODING_NOTHING_ERRORS = (1.0, "decoding nothing")  # a CTC head in its blank phase: every error rate 100%
DECODING_NOTHING_F1 = (0.0, "decoding nothing")
SAME_SCORE_EVERY_TRIAL = (0.5, "the same score for every trial")  # EER
NO_DETECTION = (0.0, "no detection")  # MTWV of answering "no" to every query


@dataclass(frozen=True)
class MetricSpec:
    """Everything the harness knows about one metric a task reports (a fraction in records), declared once: its kind
    (and so its direction), its audio-blind value when that does not depend on the data (``audio_blind``: (value,
    basis); None where the task computes it from the labels, as a majority class), how it is displayed, and the report
    column that shows it, if any."""

    name: str  # key in the record's ``metrics``
    kind: str  # ACCURACY, ERROR_RATE, DETECTION or F1
    column: str | None = None  # report column key (``sf_f1``); None: recorded, no column (ASR's CER)
    column_title: str = ""  # the column's header (the model card's), default the task's title
    unit: str = "%"  # "%" (shown x100) or a raw unit such as "MTWV"
    decimals: int = 2
    description: str = ""  # one line for `--explain` and the HTML page
    audio_blind: tuple[float, str] | None = None

    def __post_init__(self) -> None:
        if self.kind not in KIND_HIGHER_IS_BETTER:
            raise ValueError(f"metric {self.name}: kind {self.kind!r} is not one of {', '.join(KIND_HIGHER_IS_BETTER)}")

    @property
    def higher_is_better(self) -> bool:
        return KIND_HIGHER_IS_BETTER[self.kind]

    @property
    def scale(self) -> float:
        """Record fraction -> display unit."""
        return 100.0 if self.unit == "%" else 1.0

    @property
    def unit_suffix(self) -> str:
        """What follows a displayed value: "%" for percentages, nothing for a raw unit (the header names it)."""
        return "%" if self.unit == "%" else ""

    def shown(self, fraction: float) -> str:
        """A record's fraction in the display unit, at the declared precision (MTWV: raw, four decimals)."""
        return f"{fraction * self.scale:.{self.decimals}f}"


@dataclass(frozen=True)
class TaskMetadata:
    """A task's identity. ``metrics[0]`` is the metric the learning rate is selected and the task ranked on."""

    name: str  # the CLI and record name (``pr``)
    title: str  # the table's header (``PR``)
    corpus: str  # the corpus id the cache keys on (``librispeech``; SID and ASV share ``voxceleb1``)
    head_input: str  # what the head reads: "pooled" per-layer time-means (exact cache) or "frames"
    metrics: tuple[MetricSpec, ...]
    #: which table the task belongs to, said by every task: ``SUPERB``'s ten make the card's table (the Overall Score
    #: and SUPERB_s list their columns explicitly in ``results.scores``), any other name gets a table of its own
    benchmark: str
    #: the task's YAML; None: ``configs/<name>.yaml`` of the harness (a task defined outside it ships its own)
    config_file: Path | None = None

    def __post_init__(self) -> None:
        if not self.metrics:
            raise ValueError(f"task {self.name}: declare at least one metric")
        if self.head_input not in HEAD_INPUTS:
            raise ValueError(f"task {self.name}: head_input {self.head_input!r} is not one of {', '.join(HEAD_INPUTS)}")
        names = [metric.name for metric in self.metrics]
        if len(set(names)) != len(names):
            raise ValueError(f"task {self.name}: metric names repeat: {names}")

    @property
    def metric(self) -> MetricSpec:
        return self.metrics[0]

    def metric_spec(self, name: str) -> MetricSpec | None:
        """The declared spec of ``name``; None for a metric recorded without a declaration (ASV's
        ``eer_dev_selected``)."""
        return next((metric for metric in self.metrics if metric.name == name), None)

    @property
    def secondary_metrics(self) -> tuple[str, ...]:
        """The other metrics; their chance levels are recorded too."""
        return tuple(metric.name for metric in self.metrics[1:])

    @property
    def in_superb_scores(self) -> bool:
        return self.benchmark == SUPERB
