"""PR / ASR / SF text metrics: hand-worked examples, and equality with s3prl's own functions on the same inputs."""

from __future__ import annotations

import ast
import random
import re
import types
from pathlib import Path

import numpy as np
import pytest

from downstream_tasks.metrics.text import (
    cer,
    error_rate,
    parse_slots,
    per,
    render_sf_tokens,
    sf_metrics,
    slot_edit_f1,
    slot_type_f1,
    slot_value_cer,
    slot_value_wer,
    wer,
)

S3PRL = Path(__import__("s3prl").__file__).parent
S3PRL_METRIC_NAMES = (
    "wer",
    "per",
    "cer",
    "slot_type_f1",
    "slot_value_cer",
    "slot_value_wer",
    "slot_edit_f1_full",
    "slot_edit_f1_part",
)


# ----------------------------------------------------------------------------------------------------------------------
# WER / PER / CER by hand


def test_wer_substitution_deletion_insertion_is_corpus_level():
    # ref "THE CAT SAT ON THE MAT" (6 words) vs hyp "THE CAT SIT ON MAT":
    # SAT->SIT (1 sub) + one THE dropped (1 del) = 2 / 6
    assert wer(["THE CAT SIT ON MAT"], ["THE CAT SAT ON THE MAT"]) == 2 / 6
    # ref "A B C" (3) vs hyp "A X B C D": X and D inserted = 2 / 3 (a rate can exceed 1 with enough insertions)
    assert wer(["A X B C D"], ["A B C"]) == 2 / 3
    assert wer(["A B C D E F G"], ["A"]) == 6 / 1
    # corpus level: (2 + 2) / (6 + 3) = 4/9, not the mean of the two utterance rates (1/3 + 2/3) / 2 = 1/2
    assert wer(["THE CAT SIT ON MAT", "A X B C D"], ["THE CAT SAT ON THE MAT", "A B C"]) == 4 / 9
    assert error_rate(["THE CAT SIT ON MAT"], ["THE CAT SAT ON THE MAT"], unit="word") == 2 / 6


def test_per_is_word_level_over_phones():
    # ref HH AH0 L OW1 (4 phones) vs hyp HH AH1 L OW1 W:
    # AH0->AH1 (1 sub, a whole phone, not one character) + W inserted = 2 / 4
    assert per(["HH AH1 L OW1 W"], ["HH AH0 L OW1"]) == 2 / 4
    # second utterance: ref "SIL K AE1 T" vs hyp "K AE1 T": SIL deleted = 1 / 4; corpus (2 + 1) / (4 + 4) = 3/8
    assert per(["HH AH1 L OW1 W", "K AE1 T"], ["HH AH0 L OW1", "SIL K AE1 T"]) == 3 / 8


def test_cer_counts_spaces_and_does_not_strip():
    # "ABC" vs "ABD": 1 sub / 3 chars
    assert cer(["ABD"], ["ABC"]) == 1 / 3
    # "A B" vs "AB": the space is a character, 1 del / 3 chars
    assert cer(["AB"], ["A B"]) == 1 / 3
    # a leading space in the hypothesis is one insertion (jiwer's default cer would strip it and say 0), as with
    # editdistance
    assert cer([" ABC"], ["ABC"]) == 1 / 3
    # corpus: (1 + 1) / (3 + 3)
    assert error_rate(["ABD", "AB"], ["ABC", "A B"], unit="char") == 2 / 6


def test_empty_and_irregular_strings_follow_s3prls_split_on_space():
    # empty hypothesis against 2 words: 2 errors / 2 words (as if the hypothesis were no words at all)
    assert wer([""], ["A B"]) == 1.0
    # "".split(" ") == [""]: an empty reference is one (empty) word.
    # One hypothesis word against it: 1 sub / 1; nothing: 0 / 1
    assert wer(["A"], [""]) == 1.0
    assert wer([""], [""]) == 0.0
    assert wer(["A", "X Y"], ["", "X Y"]) == 1 / 3  # corpus (1 + 0) / (1 + 2)
    # "A  B".split(" ") == ["A", "", "B"]: the double space is an extra (empty) word,
    # 1 insertion / 2 (jiwer's default says 0)
    assert wer(["A  B"], ["A B"]) == 1 / 2
    assert wer(["A B "], ["A B"]) == 1 / 2  # trailing space: ["A", "B", ""]
    # characters: an empty reference adds no characters; 2 inserted characters / (0 + 2)
    assert cer(["AB", "CD"], ["", "CD"]) == 2 / 2
    assert cer([""], ["AB"]) == 1.0


