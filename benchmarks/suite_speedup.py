"""`bench suite` on a local Ray instance: wall time with 1 worker vs 2 (or any list of worker counts).

Each measurement runs the same suite from scratch (fresh output folder and feature cache): the sharded feature
extraction, every unit, the summaries, and the Ray start. Every job requests 1 CPU, so N workers means N jobs at
once (Ray gives each job one thread). Prints the wall time, the summed job time and the speed-up over the first
count. On a machine shared with other work the numbers move with its load, printed beside them.

    .venv/bin/python benchmarks/suite_speedup.py [--data-root DIR] [--workers 1,2] [--upstreams fbank,fbank_no_cmvn]
        [--tasks ks,sid,ic] [--seeds 2] [key=value ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from bench.executors import RayExecutor
from bench.suite import SuiteSpec, run_suite, state_dir


def measure(data_root: Path, work: Path, workers: int, args: argparse.Namespace) -> dict:
    output, cache = work / f"runs_{workers}", work / f"cache_{workers}"
    shutil.rmtree(output, ignore_errors=True)
    shutil.rmtree(cache, ignore_errors=True)
    spec = SuiteSpec(
        upstreams=tuple(args.upstreams.split(",")),
        tasks=tuple(args.tasks.split(",")),
        data_root=data_root,
        output=output,
        seeds=tuple(range(args.seeds)),
        profile="mini",
        overrides=tuple(args.overrides),
        cache_root=cache,
        device="cpu",
        threads=1,
    )
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    outcome = run_suite(spec, RayExecutor(num_cpus=workers, cpus_per_job=1), progress=False)
    wall = time.perf_counter() - started
    if outcome.failed_jobs or outcome.failed_groups:
        raise SystemExit(f"the suite failed: {outcome.failed_jobs or outcome.failed_groups}")
    jobs = json.loads((state_dir(output) / "state.json").read_text())["jobs"]
    metrics = {(r.task, r.upstream_name): r.metrics[r.metric.name] for r in outcome.results}
    return {
        "workers": workers,
        "wall_s": wall,
        "job_s": sum(job["seconds"] for job in jobs),
        "jobs": len(jobs),
        "load": (load_before, os.getloadavg()[0]),
        "metrics": metrics,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data-root", type=Path, default=None, help="superb-mini root (default: generate size tiny in a temp dir)"
    )
    parser.add_argument("--workers", default="1,2", help="worker counts to compare (default: 1,2)")
    parser.add_argument("--upstreams", default="fbank,fbank_no_cmvn")
    parser.add_argument("--tasks", default="ks,sid,ic")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument(
        "overrides", nargs="*", default=None, help="config overrides (default: total_steps=200 eval_step=100)"
    )
    args = parser.parse_args()
    args.overrides = args.overrides or ["total_steps=200", "eval_step=100"]
    work = Path(tempfile.mkdtemp(prefix="suite_speedup_"))
    data_root = args.data_root
    if data_root is None:
        from bench.superb_mini import generate_corpus

        data_root = generate_corpus(work / "superb-mini", seed=0, size="tiny", progress=False)
    print(
        f"suite: {args.upstreams} x {args.tasks} x {args.seeds} seeds on {data_root}, {' '.join(args.overrides)}; "
        f"{os.cpu_count()} CPUs"
    )
    rows = [measure(data_root, work, int(count), args) for count in args.workers.split(",")]
    base = rows[0]
    assert all(row["metrics"] == base["metrics"] for row in rows), "the records differ between worker counts"
    print(f"{'workers':>7} {'jobs':>5} {'wall s':>8} {'job s':>8} {'speed-up':>8}  load (before, after)")
    for row in rows:
        print(
            f"{row['workers']:>7} {row['jobs']:>5} {row['wall_s']:>8.1f} {row['job_s']:>8.1f} "
            f"{base['wall_s'] / row['wall_s']:>7.2f}x  {row['load'][0]:.1f}, {row['load'][1]:.1f}"
        )
    print("identical metrics for every worker count")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
