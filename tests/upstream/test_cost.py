"""The MAC counter (upstream.cost) against a hand count and against SUPERB's published count for HuBERT Base."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from upstream.cost import (
    SUPERB_SHORT_BUCKET_SAMPLES,
    SUPERB_SHORT_BUCKET_SECONDS,
    UpstreamCost,
    cached_cost,
    count_macs,
    format_macs,
    format_parameters,
    upstream_cost,
)


class ConvLinearAttentionLstm(nn.Module):
    """A speech-encoder-shaped toy: strided conv front end, linear projection, self-attention, LSTM."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 8, kernel_size=10, stride=5)
        self.linear = nn.Linear(8, 16)
        self.heads = 2
        self.lstm = nn.LSTM(16, 12, num_layers=2, batch_first=True)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        frames = self.conv(wav.unsqueeze(1)).transpose(1, 2)  # (B, T, 8)
        hidden = self.linear(frames)  # (B, T, 16)
        batch, steps, width = hidden.shape
        q = hidden.view(batch, steps, self.heads, width // self.heads).transpose(1, 2)
        attended = nn.functional.scaled_dot_product_attention(q, q, q).transpose(1, 2).reshape(batch, steps, width)
        return self.lstm(attended)[0]


def test_mac_count_equals_a_hand_count_of_conv_linear_attention_and_lstm():
    model = ConvLinearAttentionLstm().eval()
    batch, samples = 3, 505
    steps = (samples - 10) // 5 + 1  # 100 frames
    conv = batch * steps * 8 * 1 * 10  # output positions x out channels x in channels x kernel
    linear = batch * steps * 8 * 16
    head_width = 16 // 2
    attention = 2 * batch * 2 * steps * steps * head_width  # Q K^T and (softmax) V, per head
    lstm = batch * steps * (4 * 12 * 16 + 4 * 12 * 12) + batch * steps * (4 * 12 * 12 + 4 * 12 * 12)
    total, per_operator = count_macs(lambda: model(torch.randn(batch, samples)))
    assert total == conv + linear + attention + lstm
    assert {"aten.convolution", "aten.mkldnn_rnn_layer"} <= set(per_operator)  # the CPU kernels were seen
    assert per_operator["aten.convolution"] == conv


def test_gru_and_plain_matmuls_are_counted():
    gru = nn.GRU(40, 64, batch_first=True)
    total, _ = count_macs(lambda: gru(torch.randn(2, 7, 40)))
    assert total == 2 * 7 * 3 * 64 * (40 + 64)
    a, b = torch.randn(5, 6), torch.randn(6, 7)
    assert count_macs(lambda: a @ b)[0] == 5 * 6 * 7


@pytest.mark.slow
def test_hubert_base_matches_superbs_published_short_bucket_count():
    """SUPERB's leaderboard data (github.com/superbbenchmark/website-react, backend/utils.py at cacb90e5) gives HuBERT
    Base `macsShort` = 149,255,103,040: the SLT-2022 challenge profiler's MACs over its short bucket of eight
    LibriSpeech test-clean utterances, each encoded alone. The same architecture (transformers' HubertConfig defaults
    are HuBERT Base), random weights, on noise of those lengths: MACs do not depend on the audio. The profiler also
    counts a few MACs per attention score (scaling, mask, softmax) that a matmul count leaves out: 0.08 % here;
    leaving the attention matmuls out would miss 2.2 %."""
    import transformers

    torch.manual_seed(0)
    model = transformers.HubertModel(transformers.HubertConfig()).eval()
    totals = [count_macs(lambda n=n: model(torch.randn(1, n)))[0] for n in SUPERB_SHORT_BUCKET_SAMPLES]
    published = 149_255_103_040
    assert abs(sum(totals) / published - 1) < 0.005
    assert SUPERB_SHORT_BUCKET_SECONDS == pytest.approx(21.1)


def test_cost_of_an_upstream_is_counted_once_and_read_back(tmp_path, monkeypatch):
    from upstream import cost as cost_module
    from upstream.registry import load_upstream

    upstream = load_upstream("resemblyzer")
    first = upstream_cost(upstream, tmp_path)
    assert first.parameters == sum(p.numel() for p in upstream.parameters()) == first.forward_parameters
    # three LSTM layers of 256 (input 40 mels) and a 256x256 linear, 100 frames a second
    per_frame = 4 * 256 * (40 + 256) + 2 * 4 * 256 * (256 + 256) + 256 * 256
    assert first.macs_per_second["10"] == pytest.approx(per_frame * 100, rel=0.01)
    assert first.superb_short_macs_per_second == pytest.approx(per_frame * 100, rel=0.01)

    def no_second_count(_upstream):
        raise AssertionError("the cost was counted again")

    monkeypatch.setattr(cost_module, "measure_cost", no_second_count)
    info = upstream.info()
    assert upstream_cost(upstream, tmp_path) == first == cached_cost(tmp_path, info.name, info.weights_hash)
    assert UpstreamCost.from_dict(first.as_dict()) == first


def test_cost_formatting():
    assert format_parameters(94_697_600) == "94.70M"
    assert format_parameters(0) == "0"
    assert format_parameters(None) == "–"
    assert format_macs(7.0737e9) == "7.07 G"
    assert format_macs(2_121_827) == "2.12 M"
    assert format_macs(None) == "–"