def test_error_rate_refuses_what_s3prl_would_divide_by_zero_or_silently_truncate():
    with pytest.raises(ValueError):
        cer(["A"], [""])  # every reference empty: 0 characters
    with pytest.raises(ValueError):
        wer([], [])
    with pytest.raises(ValueError):
        wer(["A", "B"], ["A"])  # s3prl's zip would score only the first pair
    with pytest.raises(ValueError):
        error_rate(["A"], ["A"], unit="phone")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        wer("A B", "A B")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------------------------------
# SF parsing


def test_parse_slots_plain_text_and_slots():
    assert parse_slots("PLAY B-artist MADONNA E-artist NOW") == ("PLAY MADONNA NOW", [("artist", "MADONNA")])
    # lazy match: two slots of one type stay two slots; several words in one value; runs of spaces collapsed first
    assert parse_slots("FROM  B-city PARIS E-city TO B-city NEW   YORK E-city") == (
        "FROM PARIS TO NEW YORK",
        [("city", "PARIS"), ("city", "NEW YORK")],
    )
    assert parse_slots("WHAT TIME IS IT") == ("WHAT TIME IS IT", [])
    # an unclosed B- and an orphan E- are no slot, and their markers leave the plain text
    assert parse_slots("B-city PARIS") == ("PARIS", [])
    assert parse_slots("PARIS E-city TO") == ("PARIS TO", [])
    assert parse_slots("E-city PARIS") == (
        "PARIS",
        [],
    )  # s3prl's clean() keeps a leading "E-city"; the plain text drops it
    # a mismatched close does not close: B-city ... E-country is no slot
    assert parse_slots("B-city PARIS E-country") == ("PARIS", [])
    # a nested slot is swallowed into the outer value; hypothesis values are cleaned (s3prl cleans hyp values, not ref
    # values)
    nested = "B-a X B-b Y E-b E-a"
    assert parse_slots(nested) == ("X Y", [("a", "X Y")])
    assert parse_slots(nested, clean_values=False) == ("X Y", [("a", "X B-b Y E-b")])


def test_render_sf_tokens_is_s3prls_character_slot_decode():
    # CharacterTextSlotEncoder.encode("PLAY MADONNA" with MADONNA tagged artist) yields the characters of PLAY, " ",
    # B-artist, the characters of MADONNA, E-artist (then eos); decode writes B- as "B-artist " and E- as " E-artist"
    tokens = [*"PLAY", " ", "B-artist", *"MADONNA", "E-artist"]
    assert render_sf_tokens(tokens) == "PLAY B-artist MADONNA E-artist"
    # a slot that is not the last word: E-artist, then the space token, gives "... E-artist NOW" (single spaces)
    assert (
        render_sf_tokens([*"PLAY", " ", "B-artist", *"MADONNA", "E-artist", " ", *"NOW"])
        == "PLAY B-artist MADONNA E-artist NOW"
    )
    assert parse_slots(tokens) == ("PLAY MADONNA", [("artist", "MADONNA")])
    with pytest.raises(ValueError):
        render_sf_tokens(["PLAY", "B-artist", "MADONNA", "E-artist"])  # words, not characters: join them yourself


# ----------------------------------------------------------------------------------------------------------------------
# SF metrics by hand

SF_REFS = [
    "WHAT TIME IS IT",  # U1: no slot on either side
    "PLAY B-artist MADONNA E-artist",  # U2: the slot is missing from the hypothesis
    "BOOK B-restaurant_type RESTAURANT E-restaurant_type",  # U3: the hypothesis adds a slot of another type
    "FROM B-city PARIS E-city TO B-city ROME E-city",  # U4: a repeated slot type, one value wrong
    "SET ALARM FOR B-timeRange SEVEN AM E-timeRange",  # U5: a wrong value of the right type
]
SF_HYPS = [
    "WHAT TIME IS IT",
    "PLAY MADONNA",
    "BOOK B-restaurant_type RESTAURANT E-restaurant_type B-city PARIS E-city",
    "FROM B-city PARIS E-city TO B-city ROMA E-city",
    "SET ALARM FOR B-timeRange SEVEN PM E-timeRange",
]


