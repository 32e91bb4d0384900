"""95 % confidence intervals for the leaderboard's measured cells, from the units' per-item test outputs.

A cell is a number computed from one test set; the interval says how much it would move on another test set of the
same size. It is a percentile bootstrap (:mod:`results.bootstrap`) over the recipe's independent units, read from each
unit's ``test_items.tsv`` (:mod:`downstream_tasks.items`):

* utterances for accuracies and for corpus error rates recomputed from summed edit counts (Bisani & Ney), within each
  fold for ER (the folds' accuracies are averaged, as the record's value) and within each language for ML-SUPERB's
  mean CER;
* speakers for ASV: the trials of one enrollment speaker share that speaker's embeddings, so they are resampled
  together (a trial-level bootstrap would be too narrow: the trials are not independent);
* recordings for SD, with the lowest DER over the post-processing grid chosen again on every resample;
* queries for QbE (MTWV).

With several seeds the items are resampled once for all seeds and the statistic is the seeds' mean, the value the
cell shows; the seed spread (± std) is a different quantity (how much the head's training varies) and is shown beside
it. Records written before per-item outputs have no interval.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchcore.errors import BenchError
from downstream_tasks.items import ItemTable, Statistic, detection_matrices, read_items
from results import bootstrap
from results.schema import ResultRecord

DEFAULT_RESAMPLES = bootstrap.DEFAULT_RESAMPLES
DEFAULT_SEED = 0
CONFIDENCE = 0.95
#: the exact query bootstrap of MTWV keeps a (queries x distinct scores) table; above this many entries it is not run
MTWV_TABLE_LIMIT = 20_000_000


@dataclass(frozen=True)
class Interval:
    """A 95 % percentile bootstrap interval of one cell, as fractions (the record's unit)."""

    low: float
    high: float
    units: str  # what was resampled: "utterances", "speakers", "recordings", "queries"
    n_units: int
    n_resamples: int
    seed: int

    def describe(self) -> str:
        return (
            f"95% percentile bootstrap over {self.n_units} {self.units}, {self.n_resamples:,} resamples (seed "
            f"{self.seed})"
        )


class NoInterval(str):
    """Why a cell has no interval (a record without per-item outputs, a statistic not bootstrapped yet)."""


def _read_items_once(path: Path) -> ItemTable:
    """:func:`read_items`, each file read once per process while unchanged: a report asks for the same record's
    tables for every cell interval, score interval and tie test, `bench compare` for every column. The tables are
    shared, so callers only read them."""
    stat = path.stat()
    return _read_items_cached(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=1024)
def _read_items_cached(path: str, mtime_ns: int, size: int) -> ItemTable:  # noqa: ARG001 - the cache key
    return read_items(Path(path))


def unit_tables(record: ResultRecord) -> list[list[ItemTable]] | NoInterval:
    """Per seed (the record's order), the test item tables of its folds, for the units at the selected learning
    rate."""
    chosen = [unit for unit in record.units if float(unit["learning_rate"]) == float(record.learning_rate or 0.0)]
    by_seed: dict[int, list[ItemTable]] = {}
    for unit in sorted(chosen, key=lambda unit: (int(unit["seed"]), str(unit["fold"]))):
        path = record.directory / unit["path"] / "test_items.tsv"
        if not Path(path).is_file():
            return NoInterval(
                f"no per-item outputs ({path.name} is missing: the run predates them; `bench run ... --force` "
                "scores it again with them)"
            )
        try:
            by_seed.setdefault(int(unit["seed"]), []).append(_read_items_once(path))
        except BenchError as error:  # a damaged items file costs its cell's interval, not the report
            return NoInterval(str(error))
    if not by_seed:
        return NoInterval("the record lists no unit at its learning rate")
    tables = [by_seed[seed] for seed in sorted(by_seed)]
    for folds in tables[1:]:
        if [table.ids for table in folds] != [table.ids for table in tables[0]]:
            return NoInterval("the seeds scored different test items")
    return tables


def cell_interval(
    record: ResultRecord, metric: str, n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED
) -> Interval | NoInterval:
    """The interval of ``metric`` in ``record`` (see the module docstring for the resampled units)."""
    tables = unit_tables(record)
    if isinstance(tables, NoInterval):
        return tables
    first = tables[0][0]
    statistic = first.statistics.get(metric)
    if statistic is None:
        return NoInterval(f"{metric} has no per-item statistic")
    inputs = resampling_inputs(tables, statistic)
    if isinstance(inputs, NoInterval):
        return inputs
    try:
        low, high = bootstrap.percentile_interval(_resample(inputs, n_resamples, seed), CONFIDENCE)
    except ValueError as error:  # e.g. every resample without a target trial: the statistic is undefined
        return NoInterval(str(error))
    return Interval(low, high, inputs.units, inputs.n_units, n_resamples, seed)


def _grid(table: ItemTable, names: Sequence[str]) -> np.ndarray:
    """Candidate columns side by side: ``(items, candidates)``."""
    return np.stack([np.asarray(table.columns[name], dtype=np.float64) for name in names], axis=1)


def _column(table: ItemTable, name: str, statistic: Statistic) -> np.ndarray:
    values = np.asarray(table.columns[name], dtype=np.float64)
    if statistic.kind == "ratio" and statistic.group:  # one group's rows count; the others are drawn but add nothing
        return np.where(np.asarray(table.columns[statistic.group], dtype=object) == statistic.where, values, 0.0)
    return values


@dataclass(frozen=True)
class RatioInputs:
    """A ratio statistic's per-item numerators and denominators: ``(items,)``, or ``(items, columns)`` reduced by
    ``select`` (the seeds' mean, or SD's lowest over the grid); ``strata`` resampled apart (ER's folds, languages)."""

    num: np.ndarray
    den: np.ndarray
    select: str
    strata: np.ndarray | None
    units: str
    n_units: int
    strata_reduce: str = "mean"  # "sd": the spread of the strata's ratios (ML-SUPERB's cer_sd)
    groups: np.ndarray | None = None  # per column: select within a group (a seed's grid), then mean over groups


@dataclass(frozen=True)
class EerInputs:
    """Trial scores ``(trials,)``, or ``(seeds, trials)`` whose EERs are averaged, labels and speaker blocks."""

    scores: np.ndarray
    labels: np.ndarray
    blocks: list | None
    units: str
    n_units: int


@dataclass(frozen=True)
class MtwvInputs:
    curves: np.ndarray  # (queries, thresholds), see query_curves
    units: str
    n_units: int


ResamplingInputs = RatioInputs | EerInputs | MtwvInputs


def resampling_inputs(tables: list[list[ItemTable]], statistic: Statistic) -> ResamplingInputs | NoInterval:
    """What the bootstrap resamples for ``statistic`` over a record's tables (per seed, per fold)."""
    seeds, folds = len(tables), len(tables[0])
    first = tables[0][0]
    if statistic.kind in ("ratio", "mean_of_ratios", "sd_of_ratios"):
        if statistic.kind != "ratio" and folds > 1:
            return NoInterval("a summary over groups across folds is not bootstrapped")
        num = np.stack(
            [np.concatenate([_column(t, str(statistic.numerator), statistic) for t in s]) for s in tables], axis=1
        )
        den = np.stack(
            [np.concatenate([_column(t, str(statistic.denominator), statistic) for t in s]) for s in tables], axis=1
        )
        strata = None
        if folds > 1:
            strata = np.concatenate([np.full(len(t.ids), k) for k, t in enumerate(tables[0])])
        elif statistic.kind != "ratio":
            strata = np.asarray(first.columns[statistic.group], dtype=object).astype(str)
        if seeds == 1:
            num, den = num[:, 0], den[:, 0]
        reduce = "sd" if statistic.kind == "sd_of_ratios" else "mean"
        return RatioInputs(num, den, "mean", strata, first.item + "s", int(num.shape[0]), reduce)
    if statistic.kind == "select_ratio" and folds == 1 and seeds > 1:  # each seed's own grid minimum, averaged
        num = np.concatenate([_grid(s[0], statistic.numerator) for s in tables], axis=1)
        den = np.concatenate([_grid(s[0], statistic.denominator) for s in tables], axis=1)
        groups = np.repeat(np.arange(seeds), len(statistic.numerator))
        select = "max" if statistic.select == "max" else "min"
        return RatioInputs(num, den, select, None, first.item + "s", len(first.ids), "mean", groups)
    if statistic.kind == "eer" and folds == 1 and seeds > 1 and first.block:
        labels = np.asarray(first.columns[statistic.label], dtype=np.int64)
        if any(list(s[0].columns[statistic.label]) != list(labels) for s in tables):
            return NoInterval("the seeds' trial labels differ")
        scores = np.stack([np.asarray(s[0].columns[statistic.score], dtype=np.float64) for s in tables])
        blocks = list(first.columns[first.block])
        return EerInputs(scores, labels, blocks, f"{first.block}s", len(set(blocks)))
    if seeds > 1 or folds > 1:
        return NoInterval(f"a {statistic.kind} interval over several seeds or folds is not bootstrapped yet")
    if statistic.kind == "select_ratio":
        num = np.stack([np.asarray(first.columns[name], dtype=np.float64) for name in statistic.numerator], axis=1)
        den = np.stack([np.asarray(first.columns[name], dtype=np.float64) for name in statistic.denominator], axis=1)
        select = "max" if statistic.select == "max" else "min"
        return RatioInputs(num, den, select, None, first.item + "s", len(first.ids))
    if statistic.kind == "eer":
        blocks = first.columns[first.block] if first.block else None
        scores = np.asarray(first.columns[statistic.score], dtype=np.float64)
        labels = np.asarray(first.columns[statistic.label], dtype=np.int64)
        if blocks is None:
            return EerInputs(scores, labels, None, "trials", len(first.ids))
        return EerInputs(scores, labels, list(blocks), f"{first.block}s", len(set(blocks)))
    if statistic.kind == "mtwv":
        curves = query_curves(first, statistic)
        if isinstance(curves, NoInterval):
            return curves
        return MtwvInputs(curves[0], "queries", curves[1])
    return NoInterval(f"a {statistic.kind} statistic is not bootstrapped")


def _resample(inputs: ResamplingInputs, n_resamples: int, seed: int) -> np.ndarray:
    if isinstance(inputs, RatioInputs):
        return bootstrap.bootstrap_ratio(
            inputs.num,
            inputs.den,
            seed=seed,
            select=inputs.select,  # type: ignore[arg-type]
            strata=inputs.strata,
            n_resamples=n_resamples,
            strata_reduce=inputs.strata_reduce,
            groups=inputs.groups,
        )
    if isinstance(inputs, EerInputs) and inputs.scores.ndim == 2:  # several seeds: their mean EER per resample
        sets = bootstrap.blocked_eer_resamples(
            list(inputs.scores), inputs.labels, seed=seed, blocks=inputs.blocks, n_resamples=n_resamples
        )
        return np.mean(sets, axis=0)
    if isinstance(inputs, EerInputs):
        return bootstrap.bootstrap_eer(
            inputs.scores, inputs.labels, seed=seed, blocks=inputs.blocks, n_resamples=n_resamples
        )
    return mtwv_resamples([inputs.curves], n_resamples, seed)[0]


def mtwv_resamples(curves: Sequence[np.ndarray], n_resamples: int, seed: int) -> list[np.ndarray]:
    """MTWV of each system's query curves on the same query resamples (one system: its interval; two: a paired
    test)."""
    queries = curves[0].shape[0]
    rng = np.random.default_rng(seed)
    out = [np.empty(n_resamples) for _ in curves]
    width = max(matrix.shape[1] for matrix in curves)
    rows = max(1, min(n_resamples, (1 << 23) // (8 * width)))
    for start in range(0, n_resamples, rows):
        stop = min(n_resamples, start + rows)
        counts = rng.multinomial(queries, np.full(queries, 1.0 / queries), size=stop - start).astype(np.float64)
        for system, matrix in enumerate(curves):
            out[system][start:stop] = np.maximum((counts @ matrix).max(axis=1) / queries, 0.0)
    return out


def query_curves(table: ItemTable, statistic: Statistic) -> tuple[np.ndarray, int] | NoInterval:
    """Each scored query's contribution to TWV at every distinct score (descending), ``(queries, thresholds)``, and the
    number of queries: TWV(theta) is the mean of a column, MTWV its maximum (at least 0, the "no YES" point). Queries
    without a true occurrence are dropped, as the scorer drops them."""
    from downstream_tasks.metrics.detection import QUESST_DEFAULT_SCORE, twv_beta

    scores, targets = detection_matrices(table, statistic)
    scores[np.isnan(scores)] = QUESST_DEFAULT_SCORE
    keep = targets.sum(axis=1) > 0
    scores, targets = scores[keep], targets[keep]
    thresholds = np.unique(scores)[::-1]
    if scores.shape[0] * thresholds.size > MTWV_TABLE_LIMIT:
        return NoInterval(
            f"the exact query bootstrap would need a {scores.shape[0]} x {thresholds.size} table "
            f"(more than {MTWV_TABLE_LIMIT:,} entries)"
        )
    n_true = targets.sum(axis=1).astype(np.float64)
    n_non = scores.shape[1] - n_true
    beta = twv_beta()
    curves = np.empty((scores.shape[0], thresholds.size))
    for q in range(scores.shape[0]):
        # how many target / non-target trials score >= each threshold (thresholds descend)
        hits = np.searchsorted(np.sort(-scores[q][targets[q]]), -thresholds, side="right")
        false_alarms = np.searchsorted(np.sort(-scores[q][~targets[q]]), -thresholds, side="right")
        penalty = beta * false_alarms / n_non[q] if n_non[q] > 0 else 0.0
        curves[q] = hits / n_true[q] - penalty
    return curves, int(scores.shape[0])


def mtwv_from_curves(matrix: np.ndarray) -> float:
    """MTWV of the full query set from :func:`query_curves` (equals the recorded value; tested)."""
    return float(max(matrix.mean(axis=0).max(), 0.0))


def record_resamples(
    record: ResultRecord, metrics: Sequence[str], n_resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED
) -> dict[str, np.ndarray] | NoInterval:
    """Resampled values (fractions) of several metrics of one record, on the same item resamples when they share
    items (SF's two columns): the input of a score's interval, which needs each task's columns jointly."""
    tables = unit_tables(record)
    if isinstance(tables, NoInterval):
        return tables
    inputs = {}
    for metric in metrics:
        statistic = tables[0][0].statistics.get(metric)
        if statistic is None:
            return NoInterval(f"{metric} has no per-item statistic")
        prepared = resampling_inputs(tables, statistic)
        if isinstance(prepared, NoInterval):
            return prepared
        inputs[metric] = prepared
    if len(inputs) == 1:
        ((metric, prepared),) = inputs.items()
        return {metric: _resample(prepared, n_resamples, seed)}
    ratios = list(inputs.values())
    shapes = {(i.select, i.num.ndim, i.strata_reduce, i.groups is None) for i in ratios if isinstance(i, RatioInputs)}
    if not all(isinstance(i, RatioInputs) for i in ratios) or len(shapes) != 1 or ratios[0].groups is not None:
        return NoInterval("the task's columns are different statistics; they are not resampled jointly")
    strata = ratios[0].strata
    if any(not np.array_equal(i.strata, strata) for i in ratios if i.strata is not None or strata is not None):
        return NoInterval("the task's columns resample different strata")
    arrays = bootstrap.bootstrap_ratios(
        [(i.num, i.den) for i in ratios],
        seed=seed,
        select=ratios[0].select,  # type: ignore[arg-type]
        strata=strata,
        n_resamples=n_resamples,
        strata_reduce=ratios[0].strata_reduce,
    )
    return dict(zip(inputs, arrays))
