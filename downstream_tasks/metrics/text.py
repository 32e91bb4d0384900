"""Text metrics of the SUPERB sequence tasks (PR, ASR, SF), exactly as s3prl defines them, with jiwer doing the edit
distances.

s3prl computes these in ``s3prl/downstream/ctc/metric.py`` (PR and SF, legacy recipes), its copy in
``s3prl/metric/common.py`` and ``s3prl/metric/slot_filling.py`` (the 0.4 API), and
``s3prl/downstream/asr/expert.py::_compute_metrics`` (ASR). All of them are corpus-level: the sum of the per-utterance
Levenshtein distances (``editdistance.eval``) over the sum of the reference lengths. Here jiwer (``process_words`` /
``process_characters``, i.e. rapidfuzz's Levenshtein) gives the distances, and only what no library does (s3prl's
tokenisation, the slot parsing and the slot scores) is written out.

Tokenisation, the part that decides the edge cases, is s3prl's ``ctc/metric.py`` one, not jiwer's defaults:

* words (WER, and PER over space-separated phones) are ``s.split(" ")``. jiwer's default transform would first strip the
  string and collapse repeated spaces; s3prl does neither, so ``""`` is **one** (empty) reference word, ``"a  b"`` is
  three words (``"a", "", "b"``) and a trailing space adds an empty word. An empty hypothesis against ``n`` reference
  words costs ``n`` errors (as if it were the empty list), and an empty reference costs one error per hypothesis word (0
  if the hypothesis is empty too). ``asr/expert.py`` uses ``s.split()`` and reports percent; on well-formed text (single
  spaces, no leading or trailing space, no empty reference, which is what LibriSpeech and the decoders produce) the two
  agree, and :func:`error_rate` returns a fraction.
* characters (CER) are the raw string, spaces included and **not** stripped (jiwer's default ``cer`` strips). An empty
  reference adds 0 characters; when every reference is empty the rate is undefined (s3prl divides by zero, this raises
  ``ValueError``).

Deliberate differences from s3prl, none of which changes a number that s3prl can produce:

* unequal numbers of hypotheses and references raise ``ValueError`` (s3prl's ``zip`` silently drops the tail), and so
  does an empty corpus or a metric with nothing to score (s3prl raises ``ZeroDivisionError``);
* slots are kept as ``(type, value)`` tuples. s3prl joins them into ``"value:type;value:type"`` and splits that again,
  which raises (or, in one contrived case, mis-splits) as soon as a value or a type contains ``:`` or ``;``; s3prl's SF
  vocabulary (space, A-Z, ``'``) never produces either, and where s3prl does not raise the results are identical;
* s3prl's legacy slot edit F1 is in percent and its 0.4-API copy a fraction; :func:`slot_edit_f1` does either
  (``percent=``) and :func:`sf_metrics` reports percent, like the legacy recipe that produced SUPERB's numbers;
* :func:`sf_metrics` adds ``wer`` / ``cer`` on the text with the slot markers removed, which s3prl does not compute.
  s3prl's own SF ``wer`` / ``cer`` (``ctc/expert.py`` and ``task/speech2text_ctc_task.py`` pass the raw decoded strings
  to ``wer`` / ``cer``) **count the ``B-<slot>`` / ``E-<slot>`` markers as words and their letters as characters**;
  those are returned as ``wer_with_markers`` / ``cer_with_markers``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

import jiwer
from jiwer.transforms import AbstractTransform

Unit = Literal["word", "char"]
Slot = tuple[str, str]  # (slot type, value)

__all__ = [
    "error_rate",
    "wer",
    "per",
    "cer",
    "render_sf_tokens",
    "parse_slots",
    "slot_type_f1",
    "slot_value_cer",
    "slot_value_wer",
    "slot_edit_f1",
    "sf_metrics",
]


# ----------------------------------------------------------------------------------------------------------------------
# WER / CER / PER


class _SplitOnSpace(AbstractTransform):
    """``s.split(" ")``: s3prl's word tokenisation, empty words kept (jiwer's ``ReduceToListOfListOfWords`` drops
    them)."""

    def process_string(self, s: str) -> list[list[str]]:
        return [s.split(" ")]

    def process_list(self, inp: list[str]) -> list[list[str]]:
        return [s.split(" ") for s in inp]


class _Characters(AbstractTransform):
    """Every character of the raw string, as ``editdistance.eval`` on two ``str`` sees them (no strip)."""

    def process_string(self, s: str) -> list[list[str]]:
        return [list(s)]

    def process_list(self, inp: list[str]) -> list[list[str]]:
        return [list(s) for s in inp]


_TRANSFORMS: dict[str, AbstractTransform] = {"word": _SplitOnSpace(), "char": _Characters()}


def _check_pairs(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    if isinstance(hypotheses, str) or isinstance(references, str):
        raise TypeError("pass lists of strings (one per utterance), not a single string")
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    if len(references) == 0:
        raise ValueError("no utterances to score")


def _edit_counts(hypotheses: Sequence[str], references: Sequence[str], unit: Unit) -> tuple[int, int]:
    """(total edits, total reference tokens) over the corpus, from jiwer with s3prl's tokenisation."""
    if unit not in _TRANSFORMS:
        raise ValueError(f"unit must be 'word' or 'char', got {unit!r}")
    transform = _TRANSFORMS[unit]
    out = jiwer.process_words(
        list(references), list(hypotheses), reference_transform=transform, hypothesis_transform=transform
    )
    return out.substitutions + out.deletions + out.insertions, out.hits + out.substitutions + out.deletions


