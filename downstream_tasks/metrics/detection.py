"""Detection metrics of the SUPERB ASV, SD and QbE tasks, as s3prl's recipes (and the scorers they call) define them.

* **EER** (ASV): ``s3prl/downstream/sv_voxceleb1/utils.py::EER``: scikit-learn's ``roc_curve`` (default
  ``drop_intermediate=True``), then ``brentq`` on ``1 - x - interp1d(fpr, tpr)(x)`` over ``[0, 1]``, i.e. the point of
  the linearly interpolated ROC curve where the false-positive rate equals the miss rate. Reported as a **fraction**.
* **DER** (SD): s3prl's ``diarization/score.sh`` turns the sigmoid posteriors into RTTM with ``make_rttm.py``
  (threshold, then ``scipy.signal.medfilt`` over time, then runs of active frames) and scores them with dscore, whose
  defaults are a 0 s collar and overlapped speech **scored**. Here the posteriors-to-RTTM step is
  :func:`posteriors_to_segments` (the same arithmetic) and the scoring is ``pyannote.metrics``'
  ``DiarizationErrorRate(collar=0.0, skip_overlap=False)`` (optimal one-to-one speaker mapping, like dscore/md-eval).
  Without a UEM, each recording is scored over the extent of its reference and hypothesis turns (earliest start to
  latest end), which is dscore's default too. s3prl reports the lowest DER over ``median in {1, 11}`` x
  ``threshold in {0.3, ..., 0.7}`` on test; that sweep belongs to the caller.
* **MTWV / ATWV** (QbE): the QUESST 2014 scorer (``quesst14Database/scoring/score-TWV-Cnxe.sh`` +
  ``MediaEvalQUESST2014.jar``) re-implemented in numpy, see :func:`term_weighted_value` for the definition, the
  constants and where they come from.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from benchcore.errors import BenchError

# ----------------------------------------------------------------------------------------------------------------------
# EER (ASV)
# ----------------------------------------------------------------------------------------------------------------------


def equal_error_rate(labels, scores, return_threshold: bool = False):
    """Equal error rate (a fraction in [0, 1]) exactly as s3prl's ``sv_voxceleb1/utils.py::EER``.

    ``labels``: 1 for a target (same-speaker) trial, 0 otherwise; ``scores``: higher means more likely a target. With
    ``return_threshold=True`` returns ``(eer, threshold)`` like s3prl's function (the threshold is
    ``interp1d(fpr, thresholds)`` at the EER, so it can be ``inf`` when the EER sits on the ROC curve's first point).
    """
    from scipy.interpolate import interp1d
    from scipy.optimize import brentq
    from sklearn.metrics import roc_curve

    labels = np.asarray(labels).reshape(-1)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if labels.shape != scores.shape:
        raise ValueError(f"labels and scores differ in length ({labels.size} vs {scores.size})")
    if np.unique(labels).size != 2:
        raise ValueError("the EER needs both target (1) and non-target (0) trials")
    fpr, tpr, thresholds = roc_curve(labels, scores)
    eer = brentq(lambda x: 1.0 - x - interp1d(fpr, tpr)(x), 0.0, 1.0)
    if return_threshold:
        return float(eer), float(interp1d(fpr, thresholds)(eer))
    return float(eer)


# ----------------------------------------------------------------------------------------------------------------------
# Diarization (SD): posteriors -> segments -> RTTM -> DER
# ----------------------------------------------------------------------------------------------------------------------

Segment = tuple[float, float, str]  # (start seconds, end seconds, speaker label)
SegmentsInput = Mapping[str, Sequence[tuple]] | Sequence[str] | Sequence[tuple] | str | Path


def posteriors_to_segments(
    posteriors, frame_shift_seconds: float, threshold: float = 0.5, median_filter: int = 1
) -> list[tuple[float, float, int]]:
    """Speaker turns from frame posteriors ``(T, S)``, following s3prl's ``diarization/make_rttm.py``.

    Steps (identical to s3prl): ``active = posteriors > threshold`` (strict), then, when ``median_filter > 1``,
    ``scipy.signal.medfilt(active, (median_filter, 1))`` (a median over time per speaker, zero-padded at the ends; the
    kernel must be odd), then every run of active frames ``[s, e)`` of speaker column ``k`` becomes
    ``(s * shift, e * shift, k)``. ``frame_shift_seconds`` is s3prl's ``frame_shift * subsampling / sampling_rate``.
    s3prl labels the speaker ``f"{recording}_{k}"`` when writing RTTM; here it is the column index ``k``. Segments are
    ordered by speaker, then time.
    """
    from scipy.signal import medfilt

    post = np.asarray(posteriors)
    if post.ndim != 2:
        raise ValueError(f"posteriors must be (frames, speakers), got shape {post.shape}")
    if median_filter < 1 or median_filter % 2 == 0:
        raise ValueError(f"median_filter must be a positive odd kernel size, got {median_filter}")
    active = np.where(post > threshold, 1, 0)
    if median_filter > 1:
        active = medfilt(active, (median_filter, 1))
    segments: list[tuple[float, float, int]] = []
    for spk, frames in enumerate(active.T):
        frames = np.pad(frames, (1, 1), "constant")
        (changes,) = np.where(np.diff(frames, axis=0) != 0)
        for s, e in zip(changes[::2], changes[1::2]):
            segments.append((float(s * frame_shift_seconds), float(e * frame_shift_seconds), spk))
    return segments


def read_rttm(source: str | Path | Iterable[str]) -> dict[str, list[Segment]]:
    """RTTM ``SPEAKER`` lines (a path or an iterable of lines) as ``{recording: [(start, end, speaker), ...]}``.

    Fields used: 2 (recording), 4 (onset, s), 5 (duration, s) and 8 (speaker); s3prl's 9-field lines and the standard
    10-field ones both parse. Blank lines, ``#`` comments and non-``SPEAKER`` records are skipped; recordings keep their
    order of appearance.
    """
    if isinstance(source, (str, Path)) and not (isinstance(source, str) and "\n" in source):
        lines: Iterable[str] = Path(source).read_text().splitlines()
    elif isinstance(source, str):
        lines = source.splitlines()
    else:
        lines = source
    recordings: dict[str, list[Segment]] = {}
    for number, line in enumerate(lines, 1):
        fields = line.split()
        if not fields or fields[0].startswith("#") or fields[0] != "SPEAKER":
            continue
        if len(fields) < 8:
            raise BenchError(f"RTTM line {number} has {len(fields)} fields, expected at least 8: {line!r}")
        try:
            onset, duration = float(fields[3]), float(fields[4])
        except ValueError:
            raise BenchError(f"RTTM line {number}: onset/duration are not numbers: {line!r}") from None
        recordings.setdefault(fields[1], []).append((onset, onset + duration, fields[7]))
    return recordings


def format_rttm_line(recording: str, start: float, end: float, speaker, decimals: int = 3) -> str:
    """One standard 10-field RTTM line: ``SPEAKER <rec> 1 <onset> <dur> <NA> <NA> <spk> <NA> <NA>``."""
    return f"SPEAKER {recording} 1 {start:.{decimals}f} {end - start:.{decimals}f} <NA> <NA> {speaker} <NA> <NA>"


def write_rttm(path: str | Path | None, recordings: Mapping[str, Sequence[tuple]], decimals: int = 3) -> list[str]:
    """Write ``{recording: [(start, end, speaker), ...]}`` as standard RTTM lines (to ``path`` unless it is None);
    returns the lines.

    s3prl's ``make_rttm.py`` prints onset and duration with ``%.2f``; pass ``decimals=2`` for byte-level parity of the
    numbers.
    """
    lines = [
        format_rttm_line(rec, float(start), float(end), spk, decimals)
        for rec, segments in recordings.items()
        for start, end, spk in segments
    ]
    if path is not None:
        Path(path).write_text("".join(line + "\n" for line in lines))
    return lines


def _as_recordings(segments: SegmentsInput, name: str) -> dict[str, list[Segment]]:
    if isinstance(segments, (str, Path)):
        return read_rttm(segments)
    if isinstance(segments, Mapping):
        return {str(rec): [(float(s), float(e), str(k)) for s, e, k in segs] for rec, segs in segments.items()}
    items = list(segments)
    if not items:
        return {}
    if all(isinstance(item, str) for item in items):
        return read_rttm(items)
    if all(isinstance(item, (tuple, list)) and len(item) == 3 for item in items):
        return {"recording": [(float(s), float(e), str(k)) for s, e, k in items]}
    raise ValueError(
        f"{name}: expected RTTM lines, a path, [(start, end, speaker)] or {{recording: [(start, end, speaker)]}}"
    )


def _annotation(recording: str, segments: Sequence[Segment]):
    from pyannote.core import Annotation
    from pyannote.core import Segment as PaSegment

    annotation = Annotation(uri=recording)
    for index, (start, end, speaker) in enumerate(segments):
        if end > start:
            annotation[PaSegment(start, end), index] = speaker
    return annotation


def diarization_error_rate(
    reference: SegmentsInput,
    hypothesis: SegmentsInput,
    collar: float = 0.0,
    skip_overlap: bool = False,
    uem: Mapping[str, Sequence[tuple[float, float]]] | None = None,
) -> dict:
    """DER over all recordings with ``pyannote.metrics.diarization.DiarizationErrorRate(collar, skip_overlap)``.

    ``reference`` / ``hypothesis``: RTTM lines, an RTTM path, ``{recording: [(start, end, speaker)]}``, or a bare
    ``[(start, end, speaker)]`` for a single recording. Speaker labels are matched by pyannote's optimal (Hungarian)
    mapping per recording. ``uem`` maps a recording to its scored regions; by default a recording is scored from the
    earliest start to the latest end of its reference and hypothesis turns (dscore's default and pyannote's own
    fallback, without its warning). A recording found in only one of the two still counts (all missed or all false
    alarm).

    ``collar`` is pyannote's: the **total** width of the no-score zone centred on each reference boundary (``collar/2``
    each side); dscore/md-eval's ``--collar c`` removes ``c`` each side, i.e. pyannote ``collar=2c``. SUPERB uses 0
    either way.

    Returns the components summed over recordings, in seconds: ``false_alarm``, ``missed``, ``confusion``, ``total``
    (scored reference speech; overlapped speech counts once per speaker), ``correct``, and
    ``der = (false_alarm + missed + confusion) / total`` (a fraction; ``nan`` when ``total`` is 0), plus
    ``per_recording`` with the same keys per recording.
    """
    from pyannote.core import Segment as PaSegment
    from pyannote.core import Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    ref = _as_recordings(reference, "reference")
    hyp = _as_recordings(hypothesis, "hypothesis")
    metric = DiarizationErrorRate(collar=collar, skip_overlap=skip_overlap)
    keys = ("false_alarm", "missed", "confusion", "total", "correct")
    names = {
        "false_alarm": "false alarm",
        "missed": "missed detection",
        "confusion": "confusion",
        "total": "total",
        "correct": "correct",
    }
    totals = dict.fromkeys(keys, 0.0)
    per_recording: dict[str, dict] = {}
    for rec in list(ref) + [r for r in hyp if r not in ref]:
        ref_segs, hyp_segs = ref.get(rec, []), hyp.get(rec, [])
        if uem is not None and rec in uem:
            regions = [PaSegment(float(s), float(e)) for s, e in uem[rec]]
        else:
            turns = [(s, e) for s, e, _ in ref_segs + hyp_segs if e > s]
            regions = [PaSegment(min(s for s, _ in turns), max(e for _, e in turns))] if turns else []
        detail = metric(
            _annotation(rec, ref_segs), _annotation(rec, hyp_segs), uem=Timeline(regions, uri=rec), detailed=True
        )
        row = {key: float(detail[names[key]]) for key in keys}
        errors = row["false_alarm"] + row["missed"] + row["confusion"]
        row["der"] = errors / row["total"] if row["total"] > 0 else (0.0 if errors == 0 else math.inf)
        per_recording[rec] = row
        for key in keys:
            totals[key] += row[key]
    errors = totals["false_alarm"] + totals["missed"] + totals["confusion"]
    result = dict(totals)
    result["der"] = errors / totals["total"] if totals["total"] > 0 else math.nan
    result["per_recording"] = per_recording
    return result


# ----------------------------------------------------------------------------------------------------------------------
# TWV (QbE)
# ----------------------------------------------------------------------------------------------------------------------

#: QUESST 2014 / 2015 cost model (``score-TWV-Cnxe.sh``: ``P_target=0.0008``, ``C_fa=1``, ``C_miss=100``).
QUESST_P_TARGET = 0.0008
QUESST_C_MISS = 100.0
QUESST_C_FA = 1.0
#: The third argument of ``score-TWV-Cnxe.sh <stdlist_dir> <groundtruth_dir> -10`` in s3prl's recipe: the default score
#: of a trial missing from the system's stdlist ("incomplete system"); such a trial is also a NO decision.
QUESST_DEFAULT_SCORE = -10.0


def twv_beta(p_target: float = QUESST_P_TARGET, c_miss: float = QUESST_C_MISS, c_fa: float = QUESST_C_FA) -> float:
    """NIST's beta = (C_fa / C_miss) * (1 / P_target - 1); 12.49 with the QUESST constants."""
    return (c_fa / c_miss) * (1.0 - p_target) / p_target


