"""QbE: query-by-example spoken term detection on QUESST 2014, English subset (s3prl ``downstream/quesst14_dtw``).

There is no head to train. For every hidden state of the encoder, each English dev query is aligned against every
English document by subsequence DTW (:func:`downstream_tasks.qbe_dtw.score_queries`, the recipe's arithmetic), and the
z-normed scores are scored with MTWV/ATWV (:func:`downstream_tasks.metrics.detection.term_weighted_value`, the QUESST
2014 scorer's definition). The layer with the best dev MTWV is chosen and only the eval queries ("test") are scored with
it: SUPERB runs ``-m evaluate -l <layer>`` per layer on dev and reports the best dev layer's test number.

Data (``quesst14Database/`` under the data root, as in ``quesst14Database.tgz``): documents ``Audio/*.wav`` and queries
``{dev,eval}_queries/*.wav``, kept when their row in ``scoring/language_key_{utterances,dev,eval}.lst`` says
``nnenglish`` (s3prl's ``dataset.py`` filter, in the order of those files); ground truth
``scoring/groundtruth_quesst14_{dev,eval}/`` (``quesst14.ecf.xml``: every document; ``quesst14_<set>.tlist.xml``: every
query; ``quesst14_<set>.rttm``: a ``LEXEME`` row per occurrence of a query in a document).

**What MTWV is computed over.** s3prl writes ``benchmark.stdlist.xml`` with English queries x English documents only,
and scores it with ``score-TWV-Cnxe.sh <dir> groundtruth_quesst14_<set> -10``, i.e. against the ground truth of *all*
languages: every other trial is missing, takes the default score -10 and a NO decision. So SUPERB's MTWV averages over
every query of the set that occurs somewhere (the English ones are about a quarter of them in the real database) with
every ecf document as a non-target candidate. ``mtwv``/``atwv`` here are that number, comparable with SUPERB's tables;
``mtwv_english`` / ``atwv_english`` restrict the trials to English queries x English documents (what the search itself
can reach). MTWV is computed from the scores as the stdlist writes them (4 decimals), ATWV from the recipe's decisions
(z-score > 2).

The package, by concern: :mod:`~downstream_tasks.qbe.reader` reads the QUESST layout and the ground truth,
:mod:`~downstream_tasks.qbe.scoring` holds the TWV glue, the stdlist and the prediction lines,
:mod:`~downstream_tasks.qbe.features` reads the frames, and :mod:`~downstream_tasks.qbe.task` holds the task class; the
DTW itself is :mod:`downstream_tasks.qbe_dtw`. The names are re-exported here, so ``downstream_tasks.qbe`` is imported
as before.
"""

from __future__ import annotations

from downstream_tasks.qbe.features import layer_groups, read_frames
from downstream_tasks.qbe.reader import (
    DATASET,
    DOCUMENTS,
    ENGLISH,
    LAYOUT,
    QUERY_SETS,
    ROOT,
    GroundTruth,
    QbeData,
    english_utterances,
    file_id,
    ground_truth_files,
    read_ground_truth,
    read_language_key,
)
from downstream_tasks.qbe.scoring import (
    METRIC_KEYS,
    choose_layer,
    prediction_lines,
    scores_as_written,
    twv_metrics,
    write_stdlist,
)
from downstream_tasks.qbe.task import QueryByExample

__all__ = [
    # reader
    "ROOT",
    "DATASET",
    "ENGLISH",
    "DOCUMENTS",
    "QUERY_SETS",
    "LAYOUT",
    "read_language_key",
    "english_utterances",
    "file_id",
    "ground_truth_files",
    "GroundTruth",
    "read_ground_truth",
    "QbeData",
    # scoring
    "scores_as_written",
    "twv_metrics",
    "METRIC_KEYS",
    "choose_layer",
    "write_stdlist",
    "prediction_lines",
    # features
    "read_frames",
    "layer_groups",
    # task
    "QueryByExample",
]
