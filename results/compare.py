"""`bench compare A B`: is upstream A better than upstream B, task by task, on the same test items?

For every task both upstreams have a record for, the two runs' per-item test outputs are resampled *jointly* (the same
items, speakers, recordings or queries for both), which cancels what the items share (a hard utterance is hard for
both) out of the difference. Per task: the difference A − B of the cell's metric, its 95 % percentile interval, a
two-sided paired-bootstrap p-value (results.bootstrap.paired_bootstrap), Holm–Bonferroni over the tasks compared, and
for accuracies with one seed McNemar's exact/chi-square test as a classical cross-check. The two runs must have scored
the same items: otherwise the comparison stops at the first item that differs.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from benchcore.errors import BenchError
from results import bootstrap
from results.columns import Column, all_columns
from results.intervals import (
    CONFIDENCE,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    EerInputs,
    MtwvInputs,
    NoInterval,
    RatioInputs,
    mtwv_from_curves,
    mtwv_resamples,
    resampling_inputs,
    unit_tables,
)
from results.records import RecordSet, ResultRecord

ALPHA = 0.05


@dataclass(frozen=True)
class TaskComparison:
    """One column compared: values in table units (%, raw MTWV), the difference A − B with its interval, p-values."""

    column: Column
    value_a: float
    value_b: float
    difference: float
    interval: tuple[float, float]
    p_value: float
    p_holm: float
    p_mcnemar: float | None
    resampled: str  # "48 utterances", "4 speakers", ...
    n_resamples: int

    @property
    def verdict(self) -> str:
        """Which upstream is better at the 5 % level after Holm's correction, or that the gap is not significant."""
        if self.p_holm >= ALPHA:
            return "no significant difference"
        a_better = (self.difference > 0) == self.column.higher_is_better
        return "A better" if a_better else "B better"


@dataclass(frozen=True)
class Comparison:
    upstream_a: str
    upstream_b: str
    rows: list[TaskComparison]
    skipped: list[tuple[str, str]]  # (column title, why)


def _record_pairs(record_set: RecordSet, a: str, b: str) -> dict[str, tuple[ResultRecord, ResultRecord]]:
    by_key = {(record.upstream_name, record.task): record for record in record_set.records}
    names = sorted({record.upstream_name for record in record_set.records})
    for name in (a, b):
        if name not in names:
            raise BenchError(f"no records of upstream '{name}' under --runs; upstreams there: {', '.join(names)}")
    common = {task for upstream, task in by_key if upstream == a} & {task for upstream, task in by_key if upstream == b}
    tasks = [task for task in dict.fromkeys(column.task for column in all_columns()) if task in common]
    if not tasks:
        raise BenchError(f"'{a}' and '{b}' have no task in common under --runs; nothing to compare")
    return {task: (by_key[(a, task)], by_key[(b, task)]) for task in tasks}


def _same_items(task_title: str, tables_a: list, tables_b: list, a: str, b: str) -> None:
    """Refuse, naming the first differing item, when the two runs did not score the same items in the same order."""
    for fold_a, fold_b in zip(tables_a[0], tables_b[0]):
        for index, (item_a, item_b) in enumerate(zip(fold_a.ids, fold_b.ids)):
            if item_a != item_b:
                raise BenchError(
                    f"{task_title}: '{a}' and '{b}' did not score the same test items (item {index + 1}: '{item_a}' "
                    f"vs '{item_b}'); run both on the same --data-root and configuration"
                )
        if len(fold_a.ids) != len(fold_b.ids):
            raise BenchError(
                f"{task_title}: '{a}' scored {len(fold_a.ids)} test items, '{b}' {len(fold_b.ids)} (the first missing "
                f"one: '{(fold_a.ids + fold_b.ids)[min(len(fold_a.ids), len(fold_b.ids))]}'); run both on the same "
                "--data-root and configuration"
            )
    if len(tables_a[0]) != len(tables_b[0]):
        raise BenchError(f"{task_title}: '{a}' and '{b}' have different numbers of folds")


