"""Per-item test outputs: what each scored item contributed to a split's metrics, kept with every unit.

A metric on SUPERB is a function of independent items (utterances, trials, recordings): accuracy is the sum of hits
over the number of utterances, a corpus WER the sum of edits over the sum of reference words, DER the summed error time
over the summed speech time, an EER a function of the trials' scores and labels. An :class:`ItemTable` holds, for each
item, the numbers its metric is computed from, and declares how (:class:`Statistic`), so that

* the metric is recomputed from the file alone, exactly (:func:`recompute`; tests check it equals the recorded value
  for every task), and
* a bootstrap resamples the items and recomputes the statistic without the model or the audio (confidence intervals,
  paired tests between two encoders scored on the same items).

The file is ``<split>_items.tsv`` beside ``<split>_predictions.tsv`` in the unit's directory. Its first line is
``# superb-bench/items <version> <JSON header>`` (task, what an item is, the statistics, the block column if any), the
second the column names, then one row per item in scoring order: ``item`` (its id), then numeric columns and, where
the task has them, text columns (a block id, a language). Values are written with ``repr`` so they read back exactly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchcore.atomic import write_text_atomic
from benchcore.errors import BenchError

ITEMS_SCHEMA = "superb-bench/items"
ITEMS_VERSION = 1

#: statistic kinds: ``ratio`` sum(numerator) / sum(denominator), over the rows whose ``group`` column equals ``where``
#: when given (ML-SUPERB's CER of one language); ``mean_of_ratios`` / ``sd_of_ratios`` the mean / population standard
#: deviation over the groups of a text column of each group's ratio (ML-SUPERB's CER: the mean of the languages' CERs);
#: ``select_ratio`` the lowest (or highest) ratio among candidate column pairs (SD's DER: the best post-processing
#: setting on the same data); ``eer`` the equal error rate of score and label columns (ASV); ``mtwv`` QbE's maximum
#: term-weighted value over query rows whose ``score`` cells hold the query's scores against every document
#: (space-separated, ``nan`` where unreported) and ``label`` cells its occurrences (a string of 0/1).
STATISTIC_KINDS = ("ratio", "mean_of_ratios", "sd_of_ratios", "select_ratio", "eer", "mtwv")


@dataclass(frozen=True)
class Statistic:
    """How one metric is computed from an item table's columns."""

    kind: str
    numerator: str | tuple[str, ...] = ""  # ratio kinds: a column (select_ratio: one per candidate)
    denominator: str | tuple[str, ...] = ""
    group: str = ""  # mean_of_ratios, sd_of_ratios: the text column whose groups are averaged; ratio: see ``where``
    where: str = ""  # ratio with a group: the group value whose rows count
    select: str = "min"  # select_ratio: "min" or "max"
    score: str = ""  # eer
    label: str = ""  # eer: 1 target, 0 non-target

    def __post_init__(self) -> None:
        if self.kind not in STATISTIC_KINDS:
            raise ValueError(f"statistic kind {self.kind!r} is not one of {', '.join(STATISTIC_KINDS)}")

    def columns(self) -> list[str]:
        named = [self.numerator, self.denominator, self.group, self.score, self.label]
        flat = [part for name in named for part in ((name,) if isinstance(name, str) else name)]
        return [name for name in flat if name]

    def to_dict(self) -> dict[str, Any]:
        content: dict[str, Any] = {"kind": self.kind}
        for key in ("numerator", "denominator", "group", "where", "score", "label"):
            value = getattr(self, key)
            if value:
                content[key] = list(value) if isinstance(value, tuple) else value
        if self.kind == "select_ratio":
            content["select"] = self.select
        return content

    @classmethod
    def from_dict(cls, content: Mapping[str, Any]) -> Statistic:
        def name(key: str) -> str | tuple[str, ...]:
            value = content.get(key, "")
            return tuple(value) if isinstance(value, list) else str(value)

        return cls(
            str(content["kind"]),
            numerator=name("numerator"),
            denominator=name("denominator"),
            group=str(content.get("group", "")),
            where=str(content.get("where", "")),
            select=str(content.get("select", "min")),
            score=str(content.get("score", "")),
            label=str(content.get("label", "")),
        )


def ratio(numerator: str, denominator: str, group: str = "", where: str = "") -> Statistic:
    return Statistic("ratio", numerator, denominator, group=group, where=where)


@dataclass
class ItemTable:
    """One split's items: ``item`` ids in scoring order, named columns (numbers, or text for groups and blocks), and the
    statistic of each metric they recompute. ``block`` names a column of ids whose items are not independent (ASV's
    trials of one speaker): a bootstrap resamples those blocks whole."""

    task: str
    item: str  # what one row is: "utterance", "trial", "recording"
    ids: list[str]
    columns: dict[str, list[Any]] = field(default_factory=dict)
    statistics: dict[str, Statistic] = field(default_factory=dict)
    block: str | None = None

    def __post_init__(self) -> None:
        for name, values in self.columns.items():
            if len(values) != len(self.ids):
                raise ValueError(f"column {name} has {len(values)} values for {len(self.ids)} items")
        for metric, statistic in self.statistics.items():
            unknown = [name for name in statistic.columns() if name not in self.columns]
            if unknown:
                raise ValueError(f"statistic of {metric} names unknown column(s) {', '.join(unknown)}")

    def header(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "item": self.item,
            "statistics": {metric: statistic.to_dict() for metric, statistic in self.statistics.items()},
            "block": self.block,
        }


