"""The bootstrap engine (results/bootstrap.py): exact bootstrap distributions enumerated by hand, the EER against the
harness's s3prl-exact EER, the percentile interval against scipy's, and the paired test's behaviour (identical systems,
a strict superset, its rejection rate under the null)."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from fractions import Fraction

import numpy as np
import pytest

from downstream_tasks.metrics.detection import equal_error_rate
from results import bootstrap
from results.bootstrap import (
    bootstrap_eer,
    bootstrap_ratio,
    holm_bonferroni,
    mcnemar_p_value,
    paired_bootstrap,
    paired_bootstrap_eer,
    percentile_interval,
    ratio_statistic,
    weighted_equal_error_rate,
)


def check_against_exact(values: np.ndarray, exact: dict[float, float]) -> None:
    """``values``: bootstrap draws; ``exact``: value -> probability (nan allowed as a key). Every draw must be one of
    the exact values, and each value's frequency must lie within 5 binomial standard errors (+1/B) of its
    probability: a miss by chance has probability ~1e-6 per value."""
    support = np.array(sorted(k for k in exact if not math.isnan(k)))
    total = values.size
    defined = values[~np.isnan(values)]
    nearest = support[np.abs(defined[:, None] - support[None, :]).argmin(axis=1)]
    assert np.allclose(defined, nearest, rtol=0, atol=1e-12), "a bootstrap value outside the exact distribution"
    counts = Counter(nearest.tolist())
    counts[math.nan] = total - defined.size
    for value, probability in exact.items():
        key = math.nan if math.isnan(value) else value
        observed = counts.get(key, 0) / total
        assert abs(observed - probability) <= 5 * math.sqrt(probability * (1 - probability) / total) + 1 / total, (
            value,
            observed,
            probability,
        )


# ----------------------------------------------------------------------------------------------------------------------
# Ratio statistics
# ----------------------------------------------------------------------------------------------------------------------

WER_ITEMS = [(1, 4), (0, 3), (2, 5)]  # (edits, reference words) of 3 utterances: WER = 3 / 12


@pytest.fixture(params=["multinomial", "indices"])
def draw_path(request, monkeypatch):
    """Both ways of drawing: the distinct-type multinomial and explicit unit indices (forced)."""
    if request.param == "indices":
        monkeypatch.setattr(bootstrap, "_MULTINOMIAL_MIN_TYPES", 0)
    return request.param


def test_wer_bootstrap_takes_exactly_the_enumerated_distribution(draw_path):
    edits = np.array([e for e, _ in WER_ITEMS], dtype=float)
    words = np.array([w for _, w in WER_ITEMS], dtype=float)
    assert ratio_statistic(edits, words) == 3 / 12
    # all 27 equally likely ordered resamples of 3 utterances
    exact: Counter = Counter()
    for triple in itertools.product(range(3), repeat=3):
        exact[Fraction(sum(WER_ITEMS[i][0] for i in triple), sum(WER_ITEMS[i][1] for i in triple))] += Fraction(1, 27)
    assert (
        sum(exact.values()) == 1 and exact[Fraction(0)] == Fraction(1, 27) and exact[Fraction(2, 5)] == Fraction(1, 27)
    )
    exact_mean = sum(value * p for value, p in exact.items())
    exact_sd = math.sqrt(sum(float(p) * (float(value) - float(exact_mean)) ** 2 for value, p in exact.items()))

    values = bootstrap_ratio(edits, words, seed=3, n_resamples=100_000)
    assert values.shape == (100_000,)
    assert abs(values.mean() - float(exact_mean)) < 5 * exact_sd / math.sqrt(values.size)
    check_against_exact(values, {float(value): float(p) for value, p in exact.items()})


def test_min_over_candidates_is_reselected_on_every_resample():
    # 3 items x 2 candidate settings: the statistic is the better (lower / higher) candidate's ratio of sums
    num = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 1.0]])
    den = np.array([[4.0, 4.0], [3.0, 3.0], [5.0, 5.0]])
    assert ratio_statistic(num, den) == min(4 / 12, 3 / 12)
    assert ratio_statistic(num, den, select="max") == 4 / 12
    for select, pick in (("min", min), ("max", max)):
        exact: Counter = Counter()
        for triple in itertools.product(range(3), repeat=3):
            sums = num[list(triple)].sum(axis=0) / den[list(triple)].sum(axis=0)
            exact[float(pick(sums))] += 1 / 27
        check_against_exact(bootstrap_ratio(num, den, select=select, seed=0, n_resamples=50_000), dict(exact))


def test_same_seed_same_values_and_shapes():
    rng = np.random.default_rng(0)
    correct = (rng.random(1000) < 0.7).astype(float)
    first = bootstrap_ratio(correct, np.ones(1000), seed=11, n_resamples=500)
    assert np.array_equal(first, bootstrap_ratio(correct, np.ones(1000), seed=11, n_resamples=500))
    assert not np.array_equal(first, bootstrap_ratio(correct, np.ones(1000), seed=12, n_resamples=500))
    scores, labels = rng.normal(size=300), rng.integers(0, 2, 300)
    eer = bootstrap_eer(scores, labels, seed=5, n_resamples=300)
    assert eer.shape == (300,) and np.array_equal(eer, bootstrap_eer(scores, labels, seed=5, n_resamples=300))


def test_accuracy_bootstrap_spread_is_the_binomial_one():
    rng = np.random.default_rng(1)
    correct = (rng.random(100_000) < 0.8).astype(float)
    p = correct.mean()
    values = bootstrap_ratio(correct, np.ones(correct.size), seed=0)
    assert values.shape == (10_000,)
    # the bootstrap of a mean of 0/1 values has sd sqrt(p (1 - p) / n); 10,000 resamples estimate it to ~0.7%
    assert values.std() == pytest.approx(math.sqrt(p * (1 - p) / correct.size), rel=0.05)


def test_blocks_of_single_items_are_the_item_bootstrap():
    rng = np.random.default_rng(2)
    edits, words = rng.integers(0, 5, 400).astype(float), rng.integers(3, 9, 400).astype(float)
    plain = bootstrap_ratio(edits, words, seed=4, n_resamples=2000)
    assert np.array_equal(plain, bootstrap_ratio(edits, words, blocks=np.arange(400), seed=4, n_resamples=2000))


def test_blocks_resample_whole_blocks():
    # 40 speakers x 50 items, each speaker entirely right or entirely wrong (30 of 40): the information is 40 blocks
    blocks = np.repeat(np.arange(40), 50)
    correct = np.repeat((np.arange(40) < 30).astype(float), 50)
    blocked = bootstrap_ratio(correct, np.ones(correct.size), blocks=blocks, seed=0)
    items = bootstrap_ratio(correct, np.ones(correct.size), seed=0)
    assert blocked.std() == pytest.approx(math.sqrt(0.75 * 0.25 / 40), rel=0.05)
    assert items.std() == pytest.approx(math.sqrt(0.75 * 0.25 / 2000), rel=0.05)
    # a block's items always come together: resampled accuracies are multiples of 1/40
    assert np.allclose(blocked * 40, np.round(blocked * 40))


def test_strata_keep_their_size_and_average_their_ratios():
    # fold 0: 10 items all right, fold 1: 30 items all wrong -> mean over folds 0.5 (pooled would be 0.25)
    strata = np.r_[np.zeros(10), np.ones(30)]
    correct = np.r_[np.ones(10), np.zeros(30)]
    assert ratio_statistic(correct, np.ones(40), strata=strata) == 0.5
    values = bootstrap_ratio(correct, np.ones(40), strata=strata, seed=0, n_resamples=1000)
    assert np.all(values == 0.5)  # each fold resampled within itself: nothing can move
    assert bootstrap_ratio(correct, np.ones(40), seed=0, n_resamples=1000).std() > 0.05

    # 5 folds of different sizes and accuracies: var(mean of fold accuracies) = sum p_s (1 - p_s) / n_s / 25
    rng = np.random.default_rng(3)
    sizes, accuracies = [300, 500, 400, 600, 200], [0.6, 0.7, 0.65, 0.8, 0.5]
    strata = np.repeat(np.arange(5), sizes)
    correct = np.concatenate([(rng.random(n) < a).astype(float) for n, a in zip(sizes, accuracies)])
    folds = [correct[strata == s].mean() for s in range(5)]
    assert ratio_statistic(correct, np.ones(correct.size), strata=strata) == pytest.approx(np.mean(folds), abs=1e-15)
    values = bootstrap_ratio(correct, np.ones(correct.size), strata=strata, seed=1)
    expected_sd = math.sqrt(sum(p * (1 - p) / n for p, n in zip(folds, sizes))) / 5
    assert values.std() == pytest.approx(expected_sd, rel=0.05)
    assert values.mean() == pytest.approx(np.mean(folds), abs=4 * expected_sd / 100)


def test_invalid_inputs_are_refused():
    with pytest.raises(ValueError, match="same shape"):
        bootstrap_ratio(np.ones(3), np.ones(4), seed=0)
    with pytest.raises(ValueError, match="one stratum"):
        bootstrap_ratio(np.ones(4), np.ones(4), blocks=[0, 0, 1, 1], strata=[0, 1, 1, 1], seed=0)
    with pytest.raises(ValueError, match="select"):
        bootstrap_ratio(np.ones((4, 2)), np.ones((4, 2)), select="median", seed=0)
    with pytest.raises(ValueError, match="labels"):
        bootstrap_eer([0.1, 0.2], [0, 2], seed=0)
    assert np.all(np.isnan(bootstrap_ratio([1.0], [0.0], seed=0, n_resamples=5)))  # undefined: nan, not an error


# ----------------------------------------------------------------------------------------------------------------------
# EER
# ----------------------------------------------------------------------------------------------------------------------


def random_trials(rng: np.random.Generator, kind: int) -> tuple[np.ndarray, np.ndarray]:
    n = int(rng.integers(2, 400))
    labels = rng.integers(0, 2, n)
    labels[rng.integers(0, n)], labels[rng.integers(0, n)] = 0, 1
    if labels.min() == labels.max():
        labels[0], labels[-1] = 0, 1
    if kind == 0:  # continuous, overlapping
        scores = rng.normal(size=n) + labels * rng.uniform(0, 4)
    elif kind == 1:  # rounded: many ties, mixed labels within ties
        scores = np.round(rng.normal(size=n) + labels * rng.uniform(0, 3), int(rng.integers(0, 2)))
    elif kind == 2:  # a handful of distinct scores
        scores = rng.integers(0, 4, n).astype(float)
    elif kind == 3:  # often perfectly separated (EER 0, the vertical first edge)
        scores = labels * 5.0 + rng.normal(size=n) * rng.uniform(0, 2)
    else:  # all tied (EER 0.5) or a single target
        scores = np.zeros(n) if rng.random() < 0.5 else rng.normal(size=n)
        if rng.random() < 0.5:
            labels[:] = 0
            labels[rng.integers(0, n)] = 1
    return scores, labels


def test_weighted_eer_at_unit_weights_is_the_harness_eer():
    rng = np.random.default_rng(0)
    for trial in range(500):
        scores, labels = random_trials(rng, trial % 5)
        reference = equal_error_rate(labels, scores)
        assert abs(weighted_equal_error_rate(scores, labels) - reference) < 1e-9, (trial, reference)


def test_integer_weights_are_repetitions():
    rng = np.random.default_rng(1)
    for trial in range(200):
        scores, labels = random_trials(rng, trial % 4)
        weights = rng.integers(0, 4, scores.size)
        weights[np.flatnonzero(labels == 1)[0]] = weights[np.flatnonzero(labels == 0)[0]] = 1
        reference = equal_error_rate(np.repeat(labels, weights), np.repeat(scores, weights))
        assert abs(weighted_equal_error_rate(scores, labels, weights) - reference) < 1e-9, trial
    rows = rng.integers(0, 3, (7, scores.size)).astype(float)
    each = [weighted_equal_error_rate(scores, labels, row) for row in rows]
    assert np.allclose(weighted_equal_error_rate(scores, labels, rows), each, equal_nan=True, rtol=0, atol=1e-15)


def test_trial_level_eer_bootstrap_takes_exactly_the_enumerated_distribution():
    # 6 trials with ties across labels; all 462 count vectors of 6 draws, with their multinomial probabilities
    scores = np.array([0.9, 0.4, 0.4, 0.7, 0.2, 0.4])
    labels = np.array([1, 1, 0, 0, 0, 1])
    compositions = np.array([c for c in itertools.product(range(7), repeat=6) if sum(c) == 6], dtype=float)
    probabilities = np.array([math.factorial(6) / math.prod(math.factorial(int(k)) for k in c) for c in compositions])
    probabilities /= 6**6
    assert len(compositions) == 462 and probabilities.sum() == pytest.approx(1.0, abs=1e-12)
    eers = weighted_equal_error_rate(scores, labels, compositions)
    exact: Counter = Counter()
    for eer, p in zip(eers, probabilities):
        exact[math.nan if math.isnan(eer) else round(float(eer), 12)] += p
    assert exact[math.nan] == pytest.approx(2 * (1 / 2) ** 6)  # no target, or no non-target drawn
    check_against_exact(bootstrap_eer(scores, labels, seed=7, n_resamples=50_000), dict(exact))


def test_blocked_eer_uses_the_block_counts_as_trial_weights(monkeypatch):
    rng = np.random.default_rng(2)
    n, blocks = 3000, 40
    speaker = rng.integers(0, blocks, n)
    labels = rng.integers(0, 2, n)
    scores = np.round(rng.normal(size=n) + 2 * labels + rng.normal(size=blocks)[speaker], 2)  # ties, speaker effects
    trials = bootstrap._prepare_trials(scores, labels)
    tables = bootstrap._block_tables(trials, speaker, blocks)
    counts = rng.multinomial(blocks, np.full(blocks, 1 / blocks), size=50).astype(float)
    fast = bootstrap._eer_from_block_counts(tables, counts)
    assert np.allclose(fast, weighted_equal_error_rate(scores, labels, counts[:, speaker]), rtol=0, atol=1e-12)

    values = bootstrap_eer(scores, labels, blocks=speaker, seed=9, n_resamples=400)
    monkeypatch.setattr(bootstrap, "_TABLE_ENTRIES", 0)  # the dense fallback for very many blocks: same draws
    assert np.allclose(values, bootstrap_eer(scores, labels, blocks=speaker, seed=9, n_resamples=400), atol=1e-12)
    # speaker effects make trials of a speaker correlated: the blocked interval is the wider one
    trial_level = bootstrap_eer(scores, labels, seed=9, n_resamples=2000)
    assert np.std(values) > 1.2 * np.std(trial_level)


# ----------------------------------------------------------------------------------------------------------------------
# Intervals, paired tests, classical companions
# ----------------------------------------------------------------------------------------------------------------------


def test_percentile_interval_agrees_with_scipy():
    from scipy import stats

    x = np.random.default_rng(4).normal(size=200)
    ours = percentile_interval(bootstrap_ratio(x, np.ones(x.size), seed=0))
    theirs = stats.bootstrap(
        (x,), np.mean, n_resamples=10_000, method="percentile", confidence_level=0.95, rng=np.random.default_rng(0)
    ).confidence_interval
    # Same bootstrap distribution (the mean's), different random streams: each 2.5% / 97.5% quantile estimated from
    # 10,000 resamples has Monte-Carlo sd sqrt(q (1 - q) / B) / density = 0.0016 / (0.058 / se) = 0.027 se, so the two
    # estimates differ with sd 0.038 se; 0.15 se is ~4 sd (a false failure ~1e-4 per endpoint).
    se = x.std(ddof=0) / math.sqrt(x.size)
    assert abs(ours[0] - theirs.low) < 0.15 * se and abs(ours[1] - theirs.high) < 0.15 * se
    assert percentile_interval([1.0, np.nan, 3.0], confidence=0.5) == (1.5, 2.5)


def test_identical_systems_differ_by_zero_with_p_one():
    rng = np.random.default_rng(5)
    correct = (rng.random(1000) < 0.6).astype(float)
    same = paired_bootstrap(correct, np.ones(1000), correct.copy(), np.ones(1000), seed=0, n_resamples=2000)
    assert same.difference == 0.0 and same.p_value == 1.0 and same.n_resamples == 2000
    assert same.interval == (0.0, 0.0)
    assert mcnemar_p_value(correct, correct) == 1.0
    scores, labels = rng.normal(size=500) + rng.integers(0, 2, 500), rng.integers(0, 2, 500)
    for blocks in (None, rng.integers(0, 10, 500)):
        eer = paired_bootstrap_eer(scores, scores.copy(), labels, blocks=blocks, seed=0, n_resamples=300)
        assert eer.difference == 0.0 and eer.p_value == 1.0 and eer.interval == (0.0, 0.0)


def test_a_strict_superset_of_correct_items_is_significant():
    rng = np.random.default_rng(6)
    a = np.zeros(1000)
    a[rng.permutation(1000)[:600]] = 1.0
    b = a.copy()
    b[rng.choice(np.flatnonzero(a), 40, replace=False)] = 0.0
    result = paired_bootstrap(a, np.ones(1000), b, np.ones(1000), seed=0)
    assert result.difference == pytest.approx(0.04)
    assert result.p_value < 0.01 and result.interval[0] > 0
    assert mcnemar_p_value(a, b) < 0.01


def test_paired_rejection_rate_under_the_null_is_nominal():
    # 400 pairs of systems with independent per-item correctness from the same distribution (500 items, accuracy 0.7):
    # a calibrated 5% test rejects 5% of them, binomial sd 1.1%; [2%, 8%] is wider than +-2.5 sd
    rng = np.random.default_rng(7)
    rejections = 0
    for pair in range(400):
        a, b = (rng.random(500) < 0.7).astype(float), (rng.random(500) < 0.7).astype(float)
        result = paired_bootstrap(a, np.ones(500), b, np.ones(500), seed=pair, n_resamples=2000)
        rejections += result.p_value < 0.05
    assert 0.02 <= rejections / 400 <= 0.08


def test_paired_statistics_follow_the_unpaired_definitions():
    rng = np.random.default_rng(8)
    n = 600
    strata = rng.integers(0, 5, n)
    num_a, num_b = rng.integers(0, 6, (n, 3)).astype(float), rng.integers(0, 6, (n, 3)).astype(float)
    den = rng.integers(5, 20, (n, 3)).astype(float)
    result = paired_bootstrap(num_a, den, num_b, den, strata=strata, seed=1, n_resamples=500)
    expected = ratio_statistic(num_a, den, strata=strata) - ratio_statistic(num_b, den, strata=strata)
    assert result.difference == pytest.approx(expected, abs=1e-15)
    assert result.interval[0] < result.difference < result.interval[1] and 0 <= result.p_value <= 1


def test_paired_eer_finds_a_better_system():
    rng = np.random.default_rng(9)
    n = 3000
    labels, speaker = rng.integers(0, 2, n), rng.integers(0, 30, n)
    good = rng.normal(size=n) + 3.0 * labels
    poor = rng.normal(size=n) + 2.0 * labels
    for blocks in (None, speaker):
        result = paired_bootstrap_eer(good, poor, labels, blocks=blocks, seed=0, n_resamples=1000)
        assert result.difference == pytest.approx(equal_error_rate(labels, good) - equal_error_rate(labels, poor))
        assert result.difference < 0 and result.p_value < 0.01 and result.interval[1] < 0


def test_mcnemar_exact_and_chi_square_branches():
    from scipy import stats

    a = np.r_[np.ones(3), np.ones(50), np.zeros(20)]
    b = np.r_[np.zeros(3), np.ones(50), np.zeros(20)]
    assert mcnemar_p_value(a, b) == pytest.approx(2 * 0.5**3)  # 3 discordant: exact binomial
    a = np.r_[np.ones(30), np.zeros(10), np.ones(50)]
    b = np.r_[np.zeros(30), np.ones(10), np.ones(50)]
    chi2 = (abs(30 - 10) - 1) ** 2 / 40  # 40 discordant: chi-square with continuity correction
    assert mcnemar_p_value(a, b) == pytest.approx(stats.chi2.sf(chi2, 1))


def test_holm_bonferroni_by_hand_and_against_statsmodels():
    from statsmodels.stats.multitest import multipletests

    # sorted: 0.005 x4 = 0.02, 0.01 x3 = 0.03, 0.03 x2 = 0.06, 0.04 x1 = 0.04 -> running max 0.06; back in input order
    assert holm_bonferroni([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm_bonferroni([0.4, 0.6, 0.9]) == [1.0, 1.0, 1.0]  # capped at 1
    assert holm_bonferroni([]) == []
    p = np.random.default_rng(10).random(12) ** 3
    assert holm_bonferroni(p) == pytest.approx(list(multipletests(p, method="holm")[1]))
