"""Bootstrap confidence intervals and paired tests for leaderboard cells: the numerical core, numpy only.

A leaderboard cell is one number computed from one test set, and the test set is a sample: a second draw of the same
size would give a different number. The nonparametric bootstrap estimates that spread by recomputing the statistic on
resamples of the test items (drawn with replacement, as many as there are items) and reading percentiles off the
resampled values. A paired test between encoders A and B resamples the items *jointly* (the same resample for both),
so the item-level correlation between the two systems (the hard items are hard for both) cancels out of the difference.

Statistics (every one a plug-in statistic, recomputed exactly on each resample):

* :func:`bootstrap_ratio`: a ratio of sums ``sum(num) / sum(den)``: accuracy (``num`` = correct, ``den`` = 1), PER /
  WER / CER from summed edit counts (``num`` = edits, ``den`` = reference length, the bootstrap of Bisani & Ney 2004),
  slot F1 (``num`` = 2TP, ``den`` = 2TP + FP + FN), DER (``num`` = error seconds, ``den`` = speech seconds). With 2-D
  ``(items, candidates)`` arrays it is the lowest (or highest) ratio over candidates, e.g. SD's DER minimised over the
  post-processing grid on the same data: the selection is redone on every resample, so its optimism is part of the
  spread.
* :func:`bootstrap_eer`: the equal error rate over verification trials, the same piecewise-linear ROC crossing as
  ``downstream_tasks.metrics.detection.equal_error_rate`` (s3prl's ``EER``), solved analytically, with weights.

Resampling units (see :func:`bootstrap_ratio`): items, or whole ``blocks`` of correlated items (ASV trials sharing a
test speaker), optionally within ``strata`` that keep their size (ER's folds). Outputs: :func:`percentile_interval`,
:func:`paired_bootstrap` / :func:`paired_bootstrap_eer` (difference, interval, p-value), and two classical companions,
:func:`mcnemar_p_value` and :func:`holm_bonferroni`.

Speed (the point of the module: 10,000 resamples per cell in seconds, see ``benchmarks/bootstrap_speed.py``):

* ratios: drawing ``n`` items with replacement and summing is exactly a multinomial draw of how often each *distinct*
  ``(num, den)`` item type is drawn, so each resample costs one multinomial over the distinct types (2 for accuracy,
  a few hundred for WER) and one matrix product, not ``n`` random indices;
* EER at trial level: the ROC crossing is found by a binary search over the sorted scores in which the multinomial
  counts are generated lazily, by conditional binomial splits of the current score interval: ``~2 log2(n)`` binomial
  draws per resample instead of ``n`` (an exact sampler of the same multinomial, not an approximation);
* EER with blocks: per-block cumulative target / non-target counts along the sorted scores, then the same binary
  search with the block counts as weights;
* everything else (paired trial-level EER, very many blocks, items whose values are all distinct): explicit counts
  per resample in chunks of bounded memory (``_CHUNK_BYTES`` per working array).

Resamples in which the statistic is undefined (a zero denominator, no target or no non-target trial) are ``nan``;
they only occur with very few items or blocks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

DEFAULT_RESAMPLES = 10_000
_CHUNK_BYTES = 1 << 23  # 8 MiB per (resamples x width) working array: small enough to stay in the allocator's
# reused memory (fresh large arrays cost page faults that dominated the dense paths), far below 1 GB in all
_TABLE_ENTRIES = 1 << 24  # per-block cumulative count tables (blocks x score groups) above this: dense path instead
_MULTINOMIAL_MIN_TYPES = 64  # a multinomial over this few types is always cheap

Select = Literal["min", "max", "mean"]


# ----------------------------------------------------------------------------------------------------------------------
# Intervals and the paired result
# ----------------------------------------------------------------------------------------------------------------------


def percentile_interval(samples: np.ndarray | Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """The percentile bootstrap interval: the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2`` quantiles.

    Quantiles use linear interpolation between order statistics (numpy's default, and what
    ``scipy.stats.bootstrap(method="percentile")`` uses), so the two agree on the same resampled values. ``nan``
    samples (resamples where the statistic is undefined) are left out; all-``nan`` raises.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    values = np.asarray(samples, dtype=np.float64).reshape(-1)
    values = values[~np.isnan(values)]
    if values.size == 0:
        raise ValueError("no defined bootstrap samples to take an interval from")
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return float(low), float(high)


@dataclass(frozen=True)
class PairedBootstrap:
    """A paired bootstrap comparison of systems A and B on the same items.

    ``difference``: statistic(A) - statistic(B) on the full data. ``interval``: the percentile interval of the resampled
    differences. ``p_value``: two-sided, ``mean(|d* - d| >= |d|)`` over the resampled differences ``d*``: the bootstrap
    distribution centred at the observed ``d`` stands in for the null distribution of the difference, and ``p`` is the
    share of it at least as far from 0 as ``d``. It is 1 when ``d`` is 0 and can be 0 (read: below
    ``1 / n_resamples``). ``n_resamples``: how many resamples were drawn.
    """

    difference: float
    interval: tuple[float, float]
    p_value: float
    n_resamples: int


