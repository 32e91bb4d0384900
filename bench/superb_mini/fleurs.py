"""FLEURS (multilingual ASR, language ID): ``fleurs/<lang>/{train,dev,test}.tsv`` + ``audio/<split>/*.wav``.

The layout of google/fleurs once its ``audio/<split>.tar.gz`` archives are extracted: per language
a folder with three header-less TSVs of seven columns (``id``, ``file_name``, ``raw_transcription``,
``transcription``, characters, ``num_samples``, ``gender``) and the 16 kHz WAV files they name.

Like the real corpus the sentences are parallel (one ``id`` is one sentence in every language, see
fleurs_texts) and the splits are speaker-disjoint. A language-ID head must not be able to tell the
language from the voice, so the speakers are drawn once per split and the k-th speaker of a split
reads every language with the same espeak variant, pitch and rate; only the language's espeak voice
changes. Splits share no sentence, so dev/test transcripts are never seen in training.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import fleurs_texts
from .plan import BuildContext, DatasetPlan, LabelOutput, count, draw_acoustics, stable_int
from .speakers import Speaker, pick_speakers
from .synth import AudioJob, Phrase, RenderResult

NAME = "fleurs"
ROOT = "fleurs"
ROOTS = (ROOT,)
SPLITS = ("train", "dev", "test")
SAMPLE_RATE = 16000
# FLEURS language code -> espeak-ng voice. Mandarin uses espeak's pinyin voice: the plain "cmn"
# voice of espeak-ng 1.51 reads most characters' pinyin (的, 一, 不, 人, 在, 有 ...) as English
# letters, while "cmn-latn-pinyin" reads the same dictionary entries as Mandarin syllables.
LANGUAGES: dict[str, str] = {
    "en_us": "en-us",
    "cmn_hans_cn": "cmn-latn-pinyin",
    "ms_my": "ms",
    "ta_in": "ta",
    "id_id": "id",
    "th_th": "th",
    "vi_vn": "vi",
}
GENDERS = {"M": "MALE", "F": "FEMALE"}


def speaker_table(ctx: BuildContext) -> dict[str, list[Speaker]]:
    """The speakers of each split, shared by all languages; no espeak variant is in two splits."""
    total = sum(ctx.size.fleurs_speakers)
    voices = pick_speakers(ctx.rng(NAME, "speakers"), total)
    if len({v.variant for v in voices}) < total:  # the accent is dropped, so the variant is the speaker
        raise ValueError(f"{total} FLEURS speakers need more distinct espeak variants than there are")
    table: dict[str, list[Speaker]] = {}
    start = 0
    for split, n in zip(SPLITS, ctx.size.fleurs_speakers):
        table[split] = voices[start : start + n]
        start += n
    return table


def sentence_ids(ctx: BuildContext) -> dict[str, list[int]]:
    """Disjoint sentence ids per split, one per utterance of a language (the same ids in every language)."""
    order = ctx.rng(NAME, "sentences").permutation(fleurs_texts.NUM_SENTENCES)
    ids: dict[str, list[int]] = {}
    start = 0
    for split, n_spk, n_utt in zip(SPLITS, ctx.size.fleurs_speakers, ctx.size.fleurs_utts):
        ids[split] = [int(i) for i in order[start : start + n_spk * n_utt]]
        start += n_spk * n_utt
    if start > fleurs_texts.NUM_SENTENCES:
        raise ValueError(f"the FLEURS grammar has {fleurs_texts.NUM_SENTENCES} sentences, {start} are needed")
    return ids


def file_name(ctx: BuildContext, lang: str, split: str, index: int) -> str:
    """A FLEURS-style file name: a large decimal number (64 bits of a hash) and ``.wav``."""
    return f"{stable_int(ctx.seed, NAME, lang, split, index)}.wav"


def plan(ctx: BuildContext) -> DatasetPlan:
    table = speaker_table(ctx)
    ids = sentence_ids(ctx)
    jobs: list[AudioJob] = []
    rows: dict[tuple[str, str], list[tuple[int, str, str]]] = {}  # (lang, split) -> (id, file name, gender)
    for lang, voice in LANGUAGES.items():
        for split, n_utt in zip(SPLITS, ctx.size.fleurs_utts):
            rng = ctx.rng(NAME, "utterances", lang, split)
            # Every language reads the split's sentence ids, each in its own order: which speaker
            # says which sentence varies between languages.
            pool = iter(int(i) for i in rng.permutation(ids[split]))
            rows[(lang, split)] = []
            for spk in table[split]:
                for _ in range(n_utt):
                    sentence_id = next(pool)
                    name = file_name(ctx, lang, split, len(rows[(lang, split)]))
                    rel = f"{ROOT}/{lang}/audio/{split}/{name}"
                    phrase = Phrase(
                        fleurs_texts.spoken(lang, sentence_id),
                        spk.with_language(voice),
                        pitch=spk.pitch + int(rng.integers(-3, 4)),
                        rate=spk.rate + int(rng.integers(-8, 9)),
                    )
                    jobs.append(
                        AudioJob(
                            rel,
                            (phrase,),
                            ctx.job_seed(rel),
                            sample_rate=SAMPLE_RATE,
                            fmt="WAV",
                            lead=float(rng.uniform(0.15, 0.4)),
                            tail=float(rng.uniform(0.15, 0.4)),
                            acoustics=draw_acoustics(rng, snr=(30, 45)),
                        )
                    )
                    rows[(lang, split)].append((sentence_id, name, GENDERS[spk.gender]))
    names = [name for split_rows in rows.values() for _, name, _ in split_rows]
    if len(set(names)) != len(names):  # 64-bit hashes: never expected, but a reader would misfile audio
        raise ValueError("two FLEURS utterances got the same file name")

    def write_labels(results: Mapping[str, RenderResult]) -> LabelOutput:
        files: dict[str, str] = {}
        counts: dict[str, dict[str, int]] = {}
        for (lang, split), split_rows in rows.items():
            lines = []
            for sentence_id, name, gender in split_rows:
                raw = fleurs_texts.sentence(lang, sentence_id)
                text = fleurs_texts.normalise(lang, raw)
                samples = results[f"{ROOT}/{lang}/audio/{split}/{name}"].num_samples
                fields = (str(sentence_id), name, raw, text, fleurs_texts.characters(lang, text), str(samples), gender)
                lines.append("\t".join(fields) + "\n")
            files[f"{ROOT}/{lang}/{split}.tsv"] = "".join(lines)
            counts.setdefault(lang, {})[split] = len(split_rows)
        n_speakers = sum(len(speakers) for speakers in table.values())
        # sorted like the done marker's JSON, so that a resumed run writes the same manifest
        counts = {lang: count({**counts[lang], "speakers": n_speakers}) for lang in sorted(counts)}
        return LabelOutput(files, counts)

    return DatasetPlan(jobs, write_labels)
