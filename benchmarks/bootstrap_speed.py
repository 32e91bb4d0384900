"""Seconds per leaderboard cell of the bootstrap engine (results/bootstrap.py), against a goal of 5 s per cell.

Each cell is ``--resamples`` bootstrap resamples (default 10,000) of one statistic on synthetic data of the real test
sets' sizes, timed end to end (input checks, preparation, drawing, statistic; the best of ``--repeats``):

* **accuracy**: ``--items`` (100,000, VoxCeleb1-SID-sized) 0/1 items at 80% accuracy;
* **WER-like ratio**: ``--items`` utterances with 0..10 edits over 5..40 reference words (PER / WER / CER);
* **EER, trial level** and **EER, blocked**: ``--trials`` (37,720, the VoxCeleb1 test list) ASV trials, half targets,
  scores with per-speaker offsets, resampled by trial and by ``--speakers`` (40) test-speaker blocks;
* **paired accuracy** and **paired WER-like**: ``paired_bootstrap`` between two systems on ``--items`` items (the
  second system's correctness / edits correlated with the first's, as two encoders' are);
* **paired EER, blocked**: ``paired_bootstrap_eer`` with the speaker blocks (the trial-level paired EER, which needs
  explicit per-trial counts, is timed with ``--paired-eer-trial-level``: tens of seconds at these sizes).

The machine's core count matters (numpy's matrix products use the BLAS threads); it is printed with the table.

    .venv/bin/python benchmarks/bootstrap_speed.py [--resamples 10000] [--items 100000] [--trials 37720]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np

from results.bootstrap import bootstrap_eer, bootstrap_ratio, paired_bootstrap, paired_bootstrap_eer

GOAL_SECONDS = 5.0


def best_seconds(function: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def cells(args: argparse.Namespace) -> list[tuple[str, str, Callable[[], object]]]:
    rng = np.random.default_rng(args.seed)
    n, r = args.items, args.resamples
    ones = np.ones(n)
    correct = (rng.random(n) < 0.8).astype(float)
    correct_b = np.where(rng.random(n) < 0.1, 1.0 - correct, correct)  # disagrees with A on ~10% of the items
    edits = rng.integers(0, 11, n).astype(float)
    words = rng.integers(5, 41, n).astype(float)
    edits_b = np.clip(edits + rng.integers(-1, 2, n), 0, 10)  # within one edit of A's

    trials = args.trials
    speaker = rng.integers(0, args.speakers, trials)
    labels = rng.integers(0, 2, trials)
    offsets = rng.normal(size=args.speakers) * 0.5
    scores = rng.normal(size=trials) + 2.5 * labels + offsets[speaker]
    scores_b = scores + rng.normal(size=trials) * 0.5
    chosen = [
        ("accuracy", f"{n:,} items", lambda: bootstrap_ratio(correct, ones, seed=0, n_resamples=r)),
        ("WER-like ratio", f"{n:,} utterances", lambda: bootstrap_ratio(edits, words, seed=0, n_resamples=r)),
        ("EER, trial level", f"{trials:,} trials", lambda: bootstrap_eer(scores, labels, seed=0, n_resamples=r)),
        (
            "EER, blocked",
            f"{trials:,} trials, {args.speakers} speakers",
            lambda: bootstrap_eer(scores, labels, blocks=speaker, seed=0, n_resamples=r),
        ),
        (
            "paired accuracy",
            f"{n:,} items",
            lambda: paired_bootstrap(correct, ones, correct_b, ones, seed=0, n_resamples=r),
        ),
        (
            "paired WER-like",
            f"{n:,} utterances",
            lambda: paired_bootstrap(edits, words, edits_b, words, seed=0, n_resamples=r),
        ),
        (
            "paired EER, blocked",
            f"{trials:,} trials, {args.speakers} speakers",
            lambda: paired_bootstrap_eer(scores, scores_b, labels, blocks=speaker, seed=0, n_resamples=r),
        ),
    ]
    if args.paired_eer_trial_level:
        chosen.append(
            (
                "paired EER, trial level",
                f"{trials:,} trials",
                lambda: paired_bootstrap_eer(scores, scores_b, labels, seed=0, n_resamples=r),
            )
        )
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples per cell")
    parser.add_argument("--items", type=int, default=100_000, help="items of the ratio statistics")
    parser.add_argument("--trials", type=int, default=37_720, help="ASV trials (the VoxCeleb1 test list: 37,720)")
    parser.add_argument("--speakers", type=int, default=40, help="test-speaker blocks of the trials")
    parser.add_argument("--repeats", type=int, default=1, help="time each cell this many times, keep the best")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    parser.add_argument(
        "--paired-eer-trial-level", action="store_true", help="also time the (slow) trial-level paired EER"
    )
    args = parser.parse_args()
    print(f"{args.resamples:,} resamples per cell; {os.cpu_count()} CPU cores; goal {GOAL_SECONDS:.0f} s per cell\n")
    print(f"{'cell':<24} {'data':<30} {'seconds':>8}  goal")
    for name, data, function in cells(args):
        seconds = best_seconds(function, args.repeats)
        verdict = "yes" if seconds < GOAL_SECONDS else "NO"
        print(f"{name:<24} {data:<30} {seconds:8.2f}  {verdict}", flush=True)


if __name__ == "__main__":
    main()
