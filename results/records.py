"""Read result records (`<output>/<task>/<upstream>/result.json`, schema superb-bench/result-record v1)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from benchcore.errors import BenchError
from downstream_tasks.chance import ChanceLevel

RESULT_SCHEMA = "superb-bench/result-record"
SUPPORTED_VERSIONS = (1,)


@dataclass(frozen=True)
class ResultRecord:
    """One task's result for one upstream, as `bench run` summarised it. Metric values are fractions."""

    path: Path
    task: str
    upstream: dict[str, Any]
    metric: dict[str, Any]
    metrics: dict[str, float]
    metrics_std: dict[str, float]
    seeds: list[int]
    per_seed: list[dict[str, Any]]
    learning_rate: float | None
    lr_sweep: list[dict[str, Any]] | None
    layer_weights: list[float] | None
    units: list[dict[str, Any]]
    profile: str | None
    config: dict[str, Any]
    dataset: dict[str, Any]
    created: str
    raw: dict[str, Any] = field(repr=False)

    @property
    def upstream_name(self) -> str:
        return str(self.upstream["name"])

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def on_superb_mini(self) -> bool:
        """superb-mini writes a MANIFEST.json whose checksum the record cites; the real datasets have none."""
        return bool(self.dataset.get("manifest_checksum"))

    @property
    def chance(self) -> ChanceLevel | None:
        """The audio-blind score of each metric on the record's test split; None in records written before it."""
        content = self.raw.get("chance")
        return ChanceLevel.from_dict(content) if content else None

    @property
    def layer_indices(self) -> list[int] | None:
        """The hidden-state index of each layer weight (frame tasks may keep a subset, `cache.layers`)."""
        if self.layer_weights is None:
            return None
        selected = (self.config.get("cache") or {}).get("layers")
        if selected is not None and len(selected) == len(self.layer_weights):
            return [int(layer) for layer in selected]
        return list(range(len(self.layer_weights)))

    def selected_lr_note(self) -> str:
        """'1e-03' or '1e-03 (dev-selected of 1e-04, 1e-03, 1e-02)'."""
        if self.learning_rate is None or self.learning_rate == 0.0:
            return "none (no trained head)"
        if not self.lr_sweep:
            return f"{self.learning_rate:.0e}"
        points = ", ".join(f"{point['learning_rate']:.0e}" for point in self.lr_sweep)
        return f"{self.learning_rate:.0e} (dev-selected of {points})"


def _numbers(metrics: dict[str, Any]) -> dict[str, float]:
    """The numeric entries (NaN kept: a metric a run could not compute); None, counts-as-bools and text dropped."""
    return {key: float(value) for key, value in metrics.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)}


def _as_record(path: Path, content: Any) -> ResultRecord:
    if not isinstance(content, dict) or content.get("schema") != RESULT_SCHEMA:
        raise BenchError(f"{path}: not a result record (schema '{RESULT_SCHEMA}' expected)")
    if content.get("schema_version") not in SUPPORTED_VERSIONS:
        raise BenchError(f"{path}: result-record schema version {content.get('schema_version')} is not supported "
                         f"(this harness reads version {', '.join(map(str, SUPPORTED_VERSIONS))})")
    try:
        return ResultRecord(
            path=path, task=str(content["task"]), upstream=dict(content["upstream"]), metric=dict(content["metric"]),
            metrics=_numbers(content["metrics"]), metrics_std=_numbers(content.get("metrics_std") or {}),
            seeds=list(content.get("seeds") or []), per_seed=list(content.get("per_seed") or []),
            learning_rate=content.get("learning_rate"), lr_sweep=content.get("lr_sweep"),
            layer_weights=content.get("layer_weights"), units=list(content.get("units") or []),
            profile=content.get("profile"), config=dict(content.get("config") or {}),
            dataset=dict(content.get("dataset") or {}), created=str(content.get("created", "")), raw=content)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise BenchError(f"{path}: malformed result record ({type(error).__name__}: {error})") from None


def read_record(path: Path) -> ResultRecord:
    try:
        content = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise BenchError(f"{path}: cannot read result record ({error})") from None
    return _as_record(Path(path), content)


def find_record_files(roots: Iterable[Path]) -> list[Path]:
    """Every `result.json` below the roots (a root may also be a record file). Unit directories hold
    `record.json`, never `result.json`, so they are skipped by name."""
    files: list[Path] = []
    for root in roots:
        root = Path(root)
        if root.is_file():
            files.append(root)
        elif root.is_dir():
            files.extend(sorted(path for path in root.rglob("result.json") if "units" not in path.relative_to(root).parts))
        else:
            raise BenchError(f"--runs {root}: no such file or directory (`bench run --output DIR` writes records there)")
    return files


@dataclass
class RecordSet:
    records: list[ResultRecord]
    superseded: list[tuple[ResultRecord, ResultRecord]]  # (older record left out, the newer one kept)


def load_records(roots: Iterable[Path]) -> RecordSet:
    """Read every record below the roots. When two records give the same (upstream, task), the newer one
    (`created`) is kept and the other is reported as superseded."""
    roots = list(roots)
    files = find_record_files(roots)
    if not files:
        raise BenchError(f"no result records (result.json) under {', '.join(map(str, roots))}; run `bench run` first")
    kept: dict[tuple[str, str], ResultRecord] = {}
    superseded = []
    for record in (read_record(path) for path in files):
        key = (record.upstream_name, record.task)
        previous = kept.get(key)
        if previous is None:
            kept[key] = record
            continue
        newer, older = (record, previous) if record.created >= previous.created else (previous, record)
        kept[key] = newer
        superseded.append((older, newer))
    return RecordSet(list(kept.values()), superseded)


def records_frame(records: Iterable[ResultRecord]):
    """One row per (record, metric): upstream, task, metric, mean, std, seeds, learning rate, path (fractions)."""
    import pandas

    rows = []
    for record in records:
        for name, value in record.metrics.items():
            rows.append({"upstream": record.upstream_name, "task": record.task, "metric": name, "mean": value,
                         "std": record.metrics_std.get(name), "n_seeds": len(record.seeds),
                         "learning_rate": record.learning_rate, "profile": record.profile, "path": str(record.path)})
    return pandas.DataFrame(rows, columns=["upstream", "task", "metric", "mean", "std", "n_seeds", "learning_rate",
                                           "profile", "path"])
