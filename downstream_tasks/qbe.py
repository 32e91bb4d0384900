"""QbE: query-by-example spoken term detection on QUESST 2014, English subset (s3prl ``downstream/quesst14_dtw``).

There is no head to train. For every hidden state of the encoder, each English dev query is aligned against every English
document by subsequence DTW (:func:`downstream_tasks.qbe_dtw.score_queries`, the recipe's arithmetic), and the z-normed
scores are scored with MTWV/ATWV (:func:`downstream_tasks.metrics.detection.term_weighted_value`, the QUESST 2014 scorer's
definition). The layer with the best dev MTWV is chosen and only the eval queries ("test") are scored with it: SUPERB runs
``-m evaluate -l <layer>`` per layer on dev and reports the best dev layer's test number.

Data (``quesst14Database/`` under the data root, as in ``quesst14Database.tgz``): documents ``Audio/*.wav`` and queries
``{dev,eval}_queries/*.wav``, kept when their row in ``scoring/language_key_{utterances,dev,eval}.lst`` says ``nnenglish``
(s3prl's ``dataset.py`` filter, in the order of those files); ground truth ``scoring/groundtruth_quesst14_{dev,eval}/``
(``quesst14.ecf.xml``: every document; ``quesst14_<set>.tlist.xml``: every query; ``quesst14_<set>.rttm``: a ``LEXEME`` row
per occurrence of a query in a document).

**What MTWV is computed over.** s3prl writes ``benchmark.stdlist.xml`` with English queries x English documents only, and
scores it with ``score-TWV-Cnxe.sh <dir> groundtruth_quesst14_<set> -10``, i.e. against the ground truth of *all* languages:
every other trial is missing, takes the default score -10 and a NO decision. So SUPERB's MTWV averages over every query of
the set that occurs somewhere (the English ones are about a quarter of them in the real database) with every ecf document as
a non-target candidate. ``mtwv``/``atwv`` here are that number, comparable with SUPERB's tables; ``mtwv_english`` /
``atwv_english`` restrict the trials to English queries x English documents (what the search itself can reach).
MTWV is computed from the scores as the stdlist writes them (4 decimals), ATWV from the recipe's decisions (z-score > 2).
"""
from __future__ import annotations

import dataclasses
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Collection, Sequence

import numpy as np

from benchcore.atomic import write_text_atomic
from benchcore.errors import BenchError
from downstream_tasks.base import ProtocolTask, SplitScore, TaskData, UntrainedOutcome, Utterance, require_dir, require_file
from downstream_tasks.metadata import MetricSpec, TaskMetadata

ROOT = "quesst14Database"
DATASET = "QUESST 2014"
ENGLISH = "nnenglish"
DOCUMENTS = "documents"
#: TaskData split -> QUESST query set (s3prl: ``-t dev`` reads the dev queries, anything else the eval queries)
QUERY_SETS = {"dev": "dev", "test": "eval"}
LAYOUT = (f"{ROOT}/Audio/*.wav, {ROOT}/{{dev,eval}}_queries/*.wav, {ROOT}/scoring/language_key_{{utterances,dev,eval}}.lst "
          f"and {ROOT}/scoring/groundtruth_quesst14_{{dev,eval}}/ with quesst14.ecf.xml, quesst14_<set>.tlist.xml, "
          "quesst14_<set>.rttm")
_AUDIO_SUFFIXES = (".wav", ".sph", ".flac")


