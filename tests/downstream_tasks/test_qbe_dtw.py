"""QbE subsequence-DTW scoring: synthetic behaviour, and equality with s3prl's quesst14_dtw code executed from its
source."""

from __future__ import annotations

import ast
import importlib.util
import types
import xml.etree.ElementTree as ET
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor, as_completed
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from downstream_tasks.qbe_dtw import DECISION_THRESHOLD, decisions, score_queries, z_normalise

EXPERT = Path(importlib.util.find_spec("s3prl").submodule_search_locations[0]) / "downstream/quesst14_dtw/expert.py"
RECIPE_DTWRC = {"dist_method": "cosine_exp", "step_pattern": "asymmetric", "minmax_norm": True, "subsequence": True}


class _LxmlShim:
    """The part of lxml.etree that expert.py uses (lxml is not installed here): stdlib ElementTree, ``pretty_print``
    ignored."""

    Element = staticmethod(ET.Element)
    SubElement = staticmethod(ET.SubElement)

    class ElementTree(ET.ElementTree):
        def write(self, path, encoding="UTF-8", pretty_print=False):
            super().write(path, encoding=encoding)


@pytest.fixture(scope="module")
def s3prl_expert():
    """``match``, ``cosine_exp``, ``cosine_neg_log`` and ``DownstreamExpert.log_records`` compiled from s3prl's
    expert.py.

    ``ProcessPoolExecutor`` is bound to ``ThreadPoolExecutor`` (functions compiled here cannot be pickled into worker
    processes; the results do not depend on the pool) and ``etree`` to the stdlib shim above.
    """
    import torch
    from dtw import dtw
    from scipy.spatial import distance
    from tqdm import tqdm

    tree = ast.parse(EXPERT.read_text())
    wanted = {"match", "cosine_exp", "cosine_neg_log"}
    nodes = [node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in wanted]
    expert_class = next(
        node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "DownstreamExpert"
    )
    nodes += [node for node in expert_class.body if isinstance(node, ast.FunctionDef) and node.name == "log_records"]
    assert len(nodes) == 4
    namespace = {
        "np": np, "torch": torch, "dtw": dtw, "distance": distance, "partial": partial, "defaultdict": defaultdict,
        "ProcessPoolExecutor": ThreadPoolExecutor, "as_completed": as_completed, "etree": _LxmlShim,
        "tqdm": partial(tqdm, disable=True),
    }  # fmt: skip
    exec(compile(ast.Module(body=nodes, type_ignores=[]), str(EXPERT), "exec"), namespace)
    return namespace


def s3prl_raw_scores(expert, queries, docs, dist_method="cosine_exp", feature_normalization=True):
    """s3prl's ``log_records`` arithmetic up to (not including) the z-norm, step by step from its source, with its
    ``match``."""
    import torch

    features = [torch.from_numpy(x) for x in queries + docs]
    feature_mean, feature_std = 0.0, 1.0
    if feature_normalization:
        feats = torch.cat(features)
        feature_mean = feats.mean(0)
        feature_std = torch.clamp(feats.std(0), 1e-9)
    qs = [((q - feature_mean) / feature_std).numpy() for q in features[: len(queries)]]
    ds = [((d - feature_mean) / feature_std).numpy() for d in features[len(queries) :]]
    if dist_method == "cosine_exp":
        dist_fn = expert["cosine_exp"]
    else:
        from scipy.spatial import distance

        dist_fn = partial(distance.cdist, metric=dist_method)
    dtwrc = {"step_pattern": "asymmetric", "keep_internals": False, "distance_only": False, "open_begin": True,
             "open_end": True}  # fmt: skip
    scores = np.zeros((len(qs), len(ds)))
    for i, q in enumerate(qs):
        if len(q) < 5:
            continue
        for j, d in enumerate(ds):
            scores[i, j] = expert["match"](q, d, i, j, dist_fn, True, dtwrc)[2]
    return scores


def synthetic(seed=0, dim=8, dtype=np.float64):
    """Documents of random frames; query k is a noisy copy of frames [10, 10 + L) of document k (k < 3); query 3 is 3
    frames."""
    rng = np.random.default_rng(seed)
    docs = [rng.normal(size=(int(rng.integers(25, 45)), dim)) for _ in range(12)]
    queries = [
        docs[k][10 : 10 + length] + rng.normal(scale=0.1, size=(length, dim)) for k, length in enumerate((8, 12, 10))
    ]
    queries.append(rng.normal(size=(3, dim)))
    return [q.astype(dtype) for q in queries], [d.astype(dtype) for d in docs]


