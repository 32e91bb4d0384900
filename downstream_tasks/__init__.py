"""The task registry: one line per task. A task is a module here plus `configs/<name>.yaml`."""
from __future__ import annotations

from bench.errors import BenchError
from downstream_tasks.asr import SpeechRecognition
from downstream_tasks.base import Task
from downstream_tasks.er import EmotionRecognition
from downstream_tasks.ic import IntentClassification
from downstream_tasks.ks import KeywordSpotting
from downstream_tasks.pr import PhonemeRecognition
from downstream_tasks.sf import SlotFilling
from downstream_tasks.sid import SpeakerIdentification

# in the model card's column order
TASKS: dict[str, type[Task]] = {
    task.name: task
    for task in (PhonemeRecognition, SpeechRecognition, KeywordSpotting, SpeakerIdentification, EmotionRecognition,
                 IntentClassification, SlotFilling)
}


def get_task(name: str) -> Task:
    try:
        return TASKS[name.lower()]()
    except KeyError:
        raise BenchError(f"unknown task '{name}'; implemented tasks: {', '.join(TASKS)} (or 'all')") from None
