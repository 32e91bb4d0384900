"""QbE's reader of the QUESST 2014 layout: the language keys and their English filter (s3prl's ``dataset.py``), document
and query ids as the scorer names them, the official ground truth (``quesst14.ecf.xml``, ``quesst14_<set>.tlist.xml``,
``quesst14_<set>.rttm``) as a :class:`GroundTruth`, and :class:`QbeData`, the TaskData that carries it.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchcore.errors import BenchError
from downstream_tasks.base import TaskData, Utterance, require_dir, require_file

ROOT = "quesst14Database"
DATASET = "QUESST 2014"
ENGLISH = "nnenglish"
DOCUMENTS = "documents"
#: TaskData split -> QUESST query set (s3prl: ``-t dev`` reads the dev queries, anything else the eval queries)
QUERY_SETS = {"dev": "dev", "test": "eval"}
LAYOUT = (
    f"{ROOT}/Audio/*.wav, {ROOT}/{{dev,eval}}_queries/*.wav, {ROOT}/scoring/language_key_{{utterances,dev,eval}}.lst "
    f"and {ROOT}/scoring/groundtruth_quesst14_{{dev,eval}}/ with quesst14.ecf.xml, quesst14_<set>.tlist.xml, "
    "quesst14_<set>.rttm"
)
_AUDIO_SUFFIXES = (".wav", ".sph", ".flac")


def read_language_key(path: Path) -> list[tuple[str, str]]:
    """``(path inside quesst14Database, language)`` per row of a ``language_key_*.lst``.

    The path loses its first component as s3prl's ``re.sub(r"^.*?\\/", "", path)`` does
    (``quesst14Database/Audio/x.wav`` -> ``Audio/x.wav``).
    """
    rows = []
    for number, line in enumerate(require_file(path, DATASET, "language key").read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise BenchError(f"{path} line {number}: expected '<audio path> <language>', got {line!r}")
        rows.append((re.sub(r"^.*?\/", "", fields[0]), fields[1]))
    return rows


def english_utterances(data_root: Path, key_name: str) -> list[Utterance]:
    """The ``nnenglish`` rows of ``scoring/<key_name>`` as utterances (uid: path relative to the data root), in file
    order, present on disk or not: the runner checks them all at once (``data.allow_missing=true`` drops the missing
    ones)."""
    root = data_root / ROOT
    key = root / "scoring" / key_name
    utterances = []
    for relative, language in read_language_key(key):
        if language != ENGLISH:
            continue
        utterances.append(Utterance(f"{ROOT}/{relative}", root / relative, ()))
    if not utterances:
        raise BenchError(f"{DATASET}: no '{ENGLISH}' row in {key}; the recipe scores the English subset only")
    return utterances


def file_id(name: str) -> str:
    """A document or query id as the scorer names it: the file name without folder and audio suffix."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    for suffix in _AUDIO_SUFFIXES:
        if base.lower().endswith(suffix):
            return base[: -len(suffix)]
    return base


def ground_truth_files(directory: Path, query_set: str) -> list[Path]:
    """The files of ``groundtruth_quesst14_<set>/`` that :func:`read_ground_truth` reads."""
    return [
        directory / "quesst14.ecf.xml",
        directory / f"quesst14_{query_set}.tlist.xml",
        directory / f"quesst14_{query_set}.rttm",
    ]


@dataclass(frozen=True)
class GroundTruth:
    """One query set's ``groundtruth_quesst14_<set>/``: the ecf's documents, the tlist's queries (both in file order)
    and the documents each query occurs in (``LEXEME`` rows of the rttm; the position in the document does not
    matter)."""

    documents: tuple[str, ...]
    queries: tuple[str, ...]
    occurrences: dict[str, frozenset[str]] = field(default_factory=dict)

    def targets(self, queries: Sequence[str], documents: Sequence[str]) -> np.ndarray:
        """Boolean ``(queries, documents)``: True where the query occurs in the document."""
        column = {document: j for j, document in enumerate(documents)}
        targets = np.zeros((len(queries), len(documents)), dtype=bool)
        for i, query in enumerate(queries):
            for document in self.occurrences.get(query, ()):
                if document in column:
                    targets[i, column[document]] = True
        return targets

    def without(self, queries: Collection[str] = (), documents: Collection[str] = ()) -> GroundTruth:
        """The ground truth of the database without these query and document ids: out of the tlist, the ecf and every
        occurrence, so the scorer neither counts a dropped query as never found nor a dropped document as a
        candidate. A query whose only occurrences were in dropped documents keeps its tlist row; with no occurrence
        left it is not scored, as the official scorer drops a query that occurs nowhere."""
        queries, documents = set(queries), set(documents)
        occurrences = {query: found - documents for query, found in self.occurrences.items() if query not in queries}
        return GroundTruth(
            tuple(d for d in self.documents if d not in documents),
            tuple(q for q in self.queries if q not in queries),
            {query: found for query, found in occurrences.items() if found},
        )


def _parse_xml(path: Path) -> ET.Element:
    try:
        return ET.parse(require_file(path, DATASET, "ground truth")).getroot()
    except ET.ParseError as error:
        raise BenchError(f"{DATASET}: {path} is not valid XML ({error})") from None


def read_ground_truth(directory: Path, query_set: str) -> GroundTruth:
    """Read ``quesst14.ecf.xml``, ``quesst14_<set>.tlist.xml`` and ``quesst14_<set>.rttm`` from ``directory``."""
    require_dir(directory, DATASET, LAYOUT)
    documents = tuple(
        file_id(e.get("audio_filename", "")) for e in _parse_xml(directory / "quesst14.ecf.xml").iter("excerpt")
    )
    queries = tuple(e.get("termid", "") for e in _parse_xml(directory / f"quesst14_{query_set}.tlist.xml").iter("term"))
    if not documents or "" in documents or not queries or "" in queries:
        raise BenchError(
            f"{DATASET}: {directory} needs <excerpt audio_filename=...> rows in quesst14.ecf.xml and "
            f"<term termid=...> rows in quesst14_{query_set}.tlist.xml"
        )
    rttm = require_file(directory / f"quesst14_{query_set}.rttm", DATASET, "ground truth")
    occurrences: dict[str, set[str]] = {}
    for number, line in enumerate(rttm.read_text().splitlines(), 1):
        fields = line.split()
        if not fields or fields[0] != "LEXEME":
            continue
        if len(fields) < 6:
            raise BenchError(
                f"{rttm} line {number}: a LEXEME row needs 'LEXEME <file> <chnl> <tbeg> <dur> <query id> ...'"
            )
        occurrences.setdefault(fields[5], set()).add(file_id(fields[1]))
    return GroundTruth(documents, queries, {query: frozenset(docs) for query, docs in occurrences.items()})


@dataclass
class QbeData(TaskData):
    """TaskData plus the ground truth of each query split ("dev", "test")."""

    ground_truth: dict[str, GroundTruth] = field(default_factory=dict)
