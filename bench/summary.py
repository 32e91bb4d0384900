"""From unit records to a task's result record, and the table `bench run` and `bench suite` print.

:func:`summarise` is the one place a result is made: it selects the learning rate on dev (the mean over folds and
seeds, as SUPERB tuned it per task) and reports test mean ± std over seeds. Everything it records comes in as an
argument, so `bench run` (which filled the cache itself) and `bench suite`'s driver (whose extraction jobs did) build
identical records from the same units.
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from omegaconf import OmegaConf

from bench.prepared import PreparedTask, lr_selection
from bench.record import now, versions
from downstream_tasks import get_task
from downstream_tasks.base import Task
from downstream_tasks.chance import ChanceLevel
from results.schema import RecordedMetric, ResultRecord, UnitRecord
from upstream.cost import UpstreamCost

#: a unit's place in the grid: (fold, seed, learning rate)
UnitKey = tuple[str | None, int, float]


@dataclass(frozen=True)
class Extraction:
    """What filling the feature cache took: seconds, utterances encoded and the peak memory of the process that did it
    (``None`` where the result was summarised without that information)."""

    seconds: float | None = None
    encoded_utterances: int | None = None
    peak_memory: dict[str, float] | None = None
    #: seconds of audio encoded and wall seconds spent encoding them (the throughput the record states), and where
    audio_seconds: float | None = None
    encoding_seconds: float | None = None
    device: str | None = None
    dtype: str | None = None

    def cost_entry(self) -> dict[str, Any] | None:
        """The record's ``cost.extraction``: throughput in seconds of audio per second, with device and dtype; None
        when this run encoded nothing (its cache was full)."""
        if not self.audio_seconds or not self.encoding_seconds:
            return None
        return {
            "audio_seconds": round(self.audio_seconds, 3),
            "encoding_seconds": round(self.encoding_seconds, 3),
            "audio_seconds_per_second": round(self.audio_seconds / self.encoding_seconds, 2),
            "device": self.device,
            "dtype": self.dtype,
            "peak_memory": self.peak_memory,
        }


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _selected_learning_rate(
    prepared: PreparedTask, unit_records: Mapping[UnitKey, UnitRecord], seeds: list[int], lrs: list[float]
) -> tuple[float, list[dict[str, Any]]]:
    """The dev-selected learning rate and each swept rate's mean dev value (a single rate without a dev split: kept)."""
    selection = lr_selection(prepared)
    if selection is None:  # one learning rate and no dev split (unit_grid refuses a sweep then)
        return lrs[0], [{"learning_rate": lr} for lr in lrs]
    metric, higher_is_better = selection
    sweep = [
        {
            "learning_rate": lr,
            "dev_" + metric: statistics.fmean(
                unit_records[(fold, seed, lr)].metrics["dev"][metric] for fold in prepared.folds for seed in seeds
            ),
        }
        for lr in lrs
    ]
    pick = max if higher_is_better else min
    return pick(sweep, key=lambda point: point["dev_" + metric])["learning_rate"], sweep


def summarise(
    prepared: PreparedTask,
    unit_records: Mapping[UnitKey, UnitRecord],
    seeds: list[int],
    lrs: list[float],
    *,
    device: str,
    extraction: Extraction,
    cache_repairs: Sequence[dict[str, Any]] = (),
    cost: UpstreamCost | None = None,
) -> ResultRecord:
    """The result of ``unit_records`` (every (fold, seed, lr) of the grid): the learning rate selected on dev, test
    metrics as mean and std over seeds (each seed's folds combined by the task), the mean layer weights of the selected
    units. ``device`` is the one the units ran on, ``extraction`` what the cache fill took, ``cache_repairs`` the
    damaged shards the run moved aside, ``cost`` the upstream's parameters and MACs (upstream.cost)."""
    task = prepared.task
    chosen, sweep = _selected_learning_rate(prepared, unit_records, seeds, lrs)
    per_seed = []
    for seed in seeds:
        folds = [unit_records[(fold, seed, chosen)].metrics["test"] for fold in prepared.folds]
        per_seed.append(
            {
                "seed": seed,
                **task.combine_folds(folds),
                "per_fold": {str(fold): metrics for fold, metrics in zip(prepared.folds, folds)}
                if len(prepared.folds) > 1
                else None,
            }
        )
    metric_names = [key for key in per_seed[0] if key not in ("seed", "per_fold")]
    means, stds = {}, {}
    for name in metric_names:
        means[name], stds[name] = _mean_std([entry[name] for entry in per_seed])
    chosen_units = [unit_records[(fold, seed, chosen)] for fold in prepared.folds for seed in seeds]
    layer_weights = None
    if chosen_units[0].layer_weights is not None:
        layer_weights = [statistics.fmean(column) for column in zip(*(unit.layer_weights for unit in chosen_units))]
    return ResultRecord(
        created=now(),
        task=task.name,
        task_title=task.title,
        upstream=prepared.info.as_dict(),
        metric=RecordedMetric(task.metric, task.higher_is_better),
        metric_kinds=recorded_metric_kinds(task, means),
        metrics=means,
        metrics_std=stds,
        seeds=seeds,
        per_seed=per_seed,
        learning_rate=chosen,
        lr_sweep=sweep if len(lrs) > 1 else None,
        layer_weights=layer_weights,
        units=[
            {
                "unit_id": record.unit_id,
                "fold": fold,
                "seed": seed,
                "learning_rate": lr,
                "path": str(prepared.unit_dir(prepared.unit(fold, seed, lr)).relative_to(prepared.directory)),
            }
            for (fold, seed, lr), record in sorted(unit_records.items(), key=lambda item: str(item[0]))
        ],
        profile=prepared.profile,
        config=OmegaConf.to_container(prepared.config, resolve=True),
        timings={
            "extract_s": extraction.seconds,
            "extract_encoded_utterances": extraction.encoded_utterances,
            "train_s": round(sum(record.timings["train_s"] for record in unit_records.values()), 3),
            "eval_s": round(sum(record.timings["eval_s"] for record in unit_records.values()), 3),
        },
        peak_memory={"extract": extraction.peak_memory},
        decoding=task.decoding_signature(),
        device=device,
        versions=versions(),
        dataset=prepared.dataset,
        chance_level=prepared.chance.as_dict(),
        checkpoint_rules=[dataclasses.asdict(rule) for rule in task.checkpoint_rules(prepared.config)]
        if task.trainable
        else [],
        cache_repairs=list(cache_repairs),
        cost=_cost(cost, extraction),
    )


