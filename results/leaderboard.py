"""The leaderboard: one row per upstream (our runs, then published reference rows), the card's columns, both scores,
best values, and numbered footnotes. Every renderer (Markdown, CSV, LaTeX, HTML, plots, `--explain`) reads this."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from benchcore.errors import BenchError
from downstream_tasks.metadata import SUPERB
from results.columns import Column, all_columns, column_by_key, columns_of_task, task_titles
from results.intervals import DEFAULT_RESAMPLES, DEFAULT_SEED, Interval, NoInterval, cell_interval, record_resamples
from results.records import RecordSet, ResultRecord
from results.references import ReferencePoints, ReferenceRow, Source, load_reference_points, load_reference_rows
from results.scores import Score, card_overall_score, normalised_task_scores, superb_score

MISSING = "–"
#: The Params and MACs/s columns (last, so the card's columns keep their order), and their note under the table.
COST_HEADERS = ("Params", "MACs/s")
COST_NOTE = (
    "Params: the upstream's parameters. MACs/s: multiply-accumulates per second of 16 kHz audio over SUPERB's short "
    "profiling bucket (eight LibriSpeech test-clean utterances of 1.3-3.4 s, 21.1 s in all, each encoded alone), the "
    "one length at which SUPERB's challenge published MACs; ours are counted with torch's FlopCounterMode "
    "(upstream.cost; records also hold 2, 5, 10 and 20 s inputs, where attention makes longer inputs cost more per "
    "second), published ones come from the SUPERB leaderboard data (sources below). –: none published."
)
DEV_SELECTED_SUFFIX = "_dev_selected"
#: The opt-in approximations of the recipes' random crops a record's `config.data.crop_mode` may name (bench/crops.py;
#: the recipe's own mode, "waveform", encodes each crop alone and needs no note), and what each one does instead.
APPROXIMATE_CROPS = {
    "block_mean": "a random block-aligned window of the whole utterance's cached block means",
    "frames": "a random window of the whole utterance's encoded frames",
}


@dataclass
class Cell:
    column: Column
    value: float | None = None  # table units (%, raw MTWV); the mean over seeds for runs
    std: float | None = None  # over seeds, table units; None when there is one seed or for references
    n_seeds: int = 0
    record: ResultRecord | None = None
    source: Source | None = None  # reference rows
    notes: list[int] = field(default_factory=list)
    best: bool = False
    #: Why a run's value is left out although its record has one (it does not beat the audio-blind answer).
    withheld: str | None = None
    #: The 95 % bootstrap interval of a run's value (fractions, results.intervals), or why it has none; None for
    #: reference rows (published values come without per-item outputs) and with ``--bootstrap 0``.
    interval: Interval | NoInterval | None = None
    #: The tie test against the column's best measured row (results.compare): its p-value, or why none was run
    tie: str | None = None

    def interval_bounds(self) -> tuple[float, float] | None:
        """The interval in table units (%, raw MTWV), when there is one."""
        if not isinstance(self.interval, Interval):
            return None
        return self.column.display(self.interval.low), self.column.display(self.interval.high)

    def interval_text(self) -> str:
        bounds = self.interval_bounds()
        if bounds is None:
            return ""
        return f"[{self.column.format(bounds[0])}, {self.column.format(bounds[1])}]"

    def text(self) -> str:
        if self.value is None:
            return MISSING
        if self.std is not None and self.n_seeds > 1:
            return f"{self.column.format(self.value)} ± {self.column.format(self.std)}"
        return self.column.format(self.value)


@dataclass
class ScoreCell:
    score: Score
    decimals: int
    notes: list[int] = field(default_factory=list)
    best: bool = False
    #: 95 % interval of a measured row's score, every entering task's items resampled (results.intervals), or why not
    interval: tuple[float, float] | NoInterval | None = None

    def interval_text(self) -> str:
        if not isinstance(self.interval, tuple):
            return ""
        return f"[{self.interval[0]:.{self.decimals}f}, {self.interval[1]:.{self.decimals}f}]"

    def text(self) -> str:
        return MISSING if self.score.value is None else f"{self.score.value:.{self.decimals}f}"


@dataclass
class Row:
    id: str
    label: str
    kind: Literal["run", "reference"]
    cells: dict[str, Cell]
    overall: ScoreCell
    superb_s: ScoreCell
    task_scores: dict[str, float]  # normalised per-task scores behind SUPERB_s
    reference: ReferenceRow | None = None
    records: dict[str, ResultRecord] = field(default_factory=dict)  # task -> record (runs)
    label_notes: list[int] = field(default_factory=list)

    def values(self) -> dict[str, float]:
        return {key: cell.value for key, cell in self.cells.items() if cell.value is not None}

    def source_title(self) -> str:
        return self.reference.source.title.split(",")[0] if self.reference is not None else "this harness"

    @property
    def cost(self) -> dict[str, Any]:
        """A run's upstream cost as its records state it (upstream.cost; the first record that has one)."""
        for record in self.records.values():
            if record.cost.get("parameters") is not None:
                return record.cost
        return {}

    @property
    def params(self) -> float | None:
        """The Params column: the upstream's parameters (published ones for a reference row), None if unknown."""
        if self.reference is not None:
            return self.reference.params
        value = self.cost.get("parameters")
        return None if value is None else float(value)

    @property
    def macs_per_second(self) -> float | None:
        """The MACs column: MACs per second of audio over SUPERB's short profiling bucket, None if unknown."""
        if self.reference is not None:
            return self.reference.macs_per_second
        value = self.cost.get("superb_short_macs_per_second")
        return None if value is None else float(value)

    def cost_texts(self) -> tuple[str, str]:
        """(Params, MACs/s) as the tables print them: '94.70M', '7.07 G', '–' where unknown."""
        from upstream.cost import format_macs, format_parameters

        return format_parameters(self.params), format_macs(self.macs_per_second)


