"""Libri2Mix for diarization (SD): mixtures plus the Kaldi-style folders s3prl's recipe reads.

Mirrors what ``scripts/prepare_diarization.py`` of s3prl's LibriMix fork writes into
``{train,dev,test}/``: ``wav.scp`` (``<mix_id> <path>``), ``segments``
(``<mix_id>_<start ms:06d>_<end ms:06d> <mix_id> <start> <end>``), ``utt2spk``, ``spk2utt`` (which,
like the real script, lists recording ids, once per segment), ``reco2dur`` and a tab-separated
``rttm``. Mixture ids join two LibriSpeech utterance ids with ``_``; the speakers are the mini
LibriSpeech speakers of the matching split. One deliberate difference: ``wav.scp`` paths are
relative to the ``LibriMix/`` folder (the real ones are absolute), so the corpus can move and two
generations are byte-identical. The second speaker starts later than the first, so each mixture
has single-speaker stretches, overlap and pauses.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import librispeech
from .plan import BuildContext, DatasetPlan, LabelOutput, draw_acoustics
from .synth import AudioJob, Phrase, RenderResult
from .texts import read_sentence

NAME = "librimix"
ROOT = "LibriMix"
ROOTS = (ROOT,)
# Kaldi folder -> (LibriSpeech split the speakers come from, Libri2Mix wav folder)
SPLITS = {"train": ("train-clean-100", "train-100"), "dev": ("dev-clean", "dev"), "test": ("test-clean", "test")}


def _ms(seconds: float) -> str:
    """``float2str`` of the real script: milliseconds, zero-padded to 6 digits."""
    return f"{int(seconds * 1000):06d}"


def plan(ctx: BuildContext) -> DatasetPlan:
    table = librispeech.speaker_table(ctx)
    rng = ctx.rng(NAME, "plan")
    jobs: list[AudioJob] = []
    mixtures: dict[str, list[dict]] = {}
    for (kaldi, (libri_split, wav_split)), n_mix in zip(SPLITS.items(), ctx.size.mix_count):
        speakers = table[libri_split]
        mixtures[kaldi] = []
        for m in range(n_mix):
            i, j = rng.choice(len(speakers), size=2, replace=False)
            pair = [speakers[int(i)], speakers[int(j)]]
            source_ids = [f"{s.speaker_id}-{s.chapters[0]}-{100 + m:04d}" for s in pair]
            mix_id = "_".join(source_ids)
            phrases: list[Phrase] = []
            owners: list[int] = []
            for track, spk in enumerate(pair):
                start = 0.0 if track == 0 else float(rng.uniform(0.8, 3.0))
                n_phrases = 2 + int(rng.random() < 0.5)
                for k in range(n_phrases):
                    words = read_sentence(rng).lower().split()
                    text = " ".join(words[: max(3, len(words) // 2 + int(rng.integers(0, 3)))])
                    phrases.append(
                        Phrase(
                            text,
                            spk.speaker.voice,
                            pitch=spk.speaker.pitch,
                            rate=spk.speaker.rate,
                            at=start if k == 0 else None,
                            gap=float(rng.uniform(0.3, 1.2)),
                            track=track,
                        )
                    )
                    owners.append(track)
            rel = f"{ROOT}/wav16k/max/{wav_split}/mix_both/{mix_id}.wav"
            jobs.append(
                AudioJob(
                    rel,
                    tuple(phrases),
                    ctx.job_seed(rel),
                    lead=float(rng.uniform(0.1, 0.5)),
                    tail=float(rng.uniform(0.2, 0.6)),
                    acoustics=draw_acoustics(rng, snr=(15, 30)),
                )
            )
            mixtures[kaldi].append(
                {"mix_id": mix_id, "rel": rel, "speakers": [str(s.speaker_id) for s in pair], "owners": owners}
            )

    def write_labels(results: Mapping[str, RenderResult]) -> LabelOutput:
        files: dict[str, str] = {}
        counts: dict[str, dict[str, int]] = {}
        for kaldi, mixes in mixtures.items():
            wavscp, segments, utt2spk, rttm, reco2dur = [], [], [], [], []
            spk2utt: dict[str, list[str]] = {}
            overlap_s = 0.0
            for mix in mixes:
                result = results[mix["rel"]]
                mix_id = mix["mix_id"]
                wavscp.append(f"{mix_id} {mix['rel'][len(ROOT) + 1 :]}\n")
                spans_by_track = {0: [], 1: []}
                for (start, end, _), owner in zip(result.spans, mix["owners"]):
                    spans_by_track[owner].append((start, end))
                for track in (0, 1):
                    spk = mix["speakers"][track]
                    for start, end in spans_by_track[track]:
                        seg_id = f"{mix_id}_{_ms(start)}_{_ms(end)}"
                        segments.append(f"{seg_id} {mix_id} {start} {end}\n")
                        utt2spk.append(f"{seg_id} {spk}\n")
                        duration = round(end - start, 4)
                        rttm.append(f"SPEAKER\t{mix_id}\t1\t{start}\t{duration}\t<NA>\t<NA>\t{spk}\t<NA>\n")
                        spk2utt.setdefault(spk, []).append(mix_id)
                overlap_s += sum(
                    max(0.0, min(e1, e2) - max(s1, s2)) for s1, e1 in spans_by_track[0] for s2, e2 in spans_by_track[1]
                )
                reco2dur.append(f"{mix_id} {result.num_samples / 16000}\n")
            files[f"{ROOT}/{kaldi}/wav.scp"] = "".join(wavscp)
            files[f"{ROOT}/{kaldi}/segments"] = "".join(segments)
            files[f"{ROOT}/{kaldi}/utt2spk"] = "".join(utt2spk)
            files[f"{ROOT}/{kaldi}/spk2utt"] = "".join(f"{s} {' '.join(u)}\n" for s, u in spk2utt.items())
            files[f"{ROOT}/{kaldi}/reco2dur"] = "".join(reco2dur)
            files[f"{ROOT}/{kaldi}/rttm"] = "".join(rttm)
            total = sum(results[m["rel"]].duration for m in mixes)
            counts[kaldi] = {
                "recordings": len(mixes),
                "segments": len(segments),
                "speakers": len(spk2utt),
                "overlap_percent": int(round(100 * overlap_s / max(total, 1e-9))),
            }
        return LabelOutput(files, counts)

    return DatasetPlan(jobs, write_labels, notes={"wav_scp_paths": "relative to LibriMix/"})
