"""ASV's head and objective, as s3prl's ``sv_voxceleb1/model.py``: the TDNN layers and statistics pooling of the
x-vector (:class:`XVectorHead`), AM-softmax's class weights and loss, the random frame crop of the opt-in approximation
(``data.crop_mode=frames``), and the :class:`SpeakerEmbedder` that puts the weighted sum of hidden states, that crop
and the head together. In the recipe's mode (``waveform``) the 8 s crops are cut from the waveform and encoded alone
before they reach the head (bench.sources), and the head crops nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

TDNN_CONTEXTS = ((5, 1), (3, 2), (3, 3), (1, 1), (1, 1))  # (context size, dilation) of the recipe's XVector
VARIANCE_FLOOR = 1e-10
TDNN_SHRINK = sum((context - 1) * dilation for context, dilation in TDNN_CONTEXTS)  # 14 frames


class TDNN(nn.Module):
    """s3prl's TDNN layer: ``Linear(context * D_in, D_out)`` over dilated frame contexts, then ReLU (no BN, no dropout).

    The parameters are laid out as s3prl's (its ``F.unfold`` puts the context index first), so its checkpoints load;
    the computation is the equivalent dilated ``conv1d`` on (B, D, T), much faster than unfolding on CPU.
    """

    def __init__(self, input_dim: int, output_dim: int, context_size: int, dilation: int) -> None:
        super().__init__()
        self.input_dim, self.context_size, self.dilation = input_dim, context_size, dilation
        self.kernel = nn.Linear(input_dim * context_size, output_dim)

    def forward(self, features: Tensor) -> Tensor:
        """(B, D_in, T) -> (B, D_out, T - (context - 1) * dilation)."""
        weight = self.kernel.weight.view(-1, self.context_size, self.input_dim).transpose(1, 2)
        return F.relu(F.conv1d(features, weight, self.kernel.bias, dilation=self.dilation))


def statistics_pooling(features: Tensor, lengths: Tensor) -> Tensor:
    """(B, D, T) -> (B, 2D): mean and (unbiased) standard deviation over each row's first ``lengths`` frames.

    s3prl's ``SP`` averages one padding frame into every padded row (its length is the first masked index + 1); this
    pools exactly the valid frames, so an embedding does not depend on what it was batched with. The variance is floored
    at 1e-10 (std 1e-5) so that a dead channel gives a zero gradient rather than NaN.
    """
    lengths = lengths.to(features.device).clamp(min=1)
    mask = (torch.arange(features.shape[-1], device=features.device)[None, :] < lengths[:, None]).to(features.dtype)
    mask = mask[:, None, :]
    count = lengths.to(features.dtype)[:, None]
    mean = (features * mask).sum(dim=-1) / count
    squares = (((features - mean[..., None]) * mask) ** 2).sum(dim=-1)
    # The floor only matters for a channel that is constant over an utterance (a ReLU that never fires): torch.std,
    # which s3prl uses, has a NaN gradient there, and the trainer (as s3prl's runner) then skips the whole update.
    std = torch.sqrt((squares / (count - 1).clamp(min=1)).clamp(min=VARIANCE_FLOOR))
    return torch.cat([mean, std], dim=-1)


class XVectorHead(nn.Module):
    """Connector ``Linear(D, 512)`` -> 5 TDNN layers -> statistics pooling -> utterance layers (s3prl's names)."""

    def __init__(
        self,
        input_dim: int,
        connector_dim: int = 512,
        tdnn_dims: Sequence[int] = (512, 512, 512, 512, 1500),
        embedding_dim: int = 512,
    ) -> None:
        super().__init__()
        if len(tdnn_dims) != len(TDNN_CONTEXTS):
            raise ValueError(f"the x-vector has {len(TDNN_CONTEXTS)} TDNN layers, got {len(tdnn_dims)} sizes")
        self.connector = nn.Linear(input_dim, connector_dim)
        dims = [connector_dim, *tdnn_dims]
        self.tdnn = nn.Sequential(
            *(TDNN(dims[i], dims[i + 1], context, dilation) for i, (context, dilation) in enumerate(TDNN_CONTEXTS))
        )
        self.linear1 = nn.Linear(2 * tdnn_dims[-1], embedding_dim)
        self.linear2 = nn.Linear(embedding_dim, embedding_dim)

    def pooled(self, features: Tensor, lengths: Tensor) -> Tensor:
        """(B, T, D) valid-first frames -> (B, 2 * 1500) statistics of the last TDNN layer."""
        if features.shape[1] <= TDNN_SHRINK:  # too short for the TDNN's context: zero-pad, as a padded batch would be
            features = F.pad(features, (0, 0, 0, TDNN_SHRINK + 1 - features.shape[1]))
        frames = self.tdnn(self.connector(features).transpose(1, 2))
        return statistics_pooling(frames, lengths - TDNN_SHRINK)

    def embed(self, features: Tensor, lengths: Tensor) -> Tensor:
        """The embedding scored at test (s3prl's ``inference``): ``ReLU(linear1(stats))``."""
        return F.relu(self.linear1(self.pooled(features, lengths)))

    def forward(self, features: Tensor, lengths: Tensor) -> Tensor:
        """The training output fed to AM-softmax: ``ReLU(linear2(ReLU(linear1(stats))))``."""
        return F.relu(self.linear2(self.embed(features, lengths)))


class AMSoftmax(nn.Module):
    """AM-softmax's class weights (s3prl ``AMSoftmaxLoss``: ``W`` is (hidden, speakers), Xavier-normal)."""

    def __init__(self, hidden_dim: int, num_speakers: int, scale: float = 30.0, margin: float = 0.4) -> None:
        super().__init__()
        self.scale, self.margin = scale, margin
        self.W = nn.Parameter(torch.randn(hidden_dim, num_speakers))
        nn.init.xavier_normal_(self.W, gain=1)

    def cosine(self, embeddings: Tensor) -> Tensor:
        return F.normalize(embeddings, dim=1) @ F.normalize(self.W, dim=0)


def am_softmax_loss(cosine: Tensor, labels: Tensor, scale: float, margin: float) -> Tensor:
    """``-mean log(e^{s(cos_y - m)} / (e^{s(cos_y - m)} + sum_{j != y} e^{s cos_j}))``: s3prl's loss, via a stable
    cross-entropy on the margin-shifted logits."""
    shifted = cosine - margin * F.one_hot(labels, cosine.shape[1]).to(cosine.dtype)
    return F.cross_entropy(scale * shifted, labels)


class SpeakerLogits(NamedTuple):
    cosine: Tensor
    scale: float
    margin: float


def random_frame_crop(
    hidden_states: Sequence[Tensor], lengths: Tensor, crop_frames: int, generator: torch.Generator
) -> tuple[list[Tensor], Tensor]:
    """A random window of ``crop_frames`` frames of each longer row, the ``frames`` approximation of s3prl's crop (which
    draws ``randint(0, len - max_timestep)`` on the audio and encodes the crop alone); shorter rows are kept whole.
    Draws once per cropped row, in batch order, from ``generator``."""
    starts, new_lengths = [], []
    for length in lengths.tolist():
        start = (
            int(torch.randint(0, length - crop_frames + 1, (1,), generator=generator)) if length > crop_frames else 0
        )
        starts.append(start)
        new_lengths.append(min(length, crop_frames))
    width = max(new_lengths)
    frames = hidden_states[0].shape[1]
    index = (torch.tensor(starts)[:, None] + torch.arange(width)[None, :]).clamp(max=frames - 1)
    index = index.to(hidden_states[0].device)
    cropped = [layer.gather(1, index[..., None].expand(-1, -1, layer.shape[-1])) for layer in hidden_states]
    return cropped, torch.tensor(new_lengths)


class SpeakerEmbedder(nn.Module):
    """Weighted sum of hidden states -> x-vector. Training (with a generator): crop the frames when ``crop_frames`` is
    set (``data.crop_mode=frames``), then AM-softmax cosines; evaluation: the L2-normalised embedding of what the
    source gives (whole utterances)."""

    def __init__(self, featurizer: nn.Module, head: XVectorHead, objective: AMSoftmax, crop_frames: int | None) -> None:
        super().__init__()
        self.featurizer = featurizer
        self.head = head
        self.objective = objective
        self.crop_frames = crop_frames

    def forward(self, features: tuple[list[Tensor], Tensor], generator: torch.Generator | None = None) -> Any:
        hidden_states, lengths = features
        if generator is not None and self.crop_frames:
            hidden_states, lengths = random_frame_crop(hidden_states, lengths, self.crop_frames, generator)
        combined, lengths = self.featurizer(hidden_states, lengths)
        if self.training:
            return SpeakerLogits(
                self.objective.cosine(self.head(combined, lengths)), self.objective.scale, self.objective.margin
            )
        return F.normalize(self.head.embed(combined, lengths), dim=-1)