def _paired(inputs_a, inputs_b, n_resamples: int, seed: int) -> bootstrap.PairedBootstrap | str:
    if isinstance(inputs_a, RatioInputs) and isinstance(inputs_b, RatioInputs):
        if inputs_a.select != inputs_b.select or inputs_a.strata_reduce != inputs_b.strata_reduce:
            return "the two records reduce their columns differently"
        arrays = [inputs_a.num, inputs_a.den, inputs_b.num, inputs_b.den]
        groups = [inputs_a.groups, inputs_b.groups]
        if inputs_a.select == "mean" and inputs_a.num.ndim != inputs_b.num.ndim:  # one seed against several seeds
            arrays = [array[:, None] if array.ndim == 1 else array for array in arrays]
        elif groups[0] is not None or groups[1] is not None:  # SD: one seed's grid is one group of columns
            groups = [g if g is not None else np.zeros(a.shape[1], dtype=int) for g, a in zip(groups, arrays[::2])]
        return bootstrap.paired_bootstrap(
            *arrays,
            strata_reduce=inputs_a.strata_reduce,
            groups_a=groups[0],
            groups_b=groups[1],
            seed=seed,
            select=inputs_a.select,  # type: ignore[arg-type]
            strata=inputs_a.strata,
            n_resamples=n_resamples,
            confidence=CONFIDENCE,
        )
    if isinstance(inputs_a, EerInputs) and isinstance(inputs_b, EerInputs):
        if not np.array_equal(inputs_a.labels, inputs_b.labels):
            return "the two runs' trial labels differ"
        if inputs_a.scores.ndim == 2 or inputs_b.scores.ndim == 2:  # several seeds: the mean EER on shared resamples
            if inputs_a.blocks is None:
                return "several seeds' EERs are compared over speaker blocks only"
            sets_a, sets_b = np.atleast_2d(inputs_a.scores), np.atleast_2d(inputs_b.scores)
            resampled = bootstrap.blocked_eer_resamples(
                [*sets_a, *sets_b], inputs_a.labels, seed=seed, blocks=inputs_a.blocks, n_resamples=n_resamples
            )
            samples = np.mean(resampled[: len(sets_a)], axis=0) - np.mean(resampled[len(sets_a) :], axis=0)
            full = [
                float(np.mean([bootstrap.weighted_equal_error_rate(scores, inputs_a.labels) for scores in sets]))
                for sets in (sets_a, sets_b)
            ]
            return bootstrap.paired_result(full[0] - full[1], samples, n_resamples, CONFIDENCE)
        return bootstrap.paired_bootstrap_eer(
            inputs_a.scores,
            inputs_b.scores,
            inputs_a.labels,
            seed=seed,
            blocks=inputs_a.blocks,
            n_resamples=n_resamples,
            confidence=CONFIDENCE,
        )
    if isinstance(inputs_a, MtwvInputs) and isinstance(inputs_b, MtwvInputs):
        values_a, values_b = mtwv_resamples([inputs_a.curves, inputs_b.curves], n_resamples, seed)
        difference = mtwv_from_curves(inputs_a.curves) - mtwv_from_curves(inputs_b.curves)
        return bootstrap.paired_result(difference, values_a - values_b, n_resamples, CONFIDENCE)
    return "the two records resample different statistics"


def _mcnemar(statistic_name: str, tables_a: list, tables_b: list) -> float | None:
    """McNemar's p for an accuracy with one seed and one fold (each item right or wrong for each system)."""
    if len(tables_a) != 1 or len(tables_b) != 1 or len(tables_a[0]) != 1 or len(tables_b[0]) != 1:
        return None
    table_a, table_b = tables_a[0][0], tables_b[0][0]
    statistic = table_a.statistics.get(statistic_name)
    if statistic is None or statistic.kind != "ratio" or statistic.numerator != "correct":
        return None
    return bootstrap.mcnemar_p_value(table_a.columns["correct"], table_b.columns["correct"])