# ---------------------------------------------------------------------------------------------------------------- reading
def read_language_key(path: Path) -> list[tuple[str, str]]:
    """``(path inside quesst14Database, language)`` per row of a ``language_key_*.lst``.

    The path loses its first component as s3prl's ``re.sub(r"^.*?\\/", "", path)`` does (``quesst14Database/Audio/x.wav``
    -> ``Audio/x.wav``).
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
    """The ``nnenglish`` rows of ``scoring/<key_name>`` as utterances (uid: path relative to the data root), in file order,
    present on disk or not: the runner checks them all at once (``data.allow_missing=true`` drops the missing ones)."""
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
    return [directory / "quesst14.ecf.xml", directory / f"quesst14_{query_set}.tlist.xml",
            directory / f"quesst14_{query_set}.rttm"]


@dataclass(frozen=True)
class GroundTruth:
    """One query set's ``groundtruth_quesst14_<set>/``: the ecf's documents, the tlist's queries (both in file order) and
    the documents each query occurs in (``LEXEME`` rows of the rttm; the position in the document does not matter)."""

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
        return GroundTruth(tuple(d for d in self.documents if d not in documents),
                           tuple(q for q in self.queries if q not in queries),
                           {query: found for query, found in occurrences.items() if found})


def _parse_xml(path: Path) -> ET.Element:
    try:
        return ET.parse(require_file(path, DATASET, "ground truth")).getroot()
    except ET.ParseError as error:
        raise BenchError(f"{DATASET}: {path} is not valid XML ({error})") from None


def read_ground_truth(directory: Path, query_set: str) -> GroundTruth:
    """Read ``quesst14.ecf.xml``, ``quesst14_<set>.tlist.xml`` and ``quesst14_<set>.rttm`` from ``directory``."""
    require_dir(directory, DATASET, LAYOUT)
    documents = tuple(file_id(e.get("audio_filename", "")) for e in _parse_xml(directory / "quesst14.ecf.xml").iter("excerpt"))
    queries = tuple(e.get("termid", "") for e in _parse_xml(directory / f"quesst14_{query_set}.tlist.xml").iter("term"))
    if not documents or "" in documents or not queries or "" in queries:
        raise BenchError(f"{DATASET}: {directory} needs <excerpt audio_filename=...> rows in quesst14.ecf.xml and "
                         f"<term termid=...> rows in quesst14_{query_set}.tlist.xml")
    rttm = require_file(directory / f"quesst14_{query_set}.rttm", DATASET, "ground truth")
    occurrences: dict[str, set[str]] = {}
    for number, line in enumerate(rttm.read_text().splitlines(), 1):
        fields = line.split()
        if not fields or fields[0] != "LEXEME":
            continue
        if len(fields) < 6:
            raise BenchError(f"{rttm} line {number}: a LEXEME row needs 'LEXEME <file> <chnl> <tbeg> <dur> <query id> ...'")
        occurrences.setdefault(fields[5], set()).add(file_id(fields[1]))
    return GroundTruth(documents, queries, {query: frozenset(docs) for query, docs in occurrences.items()})


@dataclass
class QbeData(TaskData):
    """TaskData plus the ground truth of each query split ("dev", "test")."""

    ground_truth: dict[str, GroundTruth] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------------------- scoring
def scores_as_written(scores: np.ndarray) -> np.ndarray:
    """The scores the scorer reads back from the stdlist (``f"{score:.4f}"``, as s3prl writes them)."""
    return np.vectorize(lambda s: float(f"{s:.4f}"), otypes=[np.float64])(scores) if np.size(scores) else np.asarray(scores)


def twv_metrics(scores: np.ndarray, query_ids: Sequence[str], doc_ids: Sequence[str], truth: GroundTruth,
                decision_threshold: float) -> dict[str, Any]:
    """MTWV/ATWV of z-normed ``scores`` (English queries x English documents), over the whole ground truth (``mtwv``,
    ``atwv``: the official scorer's trials, everything not scored at its default) and over the English trials only
    (``mtwv_english``, ``atwv_english``), plus the MTWV thresholds and trial counts."""
    from downstream_tasks.metrics.detection import term_weighted_value

    scores = np.asarray(scores, dtype=np.float64)
    written = scores_as_written(scores)
    yes = scores > decision_threshold
    row = {q: i for i, q in enumerate(truth.queries)}
    col = {d: j for j, d in enumerate(truth.documents)}
    qi = [i for i, q in enumerate(query_ids) if q in row]  # a query outside the tlist is not scored by the scorer
    di = [j for j, d in enumerate(doc_ids) if d in col]
    full = np.full((len(truth.queries), len(truth.documents)), np.nan)
    full_yes = np.zeros(full.shape, dtype=bool)
    rows, cols = np.ix_([row[query_ids[i]] for i in qi], [col[doc_ids[j]] for j in di])
    full[rows, cols] = written[np.ix_(qi, di)]
    full_yes[rows, cols] = yes[np.ix_(qi, di)]
    official = term_weighted_value(full, truth.targets(truth.queries, truth.documents), decisions=full_yes)
    result = {"mtwv": official["mtwv"], "atwv": official["atwv"], "mtwv_threshold": _finite(official["mtwv_threshold"]),
              "scored_queries": official["num_queries"], "scored_documents": official["num_documents"]}
    english_targets = truth.targets(query_ids, doc_ids)
    if english_targets.any():
        english = term_weighted_value(written, english_targets, decisions=yes)
        result.update(mtwv_english=english["mtwv"], atwv_english=english["atwv"],
                      mtwv_english_threshold=_finite(english["mtwv_threshold"]), english_queries=english["num_queries"])
    else:
        result.update(mtwv_english=float("nan"), atwv_english=float("nan"), mtwv_english_threshold=None, english_queries=0)
    return result


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


def write_stdlist(path: Path, query_ids: Sequence[str], doc_ids: Sequence[str], scores: np.ndarray,
                  decision_threshold: float) -> Path:
    """s3prl's ``benchmark.stdlist.xml`` (NIST STD 2006 format, one ``term`` per query x document), which the official
    ``score-TWV-Cnxe.sh <its folder> groundtruth_quesst14_<set> -10`` scores."""
    root = ET.Element("stdlist", termlist_filename="benchmark.stdlist.xml", indexing_time="1.00", language="english",
                      index_size="1", system_id="benchmark")
    for query, row in zip(query_ids, np.asarray(scores)):
        terms = ET.SubElement(root, "detected_termlist", termid=query, term_search_time="1.0", oov_term_count="1")
        for doc, score in zip(doc_ids, row):
            ET.SubElement(terms, "term", file=doc, channel="1", tbeg="0.000", dur="0.00", score=f"{score:.4f}",
                          decision="YES" if score > decision_threshold else "NO")
    ET.indent(root)
    return write_text_atomic(path, "<?xml version='1.0' encoding='UTF-8'?>\n" + ET.tostring(root, encoding="unicode") + "\n")


def prediction_lines(query_ids: Sequence[str], doc_ids: Sequence[str], scores: np.ndarray, truth: GroundTruth) -> list[str]:
    """``query<TAB>best-scoring document<TAB>documents it occurs in`` (all languages; ``-`` when none)."""
    lines = []
    for query, row in zip(query_ids, np.asarray(scores)):
        best = doc_ids[int(np.argmax(row))] if len(row) else "-"
        true = sorted(truth.occurrences.get(query, ()))
        lines.append(f"{query}\t{best}\t{','.join(true) if true else '-'}")
    return lines


# ---------------------------------------------------------------------------------------------------------------- features
def read_frames(source: Any, split: str, count: int, layers: Sequence[int], batch_size: int) -> list[list[np.ndarray]]:
    """``frames[k][i]``: the ``(T_i, D)`` float32 features of utterance ``i`` of ``split`` at source layer ``layers[k]``."""
    import torch

    frames: list[list[np.ndarray]] = [[] for _ in layers]
    with torch.no_grad():
        for start in range(0, count, batch_size):
            hidden_states, lengths = source.batch(split, list(range(start, min(start + batch_size, count))), None)
            for k, layer in enumerate(layers):
                states = hidden_states[layer]
                for row, length in enumerate(lengths.tolist()):
                    frames[k].append(states[row, :length].detach().cpu().float().numpy().copy())
    return frames


def layer_groups(num_layers: int, bytes_per_layer: float | None, budget_gb: float | None) -> list[list[int]]:
    """Consecutive groups of layers whose float32 features fit ``budget_gb`` (all at once without an estimate or budget)."""
    if not bytes_per_layer or budget_gb is None:
        size = num_layers
    else:
        size = max(1, min(num_layers, int(float(budget_gb) * 1e9 // bytes_per_layer)))
    return [list(range(start, min(start + size, num_layers))) for start in range(0, num_layers, size)]


# ---------------------------------------------------------------------------------------------------------------- the task
class QueryByExample(ProtocolTask):
    metadata = TaskMetadata("qbe", "QbE", "quesst14", "frames", (
        MetricSpec("mtwv", True, "qbe", unit="MTWV", decimals=4,
                   description="query by example, maximum term-weighted value (QUESST 2014)"),))
    # No sourced official count: the recipe notes give no number of English documents or queries (s3prl filters
    # the language keys at load time), so a short real database is not flagged.
    official_split_sizes: ClassVar[dict[str, int]] = {}

    def __init__(self) -> None:
        self.upstream_info: Any = None

    def prepare(self, upstream: Any) -> None:
        self.upstream_info = upstream  # stride and width size the feature groups held in memory

    def load(self, data_root: Path, fold: str | None, config: Any) -> QbeData:
        root = require_dir(data_root / ROOT, DATASET, LAYOUT)
        for folder in ("Audio", "dev_queries", "eval_queries", "scoring"):
            require_dir(root / folder, DATASET, LAYOUT)
        scoring = root / "scoring"
        splits = {DOCUMENTS: english_utterances(data_root, "language_key_utterances.lst")}
        metadata = [scoring / "language_key_utterances.lst"]
        ground_truth = {}
        for split, query_set in QUERY_SETS.items():
            splits[split] = english_utterances(data_root, f"language_key_{query_set}.lst")
            truth_dir = scoring / f"groundtruth_quesst14_{query_set}"
            truth = read_ground_truth(truth_dir, query_set)
            # the ground truth is what MTWV is computed against: an edited occurrence is another test set
            metadata += [scoring / f"language_key_{query_set}.lst", *ground_truth_files(truth_dir, query_set)]
            documents = [file_id(u.uid) for u in splits[DOCUMENTS]]
            absent = [d for d in documents if d not in set(truth.documents)]
            if absent:
                raise BenchError(f"{DATASET}: {len(absent)} English documents are not in groundtruth_quesst14_{query_set}/"
                                 f"quesst14.ecf.xml (first: {absent[0]})")
            queries = [file_id(u.uid) for u in splits[split]]
            if not truth.targets(queries, documents).any():
                raise BenchError(f"{DATASET}: no English {query_set} query occurs in an English document according to "
                                 f"groundtruth_quesst14_{query_set}/quesst14_{query_set}.rttm; MTWV is undefined")
            ground_truth[split] = truth
        return QbeData(self.corpus, data_root, splits, [], metadata_files=metadata, ground_truth=ground_truth)

    def without_files(self, data: TaskData, is_dropped: Callable[[Path], bool]) -> QbeData:
        """Drop missing documents and queries from the splits and from each query set's ground truth (see
        :meth:`GroundTruth.without`): MTWV is then the official scorer's over the database without those files."""
        if not isinstance(data, QbeData):
            raise TypeError("QbE drops ground truth: it needs the QbeData that QueryByExample.load returns")
        kept = super().without_files(data, is_dropped)
        gone = {split: {file_id(u.uid) for u in utterances if is_dropped(u.path)} for split, utterances in data.splits.items()}
        for split, utterances in kept.splits.items():
            if not utterances:
                raise BenchError(f"{DATASET}: no English {split} file is left without the missing files; restore them")
        ground_truth = {split: truth.without(queries=gone[split], documents=gone[DOCUMENTS])
                        for split, truth in data.ground_truth.items()}
        return dataclasses.replace(kept, ground_truth=ground_truth)

    # ---- the protocol ---------------------------------------------------------------------------------------------
    def _bytes_per_layer(self, data: TaskData, split: str) -> float | None:
        """About how many bytes one layer's float32 frames of the documents and the split's queries take."""
        info = self.upstream_info
        if info is None:
            return None
        import soundfile

        seconds = sum(soundfile.info(str(u.path)).duration for s in (DOCUMENTS, split) for u in data.splits[s])
        return seconds * 16000 / info.stride_samples * info.hidden_size * 4

    def _dtw(self, queries: list[np.ndarray], documents: list[np.ndarray], settings: Any, progress: bool) -> np.ndarray:
        from downstream_tasks.qbe_dtw import score_queries

        return score_queries(queries, documents, distance=str(settings.distance),
                             workers=None if settings.workers is None else int(settings.workers),
                             feature_normalization=bool(settings.feature_normalization),
                             minmax_norm=bool(settings.minmax_norm), znorm=True, progress=progress,
                             min_query_frames=int(settings.min_query_frames))

    def score_without_training(self, data: TaskData, source: Any, config: Any, output_dir: Path,
                               progress: bool) -> UntrainedOutcome:
        if not isinstance(data, QbeData):
            raise TypeError("QbE needs the QbeData that QueryByExample.load returns")
        settings = config.dtw
        threshold = float(settings.decision_threshold)
        batch_size = int(config.batch_size)
        cached = config.cache.get("layers")
        doc_ids = [file_id(u.uid) for u in data.splits[DOCUMENTS]]
        ids = {split: [file_id(u.uid) for u in data.splits[split]] for split in QUERY_SETS}
        num_docs = len(doc_ids)
        probe = source.batch(DOCUMENTS, [0], None)[0]  # how many hidden states the source gives
        num_layers = len(probe)
        hidden_state = [int(cached[k]) for k in range(num_layers)] if cached is not None else list(range(num_layers))
        timings = {"features_s": 0.0, "dtw_dev_s": 0.0, "dtw_test_s": 0.0}

        per_layer: list[dict[str, Any]] = []
        dev_scores: dict[int, np.ndarray] = {}
        for group in layer_groups(num_layers, self._bytes_per_layer(data, "dev"), settings.get("max_feature_gb")):
            started = time.perf_counter()
            docs = read_frames(source, DOCUMENTS, num_docs, group, batch_size)
            queries = read_frames(source, "dev", len(ids["dev"]), group, batch_size)
            timings["features_s"] += time.perf_counter() - started
            for k, layer in enumerate(group):
                started = time.perf_counter()
                scores = self._dtw(queries[k], docs[k], settings, progress)
                timings["dtw_dev_s"] += time.perf_counter() - started
                dev_scores[layer] = scores
                entry = {"layer": hidden_state[layer], **twv_metrics(scores, ids["dev"], doc_ids, data.ground_truth["dev"],
                                                                     threshold)}
                per_layer.append(entry)
                if progress:
                    print(f"QbE dev, hidden state {hidden_state[layer]}: MTWV {entry['mtwv']:.4f} "
                          f"(English trials {entry['mtwv_english']:.4f})")
            del docs, queries
        chosen = choose_layer(per_layer)

        started = time.perf_counter()
        docs = read_frames(source, DOCUMENTS, num_docs, [chosen], batch_size)[0]
        queries = read_frames(source, "test", len(ids["test"]), [chosen], batch_size)[0]
        timings["features_s"] += time.perf_counter() - started
        started = time.perf_counter()
        test_scores = self._dtw(queries, docs, settings, progress)
        timings["dtw_test_s"] = time.perf_counter() - started
        test = twv_metrics(test_scores, ids["test"], doc_ids, data.ground_truth["test"], threshold)

        for split, scores in (("dev", dev_scores[chosen]), ("test", test_scores)):
            write_stdlist(output_dir / f"stdlist_{split}" / "benchmark.stdlist.xml", ids[split], doc_ids, scores, threshold)
        dev_lines = prediction_lines(ids["dev"], doc_ids, dev_scores[chosen], data.ground_truth["dev"])
        write_text_atomic(output_dir / "dev_predictions.tsv", "\n".join(["uid\tprediction\ttruth", *dev_lines]) + "\n")
        return UntrainedOutcome(
            dev={key: per_layer[chosen][key] for key in METRIC_KEYS},
            test=SplitScore({key: test[key] for key in METRIC_KEYS},
                            prediction_lines(ids["test"], doc_ids, test_scores, data.ground_truth["test"])),
            extra={
                "layer_weights": [1.0 if k == chosen else 0.0 for k in range(num_layers)],
                "chosen_layer": hidden_state[chosen],
                "per_layer_dev": per_layer,
                "test_detail": test,
                "dtw_timings": {key: round(value, 3) for key, value in timings.items()},
            },
        )