@dataclass
class Leaderboard:
    rows: list[Row]
    footnotes: list[str]  # footnote n is footnotes[n - 1]
    general_notes: list[str]
    points: ReferencePoints
    record_set: RecordSet | None
    bootstrap: int = DEFAULT_RESAMPLES  # resamples behind intervals and tie tests (0: none)

    def row(self, name: str) -> Row:
        """A row by id (`fbank`, `card:meralion2`) or label, case-insensitively."""
        wanted = name.strip().lower()
        for attribute in ("id", "label"):
            matches = [row for row in self.rows if getattr(row, attribute).lower() == wanted]
            if len(matches) == 1:
                return matches[0]
        raise BenchError(f"no row '{name}' in the leaderboard; rows: {', '.join(row.id for row in self.rows)}")


class _Footnotes:
    def __init__(self) -> None:
        self.texts: list[str] = []

    def add(self, text: str) -> int:
        if text not in self.texts:
            self.texts.append(text)
        return self.texts.index(text) + 1


def _run_row(
    name: str,
    records: dict[str, ResultRecord],
    points: ReferencePoints,
    notes: _Footnotes,
    show_unlearned: bool = False,
    bootstrap: int = DEFAULT_RESAMPLES,
) -> Row:
    cells = {}
    for column in all_columns():
        record = records.get(column.task)
        cell = Cell(column)
        if record is not None and not math.isnan(record.metrics.get(column.metric, math.nan)):
            _check_direction(column, record)
            cell.value = column.display(record.metrics[column.metric])
            std = record.metrics_std.get(column.metric)
            cell.std = None if std is None else column.display(std)
            cell.n_seeds = len(record.seeds)
            cell.record = record
            if bootstrap > 0:
                cell.interval = cell_interval(record, column.metric, bootstrap)
            missing = record.dataset.get("missing")
            if missing:
                shown = ", ".join(missing["files"][:3]) + (", ..." if missing["count"] > 3 else "")
                cell.notes.append(
                    notes.add(
                        f"{task_titles()[column.task]} of {name}: run without {missing['count']} file(s) that the "
                        f"dataset's metadata names but the disk lacked (data.allow_missing=true): {shown}. The splits "
                        f"differ from the official ones; the record's dataset.missing lists every file."
                    )
                )
            for warning in record.dataset.get("size_warnings", []):
                cell.notes.append(notes.add(f"{name}: {warning} (size check on real data)."))
            crop_note = _approximate_crop_note(column, record, name)
            if crop_note is not None:
                cell.notes.append(notes.add(crop_note))
            unlearned = _not_learned(column, record)
            if unlearned is not None and show_unlearned:
                subject, reason, _ = unlearned
                counted = " and counted in the row's scores" if column.benchmark == SUPERB else ""
                cell.notes.append(
                    notes.add(f"{subject} of {name}: {reason}; shown because of --show-unlearned{counted}.")
                )
            elif unlearned is not None:
                subject, reason, explained = unlearned
                cell.value, cell.std = None, None
                omitted = "; the row's scores omit it" if column.benchmark == SUPERB else ""
                cell.withheld = (
                    f"{subject} of {name} left out: {reason}, so the head learned nothing "
                    f"measurable{omitted} (`bench report --show-unlearned` shows it, "
                    f"`--explain {name} {explained}` shows the record)."
                )
                cell.notes.append(notes.add(cell.withheld))
                cells[column.key] = cell
                continue
            alternative = record.metrics.get(column.metric + DEV_SELECTED_SUFFIX)
            if alternative is not None:
                cell.notes.append(
                    notes.add(
                        f"{task_titles()[column.task]} of {name}: the SUPERB protocol's value, selected on test as the "
                        f"s3prl recipe does; with the selection made on dev instead it is "
                        f"{column.format(column.display(alternative))} ({column.metric}{DEV_SELECTED_SUFFIX}). "
                        f"`bench report --explain {name} {column.key}` shows both."
                    )
                )
            elif record.selected_on_test and column.metric == record.metric.name:
                cell.notes.append(
                    notes.add(
                        f"{task_titles()[column.task]} of {name}: the SUPERB protocol's value, selected on test as the "
                        f"s3prl recipe does; this configuration has no dev split, so there is no dev-selected value."
                    )
                )
        cells[column.key] = cell
    return _finish_row(Row(name, name, "run", cells, None, None, {}, records=records), points)  # type: ignore[arg-type]