def paired_column_test(
    record_a: ResultRecord,
    record_b: ResultRecord,
    column: Column,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> bootstrap.PairedBootstrap | str:
    """The paired bootstrap of one column between two records of its task (differences in the record's units,
    fractions), or why it cannot be run. Refuses (BenchError) when the two runs scored different items."""
    tested = _column_test(record_a, record_b, column, n_resamples, seed)
    return tested if isinstance(tested, str) else tested[0]


def _column_test(
    record_a: ResultRecord, record_b: ResultRecord, column: Column, n_resamples: int, seed: int
) -> tuple[bootstrap.PairedBootstrap, str] | str:
    """:func:`paired_column_test` and what was resampled ("192 utterances")."""
    tables_a, tables_b = unit_tables(record_a), unit_tables(record_b)
    for tables, record in ((tables_a, record_a), (tables_b, record_b)):
        if isinstance(tables, NoInterval):
            return f"{record.upstream_name}: {tables}"
    _same_items(record_a.task_title, tables_a, tables_b, record_a.upstream_name, record_b.upstream_name)
    statistic_a = tables_a[0][0].statistics.get(column.metric)
    statistic_b = tables_b[0][0].statistics.get(column.metric)
    if statistic_a is None or statistic_b is None:
        return f"{column.metric} has no per-item statistic"
    inputs_a, inputs_b = resampling_inputs(tables_a, statistic_a), resampling_inputs(tables_b, statistic_b)
    for inputs in (inputs_a, inputs_b):
        if isinstance(inputs, NoInterval):
            return str(inputs)
    try:
        paired = _paired(inputs_a, inputs_b, n_resamples, seed)
    except ValueError as error:  # the statistic undefined on every resample (too few items or blocks)
        return str(error)
    return paired if isinstance(paired, str) else (paired, f"{inputs_a.n_units} {inputs_a.units}")


def compare(
    record_set: RecordSet,
    upstream_a: str,
    upstream_b: str,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = DEFAULT_SEED,
) -> Comparison:
    """Every report column of the tasks both upstreams ran, compared on identical test items."""
    pairs = _record_pairs(record_set, upstream_a, upstream_b)
    measured: list[tuple[Column, float, float, bootstrap.PairedBootstrap, float | None, str]] = []
    skipped: list[tuple[str, str]] = []
    for task, (record_a, record_b) in pairs.items():
        for column in (column for column in all_columns() if column.task == task):
            if column.metric not in record_a.metrics or column.metric not in record_b.metrics:
                continue
            tested = _column_test(record_a, record_b, column, n_resamples, seed)
            if isinstance(tested, str):
                skipped.append((column.title, tested))
                continue
            paired, resampled = tested
            mcnemar = _mcnemar(column.metric, unit_tables(record_a), unit_tables(record_b))
            measured.append(
                (column, record_a.metrics[column.metric], record_b.metrics[column.metric], paired, mcnemar, resampled)
            )
    holm = bootstrap.holm_bonferroni([paired.p_value for _, _, _, paired, _, _ in measured])
    rows = [
        TaskComparison(
            column,
            column.display(value_a),
            column.display(value_b),
            column.display(paired.difference),
            (column.display(paired.interval[0]), column.display(paired.interval[1])),
            paired.p_value,
            p_holm,
            p_mcnemar,
            resampled,
            paired.n_resamples,
        )
        for (column, value_a, value_b, paired, p_mcnemar, resampled), p_holm in zip(measured, holm)
    ]
    return Comparison(upstream_a, upstream_b, rows, skipped)


def _p(value: float | None, n_resamples: int) -> str:
    if value is None:
        return "–"
    if value == 0.0:
        return f"< {1 / n_resamples:.0e}"
    return f"{value:.4f}" if value >= 0.0001 else f"{value:.1e}"


def comparison_markdown(comparison: Comparison) -> str:
    """The comparison as a Markdown table, then the skipped columns and how to read it."""
    lines = [
        f"A = {comparison.upstream_a}, B = {comparison.upstream_b}",
        "",
        "| column | A | B | A − B | 95% interval | p | p (Holm) | McNemar p | resampled | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in comparison.rows:
        fmt = row.column.format
        lines.append(
            f"| {row.column.title} {row.column.arrow} | {fmt(row.value_a)} | {fmt(row.value_b)} | "
            f"{fmt(row.difference)} | [{fmt(row.interval[0])}, {fmt(row.interval[1])}] | "
            f"{_p(row.p_value, row.n_resamples)} | {_p(row.p_holm, row.n_resamples)} | "
            f"{_p(row.p_mcnemar, row.n_resamples)} | {row.resampled} | {row.verdict} |"
        )
    for title, reason in comparison.skipped:
        lines.append(f"\nnot compared: {title}: {reason}")
    lines.append(
        "\nPaired bootstrap: the test items are resampled jointly for A and B; p is two-sided, Holm-corrected over "
        f"the {len(comparison.rows)} columns compared; a verdict needs p (Holm) < {ALPHA}."
    )
    return "\n".join(lines)


def comparison_csv(comparison: Comparison) -> str:
    import pandas

    frame = pandas.DataFrame(
        [
            {
                "upstream_a": comparison.upstream_a,
                "upstream_b": comparison.upstream_b,
                "column": row.column.key,
                "unit": row.column.unit,
                "higher_is_better": row.column.higher_is_better,
                "a": row.value_a,
                "b": row.value_b,
                "difference": row.difference,
                "ci_low": row.interval[0],
                "ci_high": row.interval[1],
                "p_bootstrap": row.p_value,
                "p_holm": row.p_holm,
                "p_mcnemar": row.p_mcnemar,
                "resampled": row.resampled,
                "n_resamples": row.n_resamples,
                "verdict": row.verdict,
            }
            for row in comparison.rows
        ]
    )
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False, float_format="%.6g", lineterminator="\n")
    return buffer.getvalue()


def compare_formats(spec: str) -> Sequence[str]:
    formats = [part.strip() for part in spec.split(",") if part.strip()]
    unknown = [part for part in formats if part not in ("md", "csv")]
    if unknown or not formats:
        raise BenchError(f"--format: unknown format(s) {', '.join(unknown) or '(none)'}; choose from md,csv")
    return formats