def _cost(cost: UpstreamCost | None, extraction: Extraction) -> dict[str, Any]:
    """The record's ``cost``: the upstream's parameters and MACs, and this run's extraction throughput if it encoded."""
    entry: dict[str, Any] = cost.as_dict() if cost is not None else {}
    throughput = extraction.cost_entry()
    if throughput is not None:
        entry["extraction"] = throughput
    return entry


def recorded_metric_kinds(task: Task, metrics: Mapping[str, Any]) -> dict[str, str]:
    """The kind (so the direction) of each metric in ``metrics`` that the task declares, for the record: a report then
    reads each column's direction from the records it shows. Undeclared entries (ASV's ``superb_step``) get none."""
    kinds = {}
    for name in metrics:
        try:
            kinds[name] = task.metric_spec(name).kind
        except KeyError:
            continue
    return kinds


def format_summary(results: Sequence[ResultRecord]) -> str:
    """The table `bench run` and `bench suite` print: one line per result, then what was not learned and warnings."""
    lines = [f"{'task':<5} {'upstream':<24} {'metric':<7} {'test':>15} {'lr':>8} {'seeds':>5} {'train s':>8}"]
    for result in results:
        name = result.metric.name
        spec = get_task(result.task).metric_spec(name)
        unit = f" {spec.unit_suffix}" if spec.unit_suffix else ""
        cell = spec.shown(result.metrics[name]) + (
            f" ± {spec.shown(result.metrics_std[name])}" if len(result.seeds) > 1 else ""
        )
        lines.append(
            f"{result.task_title:<5} {result.upstream_name[-24:]:<24} {name + unit:<7} {cell:>15} "
            f"{result.learning_rate:>8.0e} {len(result.seeds):>5} {result.timings['train_s']:>8.1f}"
        )
    for result in results:
        lines.extend(_not_learned_lines(result))
        dataset = result.dataset
        for warning in dataset.get("size_warnings", []):
            lines.append(f"warning: {warning}")
        if dataset.get("missing"):
            lines.append(
                f"warning: {result.task_title} ran without {dataset['missing']['count']} missing file(s) "
                f"(data.allow_missing=true): {', '.join(dataset['missing']['files'][:3])}"
            )
    return "\n".join(lines)


def _not_learned_lines(result: ResultRecord) -> list[str]:
    task = get_task(result.task)
    at_chance = metrics_at_chance(result)
    lines = []
    for metric, value, level in at_chance[:1]:
        spec = task.metric_spec(metric)
        lines.append(
            f"not learned: {result.task_title} {metric} {spec.shown(value)}{spec.unit_suffix} does not beat the "
            f"audio-blind answer ({level.basis}: {spec.shown(level.metrics[metric])}{spec.unit_suffix}); "
            "`bench report` leaves it out"
        )
    if len(at_chance) > 1:  # one line for the rest (MLASR has a CER per language)
        lines.append(
            f"not learned either: {result.task_title} "
            + ", ".join(
                f"{metric} {task.metric_spec(metric).shown(value)}{task.metric_spec(metric).unit_suffix}"
                for metric, value, _ in at_chance[1:]
            )
        )
    return lines


def metrics_at_chance(result: ResultRecord) -> list[tuple[str, float, ChanceLevel]]:
    """(metric, value, chance level) for each metric of a result record with a chance level that it does not beat,
    the ranked metric first."""
    level = result.chance
    if level is None:
        return []
    primary_first = sorted(level.metrics, key=lambda name: name != result.metric.name)
    return [
        (name, result.metrics[name], level)
        for name in primary_first
        if name in result.metrics and not level.beaten_by(name, result.metrics[name])
    ]
