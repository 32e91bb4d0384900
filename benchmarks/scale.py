"""Cost against corpus size on CPU: does every stage of `bench run` grow at most linearly with the corpus?

Real SUPERB corpora are 100-1,000 times superb-mini (VoxCeleb1 153,516 utterances, LibriSpeech train-clean-100 28,539).
This script writes corpora in the real layouts at growing sizes, every audio file a hard link of one of a few short
clips (so 100,000 utterances cost inodes, not disk), and runs the harness's real code path on them with `fbank`:

- **SID** (VoxCeleb1 layout: ``iden_split.txt``, ``{dev,test}/wav/idXXXXX/<video>/NNNNN.wav``): listing the corpus and
  fingerprinting it (``TaskRun``: the reader, the missing-file check, the dataset fingerprint, the chance level), the
  pooled cache fill, training (``--steps`` steps, recipe batch size, one dev evaluation at the end) and the final
  dev + test scoring of the unit.
- **ASV** on the same corpus with a trial list of 8 trials per test utterance: reading the splits and trials (the
  reader reads every training file's header, as s3prl's length filter), then scoring every trial with cosine
  similarity of random 512-dim embeddings and the EER.
- **PR** (LibriSpeech layout, transcripts in CMUdict words) with the frame cache: listing and fingerprinting (with the
  phone lookup), the frame cache fill, training per step.

Each (task, size) runs in a fresh process, so its peak RSS is its own. Printed per size: the seconds of each stage,
training milliseconds per step, peak RSS, the cache's size on disk, and the growth exponent ``k`` of each stage between
consecutive sizes (time ~ size^k: 1 is linear; training per step should stay flat, ``k`` near 0).

    .venv/bin/python benchmarks/scale.py                       # SID/ASV at 1k, 10k, 100k; PR at 1k, 10k
    .venv/bin/python benchmarks/scale.py --sizes 1000,10000 --pr-sizes 1000 --steps 200
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
CLIP_SECONDS = (2.2, 2.6, 3.0, 3.4)  # a few distinct clips, each longer than ASV's 2 s training minimum
MIN_UTTERANCES_PER_SPEAKER = 8  # so that 10k and 100k utterances both have 1,250 speakers: equal heads
SPEAKERS = 1251  # VoxCeleb1's: the SID head (and its optimizer step) grows with the classes, so they stop growing here
TRIALS_PER_TEST_UTTERANCE = 8
WORDS = ("THE CAT SAT ON A MAT AND THE DOG RAN TO THE RED HOUSE WITH A SMALL GREEN BOX OF OLD BOOKS").split()


# ---- corpora in the real layouts -----------------------------------------------------------------------------------
def _clips(directory: Path, suffix: str) -> list[Path]:
    import soundfile

    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    clips = []
    for i, seconds in enumerate(CLIP_SECONDS):
        t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
        wave = 0.1 * np.sin(2 * np.pi * (150 + 40 * i) * t) + 0.02 * rng.standard_normal(len(t))
        path = directory / f"clip{i}{suffix}"
        soundfile.write(str(path), wave.astype(np.float32), SAMPLE_RATE)
        clips.append(path)
    return clips


def voxceleb1_corpus(root: Path, size: int) -> Path:
    """``size`` utterances of ``size / 8`` speakers (at most VoxCeleb1's 1,251); 2 speakers in 25 are verification test
    speakers (test/wav; VoxCeleb1 has 40 of 1,251); iden_split gives each speaker's utterances 90 / 4.5 / 5.5 % to
    train / dev / test."""
    done = root / "DONE"
    if done.is_file():
        return root
    shutil.rmtree(root, ignore_errors=True)
    clips = _clips(root / "_clips", ".wav")
    vox = root / "VoxCeleb1"
    speakers = min(SPEAKERS, max(10, size // MIN_UTTERANCES_PER_SPEAKER))
    split_lines, test_files = [], []
    for s in range(speakers):
        speaker = f"id{10001 + s}"
        folder = "test" if s % 25 in (0, 1) else "dev"
        for u in range(size // speakers + (1 if s < size % speakers else 0)):
            relative = f"{speaker}/vid{u // 5:05d}/{u % 5 + 1:05d}.wav"
            path = vox / folder / "wav" / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            os.link(clips[(s + u) % len(clips)], path)
            fraction = (u * 7919 % 1000) / 1000
            split_lines.append(f"{1 if fraction < 0.9 else 2 if fraction < 0.945 else 3} {relative}")
            if folder == "test":
                test_files.append(relative)
    (vox / "iden_split.txt").write_text("\n".join(split_lines) + "\n")
    rng = np.random.default_rng(1)
    by_speaker: dict[str, list[str]] = {}
    for relative in test_files:
        by_speaker.setdefault(relative.split("/")[0], []).append(relative)
    trials = []
    for _ in range(TRIALS_PER_TEST_UTTERANCE * len(test_files)):  # half of the partners from the same speaker
        a = test_files[rng.integers(len(test_files))]
        pool = by_speaker[a.split("/")[0]] if rng.random() < 0.5 else test_files
        b = pool[rng.integers(len(pool))]
        trials.append(f"{int(a.split('/')[0] == b.split('/')[0])} {a} {b}")
    (vox / "voxceleb1_test_v2.txt").write_text("\n".join(trials) + "\n")
    done.write_text(str(size))
    return root


def librispeech_corpus(root: Path, size: int) -> Path:
    """``size`` train-clean-100 utterances (plus 5 % as many in dev-clean and in test-clean), 50 per chapter."""
    done = root / "DONE"
    if done.is_file():
        return root
    shutil.rmtree(root, ignore_errors=True)
    clips = _clips(root / "_clips", ".flac")
    rng = np.random.default_rng(2)
    for folder, count in (
        ("train-clean-100", size),
        ("dev-clean", max(20, size // 20)),
        ("test-clean", max(20, size // 20)),
    ):
        for start in range(0, count, 50):
            speaker, chapter = 100 + start // 50, 1000 + start // 50
            directory = root / "LibriSpeech" / folder / str(speaker) / str(chapter)
            directory.mkdir(parents=True, exist_ok=True)
            lines = []
            for u in range(start, min(count, start + 50)):
                uid = f"{speaker}-{chapter}-{u - start:04d}"
                os.link(clips[u % len(clips)], directory / f"{uid}.flac")
                lines.append(f"{uid} {' '.join(rng.choice(WORDS, size=4 + u % 3))}")
            (directory / f"{speaker}-{chapter}.trans.txt").write_text("\n".join(lines) + "\n")
    done.write_text(str(size))
    return root


# ---- one measurement, in its own process ---------------------------------------------------------------------------
def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def measure_trained(task_name: str, data_root: Path, work: Path, steps: int) -> dict:
    """Listing + fingerprint, cache fill, training and scoring of one unit of ``task_name`` with fbank."""
    from bench.runner import TaskRun
    from downstream_tasks import get_task
    from upstream.registry import load_upstream

    upstream = load_upstream("fbank", device="cpu")
    cache = work / f"cache-{task_name}"
    shutil.rmtree(cache, ignore_errors=True)
    overrides = [f"total_steps={steps}", f"eval_step={steps}", f"save_step={steps}"]
    if task_name == "pr":  # the generated transcripts are CMUdict words: CMUdict stands in for s3prl's G2P lexicons
        overrides.append("data.lexicon_fallback=cmudict")
    started = time.perf_counter()
    run = TaskRun.prepare(
        upstream, get_task(task_name), data_root, work / f"runs-{task_name}", "superb", overrides, cache, False
    )
    listing = time.perf_counter() - started
    fill_started = time.perf_counter()
    run.fill_cache()
    fill = time.perf_counter() - fill_started
    unit = run.prepared.unit(None, 0, float(run.prepared.config.optimizer.lr))
    record = run.run_unit(unit, force=True)
    splits = record.splits
    # train_s holds the steps and one dev evaluation (at the last step); the final scoring (eval_s) scores dev and
    # test once more, so one dev evaluation is about eval_s * dev / (dev + test)
    dev_eval = record.timings["eval_s"] * splits["dev"] / max(1, splits["dev"] + splits["test"])
    return {
        "utterances": sum(splits.values()),
        "listing_s": listing,
        "fill_s": fill,
        "train_ms_per_step": 1000 * max(0.0, record.timings["train_s"] - dev_eval) / steps,
        "eval_s": record.timings["eval_s"],
        "cache_mb": _du(cache) / 1e6,
        "feature_mode": record.feature_mode,
    }


def measure_asv(data_root: Path) -> dict:
    """ASV's reader (splits, headers, trial list) and the scoring of every test trial (cosine, EER)."""
    import torch

    from bench.config import load_task_config
    from downstream_tasks import get_task
    from downstream_tasks.asv import score_trials
    from downstream_tasks.metrics.detection import equal_error_rate
    from upstream.registry import load_upstream

    equal_error_rate([0, 1, 1], [0.1, 0.2, 0.9])  # imports scikit-learn now, not inside the timed scoring
    task = get_task("asv")
    task.prepare(load_upstream("fbank", device="cpu").info())  # ASV keeps the upstream's frame stride
    started = time.perf_counter()
    data = task.load(data_root, None, load_task_config("asv", "superb"))
    listing = time.perf_counter() - started
    utterances, trials = data.splits["test"], data.trials["test"]
    embeddings = torch.nn.functional.normalize(
        torch.randn(len(utterances), 512, generator=torch.Generator().manual_seed(0)), dim=1
    )
    started = time.perf_counter()
    scores = score_trials(embeddings, {u.uid: i for i, u in enumerate(utterances)}, trials).tolist()
    eer = equal_error_rate([trial.label for trial in trials], scores)
    scoring = time.perf_counter() - started
    return {
        "utterances": sum(len(split) for split in data.splits.values()),
        "trials": len(trials),
        "listing_s": listing,
        "scoring_s": scoring,
        "eer": eer,
    }


def child(args: argparse.Namespace) -> None:
    import torch

    torch.manual_seed(0)
    work = Path(args.work)
    if args.task == "pr":
        data_root = librispeech_corpus(work / f"librispeech-{args.size}", args.size)
    else:
        data_root = voxceleb1_corpus(work / f"voxceleb1-{args.size}", args.size)
    result = measure_asv(data_root) if args.task == "asv" else measure_trained(args.task, data_root, work, args.steps)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # the resident set at the end, split: anonymous memory (the process's own) and file pages (the memory-mapped
    # cache, which the kernel may drop at any time); the peak above counts both
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    result["rss_anon_mb"] = int(status.get("RssAnon", "0 kB").split()[0]) / 1024
    result["rss_file_mb"] = int(status.get("RssFile", "0 kB").split()[0]) / 1024
    print("RESULT " + json.dumps(result), flush=True)


# ---- the driver ----------------------------------------------------------------------------------------------------
STAGES = {
    "sid": ("listing_s", "fill_s", "train_ms_per_step", "eval_s", "peak_rss_mb", "rss_anon_mb", "cache_mb"),
    "asv": ("listing_s", "scoring_s", "peak_rss_mb", "rss_anon_mb"),
    "pr": ("listing_s", "fill_s", "train_ms_per_step", "eval_s", "peak_rss_mb", "rss_anon_mb", "cache_mb"),
}


def run_child(task: str, size: int, work: Path, steps: int) -> dict:
    started = time.perf_counter()
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            "--task",
            task,
            "--size",
            str(size),
            "--work",
            str(work),
            "--steps",
            str(steps),
        ],
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise SystemExit(f"{task} at {size}: failed\n{out.stderr[-3000:]}")
    line = next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    result["wall_s"] = time.perf_counter() - started
    return result


