"""Published reference rows and SUPERB_s reference points, read from the versioned files in `results/data/`."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchcore.errors import BenchError
from results.columns import column_by_key, superb_columns

DATA_DIR = Path(__file__).resolve().parent / "data"
ROWS_FILE = DATA_DIR / "reference_rows.yaml"
POINTS_FILE = DATA_DIR / "superb_reference_points.yaml"


@dataclass(frozen=True)
class Source:
    key: str
    title: str
    url: str
    note: str = ""

    def cite(self) -> str:
        return f"{self.title} <{self.url}>"


@dataclass(frozen=True)
class ReferenceRow:
    """One published row; `values` are in the table's units (%, raw MTWV), keyed by column key."""

    id: str
    label: str
    model: str
    group: str
    source: Source
    values: dict[str, float]
    value_sources: dict[str, Source] = field(default_factory=dict)
    printed_overall_score: float | None = None
    #: published parameters and MACs per second of audio over SUPERB's short profiling bucket (the Params and MACs
    #: columns), and where they come from; None where none is published
    params: float | None = None
    macs_per_second: float | None = None
    cost_source: Source | None = None

    def source_of(self, column_key: str) -> Source:
        return self.value_sources.get(column_key, self.source)


@dataclass(frozen=True)
class ReferencePoint:
    baseline: float  # FBANK
    topline: float  # best SUPERB-paper upstream
    topline_model: str


@dataclass(frozen=True)
class ReferencePoints:
    points: dict[str, ReferencePoint]  # column key -> point
    source: str
    version: int


def _read_yaml(path: Path, expected_format: str) -> dict[str, Any]:
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise BenchError(f"{path}: cannot read reference data ({error})") from None
    if not isinstance(content, dict) or content.get("format") != expected_format:
        raise BenchError(f"{path}: not a '{expected_format}' file")
    return content


def _check_columns(path: Path, where: str, keys: Any) -> None:
    unknown = sorted(set(keys) - set(column_by_key()))
    if unknown:
        raise BenchError(
            f"{path}: {where} has unknown column(s) {', '.join(unknown)}; known: {', '.join(column_by_key())}"
        )


def _cost_fields(spec: dict[str, Any], sources: dict[str, Source]) -> dict[str, Any]:
    """A row's ``cost`` entry as ReferenceRow fields: MACs per second from the challenge's short-bucket sum."""
    from upstream.cost import SUPERB_SHORT_BUCKET_SECONDS

    cost = spec.get("cost")
    if not cost:
        return {}
    macs_short = cost.get("macs_short")
    return {
        "params": None if cost.get("params") is None else float(cost["params"]),
        "macs_per_second": None if macs_short is None else float(macs_short) / SUPERB_SHORT_BUCKET_SECONDS,
        "cost_source": sources[spec["cost_source"]],
    }


@functools.cache
def load_reference_rows(path: Path = ROWS_FILE) -> tuple[ReferenceRow, ...]:
    content = _read_yaml(path, "superb-bench/reference-rows")
    sources = {
        key: Source(key, spec["title"], spec["url"], spec.get("note", "")) for key, spec in content["sources"].items()
    }
    rows = []
    for spec in content["rows"]:
        _check_columns(path, f"row {spec['id']}", spec["values"])
        try:
            row = ReferenceRow(
                id=spec["id"],
                label=spec["label"],
                model=spec["model"],
                group=spec["group"],
                source=sources[spec["source"]],
                values={key: float(value) for key, value in spec["values"].items()},
                value_sources={key: sources[name] for key, name in spec.get("value_sources", {}).items()},
                printed_overall_score=spec.get("printed_overall_score"),
                **_cost_fields(spec, sources),
            )
        except KeyError as error:
            raise BenchError(f"{path}: row {spec.get('id')} names an unknown source or lacks {error}") from None
        rows.append(row)
    ids = [row.id for row in rows]
    if len(set(ids)) != len(ids):
        raise BenchError(f"{path}: duplicate row ids")
    return tuple(rows)


@functools.cache
def load_reference_points(path: Path = POINTS_FILE) -> ReferencePoints:
    content = _read_yaml(path, "superb-bench/superb-reference-points")
    _check_columns(path, "points", content["points"])
    fields = {"baseline", "topline", "topline_model"}
    for key, spec in content["points"].items():
        if not isinstance(spec, dict) or set(spec) != fields:  # e.g. an unquoted comma split a flow mapping
            raise BenchError(f"{path}: point '{key}' must have exactly {', '.join(sorted(fields))}, got {spec}")
    points = {
        key: ReferencePoint(float(spec["baseline"]), float(spec["topline"]), str(spec["topline_model"]))
        for key, spec in content["points"].items()
    }
    missing = sorted({column.key for column in superb_columns()} - set(points))
    if missing:
        raise BenchError(f"{path}: no reference point for {', '.join(missing)}")
    source = content["source"]
    return ReferencePoints(points, f"{source['title']} <{source['url']}>", int(content["version"]))


def select_references(spec: str, rows: tuple[ReferenceRow, ...] | None = None) -> list[ReferenceRow]:
    """`all`, `none`, or a comma-separated list of groups (`card`, `superb`), row ids (`superb:fbank`) or models
    (`hubert_large`: every source's row of that model)."""
    rows = load_reference_rows() if rows is None else rows
    wanted = [part.strip() for part in spec.split(",") if part.strip()]
    if wanted in ([], ["none"]):
        return []
    if wanted == ["all"]:
        return list(rows)
    chosen: list[ReferenceRow] = []
    for name in wanted:
        matches = [row for row in rows if name.lower() in (row.id.lower(), row.group.lower(), row.model.lower())]
        if not matches:
            names = sorted({row.group for row in rows} | {row.id for row in rows})
            raise BenchError(f"--references: unknown name '{name}'; use all, none, or any of: {', '.join(names)}")
        chosen.extend(row for row in matches if row not in chosen)
    order = {row.id: index for index, row in enumerate(rows)}
    return sorted(chosen, key=lambda row: order[row.id])
