"""Speech Commands v0.01 (KS): word folders of 1 s clips, background noise, split lists, test set.

The real corpus assigns a speaker to train/validation/testing by a hash of the file-name prefix
(``<speaker hash>_nohash_<n>.wav``); s3prl ignores the list files and recomputes that hash. So the
speaker hashes here are drawn until their hash lands in the partition wanted, which guarantees
that every partition (and the list files, which agree with the hash) has data.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Mapping

from .plan import BuildContext, DatasetPlan, LabelOutput, count, draw_acoustics
from .speakers import pick_speakers
from .synth import AudioJob, Phrase, RenderResult
from .texts import KS_AUXILIARY, KS_COMMANDS

NAME = "speech_commands"
ROOTS = ("speech_commands_v0.01", "speech_commands_test_set_v0.01")
TRAIN_ROOT, TEST_ROOT = ROOTS
PARTITIONS = ("train", "validation", "testing")
MAX_NUM_WAVS_PER_CLASS = 2**27 - 1  # the constant of the dataset's own split function
NOISE_KINDS = ("white_noise", "pink_noise", "brown_noise", "running_tap", "hum", "babble")
_NOISE_SYNTH = {
    "white_noise": "white",
    "pink_noise": "pink",
    "brown_noise": "brown",
    "running_tap": "tap",
    "hum": "hum",
    "babble": "babble",
}


def which_partition(file_name: str, validation_percentage: float = 10.0, testing_percentage: float = 10.0) -> str:
    """The dataset's published split rule (also what s3prl's ``split_dataset`` computes)."""
    speaker_hash = re.sub(r"_nohash_.*$", "", file_name)
    hashed = hashlib.sha1(speaker_hash.encode("utf-8")).hexdigest()
    percentage = (int(hashed, 16) % (MAX_NUM_WAVS_PER_CLASS + 1)) * (100.0 / MAX_NUM_WAVS_PER_CLASS)
    if percentage < validation_percentage:
        return "validation"
    if percentage < validation_percentage + testing_percentage:
        return "testing"
    return "train"


def _speaker_hashes(ctx: BuildContext) -> list[tuple[str, str]]:
    """(hash, partition) pairs: as many per partition as the size asks for."""
    rng = ctx.rng(NAME, "hashes")
    wanted = dict(zip(PARTITIONS, ctx.size.ks_speakers))
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    while any(wanted.values()):
        candidate = f"{int(rng.integers(0, 2**32)):08x}"
        part = which_partition(candidate + "_nohash_0.wav")
        if wanted[part] and candidate not in seen:
            seen.add(candidate)
            wanted[part] -= 1
            out.append((candidate, part))
    return out


def plan(ctx: BuildContext) -> DatasetPlan:
    rng = ctx.rng(NAME, "clips")
    words = list(KS_COMMANDS) + list(KS_AUXILIARY[: ctx.size.ks_aux_words])
    hashes = _speaker_hashes(ctx)
    voices = pick_speakers(ctx.rng(NAME, "speakers"), len(hashes))
    jobs: list[AudioJob] = []
    partition_of: dict[str, str] = {}
    takes: dict[str, int] = Counter()

    def clip(rel: str, word: str, voice, duration: float = 1.0) -> AudioJob:
        return AudioJob(
            rel,
            (
                Phrase(
                    word,
                    voice.voice,
                    pitch=voice.pitch + int(rng.integers(-6, 7)),
                    rate=int(voice.rate * rng.uniform(0.85, 1.2)),
                ),
            ),
            ctx.job_seed(rel),
            lead=float(rng.uniform(0.03, 0.35)),
            tail=0.0,
            duration=duration,
            acoustics=draw_acoustics(rng, snr=(18, 40), rt60=(0.05, 0.3) if rng.random() < 0.5 else None, tilt=0.3),
        )

    for (speaker_hash, part), voice in zip(hashes, voices):
        for word in words:
            n_takes = 1 + int(rng.random() < ctx.size.ks_repeat_prob)
            for take in range(n_takes):
                rel = f"{TRAIN_ROOT}/{word}/{speaker_hash}_nohash_{take}.wav"
                # About 1 in 20 real v0.01 clips is shorter than 1 s; loaders must pad.
                duration = 1.0 if rng.random() > 0.05 else float(round(rng.uniform(0.75, 0.95), 3))
                jobs.append(clip(rel, word, voice, duration))
                partition_of[f"{word}/{speaker_hash}_nohash_{take}.wav"] = part

    # The separate test set: 10 commands, _unknown_ (auxiliary words), _silence_ (noise), 1 s each.
    test_speakers = [(h, v) for (h, p), v in zip(hashes, voices) if p == "testing"]
    test_counts: Counter = Counter()
    per_class = ctx.size.ks_test_per_class
    for c, label in enumerate(list(KS_COMMANDS) + ["_unknown_"]):
        for i in range(per_class):
            speaker_hash, voice = test_speakers[(i + c) % len(test_speakers)]
            word = label if label != "_unknown_" else words[len(KS_COMMANDS) + i % ctx.size.ks_aux_words]
            takes[(label, speaker_hash)] += 1
            rel = f"{TEST_ROOT}/{label}/{speaker_hash}_nohash_{takes[(label, speaker_hash)] - 1}.wav"
            jobs.append(clip(rel, word, voice))
            test_counts[label] += 1
    for i in range(per_class):
        kind = _NOISE_SYNTH[NOISE_KINDS[i % len(NOISE_KINDS)]]
        rel = f"{TEST_ROOT}/_silence_/{int(rng.integers(0, 2**32)):08x}_nohash_0.wav"
        jobs.append(_noise_job(ctx, rel, kind, 1.0, rng, voices))
        test_counts["_silence_"] += 1

    noise_seconds = 8.0 if ctx.size.name != "tiny" else 4.0
    for name in NOISE_KINDS:
        rel = f"{TRAIN_ROOT}/_background_noise_/{name}.wav"
        jobs.append(_noise_job(ctx, rel, _NOISE_SYNTH[name], noise_seconds, rng, voices))

    def write_labels(results: Mapping[str, RenderResult]) -> LabelOutput:
        files = {
            f"{TRAIN_ROOT}/validation_list.txt": "".join(
                f"{p}\n" for p in sorted(k for k, v in partition_of.items() if v == "validation")
            ),
            f"{TRAIN_ROOT}/testing_list.txt": "".join(
                f"{p}\n" for p in sorted(k for k, v in partition_of.items() if v == "testing")
            ),
            f"{TRAIN_ROOT}/_background_noise_/README.md": _NOISE_README,
        }
        counts: dict[str, dict[str, int]] = {}
        for part in PARTITIONS:
            counts[part] = count(Counter(k.split("/")[0] for k, v in partition_of.items() if v == part))
        counts["test_set"] = count(test_counts)
        counts["background_noise"] = {"files": len(NOISE_KINDS)}
        return LabelOutput(files, counts)

    return DatasetPlan(jobs, write_labels, notes={"words": words})


def _noise_job(ctx: BuildContext, rel: str, kind: str, seconds: float, rng, voices) -> AudioJob:
    level = float(round(rng.uniform(-40.0, -20.0), 2))
    if kind != "babble":
        return AudioJob(
            rel,
            (),
            ctx.job_seed(rel),
            duration=seconds,
            noise_kind=kind,
            acoustics=draw_acoustics(rng, level=(level, level)),
        )
    # Babble: several voices talking at once, each on its own track.
    phrases = []
    for track in range(5):
        voice = voices[int(rng.integers(len(voices)))]
        t = float(rng.uniform(-0.5, 0.2))
        while t < seconds:
            word_list = KS_AUXILIARY + KS_COMMANDS
            text = " ".join(word_list[int(rng.integers(len(word_list)))] for _ in range(4))
            phrases.append(Phrase(text, voice.voice, pitch=voice.pitch, rate=voice.rate, at=max(t, 0.0), track=track))
            t += 1.6
    return AudioJob(
        rel,
        tuple(phrases),
        ctx.job_seed(rel),
        lead=0.0,
        tail=0.0,
        duration=seconds,
        noise_kind="babble",
        acoustics=draw_acoustics(rng, level=(level, level), snr=(20, 30)),
    )


_NOISE_README = """\
Background noise for superb-mini's synthetic Speech Commands v0.01 replica.

Each file is several seconds of generated noise (white, pink, brown, a running-tap-like band of
noise, mains hum, and a babble of espeak-ng voices). Like the real `_background_noise_` folder,
recipes cut random 1 s crops from these files to make `_silence_` examples.
"""
