"""The contract between the corpus driver and the per-dataset modules.

A dataset module exposes ``NAME``, ``ROOTS`` (its top-level folders) and ``plan(ctx)``, returning a
``DatasetPlan``: the audio jobs to render plus a function that, given the rendered results, returns
the dataset's text files (labels, splits, lists) and its counts for MANIFEST.json. Planning draws
all random choices from generators keyed by (seed, dataset, purpose), so one dataset's plan never
depends on another's, nor on the order datasets run in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from .sizes import SizeSpec
from .synth import Acoustics, AudioJob, RenderResult


def stable_int(*key: object) -> int:
    """A 64-bit integer from ``key`` that is the same in every process and Python version."""
    digest = hashlib.sha256("\x1f".join(map(str, key)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little")


@dataclass(frozen=True)
class BuildContext:
    seed: int
    size: SizeSpec

    def rng(self, *key: object) -> np.random.Generator:
        """A generator for one planning purpose, e.g. ``ctx.rng("voxceleb1", "speakers")``."""
        return np.random.default_rng(stable_int(self.seed, *key))

    def job_seed(self, rel_path: str) -> int:
        """The seed a worker uses for a file's noise and room: keyed by its path only."""
        return stable_int(self.seed, "audio", rel_path)


@dataclass
class LabelOutput:
    """Text files (path relative to the corpus root -> content) and counts for the manifest."""

    files: dict[str, str]
    counts: dict[str, dict[str, int]]


@dataclass
class DatasetPlan:
    jobs: list[AudioJob]
    write_labels: Callable[[Mapping[str, RenderResult]], LabelOutput]
    notes: dict[str, object] = field(default_factory=dict)


def draw_acoustics(
    rng: np.random.Generator,
    *,
    snr: tuple[float, float] = (28.0, 45.0),
    rt60: tuple[float, float] | None = None,
    tilt: float = 0.0,
    level: tuple[float, float] = (-35.0, -15.0),
) -> Acoustics:
    """Recording conditions for one file.

    The speech level is uniform over ``level`` for every file whatever its label, so that loudness
    alone cannot predict any label (requirement: trivial cues must not solve a task).
    """
    return Acoustics(
        level_db=float(round(rng.uniform(*level), 2)),
        snr_db=float(round(rng.uniform(*snr), 2)),
        room_tone_db=float(round(rng.uniform(-68.0, -56.0), 2)),
        rt60=float(round(rng.uniform(*rt60), 3)) if rt60 else 0.0,
        tilt=float(round(rng.uniform(-tilt, tilt), 3)) if tilt else 0.0,
        hum_hz=0.0,
    )


def count(items: Mapping[str, int] | None = None) -> dict[str, int]:
    """A sorted copy of a count mapping (stable key order in the manifest)."""
    return {k: int(v) for k, v in sorted((items or {}).items())}