def _score_intervals(row: Row, points: ReferencePoints, bootstrap: int) -> None:
    """Both scores of a measured row, recomputed on each resample: every task's items resampled (a task's columns
    jointly, different tasks independently: they are different test sets), each score's rule applied per resample."""
    import zlib

    import numpy as np

    from results.bootstrap import percentile_interval
    from results.scores import CARD_OVERALL_POINTS, SUPERB_S_TASKS, card_points, normalised_metric

    keys = [key for key in CARD_OVERALL_POINTS if row.cells[key].value is not None]
    if not keys:
        return
    arrays: dict[str, np.ndarray] = {}
    by_task: dict[str, list[Column]] = defaultdict(list)
    for key in keys:
        by_task[row.cells[key].column.task].append(row.cells[key].column)
    for task, columns in by_task.items():
        record = row.cells[columns[0].key].record
        seed = DEFAULT_SEED + zlib.crc32(task.encode())  # independent draws per task
        resampled = record_resamples(record, [column.metric for column in columns], bootstrap, seed)
        if isinstance(resampled, NoInterval):
            reason = NoInterval(f"{task_titles()[task]}: {resampled}")
            row.overall.interval = row.superb_s.interval = reason
            return
        for column in columns:
            arrays[column.key] = column.display(resampled[column.metric])
    overall = np.mean([card_points(key, arrays[key]) for key in keys], axis=0)
    per_task = [
        np.mean([normalised_metric(key, arrays[key], points) for key in task_keys if key in arrays], axis=0)
        for task_keys in SUPERB_S_TASKS.values()
        if any(key in arrays for key in task_keys)
    ]
    try:
        row.overall.interval = percentile_interval(overall)
        row.superb_s.interval = percentile_interval(np.mean(per_task, axis=0))
    except ValueError as error:  # a task's statistic undefined on every resample
        row.overall.interval = row.superb_s.interval = NoInterval(str(error))


def _check_direction(column: Column, record: ResultRecord) -> None:
    """A column ranks by the direction its records state (schema 2: every metric's kind; older records: the ranked
    metric's). A record that states the other direction was written under another definition of the metric: it cannot
    share a column with records ranked the declared way, so the report stops."""
    recorded = record.higher_is_better(column.metric)
    if recorded is None or recorded == column.higher_is_better:
        return

    def way(higher: bool) -> str:
        return "higher is better" if higher else "lower is better"

    raise BenchError(
        f"{record.path or record.task}: records {column.metric} as {way(recorded)}, but this harness declares "
        f"{way(column.higher_is_better)} for the {column.title} column; the record was written under another "
        f"definition of the metric: run `bench run --task {record.task} --force` again, or move the record out of "
        "--runs"
    )