def test_embedded_query_scores_highest_and_short_query_is_zero():
    queries, docs = synthetic()
    scores = score_queries(queries, docs, workers=2)
    assert scores.shape == (4, 12)
    for k in range(3):
        assert scores[k].argmax() == k
        assert scores[k, k] > DECISION_THRESHOLD  # a clear YES under s3prl's rule
        assert decisions(scores)[k].sum() == 1
    # < 5 frames: never aligned, 0 everywhere, before and after the z-norm
    assert np.all(scores[3] == 0.0)
    assert np.all(score_queries(queries, docs, workers=1, znorm=False)[3] == 0.0)
    # the limit is configurable (config dtw.min_query_frames): at 9 frames the 8-frame query 0 is skipped too, in both
    # paths
    for workers in (1, 2):
        raw = score_queries(queries, docs, workers=workers, znorm=False, min_query_frames=9)
        assert np.all(raw[0] == 0.0) and np.all(raw[3] == 0.0) and np.all(raw[1:3].min(axis=1) < 0.0)


def test_z_normalisation_per_query():
    queries, docs = synthetic(seed=1)
    raw = score_queries(queries, docs, workers=1, znorm=False)
    assert np.all(raw[:3] <= 0.0)  # -normalizedDistance of a min-max normalised cost
    scores = score_queries(queries, docs, workers=1)
    np.testing.assert_allclose(scores, z_normalise(raw))
    np.testing.assert_allclose(scores[:3].mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(scores[:3].std(axis=1), 1.0)
    # z-norm is per query: scaling one query's raw scores does not change its z-scores
    np.testing.assert_allclose(z_normalise(raw * np.array([[1.0], [7.0], [0.3], [1.0]])), scores, atol=1e-12)


def test_workers_give_identical_scores():
    queries, docs = synthetic(seed=2)
    np.testing.assert_allclose(  # in-process vs 3 processes on the memory-mapped documents (BLAS may round differently)
        score_queries(queries, docs, workers=1), score_queries(queries, docs, workers=3), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("dist_method", ["cosine_exp", "cityblock"])
def test_raw_scores_equal_s3prl_match(s3prl_expert, dist_method):
    queries, docs = synthetic(seed=3)
    expected = s3prl_raw_scores(s3prl_expert, queries, docs, dist_method)
    ours = score_queries(queries, docs, distance=dist_method, workers=2, znorm=False)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-10)
    # float32 features (what upstreams produce): s3prl normalises in float32 with torch; agreement to float32 rounding
    q32, d32 = synthetic(seed=3, dtype=np.float32)
    np.testing.assert_allclose(
        score_queries(q32, d32, distance=dist_method, workers=1, znorm=False),
        s3prl_raw_scores(s3prl_expert, q32, d32, dist_method),
        rtol=0,
        atol=1e-6,  # measured: ~2e-8
    )


def test_end_to_end_equals_s3prl_log_records(s3prl_expert, tmp_path):
    """Run s3prl's own ``log_records`` (DTW, z-norm, YES/NO, stdlist XML) and compare its XML with ours."""
    import torch

    queries, docs = synthetic(seed=4)
    fake_self = types.SimpleNamespace(
        test_dataset=types.SimpleNamespace(n_queries=len(queries)),
        feature_normalization=True,
        dtwrc=RECIPE_DTWRC,
        max_workers=2,
        expdir=tmp_path,
    )
    records = {
        "features": [torch.from_numpy(x) for x in queries + docs],
        "audio_names": [f"q{i}" for i in range(len(queries))] + [f"d{j}" for j in range(len(docs))],
    }
    s3prl_expert["log_records"](fake_self, "dev", records)
    root = ET.parse(tmp_path / "benchmark.stdlist.xml").getroot()
    xml_scores = np.full((len(queries), len(docs)), np.nan)
    xml_yes = np.zeros_like(xml_scores, dtype=bool)
    for term_list in root:
        i = int(term_list.get("termid")[1:])
        for term in term_list:
            j = int(term.get("file")[1:])
            xml_scores[i, j] = float(term.get("score"))
            xml_yes[i, j] = term.get("decision") == "YES"
    ours = score_queries(queries, docs, workers=2)
    np.testing.assert_allclose(ours, xml_scores, rtol=0, atol=5e-5 + 1e-12)  # the XML holds f"{score:.4f}"
    assert np.array_equal(decisions(ours), xml_yes) and xml_yes.sum() >= 3


def test_bad_inputs():
    queries, docs = synthetic()
    with pytest.raises(ValueError):
        score_queries(queries, docs, distance="cosine_neg_log")  # s3prl forbids it with feature normalisation
    with pytest.raises(ValueError):
        score_queries(queries, [docs[0], np.zeros((0, 8))], workers=1)
    with pytest.raises(ValueError):
        score_queries(queries, [np.zeros((10, 5))], workers=1)
