"""transformers encoders through `hf:<dir>`: the s3prl contract, padding correctness, frozen state, errors."""

from __future__ import annotations

import pytest
import torch
from fixtures.signals import noise

from benchcore.errors import BenchError
from upstream.registry import load_upstream
from upstream.testing import FAMILIES

TOLERANCE = 1e-4  # max abs difference, fp32, between an utterance alone and inside a padded batch


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_contract_shapes_and_measured_stride(family, tiny_hf_dirs):
    upstream = load_upstream(f"hf:{tiny_hf_dirs[family]}")
    wavs = [noise(1.0, 1), noise(0.5, 2)]
    output = upstream(wavs)
    assert len(output["hidden_states"]) == 3  # num_hidden_layers + 1
    lengths = output["hidden_states_lengths"].tolist()
    for state in output["hidden_states"]:
        assert state.shape == (2, max(lengths), 32) and state.dtype == torch.float32
    assert lengths[0] == 49  # 1 s at a 20 ms stride with the conv receptive field (or 2 x 10 ms stacked mel)
    assert lengths[1] < lengths[0]
    assert upstream.get_downsample_rates("hidden_states") == 320
    assert upstream.num_hidden_states == 3 and upstream.hidden_size == 32


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_utterance_alone_equals_utterance_in_padded_batch(family, tiny_hf_dirs):
    upstream = load_upstream(f"hf:{tiny_hf_dirs[family]}")
    short = noise(0.7, 3)
    alone = upstream([short])
    batch = upstream([noise(1.9, 4), short, noise(1.3, 5)])
    num_frames = int(alone["hidden_states_lengths"][0])
    assert int(batch["hidden_states_lengths"][1]) == num_frames
    for single, batched in zip(alone["hidden_states"], batch["hidden_states"]):
        assert torch.allclose(single[0, :num_frames], batched[1, :num_frames], atol=TOLERANCE), family


def test_padding_policy_per_family(tiny_hf_dirs):
    policies = {family: load_upstream(f"hf:{path}").padding_policy for family, path in tiny_hf_dirs.items()}
    assert policies["hubert-group"] == policies["wavlm-layer"] == policies["wav2vec2-bert"] == "batched"
    # conformer convolutions and data2vec's positional conv stack leak padding: one utterance at a time
    assert policies["wav2vec2-conformer"] == policies["data2vec-audio"] == "per_utterance"


def test_frozen_eval_and_layerdrop_off(tiny_hf_dirs):
    upstream = load_upstream(f"hf:{tiny_hf_dirs['hubert-layer']}")
    upstream.train()  # s3prl's S3PRLUpstream does this; a frozen encoder must stay in eval mode
    assert not upstream.training and not any(module.training for module in upstream.modules())
    assert not any(parameter.requires_grad for parameter in upstream.parameters())
    assert upstream.model.config.layerdrop == 0.0
    first = upstream([noise(1.0, 6)])["hidden_states"]
    second = upstream([noise(1.0, 6)])["hidden_states"]
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert all(not state.requires_grad for state in first)


def test_weights_hash_identifies_the_weights(tiny_hf_dirs, tmp_path):
    from upstream.testing import build_tiny_hf

    same = load_upstream(f"hf:{tiny_hf_dirs['hubert-layer']}").weights_hash()
    again = load_upstream(f"hf:{build_tiny_hf('hubert-layer', tmp_path / 'a', seed=0)}").weights_hash()
    other = load_upstream(f"hf:{build_tiny_hf('hubert-layer', tmp_path / 'b', seed=1)}").weights_hash()
    assert same == again != other


def test_unfetchable_hub_id_names_the_id_and_the_fix():
    with pytest.raises(BenchError) as caught:
        load_upstream("hf:no-such-org/no-such-encoder")
    message = str(caught.value)
    assert "no-such-org/no-such-encoder" in message and "local directory" in message and "\n" not in message


def test_alias_of_a_hub_model_fails_cleanly_offline():
    with pytest.raises(BenchError, match="facebook/hubert-large-ll60k"):
        load_upstream("hubert_large")
