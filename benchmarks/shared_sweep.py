"""A learning-rate sweep with the encoder in the loop, trained side by side from one forward per step (the default)
against one rate at a time (`sweep.shared=false`, what s3prl does), on a HuBERT-Base-sized random encoder.

Both paths run `bench run --lr-sweep` on the same corpus with `cache.max_gb=0` (no frame cache: the encoder runs on
every training batch, as it does for every real corpus) and the same 3 learning rates; the records must be identical
(checked). Shared forwards save the encoder's training forwards: K heads cost one forward per step instead of K, so the
training ratio approaches K where the encoder dominates. Evaluation still encodes dev and test once per head on both
paths (during training every `eval_step`, and the final scoring), so the whole-run ratio is lower on a schedule whose
evaluations are a large share (superb-mini's: the recipes evaluate every 1,000-2,000 of 100k-200k steps).

    python benchmarks/shared_sweep.py                        # PR and ASR on superb-mini tiny, 10 steps of 4
    python benchmarks/shared_sweep.py --tasks pr --total-steps 100 --batch-size 16
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from workspace import scratch, superb_mini

from bench.runner import run_task
from upstream.base import Upstream
from upstream.registry import load_upstream
from upstream.testing import build_random_hubert_base

RATES = "[1e-4,1e-3,1e-2]"
COMPARED = ("metrics", "best_step", "dev_history", "layer_weights", "checkpoints")


def _train_seconds(output: Path) -> float:
    return sum(json.loads(path.read_text())["timings"]["train_s"] for path in output.glob("**/units/*/record.json"))


def _records(output: Path) -> dict[float, dict]:
    records = [json.loads(path.read_text()) for path in output.glob("**/units/*/record.json")]
    return {record["learning_rate"]: record for record in records}


@dataclass(frozen=True)
class SweepTiming:
    """Wall seconds of the whole `bench run --lr-sweep` and the sum of its units' training seconds, both ways."""

    seconds_alone: float
    seconds_shared: float
    train_alone: float
    train_shared: float

    @property
    def ratio(self) -> float:
        return self.seconds_alone / self.seconds_shared

    @property
    def train_ratio(self) -> float:
        return self.train_alone / self.train_shared


def compare(
    upstream: Upstream, task: str, data_root: Path, work: Path, steps: int, overrides: Sequence[str] = ()
) -> SweepTiming:
    """Run a 3-rate sweep of ``task`` with the encoder in the loop both ways; check that the records are identical."""
    schedule = [f"total_steps={steps}", f"eval_step={steps}", f"save_step={steps}", f"lr_sweep={RATES}"]
    schedule += ["cache.max_gb=0", *overrides]
    seconds, train = {}, {}
    for way, extra in (("shared", []), ("alone", ["sweep.shared=false"])):
        started = time.perf_counter()
        run_task(
            upstream,
            task,
            data_root,
            work / way,
            [0],
            lr_sweep=True,
            profile="mini",
            overrides=[*schedule, *extra],
            cache_root=work / "cache",
            progress=False,
        )
        seconds[way] = time.perf_counter() - started
        train[way] = _train_seconds(work / way / task)
    shared, alone = _records(work / "shared" / task), _records(work / "alone" / task)
    for lr, record in shared.items():
        if not all(record[key] == alone[lr][key] for key in COMPARED):
            raise AssertionError(f"{task} lr {lr}: the shared sweep's record differs from training that rate alone")
    return SweepTiming(seconds["alone"], seconds["shared"], train["alone"], train["shared"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=None, help="superb-mini root (default: generate tiny)")
    parser.add_argument("--tasks", default="pr,asr", help="in-loop frame tasks to sweep (default pr,asr)")
    parser.add_argument("--total-steps", type=int, default=10, help="training steps of every head (default 10)")
    parser.add_argument("--batch-size", type=int, default=4, help="training batch (default 4)")
    args = parser.parse_args()
    work = scratch("shared_sweep_")
    data_root = superb_mini(work, args.data_root)
    upstream = load_upstream(build_random_hubert_base(work / "hubert_base_random"))
    print(
        f"{upstream.name.split('/')[-1]} (HuBERT Base size, {upstream.num_hidden_states} hidden states) in the loop, "
        f"{data_root.name}, 3 learning rates {RATES}, {args.total_steps} steps of batch {args.batch_size} per head "
        f"(evaluated at the end), {torch.get_num_threads()} threads"
    )
    for task in args.tasks.split(","):
        timing = compare(upstream, task, data_root, work / task, args.total_steps, [f"batch_size={args.batch_size}"])
        print(
            f"  {task.upper()}: one rate at a time {timing.seconds_alone:.1f} s (training {timing.train_alone:.1f} s), "
            f"shared forwards {timing.seconds_shared:.1f} s (training {timing.train_shared:.1f} s); ratio "
            f"{timing.ratio:.2f}x whole run, {timing.train_ratio:.2f}x training (identical records)"
        )


if __name__ == "__main__":
    main()
