"""Training a KS head from the feature cache vs running the encoder on every step (as s3prl does).

Both paths train the same head with the same seed, batches and steps on superb-mini KS, with a HuBERT-Base-sized
transformers model with random weights (94M parameters: the compute of a real HuBERT Base, no download). The
cached path (what `bench run` does) pays for one encoder pass over the corpus plus cheap steps, and for encoding the
1 s `_silence_` crops in the loop (about one item in twelve under the balanced sampler, as the recipe encodes them);
the on-the-fly path pays for the encoder on every item of every step and every evaluation. Prints the measured ratio at
the measured step count and the ratio this implies at the recipe's 200,000 steps (per-step times times steps; extraction
counted once).

s3prl's own KS recipe cannot be run here for a third column: its legacy runner does not import with current
huggingface_hub (`HfFolder` was removed) and its KS expert needs catalyst.

    .venv/bin/python benchmarks/cache_speedup.py [--data-root DIR] [--steps 20] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from bench.runner import TaskRun
from bench.sources import OnTheFlySource
from bench.trainer import train
from downstream_tasks import get_task
from upstream.registry import load_upstream

RECIPE_STEPS = 200_000


def random_hubert(directory: Path, **config: Any) -> Path:
    """A HuBERT with random weights (seed 0) saved with its feature extractor: HuBERT-Base-sized unless ``config``
    overrides the sizes of ``transformers.HubertConfig``."""
    import transformers

    torch.manual_seed(0)
    transformers.HubertModel(transformers.HubertConfig(**config)).save_pretrained(directory)
    transformers.Wav2Vec2FeatureExtractor(do_normalize=False, return_attention_mask=True).save_pretrained(directory)
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data-root", type=Path, default=None, help="superb-mini root (default: generate size small in a temp dir)"
    )
    parser.add_argument("--steps", type=int, default=20, help="training steps measured on both paths")
    parser.add_argument("--batch-size", type=int, default=32, help="the recipe's KS batch size")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    work = Path(tempfile.mkdtemp(prefix="cache_speedup_"))
    atexit.register(shutil.rmtree, work, True)
    data_root = args.data_root
    if data_root is None:
        from bench.superb_mini.corpus import generate_corpus

        data_root = generate_corpus(work / "superb-mini", size="small", progress=True)
    upstream = load_upstream(f"hf:{random_hubert(work / 'hubert_base_random')}")
    overrides = [
        f"total_steps={args.steps}",
        f"batch_size={args.batch_size}",
        f"eval_step={args.steps}",
        f"save_step={args.steps}",
    ]
    run = TaskRun.prepare(upstream, get_task("ks"), data_root, work / "runs", "mini", overrides, work / "cache", True)
    data = run.prepared.data[None]
    print(
        f"KS on {data_root}: {len(data.splits['train'])} train / {len(data.splits['dev'])} dev utterances; "
        f"{args.steps} steps of batch {args.batch_size}; "
        f"encoder {upstream.info().num_hidden_states} hidden states x {upstream.hidden_size}"
    )

    started = time.perf_counter()
    run.fill_cache()
    extract_seconds = time.perf_counter() - started
    started = time.perf_counter()
    cached = run.source_for(data)  # bench run's source: the cache, and the `_silence_` crops encoded in the loop
    load_seconds = time.perf_counter() - started
    timings = {}
    on_the_fly = OnTheFlySource(
        upstream,
        data,
        float(run.prepared.config.data.gain_db),
        crop_mode=run.prepared.crop_mode,
        block_seconds=run.prepared.cache_block_seconds,
    )
    for name, source in [("cache", cached), ("on_the_fly", on_the_fly)]:
        torch.manual_seed(0)
        model = run.prepared.task.build_model(run.prepared.num_layers, upstream.hidden_size, data, run.prepared.config)
        (work / f"train_{name}").mkdir()
        begin = time.perf_counter()
        train(
            run.prepared.task,
            data,
            source,
            model,
            run.prepared.config,
            lr=1e-3,
            seed=0,
            run_dir=work / f"train_{name}",
            progress=True,
        )
        timings[name] = time.perf_counter() - begin
    timings["cache"] += load_seconds  # reading the cache is part of training from it

    cached_total = extract_seconds + timings["cache"]
    print(
        f"\nextract once: {extract_seconds:.1f} s; train from cache: {timings['cache']:.2f} s; "
        f"train running the encoder every step: {timings['on_the_fly']:.1f} s"
    )
    print(
        f"measured at {args.steps} steps: on-the-fly / (extract + cached train) = "
        f"{timings['on_the_fly'] / cached_total:.1f}x; "
        f"per training step: {timings['on_the_fly'] / timings['cache']:.0f}x"
    )
    per_step_cached, per_step_fly = timings["cache"] / args.steps, timings["on_the_fly"] / args.steps
    at_recipe = (per_step_fly * RECIPE_STEPS) / (extract_seconds + per_step_cached * RECIPE_STEPS)
    print(
        f"implied at the recipe's {RECIPE_STEPS:,} steps: {at_recipe:.0f}x "
        f"({per_step_fly * RECIPE_STEPS / 3600:.1f} h vs "
        f"{(extract_seconds + per_step_cached * RECIPE_STEPS) / 3600:.2f} h on this machine)"
    )


if __name__ == "__main__":
    main()