def paired_result(difference: float, samples: np.ndarray, n_resamples: int, confidence: float) -> PairedBootstrap:
    """The paired test from resampled differences ``d*`` (A - B on the same resamples) and the full-data difference
    ``d``: the percentile interval of ``d*`` and the two-sided p = mean(|d* - d| >= |d|) over the defined resamples."""
    defined = samples[~np.isnan(samples)]
    if defined.size == 0:
        raise ValueError("the difference is undefined on every resample")
    p_value = float(np.mean(np.abs(defined - difference) >= abs(difference)))
    return PairedBootstrap(float(difference), percentile_interval(defined, confidence), p_value, int(n_resamples))


# ----------------------------------------------------------------------------------------------------------------------
# Ratio statistics
# ----------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stratum:
    """The resampling units of one stratum, as distinct types (multinomial path) or as the units themselves."""

    size: int  # units drawn per resample
    freq: np.ndarray  # (K,) how many units of each type (all ones on the index path)
    systems: tuple[tuple[np.ndarray, np.ndarray], ...]  # per system: (num (K, C), den (K, C))
    multinomial: bool


def _as_matrix(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name} must be (items,) or (items, candidates) and non-empty, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} has non-finite values")
    return array


def _labels(values, n: int, name: str) -> np.ndarray | None:
    """Integer codes ``0..k-1`` for an optional per-item label array (blocks or strata)."""
    if values is None:
        return None
    array = np.asarray(values).reshape(-1)
    if array.size != n:
        raise ValueError(f"{name} has {array.size} entries for {n} items")
    return np.unique(array, return_inverse=True)[1].reshape(-1)


def _sum_rows(codes: np.ndarray, count: int, values: np.ndarray) -> np.ndarray:
    return np.stack([np.bincount(codes, weights=column, minlength=count) for column in values.T], axis=1)


