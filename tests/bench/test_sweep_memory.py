"""The memory estimate of a shared-forward sweep (bench.sweep_memory): what autograd saves, how heads are grouped."""

from __future__ import annotations

import torch
from omegaconf import OmegaConf

from bench.sweep_memory import SweepMemory, estimate, optimizer_slots, saved_activation_bytes, split_line


def test_saved_activations_count_each_storage_once_and_skip_parameters_and_input():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    features = torch.randn(5, 8)
    # Linear 1 saves the input (excluded: shared by every head) and its weight (a parameter); ReLU saves its output,
    # which Linear 2 saves again as its input: one storage of 5 x 16 floats
    measured = saved_activation_bytes(lambda: model(features).sum(), exclude=[*model.parameters(), features])
    assert measured == 5 * 16 * 4
    assert all(parameter.grad is not None for parameter in model.parameters())  # the backward ran


def test_estimate_counts_parameters_gradients_and_adam_state_and_scales_activations():
    def build() -> torch.nn.Module:
        torch.manual_seed(0)
        return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))

    class Head(torch.nn.Module):  # a head takes (features, generator), as a task's model does
        def __init__(self) -> None:
            super().__init__()
            self.inner = build()

        def forward(self, features, generator=None):
            return self.inner(features)

    features = torch.randn(5, 8)
    before = torch.get_rng_state()
    memory = estimate(
        Head,
        features,
        lambda outputs: outputs.sum(),
        OmegaConf.create({"name": "Adam", "lr": 1e-3}),
        largest_batch=50,
        encoder_on_head_device=False,
    )
    parameters = 8 * 16 + 16 + 16 * 2 + 2
    assert memory.persistent_bytes == parameters * 4 * (2 + 2)  # weights, gradients, Adam's two moments
    assert memory.activation_bytes == 10 * 5 * 16 * 4  # measured at 5 rows, scaled to 50
    assert memory.shared_bytes == 10 * 5 * 8 * 4
    assert torch.equal(before, torch.get_rng_state())  # building and probing left the global generator alone
    assert optimizer_slots(OmegaConf.create({"name": "SGD", "momentum": 0.9})) == 1
    assert optimizer_slots(OmegaConf.create({"name": "SGD"})) == 0


def test_group_sizes_fit_the_free_memory_and_max_heads():
    memory = SweepMemory(shared_bytes=100, persistent_bytes=1000, activation_bytes=50, free_bytes=150 + 2500)
    assert memory.heads_that_fit() == 2
    assert memory.group_sizes(3) == [2, 1]
    assert memory.group_sizes(4) == [2, 2]
    assert memory.group_sizes(5) == [2, 2, 1]
    assert memory.group_sizes(3, max_heads=1) == [1, 1, 1]
    assert SweepMemory(100, 1000, 50, free_bytes=None).group_sizes(3) == [3]
    assert SweepMemory(100, 1000, 50, free_bytes=10).group_sizes(2) == [1, 1]  # one head is what alone needs
    line = split_line("ASR", memory, 3, [2, 1], None)
    assert "\n" not in line and "2 groups of 2/1" in line and "sweep.max_heads=N" in line and "free on the cpu" in line


def test_sweep_settings_of_the_wrong_kind_are_one_line_errors():
    import re

    import pytest

    from bench.config import load_task_config
    from bench.prepared import sweep_settings
    from benchcore.errors import BenchError

    assert sweep_settings(load_task_config("pr", "mini")) == (True, None)
    assert sweep_settings(load_task_config("pr", "mini", ["sweep.max_heads=2", "sweep.shared=false"])) == (False, 2)
    for override, expected in (
        ("sweep.max_heads=abc", "whole number"),
        ("sweep.max_heads=0", "at least 1"),
        ("sweep.shared=maybe", "true (the default) or false"),
    ):
        with pytest.raises(BenchError, match=re.escape(expected)):
            sweep_settings(load_task_config("pr", "mini", [override]))
