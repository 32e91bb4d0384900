"""Read result records (`<output>/<task>/<upstream>/result.json`); their type is
:class:`results.schema.ResultRecord`."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from benchcore.errors import BenchError
from results.schema import ResultRecord

__all__ = ["ResultRecord", "RecordSet", "find_record_files", "load_records", "read_record", "records_frame"]


def read_record(path: Path) -> ResultRecord:
    try:
        content = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise BenchError(f"{path}: cannot read result record ({error})") from None
    return ResultRecord.from_dict(content, Path(path))


def find_record_files(roots: Iterable[Path]) -> list[Path]:
    """Every `result.json` below the roots (a root may also be a record file). Unit directories hold
    `record.json`, never `result.json`, so they are skipped by name."""
    files: list[Path] = []
    for root in roots:
        root = Path(root)
        if root.is_file():
            files.append(root)
        elif root.is_dir():
            files.extend(
                sorted(path for path in root.rglob("result.json") if "units" not in path.relative_to(root).parts)
            )
        else:
            raise BenchError(
                f"--runs {root}: no such file or directory (`bench run --output DIR` writes records there)"
            )
    return files


@dataclass
class RecordSet:
    records: list[ResultRecord]
    superseded: list[tuple[ResultRecord, ResultRecord]]  # (older record left out, the newer one kept)
    #: per-layer probe records (`bench layers`): the per-layer figure and layers.csv read them, the leaderboard never
    layer_probes: list[ResultRecord] = field(default_factory=list)


def load_records(roots: Iterable[Path]) -> RecordSet:
    """Read every record below the roots. When two records give the same (upstream, task), the newer one
    (`created`) is kept and the other is reported as superseded."""
    roots = list(roots)
    files = find_record_files(roots)
    if not files:
        raise BenchError(f"no result records (result.json) under {', '.join(map(str, roots))}; run `bench run` first")
    kept: dict[tuple[str, str, int | None], ResultRecord] = {}
    superseded = []
    for record in (read_record(path) for path in files):
        key = (record.upstream_name, record.task, record.probe_layer)
        previous = kept.get(key)
        if previous is None:
            kept[key] = record
            continue
        newer, older = (record, previous) if record.created >= previous.created else (previous, record)
        kept[key] = newer
        superseded.append((older, newer))
    records = [record for record in kept.values() if record.probe_layer is None]
    probes = [record for record in kept.values() if record.probe_layer is not None]
    return RecordSet(records, superseded, probes)


def records_frame(records: Iterable[ResultRecord]):
    """One row per (record, metric): upstream, task, metric, mean, std, seeds, learning rate, path (fractions)."""
    import pandas

    rows = []
    for record in records:
        for name, value in record.metrics.items():
            rows.append(
                {
                    "upstream": record.upstream_name,
                    "task": record.task,
                    "metric": name,
                    "mean": value,
                    "std": record.metrics_std.get(name),
                    "n_seeds": len(record.seeds),
                    "learning_rate": record.learning_rate,
                    "profile": record.profile,
                    "path": str(record.path),
                }
            )
    return pandas.DataFrame(
        rows, columns=["upstream", "task", "metric", "mean", "std", "n_seeds", "learning_rate", "profile", "path"]
    )
