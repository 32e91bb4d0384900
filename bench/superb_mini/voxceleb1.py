"""VoxCeleb1 (SID, ASV): ``VoxCeleb1/{dev,test}/wav/idNNNNN/<video>/NNNNN.wav`` plus split files.

As in the real protocol, ``iden_split.txt`` (1 train, 2 dev, 3 test) covers every speaker of both
folders, with each speaker in all three parts, while ASV trains on the ``dev`` folder's speakers
and tests on trials (``voxceleb1_test_v2.txt``) between the ``test`` folder's speakers only. The
test ids sit inside the id range, as id10270-id10309 do in the real corpus. Each "video" has its
own channel (tilt, room, noise), so identification must generalise across sessions; SID's split
puts different videos in train, dev and test.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

import numpy as np

from .plan import BuildContext, DatasetPlan, LabelOutput, count
from .speakers import pick_speakers
from .synth import Acoustics, AudioJob, Phrase, RenderResult
from .texts import read_sentence

NAME = "voxceleb1"
ROOT = "VoxCeleb1"
ROOTS = (ROOT,)
_VIDEO_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _video_id(rng: np.random.Generator) -> str:
    return "".join(_VIDEO_ALPHABET[int(i)] for i in rng.integers(0, len(_VIDEO_ALPHABET), 11))


def plan(ctx: BuildContext) -> DatasetPlan:
    size = ctx.size
    rng = ctx.rng(NAME, "plan")
    n_dev, n_test = size.vox_dev_speakers, size.vox_test_speakers
    voices = pick_speakers(ctx.rng(NAME, "speakers"), n_dev + n_test)
    # ids 10001.. ; the test block starts after the first third of the dev ids, as in the real corpus
    first_dev = n_dev // 3
    folder_of = ["dev"] * first_dev + ["test"] * n_test + ["dev"] * (n_dev - first_dev)
    speakers = [(f"id{10001 + i}", folder_of[i], voices[i]) for i in range(n_dev + n_test)]

    jobs: list[AudioJob] = []
    iden: list[tuple[int, str]] = []
    by_speaker: dict[str, list[tuple[str, str]]] = {}  # spk -> [(video, relative wav path)]
    for spk_id, folder, voice in speakers:
        videos = [_video_id(rng) for _ in range(size.vox_videos)]
        for v, video in enumerate(videos):
            part = 1 if v < size.vox_videos - 2 else (2 if v == size.vox_videos - 2 else 3)
            tilt = float(rng.uniform(-0.6, 0.6))
            rt60 = float(rng.uniform(0.1, 0.5)) if rng.random() < 0.6 else 0.0
            snr = float(rng.uniform(12, 32))
            hum = float(rng.choice([0.0, 0.0, 50.0, 60.0]))
            video_pitch = voice.pitch + int(rng.integers(-4, 5))
            video_rate = voice.rate + int(rng.integers(-12, 13))
            for u in range(size.vox_utts):
                # A few short clips in the dev folder exercise the ASV recipe's 2 s minimum.
                short = folder == "dev" and rng.random() < 0.05
                if short:
                    texts = [" ".join(read_sentence(rng).split()[:3])]
                else:
                    texts = [read_sentence(rng) for _ in range(1 + int(rng.random() < 0.4))]
                rel_in_wav = f"{spk_id}/{video}/{u + 1:05d}.wav"
                rel = f"{ROOT}/{folder}/wav/{rel_in_wav}"
                phrases = tuple(
                    Phrase(
                        t.lower(),
                        voice.voice,
                        pitch=video_pitch + int(rng.integers(-2, 3)),
                        rate=video_rate + int(rng.integers(-6, 7)),
                        gap=0.0 if i == 0 else 0.3,
                    )
                    for i, t in enumerate(texts)
                )
                acoustics = Acoustics(
                    level_db=float(round(rng.uniform(-35, -15), 2)),
                    snr_db=float(round(snr + rng.uniform(-2, 2), 2)),
                    room_tone_db=float(round(rng.uniform(-64, -50), 2)),
                    rt60=round(rt60, 3),
                    tilt=round(tilt, 3),
                    hum_hz=hum,
                )
                jobs.append(
                    AudioJob(
                        rel,
                        phrases,
                        ctx.job_seed(rel),
                        lead=float(rng.uniform(0.05, 0.4)),
                        tail=float(rng.uniform(0.05, 0.4)),
                        acoustics=acoustics,
                    )
                )
                iden.append((part, rel_in_wav))
                by_speaker.setdefault(spk_id, []).append((video, rel_in_wav))

    test_ids = [s for s, folder, _ in speakers if folder == "test"]
    trials: list[tuple[int, str, str]] = []
    trial_rng = ctx.rng(NAME, "trials")
    for spk in test_ids:
        for video, path in by_speaker[spk]:
            same = [p for v, p in by_speaker[spk] if v != video] or [p for _, p in by_speaker[spk] if p != path]
            trials.append((1, path, same[int(trial_rng.integers(len(same)))]))
            other = test_ids[int(trial_rng.integers(len(test_ids) - 1))]
            other = other if other != spk else test_ids[-1]
            pool = by_speaker[other]
            trials.append((0, path, pool[int(trial_rng.integers(len(pool)))][1]))

    def write_labels(results: Mapping[str, RenderResult]) -> LabelOutput:
        files = {
            f"{ROOT}/iden_split.txt": "".join(f"{part} {path}\n" for part, path in sorted(iden, key=lambda r: r[1])),
            f"{ROOT}/voxceleb1_test_v2.txt": "".join(f"{lab} {a} {b}\n" for lab, a, b in trials),
            f"{ROOT}/vox1_meta.csv": "VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet\n"
            + "".join(
                f"{s}\tespeak_{v.voice.replace('+', '_')}\t{v.gender.lower()}\tSynthetic\t{folder}\n"
                for s, folder, v in speakers
            ),
        }
        counts = {
            "dev_folder": {
                "speakers": sum(f == "dev" for _, f, _ in speakers),
                "utterances": sum(1 for _, p in iden if _folder(p, speakers) == "dev"),
            },
            "test_folder": {
                "speakers": len(test_ids),
                "utterances": sum(1 for _, p in iden if _folder(p, speakers) == "test"),
            },
            "iden_split": count(Counter(str(part) for part, _ in iden)),
            "trials": count(Counter("target" if lab else "nontarget" for lab, _, _ in trials)),
        }
        return LabelOutput(files, counts)

    return DatasetPlan(jobs, write_labels)


def _folder(rel_in_wav: str, speakers: list) -> str:
    spk = rel_in_wav.split("/")[0]
    return next(folder for s, folder, _ in speakers if s == spk)
