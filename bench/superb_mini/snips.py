"""Audio SNIPS (SF): ``SNIPS/{train,valid,test}/<Voice>-snips-<split>-<n>.wav`` and the label files.

Formats follow s3prl's SNIPS readers: ``all.iob.snips.txt`` lines are
``<uid> BOS <WORDS> EOS\\tO <tag per word> <Intent>`` with bare slot names as tags (``O`` outside a
slot); ``all-trans.txt`` lines are ``<uid> <WORDS>``; ``slots.txt`` lists one slot name per line
after a first line the readers skip. Speakers carry the real corpus's Amazon Polly voice names,
each mapped to an espeak-ng voice, and the recipe's speaker split (train: Ivy, Joanna, ...; valid:
Aditi, Amy, Geraint, Nicole; test: Brian, Emma, Raveena, Russell). Like the real folders, each
split folder also holds a few recordings by voices of other splits, which the recipe filters out
by speaker.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from .plan import BuildContext, DatasetPlan, LabelOutput, count, draw_acoustics
from .speakers import pick_speakers
from .synth import AudioJob, Phrase, RenderResult
from .texts import SNIPS_SLOT_VALUES, SNIPS_SPEAKERS, SNIPS_TEMPLATES, snips_utterance

NAME = "snips"
ROOT = "SNIPS"
ROOTS = (ROOT,)
SPLITS = ("train", "valid", "test")


def plan(ctx: BuildContext) -> DatasetPlan:
    size = ctx.size
    rng = ctx.rng(NAME, "plan")
    all_names = [name for split in SPLITS for name in SNIPS_SPEAKERS[split]]
    females = iter(pick_speakers(ctx.rng(NAME, "female"), sum(g == "F" for _, g in all_names), gender="F"))
    males = iter(pick_speakers(ctx.rng(NAME, "male"), sum(g == "M" for _, g in all_names), gender="M"))
    voice_of = {name: next(females) if g == "F" else next(males) for name, g in all_names}
    intents = sorted(SNIPS_TEMPLATES)

    jobs: list[AudioJob] = []
    labels: dict[str, tuple[list[str], list[str], str]] = {}
    speaker_files: Counter = Counter()
    for split, n_sent in zip(SPLITS, size.snips_sentences):
        own = [name for name, _ in SNIPS_SPEAKERS[split]]
        others = [name for s in SPLITS if s != split for name, _ in SNIPS_SPEAKERS[s]]
        for i in range(n_sent):
            intent = intents[i % len(intents)]
            words, tags = snips_utterance(rng, intent)
            speakers = [own[i % len(own)]]
            if i < size.snips_distractors:
                speakers.append(others[int(rng.integers(len(others)))])
            for name in speakers:
                voice = voice_of[name]
                uid = f"{name}-snips-{split}-{i}"
                rel = f"{ROOT}/{split}/{uid}.wav"
                phrase = Phrase(
                    " ".join(words).lower(),
                    voice.voice,
                    pitch=voice.pitch + int(rng.integers(-4, 5)),
                    rate=int(voice.rate * rng.uniform(0.9, 1.1)),
                )
                jobs.append(
                    AudioJob(
                        rel,
                        (phrase,),
                        ctx.job_seed(rel),
                        lead=float(rng.uniform(0.1, 0.4)),
                        tail=float(rng.uniform(0.1, 0.4)),
                        acoustics=draw_acoustics(rng, snr=(25, 45)),
                    )
                )
                labels[uid] = (words, tags, intent)
                speaker_files[(split, "own" if name in own else "other_split_voice")] += 1

    def write_labels(results: Mapping[str, RenderResult]) -> LabelOutput:
        iob = "".join(
            f"{uid} BOS {' '.join(w)} EOS\tO {' '.join(t)} {intent}\n" for uid, (w, t, intent) in sorted(labels.items())
        )
        trans = "".join(f"{uid} {' '.join(w)}\n" for uid, (w, _, _) in sorted(labels.items()))
        slots = "\n".join(["O", *sorted(SNIPS_SLOT_VALUES)])  # first line is skipped by the readers
        counts: dict[str, dict[str, int]] = {}
        for split in SPLITS:
            own = {name for name, _ in SNIPS_SPEAKERS[split]}
            counts[split] = count(
                Counter(
                    intent
                    for uid, (_, _, intent) in labels.items()
                    if uid.split("-")[2] == split and uid.split("-")[0] in own
                )
            )
            counts[f"{split}_files"] = {kind: n for (s, kind), n in sorted(speaker_files.items()) if s == split}
        return LabelOutput(
            {f"{ROOT}/all.iob.snips.txt": iob, f"{ROOT}/all-trans.txt": trans, f"{ROOT}/slots.txt": slots}, counts
        )

    return DatasetPlan(jobs, write_labels, notes={"voices": {n: v.voice for n, v in voice_of.items()}})