def _approximate_crop_note(column: Column, record: ResultRecord, name: str) -> str | None:
    """The footnote of a run whose random crops were approximated (``data.crop_mode`` other than ``waveform``)."""
    mode = (record.config.get("data") or {}).get("crop_mode")
    if mode not in APPROXIMATE_CROPS:
        return None
    return (
        f"{task_titles()[column.task]} of {name}: random crops approximated (data.crop_mode={mode}): each is "
        f"{APPROXIMATE_CROPS[mode]}, not the crop's audio encoded alone as in the s3prl recipe, so the encoder saw "
        f"the whole utterance as context; benchmarks/crop_deviation.py measures the difference."
    )


def _not_learned(column: Column, record: ResultRecord) -> tuple[str, str, str] | None:
    """(what is left out, why, the column `--explain` shows) when a value does not beat the audio-blind answer of its
    record's test split, else None. When the task's primary metric is at chance the task learned nothing, and every
    column of a task with several is left out with one reason: also a metric without an audio-blind value of its own
    (MLASR's spread of CERs across languages, 0 when nothing is decoded, would look like the best spread)."""
    level = record.chance
    if level is None:
        return None
    columns = columns_of_task(column.task)
    primary = record.metric.name
    if len(columns) > 1 and primary in level.metrics and not level.beaten_by(primary, float(record.metrics[primary])):
        shown = next((c for c in columns if c.metric == primary), column)
        reason = _chance_reason(shown, primary, record)
        return f"Every {task_titles()[column.task]} column", f"its {primary} {reason}", shown.key
    if column.metric not in level.metrics or level.beaten_by(column.metric, float(record.metrics[column.metric])):
        return None
    return column.title, _chance_reason(column, column.metric, record), column.key


def _chance_reason(column: Column, metric: str, record: ResultRecord) -> str:
    level = record.chance
    assert level is not None
    value, chance, needed = float(record.metrics[metric]), level.metrics[metric], level.margin_for(metric)
    return (
        f"{column.format(column.display(value))} does not beat the audio-blind answer ({level.basis}: "
        f"{column.format(column.display(chance))}) by more than {column.format(column.display(needed))}"
    )


def _reference_row(reference: ReferenceRow, points: ReferencePoints) -> Row:
    cells = {
        column.key: Cell(
            column,
            reference.values.get(column.key),
            None,
            0,
            None,
            reference.source_of(column.key) if column.key in reference.values else None,
        )
        for column in all_columns()
    }
    return _finish_row(
        Row(
            reference.id,
            reference.label,
            "reference",
            cells,
            None,
            None,
            {},  # type: ignore[arg-type]
            reference=reference,
        ),
        points,
    )


def _finish_row(row: Row, points: ReferencePoints) -> Row:
    values = row.values()
    row.overall = ScoreCell(card_overall_score(values), 2)
    row.superb_s = ScoreCell(superb_score(values, points), 1)
    row.task_scores = normalised_task_scores(values, points)
    return row


def is_smoke_test(row: Row) -> bool:
    """A run on superb-mini or with the `mini` profile's short schedules: a smoke test, not a comparable result."""
    return row.kind == "run" and any(
        record.on_superb_mini or record.profile == "mini" for record in row.records.values()
    )


def comparable_groups(rows: list[Row]) -> list[list[Row]]:
    """Rows compete for bold only with comparable rows: published rows and real-data runs together, smoke-test runs
    (superb-mini, `mini` profile) among themselves, so a superb-mini cell never takes a published row's bold."""
    groups = [[row for row in rows if not is_smoke_test(row)], [row for row in rows if is_smoke_test(row)]]
    return [group for group in groups if group]


def _mark_best(rows: list[Row], bootstrap: int = DEFAULT_RESAMPLES) -> None:
    for group in comparable_groups(rows):
        _mark_best_among(group, bootstrap)


def _mark_best_among(rows: list[Row], bootstrap: int = DEFAULT_RESAMPLES) -> None:
    for column in all_columns():
        shown = {
            row.id: column.format(row.cells[column.key].value)
            for row in rows
            if row.cells[column.key].value is not None
        }
        if len(shown) < 2:
            continue
        pick = max if column.higher_is_better else min
        best = pick(float(text) for text in shown.values())
        leaders = [row for row in rows if row.id in shown and float(shown[row.id]) == best]
        for row in leaders:
            row.cells[column.key].best = True
        if bootstrap > 0:
            _mark_ties(column, leaders, [row for row in rows if row.id in shown and row not in leaders], bootstrap)
    for attribute in ("overall", "superb_s"):
        complete = [
            getattr(row, attribute)
            for row in rows
            if getattr(row, attribute).score.value is not None and not getattr(row, attribute).score.missing
        ]
        if len(complete) < 2:
            continue
        best = max(float(cell.text()) for cell in complete)
        for cell in complete:
            cell.best = float(cell.text()) == best