def edit_counts_per_pair(
    hypotheses: Sequence[str], references: Sequence[str], unit: Unit = "word"
) -> list[tuple[int, int]]:
    """(edits, reference tokens) of each pair, from the same jiwer alignment as :func:`error_rate`: their sums are its
    numerator and denominator (per-item outputs and the bootstrap, downstream_tasks.items)."""
    _check_pairs(hypotheses, references)
    transform = _TRANSFORMS[unit]
    out = jiwer.process_words(
        list(references), list(hypotheses), reference_transform=transform, hypothesis_transform=transform
    )
    counts = []
    for chunks, reference in zip(out.alignments, out.references):
        edits = 0
        for chunk in chunks:
            if chunk.type in ("substitute", "delete"):
                edits += chunk.ref_end_idx - chunk.ref_start_idx
            elif chunk.type == "insert":
                edits += chunk.hyp_end_idx - chunk.hyp_start_idx
        counts.append((edits, len(reference)))
    return counts


def error_rate(hypotheses: Sequence[str], references: Sequence[str], unit: Unit = "word") -> float:
    """Corpus-level error rate as a fraction: total Levenshtein edits / total reference tokens.

    Mirrors ``s3prl.downstream.ctc.metric.wer`` / ``per`` (``unit="word"``) and ``.cer`` (``unit="char"``), which are
    also ``s3prl.metric.wer`` / ``per`` / ``cer``; ``asr/expert.py`` reports the same quantity times 100. Words are
    ``s.split(" ")`` and characters the raw string, see the module docstring for what that means for empty and
    irregularly spaced strings. PER is ``unit="word"`` over space-separated phones. Can exceed 1 (insertions).
    """
    _check_pairs(hypotheses, references)
    errors, total = _edit_counts(hypotheses, references, unit)
    if total == 0:
        raise ValueError("every reference is empty: the error rate is undefined (s3prl divides by zero)")
    return errors / total


