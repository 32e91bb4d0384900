"""`bench report --explain ROW COLUMN`: everything behind one cell of the leaderboard."""

from __future__ import annotations

import json

from benchcore.errors import BenchError
from downstream_tasks.metadata import SUPERB
from results.columns import Column, columns_of_task, find_column, help_names, superb_columns, task_order, task_titles
from results.intervals import Interval
from results.leaderboard import Cell, Leaderboard, Row
from results.records import ResultRecord
from results.scores import OVERALL_LABEL, SUPERB_S_LABEL, card_points, normalised_metric

SCORE_COLUMNS = {
    "overall": "overall",
    "overall_score": "overall",
    "card": "overall",
    "superb_s": "superb_s",
    "superbs": "superb_s",
    "superb": "superb_s",
}


def explain(board: Leaderboard, row_name: str, column_name: str) -> str:
    row = board.row(row_name)
    wanted = column_name.strip().lower().replace(" ", "_")
    if wanted in SCORE_COLUMNS:
        return _explain_score(board, row, SCORE_COLUMNS[wanted])
    column = find_column(column_name)
    columns = [column] if column else columns_of_task(wanted)
    if not columns:
        names = ", ".join([help_names(), "overall", "superb_s"])
        raise BenchError(f"no column '{column_name}'; columns: {names}")
    return "\n\n".join(_explain_metric(board, row, column) for column in columns)


def _notes(board: Leaderboard, numbers: list[int]) -> list[str]:
    return [f"  note {number}: {board.footnotes[number - 1]}" for number in sorted(set(numbers))]


def _explain_metric(board: Leaderboard, row: Row, column: Column) -> str:
    cell = row.cells[column.key]
    lines = [
        f"{row.label} / {column.title}{column.arrow} ({column.unit}): {cell.text()}",
        f"  column: {column.description}; record metric '{column.metric}' of task '{column.task}'",
    ]
    if cell.withheld is not None and cell.record is not None:
        lines.append("  left out: it does not beat the audio-blind answer (see the note); the record says:")
        lines += _record_lines(cell.record, column)
        lines += _interval_lines(cell)
    elif cell.value is None:
        lines.append(
            "  no value: "
            + (
                "no record for this task was found under --runs"
                if row.kind == "run"
                else "the reference source gives none"
            )
        )
    elif row.reference is not None:
        source = row.reference.source_of(column.key)
        lines += [f"  published value: {column.format(cell.value)} {column.unit}", f"  source: {source.cite()}"]
        if source.note:
            lines.append(f"  source note: {source.note}")
    elif cell.record is not None:
        lines += _record_lines(cell.record, column)
        lines += _interval_lines(cell)
        if cell.tie is not None:
            lines.append(f"  tie with the column's best: {cell.tie}" + (" -> bold" if cell.best else ""))
    lines += _notes(board, cell.notes)
    return "\n".join(lines)


def _interval_lines(cell: Cell) -> list[str]:
    if isinstance(cell.interval, Interval):
        line = f"  95% interval: {cell.interval_text()} ({cell.interval.describe()}"
        if cell.n_seeds > 1:
            line += "; resampling the test items for every seed at once, around the seeds' mean: the test set's "
            line += "sampling error, where ± is the seeds' spread, the head training's"
        return [line + ")"]
    if cell.interval is not None:
        return [f"  95% interval: none ({cell.interval})"]
    return []


