"""The task registry: one line per task. A task is a module here plus `configs/<name>.yaml`."""
from __future__ import annotations

from bench.errors import BenchError
from downstream_tasks.base import ClassificationTask
from downstream_tasks.er import EmotionRecognition
from downstream_tasks.ic import IntentClassification
from downstream_tasks.ks import KeywordSpotting
from downstream_tasks.sid import SpeakerIdentification

TASKS: dict[str, type[ClassificationTask]] = {
    task.name: task for task in (KeywordSpotting, SpeakerIdentification, EmotionRecognition, IntentClassification)
}


def get_task(name: str) -> ClassificationTask:
    try:
        return TASKS[name.lower()]()
    except KeyError:
        raise BenchError(f"unknown task '{name}'; implemented tasks: {', '.join(TASKS)} (or 'all')") from None
