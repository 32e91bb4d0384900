"""What the report shows beside a non-SUPERB benchmark's table: the confusion matrix of every run of a task that
records one (`confusion/<true>/<predicted>` metrics: MLID's languages), and the per-language numbers behind the
FLEURS columns. Markdown and HTML here; the figure is in :mod:`results.plots`."""

from __future__ import annotations

import html
from dataclasses import dataclass

from downstream_tasks.mlid import confusion_matrix
from results.columns import task_order, task_titles
from results.leaderboard import Leaderboard, Row


@dataclass(frozen=True)
class Confusion:
    """One run's confusion matrix: rows are the true classes, each row's fractions sum to 1 (means over seeds)."""

    row: Row
    task: str
    classes: list[str]
    matrix: list[list[float]]
    n_seeds: int

    def accuracy(self, index: int) -> float:
        return self.matrix[index][index]


def confusions(board: Leaderboard, benchmark: str) -> list[Confusion]:
    """Every run of ``benchmark``'s tasks whose record holds a confusion matrix and whose cells are shown (a run at
    chance is left out, unless `--show-unlearned`), in table order."""
    from results.tables import table_rows

    found = []
    for row in table_rows(board, benchmark):
        for task in task_order(benchmark):
            record = row.records.get(task)
            if record is None or all(cell.value is None for cell in row.cells.values() if cell.column.task == task):
                continue  # no record, or its cells are left out (not learned)
            classes, matrix = confusion_matrix(record.metrics)
            if classes:
                found.append(Confusion(row, task, classes, matrix, len(record.seeds)))
    return found


def _title(confusion: Confusion) -> str:
    seeds = f", mean over {confusion.n_seeds} seeds" if confusion.n_seeds > 1 else ""
    return (
        f"{task_titles()[confusion.task]} confusion, {confusion.row.label} (test, % of each true class; "
        f"rows: true, columns: predicted{seeds})"
    )


def markdown_sections(board: Leaderboard, benchmark: str) -> list[str]:
    parts = []
    for confusion in confusions(board, benchmark):
        header = ["true \\ predicted", *confusion.classes, "accuracy"]
        lines = ["| " + " | ".join(header) + " |", "|:---|" + "---:|" * (len(header) - 1)]
        for index, (name, values) in enumerate(zip(confusion.classes, confusion.matrix)):
            cells = [
                f"**{100 * value:.1f}**" if column == index else f"{100 * value:.1f}"
                for column, value in enumerate(values)
            ]
            lines.append("| " + " | ".join([name, *cells, f"{100 * confusion.accuracy(index):.1f}"]) + " |")
        parts += [f"### {_title(confusion)}\n", "\n".join(lines), ""]
    return parts


def html_sections(board: Leaderboard, benchmark: str) -> str:
    parts = []
    for confusion in confusions(board, benchmark):
        head = "".join(
            f"<th>{html.escape(name)}</th>" for name in ["true \\ predicted", *confusion.classes, "accuracy"]
        )
        body = []
        for index, (name, values) in enumerate(zip(confusion.classes, confusion.matrix)):
            cells = "".join(
                f'<td class="num{" best" if column == index else ""}">{100 * value:.1f}</td>'
                for column, value in enumerate(values)
            )
            body.append(
                f'<tr><td class="label">{html.escape(name)}</td>{cells}'
                f'<td class="num">{100 * confusion.accuracy(index):.1f}</td></tr>'
            )
        parts.append(
            f"<h3>{html.escape(_title(confusion))}</h3><table><thead><tr>{head}</tr></thead><tbody>"
            + "".join(body)
            + "</tbody></table>"
        )
    return "\n".join(parts)
