"""GPU-hours of the ten SUPERB tasks at the recipes' step counts: s3prl's encoder-every-step cost against this harness's.

An estimate, not a measurement: it multiplies the audio each path sends through the encoder by the encoder's throughput
``R`` (seconds of audio per GPU-second; `benchmarks/gpu_check.sh` measures it for a HuBERT-Large-sized encoder, and a
630M encoder such as MERaLiON-SpeechEncoder-2 does about twice that compute per second of audio), and adds the head's
training steps at ``--head-steps-per-s``. Inputs that are not sourced in the repository are marked ``~`` in the table.

- s3prl: every training step encodes ``batch x grad_acc`` examples of the recipe's length (SID/ASV: the 8 s crop; SD:
  20 s chunks; the others: the corpus's mean utterance), and every evaluation encodes its whole split again.
- this harness, pooled tasks (KS, SID, ER, IC) and QbE: one encoder pass over the corpus, then head steps on the cache.
- this harness, frame tasks (PR, ASR, SF, ASV, SD): one pass when the frame cache fits ``cache.max_gb`` (its size is in
  the table, for ``--layers`` hidden states of ``--hidden`` dims in fp16 at ``--fps`` frames per second), else the encoder
  runs in the loop as in s3prl. A frame-cache step costs the larger of the head step and reading its frames
  (``--read-gb-per-s``): at all 25 layers a PR step reads about 0.5 GB.

    .venv/bin/python benchmarks/gpu_hours.py [--audio-per-second 1000] [--max-gb 64]
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass


@dataclass(frozen=True)
class Recipe:
    task: str
    steps: int              # s3prl config total_steps
    examples_per_step: int  # batch x gradient accumulation (s3prl config)
    seconds_per_example: float
    corpus_hours: float     # train + dev + test audio the harness encodes once
    eval_every: int | None  # steps between dev evaluations (s3prl config)
    dev_hours: float        # audio of one evaluation
    head: str               # "pooled", "frames" or "dtw"
    folds: int = 1
    approximate: bool = False  # an input not sourced in this repository (see the note of the task)


# LibriSpeech train-clean-100 is 100.6 h in 28,539 utterances (12.7 s each); dev-clean and test-clean 5.4 h each.
# VoxCeleb1: 352 h in 153,516 utterances (8.25 s each). Speech Commands v0.01: about 65,000 one-second clips.
# Fluent Speech Commands: 19 h in 30,043 utterances (2.3 s). IEMOCAP's 4-class set: 5,531 utterances, about 7 h.
# Step counts, batches, accumulation and evaluation intervals: ../shared/reference/s3prl-recipes.md section 2.1.
RECIPES = (
    Recipe("PR", 100_000, 16 * 2, 12.7, 111.4, 1000, 5.4, "frames"),
    Recipe("ASR", 200_000, 16, 12.7, 111.4, 2000, 5.4, "frames"),
    Recipe("KS", 200_000, 32, 1.0, 18.8, 5000, 3.6, "pooled"),
    Recipe("QbE", 0, 0, 0.0, 23.0, None, 0.0, "dtw", approximate=True),  # all of QUESST14; the English part is less
    Recipe("SID", 200_000, 8 * 4, 8.0, 352.0, 5000, 34.0, "pooled"),
    Recipe("ASV", 200_000, 10 * 5, 8.0, 352.0, 20_000, 11.2, "frames"),
    Recipe("SD", 30_000, 8 * 4, 20.0, 80.0, 500, 11.0, "frames", approximate=True),  # Libri2Mix train-100/dev/test
    Recipe("ER", 30_000, 4 * 8, 4.5, 7.0, 1000, 1.4, "pooled", folds=5),
    Recipe("IC", 200_000, 32, 2.3, 19.2, 5000, 4.4, "pooled"),
    Recipe("SF", 200_000, 32, 3.0, 100.0, 2000, 2.5, "frames", approximate=True),  # Audio SNIPS: sizes not sourced here
)


def frame_cache_gb(hours: float, layers: int, hidden: int, fps: float, bytes_per_value: int = 2) -> float:
    return hours * 3600 * fps * layers * hidden * bytes_per_value / 1e9


def estimate(recipe: Recipe, audio_per_second: float, head_steps_per_s: float, cache_gb: float, max_gb: float,
             step_gb: float, read_gb_per_s: float) -> dict[str, float | str]:
    """``step_gb``: the frames one training step reads from a frame cache; ``read_gb_per_s``: how fast they come."""
    evaluations = 0 if recipe.eval_every is None else recipe.steps // recipe.eval_every
    s3prl_audio = recipe.folds * (recipe.steps * recipe.examples_per_step * recipe.seconds_per_example
                                  + evaluations * recipe.dev_hours * 3600)
    if recipe.head == "dtw":
        s3prl_audio = recipe.corpus_hours * 3600  # s3prl's QbE also encodes once
    s3prl_h = s3prl_audio / audio_per_second / 3600
    head_h = recipe.folds * recipe.steps / head_steps_per_s / 3600
    once_h = recipe.corpus_hours * 3600 / audio_per_second / 3600
    if recipe.head in ("pooled", "dtw") or cache_gb <= max_gb:
        reads_h = recipe.folds * recipe.steps * step_gb / read_gb_per_s / 3600 if recipe.head == "frames" else 0.0
        mode, ours_h = ("pooled cache" if recipe.head == "pooled" else "encode once" if recipe.head == "dtw"
                        else "frame cache"), once_h + max(head_h, reads_h)
    else:
        mode, ours_h = "in the loop", s3prl_h + head_h
    return {"mode": mode, "s3prl_h": s3prl_h + head_h, "ours_h": ours_h}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audio-per-second", type=float, default=1000.0,
                        help="encoder throughput R, seconds of audio per GPU-second (default 1000: an assumption)")
    parser.add_argument("--head-steps-per-s", type=float, default=300.0, help="head training steps per second on the GPU")
    parser.add_argument("--layers", type=int, default=25, help="hidden states kept in a frame cache (MERaLiON-2: 25)")
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--fps", type=float, default=25.0, help="frames per second (MERaLiON-2: 40 ms stride = 25)")
    parser.add_argument("--max-gb", type=float, default=64.0, help="cache.max_gb: the disk a frame cache may take")
    parser.add_argument("--read-gb-per-s", type=float, default=3.0,
                        help="frame cache read bandwidth (default 3: one NVMe SSD; the page cache only when it fits RAM)")
    args = parser.parse_args()
    print(f"R = {args.audio_per_second:g} s of audio per GPU-second, head {args.head_steps_per_s:g} steps/s, frame cache "
          f"{args.layers} x {args.hidden} fp16 at {args.fps:g} frames/s read at {args.read_gb_per_s:g} GB/s, "
          f"cache.max_gb {args.max_gb:g}")
    print(f"{'task':<5} {'steps':>8} {'audio/step s':>12} {'corpus h':>9} {'frame cache GB':>15} {'mode':>13} "
          f"{'s3prl GPU-h':>11} {'ours GPU-h':>10}")
    totals = [0.0, 0.0]
    for recipe in RECIPES:
        cache_gb = frame_cache_gb(recipe.corpus_hours, args.layers, args.hidden, args.fps) if recipe.head == "frames" else 0.0
        step_gb = frame_cache_gb(recipe.examples_per_step * recipe.seconds_per_example / 3600, args.layers, args.hidden, args.fps)
        row = estimate(recipe, args.audio_per_second, args.head_steps_per_s, cache_gb, args.max_gb, step_gb,
                       args.read_gb_per_s)
        totals[0] += row["s3prl_h"]
        totals[1] += row["ours_h"]
        mark = "~" if recipe.approximate else " "
        print(f"{recipe.task:<4}{mark} {recipe.steps:>8,} {recipe.examples_per_step * recipe.seconds_per_example:>12.0f} "
              f"{recipe.corpus_hours:>9.1f} {cache_gb if cache_gb else float('nan'):>15.0f} {row['mode']:>13} "
              f"{row['s3prl_h']:>11.1f} {row['ours_h']:>10.1f}")
    print(f"{'total':<5} {'':>8} {'':>12} {'':>9} {'':>15} {'':>13} {totals[0]:>11.1f} {totals[1]:>10.1f}")


if __name__ == "__main__":
    main()