def _prepare_ratio(systems: Sequence[tuple[np.ndarray, np.ndarray]], blocks, strata) -> list[_Stratum]:
    """Aggregate items into units (blocks), split units by stratum, and collapse each stratum to distinct types."""
    n = systems[0][0].shape[0]
    for num, den in systems:
        if num.shape != den.shape or num.shape[0] != n:
            raise ValueError(f"num and den must have the same shape with {n} items, got {num.shape} and {den.shape}")
    block_codes = _labels(blocks, n, "blocks")
    stratum_codes = _labels(strata, n, "strata")
    if stratum_codes is None:
        stratum_codes = np.zeros(n, dtype=np.int64)
    if block_codes is not None:
        count = int(block_codes.max()) + 1
        pairs = np.unique(block_codes * (int(stratum_codes.max()) + 1) + stratum_codes)
        if pairs.size != count:
            raise ValueError("every block must lie inside one stratum (blocks are resampled within their stratum)")
        systems = [(_sum_rows(block_codes, count, num), _sum_rows(block_codes, count, den)) for num, den in systems]
        unit_strata = np.zeros(count, dtype=np.int64)
        unit_strata[block_codes] = stratum_codes
    else:
        unit_strata = stratum_codes
    widths = [num.shape[1] for num, _ in systems]
    joint = np.concatenate([matrix for pair in systems for matrix in pair], axis=1)
    prepared = []
    for stratum in range(int(unit_strata.max()) + 1):
        rows = joint[unit_strata == stratum]
        types, freq = np.unique(rows, axis=0, return_counts=True)
        multinomial = len(types) <= max(_MULTINOMIAL_MIN_TYPES, len(rows) // 4)
        if not multinomial:
            types, freq = rows, np.ones(len(rows), dtype=np.int64)
        split, start = [], 0
        for width in widths:
            split.append((types[:, start : start + width], types[:, start + width : start + 2 * width]))
            start += 2 * width
        prepared.append(_Stratum(len(rows), freq, tuple(split), multinomial))
    return prepared


def _chunk_rows(width: int, n_resamples: int) -> int:
    return max(1, min(n_resamples, _CHUNK_BYTES // (8 * max(1, width))))


def _row_counts(indices: np.ndarray, size: int) -> np.ndarray:
    """Per-row occurrence counts ``(rows, size)`` of drawn indices ``(rows, draws)``."""
    rows = indices.shape[0]
    offsets = np.arange(rows, dtype=np.int64)[:, None] * size
    return np.bincount((indices + offsets).reshape(-1), minlength=rows * size).reshape(rows, size)


def _draw_counts(stratum: _Stratum, rng: np.random.Generator, rows: int) -> np.ndarray:
    """How often each type of the stratum is drawn, per resample: ``(rows, K)`` float64 (exact integers)."""
    if stratum.multinomial:
        counts = rng.multinomial(stratum.size, stratum.freq / stratum.size, size=rows)
    else:
        counts = _row_counts(rng.integers(0, stratum.size, size=(rows, stratum.size), dtype=np.int32), stratum.size)
    return counts.astype(np.float64)


def _ratio_values(
    strata: list[_Stratum],
    counts: list[np.ndarray],
    system: int,
    select: Select,
    candidates: bool,
    strata_reduce: str = "mean",
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """The statistic of one system for each row of the per-stratum type counts: the mean (or, ``strata_reduce="sd"``,
    the population standard deviation) over strata of the stratum's column ratios, then the min/max/mean over
    candidate columns (2-D input only), within each of ``groups`` of columns and averaged over the groups if given."""
    ratios = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for stratum, weights in zip(strata, counts):
            num, den = stratum.systems[system]
            num_sums, den_sums = weights @ num, weights @ den
            ratios.append(np.where(den_sums != 0, num_sums / den_sums, np.nan))
    if strata_reduce == "sd":
        value = np.std(np.stack(ratios), axis=0)
    else:
        value = ratios[0]
        for ratio in ratios[1:]:
            value = value + ratio
        value = value / len(ratios)
    if not candidates:
        return value[:, 0]
    reduce = {"min": np.min, "max": np.max, "mean": np.mean}[select]
    if groups is None:
        return reduce(value, axis=1)
    return np.mean([reduce(value[:, groups == group], axis=1) for group in np.unique(groups)], axis=0)


def _check_select(select: str) -> None:
    if select not in ("min", "max", "mean"):
        raise ValueError(f"select must be 'min', 'max' or 'mean', got {select!r}")


def _check_resamples(n_resamples: int) -> int:
    if int(n_resamples) != n_resamples or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples}")
    return int(n_resamples)


def _resample_ratio(
    strata: list[_Stratum],
    n_resamples: int,
    seed: int,
    select: Select,
    candidates: Sequence[bool],
    strata_reduce: str = "mean",
    groups: np.ndarray | None = None,
) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    width = max(len(stratum.freq) for stratum in strata)
    rows = _chunk_rows(width, n_resamples)
    out = [np.empty(n_resamples) for _ in candidates]
    for start in range(0, n_resamples, rows):
        stop = min(n_resamples, start + rows)
        counts = [_draw_counts(stratum, rng, stop - start) for stratum in strata]
        for system, is_2d in enumerate(candidates):
            out[system][start:stop] = _ratio_values(strata, counts, system, select, is_2d, strata_reduce, groups)
    return out


def _full_ratio(
    strata: list[_Stratum],
    system: int,
    select: Select,
    candidates: bool,
    strata_reduce: str = "mean",
    groups: np.ndarray | None = None,
) -> float:
    counts = [stratum.freq[None, :].astype(np.float64) for stratum in strata]
    return float(_ratio_values(strata, counts, system, select, candidates, strata_reduce, groups)[0])


def _check_shape_options(strata_reduce: str, groups, num) -> np.ndarray | None:
    if strata_reduce not in ("mean", "sd"):
        raise ValueError(f"strata_reduce must be 'mean' or 'sd', got {strata_reduce!r}")
    if groups is None:
        return None
    groups = np.asarray(groups).reshape(-1)
    if np.ndim(num) != 2 or groups.size != np.shape(num)[1]:
        raise ValueError("groups needs one group id per candidate column of 2-D num")
    return groups


def ratio_statistic(num, den, *, select: Select = "min", strata=None) -> float:
    """The full-data statistic that :func:`bootstrap_ratio` resamples: ``sum(num) / sum(den)`` (1-D), the ``select``
    over candidate columns of the column ratios (2-D), and with ``strata`` the mean over strata of each stratum's ratio.
    """
    _check_select(select)
    num_m, den_m = _as_matrix(num, "num"), _as_matrix(den, "den")
    prepared = _prepare_ratio([(num_m, den_m)], None, strata)
    return _full_ratio(prepared, 0, select, np.ndim(num) == 2)


def bootstrap_ratio(
    num,
    den,
    *,
    seed: int,
    select: Select = "min",
    blocks=None,
    strata=None,
    n_resamples: int = DEFAULT_RESAMPLES,
    strata_reduce: str = "mean",
    groups=None,
) -> np.ndarray:
    """Bootstrap values ``(n_resamples,)`` of a ratio-of-sums statistic; same ``seed``, same array.

    ``num``, ``den``: per item, ``(items,)`` for ``sum(num) / sum(den)``, or ``(items, candidates)`` for the
    ``select`` (``"min"`` / ``"max"``, or ``"mean"``: several seeds' heads scored on the same items, whose reported
    value is their mean) over candidates of each column's ratio, recomputed on every resample (a DER
    minimised over post-processing settings chosen on the same data keeps that selection's optimism in its interval).

    ``blocks`` (one id per item): resample whole blocks with replacement, as many draws as there are distinct blocks,
    each item weighted by its block's count. Items sharing a block are correlated (the trials of one test speaker
    share that speaker's embeddings; the frames of one recording share its acoustics), so the information is closer to
    the number of blocks than to the number of items, and an item-level bootstrap would give intervals that are too
    narrow. Blocks are summed into one ``(num, den)`` unit each first.

    ``strata`` (one id per item): resample within each stratum separately, keeping its size, and the statistic becomes
    the **mean over strata of each stratum's ratio** (ER: accuracy per fold, averaged over the 5 folds). Strata are
    fixed by design, not sampled: they add no between-stratum variance. With both, each block must lie in one stratum.

    ``strata_reduce="sd"``: the population standard deviation over strata instead of their mean (ML-SUPERB's spread of
    the languages' CERs). ``groups`` (one id per candidate column): ``select`` within each group of columns, then the
    mean over groups (several seeds' SD heads, each with its own grid minimum, averaged).

    The draw: n units with replacement is exactly a multinomial over the distinct unit types with their frequencies,
    drawn as such when there are few types (then one matrix product per chunk of resamples); otherwise explicit unit
    indices. Resamples with a zero denominator give ``nan``.
    """
    _check_select(select)
    n_resamples = _check_resamples(n_resamples)
    groups = _check_shape_options(strata_reduce, groups, num)
    num_m, den_m = _as_matrix(num, "num"), _as_matrix(den, "den")
    prepared = _prepare_ratio([(num_m, den_m)], blocks, strata)
    return _resample_ratio(prepared, n_resamples, seed, select, [np.ndim(num) == 2], strata_reduce, groups)[0]


def bootstrap_ratios(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    seed: int,
    select: Select = "min",
    strata=None,
    n_resamples: int = DEFAULT_RESAMPLES,
    strata_reduce: str = "mean",
) -> list[np.ndarray]:
    """Several ratio statistics of the *same* items on the same resamples (SF's slot F1 and slot CER, whose joint
    spread a score built from both needs): one ``(n_resamples,)`` array per ``(num, den)`` pair, each as
    :func:`bootstrap_ratio` computes it."""
    _check_select(select)
    n_resamples = _check_resamples(n_resamples)
    systems = [(_as_matrix(num, "num"), _as_matrix(den, "den")) for num, den in pairs]
    _check_shape_options(strata_reduce, None, None)
    prepared = _prepare_ratio(systems, None, strata)
    candidates = [np.ndim(num) == 2 for num, _ in pairs]
    return _resample_ratio(prepared, n_resamples, seed, select, candidates, strata_reduce)


def paired_bootstrap(
    num_a,
    den_a,
    num_b,
    den_b,
    *,
    seed: int,
    select: Select = "min",
    blocks=None,
    strata=None,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
    strata_reduce: str = "mean",
    groups_a=None,
    groups_b=None,
) -> PairedBootstrap:
    """Paired bootstrap of ``ratio(A) - ratio(B)`` for two systems scored on the same items (see
    :func:`bootstrap_ratio` for the statistic, ``blocks`` and ``strata``).

    Each resample draws the same items for A and B: the distinct-type multinomial runs over the distinct *joint*
    ``(num_a, den_a, num_b, den_b)`` tuples (4 for two accuracies), so the pairing is exact. See
    :class:`PairedBootstrap` for the interval and the p-value.
    """
    _check_select(select)
    n_resamples = _check_resamples(n_resamples)
    systems = [
        (_as_matrix(num_a, "num_a"), _as_matrix(den_a, "den_a")),
        (_as_matrix(num_b, "num_b"), _as_matrix(den_b, "den_b")),
    ]
    groups = [
        _check_shape_options(strata_reduce, groups_a, num_a),
        _check_shape_options(strata_reduce, groups_b, num_b),
    ]
    prepared = _prepare_ratio(systems, blocks, strata)
    candidates = [np.ndim(num_a) == 2, np.ndim(num_b) == 2]
    full = [_full_ratio(prepared, k, select, candidates[k], strata_reduce, groups[k]) for k in (0, 1)]
    values = []
    for k in (0, 1):  # each system with its own column groups, on the same draws (the same seed)
        values.append(_resample_ratio(prepared, n_resamples, seed, select, candidates, strata_reduce, groups[k])[k])
    return paired_result(full[0] - full[1], values[0] - values[1], n_resamples, confidence)


# ----------------------------------------------------------------------------------------------------------------------
# Equal error rate
# ----------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Trials:
    """Trials sorted by descending score and grouped into ties (one ROC point per group, as scikit-learn's)."""

    order: np.ndarray  # sorted position -> trial
    target_sorted: np.ndarray  # (n,) bool
    ends: np.ndarray  # (G,) last sorted position of each tie group
    group: np.ndarray  # (n,) group of each trial
    targets: np.ndarray  # (G,) target trials per group
    nontargets: np.ndarray  # (G,) non-target trials per group
    cells: np.ndarray  # (n,) 2 * group + label of each trial


def _prepare_trials(scores, labels) -> _Trials:
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    if scores.shape != labels.shape or scores.size == 0:
        raise ValueError(f"scores and labels must be non-empty and of one length ({scores.size} vs {labels.size})")
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores have non-finite values")
    if not np.all((labels == 0) | (labels == 1)):
        raise ValueError("labels must be 0 (non-target) or 1 (target)")
    target = labels.astype(bool)
    order = np.argsort(-scores, kind="stable")
    ordered = scores[order]
    new_group = np.r_[True, ordered[1:] != ordered[:-1]]
    ends = np.flatnonzero(np.r_[new_group[1:], True])
    group_sorted = np.cumsum(new_group) - 1
    group = np.empty_like(group_sorted)
    group[order] = group_sorted
    count = len(ends)
    targets = np.bincount(group_sorted, weights=target[order], minlength=count)
    nontargets = np.bincount(group_sorted, weights=~target[order], minlength=count)
    return _Trials(order, target[order], ends, group, targets, nontargets, 2 * group + target)


def _crossing(fp_lo, tp_lo, fp_hi, tp_hi, total_fp, total_tp) -> np.ndarray:
    """The EER on the ROC edge from point ``lo`` (where ``1 - fpr - tpr > 0``) to point ``hi`` (where it is ``<= 0``).

    s3prl's EER is ``brentq`` on ``1 - x - interp1d(fpr, tpr)(x)``. On a sloped edge that function is linear, and its
    root is where the edge meets ``tpr = 1 - fpr``: ``fpr_lo + h_lo / (h_lo - h_hi) * (fpr_hi - fpr_lo)`` with
    ``h = 1 - fpr - tpr``. On a vertical edge (``fpr_lo == fpr_hi``; interp1d takes the lowest ``tpr`` at that ``fpr``
    and jumps just after it) the function changes sign by a jump, brentq converges onto the jump, and the same formula
    gives it: ``fpr_lo``. Perfect separation is the vertical edge at ``fpr = 0``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        fpr_lo, fpr_hi = fp_lo / total_fp, fp_hi / total_fp
        h_lo = 1.0 - fpr_lo - tp_lo / total_tp
        h_hi = 1.0 - fpr_hi - tp_hi / total_tp
        eer = fpr_lo + h_lo / (h_lo - h_hi) * (fpr_hi - fpr_lo)
    return np.where((total_fp > 0) & (total_tp > 0), eer, np.nan)


def _dense_eer(trials: _Trials, weights: np.ndarray) -> np.ndarray:
    """EER for each row of trial weights ``(rows, n)`` (original trial order): weighted cumulative counts at each tie
    group's end, then :func:`_eer_from_cumulative`."""
    sorted_weights = weights[:, trials.order]
    target = trials.target_sorted
    tp = np.cumsum(np.where(target, sorted_weights, 0.0), axis=1)[:, trials.ends]
    fp = np.cumsum(np.where(target, 0.0, sorted_weights), axis=1)[:, trials.ends]
    return _eer_from_cumulative(tp, fp)


def _eer_from_draws(trials: _Trials, draws: np.ndarray) -> np.ndarray:
    """EER for each row of drawn trial indices ``(rows, n)``: the draws counted straight into (tie group, label) cells,
    which is cheaper than per-trial weights when several systems share the draws (the paired trial-level test)."""
    groups = len(trials.ends)
    counts = _row_counts(trials.cells[draws], 2 * groups).reshape(draws.shape[0], groups, 2)
    return _eer_from_cumulative(np.cumsum(counts[:, :, 1], axis=1), np.cumsum(counts[:, :, 0], axis=1))


def _eer_from_cumulative(tp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """EER per row from the cumulative target / non-target weights after each tie group ``(rows, G)``: the first ROC
    point with ``1 - fpr - tpr <= 0`` and the edge into it (:func:`_crossing`)."""
    tp, fp = tp.astype(np.float64, copy=False), fp.astype(np.float64, copy=False)
    zero = np.zeros((tp.shape[0], 1))
    tp, fp = np.concatenate([zero, tp], axis=1), np.concatenate([zero, fp], axis=1)
    total_tp, total_fp = tp[:, -1:], fp[:, -1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        h = 1.0 - fp / total_fp - tp / total_tp
    k = np.clip((h > 0).sum(axis=1), 1, tp.shape[1] - 1)[:, None]

    def at(values, index):
        return np.take_along_axis(values, index, axis=1)[:, 0]

    return _crossing(at(fp, k - 1), at(tp, k - 1), at(fp, k), at(tp, k), total_fp[:, 0], total_tp[:, 0])


def weighted_equal_error_rate(scores, labels, weights=None) -> float | np.ndarray:
    """The EER of s3prl / :func:`downstream_tasks.metrics.detection.equal_error_rate` with per-trial weights.

    A weight acts as a repetition count (an integer weight ``w`` gives exactly the EER of the data with the trial
    repeated ``w`` times), which is what a bootstrap resample is. ``weights``: None (all ones; returns a float),
    ``(n,)`` (a float) or ``(rows, n)`` (one EER per row, an array). Computed analytically (see :func:`_crossing`):
    equal to the reference's brentq root within its tolerance (~1e-12). ``nan`` where the targets or non-targets weigh
    0.
    """
    trials = _prepare_trials(scores, labels)
    n = trials.order.size
    if weights is None:
        return float(_dense_eer(trials, np.ones((1, n)))[0])
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape[-1] != n or weights.ndim not in (1, 2):
        raise ValueError(f"weights must be (n,) or (rows, n) with n = {n}, got {weights.shape}")
    if np.any(weights < 0):
        raise ValueError("weights must be non-negative")
    if weights.ndim == 1:
        return float(_dense_eer(trials, weights[None, :])[0])
    rows = _chunk_rows(n, weights.shape[0])
    return np.concatenate([_dense_eer(trials, weights[s : s + rows]) for s in range(0, weights.shape[0], rows)])


def _eer_trial_level(trials: _Trials, rng: np.random.Generator, rows: int) -> np.ndarray:
    """EER of ``rows`` trial-level resamples, by binary search with lazily drawn multinomial counts.

    Resampling n trials with replacement, counted per (tie group, label) cell, is a multinomial; the number of targets
    drawn is Binomial(n, P / n), and given it the targets (non-targets) fall into groups multinomially in proportion to
    their trials. The ROC point after the first k groups needs only the counts in those k groups, so a binary search
    for the first point with ``1 - fpr - tpr <= 0`` draws, at each step, how many of the current interval's draws fall
    into its left half: a Binomial(count, trials in left half / trials in interval), per label. The counts at the two
    points the search ends between are then exact draws of the multinomial at those points.
    """
    target_prefix = np.r_[0, np.cumsum(trials.targets)]
    nontarget_prefix = np.r_[0, np.cumsum(trials.nontargets)]
    n = int(target_prefix[-1] + nontarget_prefix[-1])
    total_tp = rng.binomial(n, target_prefix[-1] / n, size=rows).astype(np.int64)
    total_fp = n - total_tp
    lo = np.zeros(rows, dtype=np.int64)
    hi = np.full(rows, len(trials.ends), dtype=np.int64)
    inside_tp, inside_fp = total_tp.copy(), total_fp.copy()  # draws in groups [lo, hi)
    before_tp, before_fp = np.zeros(rows, dtype=np.int64), np.zeros(rows, dtype=np.int64)  # draws in groups [0, lo)
    with np.errstate(divide="ignore", invalid="ignore"):
        while np.any(hi - lo > 1):
            active = hi - lo > 1
            mid = np.where(active, (lo + hi) // 2, lo)
            left = []
            for prefix, inside in ((target_prefix, inside_tp), (nontarget_prefix, inside_fp)):
                span = prefix[hi] - prefix[lo]
                share = np.where(span > 0, (prefix[mid] - prefix[lo]) / np.maximum(span, 1), 0.0)
                left.append(rng.binomial(inside, share))
            left_tp, left_fp = left
            h = 1.0 - (before_fp + left_fp) / total_fp - (before_tp + left_tp) / total_tp
            right = active & (h > 0)
            down = active & ~right
            before_tp, before_fp = (
                np.where(right, before_tp + left_tp, before_tp),
                np.where(right, before_fp + left_fp, before_fp),
            )
            inside_tp = np.where(right, inside_tp - left_tp, np.where(down, left_tp, inside_tp))
            inside_fp = np.where(right, inside_fp - left_fp, np.where(down, left_fp, inside_fp))
            lo, hi = np.where(right, mid, lo), np.where(down, mid, hi)
    return _crossing(
        before_fp.astype(np.float64),
        before_tp.astype(np.float64),
        (before_fp + inside_fp).astype(np.float64),
        (before_tp + inside_tp).astype(np.float64),
        total_fp.astype(np.float64),
        total_tp.astype(np.float64),
    )


@dataclass(frozen=True)
class _BlockTables:
    """Per-block cumulative target / non-target trial counts before each ROC point: ``(blocks, G + 1)``."""

    targets: np.ndarray
    nontargets: np.ndarray


def _block_tables(trials: _Trials, block_codes: np.ndarray, count: int) -> _BlockTables | None:
    groups = len(trials.ends)
    if count * (groups + 1) > _TABLE_ENTRIES:
        return None
    target = np.zeros(trials.group.size, dtype=bool)
    target[trials.order] = trials.target_sorted
    tables = []
    for mask in (target, ~target):
        table = np.zeros((count, groups + 1))
        np.add.at(table, (block_codes[mask], trials.group[mask] + 1), 1.0)
        tables.append(np.cumsum(table, axis=1))
    return _BlockTables(*tables)


def _eer_from_block_counts(tables: _BlockTables, counts: np.ndarray) -> np.ndarray:
    """EER for each row of block counts ``(rows, blocks)``: a binary search over the ROC points, each point's weighted
    counts being ``counts @ table[:, point]``."""
    rows = counts.shape[0]
    total_tp, total_fp = counts @ tables.targets[:, -1], counts @ tables.nontargets[:, -1]
    lo = np.zeros(rows, dtype=np.int64)
    hi = np.full(rows, tables.targets.shape[1] - 1, dtype=np.int64)

    def at(table, point):
        return np.einsum("rb,br->r", counts, table[:, point])

    with np.errstate(divide="ignore", invalid="ignore"):
        while np.any(hi - lo > 1):
            mid = (lo + hi) // 2
            h = 1.0 - at(tables.nontargets, mid) / total_fp - at(tables.targets, mid) / total_tp
            right = h > 0
            lo, hi = np.where(right, mid, lo), np.where(right, hi, mid)
    return _crossing(
        at(tables.nontargets, lo), at(tables.targets, lo), at(tables.nontargets, hi), at(tables.targets, hi),
        total_fp, total_tp,
    )  # fmt: skip


def _block_codes(blocks, n: int) -> tuple[np.ndarray, int]:
    codes = _labels(blocks, n, "blocks")
    return codes, int(codes.max()) + 1


def bootstrap_eer(scores, labels, *, seed: int, blocks=None, n_resamples: int = DEFAULT_RESAMPLES) -> np.ndarray:
    """Bootstrap values ``(n_resamples,)`` of the EER (a fraction) over verification trials; same ``seed``, same array.

    ``labels``: 1 target, 0 non-target; ``scores``: higher means more likely a target. Without ``blocks``, trials are
    resampled with replacement (n of n). With ``blocks`` (one id per trial, e.g. the test speaker), whole blocks are
    resampled (as many draws as distinct blocks) and each trial weighs its block's count: trials of one speaker share
    that speaker's embeddings and errors, so they are correlated, the effective sample size is nearer the number of
    blocks, and a trial-level bootstrap is too narrow. Resamples without a target or a non-target give ``nan``.
    """
    n_resamples = _check_resamples(n_resamples)
    trials = _prepare_trials(scores, labels)
    rng = np.random.default_rng(seed)
    n = trials.order.size
    out = np.empty(n_resamples)
    if blocks is None:
        rows = _chunk_rows(64, n_resamples)
        for start in range(0, n_resamples, rows):
            stop = min(n_resamples, start + rows)
            out[start:stop] = _eer_trial_level(trials, rng, stop - start)
        return out
    codes, count = _block_codes(blocks, n)
    tables = _block_tables(trials, codes, count)
    rows = _chunk_rows(count if tables is not None else n, n_resamples)
    for start in range(0, n_resamples, rows):
        stop = min(n_resamples, start + rows)
        counts = rng.multinomial(count, np.full(count, 1.0 / count), size=stop - start).astype(np.float64)
        out[start:stop] = (
            _eer_from_block_counts(tables, counts) if tables is not None else _dense_eer(trials, counts[:, codes])
        )
    return out


def blocked_eer_resamples(
    score_sets: Sequence, labels, *, seed: int, blocks, n_resamples: int = DEFAULT_RESAMPLES
) -> list[np.ndarray]:
    """The EER of each score set (several seeds' heads, or two systems) on the *same* block resamples: one list entry
    of shape ``(n_resamples,)`` per set. With a single set it equals :func:`bootstrap_eer` with ``blocks`` (the same
    draws from the same ``seed``)."""
    n_resamples = _check_resamples(n_resamples)
    trials = [_prepare_trials(scores, labels) for scores in score_sets]
    n = trials[0].order.size
    if any(t.order.size != n for t in trials):
        raise ValueError("every score set must score the same trials")
    codes, count = _block_codes(blocks, n)
    tables = [_block_tables(t, codes, count) for t in trials]
    dense = any(table is None for table in tables)
    rng = np.random.default_rng(seed)
    out = [np.empty(n_resamples) for _ in trials]
    rows = _chunk_rows(n if dense else count, n_resamples)
    for start in range(0, n_resamples, rows):
        stop = min(n_resamples, start + rows)
        counts = rng.multinomial(count, np.full(count, 1.0 / count), size=stop - start).astype(np.float64)
        for k, (t, table) in enumerate(zip(trials, tables)):
            out[k][start:stop] = _dense_eer(t, counts[:, codes]) if dense else _eer_from_block_counts(table, counts)
    return out


def paired_bootstrap_eer(
    scores_a,
    scores_b,
    labels,
    *,
    seed: int,
    blocks=None,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = 0.95,
) -> PairedBootstrap:
    """Paired bootstrap of ``EER(A) - EER(B)`` for two systems' scores on the same trials (same labels).

    Every resample weights the trials identically for A and B (the same trial, or block, counts), then each system's
    EER is taken on its own score order. With ``blocks`` as in :func:`bootstrap_eer`. At trial level the counts are
    explicit ``(resamples, trials)`` arrays (the lazy sampler of :func:`bootstrap_eer` follows one score order only),
    so this is the slower case: seconds per thousand resamples at VoxCeleb1 size.
    """
    n_resamples = _check_resamples(n_resamples)
    trials_a, trials_b = _prepare_trials(scores_a, labels), _prepare_trials(scores_b, labels)
    if trials_a.order.size != trials_b.order.size:
        raise ValueError("scores_a and scores_b must score the same trials")
    n = trials_a.order.size
    difference = weighted_equal_error_rate(scores_a, labels) - weighted_equal_error_rate(scores_b, labels)
    rng = np.random.default_rng(seed)
    samples = np.empty(n_resamples)
    if blocks is None:
        rows = _chunk_rows(n, n_resamples)
        for start in range(0, n_resamples, rows):
            stop = min(n_resamples, start + rows)
            draws = rng.integers(0, n, size=(stop - start, n), dtype=np.int32)
            samples[start:stop] = _eer_from_draws(trials_a, draws) - _eer_from_draws(trials_b, draws)
        return paired_result(difference, samples, n_resamples, confidence)
    codes, count = _block_codes(blocks, n)
    tables = [_block_tables(trials, codes, count) for trials in (trials_a, trials_b)]
    dense = any(table is None for table in tables)
    rows = _chunk_rows(n if dense else count, n_resamples)
    for start in range(0, n_resamples, rows):
        stop = min(n_resamples, start + rows)
        counts = rng.multinomial(count, np.full(count, 1.0 / count), size=stop - start).astype(np.float64)
        if dense:
            weights = counts[:, codes]
            samples[start:stop] = _dense_eer(trials_a, weights) - _dense_eer(trials_b, weights)
        else:
            samples[start:stop] = _eer_from_block_counts(tables[0], counts) - _eer_from_block_counts(tables[1], counts)
    return paired_result(difference, samples, n_resamples, confidence)


# ----------------------------------------------------------------------------------------------------------------------
# Classical companions
# ----------------------------------------------------------------------------------------------------------------------

MCNEMAR_EXACT_BELOW = 25  # discordant pairs: below, the exact binomial test; from here on, chi-square (corrected)


def mcnemar_p_value(correct_a, correct_b) -> float:
    """McNemar's test of equal accuracy for two classifiers on the same items: a cross-check of
    :func:`paired_bootstrap` on accuracy tasks.

    Only the discordant items count (A right and B wrong: ``b``; the reverse: ``c``). Rule: with ``b + c < 25`` the
    exact binomial test (``statsmodels``' ``mcnemar(exact=True)``: ``2 * Binom(b + c, 1/2).cdf(min(b, c))``, capped
    at 1), where the chi-square approximation is poor; otherwise the chi-square test with continuity correction,
    ``(|b - c| - 1)^2 / (b + c)`` on 1 degree of freedom (``exact=False, correction=True``). No discordant item: 1.
    """
    from statsmodels.stats.contingency_tables import mcnemar

    a = np.asarray(correct_a).reshape(-1).astype(bool)
    b = np.asarray(correct_b).reshape(-1).astype(bool)
    if a.shape != b.shape:
        raise ValueError(f"correct_a and correct_b differ in length ({a.size} vs {b.size})")
    table = [[int(np.sum(a & b)), int(np.sum(a & ~b))], [int(np.sum(~a & b)), int(np.sum(~a & ~b))]]
    discordant = table[0][1] + table[1][0]
    if discordant == 0:
        return 1.0
    result = mcnemar(table, exact=discordant < MCNEMAR_EXACT_BELOW, correction=True)
    return float(result.pvalue)


def holm_bonferroni(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in input order: control the family-wise error rate when one encoder is
    compared on many tasks (or with many encoders) at once, less conservatively than Bonferroni.

    Sorted ascending, ``p_(i)`` becomes ``max_{j <= i} min(1, (m - j + 1) p_(j))`` (1-based ``j``): monotone in the
    sorted order and capped at 1. Reject the hypotheses whose adjusted p-value is at most alpha.
    """
    values = [float(p) for p in p_values]
    if any(math.isnan(p) or p < 0.0 or p > 1.0 for p in values):
        raise ValueError(f"p-values must lie in [0, 1], got {values}")
    m = len(values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(sorted(range(m), key=lambda i: values[i])):
        running = max(running, min(1.0, (m - rank) * values[index]))
        adjusted[index] = running
    return adjusted
