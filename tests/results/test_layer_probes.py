"""`bench layers`: per-layer probes from the pooled cache beside the weighted sum, marked, kept out of the scores."""

from __future__ import annotations

import csv
import io
import json

import matplotlib.image
import pytest

from bench.cli import main
from results.records import load_records


def test_probes_train_each_hidden_state_alone_from_the_same_cache(report_runs):
    record_set = load_records([report_runs.runs])
    weighted = next(r for r in record_set.records if r.upstream_name == report_runs.hubert_name and r.task == "ks")
    probes = sorted(
        (r for r in record_set.layer_probes if r.upstream_name == report_runs.hubert_name),
        key=lambda r: r.probe_layer,
    )
    assert [r.probe_layer for r in probes] == [0, 1, 2]  # every hidden state of the tiny HuBERT
    assert all(r.probe_layer is not None for r in record_set.layer_probes)
    assert all(r.probe_layer is None for r in record_set.records)  # the leaderboard never sees a probe
    for probe in probes:
        assert probe.path.parent.name.endswith(f"__layer_{probe.probe_layer}")
        assert probe.config["featurizer"]["layer"] == probe.probe_layer
        assert probe.layer_weights == [1.0]  # one hidden state: no weights to learn
        assert probe.timings["extract_encoded_utterances"] == 0  # the weighted sum's pooled cache, no second pass
        assert probe.seeds == weighted.seeds and probe.config["total_steps"] == weighted.config["total_steps"]
    assert weighted.config["featurizer"]["layer"] is None and len(weighted.layer_weights) == 3
    # the probes are different heads: their units are not the weighted sum's
    assert {u["unit_id"] for p in probes for u in p.units}.isdisjoint(u["unit_id"] for u in weighted.units)


def test_report_writes_the_per_layer_figure_and_csv_and_leaves_the_scores_alone(report_runs, report_dir):
    rows = list(csv.DictReader(io.StringIO((report_dir / "layers.csv").read_text())))
    assert [int(row["layer"]) for row in rows] == [0, 1, 2]
    weighted = next(r for r in load_records([report_runs.runs]).records if r.upstream_name == report_runs.hubert_name)
    assert {float(row["weighted_sum"]) for row in rows} == {float(f"{weighted.metrics['acc']:.6g}")}
    assert sum(float(row["layer_weight"]) for row in rows) == pytest.approx(1.0, abs=1e-4)
    figure = next((report_dir / "figures").glob("layer_probes_*.png"))
    image = matplotlib.image.imread(figure)
    assert image.shape[1] >= 1200 and image.std() > 0.05
    cells = list(csv.DictReader(io.StringIO((report_dir / "cells.csv").read_text())))
    hubert_ks = [c for c in cells if c["row_id"] == report_runs.hubert_name and c["column"] == "ks"]
    assert len(hubert_ks) == 1 and hubert_ks[0]["source"] == str(weighted.path)


def test_nothing_to_sweep_and_frame_tasks_are_refused_in_one_line(mini_tiny, report_runs, tmp_path, capsys):
    common = ["--data-root", str(mini_tiny), "--output", str(tmp_path), "--profile", "mini", "--quiet"]
    assert main(["layers", "--upstream", "fbank_no_cmvn", "--task", "ks", *common]) == 2
    assert "has a single hidden state, so there is nothing to sweep" in capsys.readouterr().err
    assert main(["layers", "--upstream", report_runs.hubert_name, "--task", "pr", *common]) == 2
    assert "PR trains on frames; name the layers to probe with --layers" in capsys.readouterr().err
    assert main(["layers", "--upstream", report_runs.hubert_name, "--layers", "0,7", *common]) == 2
    assert "hidden states 0 to 2" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # refused before anything ran
    record = json.loads(next(report_runs.runs.glob("ks/*__layer_1/result.json")).read_text())
    assert record["config"]["featurizer"] == {"layer": 1}


def test_a_pooled_model_that_ignores_the_probe_layer_is_refused():
    from types import SimpleNamespace

    from torch import nn

    from bench.runner import _check_probe_layer
    from benchcore.errors import BenchError
    from upstream.featurizer import WeightedSumFeaturizer

    prepared = SimpleNamespace(probe_layer=1, task=SimpleNamespace(head_input="pooled", title="KS"))
    weighted_sum = nn.Module()
    weighted_sum.featurizer = WeightedSumFeaturizer(3)
    with pytest.raises(BenchError, match=r"reads hidden states \[0, 1, 2\]; its build_model must pass"):
        _check_probe_layer(prepared, weighted_sum)
    probe = nn.Module()
    probe.featurizer = WeightedSumFeaturizer(3, [1])
    _check_probe_layer(prepared, probe)  # layer 1 alone: accepted


@pytest.mark.slow
def test_a_frame_task_probes_the_layers_named(mini_tiny, report_runs, tmp_path):
    """PR keeps only the probed layer in its frame features (its own cache), and says so in the record."""
    args = ["layers", "--upstream", report_runs.hubert_name, "--task", "pr", "--layers", "1"]
    common = ["--data-root", str(mini_tiny), "--output", str(tmp_path / "runs"), "--profile", "mini", "--quiet"]
    short = ["--cache-dir", str(tmp_path / "cache"), "total_steps=10", "eval_step=5", "save_step=5"]
    assert main([*args, *common, *short]) == 0
    record_set = load_records([tmp_path / "runs"])
    (weighted,) = record_set.records
    (probe,) = record_set.layer_probes
    assert probe.probe_layer == 1 and probe.layer_indices == [1] and probe.layer_weights == [1.0]
    assert len(weighted.layer_weights) == 3
    # the probe's frame cache holds layer 1 alone: a cache of its own beside the weighted sum's
    assert len(list((tmp_path / "cache" / "frames").iterdir())) == 2