def _record_lines(record: ResultRecord, column: Column) -> list[str]:
    fmt = lambda fraction: column.format(column.display(fraction))  # noqa: E731
    lines = [
        f"  record: {record.path}",
        f"  created: {record.created}; profile: {record.profile}",
        f"  upstream: {record.upstream.get('name')} (source {record.upstream.get('source')}, "
        f"{record.upstream.get('num_hidden_states')} hidden states x {record.upstream.get('hidden_size')}, "
        f"weights {record.upstream.get('weights_hash')})",
        f"  seeds: {', '.join(map(str, record.seeds))} -> mean {fmt(record.metrics[column.metric])}"
        + (
            f" ± {fmt(record.metrics_std[column.metric])} (sample std)"
            if len(record.seeds) > 1 and column.metric in record.metrics_std
            else ""
        ),
    ]
    for entry in record.per_seed:
        if column.metric in entry:
            line = f"    seed {entry.get('seed')}: {fmt(entry[column.metric])}"
            folds = entry.get("per_fold") or {}
            if folds:
                line += (
                    "  (folds: "
                    + ", ".join(
                        f"{name} {fmt(metrics[column.metric])}"
                        for name, metrics in folds.items()
                        if column.metric in metrics
                    )
                    + ")"
                )
            lines.append(line)
    lines.append(f"  learning rate: {record.selected_lr_note()}")
    for point in record.lr_sweep or []:
        dev = {key: value for key, value in point.items() if key != "learning_rate"}
        chosen = "  <- selected on dev" if point["learning_rate"] == record.learning_rate else ""
        lines.append(
            f"    lr {point['learning_rate']:.0e}: "
            + ", ".join(f"{key} {value:.4f}" for key, value in dev.items())
            + chosen
        )
    others = {
        name: value
        for name, value in record.metrics.items()
        if name != column.metric and not name.startswith("confusion/")
    }
    if others:
        lines.append(
            "  other metrics in the record: "
            + ", ".join(f"{name} {value:.4f}" for name, value in others.items())
            + " (fractions)"
        )
    confusion = [name for name in record.metrics if name.startswith("confusion/")]
    if confusion:
        lines.append(
            f"  and a confusion matrix ({len(confusion)} confusion/<true>/<predicted> fractions; the report "
            "prints it under its table)"
        )
    lines.append(f"  units ({len(record.units)}):")
    for unit in record.units:
        behind = "" if not record.lr_sweep or unit.get("learning_rate") == record.learning_rate else "  (sweep only)"
        lines.append(
            f"    {unit.get('unit_id')}  fold {unit.get('fold')}  seed {unit.get('seed')}  "
            f"lr {unit.get('learning_rate'):g}  {record.directory / str(unit.get('path'))}{behind}"
        )
    dataset = record.dataset
    lines.append(
        f"  dataset: root {dataset.get('root')}, {dataset.get('num_files')} files, files sha256 "
        f"{dataset.get('files_sha256')}, superb-mini manifest {dataset.get('manifest_checksum')}"
    )
    versions = record.versions or {}
    if versions:
        lines.append("  versions: " + ", ".join(f"{key} {value}" for key, value in versions.items()))
    if record.device:
        lines.append(f"  device: {record.device}")
    config = record.config
    keys = ("total_steps", "batch_size", "gradient_accumulate_steps", "eval_step")
    lines.append(
        "  config: " + json.dumps({key: config[key] for key in keys if key in config}) + " (full config in the record)"
    )
    return lines


def _score_interval_line(cell) -> list[str]:
    if isinstance(cell.interval, tuple):
        return [
            f"  95% interval: {cell.interval_text()} (every entering task's test items resampled and the score "
            "recomputed on each resample)"
        ]
    if cell.interval is not None:
        return [f"  95% interval: none ({cell.interval})"]
    return []


def _explain_score(board: Leaderboard, row: Row, which: str) -> str:
    values = row.values()
    if which == "overall":
        cell = row.overall
        lines = [
            f"{row.label} / {OVERALL_LABEL}: {cell.text()}",
            *_score_interval_line(cell),
            "  rule: mean of the card's 11 numbers, error rates as 100 - value, QbE as MTWV x 100",
        ]
        for column in superb_columns():
            if column.key in values:
                lines.append(
                    f"    {column.title:<7} {column.format(values[column.key]):>8} -> "
                    f"{card_points(column.key, values[column.key]):.4f}"
                )
            else:
                lines.append(f"    {column.title:<7} {'–':>8}    left out (no value)")
    else:
        cell = row.superb_s
        lines = [
            f"{row.label} / {SUPERB_S_LABEL}: {cell.text()}",
            *_score_interval_line(cell),
            "  rule: q = 1000 (s' - s'_FBANK) / (s'_top - s'_FBANK), s' = 100 - s for error rates; "
            "mean of q within a task, then over tasks",
            f"  reference points: {board.points.source}",
        ]
        for task in task_order(SUPERB):
            title, parts = task_titles()[task], []
            for column in columns_of_task(task):
                point = board.points.points[column.key]
                if column.key in values:
                    parts.append(
                        f"{column.title} {column.format(values[column.key])} (FBANK {point.baseline:g}, top "
                        f"{point.topline:g} {point.topline_model}) -> "
                        f"{normalised_metric(column.key, values[column.key], board.points):.1f}"
                    )
            if parts:
                lines.append(f"    {title:<4} {row.task_scores[task]:8.1f} = mean of " + "; ".join(parts))
            else:
                lines.append(f"    {title:<4} {'–':>8}   left out (no value)")
    lines += _notes(board, cell.notes)
    return "\n".join(lines)