def test_slot_type_f1_by_hand():
    # U1 no types on either side: 1.  U2 ref {artist}, hyp {}: 0.
    # U3 ref {restaurant_type}, hyp {restaurant_type, city}: R = 1/1, P = 1/2, F1 = 2 * 1/2 * 1 / (3/2) = 2/3.
    # U4 {city} vs {city}: 1 (values and repeats do not matter).  U5 {timeRange} vs {timeRange}: 1.
    # mean over utterances: (1 + 0 + 2/3 + 1 + 1) / 5 = 11/15
    assert slot_type_f1(SF_HYPS, SF_REFS) == pytest.approx(11 / 15, abs=1e-15)
    assert slot_type_f1(["HELLO"], ["GOODBYE"]) == 1.0  # both without slots: 1.0, whatever the words
    assert slot_type_f1(["B-city PARIS E-city"], ["PARIS"]) == 0.0  # hypothesis slot, reference none
    assert slot_type_f1(["B-country FRANCE E-country"], ["B-city PARIS E-city"]) == 0.0  # P = R = 0


def test_slot_value_cer_and_wer_by_hand():
    # one pair per reference value, scored against the best hypothesis value of its type, "" if the type is missing:
    #   U2 MADONNA vs ""          : 7 char errors / 7 chars,  1 word error / 1 word
    #   U3 RESTAURANT vs itself   : 0 / 10,                   0 / 1           (the extra city slot costs nothing here)
    #   U4 PARIS vs PARIS         : 0 / 5,                    0 / 1
    #   U4 ROME: candidates PARIS (CER 4/4 = 1) and ROMA (1/4): ROMA, 1 / 4; by words both are 1/1, either gives 1 / 1
    #   U5 "SEVEN AM" vs "SEVEN PM": 1 / 8 (the space counts), 1 / 2
    # CER = (7 + 0 + 0 + 1 + 1) / (7 + 10 + 5 + 4 + 8) = 9/34;  WER = (1 + 0 + 0 + 1 + 1) / (1 + 1 + 1 + 1 + 2) = 3/6
    assert slot_value_cer(SF_HYPS, SF_REFS) == 9 / 34
    assert slot_value_wer(SF_HYPS, SF_REFS) == 3 / 6
    # one hypothesis value may serve two reference values; an unmatched extra hypothesis value of the type costs nothing
    assert slot_value_cer(["B-t A E-t B-t B E-t"], ["B-t A E-t X B-t A E-t"]) == 0.0
    with pytest.raises(ValueError):
        slot_value_cer(["B-t A E-t"], ["A"])  # no reference slot anywhere: s3prl divides by zero


def test_slot_value_error_keeps_s3prls_start_at_100_quirk():
    # s3prl's best-candidate search starts at min_cer = 100 and needs a strictly lower rate. A hypothesis value 100
    # characters long against the 1-character reference value "A" has CER 100/1 = 100, never < 100, so "A" is scored
    # against "" instead: 1 error / 1 char = 1.0 (a naive best-match would give 100/1 = 100.0)
    long_value = "B" * 100
    assert slot_value_cer([f"B-t {long_value} E-t"], ["B-t A E-t"]) == 1.0
    # 99 characters: CER 99 < 100, taken: 99 / 1
    assert slot_value_cer([f"B-t {'B' * 99} E-t"], ["B-t A E-t"]) == 99.0
    # same for words: 100 words against 1 is WER 100, not taken; scored against "" = 1 / 1
    assert slot_value_wer([f"B-t {' '.join(['W'] * 100)} E-t"], ["B-t A E-t"]) == 1.0


