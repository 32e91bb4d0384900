"""The weighted-sum featurizer matches s3prl.nn.Featurizer numerically."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from upstream.featurizer import WeightedSumFeaturizer
from upstream.s3prl_compat import import_s3prl_nn


def _hidden_states(num_layers: int = 5, batch: int = 3, frames: int = 7, dim: int = 4):
    generator = torch.Generator().manual_seed(0)
    states = [torch.randn(batch, frames, dim, generator=generator) * (layer + 1) for layer in range(num_layers)]
    return states, torch.tensor([7, 5, 2])


def _s3prl_featurizer(num_layers: int, **kwargs):
    fake_upstream = SimpleNamespace(
        num_layers=num_layers, hidden_sizes=[4] * num_layers, downsample_rates=[320] * num_layers
    )
    return import_s3prl_nn().Featurizer(fake_upstream, **kwargs)


@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("selections", [None, [1, 3, 4]])
def test_matches_s3prl_featurizer(normalize, selections):
    states, lengths = _hidden_states()
    ours = WeightedSumFeaturizer(5, layer_selections=selections, normalize=normalize)
    theirs = _s3prl_featurizer(5, layer_selections=selections, normalize=normalize)
    assert torch.equal(ours.weights, theirs.weights)  # zero-initialised: a uniform softmax
    learned = torch.randn(ours.weights.shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours.weights.copy_(learned)
        theirs.weights.copy_(learned)
    out, out_lengths = ours(states, lengths)
    reference, reference_lengths = theirs(states, [lengths] * 5)
    assert torch.allclose(out, reference, atol=1e-6)
    assert torch.equal(out_lengths, reference_lengths)


def test_single_layer_passes_through_without_weights():
    states, lengths = _hidden_states()
    featurizer = WeightedSumFeaturizer(5, layer_selections=[2])
    assert featurizer.weights is None and list(featurizer.parameters()) == []
    assert torch.equal(featurizer(states, lengths)[0], states[2])
    assert featurizer.layer_weights() == {2: 1.0}
    one_layer = WeightedSumFeaturizer(1)
    assert torch.equal(one_layer(states[:1], lengths)[0], states[0])


def test_layer_weights_are_the_softmax_and_trainable():
    states, lengths = _hidden_states()
    featurizer = WeightedSumFeaturizer(5)
    assert featurizer.layer_weights() == pytest.approx({i: 0.2 for i in range(5)})
    optimizer = torch.optim.SGD(featurizer.parameters(), lr=1.0)
    # Reward the last layer: its weight must grow.
    loss = -(featurizer(states, lengths)[0] * states[4]).mean()
    loss.backward()
    optimizer.step()
    weights = featurizer.layer_weights()
    assert sum(weights.values()) == pytest.approx(1.0)
    assert weights[4] == max(weights.values()) > 0.2


def test_weighting_commutes_with_time_mean():
    """Without layer-norm the weighted sum is linear: weighting per-layer means equals the mean of weighted frames.
    This is what makes a pooled per-layer cache exact for mean-pooled heads."""
    states, _ = _hidden_states()
    featurizer = WeightedSumFeaturizer(5)
    with torch.no_grad():
        featurizer.weights.copy_(torch.tensor([0.3, -1.0, 2.0, 0.1, 0.5]))
    stacked = torch.stack(states)
    assert torch.allclose(featurizer.combine(stacked).mean(dim=1), featurizer.combine(stacked.mean(dim=2)), atol=1e-6)


def test_bad_selection_is_rejected():
    with pytest.raises(ValueError, match="out of range"):
        WeightedSumFeaturizer(3, layer_selections=[0, 3])
