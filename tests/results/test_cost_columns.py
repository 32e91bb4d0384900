"""Cost in records and in the report: Params and MACs/s columns for runs (counted) and published rows (cited)."""

from __future__ import annotations

import csv
import io

from bench.cli import main
from results.records import load_records


def _record(runs, upstream_name: str, task: str):
    return next(r for r in load_records([runs]).records if r.upstream_name == upstream_name and r.task == task)


def test_records_carry_the_upstreams_cost_and_the_extraction_throughput(report_runs):
    from upstream.registry import load_upstream

    record = _record(report_runs.runs, report_runs.hubert_name, "ks")
    upstream = load_upstream(report_runs.hubert_name)
    cost = record.cost
    assert cost["parameters"] == sum(p.numel() for p in upstream.parameters())
    assert 0 < cost["forward_parameters"] <= cost["parameters"]
    assert set(cost["macs_per_second"]) == {"2", "5", "10", "20"}
    # attention grows with the square of the input: longer inputs cost more per second
    assert cost["macs_per_second"]["20"] > cost["macs_per_second"]["2"] > 0
    assert cost["superb_short_macs_per_second"] > 0
    extraction = cost["extraction"]
    assert extraction["audio_seconds"] > 0 and extraction["audio_seconds_per_second"] > 0
    assert extraction["device"].startswith("cpu") and extraction["dtype"] == "float32"


def test_leaderboard_shows_params_and_macs_for_runs_and_cited_published_rows(report_runs, tmp_path):
    out = tmp_path / "report"
    args = ["report", "--runs", str(report_runs.runs), "--references", "superb:hubert_base,card:meralion1"]
    assert main([*args, "--format", "md,csv,tex", "--out", str(out), "--bootstrap", "0", "--no-plots"]) == 0
    markdown = (out / "leaderboard.md").read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("| Model"))
    assert header.rstrip(" |").endswith("| Params | MACs/s")
    rows = {line.split("|")[1].strip(): line for line in markdown.splitlines() if line.startswith("| ")}
    # SUPERB's leaderboard data: paramShared 94,697,600 and macsShort 149,255,103,040 over 21.1 s of audio
    assert rows["HuBERT Base (SUPERB)"].rstrip(" |").endswith("| 94.70M | 7.07 G")
    assert rows["MERaLiON-SpeechEncoder-v1 (card)"].rstrip(" |").endswith("| – | –")  # none published
    assert "fbank_no_cmvn" in "".join(rows) and "backend/utils.py" in markdown  # the source is cited
    table = list(csv.DictReader(io.StringIO((out / "leaderboard.csv").read_text())))
    hubert = next(row for row in table if row["row_id"] == report_runs.hubert_name)
    record = _record(report_runs.runs, report_runs.hubert_name, "ks")
    assert float(hubert["params"]) == record.cost["parameters"]
    assert float(hubert["macs_per_second_10s"]) == float(f"{record.cost['macs_per_second']['10']:.6g}")
    assert "Params & MACs/s" in (out / "leaderboard.tex").read_text()
