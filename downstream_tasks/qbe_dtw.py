"""Query-by-example scoring by subsequence DTW, the arithmetic of s3prl's ``downstream/quesst14_dtw/expert.py``, on all
cores.

For every query x document pair the recipe (config ``quesst14_dtw/config.yaml``: ``feature_normalization: True``,
``dist_method: cosine_exp``, ``minmax_norm: True``, ``step_pattern: asymmetric``, ``subsequence: True``,
``silence_frame: null``) does, and :func:`score_queries` does the same:

1. normalise every feature dimension with the mean and standard deviation over **all frames of all queries and
   documents** (torch's ``std``, i.e. unbiased, clamped to at least 1e-9);
2. the local distance matrix ``(T_query, T_doc)``: ``cosine_exp`` = ``exp(cdist(q, d, "cosine")) - 1`` (also
   ``cosine_neg_log`` = ``-log(1 - cosine distance)`` and any ``scipy.spatial.distance.cdist`` metric name, as s3prl
   allows);
3. min-max normalise each row (query frame) of that matrix: ``(dist - min) / max(max - min, 1e-9)``;
4. ``dtw.dtw(x=dist, step_pattern="asymmetric", keep_internals=False, distance_only=False, open_begin=True,
   open_end=True)`` (dtw-python subsequence alignment: the whole query against any stretch of the document), score =
   ``-normalizedDistance`` (the asymmetric pattern normalises by the query length);
5. a query with fewer than 5 frames is not aligned: it scores 0 against every document;
6. z-normalise each query's scores over the documents: ``(s - mean) / max(std, 1e-9)`` (numpy ``std``, ddof 0).

s3prl then writes ``decision="YES"`` where the z-normed score is ``> 2.0`` (:data:`DECISION_THRESHOLD`,
:func:`decisions`).

Differences that change no result beyond float rounding: the feature statistics are accumulated in float64 (s3prl:
torch, in the features' dtype), and the cosine distances come from one matrix product of unit-normalised frames per
block of documents instead of one ``cdist`` call per pair (the same formula, ``1 - clip(u.v / (|u| |v|), -1, 1)``; about
5x faster at 768 dims). Other ``cdist`` metrics use ``cdist`` itself. Parallelism:
``concurrent.futures.ProcessPoolExecutor`` (s3prl's ``max_workers: null`` = every core), one task per query, one BLAS
thread per worker; the normalised documents are written once to a temporary ``.npy`` that each worker memory-maps, so
workers share one copy through the page cache instead of each unpickling its own.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

#: Queries shorter than this many frames score 0 against every document (s3prl: ``if len(query) < 5``).
MIN_QUERY_FRAMES = 5
#: s3prl's YES/NO rule on the z-normed scores: ``decision="YES" if score > 2.0``.
DECISION_THRESHOLD = 2.0
#: Distances computed from unit-normalised frames with one matrix product; any other name goes to ``scipy`` ``cdist``.
COSINE_DISTANCES = ("cosine", "cosine_exp", "cosine_neg_log")
_BLOCK_FRAMES = 32768  # document frames per matrix product: bounds a task's memory to about T_query x 32768 floats

# Per-process state of a pool worker, set by _init_worker (the in-process path passes its state explicitly).
_STATE: dict | None = None


def decisions(scores: np.ndarray, threshold: float = DECISION_THRESHOLD) -> np.ndarray:
    """s3prl's YES decisions: ``scores > threshold`` (element-wise, on the z-normed scores)."""
    return np.asarray(scores) > threshold


def _feature_statistics(arrays: Sequence[np.ndarray], normalise: bool, dim: int) -> tuple[np.ndarray, np.ndarray]:
    if not normalise:
        return np.zeros(dim), np.ones(dim)
    count = sum(len(a) for a in arrays)
    total = np.zeros(dim)
    for a in arrays:
        total += a.sum(axis=0, dtype=np.float64)
    mean = total / count
    squares = np.zeros(dim)
    for a in arrays:
        squares += ((a.astype(np.float64) - mean) ** 2).sum(axis=0)
    std = (
        np.sqrt(squares / (count - 1)) if count > 1 else np.full(dim, np.nan)
    )  # torch.std is unbiased (nan for 1 frame)
    return mean, np.maximum(std, 1e-9)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        unit = x / norms
    unit[(norms == 0).reshape(-1)] = np.nan  # scipy's cosine distance with an all-zero frame is nan
    return unit