def exponent(small: float, large: float, n_small: int, n_large: int) -> float:
    if small <= 0 or large <= 0:
        return math.nan
    return math.log(large / small) / math.log(n_large / n_small)


def table(task: str, sizes: list[int], results: list[dict]) -> str:
    stages = STAGES[task]
    header = ["size", "utterances", *(["trials"] if task == "asv" else []), *stages]
    lines = [" | ".join(header)]
    for size, result in zip(sizes, results):
        cells = [str(size), str(result["utterances"]), *([str(result["trials"])] if task == "asv" else [])]
        cells += [f"{result[stage]:.3f}" if stage.endswith("_s") else f"{result[stage]:.1f}" for stage in stages]
        lines.append(" | ".join(cells))
    for (n1, r1), (n2, r2) in zip(zip(sizes, results), zip(sizes[1:], results[1:])):
        cells = [f"k {n1}->{n2}", "", *([""] if task == "asv" else [])]
        cells += [f"{exponent(r1[stage], r2[stage], r1['utterances'], r2['utterances']):.2f}" for stage in stages]
        lines.append(" | ".join(cells))
    widths = [max(len(line.split(" | ")[i]) for line in lines) for i in range(len(header))]
    return "\n".join(" | ".join(cell.rjust(width) for cell, width in zip(line.split(" | "), widths)) for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000", help="VoxCeleb1-layout corpus sizes for SID and ASV")
    parser.add_argument("--pr-sizes", default="1000,10000", help="LibriSpeech-layout sizes for PR with the frame cache")
    parser.add_argument("--steps", type=int, default=500, help="training steps per unit")
    parser.add_argument(
        "--work", type=Path, default=None, help="where corpora and caches go (default: a temp dir, removed)"
    )
    parser.add_argument("--tasks", default="sid,asv,pr")
    parser.add_argument("--json", type=Path, default=None, help="also write the measurements here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--task", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench_scale_"))
    measured: dict[str, dict] = {}
    try:
        for task in args.tasks.split(","):
            sizes = [int(s) for s in (args.pr_sizes if task == "pr" else args.sizes).split(",")]
            results = []
            for size in sizes:
                results.append(run_child(task, size, work, args.steps))
                print(
                    f"{task} {size}: "
                    f"{json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in results[-1].items()})}",
                    flush=True,
                )
            measured[task] = {"sizes": sizes, "results": results}
            print(
                f"\n{task.upper()} (fbank, {args.steps} steps; seconds unless named; k = growth exponent between sizes)"
            )
            print(table(task, sizes, results) + "\n", flush=True)
    finally:
        if args.json:
            args.json.write_text(json.dumps(measured, indent=2))
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
