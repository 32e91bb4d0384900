"""How far the cache's block-aligned crops are from s3prl's crops, for a given encoder.

s3prl encodes the cropped audio (SID: a random 8 s of a longer utterance; KS: a random 1 s of background
noise). The cache averages a block-aligned window of the whole utterance's encoding instead. For each
utterance longer than the crop, this script takes the same window both ways and prints the relative L2
difference of the per-layer time-means, ||ours - s3prl's|| / ||s3prl's||, averaged over utterances, per layer.

    .venv/bin/python benchmarks/crop_deviation.py --data-root DIR [--upstream fbank_no_cmvn] [--crop-seconds 1.0] [--limit 40]

(The default encoder is a HuBERT-Base-sized model with random weights; pass a real one with --upstream.)
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from benchcore.audio import load_audio
from bench.config import load_task_config
from bench.cache import block_means, crop_block_count
from downstream_tasks import get_task
from upstream.base import SAMPLE_RATE
from upstream.registry import load_upstream


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--upstream", default=None, help="default: HuBERT-Base-sized random model")
    parser.add_argument("--crop-seconds", type=float, default=1.0)
    parser.add_argument("--block-seconds", type=float, default=1.0)
    parser.add_argument("--limit", type=int, default=40, help="utterances measured")
    args = parser.parse_args()
    name = args.upstream
    if name is None:
        import transformers

        directory = Path(tempfile.mkdtemp()) / "hubert_base_random"
        torch.manual_seed(0)
        transformers.HubertModel(transformers.HubertConfig()).save_pretrained(directory)
        transformers.Wav2Vec2FeatureExtractor(return_attention_mask=True).save_pretrained(directory)
        name = f"hf:{directory}"
    upstream = load_upstream(name)
    stride = upstream.get_downsample_rates("hidden_states")
    block_frames = max(1, round(args.block_seconds * SAMPLE_RATE / stride))
    crop_blocks = crop_block_count(args.crop_seconds, args.block_seconds)
    data = get_task("sid").load(args.data_root, None, load_task_config("sid", "mini"))
    generator = torch.Generator().manual_seed(0)
    deviations = []
    for utterance in data.splits["train"]:
        waveform = load_audio(utterance.path)
        full = upstream([waveform])
        frames = int(full["hidden_states_lengths"][0])
        means, counts = block_means(torch.stack(full["hidden_states"])[:, 0, :frames], block_frames)
        if len(counts) <= crop_blocks:
            continue
        start = int(torch.randint(0, len(counts) - crop_blocks + 1, (1,), generator=generator))
        ours = (torch.from_numpy(means[start : start + crop_blocks]) * torch.from_numpy(counts[start : start + crop_blocks]).float()[:, None, None]).sum(0)
        ours = ours / counts[start : start + crop_blocks].sum()
        first_sample = start * block_frames * stride
        crop = waveform[first_sample : first_sample + int(args.crop_seconds * SAMPLE_RATE)]
        alone = upstream([crop])
        theirs = torch.stack(alone["hidden_states"])[:, 0, : int(alone["hidden_states_lengths"][0])].mean(dim=1)
        deviations.append(((ours - theirs).norm(dim=-1) / theirs.norm(dim=-1).clamp(min=1e-12)))
        if len(deviations) >= args.limit:
            break
    if not deviations:
        raise SystemExit("no training utterance is longer than the crop; lower --crop-seconds")
    per_layer = torch.stack(deviations).mean(dim=0)
    print(f"{name}: {len(deviations)} SID training utterances, {args.crop_seconds:g} s crops on a {args.block_seconds:g} s block grid")
    print("relative L2 difference of per-layer crop means, cache vs encoding the crop alone:")
    print("  " + "  ".join(f"L{i}:{value:.3f}" for i, value in enumerate(per_layer.tolist())))
    print(f"  mean over layers: {per_layer.mean():.3f}")


if __name__ == "__main__":
    main()
