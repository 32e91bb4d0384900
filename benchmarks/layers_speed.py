"""`bench layers` against L separate per-layer runs, on a HuBERT-Base-sized random encoder (13 hidden states).

`bench layers` encodes the pooled cache once and trains L probe heads from it (plus the weighted sum). A per-layer
probe done the usual way, one `bench run --layer L` per layer each with its own encoder pass (s3prl's runner has no
feature cache; here each separate run gets a fresh cache directory), pays the encoder L times. Both paths run the
same heads with the same schedule, so the ratio is (encoder + L heads) against L x (encoder + head): close to L where
the encoder dominates (real corpora: KS has 51k training utterances), lower where the heads do (superb-mini's few
hundred clips with long schedules). The script prints both times, the ratio, and how much of the separate runs was
encoding.

    python benchmarks/layers_speed.py                       # superb-mini tiny, IC, every layer, 100-step heads
    python benchmarks/layers_speed.py --layers 0,4,8,12 --total-steps 300
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from workspace import scratch, superb_mini

from bench.layers import parse_layers, probe_plan, run_layers
from bench.runner import run_task
from upstream.registry import load_upstream
from upstream.testing import build_random_hubert_base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, default=None, help="superb-mini root (default: generate tiny)")
    parser.add_argument(
        "--task",
        default="ic",
        help="a pooled task (default ic; ks and sid also run the encoder in the loop for their recipes' random crops "
        "of long clips, KS's silence windows and SID's 8 s crops, on both paths alike)",
    )
    parser.add_argument("--layers", default="all", help="hidden states to probe (default: all 13)")
    parser.add_argument("--total-steps", type=int, default=100, help="head training steps of every run")
    args = parser.parse_args()
    work = scratch("layers_speed_")
    data_root = superb_mini(work, args.data_root)
    upstream = load_upstream(build_random_hubert_base(work / "hubert_base_random"))
    plan = probe_plan(upstream, [args.task], parse_layers(args.layers, upstream.num_hidden_states))
    layers = plan[args.task]
    steps = max(10, args.total_steps // 2)
    schedule = [f"total_steps={args.total_steps}", f"eval_step={steps}", f"save_step={steps}"]

    def runner(output: Path, cache: Path):
        def run(task: str, overrides):
            return run_task(
                upstream,
                task,
                data_root,
                output,
                [0],
                profile="mini",
                overrides=overrides,
                cache_root=cache,
                progress=False,
            )

        return run

    started = time.perf_counter()
    results = run_layers(plan, runner(work / "shared", work / "shared-cache"), schedule)
    shared = time.perf_counter() - started
    weighted, probes = results[args.task]
    shared_encoding = weighted.timings["extract_s"]

    separate, separate_encoding = 0.0, 0.0
    for layer in layers:
        started = time.perf_counter()
        record = runner(work / "separate", work / f"cache-{layer}")(args.task, [*schedule, f"featurizer.layer={layer}"])
        separate += time.perf_counter() - started
        separate_encoding += record.timings["extract_s"]
        assert record.metrics == probes[layer].metrics, "a probe must not depend on how its cache was filled"

    print(
        f"{upstream.name.split('/')[-1]} (HuBERT Base size, {upstream.num_hidden_states} hidden states), "
        f"{args.task.upper()} on {data_root.name}, {len(layers)} layers, {args.total_steps}-step heads, "
        f"{torch.get_num_threads()} threads"
    )
    print(
        f"  bench layers (one encoder pass, {len(layers)} probes + the weighted sum): {shared:.1f} s, "
        f"of which encoding {shared_encoding:.1f} s"
    )
    print(
        f"  {len(layers)} separate runs (an encoder pass each): {separate:.1f} s, of which encoding "
        f"{separate_encoding:.1f} s ({100 * separate_encoding / separate:.0f} %)"
    )
    print(f"  ratio separate / bench layers: {separate / shared:.2f}x (identical probe metrics on both paths)")


if __name__ == "__main__":
    main()