def write_items(path: Path, table: ItemTable) -> None:
    """Write ``table`` to ``path`` atomically (the format in the module docstring)."""
    names = list(table.columns)
    lines = [
        f"# {ITEMS_SCHEMA} {ITEMS_VERSION} {json.dumps(table.header(), sort_keys=True)}",
        "\t".join(["item", *names]),
    ]
    for row, item in enumerate(table.ids):
        lines.append("\t".join([_text(item), *(_cell(table.columns[name][row]) for name in names)]))
    write_text_atomic(path, "\n".join(lines) + "\n")


def read_items(path: Path) -> ItemTable:
    """The table in ``path``; a file in another format or version is a one-line error naming it."""
    try:
        lines = path.read_text(encoding="utf-8").rstrip("\n").split("\n")
    except (OSError, UnicodeDecodeError) as error:
        raise BenchError(f"{path}: not a readable items file ({type(error).__name__}: {error})") from None
    parts = lines[0].split(" ", 3)
    if len(parts) != 4 or parts[:2] != ["#", ITEMS_SCHEMA] or len(lines) < 2:
        raise BenchError(f"{path}: not an items file (first line '# {ITEMS_SCHEMA} <version> <header>' expected)")
    if parts[2] != str(ITEMS_VERSION):
        raise BenchError(f"{path}: items version {parts[2]} is not supported (this harness reads {ITEMS_VERSION})")
    try:
        header = json.loads(parts[3])
    except json.JSONDecodeError as error:
        raise BenchError(f"{path}: the items header is not JSON ({error})") from None
    names_line, rows = lines[1], lines[2:]
    names = names_line.split("\t")[1:]
    ids: list[str] = []
    columns: dict[str, list[Any]] = {name: [] for name in names}
    for line in rows:
        cells = line.split("\t")
        ids.append(cells[0])
        for name, cell in zip(names, cells[1:]):
            columns[name].append(_parse(cell))
    return ItemTable(
        str(header["task"]),
        str(header["item"]),
        ids,
        columns,
        {metric: Statistic.from_dict(content) for metric, content in header["statistics"].items()},
        header.get("block"),
    )


def _text(value: str) -> str:
    if "\t" in value or "\n" in value:
        raise ValueError(f"an item id or text cell cannot hold a tab or a newline: {value!r}")
    return value


def _cell(value: Any) -> str:
    if hasattr(value, "item") and not isinstance(value, str):  # a numpy scalar: its Python value
        value = value.item()
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (int, float)):
        return repr(value)
    return "s:" + _text(str(value))  # text is marked, so "1" as a language name is not read back as a number


def _parse(cell: str) -> Any:
    if cell.startswith("s:"):
        return cell[2:]
    return float(cell) if any(mark in cell for mark in ".eEn") else int(cell)


def _ratio(table: ItemTable, numerator: str, denominator: str, rows: Sequence[int] | None = None) -> float:
    """sum / sum in item order (the order the task summed them in, so the value is the recorded one)."""
    nums, dens = table.columns[numerator], table.columns[denominator]
    indices = range(len(table.ids)) if rows is None else rows
    total = sum(dens[i] for i in indices)
    return sum(nums[i] for i in indices) / total if total else float("nan")


def detection_matrices(table: ItemTable, statistic: Statistic) -> tuple[Any, Any]:
    """An ``mtwv`` statistic's ``(queries, documents)`` scores (``nan``: not reported) and occurrence flags."""
    import numpy as np

    scores = np.array([[float(v) for v in row.split(" ")] for row in table.columns[statistic.score]])
    targets = np.array([[c == "1" for c in row] for row in table.columns[statistic.label]])
    return scores, targets


def _mtwv(table: ItemTable, statistic: Statistic) -> float:
    from downstream_tasks.metrics.detection import term_weighted_value

    return float(term_weighted_value(*detection_matrices(table, statistic))["mtwv"])


def recompute(table: ItemTable) -> dict[str, float]:
    """Every declared metric, from the table alone."""
    import statistics as stats

    values: dict[str, float] = {}
    for metric, statistic in table.statistics.items():
        if statistic.kind == "ratio":
            rows = None
            if statistic.group:
                rows = [row for row, value in enumerate(table.columns[statistic.group]) if value == statistic.where]
            values[metric] = _ratio(table, str(statistic.numerator), str(statistic.denominator), rows)
        elif statistic.kind in ("mean_of_ratios", "sd_of_ratios"):
            groups: dict[Any, list[int]] = {}
            for row, group in enumerate(table.columns[statistic.group]):
                groups.setdefault(group, []).append(row)
            ratios = [
                _ratio(table, str(statistic.numerator), str(statistic.denominator), rows) for rows in groups.values()
            ]
            summary = stats.fmean if statistic.kind == "mean_of_ratios" else stats.pstdev
            values[metric] = summary(ratios) if ratios else float("nan")
        elif statistic.kind == "select_ratio":
            ratios = [_ratio(table, n, d) for n, d in zip(statistic.numerator, statistic.denominator)]
            values[metric] = min(ratios) if statistic.select == "min" else max(ratios)
        elif statistic.kind == "eer":
            from downstream_tasks.metrics.detection import equal_error_rate

            values[metric] = equal_error_rate(table.columns[statistic.label], table.columns[statistic.score])
        else:
            values[metric] = _mtwv(table, statistic)
    return values
