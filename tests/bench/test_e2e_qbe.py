"""End to end on superb-mini (small): `bench run --task qbe --upstream fbank_no_cmvn` finds the query terms well above
chance.

Chance is measured here with the task's own scoring (``twv_metrics`` over the official QUESST trials) on 500 seeded
random scorers (i.i.d. normal scores, z-normed per query as the recipe does). Values at corpus seed 0, profile `mini`,
in brackets: a random scorer's test MTWV has mean [0.003] and 99th percentile [0.042] (it is 0 whenever its top trial is
a false alarm: beta = 12.49 makes one false alarm cost about as much as 0.4 of a hit here); fbank_no_cmvn reaches test
MTWV [0.074] (dev 0.021, the single hidden state) and ranks a true document first for [4] of the 10 English test
queries, where a random ranking expects 0.5 (P(>= 3) < 1 %). Thresholds: MTWV above the random 99th percentile, and at
least 3 of 10 top-1 hits. Queries are spoken by voices that never speak a document, so cross-speaker DTW on plain
filterbanks stays weak (SUPERB's fbank row is 0.0058 on the real set); s3prl:fbank, with per-utterance CMVN, reaches
0.116 on the same corpus.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np

from bench.cli import main
from bench.config import load_task_config
from downstream_tasks import get_task
from downstream_tasks.qbe import DOCUMENTS, file_id, twv_metrics
from downstream_tasks.qbe_dtw import z_normalise
from results.schema import UnitRecord
from tests.fixtures.items import assert_items_recompute


def test_qbe_beats_random_scores(mini_small, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE_DIR", str(tmp_path / "cache"))
    assert (
        main(
            [
                "run",
                "--upstream",
                "fbank_no_cmvn",
                "--task",
                "qbe",
                "--data-root",
                str(mini_small),
                "--output",
                str(tmp_path / "runs"),
                "--profile",
                "mini",
                "--device",
                "cpu",
                "--quiet",
            ]
        )
        == 0
    )
    result = json.loads((tmp_path / "runs" / "qbe" / "fbank_no_cmvn" / "result.json").read_text())
    (unit,) = result["units"]
    unit_dir = tmp_path / "runs" / "qbe" / "fbank_no_cmvn" / unit["path"]
    record = json.loads((unit_dir / "record.json").read_text())
    assert UnitRecord.from_dict(record).to_dict() == record  # the protocol's extras (chosen layer, ...) round-trip
    assert set(UnitRecord.from_dict(record).protocol) == {"chosen_layer", "per_layer_dev", "test_detail", "dtw_timings"}
    # per query, its scores against every document and its occurrences recompute the recorded MTWV
    assert assert_items_recompute(unit_dir.parent.parent) == {"exact": 1, "within_1e-12": 0}

    data = get_task("qbe").load(mini_small, None, load_task_config("qbe", "mini"))
    docs = [file_id(u.uid) for u in data.splits[DOCUMENTS]]
    queries = [file_id(u.uid) for u in data.splits["test"]]
    random_mtwv = np.array(
        [
            twv_metrics(
                z_normalise(np.random.default_rng(seed).normal(size=(len(queries), len(docs)))),
                queries,
                docs,
                data.ground_truth["test"],
                2.0,
            )["mtwv"]
            for seed in range(500)
        ]
    )
    mtwv = result["metrics"]["mtwv"]
    print(
        f"test MTWV {mtwv:.4f} (dev {record['metrics']['dev']['mtwv']:.4f}); random mean {random_mtwv.mean():.4f}, "
        f"p99 {np.percentile(random_mtwv, 99):.4f}"
    )
    assert mtwv > np.percentile(random_mtwv, 99)

    lines = (unit_dir / "test_predictions.tsv").read_text().splitlines()
    assert lines[0] == "uid\tprediction\ttruth"
    rows = [line.split("\t") for line in lines[1:]]
    assert [row[0] for row in rows] == queries
    hits = sum(best in truth.split(",") for _, best, truth in rows)
    assert hits >= 3, rows

    # one hidden state: it is the chosen one, and the record keeps its dev scores
    assert record["chosen_layer"] == 0 and record["layer_weights"] == [1.0] == result["layer_weights"]
    assert [entry["layer"] for entry in record["per_layer_dev"]] == [0]
    assert record["per_layer_dev"][0]["mtwv"] == record["metrics"]["dev"]["mtwv"]
    assert record["splits"] == {DOCUMENTS: len(docs), "dev": len(data.splits["dev"]), "test": len(queries)}
    stdlist = ET.parse(unit_dir / "stdlist_test" / "benchmark.stdlist.xml").getroot()
    assert [e.get("termid") for e in stdlist] == queries and all(len(e) == len(docs) for e in stdlist)
