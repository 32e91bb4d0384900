"""Does resemblyzer beat FBANK on ASV once superb-mini has more speakers? (issue 14)

Builds only superb-mini's VoxCeleb1 layout at a chosen number of dev (training) and test speakers, runs `bench run
--task asv` for `fbank` and `resemblyzer` through the real code path, and scores resemblyzer's own utterance
embeddings (`VoiceEncoder.embed_utterance`, cosine, no training: the encoder's intended use) on the same trials.

    .venv/bin/python benchmarks/asv_more_speakers.py --dev-speakers 60 --test-speakers 16 --steps 400 --seeds 3

Prints one line per system: test EER (mean ± std over seeds).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def build_voxceleb(out: Path, dev: int, test: int) -> dict:
    from bench.superb_mini import voxceleb1
    from bench.superb_mini.atomic import write_text
    from bench.superb_mini.plan import BuildContext
    from bench.superb_mini.runner import make_pool, run_jobs
    from bench.superb_mini.sizes import get_size

    spec = dataclasses.replace(get_size("small"), vox_dev_speakers=dev, vox_test_speakers=test)
    plan = voxceleb1.plan(BuildContext(seed=0, size=spec))
    pool = make_pool(2)
    try:
        results = run_jobs(plan.jobs, out, out / "journal.jsonl", pool, True, desc="superb-mini voxceleb1")
    finally:
        pool.shutdown()
    labels = plan.write_labels(results)
    for rel, text in labels.files.items():
        write_text(out / rel, text)
    return labels.counts


def embedding_eer(root: Path) -> float:
    import soundfile
    from resemblyzer import VoiceEncoder, preprocess_wav

    from downstream_tasks.metrics.detection import equal_error_rate

    vox = root / "VoxCeleb1"
    trials = [line.split() for line in (vox / "voxceleb1_test_v2.txt").read_text().splitlines()]
    encoder = VoiceEncoder("cpu", verbose=False)
    embeddings: dict[str, np.ndarray] = {}
    for _, *paths in trials:
        for path in paths:
            if path not in embeddings:
                wav, rate = soundfile.read(vox / "test" / "wav" / path)
                embeddings[path] = encoder.embed_utterance(preprocess_wav(wav, rate))
    labels = [int(label) for label, _, _ in trials]
    scores = [float(embeddings[a] @ embeddings[b]) for _, a, b in trials]
    return equal_error_rate(labels, scores)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev-speakers", type=int, default=60)
    parser.add_argument("--test-speakers", type=int, default=16)
    parser.add_argument("--steps", type=int, default=400, help="training steps (the mini profile's 400 by default)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("runs/asv_more_speakers"))
    args = parser.parse_args()
    data = args.work / f"data_{args.dev_speakers}_{args.test_speakers}"
    counts = build_voxceleb(data, args.dev_speakers, args.test_speakers)
    print(f"VoxCeleb1 layout: {json.dumps(counts)}")
    env = {**os.environ, "BENCH_CACHE_DIR": str(args.work / "cache")}
    bench = str(Path(sys.executable).with_name("bench"))
    for upstream in ("fbank", "resemblyzer"):
        started = time.perf_counter()
        subprocess.run(
            [
                bench,
                "run",
                "--upstream",
                upstream,
                "--task",
                "asv",
                "--seeds",
                str(args.seeds),
                "--data-root",
                str(data),
                "--profile",
                "mini",
                "--device",
                "cpu",
                "--quiet",
                "--output",
                str(args.work / f"runs_{args.steps}"),
                f"total_steps={args.steps}",
            ],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        record = json.loads((args.work / f"runs_{args.steps}" / "asv" / upstream / "result.json").read_text())
        eers = [100 * seed["eer"] for seed in record["per_seed"]]
        spread = f" ± {statistics.stdev(eers):.2f}" if len(eers) > 1 else ""
        print(
            f"{upstream:<28} trained x-vector head, {args.steps} steps: EER {statistics.fmean(eers):.2f}{spread} % "
            f"(seeds {len(eers)}, {time.perf_counter() - started:.0f} s)"
        )
    print(f"{'resemblyzer embed_utterance':<28} cosine, no training:            EER {100 * embedding_eer(data):.2f} %")


if __name__ == "__main__":
    main()
