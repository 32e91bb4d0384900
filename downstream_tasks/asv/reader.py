"""ASV's reader of VoxCeleb1: the official trial list (``<1|0> <path> <path>``), the dev trial list held out of the
training folder, the :class:`Trial` and :class:`VerificationData` records, and :func:`load_voxceleb1`, which reads
``VoxCeleb1/{dev,test}/wav/`` and the trial list into the train, dev and test splits and their trials (through s3prl's
sox chain, silence trimming included, when ``data.trim_silence`` is on).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchcore.cache_root import default_cache_root
from benchcore.errors import BenchError
from benchcore.sox_effects import s3prl_sv_chain
from downstream_tasks.base import TaskData, Utterance, require_dir, require_file
from downstream_tasks.sid import ROOT
from upstream.base import SAMPLE_RATE

TRIAL_LIST = "voxceleb1_test_v2.txt"


@dataclass(frozen=True)
class Trial:
    """One verification trial: 1 = same speaker (target), 0 = different speakers; the two utterances by uid."""

    label: int
    enrollment: str
    test: str


@dataclass
class VerificationData(TaskData):
    """TaskData plus each scored split's trial list (dev: built from held-out training-folder utterances)."""

    trials: dict[str, list[Trial]] = field(default_factory=dict)


def read_trials(trial_file: Path) -> list[tuple[int, str, str]]:
    """[(label, path1, path2)] from a VoxCeleb trial list, paths relative to ``VoxCeleb1/test/wav/``.

    Whether the files exist is not checked here: the runner counts every missing file of every split in one line (and
    ``data.allow_missing=true`` drops them with the trials that name them, see
    :meth:`SpeakerVerification.without_files`).
    """
    require_file(
        trial_file,
        "VoxCeleb1",
        "the verification trial list, lines '<1|0> idXXXXX/video/file.wav idYYYYY/video/file.wav'",
    )
    trials = []
    for line_number, line in enumerate(trial_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 3 or parts[0] not in ("0", "1"):
            raise BenchError(f"{trial_file}:{line_number}: expected '<1|0> <path> <path>', got {line!r}")
        trials.append((int(parts[0]), parts[1], parts[2]))
    if not trials:
        raise BenchError(f"{trial_file} has no trials")
    return trials


def hold_out_dev_trials(
    relatives: Sequence[str], videos_per_speaker: int, seed: int
) -> tuple[list[str], list[tuple[int, str, str]]]:
    """The dev trial list, held out of the training folder: (held-out paths, [(label, path1, path2)]).

    For every speaker with at least two videos, one utterance from each of ``videos_per_speaker`` videos (fewer if it
    has fewer) is held out of training, as long as the speaker keeps a training utterance. Target trials are all pairs
    of a speaker's held-out utterances (so they cross videos, as VoxCeleb's test trials do); each target trial
    ``(a, b)`` is followed by a non-target trial ``(a, c)`` with ``c`` a held-out utterance of another speaker, so the
    list is balanced. Every choice draws from ``random.Random`` seeded by strings, which does not depend on the
    platform, the file-system order or ``PYTHONHASHSEED``: the same files give the same list.
    """
    if videos_per_speaker < 2:
        raise BenchError(
            "ASV: data.dev_videos_per_speaker must be at least 2 (target trials pair two videos), "
            f"got {videos_per_speaker}"
        )
    by_speaker: dict[str, dict[str, list[str]]] = {}
    for relative in sorted(set(relatives)):
        speaker, video = relative.split("/")[:2]
        by_speaker.setdefault(speaker, {}).setdefault(video, []).append(relative)
    held: dict[str, list[str]] = {}
    for speaker, videos in sorted(by_speaker.items()):
        total = sum(len(files) for files in videos.values())
        count = min(videos_per_speaker, len(videos))
        if count < 2 or total - count < 1:
            continue
        rng = random.Random(f"asv-dev/{seed}/{speaker}")
        chosen = sorted(rng.sample(sorted(videos), count))
        held[speaker] = [rng.choice(videos[video]) for video in chosen]
    if len(held) < 2:
        raise BenchError(
            "ASV: the dev trial list needs at least two dev/wav speakers with two or more videos "
            f"(found {len(held)}); VoxCeleb1/dev/wav looks incomplete"
        )
    rng = random.Random(f"asv-dev/{seed}/non-target")
    speakers = sorted(held)
    trials: list[tuple[int, str, str]] = []
    for speaker in speakers:
        others = [other for other in speakers if other != speaker]
        for first, second in itertools.combinations(held[speaker], 2):
            trials.append((1, first, second))
            trials.append((0, first, rng.choice(held[rng.choice(others)])))
    return sorted(path for paths in held.values() for path in paths), trials


def load_voxceleb1(data_root: Path, corpus: str, config: Any) -> VerificationData:
    """The splits and trial lists of ``VoxCeleb1/`` under ``data_root`` (:meth:`SpeakerVerification.load`): train and
    dev from ``dev/wav/`` (utterances longer than ``data.min_train_seconds``; dev trials held out by
    :func:`hold_out_dev_trials` only when ``data.dev_videos_per_speaker`` is set, else dev is empty and training
    keeps every file, as the recipe), test the files the official trial list names.

    With ``data.trim_silence`` every utterance goes through s3prl's sox chain (``data.gain_db``, then the silence trim:
    :func:`benchcore.sox_effects.s3prl_sv_chain`) and the length the 2-s rule compares is the trimmed one, as in
    s3prl's ``SpeakerVerifi_train`` (``trimmed_length``); the chain's outputs are cached once per file under the cache
    root (``$BENCH_CACHE_DIR``).
    """
    layout = f"{ROOT}/{{dev,test}}/wav/idXXXXX/<video>/NNNNN.wav + {ROOT}/{TRIAL_LIST}"
    root = require_dir(data_root / ROOT, "VoxCeleb1", layout)
    train_wav = require_dir(root / "dev" / "wav", "VoxCeleb1", layout)
    test_wav = require_dir(root / "test" / "wav", "VoxCeleb1", layout)
    trial_list = root / TRIAL_LIST
    test_trials = read_trials(trial_list)

    # Training is every file under dev/wav (s3prl's recipe globs the folder rather than reading a list), so only
    # a missing test file can be told from the metadata: the trial list names each of those.
    speakers = sorted(p.name for p in train_wav.iterdir() if p.is_dir())  # s3prl: every speaker folder is a class
    index = {speaker: i for i, speaker in enumerate(speakers)}
    min_samples = float(config.data.min_train_seconds) * SAMPLE_RATE
    chain = None
    if bool(config.data.get("trim_silence", False)):
        chain = s3prl_sv_chain(float(config.data.gain_db), default_cache_root(), switch="data.trim_silence=false")
    candidates = sorted(train_wav.glob("*/*/*.wav"))
    lengths = chain.lengths(candidates) if chain is not None else [_file_samples(path) for path in candidates]
    # s3prl: `length > min_sec` (strictly), on the trimmed waveform when trimming
    eligible = [
        path.relative_to(train_wav).as_posix() for path, length in zip(candidates, lengths) if length > min_samples
    ]
    if not eligible:
        trimmed = " after silence trimming" if chain is not None else ""
        raise BenchError(
            f"VoxCeleb1: no utterance in {train_wav} is longer than {config.data.min_train_seconds} s{trimmed}"
        )
    held_out: list[str] = []
    dev_trials: list[tuple[int, str, str]] = []
    if config.data.get("dev_videos_per_speaker"):  # an option outside the recipe, which trains on all of dev/wav
        held_out, dev_trials = hold_out_dev_trials(
            eligible, int(config.data.dev_videos_per_speaker), int(config.data.dev_seed)
        )
    held = set(held_out)

    def utterance(wav_root: Path, relative: str, label: tuple[int, ...]) -> Utterance:
        path = wav_root / relative
        return Utterance(str(path.relative_to(data_root)), path, label, relative.split("/")[0], effects=chain)

    def uid(wav_root: Path, relative: str) -> str:
        return str((wav_root / relative).relative_to(data_root))

    splits = {
        "train": [utterance(train_wav, r, (index[r.split("/")[0]],)) for r in eligible if r not in held],
        "dev": [utterance(train_wav, r, (index[r.split("/")[0]],)) for r in held_out],
        "test": [utterance(test_wav, r, ()) for r in sorted({p for _, *pair in test_trials for p in pair})],
    }
    trials = {"test": [Trial(label, uid(test_wav, a), uid(test_wav, b)) for label, a, b in test_trials]}
    if dev_trials:
        trials["dev"] = [Trial(label, uid(train_wav, a), uid(train_wav, b)) for label, a, b in dev_trials]
    return VerificationData(corpus, data_root, splits, [speakers], metadata_files=[trial_list], trials=trials)


def _file_samples(path: Path) -> float:
    """The file's length in 16 kHz samples, from its header."""
    import soundfile

    info = soundfile.info(str(path))
    return info.frames * SAMPLE_RATE / info.samplerate
