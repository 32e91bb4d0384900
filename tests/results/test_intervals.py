"""Cell intervals (results.intervals) from per-item outputs: what is resampled for each statistic, and that the
MTWV query bootstrap starts from the scorer's own value."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from downstream_tasks.items import ItemTable, Statistic, ratio, write_items
from downstream_tasks.metrics.detection import term_weighted_value
from results.intervals import Interval, NoInterval, cell_interval, mtwv_from_curves, query_curves
from results.schema import SCHEMA_VERSION, ResultRecord


def _record(tmp_path: Path, tables: dict[tuple[int, str | None], ItemTable], seeds: list[int]) -> ResultRecord:
    """A result record whose units (one per (seed, fold)) hold the given test item tables."""
    units = []
    for (seed, fold), table in tables.items():
        path = f"units/{fold or 'all'}-seed{seed}"
        (tmp_path / path).mkdir(parents=True)
        write_items(tmp_path / path / "test_items.tsv", table)
        units.append({"unit_id": path, "fold": fold, "seed": seed, "learning_rate": 1e-3, "path": path})
    content = {
        "schema": "superb-bench/result-record",
        "schema_version": SCHEMA_VERSION,
        "task": "toy",
        "upstream": {"name": "toy"},
        "metric": {"name": "acc", "higher_is_better": True},
        "metrics": {"acc": 0.5},
        "seeds": seeds,
        "learning_rate": 1e-3,
        "units": units,
    }
    (tmp_path / "result.json").write_text(json.dumps(content))
    return ResultRecord.from_dict(content, tmp_path / "result.json")


def _accuracy(correct: list[int]) -> ItemTable:
    return ItemTable(
        "toy",
        "utterance",
        [f"u{i}" for i in range(len(correct))],
        {"correct": correct, "count": [1] * len(correct)},
        {"acc": ratio("correct", "count")},
    )


def test_an_accuracy_interval_is_seeded_and_shrinks_with_more_items(tmp_path):
    rng = np.random.default_rng(0)
    small = _record(tmp_path / "small", {(0, None): _accuracy(list(rng.random(100) < 0.7))}, [0])
    large = _record(tmp_path / "large", {(0, None): _accuracy(list(rng.random(2500) < 0.7))}, [0])
    first, again = cell_interval(small, "acc", 2000), cell_interval(small, "acc", 2000)
    assert isinstance(first, Interval) and first == again and first.units == "utterances" and first.n_units == 100
    wide, narrow = first.high - first.low, cell_interval(large, "acc", 2000)
    assert narrow.high - narrow.low < wide / 3  # 1/sqrt(25) of the width, give or take the Monte-Carlo error
    assert first.low < 0.7 < first.high


def test_several_seeds_resample_the_same_items_around_their_mean(tmp_path):
    rng = np.random.default_rng(1)
    seed0, seed1 = list(rng.random(300) < 0.6), list(rng.random(300) < 0.8)
    record = _record(tmp_path, {(0, None): _accuracy(seed0), (1, None): _accuracy(seed1)}, [0, 1])
    interval = cell_interval(record, "acc", 4000)
    mean = (np.mean(seed0) + np.mean(seed1)) / 2
    assert interval.low < mean < interval.high
    assert interval.high - interval.low < 0.15


def test_folds_are_strata_whose_accuracies_are_averaged(tmp_path):
    tables = {(0, f"fold{k}"): _accuracy([1] * (10 + k) + [0] * 10) for k in range(5)}
    record = _record(tmp_path, tables, [0])
    interval = cell_interval(record, "acc", 2000)
    assert interval.n_units == sum(20 + k for k in range(5))
    mean = np.mean([(10 + k) / (20 + k) for k in range(5)])
    assert interval.low < mean < interval.high


def test_records_without_item_files_say_why(tmp_path):
    record = _record(tmp_path, {(0, None): _accuracy([1, 0])}, [0])
    (tmp_path / "units" / "all-seed0" / "test_items.tsv").unlink()
    result = cell_interval(record, "acc")
    assert isinstance(result, NoInterval) and "predates them" in result


def test_query_curves_give_the_scorers_mtwv():
    rng = np.random.default_rng(3)
    scores = np.round(rng.normal(size=(12, 40)), 4)
    targets = rng.random((12, 40)) < 0.1
    targets[0] = False  # a query without occurrences: dropped, as the scorer drops it
    scores[1, :5] = np.nan  # unreported trials: the default score
    scores[targets] += 1.5
    table = ItemTable(
        "qbe",
        "query",
        [f"q{i}" for i in range(12)],
        {
            "scores": [" ".join(repr(float(v)) for v in row) for row in scores],
            "targets": ["".join("1" if t else "0" for t in row) for row in targets],
        },
        {"mtwv": Statistic("mtwv", score="scores", label="targets")},
    )
    curves, queries = query_curves(table, table.statistics["mtwv"])
    assert queries == 11
    assert mtwv_from_curves(curves) == pytest.approx(term_weighted_value(scores, targets)["mtwv"], abs=1e-12)


def _trials(rng: np.random.Generator, separation: float) -> ItemTable:
    speakers = [f"s{i % 8}" for i in range(240)]
    labels = [int(i % 2 == 0) for i in range(240)]
    scores = [float(rng.normal(separation * label)) for label in labels]
    return ItemTable(
        "asv",
        "trial",
        [f"t{i}" for i in range(240)],
        {"score": scores, "label": labels, "speaker": speakers},
        {"eer": Statistic("eer", score="score", label="label")},
        block="speaker",
    )


def test_several_seeds_eers_are_averaged_on_shared_speaker_resamples(tmp_path):
    from results.bootstrap import blocked_eer_resamples, bootstrap_eer, weighted_equal_error_rate

    rng = np.random.default_rng(5)
    seeds = {(seed, None): _trials(rng, 1.5) for seed in range(3)}
    record = _record(tmp_path / "a", seeds, [0, 1, 2])
    interval = cell_interval(record, "eer", 2000)
    assert isinstance(interval, Interval) and interval.units == "speakers" and interval.n_units == 8
    mean = np.mean([weighted_equal_error_rate(t.columns["score"], t.columns["label"]) for t in seeds.values()])
    assert interval.low < mean < interval.high
    one = seeds[(0, None)]
    (alone,) = blocked_eer_resamples(
        [one.columns["score"]], one.columns["label"], seed=4, blocks=one.columns["speaker"]
    )
    assert np.array_equal(
        alone,
        bootstrap_eer(one.columns["score"], one.columns["label"], seed=4, blocks=one.columns["speaker"]),
        equal_nan=True,
    )


def test_a_clearly_better_multi_seed_asv_system_wins_the_paired_test(tmp_path):
    from results.columns import column_by_key
    from results.compare import paired_column_test

    rng = np.random.default_rng(6)
    good = _record(tmp_path / "good", {(seed, None): _trials(rng, 3.0) for seed in range(2)}, [0, 1])
    rng = np.random.default_rng(6)
    weak = _record(tmp_path / "weak", {(seed, None): _trials(rng, 0.5) for seed in range(2)}, [0, 1])
    paired = paired_column_test(good, weak, column_by_key()["asv"], 2000)
    assert paired.difference < 0 and paired.interval[1] < 0 and paired.p_value < 0.01
    same = paired_column_test(good, good, column_by_key()["asv"], 500)
    assert same.difference == 0.0 and same.p_value == 1.0


def test_the_spread_over_strata_and_grouped_candidates_match_hand_values():
    """Items identical within their stratum (or everywhere) make every resample give the full-data statistic, which
    then must be the hand-computed one: the languages' CER spread, and the mean over seeds of each seed's grid
    minimum (SD with several seeds)."""
    from results.bootstrap import bootstrap_ratio

    num = np.array([1.0] * 4 + [3.0] * 4 + [2.0] * 4)
    den = np.full(12, 10.0)
    strata = ["en"] * 4 + ["ms"] * 4 + ["th"] * 4
    spread = bootstrap_ratio(num, den, seed=0, strata=strata, strata_reduce="sd", n_resamples=50)
    assert np.allclose(spread, np.std([0.1, 0.3, 0.2]))
    # two seeds x a grid of three settings: seed 0's minimum is 0.2, seed 1's 0.1 -> 0.15
    grid_num = np.tile([[4.0, 2.0, 3.0, 1.0, 5.0, 2.0]], (6, 1))
    grid_den = np.full((6, 6), 10.0)
    values = bootstrap_ratio(grid_num, grid_den, seed=0, select="min", groups=[0, 0, 0, 1, 1, 1], n_resamples=50)
    assert np.allclose(values, 0.15)


def _languages(rng: np.random.Generator) -> ItemTable:
    languages = [language for language in ("en", "ms", "th") for _ in range(20)]
    edits = [int(rng.integers(0, 6)) for _ in languages]
    return ItemTable(
        "mlasr",
        "utterance",
        [f"u{i}" for i in range(60)],
        {"language": languages, "char_edits": edits, "ref_chars": [10] * 60},
        {"cer_sd": Statistic("sd_of_ratios", "char_edits", "ref_chars", group="language")},
    )


def test_the_cer_spread_and_several_seeds_sd_get_intervals(tmp_path):
    from downstream_tasks.items import recompute

    table = _languages(np.random.default_rng(7))
    interval = cell_interval(_record(tmp_path / "mlasr", {(0, None): table}, [0]), "cer_sd", 2000)
    assert isinstance(interval, Interval) and interval.low <= recompute(table)["cer_sd"] <= interval.high

    rng = np.random.default_rng(8)
    grid = ("m1_t0.5", "m1_t0.6")
    tables = {
        (seed, None): ItemTable(
            "sd",
            "recording",
            [f"r{i}" for i in range(15)],
            {
                **{f"errors_{key}": [float(rng.uniform(1, 4)) for _ in range(15)] for key in grid},
                **{f"speech_{key}": [10.0] * 15 for key in grid},
            },
            {"der": Statistic("select_ratio", tuple(f"errors_{k}" for k in grid), tuple(f"speech_{k}" for k in grid))},
        )
        for seed in range(2)
    }
    record = _record(tmp_path / "sd", tables, [0, 1])
    interval = cell_interval(record, "der", 2000)
    mean = np.mean([recompute(t)["der"] for t in tables.values()])
    assert isinstance(interval, Interval) and interval.units == "recordings" and interval.low <= mean <= interval.high


def test_a_damaged_items_file_or_an_undefined_statistic_costs_the_interval_not_the_report(tmp_path):
    record = _record(tmp_path / "damaged", {(0, None): _accuracy([1, 0, 1])}, [0])
    (tmp_path / "damaged" / "units" / "all-seed0" / "test_items.tsv").write_text("garbage\n")
    damaged = cell_interval(record, "acc")
    assert isinstance(damaged, NoInterval) and "not an items file" in damaged
    one_target = ItemTable(
        "asv",
        "trial",
        ["t0", "t1"],
        {"score": [0.9, 0.1], "label": [1, 0], "speaker": ["s0", "s1"]},
        {"eer": Statistic("eer", score="score", label="label")},
        block="speaker",
    )
    # two speakers, one trial each: a resample that draws one speaker twice has no target or no non-target trial
    undefined = cell_interval(_record(tmp_path / "tiny", {(0, None): one_target}, [0]), "eer", 200)
    assert isinstance(undefined, (Interval, NoInterval))
