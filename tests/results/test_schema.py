"""The record types of :mod:`results.schema` round-trip the JSON that `bench run` writes, unit and result alike."""

from __future__ import annotations

import dataclasses
import json

import pytest

from benchcore.errors import BenchError
from results.schema import RESULT_SCHEMA, SCHEMA_VERSION, UNIT_SCHEMA, RecordedMetric, ResultRecord, UnitRecord


def _written(report_runs, name: str) -> list[tuple[str, dict]]:
    return [(str(path), json.loads(path.read_text())) for path in sorted(report_runs.runs.rglob(name))]


@pytest.mark.slow
def test_result_records_written_by_bench_run_round_trip(report_runs):
    written = _written(report_runs, "result.json")
    assert len(written) == 6  # ks and ic on fbank, ks on the tiny HuBERT and its 3 per-layer probes
    for path, content in written:
        record = ResultRecord.from_dict(content)
        assert record.to_dict() == content, path
        assert ResultRecord.from_dict(record.to_dict()) == record
        assert content["schema"] == RESULT_SCHEMA and content["schema_version"] == SCHEMA_VERSION
        assert record.metric == RecordedMetric(content["metric"]["name"], content["metric"]["higher_is_better"])
    ks = ResultRecord.from_dict(next(content for path, content in written if "/ks/fbank" in path))
    assert ks.seeds == [0, 1] and len(ks.lr_sweep) == 2 and ks.chance is not None and 0 < ks.chance.metrics["acc"] < 1


def test_unit_records_written_by_bench_run_round_trip(report_runs):
    written = _written(report_runs, "record.json")
    assert len(written) == 9  # ks: 2 seeds x 2 learning rates; ic; ks on HuBERT and its 3 per-layer probes
    for path, content in written:
        record = UnitRecord.from_dict(content, path)
        assert record.to_dict() == content, path
        assert content["schema"] == UNIT_SCHEMA and record.protocol == {}
        assert set(record.metrics) == {"dev", "test"} and record.feature_mode == "cache"


def test_protocol_extras_and_unknown_keys_survive_a_round_trip(report_runs):
    _, content = _written(report_runs, "record.json")[0]
    content = dict(content, chosen_layer=3, per_layer_dev=[{"mtwv": 0.1}], rescored=True, written_by_a_newer_harness=1)
    record = UnitRecord.from_dict(content)
    assert record.protocol == {"chosen_layer": 3, "per_layer_dev": [{"mtwv": 0.1}], "written_by_a_newer_harness": 1}
    assert record.rescored
    assert record.to_dict() == content
    assert "rescored" not in dataclasses.replace(record, rescored=False).to_dict()


def test_a_foreign_or_future_record_is_a_one_line_refusal(report_runs):
    _, content = _written(report_runs, "result.json")[0]
    with pytest.raises(BenchError, match="not a result record"):
        ResultRecord.from_dict(dict(content, schema=UNIT_SCHEMA))
    future = SCHEMA_VERSION + 1
    with pytest.raises(BenchError, match=f"schema version {future} is not supported"):
        ResultRecord.from_dict(dict(content, schema_version=future))
    with pytest.raises(BenchError, match="malformed result record .*metric kind"):
        ResultRecord.from_dict(dict(content, metric_kinds={"acc": "louder_is_better"}))
    with pytest.raises(BenchError, match="malformed result record"):
        ResultRecord.from_dict({key: value for key, value in content.items() if key != "metric"})


def test_result_records_state_each_metrics_direction_and_version_1_records_still_read(report_runs):
    """Version 2 records the kind of every declared metric; a version-1 record (no kinds) still reads, with the
    ranked metric's direction from ``metric`` and none for the others."""
    for path, content in _written(report_runs, "result.json"):
        record = ResultRecord.from_dict(content)
        assert set(record.metric_kinds) == set(record.metrics), path
        assert record.higher_is_better(record.metric.name) is record.metric.higher_is_better is True
    _, content = _written(report_runs, "result.json")[0]
    old = {key: value for key, value in content.items() if key != "metric_kinds"}
    old = dict(old, schema_version=1, metrics=dict(content["metrics"], other_rate=0.25))
    record = ResultRecord.from_dict(old)
    assert record.metric_kinds == {} and record.higher_is_better(record.metric.name) is True
    assert record.higher_is_better("other_rate") is None
