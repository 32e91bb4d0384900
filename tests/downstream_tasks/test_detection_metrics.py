"""EER, DER (+ posteriors -> RTTM) and MTWV/ATWV against s3prl's code (executed from its source) and hand-worked
examples."""

from __future__ import annotations

import ast
import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from downstream_tasks.metrics.detection import (
    QUESST_C_FA,
    QUESST_C_MISS,
    QUESST_P_TARGET,
    diarization_error_rate,
    equal_error_rate,
    posteriors_to_segments,
    read_rttm,
    term_weighted_value,
    twv_beta,
    twv_curve,
    write_rttm,
)

S3PRL = Path(importlib.util.find_spec("s3prl").submodule_search_locations[0])  # located, not imported


def exec_from_source(path: Path, names: set[str], namespace: dict) -> dict:
    """Execute only the top-level functions / assignments ``names`` of an s3prl file (its own imports may not load
    here)."""
    tree = ast.parse(path.read_text())
    nodes = [
        node
        for node in tree.body
        if (isinstance(node, ast.FunctionDef) and node.name in names)
        or (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in names for t in node.targets))
    ]
    assert {getattr(n, "name", None) or n.targets[0].id for n in nodes} == names, f"{names} not all found in {path}"
    exec(compile(ast.Module(body=nodes, type_ignores=[]), str(path), "exec"), namespace)
    return namespace


@pytest.fixture(scope="module")
def s3prl_eer():
    from scipy.interpolate import interp1d
    from scipy.optimize import brentq
    from sklearn.metrics import roc_curve

    namespace = {"np": np, "brentq": brentq, "interp1d": interp1d, "roc_curve": roc_curve}
    return exec_from_source(S3PRL / "downstream/sv_voxceleb1/utils.py", {"EER"}, namespace)["EER"]


# ------------------------------------------------------------------------------------------------------------------ EER


def test_eer_hand_worked():
    # targets 0.9 0.8 0.7 0.2, non-targets 0.6 0.5 0.4 0.3. ROC points (fpr, tpr) after sklearn drops the collinear
    # ones: (0, 0), (0, .75) [threshold 0.7], (1, .75) [0.3], (1, 1) [0.2]. On the segment (0, .75)-(1, .75) tpr = .75,
    # so 1 - x - tpr(x) = .25 - x = 0 at x = .25: FPR = miss rate = 0.25.
    labels = [1, 1, 1, 1, 0, 0, 0, 0]
    scores = [0.9, 0.8, 0.7, 0.2, 0.6, 0.5, 0.4, 0.3]
    assert equal_error_rate(labels, scores) == pytest.approx(0.25, abs=1e-9)
    # perfectly separated -> 0; perfectly inverted -> 1
    assert equal_error_rate([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1]) == pytest.approx(0.0, abs=1e-9)
    assert equal_error_rate([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]) == pytest.approx(1.0, abs=1e-9)


def test_eer_matches_s3prl(s3prl_eer):
    rng = np.random.default_rng(0)
    for trial in range(5):
        n = 200 + 50 * trial
        labels = rng.integers(0, 2, n)
        scores = rng.normal(size=n) + 1.2 * labels
        if trial == 4:
            scores = np.round(scores, 1)  # many ties
        eer, threshold = s3prl_eer(labels, scores)
        assert equal_error_rate(labels, scores) == eer
        assert equal_error_rate(labels, scores, return_threshold=True) == (float(eer), float(threshold))


def test_eer_needs_both_classes():
    with pytest.raises(ValueError):
        equal_error_rate([1, 1], [0.1, 0.2])


# ------------------------------------------------------------------------------------------------------------------ DER

# One 10 s recording. Reference: A [0, 4), B [3, 7), A [8, 10); [3, 4) is overlapped speech, [7, 8) is silence.
REFERENCE = [(0.0, 4.0, "A"), (3.0, 7.0, "B"), (8.0, 10.0, "A")]
# Hypothesis: s1 [0, 3.5), s2 [3.5, 7.5), s1 [8, 9), s3 [9, 10).
HYPOTHESIS = [(0.0, 3.5, "s1"), (3.5, 7.5, "s2"), (8.0, 9.0, "s1"), (9.0, 10.0, "s3")]


