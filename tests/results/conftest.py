"""Real result records for the report tests: `bench run` on the tiny superb-mini corpus with short schedules.

- fbank_no_cmvn, KS: 2 seeds and a 2-point learning-rate sweep (a mean ± std cell, a dev-selected rate);
- fbank_no_cmvn, IC: one seed;
- a tiny random HuBERT (3 hidden states), KS: learned layer weights for the heatmap, and `bench layers` on it (the
  weighted sum reused, a probe per hidden state: the per-layer figure and layers.csv).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.cli import main


@dataclass(frozen=True)
class ReportRuns:
    runs: Path  # --output of every run
    hubert_name: str  # the tiny HuBERT's upstream name (hf:<dir>)


@pytest.fixture(scope="session")
def report_runs(mini_tiny, tmp_path_factory) -> ReportRuns:
    from upstream.testing import build_tiny_hf

    root = tmp_path_factory.mktemp("report_runs")
    runs, cache = root / "runs", root / "cache"
    common = [
        "--data-root",
        str(mini_tiny),
        "--output",
        str(runs),
        "--profile",
        "mini",
        "--device",
        "cpu",
        "--quiet",
        "--cache-dir",
        str(cache),
    ]
    short = ["total_steps=20", "eval_step=10", "save_step=10"]
    assert (
        main(
            [
                "run",
                "--upstream",
                "fbank_no_cmvn",
                "--task",
                "ks",
                "--seeds",
                "2",
                "--lr-sweep",
                *common,
                *short,
                "lr_sweep=[1e-3,1e-2]",
            ]
        )
        == 0
    )
    assert main(["run", "--upstream", "fbank_no_cmvn", "--task", "ic", *common, *short]) == 0
    hubert = build_tiny_hf("hubert-group", root / "tiny_hubert")
    hubert_name = f"hf:{hubert}"
    assert main(["run", "--upstream", hubert_name, "--task", "ks", *common, *short]) == 0
    assert main(["layers", "--upstream", hubert_name, "--task", "ks", *common, *short]) == 0
    return ReportRuns(runs, hubert_name)


@pytest.fixture(scope="session")
def report_dir(report_runs, tmp_path_factory):
    """One full report (every format, every figure, all reference rows), shared by the tests that read it."""
    out = tmp_path_factory.mktemp("report")
    # The fixture's 20-step heads sit at chance on superb-mini tiny; --show-unlearned keeps their values in the cells
    # so that every format and figure has numbers to show (leaving them out is tested on its own below).
    assert (
        main(["report", "--runs", str(report_runs.runs), "--out", str(out), "--references", "all", "--show-unlearned"])
        == 0
    )
    return out