def test_slot_edit_f1_full_and_part_by_hand():
    # per reference value: type missing -> FN; an equal hypothesis value of the type -> TP; else FN and FP.
    #   U2 MADONNA: artist missing -> FN
    #   U3 RESTAURANT: TP;  the hypothesis city slot (type not in the reference): FP in full only
    #   U4 PARIS: TP;  ROME vs {PARIS, ROMA}: FN + FP
    #   U5 "SEVEN AM" vs "SEVEN PM": FN + FP
    # TP = 2, FN = 3; FP = 3 (full) or 2 (part)
    # full: 100 * 2*2 / (2*2 + 3 + 3) = 40;  part: 100 * 4 / (4 + 2 + 3) = 400/9
    assert slot_edit_f1(SF_HYPS, SF_REFS, loop_over_all_slot=True) == 40.0
    assert slot_edit_f1(SF_HYPS, SF_REFS, loop_over_all_slot=True, percent=False) == 0.4  # the 0.4 API's scale
    assert slot_edit_f1(SF_HYPS, SF_REFS, loop_over_all_slot=False) == pytest.approx(400 / 9, abs=1e-12)
    # the same hypothesis value matches two equal reference values: TP = 2, 100 * 4 / 4
    assert slot_edit_f1(["B-t A E-t"], ["B-t A E-t B-t A E-t"], loop_over_all_slot=True) == 100.0
    # an extra value of a type the reference has is never a false positive: still 100
    assert slot_edit_f1(["B-t A E-t B-t B E-t"], ["B-t A E-t"], loop_over_all_slot=True) == 100.0
    with pytest.raises(ValueError):
        slot_edit_f1(
            ["B-t A E-t"], ["A"], loop_over_all_slot=False
        )  # part ignores the hypothesis-only type: nothing to score


def test_sf_metrics_by_hand():
    got = sf_metrics(SF_HYPS, SF_REFS)
    assert set(got) == {
        "slot_type_f1",
        "slot_value_cer",
        "slot_value_wer",
        "slot_edit_f1_full",
        "slot_edit_f1_part",
        "wer",
        "cer",
        "wer_with_markers",
        "cer_with_markers",
    }
    assert got["slot_type_f1"] == pytest.approx(11 / 15, abs=1e-15)
    assert got["slot_value_cer"] == 9 / 34
    assert got["slot_value_wer"] == 0.5
    assert got["slot_edit_f1_full"] == 0.4  # records hold fractions; s3prl's legacy recipe logs 40.0
    assert got["slot_edit_f1_part"] == pytest.approx(4 / 9, abs=1e-12)
    # plain texts, markers removed:
    #   U1 0 / 4 words;  U2 "PLAY MADONNA" both, 0 / 2;  U3 "BOOK RESTAURANT PARIS" vs "BOOK RESTAURANT": 1 ins / 2
    #   U4 "FROM PARIS TO ROMA" vs "... ROME": 1 / 4;  U5 "SET ALARM FOR SEVEN PM" vs "... AM": 1 / 5   -> WER 3/17
    #   characters: U3 inserts " PARIS" = 6, U4 and U5 one each = 8 errors over 15 + 12 + 15 + 18 + 22 = 82  -> CER 8/82
    assert got["wer"] == 3 / 17
    assert got["cer"] == 8 / 82
    # s3prl's SF "wer" counts the markers as words: U2 drops B-artist and E-artist (2 del / 4), U3 adds B-city PARIS
    # E-city (3 ins / 4), U4 ROME->ROMA (1 / 8), U5 AM->PM (1 / 7), U1 0 / 4: 7/27
    assert got["wer_with_markers"] == 7 / 27
    # token lists give the same numbers as their rendered strings
    as_tokens = [[*"PLAY", " ", "B-artist", *"MADONNA", "E-artist"]]
    assert sf_metrics(as_tokens, as_tokens) == sf_metrics(
        ["PLAY B-artist MADONNA E-artist"], ["PLAY B-artist MADONNA E-artist"]
    )


# ----------------------------------------------------------------------------------------------------------------------
# Equality with s3prl


def _functions_from_source(path: Path, names, namespace: dict) -> dict:
    """Fallback for when the module's import chain fails: exec the top-level functions of an s3prl file in a
    namespace."""
    tree = ast.parse(path.read_text())
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    exec(compile(ast.Module(functions, []), str(path), "exec"), namespace)
    return {name: namespace[name] for name in names}