def test_der_hand_worked():
    # Optimal mapping: s1->A (overlap 3.5 + 1 = 4.5 s), s2->B (3.5 s); s3 stays unmapped
    # (s3->A would give 1 + 3.5 = 4.5 < 8).
    # Scored region = extent of all turns = [0, 10). Per piece (reference speakers, hypothesis speakers):
    #   [0, 3)    {A}    {s1=A}  correct                                      total 3
    #   [3, 3.5)  {A,B}  {s1=A}  1 speaker missing for 0.5 s -> missed 0.5    total 2 x 0.5 = 1
    #   [3.5, 4)  {A,B}  {s2=B}  1 speaker missing for 0.5 s -> missed 0.5    total 1
    #   [4, 7)    {B}    {s2=B}  correct                                      total 3
    #   [7, 7.5)  {}     {s2}    false alarm 0.5                              total 0
    #   [7.5, 8)  {}     {}      nothing
    #   [8, 9)    {A}    {s1=A}  correct                                      total 1
    #   [9, 10)   {A}    {s3}    confusion 1                                  total 1
    # total = 3 + 1 + 1 + 3 + 1 + 1 = 10 s; missed 1.0, false alarm 0.5, confusion 1.0 -> DER = 2.5 / 10 = 0.25.
    result = diarization_error_rate(REFERENCE, HYPOTHESIS)
    assert result["total"] == pytest.approx(10.0)
    assert result["missed"] == pytest.approx(1.0)
    assert result["false_alarm"] == pytest.approx(0.5)
    assert result["confusion"] == pytest.approx(1.0)
    assert result["der"] == pytest.approx(0.25)
    # skip_overlap=True drops [3, 4) from scoring: total 10 - 2 = 8, missed 0, false alarm 0.5, confusion 1 -> 1.5 / 8
    skipped = diarization_error_rate(REFERENCE, HYPOTHESIS, skip_overlap=True)
    assert skipped["total"] == pytest.approx(8.0)
    assert skipped["missed"] == pytest.approx(0.0)
    assert skipped["der"] == pytest.approx(1.5 / 8)


def test_der_from_rttm_lines_and_several_recordings(tmp_path):
    ref_lines = write_rttm(tmp_path / "ref.rttm", {"rec1": REFERENCE, "rec2": [(0.0, 2.0, "C")]})
    # rec2: hypothesis says D on [1, 3): D->C, correct 1 s, missed [0, 1) 1 s, false alarm [2, 3) 1 s, total 2 s.
    # rec3 exists only in the hypothesis: 1 s of false alarm, no reference speech.
    hyp = {"rec1": HYPOTHESIS, "rec2": [(1.0, 3.0, "D")], "rec3": [(0.0, 1.0, "E")]}
    hyp_lines = write_rttm(None, hyp)
    assert ref_lines[0] == "SPEAKER rec1 1 0.000 4.000 <NA> <NA> A <NA> <NA>"
    assert read_rttm(tmp_path / "ref.rttm")["rec2"] == [(0.0, 2.0, "C")]
    for reference in (tmp_path / "ref.rttm", ref_lines):
        result = diarization_error_rate(reference, hyp_lines)
        assert result["total"] == pytest.approx(10.0 + 2.0)
        assert result["missed"] == pytest.approx(1.0 + 1.0)
        assert result["false_alarm"] == pytest.approx(0.5 + 1.0 + 1.0)
        assert result["confusion"] == pytest.approx(1.0)
        assert result["der"] == pytest.approx(5.5 / 12)
        assert result["per_recording"]["rec1"]["der"] == pytest.approx(0.25)
        assert result["per_recording"]["rec2"]["der"] == pytest.approx(1.0)


def test_read_rttm_accepts_s3prl_lines():
    # s3prl's make_rttm prints 9 fields: "SPEAKER {rec} 1 {start:7.2f} {dur:7.2f} <NA> <NA> {rec}_{k} <NA>"
    lines = [
        "SPEAKER mix1 1    0.50    1.25 <NA> <NA> mix1_0 <NA>",
        "",
        ";; comment",
        "SPKR-INFO x 1 <NA> <NA> <NA> y z <NA>",
    ]
    assert read_rttm(lines) == {"mix1": [(0.5, 1.75, "mix1_0")]}


