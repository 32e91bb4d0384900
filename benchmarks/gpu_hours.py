"""GPU-hours of the ten SUPERB tasks at the recipes' step counts.

s3prl's encoder-every-step cost against this harness's. An estimate, not a measurement: it multiplies the audio each
path sends through the encoder by the encoder's throughput ``R`` (seconds of audio per GPU-second;
`benchmarks/gpu_check.sh` measures it for a HuBERT-Large-sized encoder, and a 630M encoder such as
MERaLiON-SpeechEncoder-2 does about twice that compute per second of audio), and adds the head's training steps at
``--head-steps-per-s``. An encoder call costs at least ``--call-floor-s`` however little audio it gets (kernel launches
bound a forward of a few seconds of audio). Inputs that are not sourced in the repository are marked ``~`` in the table.

- s3prl: every training step encodes ``batch x grad_acc`` examples of the recipe's length (SID/ASV: the utterance up to
  its 8 s crop; SD: 20 s chunks; the others: the corpus's mean utterance), and every evaluation encodes its split again.
- this harness, pooled tasks (KS, SID, ER, IC) and QbE: one encoder pass over the corpus, then head steps on the cache.
- this harness, frame tasks (PR, ASR, SF, ASV, SD): one pass when the frame cache fits ``cache.max_gb`` (its size is in
  the table, for ``--layers`` hidden states of ``--hidden`` dims in fp16 at ``--fps`` frames per second), else the
  encoder runs in the loop as in s3prl. A frame-cache step costs the larger of the head step and reading its frames
  (``--read-gb-per-s``): at all 25 layers a PR step reads about 0.5 GB.
- the recipes' random crops (SID and ASV: 8 s of a training utterance longer than that; KS: 1 s of every `_silence_`
  item, in training and in every dev evaluation) are encoded alone in the loop, as s3prl does
  (``data.crop_mode=waveform``, the default): each training step then also encodes its cropped examples, one call per
  micro-batch that has any, and what is only ever cropped is not cached. Column ``before`` is the opt-in approximation
  (``data.crop_mode=block_mean`` or ``frames``), which needs no encoder after the cache; before the exact crops, ASV in
  the loop also encoded its long training utterances whole.

VoxCeleb1's utterance lengths: a shifted log-normal (shift 3.28 s, log-mean 1.170, log-sd 0.952) fitted to the 10/20/80/
90% quantiles (4.28, 4.68, 10.56, 14.24 s) and mean (8.24 s) of 145,160 VoxCeleb1 utterances as measured in
nikvaessen/disjoint-mtl `data_utility/stats/vox1_test_e.txt` (the fit gives 4.23, 4.73, 10.46, 14.20 s and 8.35 s).
From it, 34.4% of utterances are longer than 8 s and carry 58% of the audio, and s3prl encodes 6.38 s per example on
average. SID's and ASV's training sets are assumed to follow it, ASV's after trimming silence as well.

    .venv/bin/python benchmarks/gpu_hours.py [--audio-per-second 1000] [--max-gb 64]
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from statistics import NormalDist

# VoxCeleb1 utterance length d = SHIFT + LogNormal(MU, SIGMA) seconds (see the module docstring for the fit)
VOX_SHIFT_S, VOX_MU, VOX_SIGMA = 3.28, 1.170, 0.952
RECIPE_CROP_S = 8.0  # SID's and ASV's max_timestep 128000 samples
KS_CLASSES = 12  # the balanced sampler draws each class, `_silence_` included, with probability 1/12


def vox_share_longer(seconds: float) -> float:
    """P(d > seconds)."""
    return 1.0 - NormalDist(VOX_MU, VOX_SIGMA).cdf(math.log(seconds - VOX_SHIFT_S))


def vox_mean_up_to(seconds: float) -> float:
    """E[min(d, seconds)]: what s3prl encodes per training example with crops of ``seconds``."""
    k = seconds - VOX_SHIFT_S
    below = math.exp(VOX_MU + VOX_SIGMA**2 / 2) * NormalDist().cdf((math.log(k) - VOX_MU - VOX_SIGMA**2) / VOX_SIGMA)
    return VOX_SHIFT_S * (1 - vox_share_longer(seconds)) + below + seconds * vox_share_longer(seconds)


def vox_mean() -> float:
    return VOX_SHIFT_S + math.exp(VOX_MU + VOX_SIGMA**2 / 2)


def vox_audio_share_longer(seconds: float) -> float:
    """The share of the audio in utterances longer than ``seconds``: E[d 1(d > s)] / E[d]."""
    k = seconds - VOX_SHIFT_S
    tail = math.exp(VOX_MU + VOX_SIGMA**2 / 2) * (
        1 - NormalDist().cdf((math.log(k) - VOX_MU - VOX_SIGMA**2) / VOX_SIGMA)
    )
    return (VOX_SHIFT_S * vox_share_longer(seconds) + tail) / vox_mean()


@dataclass(frozen=True)
class Crops:
    """The random crops a recipe encodes alone: ``share`` of the training examples are cropped to ``seconds`` in the
    loop; each evaluation encodes ``eval_seconds`` of crops; ``uncached_hours`` of audio is only ever cropped."""

    seconds: float
    share: float
    eval_seconds: float = 0.0
    uncached_hours: float = 0.0


@dataclass(frozen=True)
class Recipe:
    task: str
    steps: int  # s3prl config total_steps
    batch_size: int  # s3prl config batch size (one encoder call)
    accumulate: int  # s3prl config gradient accumulation
    seconds_per_example: float  # what s3prl encodes per training example
    corpus_hours: float  # train + dev + test audio the harness encodes once
    eval_every: int | None  # steps between dev evaluations (s3prl config)
    dev_hours: float  # audio of one evaluation
    head: str  # "pooled", "frames" or "dtw"
    folds: int = 1
    approximate: bool = False  # an input not sourced in this repository (see the note of the task)
    crops: Crops | None = None
    whole_seconds_per_example: float | None = None  # an in-loop unit that encodes its training utterances whole

    @property
    def examples_per_step(self) -> int:
        return self.batch_size * self.accumulate


# LibriSpeech train-clean-100 is 100.6 h in 28,539 utterances (12.7 s each); dev-clean and test-clean 5.4 h each.
# VoxCeleb1: 352 h in 153,516 utterances (8.25 s each; SID trains on 138,361 of them, ASV on the dev/wav folder's
# 148,642). Speech Commands v0.01: about 65,000 one-second clips. Fluent Speech Commands: 19 h in 30,043 utterances
# (2.3 s). IEMOCAP's 4-class set: 5,531 utterances, about 7 h.
# Step counts, batches, accumulation and evaluation intervals: ../shared/reference/s3prl-recipes.md section 2.1.
VOX_PER_EXAMPLE = vox_mean_up_to(RECIPE_CROP_S)
VOX_LONG_SHARE = vox_share_longer(RECIPE_CROP_S)
SID_TRAIN_HOURS = 352.0 * 138_361 / 153_516
ASV_TRAIN_HOURS = 352.0 * 148_642 / 153_516
RECIPES = (
    Recipe("PR", 100_000, 16, 2, 12.7, 111.4, 1000, 5.4, "frames"),
    Recipe("ASR", 200_000, 16, 1, 12.7, 111.4, 2000, 5.4, "frames"),
    Recipe(
        "KS",
        200_000,
        32,
        1,
        1.0,
        18.8,
        5000,
        3.6,
        "pooled",
        crops=Crops(1.0, 1 / KS_CLASSES, eval_seconds=3.6 * 3600 / KS_CLASSES),
    ),
    Recipe("QbE", 0, 0, 0, 0.0, 23.0, None, 0.0, "dtw", approximate=True),  # all of QUESST14; the English part is less
    Recipe(
        "SID",
        200_000,
        8,
        4,
        VOX_PER_EXAMPLE,
        352.0,
        5000,
        34.0,
        "pooled",
        crops=Crops(
            RECIPE_CROP_S, VOX_LONG_SHARE, uncached_hours=SID_TRAIN_HOURS * vox_audio_share_longer(RECIPE_CROP_S)
        ),
    ),
    Recipe(
        "ASV",
        200_000,
        10,
        5,
        VOX_PER_EXAMPLE,
        352.0,
        20_000,
        11.2,
        "frames",
        crops=Crops(
            RECIPE_CROP_S, VOX_LONG_SHARE, uncached_hours=ASV_TRAIN_HOURS * vox_audio_share_longer(RECIPE_CROP_S)
        ),
        whole_seconds_per_example=vox_mean(),
    ),
    Recipe("SD", 30_000, 8, 4, 20.0, 80.0, 500, 11.0, "frames", approximate=True),  # Libri2Mix train-100/dev/test
    Recipe("ER", 30_000, 4, 8, 4.5, 7.0, 1000, 1.4, "pooled", folds=5),
    Recipe("IC", 200_000, 32, 1, 2.3, 19.2, 5000, 4.4, "pooled"),
    Recipe(
        "SF", 200_000, 32, 1, 3.0, 100.0, 2000, 2.5, "frames", approximate=True
    ),  # Audio SNIPS: sizes not sourced here
)


def frame_cache_gb(hours: float, layers: int, hidden: int, fps: float, bytes_per_value: int = 2) -> float:
    return hours * 3600 * fps * layers * hidden * bytes_per_value / 1e9


def call_seconds(audio_seconds: float, audio_per_second: float, floor_s: float) -> float:
    return max(audio_seconds / audio_per_second, floor_s)


def crop_calls_seconds(recipe: Recipe, audio_per_second: float, floor_s: float) -> float:
    """GPU-seconds of the training crops of one fold: per micro-batch, k ~ Binomial(batch, share) crops in one call."""
    assert recipe.crops is not None
    per_call = sum(
        math.comb(recipe.batch_size, k)
        * recipe.crops.share**k
        * (1 - recipe.crops.share) ** (recipe.batch_size - k)
        * call_seconds(k * recipe.crops.seconds, audio_per_second, floor_s)
        for k in range(1, recipe.batch_size + 1)
    )
    return recipe.steps * recipe.accumulate * per_call


def estimate(
    recipe: Recipe,
    audio_per_second: float,
    head_steps_per_s: float,
    layers: int,
    hidden: int,
    fps: float,
    max_gb: float,
    read_gb_per_s: float,
    floor_s: float,
    sweep: int = 1,
) -> dict[str, float | str]:
    """s3prl's GPU-hours, this harness's with the approximated crops (``before``) and with the recipe's (``exact``);
    for a sweep of ``sweep`` learning rates: s3prl's (``s3prl_sweep_h``, every rate a whole run) and this harness's,
    one rate at a time (``<version>_sweep_h``) and side by side from shared forwards (``<version>_shared_h``). A
    protocol without training (QbE) has nothing to sweep."""
    if recipe.head == "dtw":
        sweep = 1
    evaluations = 0 if recipe.eval_every is None else recipe.steps // recipe.eval_every
    eval_s = evaluations * recipe.dev_hours * 3600 / audio_per_second

    def in_loop_s(seconds_per_example: float) -> float:
        calls = recipe.steps * recipe.accumulate
        return calls * call_seconds(recipe.batch_size * seconds_per_example, audio_per_second, floor_s) + eval_s

    s3prl_s = recipe.folds * in_loop_s(recipe.seconds_per_example)
    if recipe.head == "dtw":
        s3prl_s = recipe.corpus_hours * 3600 / audio_per_second  # s3prl's QbE also encodes once
    head_s = recipe.folds * recipe.steps / head_steps_per_s
    step_gb = frame_cache_gb(recipe.examples_per_step * recipe.seconds_per_example / 3600, layers, hidden, fps)
    reads_s = recipe.folds * recipe.steps * step_gb / read_gb_per_s if recipe.head == "frames" else 0.0
    crops = recipe.crops
    cached_hours = {
        "before": recipe.corpus_hours,
        "exact": recipe.corpus_hours - (crops.uncached_hours if crops else 0.0),
    }
    row: dict[str, float | str] = {
        "s3prl_h": (s3prl_s + head_s) / 3600,
        "s3prl_sweep_h": sweep * (s3prl_s + head_s) / 3600,
    }
    for version, hours in cached_hours.items():
        # seconds paid once (the cache's encoder pass), by the training steps' encoder calls (shared by a sweep's heads
        # side by side), and by each head (its steps, frame reads and evaluations: a sweep pays them per head)
        cache_gb = frame_cache_gb(hours, layers, hidden, fps) if recipe.head == "frames" else 0.0
        if recipe.head in ("pooled", "dtw") or cache_gb <= max_gb:
            mode = (
                "pooled cache" if recipe.head == "pooled" else "encode once" if recipe.head == "dtw" else "frame cache"
            )
            once, steps_s, per_head = hours * 3600 / audio_per_second, 0.0, max(head_s, reads_s)
            if version == "exact" and crops is not None:
                steps_s = recipe.folds * crop_calls_seconds(recipe, audio_per_second, floor_s)
                per_head += recipe.folds * evaluations * call_seconds(crops.eval_seconds, audio_per_second, floor_s)
                mode += " + crops"
        else:
            mode = "in the loop"
            whole = recipe.whole_seconds_per_example if version == "before" else None
            once, steps_s = 0.0, recipe.folds * (in_loop_s(whole or recipe.seconds_per_example) - eval_s)
            per_head = recipe.folds * eval_s + head_s
        row[f"{version}_mode"], row[f"{version}_cache_gb"] = mode, cache_gb
        row[f"{version}_h"] = (once + steps_s + per_head) / 3600
        row[f"{version}_sweep_h"] = (once + sweep * (steps_s + per_head)) / 3600  # one rate at a time
        row[f"{version}_shared_h"] = (once + steps_s + sweep * per_head) / 3600  # side by side (sweep.shared)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--audio-per-second",
        type=float,
        default=1000.0,
        help="encoder throughput R, seconds of audio per GPU-second (default 1000: an assumption)",
    )
    parser.add_argument(
        "--head-steps-per-s", type=float, default=300.0, help="head training steps per second on the GPU"
    )
    parser.add_argument(
        "--call-floor-s",
        type=float,
        default=0.01,
        help="the least GPU time of one encoder call, however short its audio (default 0.01: an assumption)",
    )
    parser.add_argument("--layers", type=int, default=25, help="hidden states kept in a frame cache (MERaLiON-2: 25)")
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--fps", type=float, default=25.0, help="frames per second (MERaLiON-2: 40 ms stride = 25)")
    parser.add_argument("--max-gb", type=float, default=64.0, help="cache.max_gb: the disk a frame cache may take")
    parser.add_argument(
        "--read-gb-per-s",
        type=float,
        default=3.0,
        help="frame cache read bandwidth (default 3: one NVMe SSD; the page cache only when it fits RAM)",
    )
    parser.add_argument(
        "--sweep",
        type=int,
        default=1,
        help="learning rates per task (default 1; the recipes' lr_sweep has 3 to 4): prices s3prl's sweep, this "
        "harness's one rate at a time (sweep.shared=false) and its heads side by side from shared forwards",
    )
    args = parser.parse_args()
    print(
        f"R = {args.audio_per_second:g} s of audio per GPU-second (a call at least {args.call_floor_s:g} s), head "
        f"{args.head_steps_per_s:g} steps/s, frame cache {args.layers} x {args.hidden} fp16 at {args.fps:g} frames/s "
        f"read at {args.read_gb_per_s:g} GB/s, cache.max_gb {args.max_gb:g}"
    )
    print(
        f"VoxCeleb1 (fitted lengths): {100 * VOX_LONG_SHARE:.1f}% of utterances are longer than {RECIPE_CROP_S:g} s, "
        f"with {100 * vox_audio_share_longer(RECIPE_CROP_S):.0f}% of the audio; s3prl encodes {VOX_PER_EXAMPLE:.2f} s "
        f"per example; KS crops 1 in {KS_CLASSES} examples"
    )
    columns = (
        (("s3prl_h", "s3prl GPU-h"), ("before_h", "before GPU-h"), ("exact_h", "exact GPU-h"))
        if args.sweep == 1
        else (
            ("s3prl_sweep_h", f"s3prl x{args.sweep} GPU-h"),
            ("exact_sweep_h", "one at a time GPU-h"),
            ("exact_shared_h", "shared fwd GPU-h"),
        )
    )
    if args.sweep > 1:
        print(
            f"a sweep of {args.sweep} learning rates per task (exact crops): s3prl trains each rate as a whole run; "
            "here one at a time (sweep.shared=false) or side by side from one encoder forward per step (the default)"
        )
    header = " ".join(f"{title:>{max(11, len(title))}}" for _, title in columns)
    print(f"{'task':<5} {'steps':>8} {'audio/step s':>12} {'corpus h':>9} {'frame cache GB':>15} {'mode':>20} {header}")
    totals = [0.0] * len(columns)
    for recipe in RECIPES:
        row = estimate(
            recipe,
            args.audio_per_second,
            args.head_steps_per_s,
            args.layers,
            args.hidden,
            args.fps,
            args.max_gb,
            args.read_gb_per_s,
            args.call_floor_s,
            sweep=args.sweep,
        )
        for column, (key, _) in enumerate(columns):
            totals[column] += float(row[key])
        mark = "~" if recipe.approximate else " "
        cache_gb = float(row["exact_cache_gb"])
        values = " ".join(f"{float(row[key]):>{max(11, len(title))}.1f}" for key, title in columns)
        print(
            f"{recipe.task:<4}{mark} {recipe.steps:>8,} {recipe.examples_per_step * recipe.seconds_per_example:>12.0f} "
            f"{recipe.corpus_hours:>9.1f} {cache_gb if cache_gb else float('nan'):>15.0f} {row['exact_mode']:>20} "
            f"{values}"
        )
    total_values = " ".join(f"{total:>{max(11, len(title))}.1f}" for total, (_, title) in zip(totals, columns))
    print(f"{'total':<5} {'':>8} {'':>12} {'':>9} {'':>15} {'':>20} {total_values}")


if __name__ == "__main__":
    main()
