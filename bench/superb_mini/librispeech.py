"""LibriSpeech (PR, ASR): ``LibriSpeech/<split>/<spk>/<chapter>/<spk>-<chapter>-<utt>.flac`` + trans.txt.

Splits are speaker-disjoint as in the real corpus, and dev/test sentences never occur in train,
so an ASR head cannot pass by memorising transcripts. Libri2Mix reuses these speakers (the real
Libri2Mix mixes LibriSpeech speakers of the matching split), hence ``speaker_table``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .plan import BuildContext, DatasetPlan, LabelOutput, draw_acoustics
from .speakers import Speaker, pick_speakers
from .synth import AudioJob, Phrase, RenderResult
from .texts import distinct_read_sentences

NAME = "librispeech"
ROOTS = ("LibriSpeech",)
SPLITS = ("train-clean-100", "dev-clean", "test-clean")


@dataclass(frozen=True)
class LibriSpeaker:
    speaker_id: int
    chapters: tuple[int, ...]
    speaker: Speaker


def speaker_table(ctx: BuildContext) -> dict[str, list[LibriSpeaker]]:
    """Speakers and chapters per split; deterministic in (seed, size) alone."""
    rng = ctx.rng(NAME, "speakers")
    total = sum(ctx.size.libri_speakers)
    voices = pick_speakers(rng, total)
    ids = rng.choice(range(19, 9000), size=total, replace=False)
    chapter_ids = rng.choice(range(1000, 300000), size=2 * total, replace=False)
    table: dict[str, list[LibriSpeaker]] = {}
    k = 0
    for split, n in zip(SPLITS, ctx.size.libri_speakers):
        table[split] = []
        for _ in range(n):
            n_chapters = 2 if ctx.size.libri_utts[SPLITS.index(split)] >= 8 else 1
            chapters = tuple(sorted(int(c) for c in chapter_ids[2 * k : 2 * k + n_chapters]))
            table[split].append(LibriSpeaker(int(ids[k]), chapters, voices[k]))
            k += 1
    return table


def _texts(ctx: BuildContext) -> dict[str, list[str]]:
    texts: dict[str, list[str]] = {}
    seen: set[str] = set()
    for split, n_spk, n_utt in zip(SPLITS, ctx.size.libri_speakers, ctx.size.libri_utts):
        texts[split] = distinct_read_sentences(ctx.rng(NAME, "text", split), 2 * n_spk * n_utt, exclude=seen)
        seen |= set(texts[split])
    return texts


def plan(ctx: BuildContext) -> DatasetPlan:
    table = speaker_table(ctx)
    texts = _texts(ctx)
    jobs: list[AudioJob] = []
    transcripts: dict[str, list[tuple[str, str]]] = {}
    rng = ctx.rng(NAME, "utterances")
    for split, n_utt in zip(SPLITS, ctx.size.libri_utts):
        pool = iter(texts[split])
        for spk in table[split]:
            for u in range(n_utt):
                chapter = spk.chapters[u % len(spk.chapters)]
                utt_index = u // len(spk.chapters)
                utt_id = f"{spk.speaker_id}-{chapter}-{utt_index:04d}"
                sentences = [next(pool)] + ([next(pool)] if rng.random() < 0.4 else [])
                text = " ".join(sentences)
                folder = f"LibriSpeech/{split}/{spk.speaker_id}/{chapter}"
                rel = f"{folder}/{utt_id}.flac"
                phrases = tuple(
                    Phrase(
                        s.lower(),
                        spk.speaker.voice,
                        pitch=spk.speaker.pitch + int(rng.integers(-3, 4)),
                        rate=spk.speaker.rate + int(rng.integers(-8, 9)),
                        gap=0.0 if i == 0 else 0.35,
                    )
                    for i, s in enumerate(sentences)
                )
                jobs.append(
                    AudioJob(
                        rel,
                        phrases,
                        ctx.job_seed(rel),
                        fmt="FLAC",
                        lead=float(rng.uniform(0.15, 0.5)),
                        tail=float(rng.uniform(0.15, 0.5)),
                        acoustics=draw_acoustics(rng, snr=(30, 45)),
                    )
                )
                transcripts.setdefault(f"{folder}/{spk.speaker_id}-{chapter}.trans.txt", []).append((utt_id, text))

    def write_labels(results: Mapping[str, RenderResult]) -> LabelOutput:
        files = {path: "".join(f"{u} {t}\n" for u, t in sorted(rows)) for path, rows in transcripts.items()}
        files["LibriSpeech/SPEAKERS.TXT"] = _speakers_txt(table, results)
        counts = {
            split: {"speakers": len(table[split]), "utterances": len(table[split]) * n}
            for split, n in zip(SPLITS, ctx.size.libri_utts)
        }
        return LabelOutput(files, counts)

    return DatasetPlan(jobs, write_labels)


def _speakers_txt(table: dict[str, list[LibriSpeaker]], results: Mapping[str, RenderResult]) -> str:
    """SPEAKERS.TXT in the real pipe-separated layout (the gender column is used by some recipes)."""
    minutes: dict[int, float] = {}
    for res in results.values():
        spk = int(res.rel_path.split("/")[2])
        minutes[spk] = minutes.get(spk, 0.0) + res.duration / 60
    lines = [
        "; superb-mini synthetic LibriSpeech replica: speakers are espeak-ng voices",
        ";ID  |SEX| SUBSET           |MINUTES| NAME",
    ]
    for split in SPLITS:
        for spk in sorted(table[split], key=lambda s: s.speaker_id):
            minutes_read = minutes.get(spk.speaker_id, 0.0)
            lines.append(
                f"{spk.speaker_id:<5}| {spk.speaker.gender} | {split:<17}| {minutes_read:5.2f} "
                f"| espeak-ng {spk.speaker.voice} p{spk.speaker.pitch} s{spk.speaker.rate}"
            )
    return "\n".join(lines) + "\n"
