"""docs/contributing/adding-an-upstream.md, step by step: its module (taken from the page as printed) is written to a
file, `--include` makes `bench upstreams`, `bench run` and `bench report` know it, and the run trains KS on its two
hidden states."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fixtures.guides import guide_code

from bench.cli import main
from upstream import registry


@pytest.fixture
def guide_module(tmp_path) -> Path:
    code = guide_code("adding-an-upstream.md")
    path = tmp_path / "my_encoder.py"
    path.write_text(code)
    yield path
    registry.KNOWN_UPSTREAMS.pop("energy_toy", None)  # the rest of the session knows the built-in upstreams only
    registry.LOADERS.pop("energy", None)
    registry.PREFIX_HELP.pop("energy", None)


def test_the_guides_upstream_runs_through_bench(guide_module, mini_tiny, tmp_path, capsys):
    assert main(["upstreams", "--include", str(guide_module)]) == 0
    listed = capsys.readouterr().out
    assert "energy_toy" in listed and "energy:<seed>  toy" in listed

    output = tmp_path / "runs"
    common = ["--include", str(guide_module), "--data-root", str(mini_tiny), "--output", str(output)]
    args = ["run", "--upstream", "energy_toy", "--task", "ks", *common, "--profile", "mini", "--device", "cpu"]
    assert main([*args, "--quiet", "--cache-dir", str(tmp_path / "cache"), "total_steps=20", "eval_step=10"]) == 0
    record = json.loads(next(output.glob("ks/energy_toy/result.json")).read_text())
    assert record["upstream"]["num_hidden_states"] == 2 and len(record["layer_weights"]) == 2

    assert main(["report", "--include", str(guide_module), "--runs", str(output), "--no-plots", "--format", "md"]) == 0
    assert "energy_toy" in (output / "report" / "leaderboard.md").read_text()


def test_an_include_that_does_not_exist_is_one_line(tmp_path, capsys):
    assert main(["upstreams", "--include", str(tmp_path / "missing.py")]) == 2
    assert capsys.readouterr().err.strip() == f"error: --include {tmp_path / 'missing.py'}: no such file"
    assert main(["upstreams", "--include", "no_such_module_here"]) == 2
    assert "no module named 'no_such_module_here'" in capsys.readouterr().err
