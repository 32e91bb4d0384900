"""How far the opt-in block-mean approximation of the recipes' random crops is from the recipe's crops, for an encoder.

s3prl cuts each random crop from the waveform and encodes it alone (SID: 8 s of a training utterance longer than that;
KS: 1 s of a `_silence_` background-noise file), and so does the harness by default (``data.crop_mode=waveform``:
bench/sources.py's ``WaveformCropSource``). The opt-in approximation ``data.crop_mode=block_mean`` averages a
block-aligned window of the whole utterance's cached block means instead, so the encoder saw the whole utterance as
context. For each utterance longer than its crop, this script draws a block-aligned window and takes its per-layer
time-mean both ways, through the harness's own code: the block cache the approximation reads (``PooledCache`` filled
and read as ``bench run --data.crop_mode=block_mean`` does, ``pooled_mean``) and the crop encoded alone as the exact
source encodes it (``encoder_input``, ``encode_waveforms``, ``pooled_row``). It prints the relative L2 difference
``||approximation - exact|| / ||exact||`` per layer, averaged over the utterances.

    .venv/bin/python benchmarks/crop_deviation.py --data-root DIR [--task sid|ks] [--upstream NAME]
        [--crop-seconds S] [--block-seconds 1.0] [--limit 40]

The default encoder is a HuBERT-Base-sized model with random weights; pass a real one with --upstream. SID's crop is its
config's 8 s unless --crop-seconds says otherwise; KS's `_silence_` crop is 1 s.
"""

from __future__ import annotations

import argparse
import atexit
import shutil
import tempfile
from pathlib import Path

import torch

from bench.cache import crop_block_count, crop_block_range, encoder_input, pooled_mean, pooled_row
from bench.crops import crop_samples, may_be_cropped
from bench.runner import TaskRun
from bench.sources import encode_waveforms
from downstream_tasks import get_task
from upstream.base import SAMPLE_RATE
from upstream.registry import load_upstream
from upstream.testing import build_random_hubert_base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--task", choices=("sid", "ks"), default="sid")
    parser.add_argument("--upstream", default=None, help="default: HuBERT-Base-sized random model")
    parser.add_argument("--crop-seconds", type=float, default=None, help="SID's crop (default: the config's 8 s)")
    parser.add_argument("--block-seconds", type=float, default=1.0, help="the approximation's block grid")
    parser.add_argument("--limit", type=int, default=40, help="utterances measured")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="crop_deviation_"))
    atexit.register(shutil.rmtree, work, True)  # the random model and its caches are only for this measurement
    name = args.upstream or build_random_hubert_base(work / "hubert_base_random")
    upstream = load_upstream(name)
    overrides = ["data.crop_mode=block_mean", f"cache.block_seconds={args.block_seconds}"]
    if args.task == "sid" and args.crop_seconds is not None:
        overrides.append(f"data.train_crop_seconds={args.crop_seconds}")
    run = TaskRun.prepare(
        upstream, get_task(args.task), args.data_root, work / "runs", "mini", overrides, work / "cache", False
    )
    data = run.prepared.data[None]
    utterances = [u for u in data.splits["train"] if may_be_cropped(u)][: args.limit]
    if not utterances:
        raise SystemExit(f"no {args.task} training utterance is longer than its crop; lower --crop-seconds")
    cache = run.cache_for(data)
    cache.fill(utterances, lambda: upstream, progress=False)
    blocks = cache.load(utterances)
    stride = upstream.get_downsample_rates("hidden_states")
    block_frames = max(1, round(args.block_seconds * SAMPLE_RATE / stride))
    gain_db = float(run.prepared.config.data.gain_db)
    generator = torch.Generator().manual_seed(args.seed)
    deviations = []
    for index, utterance in enumerate(utterances):
        means, counts = blocks.views[index]
        start, stop = crop_block_range(
            len(counts), crop_block_count(utterance.random_crop_seconds, args.block_seconds), generator
        )
        approximation = pooled_mean(means[start:stop], counts[start:stop])
        first_sample = start * block_frames * stride
        crop = encoder_input(utterance, gain_db)[
            first_sample : first_sample + crop_samples(utterance.random_crop_seconds)
        ]
        exact = pooled_row(encode_waveforms(upstream, [crop], None)[0], "fp32")
        deviations.append((approximation - exact).norm(dim=-1) / exact.norm(dim=-1).clamp(min=1e-12))
    per_layer = torch.stack(deviations).mean(dim=0)
    crop_seconds = utterances[0].random_crop_seconds
    print(
        f"{name}: {len(deviations)} {args.task.upper()} training utterances longer than the crop, {crop_seconds:g} s "
        f"crops on a {args.block_seconds:g} s block grid"
    )
    print("relative L2 difference of per-layer crop means, block_mean approximation vs the crop encoded alone:")
    print("  " + "  ".join(f"L{i}:{value:.3f}" for i, value in enumerate(per_layer.tolist())))
    print(
        f"  mean over layers: {per_layer.mean():.3f}; worst utterance, mean over layers: "
        f"{torch.stack(deviations).mean(dim=1).max():.3f}"
    )


if __name__ == "__main__":
    main()
