"""Checkpoint rules (bench/checkpoints.py): which evaluations a rule keeps, ESPnet's N-best averaging, and when each
split is due."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bench.checkpoints import CheckpointKeeper, RuleCheckpoints, average_state_dicts
from downstream_tasks.base import CheckpointRule


def _model_at(value: float) -> nn.Module:
    """A model whose every parameter equals ``value``: which checkpoint a file holds is readable from it."""
    model = nn.Linear(2, 1)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(value)
    return model


def test_single_best_is_strictly_better_and_keeps_the_earliest_tie(tmp_path):
    kept = RuleCheckpoints(CheckpointRule("best", "acc", True), tmp_path / "best.pt")
    offered = [(10, 0.5), (20, 0.7), (30, 0.7), (40, 0.6)]
    accepted = [kept.offer({"acc": value}, step, _model_at(step)) for step, value in offered]
    assert accepted == [True, True, False, False]  # s3prl: `average_acc > self.best_score`
    assert kept.finish()["steps"] == [20]
    assert torch.load(tmp_path / "best.pt", weights_only=False)["model"]["bias"].item() == 20


def test_nan_never_beats_a_number_and_any_number_beats_nan(tmp_path):
    kept = RuleCheckpoints(CheckpointRule("best", "loss", False), tmp_path / "best.pt")
    assert kept.offer({"loss": math.nan}, 1, _model_at(1))
    assert kept.offer({"loss": 3.0}, 2, _model_at(2))
    assert not kept.offer({"loss": math.nan}, 3, _model_at(3))
    assert kept.finish()["steps"] == [2]


def test_n_best_average_is_the_mean_of_the_best_checkpoints(tmp_path):
    rule = CheckpointRule("best", "loss", False, average_best=3)
    kept = RuleCheckpoints(rule, tmp_path / "best.pt")
    losses = {1: 5.0, 2: 3.0, 3: 4.0, 4: 1.0, 5: 6.0, 6: 2.0}
    for step, loss in losses.items():
        kept.offer({"loss": loss}, step, _model_at(step))
    selection = kept.finish()
    assert selection["steps"] == [4, 6, 2] and selection["values"] == [1.0, 2.0, 3.0] and selection["averaged"]
    averaged = torch.load(tmp_path / "best.pt", weights_only=False)
    assert averaged["steps"] == [4, 6, 2]
    assert torch.allclose(averaged["model"]["weight"], torch.full((1, 2), 4.0))  # (4 + 6 + 2) / 3
    # only the kept evaluations' files remain beside the average
    assert sorted(path.name for path in tmp_path.glob("best.step*.pt")) == [
        "best.step2.pt",
        "best.step4.pt",
        "best.step6.pt",
    ]


def test_fewer_evaluations_than_n_average_what_there_is(tmp_path):
    kept = RuleCheckpoints(CheckpointRule("best", "loss", False, average_best=5), tmp_path / "best.pt")
    for step in (1, 2):
        kept.offer({"loss": float(step)}, step, _model_at(step))
    assert kept.finish()["steps"] == [1, 2]
    assert torch.allclose(torch.load(tmp_path / "best.pt", weights_only=False)["model"]["bias"], torch.tensor([1.5]))


def test_integer_tensors_are_summed_as_espnet_does():
    states = [
        {"w": torch.tensor([1.0, 3.0]), "count": torch.tensor(2)},
        {"w": torch.tensor([3.0, 5.0]), "count": torch.tensor(3)},
    ]
    averaged = average_state_dicts(states)
    assert torch.equal(averaged["w"], torch.tensor([2.0, 4.0])) and averaged["count"].item() == 5


def test_splits_are_due_at_each_rules_interval_and_at_the_end(tmp_path):
    rules = [CheckpointRule("superb", "eer", False, split="test", every=20), CheckpointRule("dev", "eer", False)]
    keeper = CheckpointKeeper(rules, tmp_path, eval_step=10, total_steps=50)
    due = {step: keeper.splits_due(step) for step in range(1, 51) if keeper.splits_due(step)}
    assert due == {10: ["dev"], 20: ["dev", "test"], 30: ["dev"], 40: ["dev", "test"], 50: ["dev", "test"]}
    # the first rule's checkpoint is best.pt, another rule's best-<name>.pt
    assert [kept.path.name for kept in keeper.kept.values()] == ["best.pt", "best-dev.pt"]
    assert keeper.first_dev_rule() == rules[1]


def test_a_rule_needs_a_known_split_and_positive_sizes():
    with pytest.raises(ValueError):
        CheckpointRule("x", "acc", True, split="train")
    with pytest.raises(ValueError):
        CheckpointRule("x", "acc", True, average_best=0)


def test_keeper_state_round_trips(tmp_path):
    rules = [CheckpointRule("best", "loss", False, average_best=2)]
    keeper = CheckpointKeeper(rules, tmp_path, eval_step=1, total_steps=3)
    for step, loss in ((1, 2.0), (2, 1.0)):
        keeper.offer("dev", {"loss": loss}, step, _model_at(step))
    resumed = CheckpointKeeper(rules, tmp_path, eval_step=1, total_steps=3)
    resumed.load_state(keeper.state())
    for k in (keeper, resumed):
        k.offer("dev", {"loss": 0.5}, 3, _model_at(3))
    assert keeper.finish() == resumed.finish()
