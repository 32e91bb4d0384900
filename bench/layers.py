"""`bench layers`: per-layer probes beside the learned weighted sum.

Papers keep finding that the weighted sum hides where a task's information sits, so researchers train the task's head
on each hidden state alone. For the tasks whose head reads the pooled cache (KS, SID, ER, IC, LID) every hidden state
is already in that cache: each probe is one more head training (config ``featurizer.layer=L``) with the same schedule
and seeds, and no second encoder pass. Frame tasks keep only the layers they train on, so a probe of a frame task is a
full run with its own cache (or the encoder in the loop): they take only the layers named with ``--layers``.

A probe's record sits beside the weighted sum's (``<task>/<upstream>__layer_<L>/result.json``), says which layer it
trained on, and never enters a leaderboard or its scores; `bench report` draws them (metric against layer, the learned
weights on a second axis, the weighted sum as a line) and writes ``layers.csv``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from benchcore.errors import BenchError

if TYPE_CHECKING:  # `bench --help` reads FRAME_TASK_COST; importing torch for it would slow every command
    from results.schema import ResultRecord
    from upstream.base import Upstream

#: What one probe of a frame task costs, said where it is refused and in `--help`.
FRAME_TASK_COST = (
    "a frame task's probe is a full run with its own frame cache or the encoder in the loop, so K layers cost about "
    "K times `bench run`"
)


def parse_layers(text: str | None, num_hidden_states: int) -> list[int] | None:
    """`--layers`: ``all``, or comma-separated hidden-state indices (``0,6,12``); None when not given."""
    if text is None:
        return None
    if text.strip() == "all":
        return list(range(num_hidden_states))
    try:
        layers = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise BenchError(f"--layers {text}: give hidden-state indices like 0,6,12, or all") from None
    outside = [layer for layer in layers if not 0 <= layer < num_hidden_states]
    if not layers or outside:
        raise BenchError(f"--layers {text}: this upstream has hidden states 0 to {num_hidden_states - 1}")
    return layers


def probe_plan(upstream: Upstream, tasks: Sequence[str], layers: list[int] | None) -> dict[str, list[int]]:
    """The layers to probe for each task; refuses, in one line, what cannot be swept."""
    from downstream_tasks import get_task

    states = upstream.num_hidden_states
    if states < 2:
        raise BenchError(
            f"bench layers: {upstream.name} has a single hidden state, so there is nothing to sweep "
            "(its `bench run` already trains on that layer alone)"
        )
    plan = {}
    for name in tasks:
        task = get_task(name)
        if not task.trainable:
            raise BenchError(f"bench layers: {task.title} trains no head (its protocol picks its own layer)")
        if task.head_input == "frames" and layers is None:
            raise BenchError(
                f"bench layers: {task.title} trains on frames; name the layers to probe with --layers 0,6,12 "
                f"({FRAME_TASK_COST})"
            )
        plan[name] = layers if layers is not None else list(range(states))
    return plan


def run_layers(
    plan: dict[str, list[int]],
    run: Callable[[str, Sequence[str]], ResultRecord],
    overrides: Sequence[str] = (),
) -> dict[str, tuple[ResultRecord, dict[int, ResultRecord]]]:
    """For each task: the weighted sum's record (``run(task, overrides)``, reused when current), then one probe per
    layer (``featurizer.layer=L``). ``run`` is `bench run`'s task runner with everything else bound."""
    if any(item.partition("=")[0].strip() == "featurizer.layer" for item in overrides):
        raise BenchError("bench layers sets featurizer.layer itself; leave it out of the overrides")
    results = {}
    for task, layers in plan.items():
        weighted = run(task, list(overrides))
        probes = {layer: run(task, [*overrides, f"featurizer.layer={layer}"]) for layer in layers}
        results[task] = (weighted, probes)
    return results


def format_layers(results: dict[str, tuple[ResultRecord, dict[int, ResultRecord]]]) -> str:
    """One line per task: the weighted sum, then each layer's test value (the ranked metric), best layer marked."""
    from downstream_tasks import get_task

    lines = []
    for task, (weighted, probes) in results.items():
        spec = get_task(task).metric_spec(weighted.metric.name)
        values = {layer: record.metrics[weighted.metric.name] for layer, record in probes.items()}
        pick = max if weighted.metric.higher_is_better else min
        best = pick(values, key=values.get)
        cells = "  ".join(
            f"L{layer}{'*' if layer == best else ''} {spec.shown(value)}" for layer, value in values.items()
        )
        lines.append(
            f"{weighted.task_title:<5} {weighted.metric.name}{spec.unit_suffix}: weighted sum "
            f"{spec.shown(weighted.metrics[weighted.metric.name])}; {cells}"
        )
    lines.append("* best single layer; records: <output>/<task>/<upstream>__layer_<L>/result.json (`bench report`)")
    return "\n".join(lines)
