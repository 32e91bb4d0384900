"""The classification tasks are learnable from plain spectral statistics, but not from trivial cues.

Features: 80 log-mel filterbanks + deltas + delta-deltas (torchaudio's Kaldi fbank, no CMVN, as
s3prl's ``fbank_no_cmvn`` upstream), mean and std over frames. Classifier: standardised logistic
regression. Splits as the recipes split (KS: hash train vs. the test set; SID: iden_split 1 vs 3;
ER: five leave-one-session-out folds, pooled; IC: train+valid vs test). "Chance" is the majority
class of the training labels scored on the test labels.

Thresholds (in accuracy points above chance):

========  ==================  =======================  ===========================
task      spectral >= chance  duration, loudness <=     spectral - best trivial >=
========  ==================  =======================  ===========================
tiny
KS        + 0.25              chance + 0.05            0.25
SID       + 0.25              chance + 0.10            0.25
ER        + 0.10              chance + 0.10            0.05
IC        + 0.12              chance + 0.10            0.10
small
KS        + 0.30              chance + 0.05            0.30
SID       + 0.30              chance + 0.08            0.30
ER        + 0.15              chance + 0.08            0.10
IC        + 0.20              chance + 0.10            0.15
========  ==================  =======================  ===========================

IC's phrasings differ in length from intent to intent (as real commands do); random speaking rate and
silence padding keep duration alone near chance (measured at seed 0, small: 0.15 vs chance 0.08, against
0.58 for the spectral features), hence its wider trivial margin.
"""

from __future__ import annotations

import pytest
from mini_helpers import learnability, small_corpus, tiny_corpus

TINY = {"KS": (0.25, 0.05, 0.25), "SID": (0.25, 0.10, 0.25), "ER": (0.10, 0.10, 0.05), "IC": (0.12, 0.10, 0.10)}
SMALL = {"KS": (0.30, 0.05, 0.30), "SID": (0.30, 0.08, 0.30), "ER": (0.15, 0.08, 0.10), "IC": (0.20, 0.10, 0.15)}


def check(result: dict[str, float], spectral_margin: float, trivial_margin: float, gap: float) -> None:
    chance = result["chance"]
    assert result["spectral"] >= chance + spectral_margin, result
    assert result["duration"] <= chance + trivial_margin, result
    assert result["loudness"] <= chance + trivial_margin, result
    assert result["spectral"] - max(result["duration"], result["loudness"]) >= gap, result


@pytest.mark.parametrize("task", sorted(TINY))
def test_tiny_corpus_is_learnable_but_not_trivial(task: str) -> None:
    check(learnability(task, tiny_corpus()), *TINY[task])


@pytest.mark.parametrize("task", sorted(SMALL))
def test_small_corpus_is_learnable_but_not_trivial(task: str) -> None:
    check(learnability(task, small_corpus()), *SMALL[task])