def _mark_ties(column: Column, leaders: list[Row], others: list[Row], bootstrap: int) -> None:
    """Measured rows not significantly worse than the column's best measured row join its bold (a tie group): a
    paired bootstrap on the same test items, Holm-corrected over the rows tested in the column, 5 % two-sided. A row
    that cannot be tested against the best (no per-item outputs, other items) keeps a plain cell."""
    from results.bootstrap import holm_bonferroni
    from results.compare import ALPHA, paired_column_test

    best = next((row for row in leaders if row.cells[column.key].record is not None), None)
    if best is None:
        return
    tested: list[tuple[Row, float]] = []
    for row in others:
        cell = row.cells[column.key]
        if cell.record is None or cell.withheld is not None:
            continue
        try:
            paired = paired_column_test(best.cells[column.key].record, cell.record, column, bootstrap)
        except BenchError as error:  # the two runs scored different items: not comparable, no tie
            cell.tie = f"not tested against {best.label}: {error}"
            continue
        if isinstance(paired, str):
            cell.tie = f"not tested against {best.label}: {paired}"
            continue
        tested.append((row, paired.p_value))
    for (row, _), p_holm in zip(tested, holm_bonferroni([p for _, p in tested])):
        cell = row.cells[column.key]
        cell.tie = f"p = {p_holm:.4f} against {best.label} (paired bootstrap, Holm over {len(tested)} row(s))"
        if p_holm >= ALPHA:
            cell.best = True


def _reference_notes(rows: list[Row], notes: _Footnotes, all_references: Iterable[ReferenceRow]) -> None:
    """Footnote every shown value on which two sources' rows of the same model disagree (the other row need not be
    shown), and every printed card score that the row's own numbers do not give."""
    by_model: dict[str, list[ReferenceRow]] = defaultdict(list)
    for reference in all_references:
        by_model[reference.model].append(reference)
    for row in rows:
        reference = row.reference
        if reference is None:
            continue
        for other in by_model[reference.model]:
            if other.id == reference.id:
                continue
            columns = column_by_key()
            differing = [
                key
                for key in columns
                if key in reference.values and key in other.values and reference.values[key] != other.values[key]
            ]
            if not differing:
                continue
            first, second = sorted((reference, other), key=lambda item: item.id)
            detail = "; ".join(
                f"{columns[key].title} {columns[key].format(first.values[key])} vs "
                f"{columns[key].format(second.values[key])}"
                for key in differing
            )
            number = notes.add(
                f"Sources disagree for {reference.model}: {first.label} ({first.source.title.split(',')[0]})"
                f" and {second.label} ({second.source.title.split(',')[0]}) give {detail}. Both rows are "
                "kept as data, each with its own source (`--references " + reference.model + "` shows both)."
            )
            for key in differing:
                row.cells[key].notes.append(number)
        printed = reference.printed_overall_score
        if printed is None or row.overall.score.value is None or f"{row.overall.score.value:.2f}" == f"{printed:.2f}":
            continue
        text = (
            f"{row.label}: the card prints an Overall Score of {printed:.2f}; the row's own numbers give "
            f"{row.overall.score.value:.4f}."
        )
        for other in by_model[reference.model]:
            if other.id == reference.id:
                continue
            substituted = dict(row.values())
            substituted.update({key: value for key, value in other.values.items() if key in substituted})
            alternative = card_overall_score(substituted).value
            if alternative is not None and f"{alternative:.2f}" == f"{printed:.2f}":
                text += (
                    f" With {other.label}'s values where the two differ it is {alternative:.4f}, the printed "
                    "number: the card computed its score from those."
                )
        row.overall.notes.append(notes.add(text))