def _prepare(x: np.ndarray, mean: np.ndarray, std: np.ndarray, dtype, distance: str) -> np.ndarray:
    out = (x.astype(np.float64) - mean) / std
    if distance in COSINE_DISTANCES:
        out = _unit_rows(out)
    return out.astype(dtype, copy=False)


def _init_worker(docs, offsets: np.ndarray, distance: str, minmax_norm: bool, min_query_frames: int) -> None:
    """Pool initializer: memory-map the prepared documents once per worker process."""
    global _STATE
    if isinstance(docs, (str, Path)):  # a pool worker: one BLAS thread each, the pool already uses every core
        try:
            from threadpoolctl import threadpool_limits

            threadpool_limits(1)
        except ImportError:  # threadpoolctl comes with scikit-learn; without it BLAS keeps its default threads
            pass
        docs = np.load(docs, mmap_mode="r")
    _STATE = {
        "docs": docs,
        "offsets": offsets,
        "distance": distance,
        "minmax_norm": minmax_norm,
        "min_query_frames": min_query_frames,
    }


def _local_distances(query: np.ndarray, block: np.ndarray, distance: str) -> np.ndarray:
    if distance in COSINE_DISTANCES:
        cos = np.clip(query @ block.T, -1.0, 1.0).astype(np.float64)
        dist = 1.0 - cos
        if distance == "cosine_exp":
            dist = np.exp(dist) - 1.0
        elif distance == "cosine_neg_log":
            with np.errstate(divide="ignore"):
                dist = -1.0 * np.log(1.0 - dist)
        return dist
    from scipy.spatial.distance import cdist

    return cdist(query, block, metric=distance)


def _align(dist: np.ndarray, minmax_norm: bool) -> float:
    from dtw import dtw

    if minmax_norm:
        dist_min = dist.min(1)[:, np.newaxis]
        dist_max = dist.max(1)[:, np.newaxis]
        dist = (dist - dist_min) / np.clip(dist_max - dist_min, 1e-9, np.inf)
    result = dtw(
        x=dist, step_pattern="asymmetric", keep_internals=False, distance_only=False, open_begin=True, open_end=True
    )
    return -1.0 * result.normalizedDistance


def _score_query(query: np.ndarray, state: dict | None = None) -> np.ndarray:
    """Raw DTW scores (``-normalizedDistance``) of one prepared query against every document (of the worker's state)."""
    state = _STATE if state is None else state
    docs, offsets, distance = state["docs"], state["offsets"], state["distance"]
    num_docs = len(offsets) - 1
    scores = np.zeros(num_docs)
    if len(query) < state.get("min_query_frames", MIN_QUERY_FRAMES):
        return scores
    first = 0
    while first < num_docs:  # group documents into blocks of about _BLOCK_FRAMES frames, one distance product per block
        last = first + 1
        while last < num_docs and offsets[last + 1] - offsets[first] <= _BLOCK_FRAMES:
            last += 1
        start = offsets[first]
        dist = _local_distances(query, np.asarray(docs[start : offsets[last]]), distance)
        for j in range(first, last):
            scores[j] = _align(dist[:, offsets[j] - start : offsets[j + 1] - start], state["minmax_norm"])
        first = last
    return scores


def z_normalise(scores: np.ndarray) -> np.ndarray:
    """s3prl's per-query score normalisation: ``(s - mean) / clip(std, 1e-9, inf)`` over each row (numpy std, ddof
    0)."""
    scores = np.asarray(scores, dtype=np.float64)
    mean = scores.mean(axis=1, keepdims=True)
    std = np.clip(scores.std(axis=1, keepdims=True), 1e-9, np.inf)
    return (scores - mean) / std