def _prepare_trials(scores, targets, default_score: float):
    s = np.array(scores, dtype=np.float64)
    t = np.asarray(targets).astype(bool)
    if s.ndim != 2 or s.shape != t.shape:
        raise ValueError(
            f"scores and targets must be (queries, documents) arrays of one shape, got {s.shape} and {t.shape}"
        )
    missing = np.isnan(s)
    s[missing] = default_score
    n_true = t.sum(axis=1)
    keep = n_true > 0
    if not keep.any():
        raise ValueError("no query has a true occurrence: TWV is undefined")
    return s, t, missing, keep


def _trial_weights(t: np.ndarray, beta: float) -> np.ndarray:
    """TWV as a sum over detected trials: a hit adds 1/(Q n_true(q)), a false alarm subtracts
    beta/(Q n_nontarget(q))."""
    num_queries, num_docs = t.shape
    n_true = t.sum(axis=1).astype(np.float64)
    n_non = num_docs - n_true
    hit = 1.0 / (num_queries * n_true)
    fa = np.divide(beta, num_queries * n_non, out=np.zeros_like(n_non), where=n_non > 0)
    return np.where(t, hit[:, None], -fa[:, None])


def twv_curve(
    scores,
    targets,
    p_target: float = QUESST_P_TARGET,
    c_miss: float = QUESST_C_MISS,
    c_fa: float = QUESST_C_FA,
    default_score: float = QUESST_DEFAULT_SCORE,
) -> tuple[np.ndarray, np.ndarray]:
    """``(thresholds, twv)``: TWV(theta) at every distinct score theta (descending), deciding YES when
    ``score >= theta``.

    The operating point "no YES at all" (TWV = 0) is not in the arrays; :func:`term_weighted_value` adds it for MTWV.
    """
    s, t, _, keep = _prepare_trials(scores, targets, default_score)
    s, t = s[keep], t[keep]
    weights = _trial_weights(t, twv_beta(p_target, c_miss, c_fa)).reshape(-1)
    flat = s.reshape(-1)
    order = np.argsort(-flat, kind="stable")
    sorted_scores = flat[order]
    cumulative = np.cumsum(weights[order])
    ends = np.append(np.nonzero(np.diff(sorted_scores) != 0)[0], sorted_scores.size - 1)
    return sorted_scores[ends], cumulative[ends]