def test_posteriors_to_segments_small_array():
    posteriors = np.array(
        # spk0  spk1
        [[0.9, 0.1],
         [0.8, 0.5],   # 0.5 is not > 0.5: inactive
         [0.2, 0.6],
         [0.7, 0.7],
         [0.6, 0.2],
         [0.1, 0.1],
         [0.1, 0.9],
         [0.9, 0.9]]
    )  # fmt: skip
    # threshold 0.5 -> spk0 1 1 0 1 1 0 0 1, spk1 0 0 1 1 0 0 1 1; frame shift 0.5 s
    assert posteriors_to_segments(posteriors, 0.5, threshold=0.5) == [
        (0.0, 1.0, 0), (1.5, 2.5, 0), (3.5, 4.0, 0), (1.0, 2.0, 1), (3.0, 4.0, 1)
    ]  # fmt: skip
    # median over 3 frames, zero-padded: spk0 -> 1 1 1 1 1 0 0 0; spk1 -> 0 0 1 1 0 0 1 1 -> med(0,0,0)=0 med(0,0,1)=0
    # med(0,1,1)=1 med(1,1,0)=1 med(1,0,0)=0 med(0,0,1)=0 med(0,1,1)=1 med(1,1,0)=1 (unchanged)
    assert posteriors_to_segments(posteriors, 0.5, threshold=0.5, median_filter=3) == [
        (0.0, 2.5, 0), (1.0, 2.0, 1), (3.0, 4.0, 1)
    ]  # fmt: skip
    with pytest.raises(ValueError):
        posteriors_to_segments(posteriors, 0.5, median_filter=2)


def test_posteriors_to_segments_matches_s3prl_make_rttm(tmp_path):
    import os
    import re

    import torch
    from scipy.signal import medfilt

    namespace = {"np": np, "medfilt": medfilt, "torch": torch, "os": os, "Path": Path}
    make_rttm = exec_from_source(S3PRL / "problem/diarization/util.py", {"make_rttm", "RTTM_FORMAT"}, namespace)[
        "make_rttm"
    ]  # same arithmetic as the legacy downstream/diarization/make_rttm.py script
    rng = np.random.default_rng(3)
    predictions = tmp_path / "predictions"
    predictions.mkdir()
    for name in ("recA", "recB"):
        t = np.arange(400)
        wave = [
            np.clip(0.5 + 0.4 * np.sin(t / (9 + 4 * k) + rng.uniform(0, 6)) + rng.normal(0, 0.15, 400), 0, 1)
            for k in (0, 1)
        ]
        torch.save(torch.tensor(np.stack(wave, axis=1)), predictions / f"{name}.pt")
    frame_shift, subsampling, rate = 320, 1, 16000  # 20 ms frames
    for threshold in (0.3, 0.5, 0.7):
        for median in (1, 11):
            out = tmp_path / f"th{threshold}_med{median}.rttm"
            make_rttm(str(predictions), str(out), threshold, median, frame_shift, subsampling, rate)
            expected = [re.sub(" +", " ", line.strip()) for line in out.read_text().splitlines()]
            ours = []
            for name in ("recA", "recB"):
                posteriors = torch.load(predictions / f"{name}.pt").numpy()
                for start, end, spk in posteriors_to_segments(
                    posteriors, frame_shift * subsampling / rate, threshold, median
                ):
                    ours.append(f"SPEAKER {name} 1 {start:.2f} {end - start:.2f} <NA> <NA> {name}_{spk} <NA>")
            assert ours == expected and len(ours) > 20


# ------------------------------------------------------------------------------------------------------------------ TWV

# 2 queries x 5 documents (+ a third query with no true occurrence, which the scorer ignores).
SCORES = np.array(
    [[0.9, 0.8, 0.7, 0.3, 0.1],
     [0.2, 0.95, 0.4, 0.6, 0.5],
     [0.99, 0.0, 0.0, 0.0, 0.0]]
)  # fmt: skip
TARGETS = np.array(
    [[1, 0, 1, 0, 0],
     [0, 1, 0, 0, 0],
     [0, 0, 0, 0, 0]], dtype=bool
)  # fmt: skip


def test_twv_constants():
    # score-TWV-Cnxe.sh: P_target=0.0008, C_fa=1, C_miss=100; beta = C_fa/C_miss * (1 - P_target)/P_target = 0.9992/0.08
    assert (QUESST_P_TARGET, QUESST_C_MISS, QUESST_C_FA) == (0.0008, 100.0, 1.0)
    assert twv_beta() == pytest.approx(12.49)
    # the effective prior the script hands the jar: C_miss P / (C_miss P + C_fa (1 - P)) = 0.08 / 1.0792
    assert 100 * 0.0008 / (100 * 0.0008 + 1 * (1 - 0.0008)) == pytest.approx(0.0741289, abs=1e-7)