def wer(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Word error rate, a fraction (``s3prl.downstream.ctc.metric.wer``)."""
    return error_rate(hypotheses, references, "word")


def per(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Phone error rate over space-separated phones, a fraction (``s3prl.downstream.ctc.metric.per``, which is its
    ``wer``)."""
    return error_rate(hypotheses, references, "word")


def cer(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Character error rate over the raw strings, spaces included, a fraction (``s3prl.downstream.ctc.metric.cer``)."""
    return error_rate(hypotheses, references, "char")


# ----------------------------------------------------------------------------------------------------------------------
# SF: parsing s3prl's character-slot sequences

# s3prl ctc/metric.py::parse, clean
_SLOT = re.compile(r"B\-(\S+) (.+?) E\-\1")
_CLEAN_B = re.compile(r"B\-(\S+) ")
_CLEAN_E = re.compile(r" E\-(\S+)")
_SPACES = re.compile(r" +")
_MARKER = re.compile(r"[BE]-\S+")


def _clean(text: str) -> str:
    """``s3prl ctc/metric.py::clean``: drop ``"B-<slot> "`` and ``" E-<slot>"``."""
    return _CLEAN_E.sub("", _CLEAN_B.sub("", text))


def render_sf_tokens(tokens: Sequence[str]) -> str:
    """Join decoded character-slot vocabulary entries into s3prl's SF string.

    Mirrors ``CharacterTextSlotEncoder.decode`` (``s3prl/downstream/ctc/text.py``, and ``dataio/encoder/tokenizer.py``
    in the new API) after its pad / eos / repeat handling: characters (``" "`` included) are concatenated, ``B-<slot>``
    is written ``"B-<slot> "`` and ``E-<slot>`` ``" E-<slot>"``. Anything else longer than one character is refused,
    because a list of *words* would render wrongly: join words with single spaces yourself and pass the string.
    """
    parts = []
    for token in tokens:
        if _MARKER.fullmatch(token):
            parts.append(token + " " if token[0] == "B" else " " + token)
        elif len(token) == 1:
            parts.append(token)
        else:
            raise ValueError(
                f"{token!r} is neither one character nor a B-/E- slot marker; pass words as one space-joined string"
            )
    return "".join(parts)


def _as_text(tokens_or_text: str | Sequence[str]) -> str:
    return tokens_or_text if isinstance(tokens_or_text, str) else render_sf_tokens(tokens_or_text)


def parse_slots(tokens_or_text: str | Sequence[str], *, clean_values: bool = True) -> tuple[str, list[Slot]]:
    """Split a decoded SF sequence into its plain text and its slots ``[(slot type, value), ...]`` in order of
    appearance.

    ``tokens_or_text`` is s3prl's SF string (``"PLAY B-artist MADONNA E-artist"``) or the character-slot vocabulary
    entries it is made of (see :func:`render_sf_tokens`). The slots are exactly those of ``s3prl ctc/metric.py::parse``:
    runs of spaces are collapsed, then ``B\\-(\\S+) (.+?) E\\-\\1`` is matched left to right (lazy, so the first
    ``E-<same type>`` closes a slot; an unclosed ``B-`` or an orphan ``E-`` is no slot; a slot nested in another one is
    swallowed into the outer value). s3prl strips the markers inside a *hypothesis* value with ``clean`` but leaves
    *reference* values as they are: pass ``clean_values=False`` for references to reproduce that (it only matters when a
    value contains markers).

    The plain text is s3prl's ``clean`` of the collapsed string, then with empty words and any left-over ``B-``/``E-``
    word removed (s3prl never scores this text, so this normalisation changes no s3prl number; it is what
    :func:`sf_metrics`'s ``wer`` / ``cer`` compare).
    """
    text = _SPACES.sub(" ", _as_text(tokens_or_text))
    slots = [(slot_type, _clean(value) if clean_values else value) for slot_type, value in _SLOT.findall(text)]
    plain = " ".join(word for word in _clean(text).split(" ") if word and not _MARKER.fullmatch(word))
    return plain, slots


def _slot_dict(tokens_or_text: str | Sequence[str], is_reference: bool) -> dict[str, list[str]]:
    """``s3prl metric/slot_filling.py::get_slot_dict`` for one side: type -> values in order, types in order of first
    appearance."""
    out: dict[str, list[str]] = {}
    for slot_type, value in parse_slots(tokens_or_text, clean_values=not is_reference)[1]:
        out.setdefault(slot_type, []).append(value)
    return out


def _slot_dicts(hypotheses: Sequence, references: Sequence):
    _check_pairs(hypotheses, references)
    for hyp, ref in zip(hypotheses, references):
        yield _slot_dict(hyp, is_reference=False), _slot_dict(ref, is_reference=True)


# ----------------------------------------------------------------------------------------------------------------------
# SF: slot scores


def slot_type_f1(hypotheses: Sequence[str | Sequence[str]], references: Sequence[str | Sequence[str]]) -> float:
    """Mean over utterances of the F1 between the *sets* of slot types (a fraction). Mirrors
    ``s3prl ... metric.slot_type_f1``.

    Per utterance: 1.0 when neither side has a slot, 0.0 when exactly one side has none, else ``2PR/(P+R)`` with
    ``R = |types(ref) & types(hyp)| / |types(ref)|`` and ``P = |types(ref) & types(hyp)| / |types(hyp)|`` (0.0 if both
    are 0). Values and repeats of a type do not matter. This is SUPERB's SF checkpoint and headline metric.
    """
    # same float operations in the same order as s3prl (slot_type_f1_per_utterance), so the result is bit-identical
    f1s = slot_type_f1_per_utterance(hypotheses, references)
    return sum(f1s) / len(f1s)


_NO_MATCH_YET = 100  # s3prl's initial "best" per-value error rate; see _slot_value_error


def _slot_value_pairs(
    hyp_dict: dict[str, list[str]], ref_dict: dict[str, list[str]], unit: Unit
) -> tuple[list[str], list[str]]:
    """One utterance's (hypothesis value, reference value) pairs as :func:`_slot_value_error` scores them: each
    reference value against its type's hypothesis value of the lowest error rate, or ``""``."""
    value_hyps: list[str] = []
    value_refs: list[str] = []
    for slot_type, ref_values in ref_dict.items():
        for ref_value in ref_values:
            best_value, best_rate = "", _NO_MATCH_YET
            for hyp_value in hyp_dict.get(slot_type, ()):
                rate = error_rate([hyp_value], [ref_value], unit)
                if best_rate > rate:
                    best_value, best_rate = hyp_value, rate
            value_hyps.append(best_value)
            value_refs.append(ref_value)
    return value_hyps, value_refs


def _slot_value_error(hypotheses: Sequence, references: Sequence, unit: Unit) -> float:
    """``s3prl ... metric.slot_value_cer`` (``unit="char"``) / ``slot_value_wer`` (``unit="word"``).

    For every reference slot value, in every utterance: if the hypothesis has no slot of that type the value is scored
    against ``""`` (all deletions); else against the hypothesis value of that type with the lowest per-pair error rate
    (the first one on ties; one hypothesis value may serve several reference values, and extra hypothesis values cost
    nothing). Then the corpus error rate of those pairs. Quirk kept: s3prl starts the search at a rate of 100 and only
    takes a candidate whose rate is strictly lower, so if every candidate's rate is >= 100 (a value at least 100 times
    longer than the reference value) the reference value is scored against ``""`` instead.
    """
    value_hyps: list[str] = []
    value_refs: list[str] = []
    for hyp_dict, ref_dict in _slot_dicts(hypotheses, references):
        utterance_hyps, utterance_refs = _slot_value_pairs(hyp_dict, ref_dict, unit)
        value_hyps += utterance_hyps
        value_refs += utterance_refs
    if not value_refs:
        raise ValueError("no reference has a slot: slot value error rates are undefined (s3prl divides by zero)")
    return error_rate(value_hyps, value_refs, unit)


def slot_type_f1_per_utterance(
    hypotheses: Sequence[str | Sequence[str]], references: Sequence[str | Sequence[str]]
) -> list[float]:
    """Each utterance's slot-type F1, whose mean (in order) is :func:`slot_type_f1`."""
    f1s = []
    for hyp_dict, ref_dict in _slot_dicts(hypotheses, references):
        if not hyp_dict and not ref_dict:
            f1 = 1.0
        elif not hyp_dict or not ref_dict:
            f1 = 0.0
        else:
            recall = sum(1 for slot in ref_dict if slot in hyp_dict) / len(ref_dict)
            precision = sum(1 for slot in hyp_dict if slot in ref_dict) / len(hyp_dict)
            f1 = 2 * precision * recall / (precision + recall) if (precision + recall) > 0 else 0.0
        f1s.append(f1)
    return f1s


def slot_value_counts_per_utterance(
    hypotheses: Sequence[str | Sequence[str]], references: Sequence[str | Sequence[str]], unit: Unit = "char"
) -> list[tuple[int, int]]:
    """(edits, reference tokens) of each utterance's slot values as :func:`_slot_value_error` pairs them; their sums
    give :func:`slot_value_cer` (``unit="char"``) or :func:`slot_value_wer`."""
    counts = []
    for hyp_dict, ref_dict in _slot_dicts(hypotheses, references):
        value_hyps, value_refs = _slot_value_pairs(hyp_dict, ref_dict, unit)
        counts.append(_edit_counts(value_hyps, value_refs, unit) if value_refs else (0, 0))
    return counts


def slot_value_cer(hypotheses: Sequence[str | Sequence[str]], references: Sequence[str | Sequence[str]]) -> float:
    """Slot-value CER (a fraction; SUPERB's second SF metric). Mirrors ``s3prl ... metric.slot_value_cer``; see
    ``_slot_value_error``."""
    return _slot_value_error(hypotheses, references, "char")


def slot_value_wer(hypotheses: Sequence[str | Sequence[str]], references: Sequence[str | Sequence[str]]) -> float:
    """Slot-value WER (a fraction). Mirrors ``s3prl ... metric.slot_value_wer``; see ``_slot_value_error``."""
    return _slot_value_error(hypotheses, references, "word")


def slot_edit_f1(
    hypotheses: Sequence[str | Sequence[str]],
    references: Sequence[str | Sequence[str]],
    loop_over_all_slot: bool,
    *,
    percent: bool = True,
) -> float:
    """Slot edit F1, ``2TP / (2TP + FP + FN)`` pooled over the corpus. Mirrors ``s3prl ... metric.slot_edit_f1``.

    s3prl's two stacks disagree on the scale: the legacy SUPERB recipe (``downstream/ctc/metric.py``) returns it **in
    percent** (``100.0 * 2TP / ...``), the 0.4 API (``s3prl/metric/slot_filling.py``) as a fraction. ``percent=True``
    (default) is the legacy one, ``percent=False`` the 0.4 one; both bit-identical to s3prl's.

    ``loop_over_all_slot=True`` is s3prl's ``slot_edit_f1_full``, ``False`` its ``slot_edit_f1_part``. Per utterance,
    for each reference value of type ``t``:

    * the hypothesis has no ``t`` slot: FN += 1;
    * some hypothesis value of type ``t`` is exactly equal: TP += 1 (the same hypothesis value can match several
      reference values);
    * otherwise (a wrong value of the right type): FN += 1 **and** FP += 1.

    Hypothesis values of a type the reference also has are never counted beyond that (an extra ``t`` value costs
    nothing). Values of a type absent from the reference count FP += 1 each in *full* and are ignored in *part*.
    """
    tp = fn = fp = 0
    for hyp_dict, ref_dict in _slot_dicts(hypotheses, references):
        for slot_type, ref_values in ref_dict.items():
            for ref_value in ref_values:
                if slot_type not in hyp_dict:
                    fn += 1
                elif ref_value in hyp_dict[slot_type]:
                    tp += 1
                else:
                    fn += 1
                    fp += 1
        if loop_over_all_slot:
            fp += sum(len(values) for slot_type, values in hyp_dict.items() if slot_type not in ref_dict)
    if 2 * tp + fp + fn == 0:
        raise ValueError("no slot on either side to score: slot edit F1 is undefined (s3prl divides by zero)")
    if percent:
        return 100.0 * 2 * tp / (2 * tp + fp + fn)  # legacy ctc/metric.py, same operations in the same order
    return 2 * tp / (2 * tp + fp + fn)  # s3prl/metric/slot_filling.py


def sf_metrics(
    hypotheses: Sequence[str | Sequence[str]], references: Sequence[str | Sequence[str]]
) -> dict[str, float]:
    """All SF metrics s3prl logs, by s3prl's names, plus ``wer`` / ``cer`` on the text without slot markers.

    ``slot_type_f1``, ``slot_value_cer``, ``slot_value_wer``, ``slot_edit_f1_full``, ``slot_edit_f1_part``, all
    fractions like every metric in a record (the legacy SUPERB recipe logs the slot edit F1s in percent, the 0.4 API as
    fractions); ``wer`` / ``cer``: :func:`error_rate` on :func:`parse_slots`'s plain texts; ``wer_with_markers`` /
    ``cer_with_markers``: :func:`error_rate` on the raw strings, which is what s3prl logs as SF ``wer`` / ``cer``
    (markers counted as words / characters). Raises ``ValueError`` where s3prl would divide by zero (e.g. no reference
    has a slot).
    """
    _check_pairs(hypotheses, references)
    hyp_texts = [_as_text(h) for h in hypotheses]
    ref_texts = [_as_text(r) for r in references]
    hyp_plain = [parse_slots(h)[0] for h in hyp_texts]
    ref_plain = [parse_slots(r, clean_values=False)[0] for r in ref_texts]
    return {
        "slot_type_f1": slot_type_f1(hyp_texts, ref_texts),
        "slot_value_cer": slot_value_cer(hyp_texts, ref_texts),
        "slot_value_wer": slot_value_wer(hyp_texts, ref_texts),
        "slot_edit_f1_full": slot_edit_f1(hyp_texts, ref_texts, loop_over_all_slot=True, percent=False),
        "slot_edit_f1_part": slot_edit_f1(hyp_texts, ref_texts, loop_over_all_slot=False, percent=False),
        "wer": error_rate(hyp_plain, ref_plain, "word"),
        "cer": error_rate(hyp_plain, ref_plain, "char"),
        "wer_with_markers": error_rate(hyp_texts, ref_texts, "word"),
        "cer_with_markers": error_rate(hyp_texts, ref_texts, "char"),
    }
