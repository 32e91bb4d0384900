"""The task registry: one line per task. A task is a module here plus `configs/<name>.yaml`.

Tasks are listed in the model card's column order and imported on first use, so a task module that needs an
optional dependency costs nothing to the others.
"""
from __future__ import annotations

import importlib

from benchcore.errors import BenchError
from downstream_tasks.base import Task

# name -> "module:Class", in the model card's column order (PR ASR KS QbE SID ASV SD ER IC SF)
TASKS: dict[str, str] = {
    "pr": "downstream_tasks.pr:PhonemeRecognition",
    "asr": "downstream_tasks.asr:SpeechRecognition",
    "ks": "downstream_tasks.ks:KeywordSpotting",
    "qbe": "downstream_tasks.qbe:QueryByExample",
    "sid": "downstream_tasks.sid:SpeakerIdentification",
    "asv": "downstream_tasks.asv:SpeakerVerification",
    "sd": "downstream_tasks.sd:SpeakerDiarization",
    "er": "downstream_tasks.er:EmotionRecognition",
    "ic": "downstream_tasks.ic:IntentClassification",
    "sf": "downstream_tasks.sf:SlotFilling",
}


def task_class(name: str) -> type[Task]:
    try:
        module_name, class_name = TASKS[name.lower()].split(":")
    except KeyError:
        raise BenchError(f"unknown task '{name}'; tasks: {', '.join(TASKS)} (or 'all')") from None
    return getattr(importlib.import_module(module_name), class_name)


def get_task(name: str) -> Task:
    return task_class(name)()
