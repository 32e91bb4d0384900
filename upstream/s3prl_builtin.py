"""s3prl's own upstreams by name (``s3prl:fbank``, ``s3prl:fbank_no_cmvn``, ``s3prl:hubert``, ...)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from benchcore.errors import BenchError
from upstream.base import Upstream
from upstream.s3prl_compat import import_s3prl_nn


class S3PRLBuiltinUpstream(Upstream):
    """Wraps ``s3prl.nn.S3PRLUpstream`` so its lengths and padding follow s3prl's own rules.

    s3prl reports ``ceil(num_samples / stride)`` valid frames per utterance and pads short outputs
    by repeating the last frame; SUPERB's numbers were produced that way, so we keep it. Inside a padded
    batch, though, the extra frames of a short utterance are zeros instead of repeats (FBANK), so it runs
    one utterance at a time to make features independent of the batch.
    """

    padding_policy = "per_utterance"

    def __init__(self, name: str, s3prl_name: str, path_or_url: str | None = None) -> None:
        super().__init__(name, f"s3prl:{s3prl_name}")
        nn_module = import_s3prl_nn()
        available = nn_module.S3PRLUpstream.available_names()
        if s3prl_name not in available:
            close = [option for option in available if s3prl_name.split("_")[0] in option][:12]
            raise BenchError(
                f"s3prl has no upstream named '{s3prl_name}'"
                + (
                    f"; similar names: {', '.join(close)}"
                    if close
                    else '; see `python -c "import s3prl.hub"` for the list'
                )
            )
        try:
            self.s3prl_upstream = nn_module.S3PRLUpstream(s3prl_name, path_or_url=path_or_url)
        except (OSError, RuntimeError, TypeError) as error:
            raise BenchError(f"s3prl upstream '{s3prl_name}' failed to load: {str(error).splitlines()[0]}") from error
        self._stride = int(self.s3prl_upstream.downsample_rates[0])
        self.freeze()

    def _encode(self, wavs: list[Tensor]) -> tuple[Sequence[Tensor], Tensor]:
        lengths = torch.tensor([wav.numel() for wav in wavs], device=self.device)
        padded = torch.nn.utils.rnn.pad_sequence(wavs, batch_first=True)
        hidden_states, hidden_lengths = self.s3prl_upstream(padded, lengths)
        return hidden_states, hidden_lengths[0]
