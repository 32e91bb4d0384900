"""PR end to end on superb-mini (tiny), briefly trained: its per-utterance phone edit counts recompute the recorded
PER exactly (the other eleven tasks check theirs beside their own end-to-end runs)."""

from __future__ import annotations

from bench.cli import main
from tests.fixtures.items import assert_items_recompute


def test_per_item_outputs_recompute_the_recorded_per(mini_tiny, tmp_path):
    arguments = ["run", "--upstream", "fbank_no_cmvn", "--task", "pr", "--data-root", str(mini_tiny)]
    arguments += ["--output", str(tmp_path / "runs"), "--cache-dir", str(tmp_path / "cache"), "--profile", "mini"]
    arguments += ["--device", "cpu", "--quiet", "total_steps=4", "eval_step=2", "save_step=2"]
    assert main(arguments) == 0
    counts = assert_items_recompute(tmp_path / "runs" / "pr" / "fbank_no_cmvn")
    assert counts == {"exact": 1, "within_1e-12": 0}
