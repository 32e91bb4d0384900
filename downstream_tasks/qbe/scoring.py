"""QbE's scoring glue: MTWV/ATWV of the DTW scores over the official trials and the English ones, the dev choice of
the layer, the ``benchmark.stdlist.xml`` that the official scorer reads, and the per-query prediction lines.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchcore.atomic import write_text_atomic
from downstream_tasks.items import ItemTable, Statistic
from downstream_tasks.qbe.reader import GroundTruth


def scores_as_written(scores: np.ndarray) -> np.ndarray:
    """The scores the scorer reads back from the stdlist (``f"{score:.4f}"``, as s3prl writes them)."""
    return (
        np.vectorize(lambda s: float(f"{s:.4f}"), otypes=[np.float64])(scores)
        if np.size(scores)
        else np.asarray(scores)
    )


def twv_metrics(
    scores: np.ndarray, query_ids: Sequence[str], doc_ids: Sequence[str], truth: GroundTruth, decision_threshold: float
) -> dict[str, Any]:
    """MTWV/ATWV of z-normed ``scores`` (English queries x English documents), over the whole ground truth (``mtwv``,
    ``atwv``: the official scorer's trials, everything not scored at its default) and over the English trials only
    (``mtwv_english``, ``atwv_english``), plus the MTWV thresholds and trial counts."""
    from downstream_tasks.metrics.detection import term_weighted_value

    scores = np.asarray(scores, dtype=np.float64)
    written = scores_as_written(scores)
    yes = scores > decision_threshold
    full, full_yes = official_trials(scores, query_ids, doc_ids, truth, decision_threshold)
    official = term_weighted_value(full, truth.targets(truth.queries, truth.documents), decisions=full_yes)
    result = {
        "mtwv": official["mtwv"],
        "atwv": official["atwv"],
        "mtwv_threshold": _finite(official["mtwv_threshold"]),
        "scored_queries": official["num_queries"],
        "scored_documents": official["num_documents"],
    }
    english_targets = truth.targets(query_ids, doc_ids)
    if english_targets.any():
        english = term_weighted_value(written, english_targets, decisions=yes)
        result.update(
            mtwv_english=english["mtwv"],
            atwv_english=english["atwv"],
            mtwv_english_threshold=_finite(english["mtwv_threshold"]),
            english_queries=english["num_queries"],
        )
    else:
        result.update(
            mtwv_english=float("nan"), atwv_english=float("nan"), mtwv_english_threshold=None, english_queries=0
        )
    return result


def official_trials(
    scores: np.ndarray, query_ids: Sequence[str], doc_ids: Sequence[str], truth: GroundTruth, decision_threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """The scores as the official scorer reads them (written to 4 decimals) over the ground truth's queries x
    documents, ``nan`` where the system reported no trial (non-English queries), and the YES decisions."""
    scores = np.asarray(scores, dtype=np.float64)
    row = {q: i for i, q in enumerate(truth.queries)}
    col = {d: j for j, d in enumerate(truth.documents)}
    qi = [i for i, q in enumerate(query_ids) if q in row]  # a query outside the tlist is not scored by the scorer
    di = [j for j, d in enumerate(doc_ids) if d in col]
    full = np.full((len(truth.queries), len(truth.documents)), np.nan)
    full_yes = np.zeros(full.shape, dtype=bool)
    rows, cols = np.ix_([row[query_ids[i]] for i in qi], [col[doc_ids[j]] for j in di])
    full[rows, cols] = scores_as_written(scores)[np.ix_(qi, di)]
    full_yes[rows, cols] = (scores > decision_threshold)[np.ix_(qi, di)]
    return full, full_yes


def item_table(
    task: str, scores: np.ndarray, query_ids: Sequence[str], doc_ids: Sequence[str], truth: GroundTruth
) -> ItemTable:
    """Per official query: its scores against every official document as the scorer reads them (``nan``: not
    reported) and where it truly occurs; ``mtwv`` is recomputed over the queries (rows) as the scorer does."""
    full, _ = official_trials(scores, query_ids, doc_ids, truth, 0.0)
    targets = truth.targets(truth.queries, truth.documents)
    return ItemTable(
        task,
        "query",
        list(truth.queries),
        {
            "scores": [" ".join(repr(float(value)) for value in row) for row in full],
            "targets": ["".join("1" if value else "0" for value in row) for row in targets],
        },
        {"mtwv": Statistic("mtwv", score="scores", label="targets")},
    )


def _finite(value: float) -> float | None:
    return value if np.isfinite(value) else None


METRIC_KEYS = ("mtwv", "atwv", "mtwv_english", "atwv_english")


def choose_layer(per_layer_dev: Sequence[dict[str, Any]], metric: str = "mtwv") -> int:
    """Position (in ``per_layer_dev``) of the best dev ``metric``; ties go to the lowest layer."""
    if not per_layer_dev:
        raise ValueError("no layer was scored")
    values = np.array([entry[metric] for entry in per_layer_dev], dtype=np.float64)
    if np.isnan(values).all():
        return 0
    return int(np.nanargmax(values))


def write_stdlist(
    path: Path, query_ids: Sequence[str], doc_ids: Sequence[str], scores: np.ndarray, decision_threshold: float
) -> Path:
    """s3prl's ``benchmark.stdlist.xml`` (NIST STD 2006 format, one ``term`` per query x document), which the official
    ``score-TWV-Cnxe.sh <its folder> groundtruth_quesst14_<set> -10`` scores."""
    root = ET.Element(
        "stdlist",
        termlist_filename="benchmark.stdlist.xml",
        indexing_time="1.00",
        language="english",
        index_size="1",
        system_id="benchmark",
    )
    for query, row in zip(query_ids, np.asarray(scores)):
        terms = ET.SubElement(root, "detected_termlist", termid=query, term_search_time="1.0", oov_term_count="1")
        for doc, score in zip(doc_ids, row):
            ET.SubElement(
                terms,
                "term",
                file=doc,
                channel="1",
                tbeg="0.000",
                dur="0.00",
                score=f"{score:.4f}",
                decision="YES" if score > decision_threshold else "NO",
            )
    ET.indent(root)
    return write_text_atomic(
        path, "<?xml version='1.0' encoding='UTF-8'?>\n" + ET.tostring(root, encoding="unicode") + "\n"
    )


def prediction_lines(
    query_ids: Sequence[str], doc_ids: Sequence[str], scores: np.ndarray, truth: GroundTruth
) -> list[str]:
    """``query<TAB>best-scoring document<TAB>documents it occurs in`` (all languages; ``-`` when none)."""
    lines = []
    for query, row in zip(query_ids, np.asarray(scores)):
        best = doc_ids[int(np.argmax(row))] if len(row) else "-"
        true = sorted(truth.occurrences.get(query, ()))
        lines.append(f"{query}\t{best}\t{','.join(true) if true else '-'}")
    return lines
