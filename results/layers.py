"""Per-layer probe results (`bench layers`) for the report: one entry per (upstream, task, layer), with the weighted
sum's value and learned weight of that layer beside it. The figure is drawn in `results.plots`; this module makes the
table and ``layers.csv``."""

from __future__ import annotations

import io
from dataclasses import dataclass

from results.columns import task_order
from results.records import RecordSet, ResultRecord


@dataclass(frozen=True)
class LayerProbe:
    upstream: str
    task: str
    task_title: str
    metric: str
    higher_is_better: bool
    layer: int
    value: float  # the probe's test value of the ranked metric, fraction
    std: float | None  # over seeds
    weighted_sum: float | None  # the weighted sum's value on the same task, fraction; None without its record
    layer_weight: float | None  # the weighted sum's learned softmax weight of this layer
    record: str


def _weights(record: ResultRecord | None) -> dict[int, float]:
    if record is None or not record.layer_weights:
        return {}
    return dict(zip(record.layer_indices or [], record.layer_weights))


def layer_probes(record_set: RecordSet | None) -> dict[str, dict[str, list[LayerProbe]]]:
    """upstream -> task (in the card's order) -> its probes by layer."""
    if record_set is None or not record_set.layer_probes:
        return {}
    weighted = {(record.upstream_name, record.task): record for record in record_set.records}
    grouped: dict[str, dict[str, list[LayerProbe]]] = {}
    order = task_order()
    for record in sorted(
        record_set.layer_probes,
        key=lambda r: (r.upstream_name, order.index(r.task) if r.task in order else len(order), r.probe_layer),
    ):
        metric = record.metric.name
        summed = weighted.get((record.upstream_name, record.task))
        probe = LayerProbe(
            upstream=record.upstream_name,
            task=record.task,
            task_title=record.task_title,
            metric=metric,
            higher_is_better=record.metric.higher_is_better,
            layer=int(record.probe_layer),  # type: ignore[arg-type]
            value=float(record.metrics[metric]),
            std=float(record.metrics_std[metric]) if len(record.seeds) > 1 else None,
            weighted_sum=None if summed is None else float(summed.metrics.get(metric, float("nan"))),
            layer_weight=_weights(summed).get(int(record.probe_layer)),  # type: ignore[arg-type]
            record=str(record.path),
        )
        grouped.setdefault(record.upstream_name, {}).setdefault(record.task, []).append(probe)
    return grouped


def layers_csv(record_set: RecordSet | None) -> str | None:
    """``layers.csv``: one line per probe (values as fractions, as in the records); None without probes."""
    import pandas

    rows = [
        probe.__dict__ for tasks in layer_probes(record_set).values() for probes in tasks.values() for probe in probes
    ]
    if not rows:
        return None
    buffer = io.StringIO()
    pandas.DataFrame(rows).to_csv(buffer, index=False, float_format="%.6g", lineterminator="\n")
    return buffer.getvalue()
