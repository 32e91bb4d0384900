"""`meralion:<dir>` on the tiny remote-code stand-in: same trust_remote_code path as the hub id."""

from __future__ import annotations

import torch
from fixtures.signals import noise
from transformers import AutoFeatureExtractor

from upstream.registry import load_upstream
from upstream.testing_meralion import build_directly


def test_stride_is_measured_not_assumed(tiny_meralion_dir):
    upstream = load_upstream(f"meralion:{tiny_meralion_dir}")
    assert upstream.get_downsample_rates("hidden_states") == 640  # 4 x 10 ms mel frames, not wav2vec2's 320
    assert upstream.num_hidden_states == 25 and upstream.hidden_size == 32
    assert upstream.padding_policy == "per_utterance"


def test_matches_the_model_card_call(tiny_meralion_dir):
    """Our wrapper gives exactly what the card's snippet gives for one utterance, on the same weights in a model built
    directly (the card's own `from_pretrained` leaves the positional table wrong under transformers 5: see
    test_load_integrity.py)."""
    wav = noise(1.0, 11)
    extractor = AutoFeatureExtractor.from_pretrained(tiny_meralion_dir, trust_remote_code=True)
    model = build_directly(tiny_meralion_dir)
    inputs = extractor(
        [wav.numpy()], sampling_rate=16000, return_attention_mask=True, return_tensors="pt", do_normalize=False
    )
    with torch.no_grad():
        reference = model(
            input_values=inputs["input_values"],
            attention_mask=inputs["attention_mask"],
            output_hidden_states=True,
            return_dict=True,
        )
    output = load_upstream(f"meralion:{tiny_meralion_dir}")([wav])
    assert output["hidden_states_lengths"].tolist() == reference["output_lengths"].tolist() == [23]
    for ours, theirs in zip(output["hidden_states"], reference.hidden_states, strict=True):
        assert torch.allclose(ours, theirs, atol=1e-5)


def test_utterance_alone_equals_utterance_in_padded_batch(tiny_meralion_dir):
    upstream = load_upstream(f"meralion:{tiny_meralion_dir}")
    short = noise(1.0, 12)
    alone = upstream([short])
    batch = upstream([noise(2.0, 13), short])
    assert batch["hidden_states_lengths"].tolist() == [48, 23]  # the raw model would say 25 for the short one
    for single, batched in zip(alone["hidden_states"], batch["hidden_states"]):
        assert torch.allclose(single[0, :23], batched[1, :23], atol=1e-5)
        assert torch.count_nonzero(batched[1, 23:]) == 0


def test_batchnorm_statistics_survive_s3prl_style_train_call(tiny_meralion_dir):
    upstream = load_upstream(f"meralion:{tiny_meralion_dir}")
    norms = [module for module in upstream.modules() if isinstance(module, torch.nn.BatchNorm1d)]
    assert len(norms) == 24
    before = [norm.running_mean.clone() for norm in norms]
    upstream.train()  # what S3PRLUpstream does to the module it wraps
    upstream([noise(1.5, 14), noise(0.8, 15)])
    assert all(torch.equal(old, norm.running_mean) for old, norm in zip(before, norms))
