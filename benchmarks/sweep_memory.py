"""Peak memory of a shared-forward learning-rate sweep of ASR on a HuBERT-Large-sized encoder, estimated on the CPU.

What the estimate adds up (bench.sweep_memory), for K heads side by side at the recipe's largest training batch:

- on the encoder's device (a GPU): the encoder's weights and its forward's working memory. Neither grows with K; the
  working memory is the hidden states it returns (all 25 layers) plus one layer's transient attention and
  feed-forward tensors (with a fused attention kernel the T x T scores are never materialised; an eager one is shown);
- on the CPU, where the heads train: the batch's hidden states, held once; per head its parameters, gradients and Adam's
  two moments; and one head's saved activations at a time (heads run forward and backward one after the other). The
  activations are measured on the recipe's head (`configs/asr.yaml` superb profile: 1024-unit BiLSTMs) with
  `saved_tensors_hooks` on a real superb-mini batch with random HuBERT-Large-shaped features, scaled to the largest
  batch.

The largest ASR batch: s3prl's length buckets of 32 utterances are all halved (its HALF_BATCHSIZE_TIME of 2000 is
compared with lengths in samples, downstream_tasks/bucketing.py), so the longest bucket holds 16 of train-clean-100's
longest utterances (about 24.5 s): 16 x 1,225 frames at 50 frames/s.

    python benchmarks/sweep_memory.py [--heads 3] [--largest-seconds 24.5] [--batch 16]
"""

from __future__ import annotations

import argparse

import torch
from transformers import HubertConfig, HubertModel
from workspace import scratch, superb_mini

from bench.config import load_task_config
from bench.sweep_memory import estimate, gigabytes
from downstream_tasks import get_task

#: HuBERT Large (facebook/hubert-large-ll60k): 24 layers of 1024, 16 heads, 4096 feed-forward, 25 hidden states
LARGE = {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096}
FRAMES_PER_SECOND = 50


def encoder_parameters() -> int:
    config = HubertConfig(**LARGE, feat_extract_norm="layer", do_stable_layer_norm=True)
    with torch.device("meta"):
        model = HubertModel(config)
    return sum(parameter.numel() for parameter in model.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--heads", type=int, default=3, help="learning rates side by side (default 3)")
    parser.add_argument("--largest-seconds", type=float, default=24.5, help="longest training utterance, seconds")
    parser.add_argument("--batch", type=int, default=16, help="utterances in the longest bucket")
    parser.add_argument("--encoder-bytes", type=int, default=2, help="bytes per encoder value (bf16: 2, fp32: 4)")
    args = parser.parse_args()
    task, config = get_task("asr"), load_task_config("asr", "superb")
    data = task.load(superb_mini(scratch("sweep_memory_")), None, config)
    layers, dim = LARGE["num_hidden_layers"] + 1, LARGE["hidden_size"]

    utterances = data.splits["train"][:2]
    frames = 200
    features = (torch.randn(layers, len(utterances), frames, dim), torch.full((len(utterances),), frames))
    labels = task.collate_labels(utterances)
    largest = args.batch * round(args.largest_seconds * FRAMES_PER_SECOND)

    def build() -> torch.nn.Module:
        torch.manual_seed(0)
        return task.build_model(layers, dim, data, config)

    memory = estimate(
        build,
        features,
        lambda outputs: task.loss(outputs, labels, data),
        config.optimizer,
        largest,
        encoder_on_head_device=False,
        generator=torch.Generator().manual_seed(0),
    )
    weights = encoder_parameters() * args.encoder_bytes
    hidden_states = layers * largest * dim * args.encoder_bytes
    longest = round(args.largest_seconds * FRAMES_PER_SECOND)
    feed_forward = largest * LARGE["intermediate_size"] * args.encoder_bytes
    eager_scores = args.batch * LARGE["num_attention_heads"] * longest**2 * args.encoder_bytes
    head_parameters = sum(p.numel() for p in build().parameters())
    print(
        f"ASR, {args.heads} learning rates side by side, HuBERT-Large-sized encoder ({encoder_parameters() / 1e6:.0f}M "
        f"parameters, {args.encoder_bytes} bytes per value), largest batch {args.batch} x {longest} frames"
    )
    print(
        f"  encoder device: weights {gigabytes(weights)} + hidden states {gigabytes(hidden_states)} + one layer's "
        f"feed-forward {gigabytes(feed_forward)} = {gigabytes(weights + hidden_states + feed_forward)} with a fused "
        f"attention kernel (an eager one adds {gigabytes(eager_scores)} of scores); the same for 1 or "
        f"{args.heads} heads"
    )
    print(
        f"  CPU: hidden states in fp32 {gigabytes(memory.shared_bytes)} once + {args.heads} x "
        f"{gigabytes(memory.persistent_bytes)} per head ({head_parameters / 1e6:.1f}M parameters, gradients, Adam) + "
        f"one head's activations {gigabytes(memory.activation_bytes)} = {gigabytes(memory.peak_bytes(args.heads))} "
        f"(one head alone: {gigabytes(memory.peak_bytes(1))})"
    )


if __name__ == "__main__":
    main()