def build_leaderboard(
    record_set: RecordSet | None,
    references: Iterable[ReferenceRow],
    points: ReferencePoints | None = None,
    all_references: Iterable[ReferenceRow] | None = None,
    show_unlearned: bool = False,
    bootstrap: int = DEFAULT_RESAMPLES,
) -> Leaderboard:
    """Rows for the records (one per upstream) then the chosen reference rows. ``bootstrap``: resamples behind each
    run cell's 95 % interval (results.intervals; 0: none). ``all_references`` (default: the data
    file's rows) are consulted for footnotes about sources that disagree, shown or not. A run value that does not beat
    its record's chance level is left out of the row (footnoted) unless ``show_unlearned``."""
    points = points or load_reference_points()
    notes = _Footnotes()
    by_upstream: dict[str, dict[str, ResultRecord]] = defaultdict(dict)
    for record in record_set.records if record_set else []:
        by_upstream[record.upstream_name][record.task] = record
    rows = [_run_row(name, by_upstream[name], points, notes, show_unlearned, bootstrap) for name in sorted(by_upstream)]
    if bootstrap > 0:
        for row in rows:
            _score_intervals(row, points, bootstrap)
    rows += [_reference_row(reference, points) for reference in references]

    for row in rows:
        if is_smoke_test(row):
            row.label_notes.append(
                notes.add(
                    "Measured on superb-mini (synthetic, generated here) and/or with the `mini` profile's short "
                    "schedules: a smoke test of the harness, not comparable with the published rows. Its SUPERB_s "
                    "still normalises against the real-data FBANK and topline points."
                )
            )
    for row in rows:
        for attribute in ("overall", "superb_s"):
            cell: ScoreCell = getattr(row, attribute)
            if cell.score.partial:
                cell.notes.append(
                    notes.add(
                        "Partial score: the mean over only the columns (Overall) or tasks (SUPERB_s) the row has; "
                        "missing cells (–) are left out, so it is not comparable with complete rows. The official "
                        "leaderboard shows no SUPERB_s for a row that misses a task. "
                        "`bench report --explain ROW overall|superb_s` lists what entered."
                    )
                )
    _reference_notes(rows, notes, load_reference_rows() if all_references is None else all_references)
    _mark_best(rows, bootstrap)
    if record_set is not None:
        for older, newer in record_set.superseded:
            rows_by_id = {row.id: row for row in rows}
            row = rows_by_id[newer.upstream_name]
            column_keys = [column.key for column in all_columns() if column.task == newer.task]
            number = notes.add(
                f"{newer.upstream_name} {task_titles().get(newer.task, newer.task)}: two records; the newer "
                f"{newer.path} is shown, {older.path} ({older.created}) is left out."
            )
            for key in column_keys:
                row.cells[key].notes.append(number)

    general = [
        "Columns follow the MERaLiON-SpeechEncoder-2 model card: ↓ lower is better, ↑ higher is better. Error rates "
        "and accuracies are in %, QbE is the maximum term-weighted value (MTWV) as the card prints it.",
        "Overall Score (card): the model card's rule, the plain mean of the 11 numbers with error rates as 100 − value "
        "and QbE as MTWV × 100 (SF counts twice: F1 and CER).",
        f"SUPERB_s: the official SUPERB score: each metric scaled linearly from the FBANK baseline (0) to the SUPERB "
        f"paper's best upstream (1000), averaged within a task (SF: F1 and CER), then over tasks. Reference points: "
        f"{points.source}.",
        "Bold: the best value of each column among comparable rows shown (scores: among those with every column): "
        "published rows and real-data runs compete with each other, superb-mini runs only among themselves. A "
        "measured row is bold too when it is not significantly worse than the column's best row, where that row is "
        "a measured one (a tie group: paired bootstrap on the same test items, Holm over the rows of the column, "
        "5 %). Published rows come without per-item outputs: they get no interval and no tie test.",
        "Cells with ± are the mean ± standard deviation over seeds (how much the head's training varies). The 95 % "
        "interval of each measured cell (leaderboard.csv, cells.csv, the HTML tooltip, --explain) is another "
        "quantity: the test set's sampling error, a bootstrap over its items around the seeds' mean. A "
        "learning-rate sweep shows the point selected on dev; the provenance table gives seeds, learning rate and "
        "record of every cell.",
        "– : no result for that task, or a run result that does not beat its audio-blind answer (footnoted).",
        COST_NOTE,
    ]
    return Leaderboard(rows, notes.texts, general, points, record_set, bootstrap)
