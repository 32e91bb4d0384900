"""The task registry: one line per task. A task is a module (or a package: sd, asv, qbe) here, `configs/<name>.yaml`,
and its line below.

A task's name, title, metrics and columns come from the ``metadata`` its class declares
(:class:`downstream_tasks.metadata.TaskMetadata`); the registry, `bench run --help` and the report's columns are derived
from it. Tasks defined outside the harness join with :func:`register_task`.
"""

from __future__ import annotations

import importlib

from benchcore.errors import BenchError
from downstream_tasks.base import Task
from downstream_tasks.metadata import SUPERB, TaskMetadata

#: "module:Class" of every built-in task: SUPERB's in the model card's column order (PR ASR KS QbE SID ASV SD ER IC SF),
#: then the multilingual ones.
TASK_CLASSES: tuple[str, ...] = (
    "downstream_tasks.pr:PhonemeRecognition",
    "downstream_tasks.asr:SpeechRecognition",
    "downstream_tasks.ks:KeywordSpotting",
    "downstream_tasks.qbe:QueryByExample",
    "downstream_tasks.sid:SpeakerIdentification",
    "downstream_tasks.asv:SpeakerVerification",
    "downstream_tasks.sd:SpeakerDiarization",
    "downstream_tasks.er:EmotionRecognition",
    "downstream_tasks.ic:IntentClassification",
    "downstream_tasks.sf:SlotFilling",
    # beyond SUPERB: FLEURS's multilingual tasks (their own report table, never in the SUPERB scores)
    "downstream_tasks.mlid:LanguageIdentification",
    "downstream_tasks.mlasr:MultilingualSpeechRecognition",
)

_built_in: dict[str, type[Task]] | None = None
_registered: dict[str, type[Task]] = {}


def _import(path: str) -> type[Task]:
    module_name, class_name = path.split(":")
    return getattr(importlib.import_module(module_name), class_name)


def task_classes() -> dict[str, type[Task]]:
    """Name -> class of every task: the built-in ones in the card's order, then those added by :func:`register_task`."""
    global _built_in
    if _built_in is None:
        classes = [_import(path) for path in TASK_CLASSES]
        _built_in = {cls.metadata.name: cls for cls in classes}
    return {**_built_in, **_registered}


def register_task(cls: type[Task]) -> type[Task]:
    """Add a task class defined outside this package (usable as a class decorator). Its YAML is
    ``metadata.config_file``, or ``configs/<name>.yaml``."""
    name, known = cls.metadata.name, task_classes()
    if name in known and known[name] is not cls:
        raise BenchError(f"a task named '{name}' is already registered ({known[name].__module__})")
    _registered[name] = cls
    return cls


def unregister_task(name: str) -> None:
    """Remove a task added by :func:`register_task` (built-in tasks stay)."""
    _registered.pop(name, None)


def task_names(benchmark: str | None = None) -> list[str]:
    """Every task name, or those of one benchmark (``superb``: what `--task all` runs)."""
    return [name for name, cls in task_classes().items() if benchmark is None or cls.metadata.benchmark == benchmark]


def benchmarks() -> list[str]:
    """The benchmarks of the registered tasks, SUPERB first; each is a task group for `--task` and a report table."""
    return list(dict.fromkeys(cls.metadata.benchmark for cls in task_classes().values()))


def expand_task_names(spec: str) -> list[str]:
    """`--task`: `all` (the ten SUPERB tasks), a benchmark's name (`fleurs`: its tasks), or comma-separated task names
    and benchmark names."""
    if spec.strip() == "all":
        return task_names(SUPERB)
    names: list[str] = []
    for part in (part.strip().lower() for part in spec.split(",")):
        if not part:
            continue
        names += task_names(part) if part in benchmarks() and part not in task_classes() else [part]
    return list(dict.fromkeys(names))


def all_metadata() -> list[TaskMetadata]:
    return [cls.metadata for cls in task_classes().values()]


def task_class(name: str) -> type[Task]:
    try:
        return task_classes()[name.lower()]
    except KeyError:
        raise BenchError(f"unknown task '{name}'; tasks: {', '.join(task_names())} (or 'all')") from None


def get_task(name: str) -> Task:
    return task_class(name)()


__all__ = [
    "SUPERB",
    "TASK_CLASSES",
    "all_metadata",
    "benchmarks",
    "expand_task_names",
    "get_task",
    "register_task",
    "task_class",
    "task_classes",
    "task_names",
    "unregister_task",
]
