"""The card's Overall Score and SUPERB_s on the published rows, and the reference data itself."""

from __future__ import annotations

import statistics

import pytest

from benchcore.errors import BenchError
from results.columns import superb_columns
from results.references import load_reference_points, load_reference_rows, select_references
from results.scores import card_overall_score, card_points, normalised_task_scores, superb_score

ROWS = {row.id: row for row in load_reference_rows()}
POINTS = load_reference_points()


@pytest.mark.parametrize("row_id", ["card:wavlm_large", "card:meralion1", "card:meralion2"])
def test_card_overall_score_reproduces_the_cards_printed_value(row_id):
    row = ROWS[row_id]
    score = card_overall_score(row.values)
    assert f"{score.value:.2f}" == f"{row.printed_overall_score:.2f}"
    assert not score.missing and len(score.used) == 11


def test_card_hubert_large_score_comes_from_the_leaderboard_numbers():
    """The card's own HuBERT-large row gives 82.2555 (82.26); the printed 82.25 is what the leaderboard's QbE 0.0353
    and SF-F1 89.81 give, the two cells where the card's row differs from the leaderboard's."""
    card, leaderboard = ROWS["card:hubert_large"], ROWS["superb:hubert_large"]
    assert card_overall_score(card.values).value == pytest.approx(82.2555, abs=1e-4)
    assert f"{card_overall_score(leaderboard.values).value:.2f}" == f"{card.printed_overall_score:.2f}" == "82.25"


def test_other_plausible_rules_do_not_reproduce_the_card():
    """The rule is pinned down: averaging SF's two metrics first, or QbE without the x100, misses at least one of the
    card's printed scores (HuBERT large taken with the leaderboard's numbers, as above)."""
    rows = [
        (ROWS[row_id].values, ROWS[row_id].printed_overall_score)
        for row_id in ("card:wavlm_large", "card:meralion1", "card:meralion2")
    ]
    rows.append((ROWS["superb:hubert_large"].values, ROWS["card:hubert_large"].printed_overall_score))

    def sf_first(values):
        points = {key: card_points(key, value) for key, value in values.items()}
        return statistics.fmean(
            [value for key, value in points.items() if not key.startswith("sf")]
            + [(points["sf_f1"] + points["sf_cer"]) / 2]
        )

    def qbe_raw(values):
        points = {key: card_points(key, value) for key, value in values.items()}
        return statistics.fmean([value for key, value in points.items() if key != "qbe"] + [values["qbe"]])

    assert all(f"{card_overall_score(values).value:.2f}" == f"{printed:.2f}" for values, printed in rows)
    for rule in (sf_first, qbe_raw):
        assert not all(f"{rule(values):.2f}" == f"{printed:.2f}" for values, printed in rows), rule.__name__


# SUPERB_s of the published rows as computed from the leaderboard's own code and reference points (reference notes §3b)
PUBLISHED_SUPERB_S = {
    "superb:fbank": 0.0,
    "superb:wav2vec2_base": 818.1,
    "superb:wav2vec2_large": 913.6,
    "superb:hubert_base": 941.0,
    "superb:hubert_large": 918.6,
    "superb:wavlm_base": 1018.8,
    "superb:wavlm_base_plus": 1106.2,
    "superb:wavlm_large": 1144.5,
    "card:meralion1": 986.6,
    "card:meralion2": 1037.5,
}


@pytest.mark.parametrize("row_id", sorted(PUBLISHED_SUPERB_S))
def test_superb_s_of_published_rows(row_id):
    score = superb_score(ROWS[row_id].values, POINTS)
    assert score.value == pytest.approx(PUBLISHED_SUPERB_S[row_id], abs=0.05)
    assert len(score.used) == 10 and not score.missing


def test_superb_s_anchors_fbank_at_0_and_the_topline_at_1000():
    toplines = {key: point.topline for key, point in POINTS.points.items()}
    baselines = {key: point.baseline for key, point in POINTS.points.items()}
    assert all(value == pytest.approx(1000.0) for value in normalised_task_scores(toplines, POINTS).values())
    assert all(value == pytest.approx(0.0, abs=1e-9) for value in normalised_task_scores(baselines, POINTS).values())
    # halfway between FBANK and the topline on every metric, error rates included, scores 500
    halfway = {key: (baselines[key] + toplines[key]) / 2 for key in baselines}
    assert superb_score(halfway, POINTS).value == pytest.approx(500.0)


def test_missing_cells_are_left_out_and_the_score_is_partial():
    values = dict(ROWS["card:wavlm_large"].values)
    for key in ("qbe", "asv", "sd", "sf_cer"):
        del values[key]
    overall = card_overall_score(values)
    assert overall.partial and set(overall.missing) == {"qbe", "asv", "sd", "sf_cer"}
    assert overall.value == pytest.approx(statistics.fmean(card_points(key, value) for key, value in values.items()))
    superb = superb_score(values, POINTS)
    assert superb.partial and set(superb.missing) == {"qbe", "asv", "sd"}  # SF keeps its F1
    full = normalised_task_scores(ROWS["card:wavlm_large"].values, POINTS)
    kept = normalised_task_scores(values, POINTS)
    assert kept["sf"] != full["sf"]  # SF is now F1 alone
    assert superb.value == pytest.approx(statistics.fmean(kept.values()))
    assert card_overall_score({}).value is None and not card_overall_score({}).partial


def test_reference_rows_are_complete_and_sourced():
    assert len(ROWS) == 12
    for row in ROWS.values():
        assert set(row.values) == {column.key for column in superb_columns()}, row.id
        for column in superb_columns():
            assert row.source_of(column.key).url.startswith("https://"), (row.id, column.key)
    assert {row_id for row_id in ROWS if row_id.startswith("card:")} == {
        "card:hubert_large",
        "card:wavlm_large",
        "card:meralion1",
        "card:meralion2",
    }


def test_the_two_sources_differ_only_where_the_notes_say():
    """Card vs leaderboard, model by model: only HuBERT large's QbE and SF-F1 differ (a typo check of the data)."""
    differences = {}
    for card_row in (row for row in ROWS.values() if row.group == "card"):
        for other in (row for row in ROWS.values() if row.group == "superb" and row.model == card_row.model):
            differences[card_row.model] = {key for key in card_row.values if card_row.values[key] != other.values[key]}
    assert differences == {"hubert_large": {"qbe", "sf_f1"}, "wavlm_large": set()}


def test_select_references():
    assert select_references("none") == [] and len(select_references("all")) == 12
    assert [row.id for row in select_references("card")][0] == "card:hubert_large"
    assert {row.id for row in select_references("hubert_large")} == {"card:hubert_large", "superb:hubert_large"}
    assert [row.id for row in select_references("superb:fbank,card:meralion2")] == ["card:meralion2", "superb:fbank"]
    with pytest.raises(BenchError, match="unknown name 'nope'"):
        select_references("card,nope")


def test_the_two_scores_list_exactly_the_registrys_superb_columns():
    """The Overall Score and SUPERB_s name their columns; a task that joins the `superb` benchmark without being added
    there fails here instead of entering (or breaking) the scores silently."""
    from downstream_tasks.metadata import SUPERB
    from results.columns import columns_of_task, superb_columns, task_order
    from results.scores import CARD_OVERALL_POINTS, SUPERB_S_TASKS

    assert list(CARD_OVERALL_POINTS) == [column.key for column in superb_columns()]
    assert SUPERB_S_TASKS == {
        task: tuple(column.key for column in columns_of_task(task)) for task in task_order(SUPERB)
    }
