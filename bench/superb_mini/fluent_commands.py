"""Fluent Speech Commands (IC): ``wavs/speakers/<speakerId>/<uuid>.wav`` and ``data/*_data.csv``.

The CSVs have the real header ``,path,speakerId,transcription,action,object,location`` (a
leading unnamed index column, as pandas wrote it) and speaker-disjoint train/valid/test splits.
Each intent (action, object, location) has several phrasings, so a model must recognise the
intent rather than one fixed sentence.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections import Counter
from collections.abc import Mapping

import numpy as np

from .plan import BuildContext, DatasetPlan, LabelOutput, count, draw_acoustics
from .speakers import pick_speakers
from .synth import AudioJob, Phrase, RenderResult
from .texts import FSC_INTENTS

NAME = "fluent_speech_commands"
ROOT = "fluent_speech_commands_dataset"
ROOTS = (ROOT,)
SPLITS = ("train", "valid", "test")
HEADER = ["", "path", "speakerId", "transcription", "action", "object", "location"]
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _speaker_id(rng: np.random.Generator) -> str:
    return "".join(_ALNUM[int(i)] for i in rng.integers(0, len(_ALNUM), 16))


def _uuid(rng: np.random.Generator) -> str:
    """A version-1-looking UUID, like the real file names (``0a3129c0-4474-11e9-a9a5-5dbec3b8816a``)."""
    h = "".join(f"{int(b):02x}" for b in rng.integers(0, 256, 16))
    return f"{h[:8]}-{h[8:12]}-11e9-{h[16:20]}-{h[20:32]}"


def plan(ctx: BuildContext) -> DatasetPlan:
    size = ctx.size
    rng = ctx.rng(NAME, "plan")
    intents = FSC_INTENTS[: size.fsc_intents]
    voices = pick_speakers(ctx.rng(NAME, "speakers"), sum(size.fsc_speakers))
    jobs: list[AudioJob] = []
    rows: dict[str, list[list[str]]] = {split: [] for split in SPLITS}
    k = 0
    for split, n_spk in zip(SPLITS, size.fsc_speakers):
        for _ in range(n_spk):
            voice = voices[k]
            k += 1
            spk = _speaker_id(rng)
            tilt = float(rng.uniform(-0.3, 0.3))
            order = [i % len(intents) for i in range(size.fsc_utts)]
            offset = int(rng.integers(len(intents)))
            for u in range(size.fsc_utts):
                (action, obj, location), phrasings = intents[(order[u] + offset) % len(intents)]
                text = phrasings[int(rng.integers(len(phrasings)))]
                rel_in_root = f"wavs/speakers/{spk}/{_uuid(rng)}.wav"
                rel = f"{ROOT}/{rel_in_root}"
                phrase = Phrase(
                    text,
                    voice.voice,
                    pitch=voice.pitch + int(rng.integers(-5, 6)),
                    rate=int(voice.rate * rng.uniform(0.72, 1.35)),
                )
                acoustics = draw_acoustics(rng, snr=(20, 40), rt60=(0.05, 0.3) if rng.random() < 0.4 else None)
                acoustics = dataclasses.replace(acoustics, tilt=round(tilt + float(rng.uniform(-0.05, 0.05)), 3))
                jobs.append(
                    AudioJob(
                        rel,
                        (phrase,),
                        ctx.job_seed(rel),
                        lead=float(rng.uniform(0.1, 0.5)),
                        tail=float(rng.uniform(0.1, 0.5)),
                        acoustics=acoustics,
                    )
                )
                rows[split].append([rel_in_root, spk, text, action, obj, location])

    def write_labels(results: Mapping[str, RenderResult]) -> LabelOutput:
        files: dict[str, str] = {}
        counts: dict[str, dict[str, int]] = {}
        for split in SPLITS:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(HEADER)
            for index, row in enumerate(rows[split]):
                writer.writerow([index, *row])
            files[f"{ROOT}/data/{split}_data.csv"] = buffer.getvalue()
            counts[split] = count(Counter("|".join(r[3:6]) for r in rows[split]))
            counts[f"{split}_speakers"] = {"speakers": len({r[1] for r in rows[split]})}
        return LabelOutput(files, counts)

    return DatasetPlan(jobs, write_labels)