def score_queries(
    queries: Sequence[np.ndarray],
    documents: Sequence[np.ndarray],
    distance: str = "cosine_exp",
    workers: int | None = None,
    feature_normalization: bool = True,
    minmax_norm: bool = True,
    znorm: bool = True,
    progress: bool = False,
    tmp_dir: str | Path | None = None,
    min_query_frames: int = MIN_QUERY_FRAMES,
) -> np.ndarray:
    """QbE detection scores ``(num_queries, num_documents)`` by s3prl's ``quesst14_dtw`` recipe (see the module
    docstring).

    ``queries`` / ``documents``: frame features ``(T, D)`` of one layer (numpy or anything ``np.asarray`` takes).
    Defaults are the recipe's; ``znorm=False`` returns the raw ``-normalizedDistance`` scores (0 for queries shorter
    than ``min_query_frames``, the recipe's 5). ``workers``: processes
    (None = ``os.cpu_count()``; 1 = in this process). float32 features are compared in float32 (as s3prl's are),
    anything else in float64. ``tmp_dir`` holds the shared memory-mapped documents while the pool runs.
    """
    if distance == "cosine_neg_log" and feature_normalization:
        raise ValueError("feature normalisation cannot be used with cosine_neg_log (s3prl asserts the same)")
    queries = [np.asarray(q) for q in queries]
    documents = [np.asarray(d) for d in documents]
    if not documents:
        raise ValueError("no documents to search")
    dims = {a.shape[1] for a in queries + documents if a.ndim == 2}
    if any(a.ndim != 2 for a in queries + documents) or len(dims) != 1:
        raise ValueError(f"every query and document must be a (frames, dim) array of one dim, got dims {sorted(dims)}")
    if any(len(d) == 0 for d in documents):
        raise ValueError("a document has no frames")
    dim = dims.pop()
    dtype = np.float32 if all(a.dtype == np.float32 for a in queries + documents) else np.float64

    mean, std = _feature_statistics(queries + documents, feature_normalization, dim)
    offsets = np.concatenate([[0], np.cumsum([len(d) for d in documents])]).astype(np.int64)
    prepared_queries = [_prepare(q, mean, std, dtype, distance) for q in queries]

    num_workers = (os.cpu_count() or 1) if workers is None else max(1, int(workers))
    num_workers = min(num_workers, max(1, sum(len(q) >= min_query_frames for q in queries)))
    raw = np.zeros((len(queries), len(documents)))
    if num_workers == 1:
        docs = np.empty((int(offsets[-1]), dim), dtype=dtype)
        for d, start, end in zip(documents, offsets[:-1], offsets[1:]):
            docs[start:end] = _prepare(d, mean, std, dtype, distance)
        state = {
            "docs": docs,
            "offsets": offsets,
            "distance": distance,
            "minmax_norm": minmax_norm,
            "min_query_frames": min_query_frames,
        }
        for i, query in enumerate(_progress(prepared_queries, progress)):
            raw[i] = _score_query(query, state)
    else:
        with tempfile.TemporaryDirectory(prefix="qbe_dtw_", dir=tmp_dir) as folder:
            path = Path(folder) / "documents.npy"
            docs = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(int(offsets[-1]), dim))
            for d, start, end in zip(documents, offsets[:-1], offsets[1:]):
                docs[start:end] = _prepare(d, mean, std, dtype, distance)
            docs.flush()
            del docs
            with ProcessPoolExecutor(
                max_workers=num_workers,
                initializer=_init_worker,
                initargs=(str(path), offsets, distance, minmax_norm, min_query_frames),
            ) as executor:
                futures = {
                    executor.submit(_score_query, query): i
                    for i, query in enumerate(prepared_queries)
                    if len(query) >= min_query_frames
                }
                for future in _progress(futures, progress, total=len(futures)):
                    raw[futures[future]] = future.result()
    return z_normalise(raw) if znorm else raw


def _progress(items, enabled: bool, total: int | None = None):
    if not enabled:
        return items
    from concurrent.futures import as_completed

    from tqdm import tqdm

    if isinstance(items, dict):
        return tqdm(as_completed(items), total=total, desc="DTW", ncols=0)
    return tqdm(items, desc="DTW", ncols=0)