@pytest.fixture(scope="module", params=["ctc.metric imported", "ctc/metric.py via ast", "s3prl.metric (0.4 API)"])
def s3prl_metrics(request):
    """s3prl's PR/SF metric functions, three ways: the legacy module imported, its source exec'd, and the new-API
    copy."""
    editdistance = pytest.importorskip("editdistance")
    if request.param == "ctc.metric imported":
        import s3prl.downstream.ctc.metric as module

        return types.SimpleNamespace(**{name: getattr(module, name) for name in S3PRL_METRIC_NAMES})
    if request.param == "ctc/metric.py via ast":
        return types.SimpleNamespace(
            **_functions_from_source(
                S3PRL / "downstream/ctc/metric.py", S3PRL_METRIC_NAMES, {"re": re, "np": np, "ed": editdistance}
            )
        )
    import s3prl.metric as new
    import s3prl.metric.slot_filling as new_sf

    # the 0.4 API's slot edit F1 is a fraction where the legacy one is percent: scale it to compare with sf_metrics'
    # (legacy) values, and check our percent=False separately against the unscaled one
    namespace = types.SimpleNamespace(
        wer=new.wer, per=new.per, cer=new.cer, **{name: getattr(new_sf, name) for name in S3PRL_METRIC_NAMES[3:]}
    )
    namespace.slot_edit_f1_fraction = {True: new_sf.slot_edit_f1_full, False: new_sf.slot_edit_f1_part}
    namespace.slot_edit_f1_full = lambda h, r: 100 * new_sf.slot_edit_f1_full(h, r)
    namespace.slot_edit_f1_part = lambda h, r: 100 * new_sf.slot_edit_f1_part(h, r)
    return namespace


def _random_text(rng: random.Random, words, max_words=6) -> str:
    text = " ".join(rng.choice(words) for _ in range(rng.randint(0, max_words)))
    if rng.random() < 0.1:
        text = text.replace(" ", "  ", 1)  # an irregular double space
    if rng.random() < 0.05:
        text += " "
    return text


def _random_sf_reference(rng: random.Random) -> str:
    """Like CharacterTextSlotEncoder's targets: words, runs of equally-tagged words wrapped in B-<slot> ... E-<slot>."""
    words = []
    for _ in range(rng.randint(1, 7)):
        words.append(
            (
                rng.choice(["PLAY", "TO", "PARIS", "ROME", "SEVEN", "AM", "A", "B", "NEW", "YORK"]),
                rng.choice(["O", "O", "city", "artist", "time"]),
            )
        )
    out = []
    for i, (word, tag) in enumerate(words):
        if tag != "O" and (i == 0 or words[i - 1][1] != tag):
            out.append(f"B-{tag}")
        out.append(word)
        if tag != "O" and (i == len(words) - 1 or words[i + 1][1] != tag):
            out.append(f"E-{tag}")
    return " ".join(out)


def _random_sf_hypothesis(rng: random.Random, reference: str) -> str:
    """A mangled reference: words and markers dropped, replaced, inserted (unclosed, orphan and nested markers
    included)."""
    pool = [
        "PLAY",
        "PARIS",
        "ROME",
        "ROMA",
        "A",
        "B",
        "B-city",
        "E-city",
        "B-artist",
        "E-artist",
        "B-time",
        "E-time",
        "B-x",
        "E-x",
    ]
    out = []
    for token in reference.split(" "):
        r = rng.random()
        if r < 0.1:
            continue
        out.append(rng.choice(pool) if r < 0.25 else token)
        if rng.random() < 0.1:
            out.append(rng.choice(pool))
    text = " ".join(out)
    return text.replace(" ", "  ", 1) if rng.random() < 0.1 else text


def test_error_rates_equal_s3prls(s3prl_metrics):
    rng = random.Random(0)
    words = ["A", "B", "C", "HH", "AH0", "AH1", "SIL"]
    refs = [_random_text(rng, words) for _ in range(300)]
    hyps = [_random_text(rng, words) for _ in range(300)]
    refs[0], hyps[1] = "", ""  # an empty reference and an empty hypothesis
    assert wer(hyps, refs) == s3prl_metrics.wer(hyps, refs)
    assert per(hyps, refs) == s3prl_metrics.per(hyps, refs)
    assert cer(hyps, refs) == s3prl_metrics.cer(hyps, refs)
    for hand_worked in (
        [["THE CAT SIT ON MAT", "A X B C D"], ["THE CAT SAT ON THE MAT", "A B C"]],
        [["A  B", "A B ", "", "A"], ["A B", "A B", "A B", ""]],
    ):
        assert wer(*hand_worked) == s3prl_metrics.wer(*hand_worked)
        assert cer(*hand_worked) == s3prl_metrics.cer(*hand_worked)


