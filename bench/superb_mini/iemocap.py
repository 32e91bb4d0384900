"""IEMOCAP (ER): five sessions of dyadic dialogs, one female and one male speaker per session.

Layout of ``IEMOCAP_full_release``: ``Session<k>/sentences/wav/<dialog>/<utt>.wav`` and
``Session<k>/dialog/EmoEvaluation/<dialog>.txt`` with turn lines
``[<start> - <end>]\\t<utt>\\t<label>\\t[<V>, <A>, <D>]`` followed by evaluator lines, as the real
files are laid out (plus ``dialog/transcriptions/<dialog>.txt``). Labels include ``exc`` (the
recipe merges it into ``hap``) and a few ``fru``/``sur``/``xxx`` turns (the recipe drops them).

Emotion is carried by prosody only: the same lines are spoken in every emotion, with per-emotion
pitch level, pitch range, speaking rate and vocal effort (spectral tilt: what is left of loudness
once every file's level is randomised). Speakers differ between sessions, so the five folds are
speaker-disjoint.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from .plan import BuildContext, DatasetPlan, LabelOutput, count
from .speakers import Speaker, pick_speakers
from .synth import Acoustics, AudioJob, Phrase, RenderResult
from .texts import DIALOG_LINES

NAME = "iemocap"
ROOT = "IEMOCAP_full_release"
ROOTS = (ROOT,)
SESSIONS = 5
RECIPE_CLASSES = ("neu", "hap", "ang", "sad")


@dataclass(frozen=True)
class Preset:
    pitch: int  # added to the speaker's espeak pitch
    rate: float  # multiplies the speaker's rate
    pitch_range: str  # SSML prosody range
    effort: float  # spectral tilt: >0 brighter (raised voice), <0 darker (soft voice)
    vad: tuple[float, float, float]  # valence, activation, dominance written to the label file
    category: str  # evaluator wording in the C-* lines


# Presets follow the install notes' measured emotion-by-prosody settings (happy/angry faster and
# higher, sad slower and lower), with rate differences kept small enough that duration alone stays
# near chance (sentence length varies far more), and vocal effort standing in for loudness.
PRESETS: dict[str, Preset] = {
    "neu": Preset(0, 1.00, "medium", 0.00, (3.0, 2.5, 2.5), "Neutral state"),
    "hap": Preset(24, 1.06, "x-high", 0.30, (4.0, 3.5, 3.0), "Happiness"),
    "exc": Preset(28, 1.10, "x-high", 0.40, (4.0, 4.0, 3.5), "Excited"),
    "ang": Preset(10, 1.12, "high", 0.75, (1.5, 4.0, 4.0), "Anger"),
    "sad": Preset(-20, 0.88, "x-low", -0.60, (2.0, 1.5, 2.0), "Sadness"),
    "fru": Preset(3, 1.03, "low", 0.20, (2.0, 3.0, 3.0), "Frustration"),
    "sur": Preset(20, 1.03, "x-high", 0.10, (3.5, 4.0, 2.5), "Surprise"),
    "xxx": Preset(5, 1.00, "medium", 0.05, (3.0, 3.0, 3.0), "Other"),
}


def _label_schedule(n: int, rng) -> list[str]:
    """Balanced 4-class labels (a third of happy written as ``exc``) plus ~10% dropped labels."""
    labels = [RECIPE_CLASSES[i % 4] for i in range(n)]
    rng.shuffle(labels)
    for i, label in enumerate(labels):
        r = rng.random()
        if label == "hap" and r < 0.33:
            labels[i] = "exc"
        elif r > 0.9:
            labels[i] = ("fru", "xxx", "sur")[int(rng.integers(3))]
    return labels


def plan(ctx: BuildContext) -> DatasetPlan:
    size = ctx.size
    rng = ctx.rng(NAME, "plan")
    females = pick_speakers(ctx.rng(NAME, "female"), SESSIONS, gender="F")
    males = pick_speakers(ctx.rng(NAME, "male"), SESSIONS, gender="M")
    jobs: list[AudioJob] = []
    turns: dict[str, list[dict]] = {}  # dialog -> turns in speaking order
    session_of: dict[str, int] = {}
    for s in range(1, SESSIONS + 1):
        pair: dict[str, Speaker] = {"F": females[s - 1], "M": males[s - 1]}
        session_tilt = float(rng.uniform(-0.05, 0.05))
        session_rt60 = float(rng.uniform(0.1, 0.3))
        n_turns = size.emo_dialogs * 2 * size.emo_utts_per_dialog
        labels = iter(_label_schedule(n_turns, rng))
        for d in range(size.emo_dialogs):
            lead_gender = "F" if d % 2 == 0 else "M"
            kind = "impro" if d % 2 == 0 else "script"
            dialog = f"Ses{s:02d}{lead_gender}_{kind}{d // 2 + 1:02d}" + ("_1" if kind == "script" else "")
            session_of[dialog] = s
            turns[dialog] = []
            counters = Counter()
            order = [lead_gender, "M" if lead_gender == "F" else "F"] * size.emo_utts_per_dialog
            for gender in order:
                speaker = pair[gender]
                label = next(labels)
                preset = PRESETS[label]
                utt = f"{dialog}_{gender}{counters[gender]:03d}"
                counters[gender] += 1
                line = DIALOG_LINES[int(rng.integers(len(DIALOG_LINES)))]
                rel = f"{ROOT}/Session{s}/sentences/wav/{dialog}/{utt}.wav"
                pitch = int(min(99, max(0, speaker.pitch + preset.pitch + rng.integers(-4, 5))))
                phrase = Phrase(
                    line,
                    speaker.voice,
                    pitch=pitch,
                    rate=int(speaker.rate * preset.rate * rng.uniform(0.92, 1.08)),
                    pitch_range=preset.pitch_range,
                )
                acoustics = Acoustics(
                    level_db=float(round(rng.uniform(-35, -15), 2)),
                    snr_db=float(round(rng.uniform(25, 40), 2)),
                    room_tone_db=float(round(rng.uniform(-66, -56), 2)),
                    rt60=round(session_rt60, 3),
                    tilt=round(session_tilt + preset.effort + float(rng.uniform(-0.08, 0.08)), 3),
                )
                jobs.append(
                    AudioJob(
                        rel,
                        (phrase,),
                        ctx.job_seed(rel),
                        lead=float(rng.uniform(0.1, 0.6)),
                        tail=float(rng.uniform(0.1, 0.6)),
                        acoustics=acoustics,
                    )
                )
                turns[dialog].append(
                    {"utt": utt, "rel": rel, "label": label, "text": line, "gap": float(rng.uniform(0.2, 1.5))}
                )

    def write_labels(results: Mapping[str, RenderResult]) -> LabelOutput:
        files: dict[str, str] = {}
        counts: dict[str, dict[str, int]] = {}
        for dialog, dialog_turns in turns.items():
            s = session_of[dialog]
            t = 2.0
            eval_lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n", "\n"]
            trans_lines = []
            for turn in dialog_turns:
                start, end = t, t + results[turn["rel"]].duration
                t = end + turn["gap"]
                preset = PRESETS[turn["label"]]
                v, a, dom = preset.vad
                eval_lines.append(
                    f"[{start:.4f} - {end:.4f}]\t{turn['utt']}\t{turn['label']}\t[{v:.4f}, {a:.4f}, {dom:.4f}]\n"
                )
                for evaluator in ("C-E1", "C-E2", "C-E3"):
                    eval_lines.append(f"{evaluator}:\t{preset.category};\t()\n")
                for evaluator in ("A-E1", "A-E2"):
                    eval_lines.append(f"{evaluator}:\tval {round(v)}; act {round(a)}; dom  {round(dom)};\t()\n")
                eval_lines.append("\n")
                trans_lines.append(f"{turn['utt']} [{start:08.4f}-{end:08.4f}]: {turn['text']}\n")
            files[f"{ROOT}/Session{s}/dialog/EmoEvaluation/{dialog}.txt"] = "".join(eval_lines)
            files[f"{ROOT}/Session{s}/dialog/transcriptions/{dialog}.txt"] = "".join(trans_lines)
            session_counts = counts.setdefault(f"Session{s}", {})
            for turn in dialog_turns:
                session_counts[turn["label"]] = session_counts.get(turn["label"], 0) + 1
        for key in list(counts):
            counts[key] = count(counts[key])
        merged = Counter()
        for dialog_turns in turns.values():
            for turn in dialog_turns:
                label = "hap" if turn["label"] == "exc" else turn["label"]
                if label in RECIPE_CLASSES:
                    merged[label] += 1
        counts["recipe_4class_total"] = count(merged)
        return LabelOutput(files, counts)

    return DatasetPlan(jobs, write_labels)
