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
    "fleurs": BenchmarkInfo("fleurs", "Multilingual (FLEURS)", (
        "FLEURS tasks beyond SUPERB's English: LID is language identification (SUPERB's utterance head, accuracy over "
        "the languages), MLASR multilingual character CTC with one vocabulary for every language (ML-SUPERB's "
        "Transformer head). Both train on a fixed budget per language, ML-SUPERB's 1 hour by default "
        "(data.train_hours_per_language), and enter neither the Overall Score nor SUPERB_s.",
        "CER avg: the mean of the per-language CERs; CER SD: their population standard deviation across languages "
        "(ML-SUPERB 2.0 reports that spread); CER pooled: every language's character errors over all their reference "
        "characters (ML-SUPERB's sclite scoring). Text is normalised as ML-SUPERB does (lower case, no punctuation; no "
        "spaces in Chinese, Japanese and Thai, which are scored by CER only).",
        "No published reference rows: ML-SUPERB and ML-SUPERB 2.0 publish numbers on their own mixtures of corpora "
        "and languages, not on FLEURS alone with these languages and heads, so none is comparable; every row here is "
        "a run of this harness.",
    )),
}


def benchmark_info(name: str) -> BenchmarkInfo:
    return BENCHMARKS.get(name, BenchmarkInfo(name, name))


@dataclass(frozen=True)
class MetricSpec:
    """One metric a task reports (a fraction in records), and the report column that shows it, if any."""

    name: str                    # key in the record's ``metrics``
    higher_is_better: bool
    column: str | None = None    # report column key (``sf_f1``); None: recorded, no column (ASR's CER)
    column_title: str = ""       # the column's header (the model card's), default the task's title
    unit: str = "%"              # "%" (shown x100) or a raw unit such as "MTWV"
    decimals: int = 2
    description: str = ""        # one line for `--explain` and the HTML page

    @property
    def scale(self) -> float:
        """Record fraction -> display unit."""
        return 100.0 if self.unit == "%" else 1.0


@dataclass(frozen=True)
class TaskMetadata:
    """A task's identity. ``metrics[0]`` is the metric the learning rate is selected and the task ranked on."""

    name: str                    # the CLI and record name (``pr``)
    title: str                   # the table's header (``PR``)
    corpus: str                  # the corpus id the cache keys on (``librispeech``; SID and ASV share ``voxceleb1``)
    head_input: str              # what the head reads: "pooled" per-layer time-means (exact cache) or "frames"
    metrics: tuple[MetricSpec, ...]
    benchmark: str = SUPERB      # which table and scores the task belongs to
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

    @property
    def secondary_metrics(self) -> tuple[str, ...]:
        """The other metrics; their chance levels are recorded too."""
        return tuple(metric.name for metric in self.metrics[1:])

    @property
    def in_superb_scores(self) -> bool:
        return self.benchmark == SUPERB