def test_sf_metrics_equal_s3prls(s3prl_metrics):
    rng = random.Random(1)
    refs = [_random_sf_reference(rng) for _ in range(200)]
    hyps = [_random_sf_hypothesis(rng, ref) for ref in refs]
    hyps[:5] = refs[:5]  # a few perfect ones
    quirk_hyp, quirk_ref = (
        f"B-time {'B' * 100} E-time B-city {' '.join(['ROME'] * 100)} E-city",
        "B-time A E-time B-city PARIS E-city",
    )
    for h, r in (
        (hyps, refs),
        (SF_HYPS, SF_REFS),
        ([quirk_hyp], [quirk_ref]),
        (["B-a X B-b Y E-b E-a", "B-a X B-b Y E-b E-a Z"], ["B-a X Y E-a", "B-a X B-b Y E-b E-a"]),
    ):
        ours = sf_metrics(h, r)
        assert ours["slot_type_f1"] == s3prl_metrics.slot_type_f1(h, r)
        assert ours["slot_value_cer"] == s3prl_metrics.slot_value_cer(h, r)
        assert ours["slot_value_wer"] == s3prl_metrics.slot_value_wer(h, r)
        if hasattr(
            s3prl_metrics, "slot_edit_f1_fraction"
        ):  # 0.4 API: a fraction, bit-identical to ours with percent=False
            for full, theirs in s3prl_metrics.slot_edit_f1_fraction.items():
                assert slot_edit_f1(h, r, loop_over_all_slot=full, percent=False) == theirs(h, r)
        else:  # legacy ctc/metric.py: percent, bit-identical
            assert slot_edit_f1(h, r, loop_over_all_slot=True) == s3prl_metrics.slot_edit_f1_full(h, r)
            assert slot_edit_f1(h, r, loop_over_all_slot=False) == s3prl_metrics.slot_edit_f1_part(h, r)
        # sf_metrics reports them as fractions (records hold fractions)
        assert 100 * ours["slot_edit_f1_full"] == pytest.approx(s3prl_metrics.slot_edit_f1_full(h, r), rel=1e-14)
        assert 100 * ours["slot_edit_f1_part"] == pytest.approx(s3prl_metrics.slot_edit_f1_part(h, r), rel=1e-14)
        # what s3prl logs as SF wer / cer: the raw strings, markers included
        assert ours["wer_with_markers"] == s3prl_metrics.wer(h, r)
        assert ours["cer_with_markers"] == s3prl_metrics.cer(h, r)
    # the random corpus really exercises every branch
    assert 0 < s3prl_metrics.slot_type_f1(hyps, refs) < 1 and s3prl_metrics.slot_value_cer(hyps, refs) > 0
    assert s3prl_metrics.slot_edit_f1_full(hyps, refs) < s3prl_metrics.slot_edit_f1_part(hyps, refs)


def test_percent_rates_equal_s3prls_asr_expert():
    """``asr/expert.py::_compute_metrics`` (legacy ASR: UER and WER in percent, ``split()``), exec'd from source (its
    module needs fairseq-style imports); on well-formed strings it is 100 x :func:`error_rate`."""
    editdistance = pytest.importorskip("editdistance")
    tree = ast.parse((S3PRL / "downstream/asr/expert.py").read_text())
    expert = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "DownstreamExpert")
    method = next(node for node in expert.body if isinstance(node, ast.FunctionDef) and node.name == "_compute_metrics")
    namespace = {"editdistance": editdistance}
    exec(compile(ast.Module([method], []), "asr/expert.py", "exec"), namespace)
    rng = random.Random(2)
    target_words = [
        " ".join(rng.choice(["A", "BE", "CAT", "DOG"]) for _ in range(rng.randint(1, 8))) for _ in range(100)
    ]
    pred_words = [
        " ".join(rng.choice(["A", "BE", "CAT", "DOG", "EGG"]) for _ in range(rng.randint(0, 8))) for _ in range(100)
    ]
    as_units = lambda text: " ".join(text.replace(" ", "|"))  # noqa: E731  (asr units: characters, "|" between words)
    target_units, pred_units = [as_units(t) for t in target_words], [as_units(p) for p in pred_words]
    uer, wer_percent = namespace["_compute_metrics"](
        None, pred_units, [p.split() for p in pred_words], target_units, [t.split() for t in target_words]
    )
    assert uer == pytest.approx(100 * error_rate(pred_units, target_units, "word"), rel=1e-12)
    assert wer_percent == pytest.approx(100 * wer(pred_words, target_words), rel=1e-12)
