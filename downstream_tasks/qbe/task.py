"""QbE's task: :class:`QueryByExample`, the protocol without a head to train (every hidden state's dev queries aligned
against the documents by subsequence DTW and scored with MTWV, the best dev layer's eval queries reported as test).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from benchcore.atomic import write_text_atomic
from benchcore.errors import BenchError
from downstream_tasks.base import FeatureSource, ProtocolTask, SplitScore, TaskData, UntrainedOutcome, require_dir
from downstream_tasks.metadata import DETECTION, NO_DETECTION, SUPERB, MetricSpec, TaskMetadata
from downstream_tasks.qbe.features import layer_groups, read_frames
from downstream_tasks.qbe.reader import (
    DATASET,
    DOCUMENTS,
    LAYOUT,
    QUERY_SETS,
    ROOT,
    QbeData,
    english_utterances,
    file_id,
    ground_truth_files,
    read_ground_truth,
)
from downstream_tasks.qbe.scoring import (
    METRIC_KEYS,
    choose_layer,
    item_table,
    prediction_lines,
    twv_metrics,
    write_stdlist,
)
from upstream.base import UpstreamInfo


class QueryByExample(ProtocolTask):
    metadata = TaskMetadata(
        "qbe",
        "QbE",
        "quesst14",
        "frames",
        (
            MetricSpec(
                "mtwv",
                DETECTION,
                "qbe",
                unit="MTWV",
                decimals=4,
                description="query by example, maximum term-weighted value (QUESST 2014)",
                audio_blind=NO_DETECTION,
            ),
        ),
        benchmark=SUPERB,
    )
    # No sourced official count: the recipe notes give no number of English documents or queries (s3prl filters
    # the language keys at load time), so a short real database is not flagged.
    official_split_sizes: ClassVar[dict[str, int]] = {}

    def __init__(self) -> None:
        self.upstream_info: Any = None

    def prepare(self, upstream: UpstreamInfo) -> None:
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
                raise BenchError(
                    f"{DATASET}: {len(absent)} English documents are not in groundtruth_quesst14_{query_set}/"
                    f"quesst14.ecf.xml (first: {absent[0]})"
                )
            queries = [file_id(u.uid) for u in splits[split]]
            if not truth.targets(queries, documents).any():
                raise BenchError(
                    f"{DATASET}: no English {query_set} query occurs in an English document according to "
                    f"groundtruth_quesst14_{query_set}/quesst14_{query_set}.rttm; MTWV is undefined"
                )
            ground_truth[split] = truth
        return QbeData(self.corpus, data_root, splits, [], metadata_files=metadata, ground_truth=ground_truth)

    def without_files(self, data: TaskData, is_dropped: Callable[[Path], bool]) -> QbeData:
        """Drop missing documents and queries from the splits and from each query set's ground truth (see
        :meth:`GroundTruth.without`): MTWV is then the official scorer's over the database without those files."""
        if not isinstance(data, QbeData):
            raise TypeError("QbE drops ground truth: it needs the QbeData that QueryByExample.load returns")
        kept = super().without_files(data, is_dropped)
        gone = {
            split: {file_id(u.uid) for u in utterances if is_dropped(u.path)}
            for split, utterances in data.splits.items()
        }
        for split, utterances in kept.splits.items():
            if not utterances:
                raise BenchError(f"{DATASET}: no English {split} file is left without the missing files; restore them")
        ground_truth = {
            split: truth.without(queries=gone[split], documents=gone[DOCUMENTS])
            for split, truth in data.ground_truth.items()
        }
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

        return score_queries(
            queries,
            documents,
            distance=str(settings.distance),
            workers=None if settings.workers is None else int(settings.workers),
            feature_normalization=bool(settings.feature_normalization),
            minmax_norm=bool(settings.minmax_norm),
            znorm=True,
            progress=progress,
            min_query_frames=int(settings.min_query_frames),
        )

    def score_without_training(
        self, data: TaskData, source: FeatureSource, config: Any, output_dir: Path, progress: bool
    ) -> UntrainedOutcome:
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
                entry = {
                    "layer": hidden_state[layer],
                    **twv_metrics(scores, ids["dev"], doc_ids, data.ground_truth["dev"], threshold),
                }
                per_layer.append(entry)
                if progress:
                    print(
                        f"QbE dev, hidden state {hidden_state[layer]}: MTWV {entry['mtwv']:.4f} "
                        f"(English trials {entry['mtwv_english']:.4f})"
                    )
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
            write_stdlist(
                output_dir / f"stdlist_{split}" / "benchmark.stdlist.xml", ids[split], doc_ids, scores, threshold
            )
        dev_lines = prediction_lines(ids["dev"], doc_ids, dev_scores[chosen], data.ground_truth["dev"])
        write_text_atomic(output_dir / "dev_predictions.tsv", "\n".join(["uid\tprediction\ttruth", *dev_lines]) + "\n")
        return UntrainedOutcome(
            dev={key: per_layer[chosen][key] for key in METRIC_KEYS},
            test=SplitScore(
                {key: test[key] for key in METRIC_KEYS},
                prediction_lines(ids["test"], doc_ids, test_scores, data.ground_truth["test"]),
                item_table(self.name, test_scores, ids["test"], doc_ids, data.ground_truth["test"]),
            ),
            extra={
                "layer_weights": [1.0 if k == chosen else 0.0 for k in range(num_layers)],
                "chosen_layer": hidden_state[chosen],
                "per_layer_dev": per_layer,
                "test_detail": test,
                "dtw_timings": {key: round(value, 3) for key, value in timings.items()},
            },
        )
