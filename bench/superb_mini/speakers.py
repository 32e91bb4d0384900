"""Synthetic "speakers": an espeak-ng voice variant, an English accent, a base pitch and a speaking rate.

Measured on these machines (install notes, step 5): variants separate speakers well (about 97%
speaker ID from MFCC statistics) while pitch or rate alone separate them poorly. So a speaker is
first of all a variant; accent, pitch and rate jitter on top make more distinct speakers than there
are variants and keep two speakers that share a variant apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# espeak-ng variants that sound like a plain human voice (robots, whisper, croak are left out).
MALE_VARIANTS: tuple[str, ...] = (
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m6",
    "m7",
    "m8",
    "adam",
    "antonio",
    "benjamin",
    "boris",
    "caleb",
    "david",
    "ed",
    "edward",
    "Gene",
    "grandpa",
    "gustave",
    "Henrique",
    "Hugo",
    "iven",
    "Jacky",
    "john",
    "Lee",
    "marcelo",
    "Marco",
    "Mario",
    "max",
    "Michael",
    "michel",
    "miguel",
    "Mike",
    "norbert",
    "pablo",
    "paul",
    "pedro",
    "quincy",
    "rob",
    "robert",
    "sandro",
    "travis",
    "victor",
    "zac",
    "klatt",
    "klatt2",
    "klatt3",
    "Diogo",
    "Denis",
    "Alex",
    "Andy",
)
FEMALE_VARIANTS: tuple[str, ...] = (
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "Alicia",
    "Andrea",
    "Annie",
    "anika",
    "aunty",
    "belinda",
    "linda",
    "steph",
    "grandma",
)
ACCENTS: tuple[str, ...] = ("en-us", "en-gb", "en-us-nyc", "en-gb-scotland", "en-029", "en-gb-x-rp")


@dataclass(frozen=True)
class Speaker:
    """A synthetic speaker; ``voice`` is the espeak ``-v`` argument (accent + variant)."""

    accent: str
    variant: str
    gender: str  # "M" or "F"
    pitch: int  # espeak -p base, jittered around 50
    rate: int  # espeak -s base, words per minute

    @property
    def voice(self) -> str:
        return f"{self.accent}+{self.variant}"

    def with_language(self, language_voice: str) -> str:
        """The same variant speaking another espeak language (QUESST non-English audio)."""
        return f"{language_voice}+{self.variant}"


def pick_speakers(rng: np.random.Generator, n: int, gender: str | None = None) -> list[Speaker]:
    """``n`` distinct speakers; variants are used once each before any is reused with a new accent.

    ``gender`` restricts to ``"M"`` or ``"F"``; ``None`` interleaves both so splits stay mixed.
    """
    if gender == "M":
        pools = [("M", list(MALE_VARIANTS))]
    elif gender == "F":
        pools = [("F", list(FEMALE_VARIANTS))]
    else:
        pools = [("F", list(FEMALE_VARIANTS)), ("M", list(MALE_VARIANTS))]
    for _, variants in pools:
        rng.shuffle(variants)
    accents = list(ACCENTS)
    rng.shuffle(accents)
    speakers: list[Speaker] = []
    used: set[tuple[str, str]] = set()
    round_ = 0
    while len(speakers) < n:
        for g, variants in pools:
            if len(speakers) >= n:
                break
            index = len([s for s in speakers if s.gender == g])
            variant = variants[index % len(variants)]
            accent = accents[(index // len(variants) + round_) % len(accents)]
            if (accent, variant) in used:
                continue
            used.add((accent, variant))
            pitch = int(np.clip(round(50 + rng.normal(0, 9)), 25, 80))
            rate = int(round(rng.uniform(150, 185)))
            speakers.append(Speaker(accent, variant, g, pitch, rate))
        round_ += 1
    return speakers
