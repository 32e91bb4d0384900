"""What `bench run` checks about a dataset before any training: every file its metadata names is on disk, and each
split has the size the official corpus has.

A partial download or copy must never become a number on a different test set. So the readers list every file the
official metadata names (label files, split lists, trial lists, ``wav.scp``, CSVs), present or not, and this module
stops the run with one line when any is missing. ``data.allow_missing=true`` goes on without them deliberately; the
record then says which files were left out (``dataset.missing``) and the report footnotes its cells.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchcore.errors import BenchError
from downstream_tasks.base import Task, TaskData

log = logging.getLogger(__name__)

#: How many missing paths a one-line error shows.
PATHS_SHOWN = 3
SUPERB_MINI_GENERATOR = "bench.superb_mini"


def split_name(fold: str | None, split: str) -> str:
    return split if fold is None else f"{fold}/{split}"


def split_sizes(task: Task, data_by_fold: Mapping[str | None, TaskData]) -> dict[str, int]:
    """``{"train": n, "dev": n, "test": n}`` (``fold1/test``, ... for folded tasks): utterances per split, plus the
    task's own counts (:meth:`Task.split_counts`, e.g. ASV's ``test_trials``)."""
    sizes = {}
    for fold, data in data_by_fold.items():
        sizes.update({split_name(fold, split): len(utterances) for split, utterances in data.splits.items()})
        sizes.update({split_name(fold, name): count for name, count in task.split_counts(data).items()})
    return sizes


@dataclass(frozen=True)
class MissingFiles:
    """Files the metadata names that are not on disk: the distinct paths, and how many each split lacks."""

    files: tuple[str, ...] = ()
    by_split: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"count": len(self.files), "by_split": dict(self.by_split), "files": list(self.files)}


def _shown_path(path: Path, data_root: Path) -> str:
    try:
        return str(path.relative_to(data_root))
    except ValueError:
        return str(path)


def find_missing(data_by_fold: Mapping[str | None, TaskData], data_root: Path) -> MissingFiles:
    files: set[str] = set()
    by_split: dict[str, int] = {}
    checked: dict[Path, bool] = {}
    for fold, data in data_by_fold.items():
        for split, utterances in data.splits.items():
            count = 0
            for utterance in utterances:
                if utterance.path not in checked:
                    checked[utterance.path] = utterance.path.is_file()
                if not checked[utterance.path]:
                    count += 1
                    files.add(_shown_path(utterance.path, data_root))
            if count:
                by_split[split_name(fold, split)] = count
    return MissingFiles(tuple(sorted(files)), by_split)


def refuse_or_drop_missing(
    task: Task, data_by_fold: dict[str | None, TaskData], data_root: Path, allow_missing: bool
) -> tuple[dict[str | None, TaskData], MissingFiles | None]:
    """Stop with one line when files are missing, unless ``allow_missing``: then drop them (the task decides what
    else goes with them, e.g. trials that name them) and return what was dropped."""
    missing = find_missing(data_by_fold, data_root)
    if not missing.files:
        return data_by_fold, None
    where = ", ".join(f"{split} {count}" for split, count in missing.by_split.items())
    first = ", ".join(missing.files[:PATHS_SHOWN]) + (", ..." if len(missing.files) > PATHS_SHOWN else "")
    if not allow_missing:
        raise BenchError(
            f"{task.title}: {len(missing.files)} file(s) named by the dataset's metadata are missing under {data_root} "
            f"(utterances per split: {where}): {first}; restore them (a partial download or copy?), or pass "
            "data.allow_missing=true to run without them (the record lists them and the report footnotes its cells)"
        )
    log.warning(
        "%s: running without %d missing file(s) (data.allow_missing=true; %s): %s",
        task.title,
        len(missing.files),
        where,
        first,
    )
    dropped = {str(data_root / path) for path in missing.files} | set(missing.files)
    kept = {fold: task.without_files(data, lambda path: str(path) in dropped) for fold, data in data_by_fold.items()}
    return kept, missing


def is_superb_mini(data_root: Path) -> bool:
    manifest = data_root / "MANIFEST.json"
    if not manifest.is_file():
        return False
    try:
        return json.loads(manifest.read_text()).get("generator") == SUPERB_MINI_GENERATOR
    except (json.JSONDecodeError, AttributeError, OSError):
        return False


def size_warnings(task: Task, sizes: Mapping[str, int], data_root: Path) -> list[str]:
    """Splits whose size differs from the official corpus's (``Task.official_split_sizes``), on real data only."""
    if is_superb_mini(data_root):
        return []
    warnings = []
    for split, official in task.official_split_sizes.items():
        if split in sizes and sizes[split] != official:
            warnings.append(f"{task.title} {split}: {sizes[split]} utterances, the official corpus has {official:,}")
    return warnings