def term_weighted_value(
    scores,
    targets,
    decisions=None,
    decision_threshold: float | None = None,
    p_target: float = QUESST_P_TARGET,
    c_miss: float = QUESST_C_MISS,
    c_fa: float = QUESST_C_FA,
    default_score: float = QUESST_DEFAULT_SCORE,
) -> dict:
    """MTWV and ATWV of a query-by-example system, as the QUESST 2014 scorer defines them.

    Inputs are ``(queries, documents)`` arrays: ``scores`` (higher = more likely that the query occurs in the document;
    ``nan`` marks a trial the system did not report, which gets ``default_score`` and a NO decision), ``targets`` (True
    where the query occurs in the document) and, for ATWV, either ``decisions`` (the system's YES/NO flags) or
    ``decision_threshold`` (YES where ``score > decision_threshold``, the rule of s3prl's ``quesst14_dtw/expert.py``,
    which uses 2.0 on z-normed scores). Without either, ``atwv`` is None.

    Definition (NIST 2006 STD evaluation plan, with QUESST 2014's file-level trials: every query x document pair is one
    trial, and only whether the query occurs in the document matters, not where):

    * per query q and threshold theta (YES when ``score >= theta``):
      ``P_miss(q, theta) = 1 - N_hit(q, theta) / N_true(q)`` and
      ``P_FA(q, theta) = N_FA(q, theta) / (N_docs - N_true(q))`` (non-target trials of q = documents without q; P_FA = 0
      for a query present in every document);
    * ``TWV(theta) = 1 - mean_q [P_miss(q, theta) + beta * P_FA(q, theta)]`` over the queries with at least one true
      occurrence (the scorer drops the others, "Removing unseen models");
    * ``beta = (C_fa / C_miss) * (1 - P_target) / P_target`` with ``P_target = 0.0008``, ``C_fa = 1``, ``C_miss = 100``,
      so ``beta = 12.49``. Source: the QUESST scoring script ``score-TWV-Cnxe.sh``, which sets exactly these three
      values and hands the jar the effective prior
      ``C_miss P_target / (C_miss P_target + C_fa (1 - P_target)) = 0.0741289``. Verified in the QUESST 2015 package's
      copy of the script (its README scores the SWS 2013 example with that same 0.0741289); the QUESST 2014 copy
      (``quesst14Database/scoring/``) was not available offline and is assumed identical. The task overview is Anguera
      et al., "Query by Example Search on Speech at Mediaeval 2014" (CEUR-WS Vol-1263, paper 35), where Cnxe is the
      primary metric and ATWV the secondary one;
    * ``atwv`` = TWV at the system's own decisions; ``mtwv`` = max over theta, including the "no YES at all" point
      (TWV = 0), so ``mtwv >= 0``; ``mtwv_threshold`` is the theta achieving it (``inf`` for that empty point).

    The s3prl recipe's ``-10`` (``score-TWV-Cnxe.sh <dir> groundtruth_quesst14_{dev,eval} -10``) is ``default_score``;
    s3prl scores every trial, so it never applies there. Returns a dict with ``mtwv``, ``mtwv_threshold``, ``atwv``,
    ``beta``, ``num_queries`` (scored) and ``num_documents``.
    """
    s, t, missing, keep = _prepare_trials(scores, targets, default_score)
    beta = twv_beta(p_target, c_miss, c_fa)
    thresholds, curve = twv_curve(s, t, p_target, c_miss, c_fa, default_score)
    best = int(np.argmax(curve))
    if curve[best] > 0.0:
        mtwv, mtwv_threshold = float(curve[best]), float(thresholds[best])
    else:
        mtwv, mtwv_threshold = 0.0, math.inf

    if decisions is not None and decision_threshold is not None:
        raise ValueError("give decisions or decision_threshold, not both")
    atwv = None
    if decisions is not None or decision_threshold is not None:
        if decisions is not None:
            yes = np.asarray(decisions).astype(bool)
            if yes.shape != s.shape:
                raise ValueError(f"decisions have shape {yes.shape}, scores {s.shape}")
        else:
            yes = s > decision_threshold
        yes = yes & ~missing
        weights = _trial_weights(t[keep], beta)
        atwv = float((weights * yes[keep]).sum())
    return {
        "mtwv": mtwv,
        "mtwv_threshold": mtwv_threshold,
        "atwv": atwv,
        "beta": beta,
        "num_queries": int(keep.sum()),
        "num_documents": int(s.shape[1]),
    }
