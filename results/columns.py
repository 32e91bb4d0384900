"""The leaderboard's metric columns, derived from the tasks' metadata: the model card's SUPERB table in its order,
then the columns of tasks outside SUPERB (which never enter its scores).

Records store every metric as a fraction (0.9529 = 95.29%). The table shows error rates and accuracies in %
and QbE as the raw MTWV with four decimals, as the card does (its 0.0354 is an MTWV, not a percentage).
"""

from __future__ import annotations

from dataclasses import dataclass

from downstream_tasks.metadata import SUPERB


@dataclass(frozen=True)
class Column:
    """One metric column: where its value comes from in a record and how it is shown."""

    key: str  # stable id used in data files, CSV headers and `--explain`
    title: str  # the card's header
    task: str  # task name in result records
    metric: str  # metric name in the record's `metrics`
    higher_is_better: bool
    unit: str  # "%" or "MTWV"
    scale: float  # record fraction -> display unit
    decimals: int
    description: str
    benchmark: str = SUPERB

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"

    @property
    def is_error_rate(self) -> bool:
        """Error rates enter both scores as 100 - value (the leaderboard's score_normalizer)."""
        return not self.higher_is_better

    def display(self, fraction: float) -> float:
        return fraction * self.scale

    def format(self, value: float) -> str:
        return f"{value:.{self.decimals}f}"


def all_columns(benchmark: str | None = None) -> tuple[Column, ...]:
    """Every metric column of the registered tasks (of one benchmark), in registry order: the card's for SUPERB."""
    from downstream_tasks import all_metadata

    return tuple(
        Column(
            metric.column,
            metric.column_title or metadata.title,
            metadata.name,
            metric.name,
            metric.higher_is_better,
            metric.unit,
            metric.scale,
            metric.decimals,
            metric.description,
            metadata.benchmark,
        )
        for metadata in all_metadata()
        if benchmark is None or metadata.benchmark == benchmark
        for metric in metadata.metrics
        if metric.column is not None
    )


def superb_columns() -> tuple[Column, ...]:
    """The model card's eleven columns, the ones the Overall Score and SUPERB_s are computed from."""
    return all_columns(SUPERB)


def column_by_key() -> dict[str, Column]:
    return {column.key: column for column in all_columns()}


def task_order(benchmark: str | None = None) -> tuple[str, ...]:
    """The tasks that have a column, in column order."""
    return tuple(dict.fromkeys(column.task for column in all_columns(benchmark)))


def task_titles() -> dict[str, str]:
    from downstream_tasks import all_metadata

    return {metadata.name: metadata.title for metadata in all_metadata()}


def columns_of_task(task: str) -> list[Column]:
    return [column for column in all_columns() if column.task == task]


def find_column(name: str) -> Column | None:
    """A column by key (`sf_f1`), title (`SF F1`) or a task with one column (`ks`), case-insensitively."""
    wanted = name.strip().lower().replace("-", "_").replace(" ", "_")
    for column in all_columns():
        if wanted in (column.key, column.title.lower().replace(" ", "_")):
            return column
    matches = [column for column in all_columns() if column.task == wanted]
    return matches[0] if len(matches) == 1 else None


def help_names() -> str:
    """The names `--explain` accepts for COLUMN, for the CLI's help: column keys and tasks with several columns."""
    several = [task for task in task_order() if len(columns_of_task(task)) > 1]
    return ", ".join([column.key for column in all_columns()] + several)