def test_twv_hand_worked_beta_one():
    # P_target 0.5, C_miss = C_fa = 1 -> beta = 1. Q = 2 scored queries;
    # q0: N_true 2, N_nontarget 3; q1: N_true 1, N_nt 4.
    # TWV(theta) = 1 - mean_q[P_miss + P_FA], YES when score >= theta. Sweeping theta down the distinct scores:
    #  theta  new YES            q0 P_miss P_FA   q1 P_miss P_FA   TWV
    #  0.95   q1 d1 (hit)        1      0         0      0         1 - (1 + 0)/2             = 0.5
    #  0.9    q0 d0 (hit)        1/2    0         0      0         1 - (1/2)/2               = 0.75
    #  0.8    q0 d1 (FA)         1/2    1/3       0      0         1 - (1/2 + 1/3)/2         = 0.583333
    #  0.7    q0 d2 (hit)        0      1/3       0      0         1 - (1/3)/2               = 0.833333  <- MTWV
    #  0.6    q1 d3 (FA)         0      1/3       0      1/4       1 - (1/3 + 1/4)/2         = 0.708333
    #  0.5    q1 d4 (FA)         0      1/3       0      2/4       1 - (1/3 + 1/2)/2         = 0.583333
    #  0.4    q1 d2 (FA)         0      1/3       0      3/4       1 - (1/3 + 3/4)/2         = 0.458333
    #  0.3    q0 d3 (FA)         0      2/3       0      3/4       1 - (2/3 + 3/4)/2         = 0.291667
    #  0.2    q1 d0 (FA)         0      2/3       0      1         1 - (2/3 + 1)/2           = 0.166667
    #  0.1    q0 d4 (FA)         0      1         0      1         1 - (1 + 1)/2             = 0
    costs = {"p_target": 0.5, "c_miss": 1.0, "c_fa": 1.0}
    thresholds, curve = twv_curve(SCORES, TARGETS, **costs)
    np.testing.assert_allclose(thresholds, [0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    np.testing.assert_allclose(
        curve, [0.5, 0.75, 7 / 12, 5 / 6, 17 / 24, 7 / 12, 11 / 24, 7 / 24, 1 / 6, 0.0], atol=1e-12
    )
    result = term_weighted_value(SCORES, TARGETS, decision_threshold=0.75, **costs)
    assert result["mtwv"] == pytest.approx(5 / 6) and result["mtwv_threshold"] == 0.7
    # ATWV at YES = score > 0.75: q0 {d0 hit, d1 FA} -> P_miss 1/2, P_FA 1/3; q1 {d1 hit} -> 0, 0.
    # 1 - (1/2 + 1/3)/2 = 7/12
    assert result["atwv"] == pytest.approx(7 / 12)
    assert result["num_queries"] == 2 and result["num_documents"] == 5


def test_twv_hand_worked_quesst_constants():
    # beta = 12.49. Same sweep: a hit of q0 adds 1/(2*2) = .25, of q1 1/(2*1) = .5; a FA of q0 subtracts
    # beta/(2*3) = 2.081667, of q1 beta/(2*4) = 1.56125. theta 0.95: .5; 0.9: .75; 0.8: .75 - 2.081667 < 0; ...
    # everything below stays lower (0.7: 1 - 2.081667). So MTWV = 0.75 at theta 0.9 (q0 P_miss 1/2, no FA anywhere:
    # 1 - (1/2)/2).
    result = term_weighted_value(SCORES, TARGETS, decision_threshold=0.75)
    assert result["beta"] == pytest.approx(12.49)
    assert result["mtwv"] == pytest.approx(0.75) and result["mtwv_threshold"] == 0.9
    # ATWV (score > 0.75): 1 - [(1/2 + 12.49/3) + 0]/2 = 0.75 - 12.49/6 = -1.331667
    assert result["atwv"] == pytest.approx(0.75 - 12.49 / 6)
    # the same through explicit decisions
    assert term_weighted_value(SCORES, TARGETS, decisions=SCORES > 0.75)["atwv"] == pytest.approx(result["atwv"])


def test_twv_missing_trials_get_default_score():
    scores = SCORES.copy()
    scores[0, 4] = np.nan  # a non-target q0 trial not reported: default -10, decision NO
    filled = SCORES.copy()
    filled[0, 4] = -10.0
    a = term_weighted_value(scores, TARGETS, decision_threshold=-20.0)
    b = term_weighted_value(filled, TARGETS, decisions=(filled > -20.0) & ~np.isnan(scores))
    assert a == b


def test_twv_hand_worked_incomplete_system():
    # An "incomplete system" (score-TWV-Cnxe.sh <dir> <gt> -10): q1 was never searched (another language, as in s3prl's
    # English-only stdlist) and q0 has no score for d2. Missing trials get the default score -10 and decision NO.
    # Q = 2, N_true 1 each, N_nontarget 2 each, beta = 12.49: a hit adds 1/(2*1) = 0.5, a false alarm subtracts
    # 12.49/(2*2) = 3.1225. Down the distinct scores:
    #   0.9  q0 d0 (hit)                                0.5                      <- MTWV (q1's miss caps it at 0.5)
    #   0.2  q0 d1 (FA)                                 0.5 - 3.1225 = -2.6225
    #   -10  q0 d2, q1 d0, q1 d1 (FA), q1 d2 (hit)      -2.6225 - 3 * 3.1225 + 0.5 = -11.49 (= 1 - beta: everything YES)
    scores = np.array([[0.9, 0.2, np.nan], [np.nan, np.nan, np.nan]])
    targets = np.array([[1, 0, 0], [0, 0, 1]], dtype=bool)
    thresholds, curve = twv_curve(scores, targets)
    np.testing.assert_allclose(thresholds, [0.9, 0.2, -10.0])
    np.testing.assert_allclose(curve, [0.5, 0.5 - 3.1225, 1 - 12.49], atol=1e-12)
    # ATWV, YES where score > -20: only reported trials can say YES (q0 d0 hit, q0 d1 FA): 0.5 - 3.1225
    result = term_weighted_value(scores, targets, decision_threshold=-20.0)
    assert result["mtwv"] == pytest.approx(0.5) and result["mtwv_threshold"] == 0.9
    assert result["atwv"] == pytest.approx(0.5 - 3.1225)


def test_twv_properties():
    rng = np.random.default_rng(0)
    num_queries, num_docs = 40, 300
    targets = np.zeros((num_queries, num_docs), dtype=bool)
    for q in range(num_queries):
        targets[q, rng.choice(num_docs, size=rng.integers(1, 6), replace=False)] = True
    # a ranking that separates targets from non-targets at one common threshold: MTWV = ATWV = 1
    perfect = np.where(targets, 1.0 + rng.random(targets.shape), rng.random(targets.shape))
    result = term_weighted_value(perfect, targets, decision_threshold=1.0)
    assert result["mtwv"] == pytest.approx(1.0) and result["atwv"] == pytest.approx(1.0)
    assert result["mtwv_threshold"] == perfect[targets].min()  # the first theta (from the top) that admits every target
    # random scores: MTWV near 0 (never below: no YES at all gives 0), ATWV at s3prl's z > 2 rule clearly negative
    # (~2.3% false alarms x beta 12.49 ~ -0.28 against ~2% hits)
    noise = rng.normal(size=targets.shape)
    noise = (noise - noise.mean(1, keepdims=True)) / noise.std(1, keepdims=True)
    result = term_weighted_value(noise, targets, decision_threshold=2.0)
    assert 0.0 <= result["mtwv"] < 0.1
    assert result["atwv"] < -0.1
    # no YES decision at all -> ATWV 0; everything YES -> 1 - beta
    assert term_weighted_value(noise, targets, decisions=np.zeros_like(targets))["atwv"] == 0.0
    assert term_weighted_value(noise, targets, decisions=np.ones_like(targets))["atwv"] == pytest.approx(1 - 12.49)
    # MTWV is 0 at threshold inf when every operating point is worse than saying NO everywhere
    inverted = term_weighted_value(-perfect, targets)
    assert inverted["mtwv"] == 0.0 and math.isinf(inverted["mtwv_threshold"]) and inverted["atwv"] is None


def test_twv_rejects_no_targets():
    with pytest.raises(ValueError):
        term_weighted_value(SCORES[2:], TARGETS[2:])
