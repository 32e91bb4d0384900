"""The harness's overhead against the encoder itself, on CPU, with a HuBERT-Base-sized random encoder (94M parameters).

1. **Extraction.** The same utterances, the same batch size (8, the cache fill's), longest first, through
   - `bench run`'s cache fill (``PooledCache.fill``: audio reading from disk, the upstream wrapper, per-layer block
     means, atomic shard writes), and
   - a bare batched forward of the same transformers model: waveforms already in memory, the feature extractor, then
     ``model(input_values, attention_mask, output_hidden_states=True)`` under ``torch.no_grad()``, nothing kept.
   The ratio is the harness's throughput over the bare one (goal: at least 0.9). The harness runs HuBERT's group-norm
   front end one utterance at a time inside a batch (the padded batch would leak padding into GroupNorm's statistics),
   which the bare forward does not do: that difference is counted as overhead here.
2. **Training from the cache.** Steps per second of KS (pooled cache: per-layer means, the weighted sum, the linear
   head) and of PR (frame cache: every frame of every layer, memory-mapped; the weighted sum and the CTC head), on
   superb-mini tiny with the recipe's batch sizes.

    .venv/bin/python benchmarks/overhead.py [--utterances 96] [--steps 200]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cache_speedup import random_hubert  # noqa: E402
from scale import voxceleb1_corpus  # noqa: E402

EXTRACT_BATCH_SIZE = 8  # PooledCache.fill's default, which bench run uses


def bare_forward_seconds(model_dir: Path, waveforms: list[torch.Tensor], device: str = "cpu") -> float:
    """A plain batched forward of the same transformers model: the feature extractor, then ``model(...)``."""
    import transformers

    model = transformers.HubertModel.from_pretrained(model_dir).eval().to(device)
    extractor = transformers.Wav2Vec2FeatureExtractor.from_pretrained(model_dir)
    order = sorted(range(len(waveforms)), key=lambda i: -waveforms[i].numel())
    started = time.perf_counter()
    with torch.no_grad():
        for start in range(0, len(order), EXTRACT_BATCH_SIZE):
            batch = [waveforms[i].numpy() for i in order[start : start + EXTRACT_BATCH_SIZE]]
            inputs = extractor(
                batch, sampling_rate=16000, padding=True, return_attention_mask=True, return_tensors="pt"
            )
            output = model(
                inputs.input_values.to(device),
                attention_mask=inputs.attention_mask.to(device),
                output_hidden_states=True,
            )
            output.hidden_states[-1].cpu()  # wait for the device, as the cache fill does when it copies to the host
    return time.perf_counter() - started


def harness_fill_seconds(upstream, task_name: str, data_root: Path, work: Path, utterances: int) -> tuple[float, list]:
    from bench.runner import TaskRun
    from downstream_tasks import get_task

    run = TaskRun.prepare(
        upstream, get_task(task_name), data_root, work / "runs", "superb", [], work / "cache-fill", False
    )
    data = run.prepared.data[None]
    chosen = data.all_utterances()[:utterances]
    cache = run.cache_for(data)
    started = time.perf_counter()
    cache.fill(chosen, lambda: upstream, batch_size=EXTRACT_BATCH_SIZE, progress=False)
    return time.perf_counter() - started, chosen


def training_steps_per_second(
    upstream,
    task_name: str,
    data_root: Path,
    work: Path,
    steps: int,
    profile: str = "superb",
    overrides: Sequence[str] = (),
):
    """Train one head for ``steps`` steps the way `bench run` feeds it (its feature plan: cache or encoder in the loop)
    and return (steps per second without the dev evaluation the trainer runs at the last step, the ``TaskRun``)."""
    from bench.runner import TaskRun
    from bench.trainer import evaluate, train
    from downstream_tasks import get_task

    overrides = [f"total_steps={steps}", f"eval_step={10 * steps}", f"save_step={10 * steps}", *overrides]
    run = TaskRun.prepare(
        upstream,
        get_task(task_name),
        data_root,
        work / f"runs-{task_name}",
        profile,
        overrides,
        work / f"cache-{task_name}",
        False,
    )
    run.fill_cache()
    data = run.prepared.data[run.prepared.folds[0]]
    source = run.source_for(data)
    torch.manual_seed(0)
    model = run.prepared.task.build_model(
        run.prepared.num_layers, run.prepared.info.hidden_size, data, run.prepared.config
    ).to(upstream.device)
    unit_dir = work / f"unit-{task_name}"
    unit_dir.mkdir(parents=True, exist_ok=True)
    outcome = train(
        run.prepared.task,
        data,
        source,
        model,
        run.prepared.config,
        float(run.prepared.config.optimizer.lr),
        0,
        unit_dir,
        progress=False,
    )
    started = time.perf_counter()  # the trainer always scores dev at the final step: time one evaluation, take it out
    evaluate(model, run.prepared.task, data, source, "dev", int(run.prepared.config.batch_size))
    dev_seconds = time.perf_counter() - started
    return steps / max(1e-9, outcome.train_seconds - dev_seconds), run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--utterances", type=int, default=96, help="utterances extracted on both paths")
    parser.add_argument("--steps", type=int, default=200, help="training steps for the steps/s figures")
    args = parser.parse_args()
    from bench.superb_mini import generate_corpus
    from upstream.registry import load_upstream

    work = Path(tempfile.mkdtemp(prefix="bench_overhead_"))
    try:
        model_dir = random_hubert(work / "hubert_base_random")
        upstream = load_upstream(f"hf:{model_dir}", device="cpu")
        print(
            f"HuBERT-Base-sized random encoder: {sum(p.numel() for p in upstream.parameters()) / 1e6:.0f}M parameters, "
            f"{upstream.info().num_hidden_states} hidden states x {upstream.hidden_size}; "
            f"torch threads {torch.get_num_threads()}"
        )
        vox = voxceleb1_corpus(work / "voxceleb1", max(args.utterances, 200))
        fill_seconds, chosen = harness_fill_seconds(upstream, "sid", vox, work, args.utterances)
        waveforms = [utterance.audio() for utterance in chosen]
        audio_seconds = sum(w.numel() for w in waveforms) / 16000
        bare_seconds = bare_forward_seconds(model_dir, waveforms)
        print(
            f"\nextraction of {len(chosen)} utterances ({audio_seconds:.0f} s of audio), "
            f"batches of {EXTRACT_BATCH_SIZE}:"
        )
        print(f"  bare batched forward      {bare_seconds:8.2f} s  {audio_seconds / bare_seconds:7.1f} s audio/s")
        print(f"  bench run's cache fill    {fill_seconds:8.2f} s  {audio_seconds / fill_seconds:7.1f} s audio/s")
        print(f"  ratio (harness / bare throughput): {bare_seconds / fill_seconds:.3f}  (goal >= 0.9)")

        tiny = generate_corpus(work / "superb-mini-tiny", seed=0, size="tiny", progress=False)
        print(f"\ntraining from the cache ({args.steps} steps, superb-mini tiny, recipe batch sizes):")
        for task_name in ("ks", "pr"):
            # superb-mini's words are in CMUdict, which stands in for s3prl's G2P lexicons (PR's mini fallback)
            fallback = ["data.lexicon_fallback=cmudict"] if task_name == "pr" else []
            rate, run = training_steps_per_second(upstream, task_name, tiny, work, args.steps, overrides=fallback)
            print(
                f"  {task_name.upper():<3} {rate:8.1f} steps/s  "
                f"({run.feature_plan.mode}, batch {run.prepared.config.batch_size})"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
